package verdict

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
)

func TestKeyRules(t *testing.T) {
	tests := []struct {
		name     string
		key      estate.Key
		strict   bool
		want     Kind
		reason   Reason
		instance string
	}{
		{name: "enabled cmk", key: key("k"), want: Migratable, instance: "kst-1"},
		{name: "rotation on", key: key("k", func(k *estate.Key) { k.Rotation = estate.Rotation{Enabled: true, Interval: 30 * 24 * time.Hour} }),
			want: MigratableOnceRotationOff, instance: "kst-1"},
		{name: "already migrated", key: key("k", func(k *estate.Key) { k.InstanceID = "kst-old" }), want: AlreadyMigrated, instance: "kst-old"},
		{name: "migrated wins over disabled", key: key("k", func(k *estate.Key) { k.InstanceID = "kst-1"; k.State = estate.KeyDisabled }),
			want: AlreadyMigrated, instance: "kst-1"},
		{name: "service key by alias", key: key("k", func(k *estate.Key) { k.Aliases = []string{"alias/acs/oss"} }), want: Blocked, reason: ServiceKey},
		{name: "service key by creator", key: key("k", func(k *estate.Key) { k.Creator = "Ecs" }), want: Blocked, reason: ServiceKey},
		{name: "imported material", key: key("k", func(k *estate.Key) { k.Origin = estate.OriginExternal }), want: Blocked, reason: ImportedKeyMaterial},
		{name: "pending deletion", key: key("k", func(k *estate.Key) { k.State = estate.KeyPendingDeletion }), want: Blocked, reason: KeyPendingDeletion},
		{name: "disabled", key: key("k", func(k *estate.Key) { k.State = estate.KeyDisabled }), want: Blocked, reason: KeyDisabled},
		{name: "other state", key: key("k", func(k *estate.Key) { k.State = "PendingImport" }), want: Blocked, reason: KeyStateUnsupported},
		{name: "several versions lenient", key: key("k", func(k *estate.Key) { k.VersionCount = 3 }), want: Migratable, instance: "kst-1"},
		{name: "several versions strict", key: key("k", func(k *estate.Key) { k.VersionCount = 3 }), strict: true, want: Blocked, reason: KeyMultipleVersions},
		{name: "one version strict", key: key("k"), strict: true, want: Migratable, instance: "kst-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := inventory(estate.LaneInventory{Lane: laneA, Keys: []estate.Key{tt.key},
				Instances: []estate.Instance{instance("kst-1", "1111")}})
			vs := classify(t, inv, func(s *Settings) { s.StrictKeyVersions = tt.strict })
			v := mustFind(t, vs, laneA, ResourceKey, "k")
			assert.Equal(t, tt.want, v.Verdict)
			assert.Equal(t, tt.reason, v.Reason)
			assert.Equal(t, tt.instance, v.InstanceID)
			if tt.want == Blocked {
				assert.Contains(t, v.Remediation, "k", "remediation names the key")
			} else {
				assert.Empty(t, v.Remediation)
			}
		})
	}
}

