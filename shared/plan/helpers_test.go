package plan

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

var (
	laneA = estate.Lane{Account: "1111", Region: "cn-hangzhou"}
	laneB = estate.Lane{Account: "2222", Region: "cn-hangzhou"}
)

const target = "kst-1"

func kv(lane estate.Lane, id string, mods ...func(*verdict.Verdict)) verdict.Verdict {
	v := verdict.Verdict{Lane: lane, Resource: verdict.ResourceKey, ID: id, Verdict: verdict.Migratable, InstanceID: target}
	for _, m := range mods {
		m(&v)
	}
	return v
}

func sv(lane estate.Lane, name, cmk string, mods ...func(*verdict.Verdict)) verdict.Verdict {
	v := verdict.Verdict{Lane: lane, Resource: verdict.ResourceSecret, ID: name, Verdict: verdict.Migratable, InstanceID: target, DependsOn: cmk}
	for _, m := range mods {
		m(&v)
	}
	return v
}

func blocked(r verdict.Reason) func(*verdict.Verdict) {
	return func(v *verdict.Verdict) {
		v.Verdict, v.Reason, v.Remediation, v.InstanceID, v.DependsOn = verdict.Blocked, r, "fix "+string(r), "", ""
	}
}

func migrated(v *verdict.Verdict) { v.Verdict, v.DependsOn = verdict.AlreadyMigrated, "" }

// verdicts wraps resources as Classify would: every lane targets kst-1,
// whose free quota is plentiful.
func verdicts(rs ...verdict.Verdict) *verdict.Verdicts {
	return verdictsWithQuota(1_000_000, 1_000_000, rs...)
}

func verdictsWithQuota(freeKeys, freeSecrets int, rs ...verdict.Verdict) *verdict.Verdicts {
	vs := &verdict.Verdicts{RunID: "run-1", Resources: rs}
	seen := map[estate.Lane]bool{}
	for _, r := range rs {
		if !seen[r.Lane] {
			seen[r.Lane] = true
			vs.Lanes = append(vs.Lanes, verdict.LaneFinding{Lane: r.Lane, InstanceID: target})
		}
	}
	vs.Instances = []verdict.InstanceUse{{InstanceID: target, FreeKeys: freeKeys, FreeSecrets: freeSecrets}}
	return vs
}

func settings(mods ...func(*Settings)) Settings {
	s := DefaultSettings()
	for _, m := range mods {
		m(&s)
	}
	return s
}

func mustPlan(t *testing.T, vs *verdict.Verdicts, s Settings) *Plan {
	t.Helper()
	p, err := New(vs, s)
	require.NoError(t, err)
	checkInvariants(t, p, vs, 1)
	return p
}

// checkInvariants asserts what every plan must satisfy: limits, no empty
// batch, each resource at most once among new batches, secrets strictly
// after their CMK, sequential IDs. Batches from fromSeq on are the new
// ones, where a resource may appear only once.
func checkInvariants(t *testing.T, p *Plan, vs *verdict.Verdicts, fromSeq int) {
	t.Helper()
	deps := map[string]string{}
	for _, v := range vs.Resources {
		if v.DependsOn != "" {
			deps[v.Lane.String()+"|"+v.ID] = v.DependsOn
		}
	}
	for _, lp := range p.Lanes {
		keySeq := map[string]int{}
		seen := map[string]bool{}
		lastSeq := 0
		for _, b := range lp.Batches {
			require.Greater(t, b.Seq, lastSeq, "batches of %s out of order", lp.Lane)
			lastSeq = b.Seq
			require.Equal(t, BatchID(lp.Lane, b.Seq), b.ID)
			require.NotEmpty(t, len(b.Keys)+len(b.Secrets), "empty batch %s", b.ID)
			require.LessOrEqual(t, len(b.Keys), p.Settings.MaxKeys, b.ID)
			require.LessOrEqual(t, len(b.Secrets), p.Settings.MaxSecrets, b.ID)
			if p.Settings.MaxResources > 0 {
				require.LessOrEqual(t, len(b.Keys)+len(b.Secrets), p.Settings.MaxResources, b.ID)
			}
			for _, k := range b.Keys {
				keySeq[k] = b.Seq
			}
		}
		for _, b := range lp.Batches {
			if b.Seq < fromSeq {
				continue // frozen: not the planner's to fix
			}
			for _, s := range b.Secrets {
				cmk := deps[lp.Lane.String()+"|"+s]
				if seq, ok := keySeq[cmk]; ok && cmk != "" {
					require.Greater(t, b.Seq, seq, "secret %s in %s is not after its CMK %s", s, b.ID, cmk)
				}
			}
		}
		for _, b := range lp.Batches {
			if b.Seq < fromSeq {
				continue
			}
			for _, k := range b.Keys {
				require.False(t, seen["k"+k], "key %s twice in %s", k, lp.Lane)
				seen["k"+k] = true
			}
			for _, s := range b.Secrets {
				require.False(t, seen["s"+s], "secret %s twice in %s", s, lp.Lane)
				seen["s"+s] = true
			}
		}
	}
}

// layout renders a lane's batches compactly: "k1,k2|s1;k3|s2".
func layout(lp LanePlan) string {
	out := ""
	for i, b := range lp.Batches {
		if i > 0 {
			out += ";"
		}
		out += fmt.Sprint(join(b.Keys), "|", join(b.Secrets))
	}
	return out
}

func join(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

func keys(lane estate.Lane, prefix string, n int) []verdict.Verdict {
	out := make([]verdict.Verdict, n)
	for i := range out {
		out[i] = kv(lane, fmt.Sprintf("%s%03d", prefix, i))
	}
	return out
}
