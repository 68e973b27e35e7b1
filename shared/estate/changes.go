package estate

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// ChangeKind says what changed about one key, secret or instance between
// two discovery runs.
type ChangeKind string

// Change kinds, in the order a report lists them.
const (
	// ChangeCreated: the resource exists now and did not before.
	ChangeCreated ChangeKind = "created"
	// ChangeGone: the resource existed before and no longer does.
	ChangeGone ChangeKind = "gone"
	// ChangePendingDeletion: the key's owner scheduled it for deletion.
	ChangePendingDeletion ChangeKind = "pending-deletion"
	// ChangeDisabled: the key's owner disabled it.
	ChangeDisabled ChangeKind = "disabled"
	// ChangeEnabled: the key is Enabled again (re-enabled, or its
	// deletion cancelled).
	ChangeEnabled ChangeKind = "enabled"
	// ChangeState: any other change of a key's state (PendingImport, ...).
	ChangeState ChangeKind = "state-changed"
	// ChangeRotation: the automatic rotation policy was switched on or off,
	// or its interval changed.
	ChangeRotation ChangeKind = "rotation-changed"
	// ChangeEncryptionKey: a secret is protected by another CMK (or moved
	// to or from the system-managed key).
	ChangeEncryptionKey ChangeKind = "encryption-key-changed"
	// ChangeMigrated: the resource now lives in a KMS 3.0 instance (To).
	ChangeMigrated ChangeKind = "migrated"
	// ChangeKeyQuota and ChangeSecretQuota: an instance's quota changed.
	ChangeKeyQuota    ChangeKind = "key-quota-changed"
	ChangeSecretQuota ChangeKind = "secret-quota-changed"
	// ChangeExpiry: an instance's expiry date changed (renewed, say).
	ChangeExpiry ChangeKind = "expiry-changed"
	// ChangeAutoRenew: an instance's auto-renewal was switched on or off.
	ChangeAutoRenew ChangeKind = "auto-renewal-changed"
)

// ChangeKinds lists every change kind in report order.
var ChangeKinds = []ChangeKind{ChangeCreated, ChangeGone, ChangePendingDeletion, ChangeDisabled, ChangeEnabled, ChangeState,
	ChangeRotation, ChangeEncryptionKey, ChangeMigrated, ChangeKeyQuota, ChangeSecretQuota, ChangeExpiry, ChangeAutoRenew}

func (k ChangeKind) rank() int {
	if i := slices.Index(ChangeKinds, k); i >= 0 {
		return i
	}
	return len(ChangeKinds)
}

// Subject is what a Change is about: "key", "secret" (the words of
// verdict.ResourceKind) or "instance".
type Subject string

// Subjects, in the order a report lists them.
const (
	SubjectKey      Subject = "key"
	SubjectSecret   Subject = "secret"
	SubjectInstance Subject = "instance"
)

func (s Subject) rank() int {
	switch s {
	case SubjectKey:
		return 0
	case SubjectSecret:
		return 1
	}
	return 2
}

// Change is one difference between the inventories of two runs for one
// resource of one lane. From and To are the old and new values in words
// ("Enabled" → "Disabled", "off" → "on every 30d", a quota, a date), empty
// when the kind says it all.
type Change struct {
	Lane     Lane       `json:"lane"`
	Resource Subject    `json:"resource"`
	ID       string     `json:"id"`
	Kind     ChangeKind `json:"kind"`
	From     string     `json:"from,omitempty"`
	To       string     `json:"to,omitempty"`
}

// Compare orders changes by lane, subject (keys, secrets, instances), ID,
// kind (ChangeKinds order), then From and To; it returns -1, 0 or +1.
func (c Change) Compare(o Change) int {
	return cmp.Or(c.Lane.Compare(o.Lane), cmp.Compare(c.Resource.rank(), o.Resource.rank()), cmp.Compare(c.ID, o.ID),
		cmp.Compare(c.Kind.rank(), o.Kind.rank()), cmp.Compare(c.Kind, o.Kind), cmp.Compare(c.From, o.From), cmp.Compare(c.To, o.To))
}