func TestSecretRules(t *testing.T) {
	migratedCMK := key("cmk-done", func(k *estate.Key) { k.InstanceID = "kst-1" })
	elsewhereCMK := key("cmk-else", func(k *estate.Key) { k.InstanceID = "kst-9" })
	keys := []estate.Key{
		key("cmk-ok", func(k *estate.Key) {
			k.Arn = "acs:kms:cn-hangzhou:1111:key/cmk-ok"
			k.Aliases = []string{"alias/app"}
		}),
		key("cmk-ext", func(k *estate.Key) { k.Origin = estate.OriginExternal }),
		migratedCMK, elsewhereCMK,
		key("key-sm", func(k *estate.Key) { k.Aliases = []string{"alias/acs/secretsmanager"} }),
	}
	tests := []struct {
		name      string
		secrets   []estate.Secret
		taken     []string
		want      Kind
		reason    Reason
		dependsOn string
		remedy    string
	}{
		{name: "system key", secrets: []estate.Secret{secret("s", "")}, want: Migratable},
		{name: "system key marker", secrets: []estate.Secret{secret("s", estate.SystemKeyMarker)}, want: Migratable},
		{name: "rotating dynamic secret", secrets: []estate.Secret{secret("s", "", func(s *estate.Secret) {
			s.Type = estate.SecretRds
			s.Rotation.Enabled = true
		})}, want: MigratableOnceRotationOff},
		{name: "cmk migrates this run", secrets: []estate.Secret{secret("s", "cmk-ok")}, want: Migratable, dependsOn: "cmk-ok"},
		{name: "cmk by arn", secrets: []estate.Secret{secret("s", "acs:kms:cn-hangzhou:1111:key/cmk-ok")}, want: Migratable, dependsOn: "cmk-ok"},
		{name: "cmk by alias", secrets: []estate.Secret{secret("s", "alias/app")}, want: Migratable, dependsOn: "cmk-ok"},
		{name: "system key named by service key id", secrets: []estate.Secret{secret("s", "key-sm")}, want: Migratable},
		{name: "cmk already migrated", secrets: []estate.Secret{secret("s", "cmk-done")}, want: Migratable},
		{name: "cmk in another instance", secrets: []estate.Secret{secret("s", "cmk-else")}, want: Blocked, reason: SecretCMKOtherInstance, remedy: "kst-9"},
		{name: "cmk blocked", secrets: []estate.Secret{secret("s", "cmk-ext")}, want: Blocked, reason: SecretCMKBlocked, remedy: "imported-key-material"},
		{name: "cmk unknown", secrets: []estate.Secret{secret("s", "cmk-gone")}, want: Blocked, reason: SecretCMKUnknown, remedy: "cmk-gone"},
		{name: "duplicate in lane", secrets: []estate.Secret{secret("s", ""), secret("s", "cmk-ok")}, want: Blocked, reason: DuplicateSecretName, remedy: "2 secrets"},
		{name: "name taken in instance", secrets: []estate.Secret{secret("s", "")}, taken: []string{"s"}, want: Blocked, reason: DuplicateSecretName, remedy: "kst-1"},
		{name: "name taken by migrated twin", secrets: []estate.Secret{secret("s", ""), secret("s", "", func(s *estate.Secret) { s.InstanceID = "kst-1" })},
			want: Blocked, reason: DuplicateSecretName},
		{name: "already migrated", secrets: []estate.Secret{secret("s", "cmk-ext", func(s *estate.Secret) { s.InstanceID = "kst-1" })}, want: AlreadyMigrated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := instance("kst-1", "1111", func(in *estate.Instance) { in.SecretNames = tt.taken })
			inv := inventory(estate.LaneInventory{Lane: laneA, Keys: keys, Secrets: tt.secrets, Instances: []estate.Instance{in}})
			vs := classify(t, inv)
			v := mustFind(t, vs, laneA, ResourceSecret, "s")
			if tt.want != AlreadyMigrated {
				// With a migrated twin, Find returns the one still in KMS 1.0.
				for _, r := range vs.Resources {
					if r.Resource == ResourceSecret && r.Verdict != AlreadyMigrated {
						v = r
					}
				}
			}
			assert.Equal(t, tt.want, v.Verdict)
			assert.Equal(t, tt.reason, v.Reason)
			assert.Equal(t, tt.dependsOn, v.DependsOn)
			assert.Contains(t, v.Remediation, tt.remedy)
		})
	}
}

