package verdict

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/rules"
)

// laneWork is one lane while Classify works on it: its verdicts, aligned
// with its keys and secrets sorted into canonical order.
type laneWork struct {
	li      *estate.LaneInventory
	lf      LaneFinding
	keys    []Verdict
	secrets []Verdict
	keyAt   map[string]int // key ID → index in keys
}

// Classify gives every key and secret of inv exactly one Verdict and
// returns them with the lane findings and quota use. It does not modify
// inv. It returns an error, naming the problem, when s or inv is invalid.
//
// Rules, applied in this order to each resource (the first that applies
// decides):
//   - a resource with an instance ID is already-migrated;
//   - keys: service keys (info), imported material, pending deletion,
//     disabled, any other state but Enabled, and with
//     Settings.StrictKeyVersions several versions, are blocked;
//   - secrets: a name shared with another secret of the lane, present in
//     the target instance, or held by another account that may migrate
//     into the target (its owner, the accounts it is shared with, the
//     lanes that see it: rules.SecretHolders, the twin's rule too) is
//     blocked, every copy alike; a secret under a CMK that is
//     unknown, blocked, or migrated into another instance than the target
//     is blocked; a secret under a CMK that migrates in this run depends
//     on it (DependsOn); a secret under the system-managed key (also when
//     named by the ID of a service key) or an already migrated CMK has no
//     dependency;
//   - a lane without a usable target blocks all its remaining resources
//     with the lane's reason (instance-not-shared when another account's
//     instance in the region could serve once shared);
//   - each target instance's free quota is spent across the lanes that
//     target it, in lane order, keys by ID then secrets by name; what does
//     not fit is blocked instance-quota-too-small, and so is (as
//     secret-cmk-blocked) every secret whose CMK did not fit;
//   - what remains is migratable, or migratable-once-rotation-off when
//     its automatic rotation is on.
func Classify(inv estate.Inventory, s Settings) (*Verdicts, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := inv.Validate(); err != nil {
		return nil, fmt.Errorf("verdict: inventory %s: %w", inv.RunID, err)
	}
	asOf := s.AsOf
	if asOf.IsZero() {
		asOf = inv.DiscoveredAt
	}
	lanes := make([]*estate.LaneInventory, len(inv.Lanes))
	for i := range inv.Lanes {
		lanes[i] = &inv.Lanes[i]
	}
	slices.SortFunc(lanes, func(a, b *estate.LaneInventory) int { return a.Lane.Compare(b.Lane) })
	dir := newDirectory(lanes)
	taken := namesInInstances(lanes, dir)
	holders := secretHolders(lanes, dir)

	work := make([]*laneWork, len(lanes))
	for i, li := range lanes {
		w := &laneWork{li: li, lf: chooseTarget(li, dir, s, asOf)}
		w.classifyKeys(s)
		w.classifySecrets(taken[w.lf.InstanceID], holders[w.lf.InstanceID])
		w.applyLaneBlocker()
		work[i] = w
	}
	uses := spendQuota(work, dir)

	vs := &Verdicts{RunID: inv.RunID, Settings: s, Instances: uses, Lanes: make([]LaneFinding, 0, len(work))}
	n := 0
	for _, w := range work {
		n += len(w.keys) + len(w.secrets)
	}
	vs.Resources = make([]Verdict, 0, n)
	for _, w := range work {
		vs.Resources = append(vs.Resources, w.keys...)
		vs.Resources = append(vs.Resources, w.secrets...)
		vs.Lanes = append(vs.Lanes, w.lf)
	}
	vs.Counts = count(vs)
	return vs, nil
}

// namesInInstances returns, per instance ID, the secret names already
// stored there: the names discovery listed in the instance and the
// secrets of any lane that already migrated into it.
func namesInInstances(lanes []*estate.LaneInventory, dir directory) map[string]map[string]bool {
	taken := map[string]map[string]bool{}
	add := func(id, name string) {
		if taken[id] == nil {
			taken[id] = map[string]bool{}
		}
		taken[id][name] = true
	}
	for id, e := range dir {
		for _, n := range e.inst.SecretNames {
			add(id, n)
		}
	}
	for _, li := range lanes {
		for _, sec := range li.Secrets {
			if sec.Migrated() {
				add(sec.InstanceID, sec.Name)
			}
		}
	}
	return taken
}

func rotationKind(r estate.Rotation) Kind {
	if r.Enabled {
		return MigratableOnceRotationOff
	}
	return Migratable
}

