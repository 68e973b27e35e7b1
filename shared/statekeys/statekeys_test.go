package statekeys_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

var lane = estate.Lane{Account: "1111000011110001", Region: "cn-hangzhou"}

const batch = "1111000011110001/cn-hangzhou/b0001"

// The layout is what stores already hold: a key that moves strands the
// state of every run in progress.
func TestLayout(t *testing.T) {
	pair := func(a, b string) string { return a + " " + b }
	tests := []struct {
		name, got, want string
	}{
		{"current", statekeys.Current, "current"},
		{"run document", statekeys.Run("r1", "verdicts.json"), "runs/r1/verdicts.json"},
		{"inventory", statekeys.Inventory("r1"), "runs/r1/inventory.json"},
		{"verdicts", statekeys.Verdicts("r1"), "runs/r1/verdicts.json"},
		{"plan", statekeys.Plan("r1"), "runs/r1/plan.json"},
		{"estimate", statekeys.Estimate("r1"), "runs/r1/estimate.json"},
		{"task API block of a lane", statekeys.TaskAPIBlock("r1", estate.Lane{Account: "1111", Region: "cn-hangzhou"}), "runs/r1/blocks/1111/cn-hangzhou.json"},
		{"task API block of an account", statekeys.TaskAPIBlock("r1", estate.Lane{Account: "1111"}), "runs/r1/blocks/1111.json"},
		{"instance turn", statekeys.InstanceTurn("r1", "kst-hzz61e2d7ffa4iwsk1"), "runs/r1/instances/kst-hzz61e2d7ffa4iwsk1.json"},
		{"discovery report", pair(statekeys.DiscoveryReport("r1")), "runs/r1/report.json runs/r1/report.md"},
		{"run report", pair(statekeys.RunReport("r1")), "runs/r1/report/run.json runs/r1/report/run.md"},
		{"discovery fan-out", statekeys.DiscoveryFanout("r1"), "runs/r1/discovery/fanout.json"},
		{"lane inventory", statekeys.LaneInventory("r1", lane), "runs/r1/discovery/lanes/1111000011110001/cn-hangzhou.json"},
		{"lane inventory prefix", statekeys.LaneInventoryPrefix("r1"), "runs/r1/discovery/lanes/"},
		{"batch", statekeys.Batch("r1", batch), "runs/r1/batches/1111000011110001/cn-hangzhou/b0001.json"},
		{"batch prefix", statekeys.BatchPrefix("r1"), "runs/r1/batches/"},
		{"lane batch prefix", statekeys.LaneBatchPrefix("r1", lane), "runs/r1/batches/1111000011110001/cn-hangzhou/"},
		{"zero lane batch prefix", statekeys.LaneBatchPrefix("r1", estate.Lane{}), "runs/r1/batches/"},
		{"ledger key", statekeys.Ledger(lane, verdict.ResourceKey, "a1000001-0000-4000-8000-000000000002"),
			"ledger/1111000011110001/cn-hangzhou/key/a1000001-0000-4000-8000-000000000002.json"},
		{"ledger secret", statekeys.Ledger(lane, verdict.ResourceSecret, "app/db.password"),
			"ledger/1111000011110001/cn-hangzhou/secret/app%2Fdb%2Epassword.json"},
		{"ledger prefix", statekeys.LedgerPrefix, "ledger/"},
		{"legacy ledger prefix", statekeys.LegacyLedgerPrefix("r1"), "runs/r1/rotation/"},
		{"handoff", pair(statekeys.Handoff("r1", batch)),
			"runs/r1/handoff/1111000011110001/cn-hangzhou/b0001.json runs/r1/handoff/1111000011110001/cn-hangzhou/b0001.md"},
		{"alert prefix", statekeys.AlertPrefix, "alerts/"},
		{"approval", statekeys.Approval("r1"), "runs/r1/approval.json"},
		{"notice", statekeys.Notice("r1", "night-ended-2026-11-29T06:00"), "runs/r1/notices/night-ended-2026-11-29T06%3A00.json"},
		{"approval request", statekeys.ApprovalRequest("r1"), "runs/r1/approval-request.json"},
		{"approval signal", statekeys.ApprovalSignal("run-20260101"), "approvals/run-20260101.json"},
		{"alert", statekeys.Alert("stalled:1111/cn-hangzhou/b0001 task mt-1"), "alerts/02c27755534c9bad5fdd0db644ecc842585dd0a2c2de42e486065f5fcd9363d6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.got)
		})
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain-Name_1=2+3@x", "plain-Name_1=2+3@x"},
		{"a/b", "a%2Fb"},
		{".hidden", "%2Ehidden"},
		{"x.obj", "x%2Eobj"},
		{"100%", "100%25"},
		{"..", "%2E%2E"},
		{"with space", "with%20space"},
		{"a\\b", "a%5Cb"},
		{"车", "%E8%BD%A6"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, statekeys.Escape(tt.in))
		})
	}
}