func TestTargetSelection(t *testing.T) {
	old := func(in *estate.Instance) { in.ImageVersion = "2.8.5" }
	foreign := func(in *estate.Instance) { in.Owner = "9999"; in.SharedWith = []string{"3333"} }
	shared := func(in *estate.Instance) { in.Owner = "9999"; in.SharedWith = []string{"1111"} }
	tests := []struct {
		name      string
		instances []estate.Instance
		explicit  string
		want      string
		blocker   Reason
		warning   Reason
		choice    string
	}{
		{name: "none", want: "", blocker: NoTargetInstance, choice: "no instance"},
		{name: "other region only", instances: []estate.Instance{instance("kst-1", "1111", func(in *estate.Instance) { in.Region = "cn-beijing" })},
			blocker: NoTargetInstance},
		{name: "only one", instances: []estate.Instance{instance("kst-1", "1111")}, want: "kst-1", choice: "only usable"},
		{name: "empty owner is the account", instances: []estate.Instance{instance("kst-1", "")}, want: "kst-1"},
		{name: "owned before shared", instances: []estate.Instance{instance("kst-a", "", shared), instance("kst-b", "1111")}, want: "kst-b", choice: "owned by the account"},
		{name: "lowest id among owned", instances: []estate.Instance{instance("kst-c", "1111"), instance("kst-b", "1111")}, want: "kst-b", choice: "2 usable instances"},
		{name: "shared when nothing owned", instances: []estate.Instance{instance("kst-a", "", shared)}, want: "kst-a"},
		{name: "skips old image", instances: []estate.Instance{instance("kst-a", "1111", old), instance("kst-b", "1111")}, want: "kst-b"},
		{name: "all too old", instances: []estate.Instance{instance("kst-a", "1111", old)}, blocker: InstanceImageTooOld, choice: "none of the 1"},
		{name: "unreported image warns only", instances: []estate.Instance{instance("kst-a", "1111", func(in *estate.Instance) { in.ImageVersion = "" })},
			want: "kst-a", warning: InstanceImageUnverified},
		{name: "hardware too old", instances: []estate.Instance{instance("kst-h", "1111", old, func(in *estate.Instance) { in.Kind = estate.InstanceHardware })}, blocker: InstanceImageTooOld},
		{name: "2.10 is newer than 2.9", instances: []estate.Instance{instance("kst-a", "1111", func(in *estate.Instance) { in.ImageVersion = "2.10.0" })}, want: "kst-a"},
		{name: "not shared", instances: []estate.Instance{instance("kst-a", "", foreign)}, blocker: InstanceNotShared},
		{name: "visible and sharing unknown", instances: []estate.Instance{instance("kst-a", "9999")}, want: "kst-a"},
		{name: "explicit", instances: []estate.Instance{instance("kst-a", "1111"), instance("kst-b", "1111")}, explicit: "kst-b", want: "kst-b", choice: "explicit"},
		{name: "explicit missing", instances: []estate.Instance{instance("kst-a", "1111")}, explicit: "kst-z", blocker: NoTargetInstance, choice: "not found"},
		{name: "explicit other region", instances: []estate.Instance{instance("kst-a", "1111", func(in *estate.Instance) { in.Region = "cn-beijing" })},
			explicit: "kst-a", blocker: NoTargetInstance, choice: "another region"},
		{name: "explicit too old", instances: []estate.Instance{instance("kst-a", "1111", old), instance("kst-b", "1111")}, explicit: "kst-a", blocker: InstanceImageTooOld},
		{name: "explicit not shared", instances: []estate.Instance{instance("kst-a", "", foreign)}, explicit: "kst-a", blocker: InstanceNotShared},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := inventory(estate.LaneInventory{Lane: laneA, Keys: []estate.Key{key("k")}, Instances: tt.instances})
			vs := classify(t, inv, func(s *Settings) {
				if tt.explicit != "" {
					s.Targets = map[estate.Lane]string{laneA: tt.explicit}
				}
			})
			lf, ok := vs.Lane(laneA)
			require.True(t, ok)
			assert.Equal(t, tt.want, lf.InstanceID)
			assert.Contains(t, lf.Choice, tt.choice)
			f, blocked := lf.Blocker()
			assert.Equal(t, tt.blocker != "", blocked)
			assert.Equal(t, tt.blocker, f.Reason)
			var warnings []Reason
			for _, f := range lf.Findings {
				if f.Severity == SeverityWarning {
					warnings = append(warnings, f.Reason)
				}
			}
			if tt.warning != "" {
				assert.Equal(t, []Reason{tt.warning}, warnings)
			} else {
				assert.Empty(t, warnings)
			}
			v := mustFind(t, vs, laneA, ResourceKey, "k")
			if tt.blocker != "" {
				assert.Equal(t, Blocked, v.Verdict, "a lane blocker blocks the lane's keys")
				assert.Equal(t, tt.blocker, v.Reason)
				assert.Empty(t, v.InstanceID)
			} else {
				assert.Equal(t, Migratable, v.Verdict)
				assert.Equal(t, tt.want, v.InstanceID)
			}
		})
	}
}

// An explicit target may be an instance that only its owner's lane saw.
func TestExplicitTargetSharedFromAnotherLane(t *testing.T) {
	owner := estate.LaneInventory{Lane: laneB, Instances: []estate.Instance{instance("kst-shared", "2222", func(in *estate.Instance) {
		in.SharedWith = []string{"1111"}
	})}}
	member := estate.LaneInventory{Lane: laneA, Keys: []estate.Key{key("k")}}
	vs := classify(t, inventory(member, owner), func(s *Settings) { s.Targets = map[estate.Lane]string{laneA: "kst-shared"} })
	assert.Equal(t, "kst-shared", mustFind(t, vs, laneA, ResourceKey, "k").InstanceID)
	iu, ok := vs.Instance("kst-shared")
	require.True(t, ok)
	assert.Equal(t, []estate.Lane{laneA, laneB}, iu.Lanes)

	// Seen only by its owner and with no sharing recorded, the instance
	// cannot be assumed shared with the member account.
	owner.Instances[0].SharedWith = nil
	vs = classify(t, inventory(member, owner), func(s *Settings) { s.Targets = map[estate.Lane]string{laneA: "kst-shared"} })
	assert.Equal(t, InstanceNotShared, mustFind(t, vs, laneA, ResourceKey, "k").Reason)
}