// Diff lists every change from prev (the previous run's inventory) to
// next, in Change.Compare order; nil when nothing changed or either is
// nil. Neither inventory is modified.
//
// Only lanes present in both are compared: a lane discovered by one run
// only was in or out of that run's scope, which says nothing of its
// estate. Where discovery met errors (in either run) a resource it may
// have missed is never reported created or gone: a failed listing hides
// every resource of its kind in the lane, a failed describe call the one
// it names. Keys and instances are matched by ID, secrets by name (of
// secrets sharing a name, those in the same instance first, then the
// rest in order). Used quotas are not compared: they move with every
// migration.
func Diff(prev, next *Inventory) []Change {
	if prev == nil || next == nil {
		return nil
	}
	var out []Change
	for i := range next.Lanes {
		n := &next.Lanes[i]
		p, ok := prev.Lane(n.Lane)
		if !ok {
			continue
		}
		d := laneDiff{prev: p, next: n}
		d.keys()
		d.secrets()
		d.instances()
		out = append(out, d.out...)
	}
	slices.SortStableFunc(out, Change.Compare)
	return out
}

// laneDiff compares one lane of two inventories.
type laneDiff struct {
	prev, next *LaneInventory
	out        []Change
}

func (d *laneDiff) add(s Subject, id string, k ChangeKind, from, to string) {
	d.out = append(d.out, Change{Lane: d.next.Lane, Resource: s, ID: id, Kind: k, From: from, To: to})
}

// blind reports whether either run's discovery of the lane may have
// missed resource id: its listing (list) or its describe call failed.
func (d *laneDiff) blind(list, describe, id string) bool {
	for _, li := range []*LaneInventory{d.prev, d.next} {
		for _, e := range li.Errors {
			if e.Op == list || (e.Op == describe && e.Resource == id) {
				return true
			}
		}
	}
	return false
}

func (d *laneDiff) keys() {
	before := make(map[string]*Key, len(d.prev.Keys))
	for i := range d.prev.Keys {
		before[d.prev.Keys[i].ID] = &d.prev.Keys[i]
	}
	seen := make(map[string]bool, len(d.next.Keys))
	for i := range d.next.Keys {
		k := &d.next.Keys[i]
		seen[k.ID] = true
		p, ok := before[k.ID]
		if !ok {
			if !d.blind("ListKeys", "DescribeKey", k.ID) {
				d.add(SubjectKey, k.ID, ChangeCreated, "", "")
			}
			continue
		}
		if p.State != k.State {
			d.add(SubjectKey, k.ID, stateChange(k.State), string(p.State), string(k.State))
		}
		d.common(SubjectKey, k.ID, p.Rotation, k.Rotation, p.InstanceID, k.InstanceID)
	}
	for _, p := range d.prev.Keys {
		if !seen[p.ID] && !d.blind("ListKeys", "DescribeKey", p.ID) {
			d.add(SubjectKey, p.ID, ChangeGone, "", "")
		}
	}
}

// stateChange names a key's move into state to.
func stateChange(to KeyState) ChangeKind {
	switch to {
	case KeyPendingDeletion:
		return ChangePendingDeletion
	case KeyDisabled:
		return ChangeDisabled
	case KeyEnabled:
		return ChangeEnabled
	}
	return ChangeState
}

// common compares what keys and secrets share: rotation and instance.
func (d *laneDiff) common(s Subject, id string, pr, nr Rotation, pi, ni string) {
	if !sameRotation(pr, nr) {
		d.add(s, id, ChangeRotation, describeRotation(pr), describeRotation(nr))
	}
	if pi != ni && ni != "" {
		d.add(s, id, ChangeMigrated, pi, ni)
	}
}

