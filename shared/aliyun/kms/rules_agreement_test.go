package kms_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/discover"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/verdict"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// agreementEstate exercises the provider rules that classifier and twin
// share (shared/rules): accounts 1 (owner), 2 and 3 may all migrate into
// kst-agreea; 3 migrates into its own kst-agreec; 4's only instance is
// Disconnected and 5's has expired.
func agreementEstate() *kmstwin.Inventory {
	const a, b, c, d, e = "1000000000000001", "1000000000000002", "1000000000000003", "1000000000000004", "1000000000000005"
	sec := func(name string, dkms ...string) kmstwin.SecretInventory {
		s := kmstwin.SecretInventory{SecretName: name, SecretData: "agreement-value"}
		if len(dkms) > 0 {
			s.DKMSInstanceID = dkms[0]
		}
		return s
	}
	inst := func(id string, mod func(*kmstwin.InstanceInventory)) kmstwin.InstanceInventory {
		in := kmstwin.InstanceInventory{KmsInstanceID: id, Type: "software", ImageVersion: "3.0.0", KeyQuota: 100, SecretQuota: 100,
			ExpiresInDays: 365, AutoRenewal: true}
		if mod != nil {
			mod(&in)
		}
		return in
	}
	lane := func(id string, secrets []kmstwin.SecretInventory, instances ...kmstwin.InstanceInventory) kmstwin.AccountInventory {
		return kmstwin.AccountInventory{ID: id, Regions: map[string]kmstwin.RegionInventory{"cn-hangzhou": {Secrets: secrets, Instances: instances}}}
	}
	return &kmstwin.Inventory{Accounts: []kmstwin.AccountInventory{
		lane(a, []kmstwin.SecretInventory{sec("dup3"), sec("dup-ab"), sec("solo-a"), sec("moved", "kst-agreea")},
			inst("kst-agreea", func(in *kmstwin.InstanceInventory) { in.SharedWith = []string{b, c} })),
		lane(b, []kmstwin.SecretInventory{sec("dup3"), sec("dup-ab"), sec("solo-b"), sec("moved")}),
		lane(c, []kmstwin.SecretInventory{sec("dup3"), sec("solo-c")}, inst("kst-agreec", nil)),
		lane(d, []kmstwin.SecretInventory{sec("solo-d"), sec("dup3")},
			inst("kst-agreed", func(in *kmstwin.InstanceInventory) { in.Status = "Disconnected" })),
		lane(e, []kmstwin.SecretInventory{sec("solo-e")},
			inst("kst-agreee", func(in *kmstwin.InstanceInventory) { in.ExpiresInDays, in.EndDate = 0, "2020-01-01T00:00:00Z" })),
	}}
}