func TestExpiringInstanceWarnsWithoutBlocking(t *testing.T) {
	tests := []struct {
		name    string
		expires time.Time
		renew   bool
		warn    Reason
	}{
		{name: "expires soon, no renewal", expires: discovered.AddDate(0, 0, 10), warn: InstanceExpiringNoRenew},
		{name: "expires soon, renews", expires: discovered.AddDate(0, 0, 10), renew: true},
		{name: "expires late, no renewal", expires: discovered.AddDate(0, 0, 31), warn: InstanceNoAutoRenew},
		{name: "no expiry known, no renewal", expires: time.Time{}, warn: InstanceNoAutoRenew},
		{name: "expires late, renews", expires: discovered.AddDate(0, 0, 31), renew: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := instance("kst-1", "1111", func(in *estate.Instance) { in.Expires, in.AutoRenew = tt.expires, tt.renew })
			vs := classify(t, inventory(estate.LaneInventory{Lane: laneA, Keys: []estate.Key{key("k")}, Instances: []estate.Instance{in}}))
			lf, _ := vs.Lane(laneA)
			var got []Reason
			for _, f := range lf.Findings {
				got = append(got, f.Reason)
			}
			if tt.warn != "" {
				assert.Equal(t, []Reason{tt.warn}, got)
				assert.Equal(t, 1, vs.Counts.Warnings)
				assert.Contains(t, lf.Findings[0].Remediation, "kst-1")
			} else {
				assert.Empty(t, got)
			}
			_, blocked := lf.Blocker()
			assert.False(t, blocked, "auto-renewal off is a warning, never a blocker")
			assert.Equal(t, Migratable, mustFind(t, vs, laneA, ResourceKey, "k").Verdict)
		})
	}
}

// An expired instance, or one whose status is not Connected, blocks its
// lane: the migration tool refuses it (rules.CheckInstance, the twin's
// rule too). With another usable instance the default choice skips it.
func TestInstanceStateBlocksLane(t *testing.T) {
	expired := func(in *estate.Instance) { in.Expires = discovered.AddDate(0, 0, -1) }
	endsNow := func(in *estate.Instance) { in.Expires = discovered }
	status := func(s string) func(*estate.Instance) { return func(in *estate.Instance) { in.Status = s } }
	tests := []struct {
		name      string
		instances []estate.Instance
		explicit  string
		want      string
		blocker   Reason
		remedy    string
	}{
		{name: "expired", instances: []estate.Instance{instance("kst-a", "1111", expired)}, blocker: InstanceExpired, remedy: "expired on 2025-02-28"},
		{name: "expired without renewal", instances: []estate.Instance{instance("kst-a", "1111", expired, func(in *estate.Instance) { in.AutoRenew = false })},
			blocker: InstanceExpired},
		{name: "ends at discovery", instances: []estate.Instance{instance("kst-a", "1111", endsNow)}, blocker: InstanceExpired},
		{name: "disconnected", instances: []estate.Instance{instance("kst-a", "1111", status("Disconnected"))}, blocker: InstanceNotConnected, remedy: "Disconnected"},
		{name: "connecting", instances: []estate.Instance{instance("kst-a", "1111", status("Connecting"))}, blocker: InstanceNotConnected},
		{name: "status unreported", instances: []estate.Instance{instance("kst-a", "1111", status(""))}, blocker: InstanceNotConnected, remedy: "unreported"},
		{name: "skips disconnected", instances: []estate.Instance{instance("kst-a", "1111", status("Error")), instance("kst-b", "1111")}, want: "kst-b"},
		{name: "skips expired", instances: []estate.Instance{instance("kst-a", "1111", expired), instance("kst-b", "1111")}, want: "kst-b"},
		{name: "explicit expired", instances: []estate.Instance{instance("kst-a", "1111", expired), instance("kst-b", "1111")}, explicit: "kst-a", blocker: InstanceExpired},
		{name: "explicit disconnected", instances: []estate.Instance{instance("kst-a", "1111", status("Disconnected"))}, explicit: "kst-a", blocker: InstanceNotConnected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			li := estate.LaneInventory{Lane: laneA, Keys: []estate.Key{key("k")}, Secrets: []estate.Secret{secret("s", "")}, Instances: tt.instances}
			vs := classify(t, inventory(li), func(s *Settings) {
				if tt.explicit != "" {
					s.Targets = map[estate.Lane]string{laneA: tt.explicit}
				}
			})
			lf, _ := vs.Lane(laneA)
			if tt.blocker == "" {
				assert.Equal(t, tt.want, lf.InstanceID)
				assert.Equal(t, Migratable, mustFind(t, vs, laneA, ResourceKey, "k").Verdict)
				return
			}
			assert.Empty(t, lf.InstanceID)
			f, blocked := lf.Blocker()
			require.True(t, blocked)
			assert.Equal(t, tt.blocker, f.Reason)
			assert.Equal(t, SeverityBlocker, f.Severity)
			assert.Contains(t, f.Remediation, "kst-a")
			assert.Contains(t, f.Remediation, tt.remedy)
			for _, rk := range []struct {
				kind ResourceKind
				id   string
			}{{ResourceKey, "k"}, {ResourceSecret, "s"}} {
				v := mustFind(t, vs, laneA, rk.kind, rk.id)
				assert.Equal(t, Blocked, v.Verdict)
				assert.Equal(t, tt.blocker, v.Reason)
			}
		})
	}
}

