package kms

import (
	"context"
	"net/url"
	"sort"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// API groups share one throttling quota per account and region, as the
// shared KMS gateway does (reference: "Limits and error codes").
const (
	// GroupKeyMetadata: key metadata, property and status queries, 50 QPS.
	GroupKeyMetadata = "KeyMetadata"
	// GroupKeyModify: creating aliases, modifying keys, aliases, tags, 30 QPS.
	GroupKeyModify = "KeyModify"
	// GroupSecretMetadata: listing secrets and reading their metadata, 40 QPS.
	GroupSecretMetadata = "SecretMetadata"
	// GroupSecretModify: modifying secrets (rotation policy), 30 QPS (the
	// reference gives no figure; the twin reuses the key modification one).
	GroupSecretModify = "SecretModify"
	// GroupSecretValue: querying secret values, 450 QPS.
	GroupSecretValue = "SecretValue"
	// GroupResourceTags: ListResourceTags, 300 QPS.
	GroupResourceTags = "ResourceTags"
	// GroupInstance: instance and region queries, 20 QPS (the twin's choice).
	GroupInstance = "Instance"
	// GroupMigration: the migration tool's task operations, 10 QPS (the
	// twin's choice).
	GroupMigration = "Migration"
)

// APIVersion is the only version of the KMS API the twin serves.
const APIVersion = "2016-01-20"

// DefaultQuotas returns the per-group QPS quotas a twin applies to each
// account and region unless Options.Limiter is given.
func DefaultQuotas() map[string]float64 {
	return map[string]float64{
		GroupKeyMetadata:    50,
		GroupKeyModify:      30,
		GroupSecretMetadata: 40,
		GroupSecretModify:   30,
		GroupSecretValue:    450,
		GroupResourceTags:   300,
		GroupInstance:       20,
		GroupMigration:      10,
	}
}

// MigrationActions names the migration tool's RPC actions. The zero value
// means CreateMigrationTask, DescribeMigrationTask and ListMigrationTasks.
type MigrationActions struct {
	Create, Describe, List string
}

type action struct {
	name, group string
	fn          acs.Handler
}

// actions returns every RPC action the twin serves with its group.
func (t *Twin) actions() []action {
	names := t.opts.MigrationActions
	all := []action{
		{"DescribeRegions", GroupInstance, func(context.Context, *acs.Call) (any, error) { return t.DescribeRegions(Lane{}) }},
		{"ListKeys", GroupKeyMetadata, decoded(t.ListKeys)},
		{"DescribeKey", GroupKeyMetadata, decoded(t.DescribeKey)},
		{"ListKeyVersions", GroupKeyMetadata, decoded(t.ListKeyVersions)},
		{"ListAliases", GroupKeyMetadata, decoded(t.ListAliases)},
		{"ListAliasesByKeyId", GroupKeyMetadata, decoded(t.ListAliasesByKeyID)},
		{"ListResourceTags", GroupResourceTags, decoded(t.ListResourceTags)},
		{"UpdateRotationPolicy", GroupKeyModify, decoded(t.UpdateRotationPolicy)},
		{"ListSecrets", GroupSecretMetadata, decoded(t.ListSecrets)},
		{"DescribeSecret", GroupSecretMetadata, decoded(t.DescribeSecret)},
		{"ListSecretVersionIds", GroupSecretMetadata, decoded(t.ListSecretVersionIDs)},
		{"UpdateSecretRotationPolicy", GroupSecretModify, decoded(t.UpdateSecretRotationPolicy)},
		{"GetSecretValue", GroupSecretValue, decoded(t.GetSecretValue)},
		{"ListKmsInstances", GroupInstance, decoded(t.ListKmsInstances)},
		{"GetKmsInstance", GroupInstance, decoded(t.GetKmsInstance)},
		{"GetKmsInstanceQuotaInfos", GroupInstance, decoded(t.GetKmsInstanceQuotaInfos)},
		{or(names.Create, "CreateMigrationTask"), GroupMigration, decoded(t.CreateMigrationTask)},
		{or(names.Describe, "DescribeMigrationTask"), GroupMigration, decoded(t.DescribeMigrationTask)},
		{or(names.List, "ListMigrationTasks"), GroupMigration, decoded(t.ListMigrationTasks)},
	}
	if t.opts.TaskAPIAbsent {
		// Unregistered: the RPC frame answers them as any unknown action.
		return all[:len(all)-3]
	}
	return all
}

// decoded adapts a typed operation to the acs frame: the call's parameters
// are decoded into Req by field name and the lane is the caller's account
// in the server's region.
func decoded[Req, Resp any](op func(Lane, Req) (Resp, error)) acs.Handler {
	return func(_ context.Context, c *acs.Call) (any, error) {
		var req Req
		if err := decodeInto(c.Params, &req); err != nil {
			return nil, err
		}
		return op(Lane{Account: c.Caller.AccountID, Region: c.Region}, req)
	}
}

// Actions returns the RPC action names the handlers serve, sorted.
func (t *Twin) Actions() []string {
	var out []string
	for _, a := range t.actions() {
		out = append(out, a.name)
	}
	sort.Strings(out)
	return out
}

// ActionGroup returns the throttling group of an action, or "" when the
// action is unknown.
func (t *Twin) ActionGroup(name string) string {
	for _, a := range t.actions() {
		if a.name == name {
			return a.group
		}
	}
	return ""
}

// Handler returns the RPC endpoint of one region (an acs.RPCServer): it
// verifies V1 and V3 signatures, throttles per account, region and group
// with the twin's Limiter, applies the twin's faults and serves every
// action for the calling account in that region. A region the estate does
// not know is served as empty. Calling it again returns the same server.
func (t *Twin) Handler(region string) *acs.RPCServer {
	t.srvMu.Lock()
	defer t.srvMu.Unlock()
	if s := t.servers[region]; s != nil {
		return s
	}
	s := acs.NewRPCServer(acs.RPCConfig{Product: "Kms", Version: APIVersion, Region: region,
		Verifier: t.verifier, Limiter: t.limiter, Faults: t.faultCfg})
	for _, a := range t.actions() {
		s.Handle(a.name, a.group, a.fn)
	}
	t.servers[region] = s
	return s
}

// Keyring returns the keyring holding the access keys of the inventory's
// accounts.
func (t *Twin) Keyring() *acs.Keyring { return t.keyring }

// Limiter returns the limiter shared by every region's handler; SetQPS on
// it changes a group's quota.
func (t *Twin) Limiter() *acs.Limiter { return t.limiter }

// DisableThrottling removes the quota of every group the twin uses
// (benchmarks, bulk tests).
func (t *Twin) DisableThrottling() {
	for g := range DefaultQuotas() {
		t.limiter.SetQPS(g, 0)
	}
}

// SetFaults sets the latency and transient 5xx injection of every region's
// handler, present and future; the zero Faults turns them off.
func (t *Twin) SetFaults(f acs.Faults) {
	t.srvMu.Lock()
	defer t.srvMu.Unlock()
	t.faultCfg = f
	for _, s := range t.servers {
		s.SetFaults(f)
	}
}

// CallCounts returns, per action, how many authenticated calls all regions'
// handlers received (throttled and failed ones included, as acs counts
// them). Actions never called are omitted.
func (t *Twin) CallCounts() map[string]int64 {
	t.srvMu.Lock()
	defer t.srvMu.Unlock()
	out := map[string]int64{}
	for _, s := range t.servers {
		for a, n := range s.Calls() {
			if n > 0 {
				out[a] += n
			}
		}
	}
	return out
}

// errParam is the InvalidParameter refusal for parameter name, with why.
func errParam(name, why string) *acs.Error {
	e := acs.InvalidParameter(name)
	if why != "" {
		e.Message += " " + why
	}
	return e
}

func errMissing(name string) *acs.Error { return acs.MissingParameter(name) }

// decodeInto fills the exported fields of the struct dst points to from
// the parameters of the same name.
func decodeInto(p url.Values, dst any) error { return decodeParams(p, dst) }
