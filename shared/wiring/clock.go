package wiring

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
)

// NewClock returns the time every decision of cfg's functions reads: the
// wall clock, or, with KMSMIG_CLOCK=file:<path> (rehearsals only), the
// simulated clock of the FC twin that runs them. The twin keeps the
// clock's mapping in that file (twin/fc.Clock.Publish):
//
//	{"wall": "<RFC 3339>", "simulated": "<RFC 3339>", "speed": 60}
//
// and simulated now = simulated + speed × (wall-clock now − wall). Every
// function process computes it from the same document, so all of them
// agree, and a jump of the twin's clock is seen at the next reading. A
// mapping that cannot be read is an error here; later, the last good
// mapping is kept.
func NewClock(cfg app.Config) (func() time.Time, error) {
	if cfg.Clock == "" {
		return time.Now, nil
	}
	path, ok := strings.CutPrefix(cfg.Clock, "file:")
	if !ok || path == "" {
		return nil, fmt.Errorf("KMSMIG_CLOCK %q: want file:<path>", cfg.Clock)
	}
	c := &fileClock{path: path}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c.Now, nil
}

// clockMapping is the document the FC twin publishes (twin/fc.ClockMapping).
type clockMapping struct {
	Wall      time.Time `json:"wall"`
	Simulated time.Time `json:"simulated"`
	Speed     float64   `json:"speed"`
}

// fileClock reads a published clock mapping, again only when the file
// changed: the twin replaces it (a new file renamed over the old one) at
// every jump, so a stat per reading tells.
type fileClock struct {
	path string

	mu   sync.Mutex
	seen os.FileInfo
	m    clockMapping
}

// Now returns the simulated time.
func (c *fileClock) Now() time.Time {
	_ = c.reload() // keeps the last good mapping
	c.mu.Lock()
	m := c.m
	c.mu.Unlock()
	return m.Simulated.Add(time.Duration(float64(time.Now().Round(0).Sub(m.Wall)) * m.Speed))
}

func (c *fileClock) reload() error {
	fi, err := os.Stat(c.path)
	if err != nil {
		return fmt.Errorf("KMSMIG_CLOCK: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen != nil && os.SameFile(c.seen, fi) && c.seen.ModTime().Equal(fi.ModTime()) && c.seen.Size() == fi.Size() {
		return nil
	}
	b, err := os.ReadFile(c.path)
	if err != nil {
		return fmt.Errorf("KMSMIG_CLOCK: %w", err)
	}
	var m clockMapping
	if err := json.Unmarshal(b, &m); err != nil || m.Wall.IsZero() || m.Simulated.IsZero() || !(m.Speed > 0) {
		return fmt.Errorf("KMSMIG_CLOCK: %s is not a clock mapping {wall, simulated, speed}", c.path)
	}
	c.m, c.seen = m, fi
	return nil
}

// wallTime stamps every audit record with the wall-clock time, whatever
// clock the code that wrote it decides by: the trail of a rehearsal on a
// simulated clock stays in real time, like the SLS logstore that holds it.
type wallTime struct{ next audit.Logger }

var _ audit.Logger = wallTime{}

func (w wallTime) Log(ctx context.Context, r audit.Record) {
	r.Time = time.Now()
	w.next.Log(ctx, r)
}

func (w wallTime) Flush(ctx context.Context) error { return w.next.Flush(ctx) }
func (w wallTime) Stats() audit.Stats              { return w.next.Stats() }