// TestClassifierAndTwinAgree discovers an estate through the adapter,
// classifies it, then asks a fresh twin of the same estate, lane by lane,
// to migrate every secret of the lane into the instance the classifier
// chose (or, for a lane it blocks, the lane's own instance): the twin
// refuses the task exactly when the classifier blocks the lane for the
// instance's state, and a secret migrates exactly when the classifier says
// it will, a duplicate name failing exactly when it says
// duplicate-secret-name.
func TestClassifierAndTwinAgree(t *testing.T) {
	_, c := startDemo(t, stack.Options{Inventory: agreementEstate(), Unthrottled: true})
	var accounts []string
	for _, a := range agreementEstate().Accounts {
		accounts = append(accounts, a.ID)
	}
	inv, err := discover.Run(t.Context(), c, discover.Options{RunID: "agree", Accounts: accounts, SeedRegion: "cn-hangzhou"})
	require.NoError(t, err)
	vs, err := verdict.Classify(*inv, verdict.DefaultSettings())
	require.NoError(t, err)

	checked := map[string]int{}
	for _, li := range inv.Lanes {
		lf, ok := vs.Lane(li.Lane)
		require.True(t, ok)
		target := lf.InstanceID
		if target == "" {
			require.NotEmpty(t, lf.Candidates, li.Lane.String())
			target = lf.Candidates[0].InstanceID
		}
		var names []string
		for _, s := range li.Secrets {
			if !s.Migrated() {
				names = append(names, s.Name)
			}
		}
		slices.Sort(names)

		// A fresh twin of the same estate, so that no other lane's task has
		// changed what this one sees.
		_, fresh := startDemo(t, stack.Options{Inventory: agreementEstate(), Unthrottled: true, Timing: kmstwin.TaskTiming{Speed: 1e6}})
		tasks := fresh.Tasks(kms.TaskActions{})
		id, err := tasks.CreateTask(t.Context(), li.Lane, migration.TaskRequest{InstanceID: target, SecretNames: names})
		blocker, blocked := lf.Blocker()
		stateBlocked := blocked && (blocker.Reason == verdict.InstanceExpired || blocker.Reason == verdict.InstanceNotConnected)
		if err != nil {
			var api *cloud.APIError
			require.True(t, errors.As(err, &api), "%s: %v", li.Lane, err)
			assert.Equal(t, kmstwin.CodeInstanceState, api.Code, "%s: %v", li.Lane, err)
			assert.True(t, stateBlocked, "%s: the twin refuses %s (%s) but the classifier found %v", li.Lane, target, api.Code, lf.Findings)
			checked["lane refused"]++
			continue
		}
		require.False(t, stateBlocked, "%s: the classifier blocks the lane (%s) but the twin took the task", li.Lane, blocker.Reason)
		task := waitTask(t, tasks, li.Lane, id)
		for _, r := range task.Results {
			v, ok := vs.Find(li.Lane, verdict.ResourceSecret, r.ID)
			require.True(t, ok, r.ID)
			dupByTwin := r.ReasonCode == kmstwin.ReasonDuplicateSecretName || r.ReasonCode == kmstwin.ReasonSecretNameExists
			assert.Equal(t, v.Verdict.WillMigrate(), r.Status == kmstwin.ResultSucceeded, "%s %s: classifier %s %s, twin %s %s", li.Lane, r.ID, v.Verdict, v.Reason, r.Status, r.ReasonCode)
			assert.Equal(t, v.Reason == verdict.DuplicateSecretName, dupByTwin, "%s %s: classifier %s %s (%s), twin %s %s (%s)",
				li.Lane, r.ID, v.Verdict, v.Reason, v.Remediation, r.Status, r.ReasonCode, r.Message)
			switch {
			case dupByTwin:
				checked["duplicate"]++
			case r.Status == kmstwin.ResultSucceeded:
				checked["migrates"]++
			}
		}
	}
	// The estate covers every case the rules decide: 1's and 2's dup3 and
	// dup-ab, and 2's name already in the instance, are duplicates; 3's dup3
	// goes into its own instance, not shared, and migrates.
	assert.Equal(t, map[string]int{"lane refused": 2, "duplicate": 5, "migrates": 4}, checked)
	v, _ := vs.Find(estate.Lane{Account: "1000000000000003", Region: "cn-hangzhou"}, verdict.ResourceSecret, "dup3")
	assert.True(t, v.Verdict.WillMigrate(), v.Remediation)
	v, _ = vs.Find(estate.Lane{Account: "1000000000000001", Region: "cn-hangzhou"}, verdict.ResourceSecret, "dup3")
	assert.Contains(t, v.Remediation, "1000000000000002, 1000000000000003", "every other holder is named")
}

func waitTask(t *testing.T, tasks *kms.Tasks, l estate.Lane, id string) migration.Task {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		task, err := tasks.DescribeTask(t.Context(), l, id)
		require.NoError(t, err)
		if task.Status == migration.TaskCompleted {
			return task
		}
		require.True(t, time.Now().Before(deadline), "task %s still %s", id, task.Status)
		time.Sleep(5 * time.Millisecond)
	}
}
