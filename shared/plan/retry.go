package plan

import (
	"fmt"
	"slices"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// Retry asks for resources of an ended batch to be tried again.
type Retry struct {
	// From is the batch they failed in: its Lane, Seq, ID and InstanceID
	// as its run state records them.
	From Batch
	// Keys and Secrets are the key ids and secret names to retry.
	Keys    []string
	Secrets []string
}

// Placement says which batch after a failed one carries each of its
// resources, and which batches AppendRetries added for them.
type Placement struct {
	Added []Batch
	// Keys and Secrets map a key id or secret name to the batch carrying
	// it: a new one, or one the lane already had after the failed batch.
	Keys    map[string]string
	Secrets map[string]string
}

// AppendRetries appends r's resources to the lane of r.From in p: the keys
// in one new batch, the secrets in the next (a secret may wait for a key
// of the same retry), numbered after the lane's highest Seq, into
// r.From.InstanceID. A resource already in a batch of the lane after
// r.From is not planned again, so that repeating the call adds nothing.
// A resource goes back to having its rotation switched off when its
// failed batch (p's batch r.From.ID) had it so. The Placement covers every
// resource of the lane's batches after r.From, retried or not. A lane p
// does not have: an error, and p is left as it was. Batch sizes are not
// checked: a retry holds at most what r.From held.
func AppendRetries(p *Plan, r Retry) (Placement, error) {
	lp := p.lane(r.From.Lane)
	if lp == nil {
		return Placement{}, fmt.Errorf("lane %s is not in the plan", r.From.Lane)
	}
	pl := Placement{Keys: map[string]string{}, Secrets: map[string]string{}}
	top := 0
	var rotKeys, rotSecrets []string
	for _, b := range lp.Batches {
		top = max(top, b.Seq)
		if b.ID == r.From.ID {
			rotKeys, rotSecrets = append(rotKeys, b.KeysRotationOff...), append(rotSecrets, b.SecretsRotationOff...)
		}
		if b.Seq > r.From.Seq {
			pl.place(b)
		}
	}
	keys, secrets := unplaced(r.Keys, pl.Keys), unplaced(r.Secrets, pl.Secrets)
	for _, nb := range []Batch{
		{Keys: keys, KeysRotationOff: rotationOff(keys, rotKeys)},
		{Secrets: secrets, SecretsRotationOff: rotationOff(secrets, rotSecrets)},
	} {
		if len(nb.Keys)+len(nb.Secrets) == 0 {
			continue
		}
		top++
		nb.Seq, nb.Lane, nb.InstanceID, nb.ID = top, r.From.Lane, r.From.InstanceID, BatchID(r.From.Lane, top)
		lp.Batches = append(lp.Batches, nb)
		pl.Added = append(pl.Added, nb)
		pl.place(nb)
	}
	return pl, nil
}

// lane returns the plan of lane l, or nil.
func (p *Plan) lane(l estate.Lane) *LanePlan {
	for i := range p.Lanes {
		if p.Lanes[i].Lane == l {
			return &p.Lanes[i]
		}
	}
	return nil
}

// place records b as the carrier of its resources.
func (pl *Placement) place(b Batch) {
	for _, id := range b.Keys {
		pl.Keys[id] = b.ID
	}
	for _, n := range b.Secrets {
		pl.Secrets[n] = b.ID
	}
}

// unplaced returns the ids placed does not carry yet, in order, without
// repeats.
func unplaced(ids []string, placed map[string]string) []string {
	var out []string
	for _, id := range ids {
		if _, ok := placed[id]; !ok && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// rotationOff returns the ids that are in off, in the order of ids.
func rotationOff(ids, off []string) []string {
	var out []string
	for _, id := range ids {
		if slices.Contains(off, id) {
			out = append(out, id)
		}
	}
	return out
}

// Carrier returns the batch carrying the key or secret id, and whether
// there is one.
func (pl Placement) Carrier(kind verdict.ResourceKind, id string) (string, bool) {
	m := pl.Secrets
	if kind == verdict.ResourceKey {
		m = pl.Keys
	}
	batch, ok := m[id]
	return batch, ok
}
