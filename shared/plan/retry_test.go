package plan

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/verdict"
)

func TestAppendRetries(t *testing.T) {
	b := func(seq int, keys, secrets []string, mods ...func(*Batch)) Batch {
		out := Batch{ID: BatchID(laneA, seq), Lane: laneA, InstanceID: target, Seq: seq, Keys: keys, Secrets: secrets}
		for _, m := range mods {
			m(&out)
		}
		return out
	}
	rotOff := func(keys, secrets []string) func(*Batch) {
		return func(b *Batch) { b.KeysRotationOff, b.SecretsRotationOff = keys, secrets }
	}
	into := func(inst string) func(*Batch) { return func(b *Batch) { b.InstanceID = inst } }
	ss := func(s ...string) []string { return s }
	other := LanePlan{Lane: laneB, InstanceID: target, Batches: []Batch{{ID: BatchID(laneB, 1), Lane: laneB, Seq: 1, Keys: ss("x")}}}

	tests := []struct {
		name    string
		batches []Batch // lane A's, before
		retry   Retry
		added   []Batch
		keys    map[string]string
		secrets map[string]string
	}{
		{
			name:    "keys then secrets, after the lane's last batch, rotation carried over",
			batches: []Batch{b(1, ss("k1", "k2"), ss("s1", "s2"), rotOff(ss("k2"), ss("s1"))), b(2, ss("k3"), nil)},
			retry:   Retry{From: b(1, nil, nil), Keys: ss("k1", "k2"), Secrets: ss("s1", "s2")},
			added:   []Batch{b(3, ss("k1", "k2"), nil, rotOff(ss("k2"), nil)), b(4, nil, ss("s1", "s2"), rotOff(nil, ss("s1")))},
			keys:    map[string]string{"k1": "1111/cn-hangzhou/b0003", "k2": "1111/cn-hangzhou/b0003", "k3": "1111/cn-hangzhou/b0002"},
			secrets: map[string]string{"s1": "1111/cn-hangzhou/b0004", "s2": "1111/cn-hangzhou/b0004"},
		},
		{
			name:    "secrets only: one batch",
			batches: []Batch{b(1, ss("k1"), ss("s1"))},
			retry:   Retry{From: b(1, nil, nil), Secrets: ss("s1")},
			added:   []Batch{b(2, nil, ss("s1"))},
			keys:    map[string]string{},
			secrets: map[string]string{"s1": "1111/cn-hangzhou/b0002"},
		},
		{
			name: "already in a later batch: not planned again",
			batches: []Batch{b(1, ss("k1", "k2"), ss("s1")), b(2, nil, ss("s9")),
				b(3, ss("k1"), nil)},
			retry:   Retry{From: b(1, nil, nil), Keys: ss("k1", "k2"), Secrets: ss("s1")},
			added:   []Batch{b(4, ss("k2"), nil), b(5, nil, ss("s1"))},
			keys:    map[string]string{"k1": "1111/cn-hangzhou/b0003", "k2": "1111/cn-hangzhou/b0004"},
			secrets: map[string]string{"s9": "1111/cn-hangzhou/b0002", "s1": "1111/cn-hangzhou/b0005"},
		},
		{
			name:    "everything already placed: nothing added",
			batches: []Batch{b(1, ss("k1"), ss("s1")), b(2, ss("k1"), nil), b(3, nil, ss("s1"))},
			retry:   Retry{From: b(1, nil, nil), Keys: ss("k1"), Secrets: ss("s1")},
			keys:    map[string]string{"k1": "1111/cn-hangzhou/b0002"},
			secrets: map[string]string{"s1": "1111/cn-hangzhou/b0003"},
		},
		{
			name:    "in an earlier batch or the failed one itself: planned again",
			batches: []Batch{b(1, ss("k1"), nil), b(2, ss("k1", "k2"), nil), b(3, ss("k3"), nil)},
			retry:   Retry{From: b(2, nil, nil), Keys: ss("k1")},
			added:   []Batch{b(4, ss("k1"), nil)},
			keys:    map[string]string{"k3": "1111/cn-hangzhou/b0003", "k1": "1111/cn-hangzhou/b0004"},
			secrets: map[string]string{},
		},
		{
			name:    "into the failed batch's instance, a resource once",
			batches: []Batch{b(1, ss("k1"), nil, into("kst-2"))},
			retry:   Retry{From: b(1, nil, nil, into("kst-2")), Keys: ss("k1", "k1")},
			added:   []Batch{b(2, ss("k1"), nil, into("kst-2"))},
			keys:    map[string]string{"k1": "1111/cn-hangzhou/b0002"},
			secrets: map[string]string{},
		},
		{
			name:    "nothing to retry",
			batches: []Batch{b(1, ss("k1"), nil), b(2, ss("k2"), nil)},
			retry:   Retry{From: b(1, nil, nil)},
			keys:    map[string]string{"k2": "1111/cn-hangzhou/b0002"},
			secrets: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Plan{RunID: "r1", Lanes: []LanePlan{{Lane: laneA, InstanceID: target, Batches: tt.batches}, other}}
			before := len(tt.batches)
			got, err := AppendRetries(p, tt.retry)
			require.NoError(t, err)
			assert.Equal(t, tt.added, got.Added)
			assert.Equal(t, tt.keys, got.Keys)
			assert.Equal(t, tt.secrets, got.Secrets)
			for id, batch := range tt.keys {
				c, ok := got.Carrier(verdict.ResourceKey, id)
				assert.True(t, ok && c == batch, "key %s: carrier %q, want %q", id, c, batch)
			}
			for n, batch := range tt.secrets {
				c, ok := got.Carrier(verdict.ResourceSecret, n)
				assert.True(t, ok && c == batch, "secret %s: carrier %q, want %q", n, c, batch)
			}
			_, ok := got.Carrier(verdict.ResourceKey, "absent")
			assert.False(t, ok)
			assert.Equal(t, append(tt.batches[:before:before], tt.added...), p.Lanes[0].Batches, "the lane ends with the added batches")
			assert.Len(t, p.Lanes[1].Batches, 1, "other lanes untouched")

			// Again: every resource is placed now, nothing is added.
			again, err := AppendRetries(p, tt.retry)
			require.NoError(t, err)
			assert.Empty(t, again.Added)
			assert.Len(t, p.Lanes[0].Batches, before+len(tt.added))
			for id, batch := range got.Keys {
				assert.Equal(t, batch, again.Keys[id], id)
			}
			for n, batch := range got.Secrets {
				assert.Equal(t, batch, again.Secrets[n], n)
			}
		})
	}
}

func TestAppendRetriesUnknownLane(t *testing.T) {
	p := &Plan{RunID: "r1", Lanes: []LanePlan{{Lane: laneB, Batches: []Batch{{ID: BatchID(laneB, 1), Lane: laneB, Seq: 1, Keys: []string{"x"}}}}}}
	_, err := AppendRetries(p, Retry{From: Batch{ID: BatchID(laneA, 1), Lane: laneA, Seq: 1}, Keys: []string{"k1"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lane 1111/cn-hangzhou is not in the plan")
	assert.Len(t, p.Lanes[0].Batches, 1)
}