// Every key the layout makes is one the stores accept, whatever the secret
// name: escaping leaves no ".", "..", empty segment or ".obj" suffix.
func TestKeysAreValidStoreKeys(t *testing.T) {
	for _, name := range []string{"app/db.password", ".hidden", "..", "x.obj", "a//b", "车道 1", "%2F", "a\nb"} {
		for _, kind := range []verdict.ResourceKind{verdict.ResourceKey, verdict.ResourceSecret} {
			key := statekeys.Ledger(lane, kind, name)
			require.NoError(t, runstate.ValidateKey(key), "%q → %q", name, key)
		}
	}
	jk, mk := statekeys.Handoff("r1", batch)
	rj, rm := statekeys.RunReport("r1")
	dj, dm := statekeys.DiscoveryReport("r1")
	for _, key := range []string{statekeys.Current, statekeys.Inventory("r1"), statekeys.Plan("r1"), statekeys.Estimate("r1"),
		statekeys.Batch("r1", batch), statekeys.TaskAPIBlock("r1", lane), statekeys.TaskAPIBlock("r1", estate.Lane{Account: lane.Account}), jk, mk, rj, rm, dj, dm, statekeys.Alert("a/b: c"),
		statekeys.DiscoveryFanout("r1"), statekeys.LaneInventory("r1", lane)} {
		require.NoError(t, runstate.ValidateKey(key), key)
	}
	for _, prefix := range []string{statekeys.BatchPrefix("r1"), statekeys.LaneBatchPrefix("r1", lane), statekeys.LedgerPrefix, statekeys.AlertPrefix,
		statekeys.LaneInventoryPrefix("r1")} {
		require.NoError(t, runstate.ValidatePrefix(prefix), prefix)
	}
}

// Alert keys are valid store keys of one length whatever the alert key
// holds: a secret name with dots and slashes, or hundreds of bytes.
func TestAlertKeysAreFixedLength(t *testing.T) {
	long := strings.Repeat("app/config.obj/", 100)
	for _, k := range []string{"resource-failed/1111/cn-hangzhou/app/config.obj", long, "", "..", "a b:c/d"} {
		key := statekeys.Alert(k)
		require.NoError(t, runstate.ValidateKey(key), k)
		require.Len(t, key, len(statekeys.AlertPrefix)+64)
	}
	require.NotEqual(t, statekeys.Alert("a"), statekeys.Alert("b"))
}

// Segment keeps the escape of every name that fits (the keys stores
// already hold) and bounds the others with a digest: a secret name of 192
// slashes (valid in KMS) or a hostile name of thousands of bytes still
// makes a valid key, distinct from every other name's.
func TestSegment(t *testing.T) {
	fits := strings.Repeat("a", statekeys.MaxSegment)
	assert.Equal(t, fits, statekeys.Segment(fits))
	assert.Equal(t, "app%2Fdb%2Epassword", statekeys.Segment("app/db.password"))
	// Every name whose escaped ledger key the stores accepted keeps it:
	// entries in flight are found again.
	atLimit := strings.Repeat("/", 78) + "a" // 78×3+1 = 235 bytes escaped
	assert.Equal(t, statekeys.Escape(atLimit), statekeys.Segment(atLimit))
	require.NoError(t, runstate.ValidateKey(statekeys.LedgerPrefix+lane.String()+"/secret/"+statekeys.Escape(atLimit)+".json"))
	require.Error(t, runstate.ValidateKey(statekeys.LedgerPrefix+lane.String()+"/secret/"+statekeys.Escape(atLimit+"a")+".json"),
		"one byte more was never a valid key")

	names := []string{
		fits + "a", fits + "b", strings.Repeat("/", 192), strings.Repeat("/", 193), strings.Repeat(".", 192),
		strings.Repeat("a", 2000), strings.Repeat("a", 1999) + "/", strings.Repeat("车", 700),
		strings.Repeat("a", 168) + "/" + strings.Repeat("b", 100), strings.Repeat("a", 169) + "/" + strings.Repeat("b", 100),
	}
	seen := map[string]string{}
	for _, name := range names {
		seg := statekeys.Segment(name)
		assert.LessOrEqual(t, len(seg), statekeys.MaxSegment, "%.20q…", name)
		assert.Contains(t, seg, "~", "%.20q…: digest form", name)
		head, digest, _ := strings.Cut(seg, "~")
		assert.Regexp(t, `^([A-Za-z0-9_=+@-]|%[0-9A-F]{2})+$`, head, "%.20q…: an escaped beginning, no escape cut in two", name)
		assert.Regexp(t, `^[0-9a-f]{64}$`, digest, "%.20q…: the digest", name)
		for _, kind := range []verdict.ResourceKind{verdict.ResourceKey, verdict.ResourceSecret} {
			require.NoError(t, runstate.ValidateKey(statekeys.Ledger(lane, kind, name)))
		}
		if prev, dup := seen[seg]; dup {
			t.Errorf("%.20q… and %.20q… share segment %s", name, prev, seg)
		}
		seen[seg] = name
	}
}
