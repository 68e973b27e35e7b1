package plan

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/verdict"
)

func TestSettingsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Settings)
		want []string
	}{
		{name: "defaults", mod: func(*Settings) {}},
		{name: "one and one", mod: func(s *Settings) { s.MaxKeys, s.MaxSecrets = 1, 1 }},
		{name: "keys zero", mod: func(s *Settings) { s.MaxKeys = 0 }, want: []string{"maxKeys 0"}},
		{name: "keys too many", mod: func(s *Settings) { s.MaxKeys = 51 }, want: []string{"maxKeys 51", "between 1 and 50"}},
		{name: "secrets zero", mod: func(s *Settings) { s.MaxSecrets = 0 }, want: []string{"maxSecrets 0"}},
		{name: "secrets too many", mod: func(s *Settings) { s.MaxSecrets = 100 }, want: []string{"maxSecrets 100"}},
		{name: "combined negative", mod: func(s *Settings) { s.MaxResources = -1 }, want: []string{"maxResources -1"}},
		{name: "combined too big", mod: func(s *Settings) { s.MaxResources = 101 }, want: []string{"maxResources 101"}},
		{name: "both limits wrong", mod: func(s *Settings) { s.MaxKeys, s.MaxSecrets = 0, 0 }, want: []string{"maxKeys", "maxSecrets"}},
		{name: "unknown field", mod: func(s *Settings) { s.Include = []string{"key:k1", "owner:bob"} }, want: []string{`include[1]`, `"owner:bob"`, "unknown field"}},
		{name: "no colon", mod: func(s *Settings) { s.Exclude = []string{"k1"} }, want: []string{`exclude[0]`, `"k1"`}},
		{name: "empty key", mod: func(s *Settings) { s.Include = []string{"key:"} }, want: []string{`"key:"`}},
		{name: "empty alias", mod: func(s *Settings) { s.Include = []string{"alias:alias/"} }, want: []string{`"alias:alias/"`}},
		{name: "tag without value", mod: func(s *Settings) { s.Exclude = []string{"tag:env"} }, want: []string{`exclude[0]`, `"tag:env"`, "tag:<key>=<value>"}},
		{name: "tag without key", mod: func(s *Settings) { s.Exclude = []string{"tag:=prod"} }, want: []string{`"tag:=prod"`}},
		{name: "bad glob", mod: func(s *Settings) { s.Include = []string{"secret:app/["} }, want: []string{`"secret:app/["`, "bad glob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := settings(tt.mod)
			err := s.Validate()
			_, newErr := New(verdicts(), s)
			if len(tt.want) == 0 {
				assert.NoError(t, err)
				assert.NoError(t, newErr)
				return
			}
			require.Error(t, err)
			require.Error(t, newErr, "New must refuse invalid settings")
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseFilterRoundTrip(t *testing.T) {
	for _, in := range []string{"key:k1", "alias:app", "tag:env=prod", "tag:empty=", "secret:app/*"} {
		f, err := ParseFilter(in)
		require.NoError(t, err, in)
		assert.Equal(t, in, f.String())
	}
	f, err := ParseFilter("alias:alias/app")
	require.NoError(t, err)
	assert.Equal(t, "alias:app", f.String(), "the alias/ prefix is optional")
}

func TestFilters(t *testing.T) {
	rs := []verdict.Verdict{
		kv(laneA, "k-app", func(v *verdict.Verdict) { v.Aliases = []string{"alias/app"}; v.Tags = map[string]string{"env": "prod"} }),
		kv(laneA, "k-dev", func(v *verdict.Verdict) { v.Tags = map[string]string{"env": "dev"} }),
		sv(laneA, "app/db", "k-app"),
		sv(laneA, "app/cache", "", func(v *verdict.Verdict) { v.Tags = map[string]string{"env": "dev"} }),
		sv(laneA, "ops/token", ""),
	}
	tests := []struct {
		name     string
		include  []string
		exclude  []string
		planned  []string
		excluded map[string]verdict.Reason
	}{
		{name: "no filters", planned: []string{"k-app", "k-dev", "app/cache", "app/db", "ops/token"}},
		{name: "include key", include: []string{"key:k-dev"}, planned: []string{"k-dev"},
			excluded: map[string]verdict.Reason{"k-app": NotIncluded, "app/db": NotIncluded, "app/cache": NotIncluded, "ops/token": NotIncluded}},
		{name: "include alias", include: []string{"alias:app"}, planned: []string{"k-app"},
			excluded: map[string]verdict.Reason{"k-dev": NotIncluded, "app/db": NotIncluded, "app/cache": NotIncluded, "ops/token": NotIncluded}},
		{name: "include tag spans kinds", include: []string{"tag:env=dev"}, planned: []string{"k-dev", "app/cache"},
			excluded: map[string]verdict.Reason{"k-app": NotIncluded, "app/db": NotIncluded, "ops/token": NotIncluded}},
		{name: "include glob and its cmk", include: []string{"secret:app/*", "alias:app"}, planned: []string{"k-app", "app/cache", "app/db"},
			excluded: map[string]verdict.Reason{"k-dev": NotIncluded, "ops/token": NotIncluded}},
		{name: "glob without its cmk", include: []string{"secret:app/*"}, planned: []string{"app/cache"},
			excluded: map[string]verdict.Reason{"k-app": NotIncluded, "k-dev": NotIncluded, "app/db": CMKNotPlanned, "ops/token": NotIncluded}},
		{name: "exclude beats include", include: []string{"tag:env=dev"}, exclude: []string{"secret:app/cache"}, planned: []string{"k-dev"},
			excluded: map[string]verdict.Reason{"k-app": NotIncluded, "app/db": NotIncluded, "app/cache": ExcludedByFilter, "ops/token": NotIncluded}},
		{name: "exclude cmk drops its secret", exclude: []string{"key:k-app"}, planned: []string{"k-dev", "app/cache", "ops/token"},
			excluded: map[string]verdict.Reason{"k-app": ExcludedByFilter, "app/db": CMKNotPlanned}},
		{name: "glob does not match keys", exclude: []string{"secret:*/*"}, planned: []string{"k-app", "k-dev"},
			excluded: map[string]verdict.Reason{"app/db": ExcludedByFilter, "app/cache": ExcludedByFilter, "ops/token": ExcludedByFilter}},
		{name: "star does not cross a slash", exclude: []string{"secret:*"}, planned: []string{"k-app", "k-dev", "app/cache", "app/db", "ops/token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := verdicts(rs...)
			p := mustPlan(t, vs, settings(func(s *Settings) { s.Include, s.Exclude = tt.include, tt.exclude }))
			require.Len(t, p.Lanes, 1)
			lp := p.Lanes[0]
			var planned []string
			for _, b := range lp.Batches {
				planned = append(planned, b.Keys...)
				planned = append(planned, b.Secrets...)
			}
			assert.ElementsMatch(t, tt.planned, planned)
			got := map[string]verdict.Reason{}
			for _, e := range lp.Excluded {
				got[e.ID] = e.Reason
				assert.NotEmpty(t, e.Detail)
			}
			if tt.excluded == nil {
				tt.excluded = map[string]verdict.Reason{}
			}
			assert.Equal(t, tt.excluded, got)
		})
	}
}

func TestPackingOrderAndBatchCount(t *testing.T) {
	tests := []struct {
		name   string
		rs     []verdict.Verdict
		k, s   int
		total  int
		layout string
	}{
		{name: "one key, its secret after it", rs: []verdict.Verdict{kv(laneA, "k"), sv(laneA, "s", "k")}, k: 50, s: 50,
			layout: "k|;|s"},
		{name: "free secret shares the first batch", rs: []verdict.Verdict{kv(laneA, "k"), sv(laneA, "s-dep", "k"), sv(laneA, "s-free", "")}, k: 50, s: 50,
			layout: "k|s-free;|s-dep"},
		{name: "dependent secrets ride with later keys", rs: []verdict.Verdict{kv(laneA, "k1"), kv(laneA, "k2"), kv(laneA, "k3"),
			sv(laneA, "s1", "k1"), sv(laneA, "s2", "k2"), sv(laneA, "s3", "k3")}, k: 2, s: 2,
			layout: "k1,k2|;k3|s1,s2;|s3"},
		{name: "awaited keys go first", rs: []verdict.Verdict{kv(laneA, "a"), kv(laneA, "b"), sv(laneA, "sb1", "b"), sv(laneA, "sb2", "b")}, k: 1, s: 2,
			layout: "b|;a|sb1,sb2"},
		{name: "free secrets fill early room", rs: []verdict.Verdict{kv(laneA, "k"), sv(laneA, "d1", "k"), sv(laneA, "f1", ""), sv(laneA, "f2", ""), sv(laneA, "f3", "")}, k: 1, s: 2,
			layout: "k|f1,f2;|d1,f3"},
		{name: "secrets only", rs: []verdict.Verdict{sv(laneA, "a", ""), sv(laneA, "b", ""), sv(laneA, "c", "")}, k: 50, s: 2,
			layout: "|a,b;|c"},
		{name: "combined limit keeps keys first", rs: []verdict.Verdict{kv(laneA, "k1"), kv(laneA, "k2"), sv(laneA, "f1", ""), sv(laneA, "f2", "")}, k: 50, s: 50, total: 3,
			layout: "k1,k2|f1;|f2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, verdicts(tt.rs...), settings(func(s *Settings) { s.MaxKeys, s.MaxSecrets, s.MaxResources = tt.k, tt.s, tt.total }))
			assert.Equal(t, tt.layout, layout(p.Lanes[0]))
		})
	}
}

// Many resources: limits hold and the batch count meets its lower bound.
func TestLimitsAndMinimalBatchCount(t *testing.T) {
	rs := keys(laneA, "k", 120)
	for i := range 130 {
		dep := ""
		if i%2 == 0 {
			dep = fmt.Sprintf("k%03d", i%120)
		}
		rs = append(rs, sv(laneA, fmt.Sprintf("s%03d", i), dep))
	}
	p := mustPlan(t, verdicts(rs...), DefaultSettings())
	lp := p.Lanes[0]
	// 120 keys need 3 batches, 130 secrets need 3; dependent secrets
	// cannot all go in batch 1, but 65 free ones and the rest fit in 3.
	assert.Len(t, lp.Batches, 3)
	n := 0
	for _, b := range lp.Batches {
		n += len(b.Keys) + len(b.Secrets)
	}
	assert.Equal(t, 250, n)
	assert.Equal(t, "1111/cn-hangzhou/b0001", lp.Batches[0].ID)
	assert.Equal(t, "1111/cn-hangzhou/b0003", lp.Batches[2].ID)
}

func TestExclusionsCarryVerdictReasons(t *testing.T) {
	vs := verdicts(
		kv(laneA, "k-ok"),
		kv(laneA, "k-svc", blocked(verdict.ServiceKey)),
		kv(laneA, "k-byok", blocked(verdict.ImportedKeyMaterial)),
		kv(laneA, "k-done", migrated),
		sv(laneA, "s-done", "", migrated),
		sv(laneA, "s-cmk", "", blocked(verdict.SecretCMKBlocked)),
		kv(laneA, "k-rot", func(v *verdict.Verdict) { v.Verdict = verdict.MigratableOnceRotationOff }),
	)
	p := mustPlan(t, vs, DefaultSettings())
	lp := p.Lanes[0]
	assert.Equal(t, "k-ok,k-rot|", layout(lp), "rotation-off resources are planned")
	assert.Equal(t, []string{"k-rot"}, lp.Batches[0].KeysRotationOff)
	assert.Empty(t, lp.Batches[0].SecretsRotationOff)
	assert.Equal(t, 2, lp.AlreadyMigrated)
	assert.Equal(t, []Exclusion{
		{Resource: verdict.ResourceKey, ID: "k-byok", Reason: verdict.ImportedKeyMaterial, Detail: "fix imported-key-material"},
		{Resource: verdict.ResourceKey, ID: "k-svc", Reason: verdict.ServiceKey, Detail: "fix service-key"},
		{Resource: verdict.ResourceSecret, ID: "s-cmk", Reason: verdict.SecretCMKBlocked, Detail: "fix secret-cmk-blocked"},
	}, lp.Excluded)
}

func TestLaneWithoutTarget(t *testing.T) {
	vs := verdicts(kv(laneA, "k", blocked(verdict.NoTargetInstance)))
	vs.Lanes[0].InstanceID = ""
	p := mustPlan(t, vs, DefaultSettings())
	assert.Empty(t, p.Lanes[0].Batches)
	assert.Equal(t, verdict.NoTargetInstance, p.Lanes[0].Excluded[0].Reason)

	// Hand-made verdicts that call a resource migratable without a target
	// are refused resource by resource, not planned into nowhere.
	vs = verdicts(kv(laneA, "k"))
	vs.Lanes[0].InstanceID = ""
	p = mustPlan(t, vs, DefaultSettings())
	assert.Empty(t, p.Lanes[0].Batches)
	assert.Equal(t, verdict.NoTargetInstance, p.Lanes[0].Excluded[0].Reason)
}

func TestQuotaStop(t *testing.T) {
	tests := []struct {
		name        string
		freeK       int
		freeS       int
		rs          []verdict.Verdict
		layoutA     string
		layoutB     string
		excluded    map[string]verdict.Reason
		stopA       string
		stopB       string
		wantStopped bool
	}{
		{name: "fits", freeK: 2, freeS: 2, rs: []verdict.Verdict{kv(laneA, "a1"), kv(laneB, "b1"), sv(laneA, "sa", ""), sv(laneB, "sb", "")},
			layoutA: "a1|sa", layoutB: "b1|sb", excluded: map[string]verdict.Reason{}},
		{name: "keys overflow in the second lane", freeK: 2, freeS: 10,
			rs:      []verdict.Verdict{kv(laneA, "a1"), kv(laneA, "a2"), kv(laneB, "b1"), sv(laneB, "sb", "b1")},
			layoutA: "a1,a2|", layoutB: "",
			excluded: map[string]verdict.Reason{"b1": verdict.InstanceQuotaTooSmall, "sb": CMKNotPlanned},
			stopB:    "room for 0 more keys; 1 keys"},
		{name: "awaited keys keep their room", freeK: 1, freeS: 10,
			rs:      []verdict.Verdict{kv(laneA, "a1"), kv(laneA, "a2"), sv(laneA, "s", "a2")},
			layoutA: "a2|;|s", excluded: map[string]verdict.Reason{"a1": verdict.InstanceQuotaTooSmall},
			stopA: "room for 1 more keys; 1 keys"},
		{name: "secrets overflow", freeK: 10, freeS: 1,
			rs:      []verdict.Verdict{sv(laneA, "s1", ""), sv(laneA, "s2", "")},
			layoutA: "|s1", excluded: map[string]verdict.Reason{"s2": verdict.InstanceQuotaTooSmall},
			stopA: "room for 1 more secrets; 1 secrets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, verdictsWithQuota(tt.freeK, tt.freeS, tt.rs...), DefaultSettings())
			byLane := map[string]LanePlan{}
			got := map[string]verdict.Reason{}
			for _, lp := range p.Lanes {
				byLane[lp.Lane.String()] = lp
				for _, e := range lp.Excluded {
					got[e.ID] = e.Reason
				}
			}
			assert.Equal(t, tt.layoutA, layout(byLane[laneA.String()]))
			assert.Equal(t, tt.layoutB, layout(byLane[laneB.String()]))
			assert.Equal(t, tt.excluded, got)
			assert.Contains(t, byLane[laneA.String()].Stopped, tt.stopA)
			assert.Contains(t, byLane[laneB.String()].Stopped, tt.stopB)
			if tt.stopA == "" {
				assert.Empty(t, byLane[laneA.String()].Stopped)
			}
		})
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	var rs []verdict.Verdict
	for i := range 300 {
		rs = append(rs, kv(laneA, fmt.Sprintf("k%03d", i)), kv(laneB, fmt.Sprintf("k%03d", i)))
		rs = append(rs, sv(laneA, fmt.Sprintf("s%03d", i), fmt.Sprintf("k%03d", (i*7)%300)), sv(laneB, fmt.Sprintf("s%03d", i), ""))
	}
	want, err := json.Marshal(mustPlan(t, verdicts(rs...), DefaultSettings()))
	require.NoError(t, err)
	for seed := range 3 {
		shuffled := slices.Clone(rs)
		for i := range shuffled {
			j := (i*31 + seed*17) % len(shuffled)
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
		}
		got, err := json.Marshal(mustPlan(t, verdicts(shuffled...), DefaultSettings()))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "seed %d", seed)
	}
}

func TestPlanJSONRoundTrip(t *testing.T) {
	p := mustPlan(t, verdicts(kv(laneA, "k"), sv(laneA, "s", "k"), kv(laneB, "x", blocked(verdict.KeyDisabled))),
		settings(func(s *Settings) { s.Include = []string{"tag:env=prod", "key:k", "key:x", "secret:*"} }))
	b, err := json.Marshal(p)
	require.NoError(t, err)
	var back Plan
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, *p, back)
	assert.True(t, strings.Contains(string(b), `"id":"1111/cn-hangzhou/b0002"`), string(b))
}
