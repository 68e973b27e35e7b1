package chaos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// The estate's owners, between two nights (and now and then in the middle
// of one): they switch automatic rotation on (often of a resource kmsmig
// holds off), change its interval or switch it off, through the KMS API as any owner would (KMS refuses
// while a task migrates the resource); they create and delete keys and
// secrets and disable keys or schedule their deletion, through the twin's
// test controls (twin/kms/controls.go). Every rotation change KMS accepts
// is recorded (ownerChange) for the invariant that kmsmig never restores
// over it (check.go).

// resKey names one key or secret of the estate.
type resKey struct {
	Lane estate.Lane
	Kind verdict.ResourceKind
	ID   string
}

func (r resKey) String() string { return fmt.Sprintf("%s %s in %s", r.Kind, r.ID, r.Lane) }

func (r resKey) compare(o resKey) int {
	return cmp.Or(cmp.Compare(r.Lane.String(), o.Lane.String()), cmp.Compare(r.Kind, o.Kind), cmp.Compare(r.ID, o.ID))
}

// ownerChange is one rotation change an owner made and KMS accepted.
type ownerChange struct {
	Res           resKey
	At            time.Time
	Before, After estate.Rotation
	// HeldOff: kmsmig's ledger entry of the resource was off when the
	// owner made the change (kmsmig may hold its rotation off).
	HeldOff bool
}

// createdResource is a resource an owner created, with its rotation then.
type createdResource struct {
	Rotation estate.Rotation
}

// ownerIntervals are the rotation intervals owners choose.
var ownerIntervals = []time.Duration{7 * 24 * time.Hour, 10 * 24 * time.Hour, 30 * 24 * time.Hour, 90 * 24 * time.Hour}

// ownersChange makes the night's changes to the estate: up to
// MaxChanges, each drawn first, then applied to the world as it is.
func (s *schedule) ownersChange(ctx context.Context, night int) {
	n := s.nights
	k := n.rng.IntN(n.prof.MaxChanges + 1)
	for range k {
		kind, pick := n.rng.IntN(12), n.rng.IntN(1<<16)
		iv := ownerIntervals[n.rng.IntN(len(ownerIntervals))]
		coin := n.rng.IntN(2) == 1
		s.quietly(func() { s.ownerChange(ctx, fmt.Sprintf("night %d", night), kind, pick, iv, coin) })
	}
}

// ownerChange makes one change of the estate; tag says when, for the log.
func (s *schedule) ownerChange(ctx context.Context, tag string, kind, pick int, iv time.Duration, coin bool) {
	all, err := s.resources(ctx)
	if err != nil || len(all) == 0 {
		s.res.Logf("%s: owners: no resources (%v)", tag, err)
		return
	}
	r := all[pick%len(all)]
	switch {
	case kind < 3:
		// Switch on what kmsmig holds off (its ledger entry is off).
		if offs := s.heldOff(ctx, all); len(offs) > 0 {
			r = offs[pick%len(offs)]
		}
		s.setOwnerRotation(ctx, tag, r, estate.Rotation{Enabled: true, Interval: iv})
	case kind < 5:
		s.setOwnerRotation(ctx, tag, r, estate.Rotation{Enabled: true, Interval: iv})
	case kind < 6:
		s.setOwnerRotation(ctx, tag, r, estate.Rotation{})
	case kind < 7:
		s.deleteResource(ctx, tag, r)
	case kind < 9:
		s.createResource(tag, all[pick%len(all)].Lane, coin, iv, pick%2 == 0)
	case kind < 10:
		s.changeKeyState(ctx, tag, r, coin)
	default:
		// A day without changes.
	}
}