func (w *laneWork) classifyKeys(s Settings) {
	li := w.li
	order := make([]int, len(li.Keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(li.Keys[a].ID, li.Keys[b].ID) })
	w.keys = make([]Verdict, len(order))
	w.keyAt = make(map[string]int, len(order))
	for j, i := range order {
		k := &li.Keys[i]
		v := Verdict{Lane: li.Lane, Resource: ResourceKey, ID: k.ID, InstanceID: w.lf.InstanceID,
			Aliases: slices.Clone(k.Aliases), Tags: maps.Clone(k.Tags)}
		slices.Sort(v.Aliases)
		switch {
		case k.Migrated():
			v.Verdict, v.InstanceID = AlreadyMigrated, k.InstanceID
		case k.IsServiceKey():
			v.block(ServiceKey, "Key %s is a service key (created by %s); it stays in KMS 1.0 and needs no action.", k.ID, cmp.Or(strings.Join(k.Aliases, ", "), k.Creator))
		case k.Origin == estate.OriginExternal:
			v.block(ImportedKeyMaterial, "Key %s holds imported (BYOK) key material, which the migration tool cannot move; keep it in KMS 1.0, or create a key in the instance and re-encrypt its data.", k.ID)
		case k.State == estate.KeyPendingDeletion:
			v.block(KeyPendingDeletion, "Key %s is pending deletion; cancel the deletion to migrate it, or let it be deleted.", k.ID)
		case k.State == estate.KeyDisabled:
			v.block(KeyDisabled, "Key %s is disabled; enable it to migrate it, or schedule its deletion.", k.ID)
		case k.State != estate.KeyEnabled:
			v.block(KeyStateUnsupported, "Key %s is in state %q; bring it to Enabled or delete it, then run discovery again.", k.ID, k.State)
		case s.StrictKeyVersions && k.VersionCount > 1:
			v.block(KeyMultipleVersions, "Key %s has %d key versions, which the older documentation excludes from migration; confirm with Alibaba Cloud support, or classify without strict key versions.", k.ID, k.VersionCount)
		default:
			v.Verdict = rotationKind(k.Rotation)
		}
		w.keys[j] = v
		w.keyAt[k.ID] = j
	}
}

// secretHolders returns, per instance ID, which accounts that may migrate
// into the instance hold a KMS 1.0 secret of each name, as far as the
// inventory shows: the owner, the accounts it is shared with, and every
// account whose lane lists the instance (an account sees only instances it
// owns or that are shared with it), each with its lane of the instance's
// region.
func secretHolders(lanes []*estate.LaneInventory, dir directory) map[string]*rules.SecretHolders {
	byLane := make(map[estate.Lane]*estate.LaneInventory, len(lanes))
	visible := map[string][]string{} // instance → accounts whose lane lists it
	for _, li := range lanes {
		byLane[li.Lane] = li
		for _, in := range li.Instances {
			visible[in.ID] = append(visible[in.ID], li.Lane.Account)
		}
	}
	out := make(map[string]*rules.SecretHolders, len(dir))
	for id, e := range dir {
		h := &rules.SecretHolders{}
		for _, acct := range rules.MayMigrateInto(e.inst.Owner, append(slices.Clone(e.inst.SharedWith), visible[id]...)) {
			li := byLane[estate.Lane{Account: acct, Region: e.inst.Region}]
			if li == nil {
				continue
			}
			for _, sec := range li.Secrets {
				if !sec.Migrated() {
					h.Add(acct, sec.Name)
				}
			}
		}
		out[id] = h
	}
	return out
}

