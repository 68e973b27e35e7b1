package plan

import (
	"cmp"
	"slices"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// secretItem is a secret to place: release is the first new batch (by
// index) it may go in, one after its CMK's batch, or 0 when it waits for
// nothing in this plan.
type secretItem struct {
	name        string
	release     int
	rotationOff bool
}

// orderKeys puts the keys that secrets wait for first, most awaited
// first, then by ID. Filling batches in this order releases as many
// secrets as early as possible, which is what keeps the batch count
// minimal: secrets then fill every batch from the first one that may hold
// them.
func orderKeys(keys, secrets []*verdict.Verdict) []*verdict.Verdict {
	awaited := map[string]int{}
	for _, s := range secrets {
		if s.DependsOn != "" {
			awaited[s.DependsOn]++
		}
	}
	type ranked struct {
		v       *verdict.Verdict
		awaited int
	}
	rs := make([]ranked, len(keys))
	for i, v := range keys {
		rs[i] = ranked{v, awaited[v.ID]}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(b.awaited, a.awaited), cmp.Compare(a.v.ID, b.v.ID))
	})
	out := make([]*verdict.Verdict, len(rs))
	for i, r := range rs {
		out[i] = r.v
	}
	return out
}

// pack lays out the lane's batches: keys in order, keysPerBatch to a
// batch; secrets (sorted by release, then name) fill each batch with every
// released secret there is room for. With unit-size tasks and release
// times this greedy fill never leaves room unused while a secret waits, so
// no layout of these keys needs fewer batches.
func pack(lane estate.Lane, instanceID string, keys []*verdict.Verdict, secrets []secretItem, s Settings, firstSeq int) []Batch {
	kc := s.keysPerBatch()
	var out []Batch
	next := 0
	for i := 0; i*kc < len(keys) || next < len(secrets); i++ {
		b := Batch{Lane: lane, InstanceID: instanceID, Seq: firstSeq + i}
		b.ID = BatchID(lane, b.Seq)
		lo, hi := min(i*kc, len(keys)), min((i+1)*kc, len(keys))
		if hi > lo {
			b.Keys = make([]string, 0, hi-lo)
			for _, v := range keys[lo:hi] {
				b.Keys = append(b.Keys, v.ID)
				if v.Verdict == verdict.MigratableOnceRotationOff {
					b.KeysRotationOff = append(b.KeysRotationOff, v.ID)
				}
			}
			slices.Sort(b.Keys)
			slices.Sort(b.KeysRotationOff)
		}
		room := s.secretRoom(len(b.Keys))
		start := next
		for next < len(secrets) && next-start < room && secrets[next].release <= i {
			next++
		}
		if next > start {
			b.Secrets = make([]string, 0, next-start)
			for _, it := range secrets[start:next] {
				b.Secrets = append(b.Secrets, it.name)
				if it.rotationOff {
					b.SecretsRotationOff = append(b.SecretsRotationOff, it.name)
				}
			}
			slices.Sort(b.Secrets)
			slices.Sort(b.SecretsRotationOff)
		}
		out = append(out, b)
	}
	return out
}
