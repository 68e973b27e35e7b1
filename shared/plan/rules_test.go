package plan

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// The provider's rules, through classification into a plan: a secret name
// held by two accounts sharing an instance is planned for neither, a lane
// whose instance has expired or is not Connected gets no batch, and with a
// total limit no batch holds more keys plus secrets than it.
func TestProviderRulesThroughPlanning(t *testing.T) {
	at := time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)
	laneC := estate.Lane{Account: "3333", Region: "cn-hangzhou"}
	laneD := estate.Lane{Account: "4444", Region: "cn-hangzhou"}
	inst := func(id, owner string, mod func(*estate.Instance)) estate.Instance {
		in := estate.Instance{ID: id, Region: "cn-hangzhou", Kind: estate.InstanceSoftware, ImageVersion: "3.0.0",
			KeyQuota: 100, SecretQuota: 100, Status: "Connected", AutoRenew: true, Owner: owner, Expires: at.AddDate(1, 0, 0)}
		if mod != nil {
			mod(&in)
		}
		return in
	}
	shared := inst("kst-shared", "1111", func(in *estate.Instance) { in.SharedWith = []string{"2222"} })
	key := func(id, owner string) estate.Key {
		return estate.Key{ID: id, Origin: estate.OriginAliyunKMS, State: estate.KeyEnabled, Creator: owner, VersionCount: 1}
	}
	sec := func(name string) estate.Secret { return estate.Secret{Name: name, Type: estate.SecretGeneric} }
	inv := estate.Inventory{RunID: "run-rules", DiscoveredAt: at, Lanes: []estate.LaneInventory{
		{Lane: laneA, Instances: []estate.Instance{shared}, Keys: []estate.Key{key("ka1", "1111"), key("ka2", "1111"), key("ka3", "1111")},
			Secrets: []estate.Secret{sec("dup"), sec("a1"), sec("a2")}},
		{Lane: laneB, Instances: []estate.Instance{shared}, Secrets: []estate.Secret{sec("dup"), sec("b1")}},
		{Lane: laneC, Instances: []estate.Instance{inst("kst-c", "3333", func(in *estate.Instance) { in.Expires = at.AddDate(0, 0, -2) })},
			Keys: []estate.Key{key("kc", "3333")}, Secrets: []estate.Secret{sec("c1")}},
		{Lane: laneD, Instances: []estate.Instance{inst("kst-d", "4444", func(in *estate.Instance) { in.Status = "Disconnected" })},
			Secrets: []estate.Secret{sec("d1")}},
	}}
	vs, err := verdict.Classify(inv, verdict.DefaultSettings())
	require.NoError(t, err)
	p := mustPlan(t, vs, settings(func(s *Settings) { s.MaxResources = 2 }))

	excluded := map[estate.Lane]map[string]verdict.Reason{}
	for _, lp := range p.Lanes {
		excluded[lp.Lane] = map[string]verdict.Reason{}
		for _, x := range lp.Excluded {
			excluded[lp.Lane][x.ID] = x.Reason
		}
		for _, b := range lp.Batches {
			assert.LessOrEqual(t, len(b.Keys)+len(b.Secrets), 2, b.ID)
			assert.NotContains(t, b.Secrets, "dup", b.ID)
		}
	}
	assert.Equal(t, verdict.DuplicateSecretName, excluded[laneA]["dup"])
	assert.Equal(t, verdict.DuplicateSecretName, excluded[laneB]["dup"])
	assert.Equal(t, map[string]verdict.Reason{"kc": verdict.InstanceExpired, "c1": verdict.InstanceExpired}, excluded[laneC])
	assert.Equal(t, map[string]verdict.Reason{"d1": verdict.InstanceNotConnected}, excluded[laneD])
	lanes := map[estate.Lane]string{}
	for _, lp := range p.Lanes {
		lanes[lp.Lane] = layout(lp)
	}
	assert.Equal(t, "ka1,ka2|;ka3|a1;|a2", lanes[laneA], "three keys and two secrets, two to a batch")
	assert.Equal(t, "|b1", lanes[laneB])
	assert.Empty(t, lanes[laneC])
	assert.Empty(t, lanes[laneD])
}