func (d *laneDiff) secrets() {
	byName := func(ss []Secret) map[string][]*Secret {
		m := map[string][]*Secret{}
		for i := range ss {
			m[ss[i].Name] = append(m[ss[i].Name], &ss[i])
		}
		return m
	}
	before, after := byName(d.prev.Secrets), byName(d.next.Secrets)
	names := make([]string, 0, len(before)+len(after))
	for n := range before {
		names = append(names, n)
	}
	for n := range after {
		if _, ok := before[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		ps, ns := slices.Clone(before[name]), slices.Clone(after[name])
		// Same instance first, so that a name held both in KMS 1.0 and
		// in an instance pairs each with itself.
		for i := 0; i < len(ps); i++ {
			j := slices.IndexFunc(ns, func(s *Secret) bool { return s.InstanceID == ps[i].InstanceID })
			if j < 0 {
				continue
			}
			d.secret(ps[i], ns[j])
			ps, ns = slices.Delete(ps, i, i+1), slices.Delete(ns, j, j+1)
			i--
		}
		for len(ps) > 0 && len(ns) > 0 {
			d.secret(ps[0], ns[0])
			ps, ns = ps[1:], ns[1:]
		}
		blind := d.blind("ListSecrets", "DescribeSecret", name)
		for range ps {
			if !blind {
				d.add(SubjectSecret, name, ChangeGone, "", "")
			}
		}
		for range ns {
			if !blind {
				d.add(SubjectSecret, name, ChangeCreated, "", "")
			}
		}
	}
}

func (d *laneDiff) secret(p, n *Secret) {
	if pk, nk := secretKey(p), secretKey(n); pk != nk {
		d.add(SubjectSecret, n.Name, ChangeEncryptionKey, pk, nk)
	}
	d.common(SubjectSecret, n.Name, p.Rotation, n.Rotation, p.InstanceID, n.InstanceID)
}

// secretKey names a secret's protection: its CMK, or SystemKeyMarker for
// every spelling of the system-managed key.
func secretKey(s *Secret) string {
	if s.EncryptionKeyID == "" || s.EncryptionKeyID == SystemKeyMarker {
		return SystemKeyMarker
	}
	return s.EncryptionKeyID
}

func (d *laneDiff) instances() {
	before := make(map[string]*Instance, len(d.prev.Instances))
	for i := range d.prev.Instances {
		before[d.prev.Instances[i].ID] = &d.prev.Instances[i]
	}
	seen := make(map[string]bool, len(d.next.Instances))
	for i := range d.next.Instances {
		in := &d.next.Instances[i]
		seen[in.ID] = true
		p, ok := before[in.ID]
		if !ok {
			if !d.blind("ListKmsInstances", "GetKmsInstance", in.ID) {
				d.add(SubjectInstance, in.ID, ChangeCreated, "", "")
			}
			continue
		}
		if p.KeyQuota != in.KeyQuota {
			d.add(SubjectInstance, in.ID, ChangeKeyQuota, strconv.Itoa(p.KeyQuota), strconv.Itoa(in.KeyQuota))
		}
		if p.SecretQuota != in.SecretQuota {
			d.add(SubjectInstance, in.ID, ChangeSecretQuota, strconv.Itoa(p.SecretQuota), strconv.Itoa(in.SecretQuota))
		}
		if !p.Expires.Equal(in.Expires) {
			d.add(SubjectInstance, in.ID, ChangeExpiry, describeTime(p.Expires), describeTime(in.Expires))
		}
		if p.AutoRenew != in.AutoRenew {
			d.add(SubjectInstance, in.ID, ChangeAutoRenew, onOff(p.AutoRenew), onOff(in.AutoRenew))
		}
	}
	for _, p := range d.prev.Instances {
		if !seen[p.ID] && !d.blind("ListKmsInstances", "GetKmsInstance", p.ID) {
			d.add(SubjectInstance, p.ID, ChangeGone, "", "")
		}
	}
}

// sameRotation: two policies that are off are the same whatever interval
// they remember.
func sameRotation(a, b Rotation) bool {
	return a.Enabled == b.Enabled && (!a.Enabled || a.Interval == b.Interval)
}

// describeRotation words a policy: "off", "on every 30d", "on every 36h".
func describeRotation(r Rotation) string {
	switch {
	case !r.Enabled:
		return "off"
	case r.Interval == 0:
		return "on"
	case r.Interval%(24*time.Hour) == 0:
		return fmt.Sprintf("on every %dd", r.Interval/(24*time.Hour))
	}
	return "on every " + r.Interval.String()
}

func describeTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
