package runstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// DirStore is a Store in a local directory, the embedded default. Each key
// is a file: "runs/r1/plan" is <root>/runs/r1/plan.obj, holding exactly the
// stored bytes, so operators can read state with ordinary tools.
//
// Writes go to a temporary file that is synced and renamed into place, so a
// reader sees the old or the new bytes, never a mix, and a crash leaves no
// torn object. Every write takes an exclusive flock(2) on
// <root>/.runstate/lock for the few milliseconds of its check-and-rename,
// which makes compare-and-swap correct between goroutines, between DirStores
// on one root, and between OS processes sharing the directory on one machine
// (not over network filesystems whose flock is advisory per host). Reads
// take no lock. Version is a hash of the content.
type DirStore struct {
	root string
	// sem serialises this value's writers before they queue on the flock,
	// so waiting can observe ctx.
	sem chan struct{}
}

var _ Store = (*DirStore)(nil)

// internalDir holds the lock file and temporary files; keys cannot name it
// because segments may not begin with a dot.
const internalDir = ".runstate"

// OpenDir returns a DirStore rooted at root, creating the directory if
// needed. It fails when root cannot be created or written.
func OpenDir(root string) (*DirStore, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("runstate: open %s: %w", root, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, internalDir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("runstate: open %s: %w", root, err)
	}
	return &DirStore{root: abs, sem: make(chan struct{}, 1)}, nil
}

// Root returns the directory the store writes into.
func (d *DirStore) Root() string { return d.root }

func (d *DirStore) file(key string) string {
	return filepath.Join(d.root, filepath.FromSlash(key)+objSuffix)
}

func versionOf(data []byte) Version {
	sum := sha256.Sum256(data)
	return Version(hex.EncodeToString(sum[:16]))
}

// read returns the bytes at key; ok is false when absent.
func (d *DirStore) read(key string) (data []byte, ok bool, err error) {
	data, err = os.ReadFile(d.file(key))
	switch {
	case err == nil:
		return data, true, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return nil, false, nil
	default:
		return nil, false, err
	}
}

// Get returns the object at key. Not found: ErrNotFound. Never conflicts.
// Cancellation: ctx.Err(), checked before reading.
func (d *DirStore) Get(ctx context.Context, key string) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return Object{}, err
	}
	data, ok, err := d.read(key)
	if err != nil {
		return Object{}, fmt.Errorf("runstate: get %s: %w", key, err)
	}
	if !ok {
		return Object{}, fmt.Errorf("runstate: get %s: %w", key, ErrNotFound)
	}
	return Object{Key: key, Data: data, Version: versionOf(data)}, nil
}

// Create writes data at key if absent. Conflict (the key exists):
// ErrConflict. Cancellation: ctx.Err() while waiting for the lock, in which
// case nothing was written.
func (d *DirStore) Create(ctx context.Context, key string, data []byte) (Version, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	var v Version
	err := d.locked(ctx, func() error {
		_, ok, err := d.read(key)
		if err != nil {
			return err
		}
		if ok {
			return ErrConflict
		}
		v, err = d.write(key, data)
		return err
	})
	if err != nil {
		return "", d.wrap("create", key, ctx, err)
	}
	return v, nil
}

// Update replaces the object at key if ifVersion is current. Not found:
// ErrNotFound. Conflict (another or an empty version): ErrConflict.
// Cancellation: ctx.Err() while waiting for the lock, nothing written.
func (d *DirStore) Update(ctx context.Context, key string, data []byte, ifVersion Version) (Version, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	var v Version
	err := d.locked(ctx, func() error {
		cur, ok, err := d.read(key)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if versionOf(cur) != ifVersion {
			return ErrConflict
		}
		v, err = d.write(key, data)
		return err
	})
	if err != nil {
		return "", d.wrap("update", key, ctx, err)
	}
	return v, nil
}

// Delete removes the object at key, if ifVersion is empty or current, and
// the directories it leaves empty. Not found: ErrNotFound. Conflict:
// ErrConflict. Cancellation: ctx.Err() while waiting for the lock, nothing
// removed.
func (d *DirStore) Delete(ctx context.Context, key string, ifVersion Version) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	err := d.locked(ctx, func() error {
		cur, ok, err := d.read(key)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if ifVersion != "" && versionOf(cur) != ifVersion {
			return ErrConflict
		}
		if err := os.Remove(d.file(key)); err != nil {
			return err
		}
		d.prune(path.Dir(key))
		return nil
	})
	return d.wrap("delete", key, ctx, err)
}

// List returns the keys beginning with prefix, sorted; none is an empty
// slice. Never conflicts. Cancellation: ctx.Err(), checked between
// directories.
func (d *DirStore) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Walk only the deepest directory the prefix names in full.
	start := d.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(d.root, filepath.FromSlash(prefix[:i]))
	}
	keys := []string{}
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil // absent, or removed by a concurrent Delete
			}
			return err
		}
		if e.IsDir() {
			if e.Name() == internalDir && filepath.Dir(p) == d.root {
				return filepath.SkipDir
			}
			return ctx.Err()
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key, ok := strings.CutSuffix(filepath.ToSlash(rel), objSuffix)
		if ok && strings.HasPrefix(key, prefix) && ValidateKey(key) == nil {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, d.wrap("list", prefix, ctx, err)
	}
	sort.Strings(keys)
	return keys, nil
}

// wrap returns ctx errors unchanged and names the operation otherwise.
func (d *DirStore) wrap(op, key string, ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return ctxErr
	}
	return fmt.Errorf("runstate: %s %s: %w", op, key, err)
}

// locked runs fn holding the store's write lock: first this value's
// semaphore (cancellable), then the cross-process flock.
func (d *DirStore) locked(ctx context.Context, fn func() error) error {
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-d.sem }()
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(d.root, internalDir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer unlockFile(f)
	return fn()
}

// write stores data at key atomically: temporary file, fsync, rename, fsync
// of the directory. The caller holds the lock.
func (d *DirStore) write(key string, data []byte) (Version, error) {
	dst := d.file(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Join(d.root, internalDir, "tmp"), "obj-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", err
	}
	syncDir(filepath.Dir(dst))
	return versionOf(data), nil
}

// prune removes dir (a key's parent, slash-separated) and its ancestors
// while they are empty. The caller holds the lock, so no writer is creating
// files below them; a failure only leaves an empty directory behind.
func (d *DirStore) prune(dir string) {
	for dir != "." && dir != "/" && dir != "" {
		if err := os.Remove(filepath.Join(d.root, filepath.FromSlash(dir))); err != nil {
			return
		}
		dir = path.Dir(dir)
	}
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		f.Close()
	}
}