func TestDiscoveryErrorsWarn(t *testing.T) {
	li := estate.LaneInventory{Lane: laneA, Keys: []estate.Key{key("k")}, Instances: []estate.Instance{instance("kst-1", "1111")},
		Errors: []estate.DiscoveryError{{Op: "ListSecrets", Code: "Rejected.Throttling", Message: "QPS Limit Exceeded"}}}
	vs := classify(t, inventory(li))
	lf, _ := vs.Lane(laneA)
	require.Len(t, lf.Findings, 1)
	assert.Equal(t, DiscoveryIncomplete, lf.Findings[0].Reason)
	assert.Contains(t, lf.Findings[0].Remediation, "Rejected.Throttling")
	assert.Equal(t, Migratable, mustFind(t, vs, laneA, ResourceKey, "k").Verdict)
}

func TestLaneBlockerDoesNotHideResourceReasons(t *testing.T) {
	li := estate.LaneInventory{Lane: laneA,
		Keys:    []estate.Key{key("svc", func(k *estate.Key) { k.Creator = "Oss" }), key("k"), key("ext", func(k *estate.Key) { k.Origin = estate.OriginExternal })},
		Secrets: []estate.Secret{secret("s-ext", "ext"), secret("s-k", "k")}}
	vs := classify(t, inventory(li))
	assert.Equal(t, ServiceKey, mustFind(t, vs, laneA, ResourceKey, "svc").Reason)
	assert.Equal(t, ImportedKeyMaterial, mustFind(t, vs, laneA, ResourceKey, "ext").Reason)
	assert.Equal(t, NoTargetInstance, mustFind(t, vs, laneA, ResourceKey, "k").Reason)
	assert.Equal(t, SecretCMKBlocked, mustFind(t, vs, laneA, ResourceSecret, "s-ext").Reason)
	s := mustFind(t, vs, laneA, ResourceSecret, "s-k")
	assert.Equal(t, NoTargetInstance, s.Reason)
	assert.Empty(t, s.DependsOn)
}

