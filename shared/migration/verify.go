package migration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/runstate"
)

// checkInventory returns an error naming the key when the run's stored
// inventory, the reference verify reads, exists and cannot be decoded;
// nil when it decodes or there is none.
func (e *Engine) checkInventory(ctx context.Context, runID string) error {
	_, err := e.readInventory(ctx, runID)
	if err == nil || errors.Is(err, runstate.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("migration: the run's inventory, the reference of verification, cannot be read (no rotation switched off): %w", err)
}

// verify compares every resource of s with the inventory and the ledger:
// where it lives, its rotation, aliases, tags and version count, and what
// a migration preserves (key spec, key usage, protection level; secret
// type and stage labels), each mismatch naming the field, the expected
// and the found value.
func (e *Engine) verify(ctx context.Context, s *BatchState) ([]string, error) {
	var problems []string
	inv, err := e.readInventory(ctx, s.RunID)
	var li *estate.LaneInventory
	switch {
	case err == nil:
		li, _ = inv.Lane(s.Lane)
	case errors.Is(err, runstate.ErrNotFound):
		problems = append(problems, "no inventory.json: only rotation verified")
	default:
		return nil, err
	}
	var aliases map[string][]string
	if len(s.Keys) > 0 && li != nil {
		if aliases, err = e.KMS.Aliases(ctx, s.Lane); err != nil {
			return nil, fmt.Errorf("migration: verify %s: %w", s.ID, err)
		}
	}
	// Resources are verified observeConcurrency of a kind at a time (each reads KMS
	// and writes its own ledger entry): a batch of 100, one after another,
	// kept the lane's next task waiting (or, for the night's last batch,
	// the run from ending) for as long as a task of 50 keys runs.
	refs := e.ledgerRefs(s)
	found := make([][]string, len(refs))
	err = eachResource(ctx, refs, func(i int) error {
		var err error
		found[i], err = e.verifyResource(ctx, s, refs[i], li, aliases)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, f := range found {
		problems = append(problems, f...)
	}
	return problems, nil
}

// verifyResource is verify's work on one resource r of s: the problems it
// finds.
func (e *Engine) verifyResource(ctx context.Context, s *BatchState, r resourceRef, li *estate.LaneInventory, aliases map[string][]string) ([]string, error) {
	var problems []string
	o, err := e.observeWhole(ctx, s.Lane, r)
	if errors.Is(err, cloud.ErrNotFound) {
		// A dropped resource is gone, or may go: its owner's decision,
		// recorded as such.
		if out := s.outcome(r); out == nil || out.Result != ResultDropped {
			problems = append(problems, r.String()+": no longer exists")
		}
		return problems, nil
	}
	if err != nil {
		return nil, fmt.Errorf("migration: verify %s: %w", s.ID, err)
	}
	bad := func(format string, args ...any) {
		problems = append(problems, r.String()+": "+fmt.Sprintf(format, args...))
	}
	out := s.outcome(r)
	wantInstance := ""
	switch {
	case out != nil && out.Result == ResultMigrated:
		wantInstance = s.InstanceID
	case out != nil && out.InstanceID != "":
		wantInstance = out.InstanceID
	}
	if o.InstanceID != wantInstance && !(wantInstance == "" && out == nil) {
		bad("instance %q, want %q", o.InstanceID, wantInstance)
	}
	le, ok, err := e.ledgerEntry(ctx, s.Lane, r)
	if err != nil {
		return nil, err
	}
	if ok && le.HeldBy(s.RunID, s.ID) && le.Status == LedgerSuperseded {
		// The owner's policy stands; nothing of kmsmig's to verify.
	} else if ok && le.HeldBy(s.RunID, s.ID) {
		if _, drop := dropFor(r, o, nil); drop && le.Off() {
			bad("rotation off while the key is %s: the daily sweep gives back %s once its owner enables it", o.Key.State, describe(le.Original))
		} else if !sameRotation(o.Rotation, le.Original) {
			bad("rotation %s, ledger says %s", describe(o.Rotation), describe(le.Original))
		} else if le.Status != LedgerVerified {
			now := e.now()
			if err := e.markLedger(ctx, s.Lane, r, s.RunID, s.ID, func(x *LedgerEntry) {
				x.Status, x.VerifiedAt = LedgerVerified, now
			}); err != nil {
				return nil, err
			}
		}
	}
	if li == nil {
		return problems, nil
	}
	if r.Kind == KindKey {
		k, found := findKey(li, r.ID)
		if !found {
			bad("not in the inventory")
			return problems, nil
		}
		if !ok && !sameRotation(o.Rotation, k.Rotation) {
			bad("rotation %s, inventory says %s", describe(o.Rotation), describe(k.Rotation))
		}
		got := slices.Sorted(slices.Values(aliases[r.ID]))
		if want := slices.Sorted(slices.Values(k.Aliases)); !slices.Equal(got, want) {
			bad("aliases %v, inventory says %v", got, want)
		}
		if !maps.Equal(o.Key.Tags, k.Tags) {
			bad("tags %v, inventory says %v", o.Key.Tags, k.Tags)
		}
		if k.VersionCount != 0 && o.Key.VersionCount != k.VersionCount {
			bad("%d versions, inventory says %d", o.Key.VersionCount, k.VersionCount)
		}
		for _, f := range []struct{ name, want, got string }{
			{"key spec", k.Spec, o.Key.Spec},
			{"key usage", k.Usage, o.Key.Usage},
			{"protection level", k.ProtectionLevel, o.Key.ProtectionLevel},
		} {
			if f.want != "" && f.got != f.want {
				bad("%s changed: expected %q (inventory), found %q", f.name, f.want, f.got)
			}
		}
		return problems, nil
	}
	sec, found := findSecret(li, r.ID)
	if !found {
		bad("not in the inventory")
		return problems, nil
	}
	if !ok && !sameRotation(o.Rotation, sec.Rotation) {
		bad("rotation %s, inventory says %s", describe(o.Rotation), describe(sec.Rotation))
	}
	if !maps.Equal(o.Secret.Tags, sec.Tags) {
		bad("tags %v, inventory says %v", o.Secret.Tags, sec.Tags)
	}
	if sec.VersionCount != 0 && o.Secret.VersionCount != sec.VersionCount {
		bad("%d versions, inventory says %d", o.Secret.VersionCount, sec.VersionCount)
	}
	if sec.Type != "" && o.Secret.Type != sec.Type {
		bad("secret type changed: expected %q (inventory), found %q", sec.Type, o.Secret.Type)
	}
	// Migration preserves every version with its stage labels.
	if want, got := slices.Sorted(slices.Values(sec.StageLabels)), slices.Sorted(slices.Values(o.Secret.StageLabels)); len(want) > 0 && !slices.Equal(got, want) {
		bad("stage labels changed: expected %q (inventory), found %q", want, got)
	}
	return problems, nil
}

func findKey(li *estate.LaneInventory, id string) (estate.Key, bool) {
	for _, k := range li.Keys {
		if k.ID == id {
			return k, true
		}
	}
	return estate.Key{}, false
}

// findSecret prefers the secret of that name not yet in an instance (two
// secrets may share a name across KMS 1.0 and an instance).
func findSecret(li *estate.LaneInventory, name string) (estate.Secret, bool) {
	var out estate.Secret
	found := false
	for _, s := range li.Secrets {
		if s.Name == name && (!found || s.InstanceID == "") {
			out, found = s, true
		}
	}
	return out, found
}