// resources lists every key (service keys aside) and secret the owners may
// touch: those of the first run's inventory and those they created, less
// those they deleted, in a fixed order.
func (s *schedule) resources(ctx context.Context) ([]resKey, error) {
	initial, err := s.initialPolicies(ctx)
	if err != nil {
		return nil, err
	}
	var out []resKey
	for r := range initial {
		if s.nights == nil || !s.nights.deleted[r] {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, resKey.compare)
	return out, nil
}

// initialPolicies returns the rotation policy every resource had when the
// schedule first saw it: the first run's inventory (service keys aside)
// and, for many nights, the resources the owners created.
func (s *schedule) initialPolicies(ctx context.Context) (map[resKey]estate.Rotation, error) {
	first := RunID
	if s.nights != nil && len(s.nights.runs) > 0 {
		first = s.nights.runs[0]
	}
	inv, _, err := runstate.GetJSON[estate.Inventory](ctx, s.view, statekeys.Inventory(first))
	if err != nil {
		return nil, fmt.Errorf("read inventory of %s: %w", first, err)
	}
	out := map[resKey]estate.Rotation{}
	for _, li := range inv.Lanes {
		for _, k := range li.Keys {
			if !k.IsServiceKey() {
				out[resKey{li.Lane, verdict.ResourceKey, k.ID}] = k.Rotation
			}
		}
		for _, sec := range li.Secrets {
			out[resKey{li.Lane, verdict.ResourceSecret, sec.Name}] = sec.Rotation
		}
	}
	if s.nights != nil {
		for r, c := range s.nights.created {
			out[r] = c.Rotation
		}
	}
	return out, nil
}

// heldOff lists the resources of all whose ledger entry is off.
func (s *schedule) heldOff(ctx context.Context, all []resKey) []resKey {
	var out []resKey
	for _, r := range all {
		if s.entryOff(ctx, r) {
			out = append(out, r)
		}
	}
	return out
}

// entryOff reports whether kmsmig's ledger entry of r is off.
func (s *schedule) entryOff(ctx context.Context, r resKey) bool {
	le, _, err := runstate.GetJSON[migration.LedgerEntry](ctx, s.view, statekeys.Ledger(r.Lane, r.Kind, r.ID))
	return err == nil && le.Off()
}

// policy reads the rotation policy of r from KMS (and, for a key, its
// state).
func (s *schedule) policy(ctx context.Context, r resKey) (estate.Rotation, estate.KeyState, error) {
	if r.Kind == verdict.ResourceKey {
		k, err := s.client.Key(ctx, r.Lane, r.ID)
		return k.Rotation, k.State, err
	}
	sec, err := s.client.Secret(ctx, r.Lane, estate.Secret{Name: r.ID})
	return sec.Rotation, "", err
}

// setOwnerRotation is an owner's UpdateRotationPolicy or
// UpdateSecretRotationPolicy; a change KMS accepts is recorded.
func (s *schedule) setOwnerRotation(ctx context.Context, tag string, r resKey, want estate.Rotation) {
	before, _, err := s.policy(ctx, r)
	if err != nil {
		s.res.Logf("%s: owner: read %s: %v", tag, r, err)
		return
	}
	held := s.entryOff(ctx, r)
	if r.Kind == verdict.ResourceKey {
		err = s.client.SetKeyRotation(ctx, r.Lane, r.ID, want)
	} else {
		err = s.client.SetSecretRotation(ctx, r.Lane, r.ID, want)
	}
	if err != nil {
		s.res.Logf("%s: owner: set rotation of %s to %s: refused: %v", tag, r, rot(want), err)
		return
	}
	s.nights.owners = append(s.nights.owners, ownerChange{Res: r, At: s.st.Clock.Now(), Before: before, After: want, HeldOff: held})
	s.res.Faults[FaultOwnerRotation]++
	if held {
		s.res.Faults[FaultOwnerHeld]++
	}
	s.res.Logf("%s: owner: rotation of %s %s → %s (kmsmig's ledger entry off: %v)", tag, r, rot(before), rot(want), held)
}

// deleteResource removes r (a key no secret of the estate is encrypted
// under).
func (s *schedule) deleteResource(ctx context.Context, tag string, r resKey) {
	var err error
	if r.Kind == verdict.ResourceKey {
		if cmk, cerr := s.isCMK(ctx, r); cerr != nil || cmk {
			s.res.Logf("%s: owner: keeps %s (a secret's CMK: %v, %v)", tag, r, cmk, cerr)
			return
		}
		err = s.st.KMS.RemoveKey(kmstwin.Lane(r.Lane), r.ID)
	} else {
		err = s.st.KMS.RemoveSecret(kmstwin.Lane(r.Lane), r.ID)
	}
	if err != nil {
		s.res.Logf("%s: owner: delete %s: refused: %v", tag, r, err)
		return
	}
	s.nights.deleted[r] = true
	s.res.Faults[FaultResourceGone]++
	s.res.Logf("%s: owner: deleted %s", tag, r)
}

// isCMK reports whether a secret of r's lane is encrypted under key r.
func (s *schedule) isCMK(ctx context.Context, r resKey) (bool, error) {
	k, err := s.client.Key(ctx, r.Lane, r.ID)
	if err != nil {
		return false, err
	}
	aliases, err := s.client.Aliases(ctx, r.Lane)
	if err != nil {
		return false, err
	}
	names := append([]string{k.ID, k.Arn}, aliases[k.ID]...)
	secrets, err := s.client.SecretNames(ctx, r.Lane)
	if err != nil {
		return false, err
	}
	for _, sec := range secrets {
		d, err := s.client.Secret(ctx, r.Lane, sec)
		if errors.Is(err, cloud.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		if d.EncryptionKeyID != "" && slices.Contains(names, d.EncryptionKeyID) {
			return true, nil
		}
	}
	return false, nil
}

// createResource adds a key (or, coin, a secret) to lane l, with rotation
// on (every iv) when on.
func (s *schedule) createResource(tag string, l estate.Lane, coin bool, iv time.Duration, on bool) {
	n := s.nights
	n.seq++
	var policy estate.Rotation
	state, interval := "Disabled", ""
	if on {
		policy, state, interval = estate.Rotation{Enabled: true, Interval: iv}, "Enabled", fmt.Sprintf("%ds", int64(iv/time.Second))
	}
	var r resKey
	var err error
	if !coin {
		r = resKey{l, verdict.ResourceKey, fmt.Sprintf("c4a05000-0000-4000-8000-%012x", n.seq)}
		err = s.st.KMS.AddKey(kmstwin.Lane(l), kmstwin.KeyInventory{KeyID: r.ID, AutomaticRotation: state, RotationInterval: interval,
			Tags: map[string]string{"created-by": "chaos-owner"}})
	} else {
		r = resKey{l, verdict.ResourceSecret, fmt.Sprintf("chaos/new-%03d", n.seq)}
		typ := "Generic"
		if on {
			typ = "Rds"
		}
		err = s.st.KMS.AddSecret(kmstwin.Lane(l), kmstwin.SecretInventory{SecretName: r.ID, SecretType: typ,
			AutomaticRotation: state, RotationInterval: interval, SecretData: "chaos"})
	}
	if err != nil {
		s.res.Logf("%s: owner: create %s: refused: %v", tag, r, err)
		return
	}
	n.created[r] = createdResource{Rotation: policy}
	s.res.Faults[FaultResourceNew]++
	s.res.Logf("%s: owner: created %s, rotation %s", tag, r, rot(policy))
}

// changeKeyState disables a key (or, coin, schedules its deletion), or
// enables one that is not Enabled. A key whose rotation is on, or that
// kmsmig holds off, is left alone: KMS cannot switch rotation on for a key
// that is not Enabled, so kmsmig could never give it back and the
// schedule would test the owner, not kmsmig.
func (s *schedule) changeKeyState(ctx context.Context, tag string, r resKey, coin bool) {
	if r.Kind != verdict.ResourceKey {
		return
	}
	cur, state, err := s.policy(ctx, r)
	if err != nil {
		s.res.Logf("%s: owner: read %s: %v", tag, r, err)
		return
	}
	to := "Disabled"
	switch {
	case state != estate.KeyEnabled:
		to = "Enabled"
	case cur.Enabled || s.entryOff(ctx, r):
		return
	case coin:
		to = "PendingDeletion"
	}
	if err := s.st.KMS.SetKeyState(kmstwin.Lane(r.Lane), r.ID, to); err != nil {
		s.res.Logf("%s: owner: %s → %s: refused: %v", tag, r, to, err)
		return
	}
	s.res.Faults[FaultKeyState]++
	s.res.Logf("%s: owner: %s %s → %s", tag, r, state, to)
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