func TestQuotaSpentAcrossLanes(t *testing.T) {
	small := instance("kst-s", "1111", func(in *estate.Instance) {
		in.SharedWith = []string{"2222"}
		in.KeyQuota, in.KeyUsed = 10, 7      // 3 free
		in.SecretQuota, in.SecretUsed = 5, 3 // 2 free
	})
	a := estate.LaneInventory{Lane: laneA, Instances: []estate.Instance{small},
		Keys:    []estate.Key{key("a2"), key("a1")},
		Secrets: []estate.Secret{secret("sa", "")}}
	b := estate.LaneInventory{Lane: laneB, Instances: []estate.Instance{small},
		Keys:    []estate.Key{key("b1", func(k *estate.Key) { k.Creator = "2222" }), key("b2", func(k *estate.Key) { k.Creator = "2222" })},
		Secrets: []estate.Secret{secret("sb-dep", "b2"), secret("sb1", ""), secret("sb2", "")}}
	vs := classify(t, inventory(b, a))

	tests := []struct {
		lane   estate.Lane
		rk     ResourceKind
		id     string
		want   Kind
		reason Reason
	}{
		{laneA, ResourceKey, "a1", Migratable, ""},
		{laneA, ResourceKey, "a2", Migratable, ""},
		{laneB, ResourceKey, "b1", Migratable, ""},
		{laneB, ResourceKey, "b2", Blocked, InstanceQuotaTooSmall},
		{laneA, ResourceSecret, "sa", Migratable, ""},
		{laneB, ResourceSecret, "sb-dep", Blocked, SecretCMKBlocked},
		{laneB, ResourceSecret, "sb1", Migratable, ""},
		{laneB, ResourceSecret, "sb2", Blocked, InstanceQuotaTooSmall},
	}
	for _, tt := range tests {
		t.Run(tt.lane.String()+"/"+tt.id, func(t *testing.T) {
			v := mustFind(t, vs, tt.lane, tt.rk, tt.id)
			assert.Equal(t, tt.want, v.Verdict)
			assert.Equal(t, tt.reason, v.Reason)
		})
	}
	b2 := mustFind(t, vs, laneB, ResourceKey, "b2")
	assert.Contains(t, b2.Remediation, "3 free key slots (quota 10, used 7)")
	assert.Contains(t, b2.Remediation, "4 keys")
	assert.Contains(t, b2.Remediation, "by at least 1")
	assert.Contains(t, mustFind(t, vs, laneB, ResourceSecret, "sb2").Remediation, "2 free secret slots (quota 5, used 3)")

	iu, ok := vs.Instance("kst-s")
	require.True(t, ok)
	assert.Equal(t, InstanceUse{InstanceID: "kst-s", Lanes: []estate.Lane{laneA, laneB}, FreeKeys: 3, FreeSecrets: 2,
		Keys: 3, Secrets: 2, OverflowKeys: 1, OverflowSecrets: 1}, iu)
}

// Lanes may see one instance at different moments; the higher usage wins.
func TestQuotaUsesHighestReportedUsage(t *testing.T) {
	view := func(used int) estate.Instance {
		return instance("kst-s", "1111", func(in *estate.Instance) { in.SharedWith = []string{"2222"}; in.KeyQuota, in.KeyUsed = 10, used })
	}
	a := estate.LaneInventory{Lane: laneA, Instances: []estate.Instance{view(5)}, Keys: []estate.Key{key("a1")}}
	b := estate.LaneInventory{Lane: laneB, Instances: []estate.Instance{view(9)}}
	vs := classify(t, inventory(a, b))
	iu, _ := vs.Instance("kst-s")
	assert.Equal(t, 1, iu.FreeKeys)
}

func TestCounts(t *testing.T) {
	li := estate.LaneInventory{Lane: laneA, Instances: []estate.Instance{instance("kst-1", "1111")},
		Keys: []estate.Key{key("k1"), key("svc", func(k *estate.Key) { k.Creator = "Oss" }), key("dis", func(k *estate.Key) { k.State = estate.KeyDisabled }),
			key("m", func(k *estate.Key) { k.InstanceID = "kst-1" })},
		Secrets: []estate.Secret{secret("s1", "k1"), secret("s2", "dis")}}
	vs := classify(t, inventory(li))
	assert.Equal(t, Counts{Keys: 4, Secrets: 2,
		ByVerdict:   map[Kind]int{Migratable: 2, Blocked: 3, AlreadyMigrated: 1},
		ByReason:    map[Reason]int{ServiceKey: 1, KeyDisabled: 1, SecretCMKBlocked: 1},
		NeedsAction: 2}, vs.Counts)
}