func (w *laneWork) classifySecrets(taken map[string]bool, holders *rules.SecretHolders) {
	li := w.li
	order := make([]int, len(li.Secrets))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		x, y := &li.Secrets[a], &li.Secrets[b]
		return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.InstanceID, y.InstanceID))
	})
	names := make(map[string]int, len(order))
	for _, sec := range li.Secrets {
		names[sec.Name]++
	}
	refs := w.keyRefs()
	target := w.lf.InstanceID
	w.secrets = make([]Verdict, len(order))
	for j, i := range order {
		sec := &li.Secrets[i]
		v := Verdict{Lane: li.Lane, Resource: ResourceSecret, ID: sec.Name, InstanceID: target, Tags: maps.Clone(sec.Tags)}
		switch {
		case sec.Migrated():
			v.Verdict, v.InstanceID = AlreadyMigrated, sec.InstanceID
		case names[sec.Name] > 1:
			v.block(DuplicateSecretName, "%d secrets are named %q in lane %s; rename or delete all but one (names do not change in migration).", names[sec.Name], sec.Name, li.Lane)
		case taken[sec.Name]:
			v.block(DuplicateSecretName, "A secret named %q already exists in instance %s; rename or delete one of them (names do not change in migration).", sec.Name, target)
		case holders != nil && len(holders.OtherHolders(li.Lane.Account, sec.Name)) > 0:
			others := holders.OtherHolders(li.Lane.Account, sec.Name)
			v.block(DuplicateSecretName, "Account(s) %s also hold a secret named %q that may migrate into instance %s; one instance holds one secret per name and names do not change in migration, so no copy migrates: rename or delete all but one.",
				strings.Join(others, ", "), sec.Name, target)
		case sec.UsesSystemKey():
			v.Verdict = rotationKind(sec.Rotation)
		default:
			w.dependOnCMK(&v, sec, refs)
		}
		w.secrets[j] = v
	}
}

// keyRefs maps every way a secret may name its CMK (ID, ARN, alias) to the
// key's index in w.keys.
func (w *laneWork) keyRefs() map[string]int {
	refs := make(map[string]int, len(w.li.Keys))
	for _, k := range w.li.Keys {
		j := w.keyAt[k.ID]
		refs[k.ID] = j
		if k.Arn != "" {
			refs[k.Arn] = j
		}
		for _, a := range k.Aliases {
			refs["alias/"+strings.TrimPrefix(a, "alias/")] = j
		}
	}
	return refs
}

func (w *laneWork) dependOnCMK(v *Verdict, sec *estate.Secret, refs map[string]int) {
	j, ok := refs[sec.EncryptionKeyID]
	if !ok {
		v.block(SecretCMKUnknown, "Secret %q is encrypted with CMK %s, which discovery did not find in lane %s; check the key and run discovery again.", sec.Name, sec.EncryptionKeyID, w.li.Lane)
		return
	}
	cmk := w.keys[j]
	switch {
	case cmk.Verdict == AlreadyMigrated && w.lf.InstanceID != "" && cmk.InstanceID != w.lf.InstanceID:
		v.block(SecretCMKOtherInstance, "Secret %q is encrypted with CMK %s, which already lives in instance %s, not in the lane's target %s; make %s the target of lane %s.",
			sec.Name, cmk.ID, cmk.InstanceID, w.lf.InstanceID, cmk.InstanceID, w.li.Lane)
	case cmk.Verdict == AlreadyMigrated, cmk.Reason == ServiceKey:
		// A service key protecting a secret is the system-managed key
		// reported by ID: nothing to wait for.
		v.Verdict = rotationKind(sec.Rotation)
	case cmk.Verdict == Blocked:
		v.block(SecretCMKBlocked, "Secret %q is encrypted with CMK %s, which cannot migrate (%s); resolve the CMK first, since a secret migrates only after its CMK.", sec.Name, cmk.ID, cmk.Reason)
	default:
		v.Verdict, v.DependsOn = rotationKind(sec.Rotation), cmk.ID
	}
}

func (w *laneWork) applyLaneBlocker() {
	f, ok := w.lf.Blocker()
	if !ok {
		return
	}
	for _, vs := range [][]Verdict{w.keys, w.secrets} {
		for i := range vs {
			if vs[i].Verdict.WillMigrate() {
				vs[i].block(f.Reason, "%s", f.Remediation)
			}
		}
	}
}

func (v *Verdict) block(r Reason, format string, args ...any) {
	v.Verdict, v.Reason, v.Remediation = Blocked, r, fmt.Sprintf(format, args...)
	v.DependsOn, v.InstanceID = "", ""
}

func count(vs *Verdicts) Counts {
	c := Counts{ByVerdict: map[Kind]int{}, ByReason: map[Reason]int{}}
	for _, v := range vs.Resources {
		if v.Resource == ResourceKey {
			c.Keys++
		} else {
			c.Secrets++
		}
		c.ByVerdict[v.Verdict]++
		if v.Reason != "" {
			c.ByReason[v.Reason]++
			if v.Reason.NeedsAction() {
				c.NeedsAction++
			}
		}
	}
	for _, lf := range vs.Lanes {
		for _, f := range lf.Findings {
			if f.Severity == SeverityWarning {
				c.Warnings++
			}
		}
	}
	return c
}
