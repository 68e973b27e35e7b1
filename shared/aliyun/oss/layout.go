package oss

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/kmsmig/kmsmig/shared/runstate"
)

// The objects of a store under its prefix:
//
//	<prefix>.kmsmig-layout                the layout marker, written at the first Open
//	<prefix><key>/.v/<999999999999 - n>   version n of key, n = 1, 2, ...
//
// Sequence numbers are stored inverted, twelve digits wide, so that OSS's
// lexicographic listing gives a key's newest version first. The ".v"
// segment cannot occur in a key (runstate reserves segments that begin
// with a dot), so "<key>/.v/" lists one key's versions and nothing else,
// and no name of this layout is a valid key of the earlier one (a plain
// object at <prefix><key>).
const (
	logSep      = "/.v/"
	seqWidth    = 12
	seqCeiling  = 999_999_999_999
	markerName  = ".kmsmig-layout"
	probeName   = ".kmsmig-probe"
	layoutValue = "2"
	layoutText  = "kmsmig run-state store, layout 2: one log of create-only versions per key, <key>/.v/<999999999999 - n>\n"
	// logOverhead is what the layout adds to <prefix><key>.
	logOverhead = len(logSep) + seqWidth
	// maxObjectName is OSS's limit on object names, in bytes.
	maxObjectName = 1023
)

// kind says what a version holds.
type kind string

const (
	kindData      kind = "data"      // a value of the key
	kindTombstone kind = "tombstone" // the key was deleted
	kindStub      kind = "stub"      // version 1 after pruning: kept empty, never deleted
)

// User metadata of every version (x-oss-meta-*; the SDK lower-cases the
// names it reads back).
const (
	metaID     = "kmsmig-id"     // random, unique to this object
	metaPrev   = "kmsmig-prev"   // id of the version this one was written over
	metaKind   = "kmsmig-kind"   // a kind
	metaLayout = "kmsmig-layout" // on the marker: layoutValue
)

// meta is a version's metadata.
type meta struct {
	id, prev string
	kind     kind
}

func metaOf(m map[string]string) meta {
	return meta{id: m[metaID], prev: m[metaPrev], kind: kind(m[metaKind])}
}

func (m meta) headers() map[string]string {
	h := map[string]string{metaID: m.id, metaKind: string(m.kind)}
	if m.prev != "" {
		h[metaPrev] = m.prev
	}
	return h
}

func (s *Store) logPrefix(key string) string { return s.prefix + key + logSep }

func (s *Store) versionName(key string, seq int64) string {
	return fmt.Sprintf("%s%0*d", s.logPrefix(key), seqWidth, seqCeiling-seq)
}

// parseName splits an object name, relative to the store's prefix, into a
// key and a sequence number; ok is false for names outside the layout.
func parseName(rest string) (key string, seq int64, ok bool) {
	i := strings.LastIndex(rest, logSep)
	if i <= 0 {
		return "", 0, false
	}
	digits := rest[i+len(logSep):]
	if len(digits) != seqWidth || strings.Trim(digits, "0123456789") != "" {
		return "", 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n >= seqCeiling {
		return "", 0, false
	}
	return rest[:i], seqCeiling - n, true
}

// A Version is "<n>.<id>": the sequence number and the id of the object
// that holds it, so that a version recreated under a pruned name never
// matches one read before.
func formatVersion(seq int64, id string) runstate.Version {
	return runstate.Version(strconv.FormatInt(seq, 10) + "." + id)
}

func parseVersion(v runstate.Version) (seq int64, id string, ok bool) {
	n, id, found := strings.Cut(string(v), ".")
	seq, err := strconv.ParseInt(n, 10, 64)
	if !found || err != nil || seq < 1 || seq >= seqCeiling || id == "" {
		return 0, "", false
	}
	return seq, id, true
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