func TestClassifyRejectsBadInput(t *testing.T) {
	good := inventory(estate.LaneInventory{Lane: laneA})
	tests := []struct {
		name string
		inv  estate.Inventory
		mod  func(*Settings)
		want string
	}{
		{name: "bad min image", inv: good, mod: func(s *Settings) { s.MinSoftwareImage = "two" }, want: "minSoftwareImage"},
		{name: "bad hardware image", inv: good, mod: func(s *Settings) { s.MinHardwareImage = "" }, want: "minHardwareImage"},
		{name: "negative expiry", inv: good, mod: func(s *Settings) { s.ExpiryWarningDays = -1 }, want: "expiryWarningDays"},
		{name: "empty target", inv: good, mod: func(s *Settings) { s.Targets = map[estate.Lane]string{laneA: ""} }, want: "targets[1111/cn-hangzhou]"},
		{name: "bad inventory", inv: inventory(estate.LaneInventory{Lane: laneA, Keys: []estate.Key{{}}}), mod: func(*Settings) {}, want: "key without id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := DefaultSettings()
			tt.mod(&s)
			_, err := Classify(tt.inv, s)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestClassifyDoesNotModifyInventory(t *testing.T) {
	li := estate.LaneInventory{Lane: laneA, Instances: []estate.Instance{instance("kst-1", "")},
		Keys:    []estate.Key{key("k2", func(k *estate.Key) { k.Aliases = []string{"alias/z", "alias/a"} }), key("k1")},
		Secrets: []estate.Secret{secret("b", "k2"), secret("a", "")}}
	inv := inventory(li)
	before, err := json.Marshal(inv)
	require.NoError(t, err)
	classify(t, inv)
	after, err := json.Marshal(inv)
	require.NoError(t, err)
	assert.JSONEq(t, string(before), string(after))
}

func TestReasonTable(t *testing.T) {
	all := []Reason{ServiceKey, ImportedKeyMaterial, KeyPendingDeletion, KeyDisabled, KeyStateUnsupported, KeyMultipleVersions,
		SecretCMKBlocked, SecretCMKUnknown, SecretCMKOtherInstance, DuplicateSecretName, NoTargetInstance, InstanceNotShared,
		InstanceImageTooOld, InstanceImageUnverified, InstanceQuotaTooSmall, InstanceExpired, InstanceNotConnected,
		InstanceExpiringNoRenew, InstanceNoAutoRenew, DiscoveryIncomplete, TaskAPIUnavailable}
	require.Len(t, reasons, len(all))
	for _, r := range all {
		info, ok := r.Info()
		require.True(t, ok, "%s missing from the table", r)
		assert.NotEmpty(t, info.Action)
		assert.Equal(t, info.Severity != SeverityWarning, info.Blocks, "%s: only warnings do not block", r)
	}
	assert.False(t, ServiceKey.NeedsAction(), "a service key is informational")
	assert.True(t, KeyDisabled.NeedsAction())
	assert.Equal(t, SeverityDecision, KeyDisabled.Severity())
	assert.Equal(t, SeverityBlocker, Reason("no-such-code").Severity(), "unknown codes must not pass")
}

// A lane that sees no instance while another account's lane sees one in
// the region, not shared with it, is told to have that one shared.
func TestInstanceNotSharedFromAnotherLane(t *testing.T) {
	owner := estate.LaneInventory{Lane: laneA, Keys: []estate.Key{key("ka")},
		Instances: []estate.Instance{instance("kst-a", "1111", func(in *estate.Instance) { in.SharedWith = []string{"3333"} })}}
	member := estate.LaneInventory{Lane: laneB, Keys: []estate.Key{key("kb", func(k *estate.Key) { k.Creator = "2222" })}}
	vs := classify(t, inventory(owner, member))

	v := mustFind(t, vs, laneB, ResourceKey, "kb")
	require.Equal(t, Blocked, v.Verdict)
	require.Equal(t, InstanceNotShared, v.Reason)
	require.Contains(t, v.Remediation, "kst-a")
	require.Contains(t, v.Remediation, "1111")
	require.Equal(t, Migratable, mustFind(t, vs, laneA, ResourceKey, "ka").Verdict)

	// Without any instance in the region it stays no-target-instance.
	alone := classify(t, inventory(member))
	require.Equal(t, NoTargetInstance, mustFind(t, alone, laneB, ResourceKey, "kb").Reason)
}

// Two accounts that may migrate into one shared instance cannot both bring
// a secret of one name, and neither keeps it: every copy is blocked,
// naming the other accounts (the twin refuses every copy alike).
func TestDuplicateSecretNameAcrossLanesOfOneInstance(t *testing.T) {
	laneC := estate.Lane{Account: "3333", Region: "cn-hangzhou"}
	shared := instance("kst-shared", "1111", func(in *estate.Instance) { in.SharedWith = []string{"2222", "3333"} })
	a := estate.LaneInventory{Lane: laneA, Secrets: []estate.Secret{secret("db/password", ""), secret("only-a", "")},
		Instances: []estate.Instance{shared}}
	b := estate.LaneInventory{Lane: laneB, Secrets: []estate.Secret{secret("db/password", ""), secret("only-b", "")},
		Instances: []estate.Instance{shared}}
	c := estate.LaneInventory{Lane: laneC, Secrets: []estate.Secret{secret("db/password", "")}, Instances: []estate.Instance{shared}}
	vs := classify(t, inventory(a, b, c))

	for _, tt := range []struct {
		lane   estate.Lane
		others string
	}{{laneA, "2222, 3333"}, {laneB, "1111, 3333"}, {laneC, "1111, 2222"}} {
		dup := mustFind(t, vs, tt.lane, ResourceSecret, "db/password")
		assert.Equal(t, Blocked, dup.Verdict, tt.lane.String())
		assert.Equal(t, DuplicateSecretName, dup.Reason, tt.lane.String())
		assert.Contains(t, dup.Remediation, tt.others, tt.lane.String())
		assert.Contains(t, dup.Remediation, "kst-shared")
	}
	assert.Equal(t, Migratable, mustFind(t, vs, laneA, ResourceSecret, "only-a").Verdict)
	assert.Equal(t, Migratable, mustFind(t, vs, laneB, ResourceSecret, "only-b").Verdict)

	// A copy already in an instance no longer migrates: the others may.
	c.Secrets[0].InstanceID = "kst-elsewhere"
	b.Secrets[0].InstanceID = "kst-elsewhere"
	vs = classify(t, inventory(a, b, c))
	assert.Equal(t, Migratable, mustFind(t, vs, laneA, ResourceSecret, "db/password").Verdict)

	// 2222 migrates into its own instance, but kst-shared is still shared
	// with it: its copy could go there, so 1111's copy is blocked while
	// 2222's, bound for kst-b, is not.
	b = estate.LaneInventory{Lane: laneB, Secrets: []estate.Secret{secret("db/password", "")},
		Instances: []estate.Instance{instance("kst-b", "2222")}}
	vs = classify(t, inventory(a, b))
	assert.Equal(t, DuplicateSecretName, mustFind(t, vs, laneA, ResourceSecret, "db/password").Reason)
	assert.Equal(t, Migratable, mustFind(t, vs, laneB, ResourceSecret, "db/password").Verdict)

	// Not shared with 2222 at all: no clash.
	a.Instances = []estate.Instance{instance("kst-shared", "1111")}
	vs = classify(t, inventory(a, b))
	assert.Equal(t, Migratable, mustFind(t, vs, laneA, ResourceSecret, "db/password").Verdict)
	assert.Equal(t, Migratable, mustFind(t, vs, laneB, ResourceSecret, "db/password").Verdict)
}

// A lane whose task API probe failed is blocked task-api-unavailable
// before anything else: nothing in it is planned (so no rotation is
// switched off), the remediation names the refusal and the two remedies.
// A lane whose probe succeeded, or that was not probed, migrates.
func TestTaskAPIUnavailableBlocksTheLane(t *testing.T) {
	lane := func(l estate.Lane, p *estate.TaskAPIProbe) estate.LaneInventory {
		return estate.LaneInventory{Lane: l, TaskAPI: p, Instances: []estate.Instance{instance("kst-"+l.Account, l.Account)},
			Keys: []estate.Key{key("k-" + l.Account + "-1"), key("k-"+l.Account+"-2", func(k *estate.Key) { k.Creator = l.Account })}}
	}
	absent := &estate.TaskAPIProbe{Action: "ListMigrationTasks", Code: "InvalidAction.NotFound", Permanent: true}
	flaky := &estate.TaskAPIProbe{Action: "ListMigrationTasks", Code: "ServiceUnavailable"}
	laneC := estate.Lane{Account: "3333", Region: "cn-hangzhou"}
	laneD := estate.Lane{Account: "4444", Region: "cn-hangzhou"}
	vs := classify(t, inventory(lane(laneA, absent), lane(laneB, &estate.TaskAPIProbe{Action: "ListMigrationTasks", Available: true}),
		lane(laneC, nil), lane(laneD, flaky)))

	lf, _ := vs.Lane(laneA)
	f, blocked := lf.Blocker()
	require.True(t, blocked)
	assert.Equal(t, TaskAPIUnavailable, f.Reason)
	for _, want := range []string{"ListMigrationTasks", "InvalidAction.NotFound", "KMSMIG_TASK_ACTIONS", "KMSMIG_BACKEND=observe"} {
		assert.Contains(t, f.Remediation, want)
	}
	for _, v := range vs.Resources {
		switch v.Lane {
		case laneA, laneD:
			assert.Equal(t, Blocked, v.Verdict, "%s %s", v.Lane, v.ID)
			assert.Equal(t, TaskAPIUnavailable, v.Reason, "%s %s", v.Lane, v.ID)
		default:
			assert.True(t, v.Verdict.WillMigrate(), "%s %s: %s %s", v.Lane, v.ID, v.Verdict, v.Reason)
		}
	}
	lf, _ = vs.Lane(laneD)
	f, _ = lf.Blocker()
	assert.Contains(t, f.Remediation, "Run discovery again")
	info, ok := TaskAPIUnavailable.Info()
	require.True(t, ok)
	assert.Equal(t, ScopeLane, info.Scope)
	assert.True(t, info.Blocks)
}
