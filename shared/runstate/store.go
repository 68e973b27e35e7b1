package runstate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Version identifies one written state of an object. It is opaque: compare
// versions only with ==. Implementations may derive it from the content
// (DirStore hashes it), so writing identical bytes twice may yield the same
// Version; compare-and-swap stays correct because the state the caller read
// is then the state it replaces. (The OSS store's Versions are unique to
// each write.) The empty Version matches no object.
type Version string

// Object is one stored value with the Version it was read at.
type Object struct {
	Key     string
	Data    []byte
	Version Version
}

// Errors the stores return, wrapped with the operation and key; test with
// errors.Is.
var (
	// ErrNotFound: the key holds no object.
	ErrNotFound = errors.New("runstate: not found")
	// ErrConflict: the precondition of a write failed — the key already
	// exists (Create) or changed since it was read (Update, Delete). Re-read
	// and decide again; Mutate does this for you.
	ErrConflict = errors.New("runstate: conflict")
)

// Store is the run-state store: keys to bytes with compare-and-swap.
//
// Keys are validated by ValidateKey; an invalid key yields a *KeyError
// before any I/O. A cancelled or expired ctx yields ctx.Err() unchanged.
// Implementations are safe for concurrent use.
type Store interface {
	// Get returns the object at key. Not found: ErrNotFound. Never
	// conflicts. Cancellation: ctx.Err().
	Get(ctx context.Context, key string) (Object, error)

	// Create writes data at key only if the key holds no object and returns
	// the new Version. Conflict (the key exists): ErrConflict, nothing
	// written. Cancellation: ctx.Err(), and nothing is known about whether
	// the write happened.
	Create(ctx context.Context, key string, data []byte) (Version, error)

	// Update replaces the object at key only if its current Version is
	// ifVersion and returns the new Version. Not found: ErrNotFound.
	// Conflict (another version is current, or ifVersion is empty):
	// ErrConflict, nothing written. Cancellation: ctx.Err(), outcome
	// unknown.
	Update(ctx context.Context, key string, data []byte, ifVersion Version) (Version, error)

	// List returns, sorted, every key that begins with prefix (a plain
	// string prefix, not only whole segments; "" lists everything). No
	// match is an empty result, not an error. The prefix follows the key
	// rules except that it may be empty, end in a slash or stop mid-segment.
	// Never conflicts. Cancellation: ctx.Err().
	List(ctx context.Context, prefix string) ([]string, error)

	// Delete removes the object at key. With a non-empty ifVersion it
	// removes it only if that Version is current. Not found: ErrNotFound.
	// Conflict: ErrConflict, nothing removed. Cancellation: ctx.Err(),
	// outcome unknown.
	Delete(ctx context.Context, key string, ifVersion Version) error
}

// MaxKeyLen is the longest key, in bytes, a store accepts. It leaves room
// for an OSS key prefix under the 1023-byte OSS limit.
const MaxKeyLen = 512

// maxSegmentLen is the longest path segment: file names on common
// filesystems are limited to 255 bytes and the directory store adds a
// suffix.
const maxSegmentLen = 240

// objSuffix is appended by DirStore to the last segment of a key to name its
// file, so that "a" and "a/b" can both exist; segments may therefore not end
// with it.
const objSuffix = ".obj"

// KeyError reports a key (or list prefix) a store refuses, and why.
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("runstate: invalid key %q: %s", e.Key, e.Reason)
}

// ValidateKey reports, as a *KeyError, why key cannot name an object, or nil.
// A key is 1 to MaxKeyLen bytes of UTF-8 without control characters or
// backslashes, made of non-empty segments separated by single slashes, with
// no leading or trailing slash; a segment may not be "." or "..", may not
// begin with a dot (reserved for the stores' own files) and may not end in
// ".obj" (reserved by DirStore).
func ValidateKey(key string) error {
	if key == "" {
		return &KeyError{Key: key, Reason: "empty"}
	}
	if strings.HasSuffix(key, "/") {
		return &KeyError{Key: key, Reason: "ends with a slash"}
	}
	return validate(key, false)
}

// ValidatePrefix is ValidateKey for a List prefix: it may be empty, may end
// in a slash and its last segment may be partial.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return validate(prefix, true)
}

func validate(key string, prefix bool) error {
	bad := func(format string, args ...any) error {
		return &KeyError{Key: key, Reason: fmt.Sprintf(format, args...)}
	}
	if len(key) > MaxKeyLen {
		return bad("longer than %d bytes (%d)", MaxKeyLen, len(key))
	}
	if strings.HasPrefix(key, "/") {
		return bad("starts with a slash")
	}
	if !utf8.ValidString(key) {
		return bad("not valid UTF-8")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return bad("contains control character %U", r)
		}
		if r == '\\' {
			return bad("contains a backslash")
		}
	}
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case seg == "" && prefix && last:
			// "a/b/" lists the children of a/b.
		case seg == "":
			return bad("contains an empty segment (//)")
		case seg == "." || seg == "..":
			return bad("contains a %q segment", seg)
		case strings.HasPrefix(seg, "."):
			return bad("segment %q begins with a dot (reserved)", seg)
		case strings.HasSuffix(seg, objSuffix) && !(prefix && last):
			return bad("segment %q ends in %q (reserved)", seg, objSuffix)
		case len(seg) > maxSegmentLen:
			return bad("segment longer than %d bytes", maxSegmentLen)
		}
	}
	return nil
}
