//go:build !unix

package runstate

import (
	"errors"
	"os"
)

var errNoFlock = errors.New("runstate: the directory store needs flock(2), which this platform lacks")

func lockFile(*os.File) error   { return errNoFlock }
func unlockFile(*os.File) error { return errNoFlock }
