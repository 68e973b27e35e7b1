package benchmarks

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/discover"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/verdict"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	"github.com/kmsmig/kmsmig/twin/acs"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// Figure is one measured result.
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Goal is the target, with Higher saying which side passes; zero Goal:
	// reported only.
	Goal   float64 `json:"goal,omitempty"`
	Higher bool    `json:"higher,omitempty"`
	Detail string  `json:"detail,omitempty"`
}

// Pass reports whether the figure meets its goal (true when it has none).
func (f Figure) Pass() bool {
	switch {
	case f.Goal == 0:
		return true
	case f.Higher:
		return f.Value >= f.Goal
	default:
		return f.Value <= f.Goal
	}
}

// client is a KMS adapter with every account of a stack and the given
// client-side quotas (nil: the documented ones; empty: none).
func client(st *stack.Stack, quotas map[kms.Group]float64) (*kms.Client, []string, error) {
	static := map[string]credentials.Credential{}
	var accounts []string
	for _, a := range st.Ready().Accounts {
		c, err := ram.Static(a.AccessKeyID, a.AccessKeySecret, "")
		if err != nil {
			return nil, nil, err
		}
		static[a.ID] = c
		accounts = append(accounts, a.ID)
	}
	c, err := kms.New(kms.Config{Endpoints: st.Ready().KMS, Insecure: true, Credentials: ram.Credentials{Static: static}.For,
		Quotas: quotas, BaseBackoff: 20 * time.Millisecond})
	return c, accounts, err
}

// QuotaUse discovers a lane of keys against the twin enforcing the
// documented 50 QPS key-metadata quota and returns the key-metadata call
// rate achieved ÷ that quota (goal ≥ 0.9), with the throttled count.
func QuotaUse(ctx context.Context, keys int) (Figure, error) {
	inv := kmstwin.Generate(kmstwin.GenerateOptions{Keys: keys, Secrets: 1, Regions: 1, Accounts: 1, Seed: 1})
	st, err := stack.Start(stack.Options{Inventory: inv, Unthrottled: true, QPS: map[string]float64{kmstwin.GroupKeyMetadata: 50}})
	if err != nil {
		return Figure{}, err
	}
	defer st.Close()
	c, accounts, err := client(st, nil)
	if err != nil {
		return Figure{}, err
	}
	start := time.Now()
	if _, err := discover.Run(ctx, c, discover.Options{Accounts: accounts, Regions: st.KMS.Regions()}); err != nil {
		return Figure{}, err
	}
	elapsed := time.Since(start).Seconds()
	calls := 0.0
	counts := st.KMS.CallCounts()
	for _, a := range []string{"ListKeys", "DescribeKey", "ListKeyVersions", "ListAliases"} {
		calls += float64(counts[a])
	}
	return Figure{Name: "discovery call rate ÷ key-metadata quota (50 QPS)", Value: calls / elapsed / 50, Unit: "ratio", Goal: 0.9, Higher: true,
		Detail: fmt.Sprintf("%.0f calls in %.1fs, %d throttled", calls, elapsed, c.Stats().Throttled.Load())}, nil
}

// Speedup compares discovery with a baseline making one call at a time, at
// 20 ms of twin latency and no quota on either side (goal ≥ 10×).
func Speedup(ctx context.Context) (Figure, error) {
	inv := kmstwin.Generate(kmstwin.GenerateOptions{Keys: 120, Secrets: 120, Regions: 2, Accounts: 2, Seed: 2})
	st, err := stack.Start(stack.Options{Inventory: inv, Unthrottled: true, Faults: acs.Faults{Latency: 20 * time.Millisecond}})
	if err != nil {
		return Figure{}, err
	}
	defer st.Close()
	c, accounts, err := client(st, map[kms.Group]float64{})
	if err != nil {
		return Figure{}, err
	}
	opts := discover.Options{Accounts: accounts, SeedRegion: "cn-hangzhou"}
	start := time.Now()
	if _, err := discover.Run(ctx, &Serial{Source: c}, opts); err != nil {
		return Figure{}, err
	}
	one := time.Since(start)
	start = time.Now()
	if _, err := discover.Run(ctx, c, opts); err != nil {
		return Figure{}, err
	}
	par := time.Since(start)
	return Figure{Name: "discovery speed-up over one call at a time (20 ms latency, no quota)", Value: one.Seconds() / par.Seconds(), Unit: "×", Goal: 10, Higher: true,
		Detail: fmt.Sprintf("%.1fs one at a time, %.2fs parallel, 240 resources over 4 lanes", one.Seconds(), par.Seconds())}, nil
}

// Planning classifies and plans n resources (half keys, half secrets, a
// secret in four under a CMK) over 8 lanes and returns the time and the
// peak heap in use.
func Planning(n int) (time.Duration, uint64, error) {
	inv := syntheticEstate(n)
	stop := peakMemory(heapOnly, 2*time.Millisecond)
	start := time.Now()
	vs, err := verdict.Classify(inv, verdict.DefaultSettings())
	if err == nil {
		_, err = plan.New(vs, plan.DefaultSettings())
	}
	elapsed := time.Since(start)
	return elapsed, stop(), err
}

func syntheticEstate(n int) estate.Inventory {
	inv := estate.Inventory{RunID: "bench", DiscoveredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	lanes := 8
	for l := 0; l < lanes; l++ {
		lane := estate.Lane{Account: fmt.Sprintf("%016d", 1000+l%2), Region: []string{"cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen"}[l/2]}
		li := estate.LaneInventory{Lane: lane, Instances: []estate.Instance{{ID: fmt.Sprintf("kst-%d", l), Region: lane.Region,
			Kind: estate.InstanceSoftware, ImageVersion: "3.0.0", KeyQuota: n, SecretQuota: n, Status: "Connected", AutoRenew: true, Owner: lane.Account,
			Expires: inv.DiscoveredAt.AddDate(1, 0, 0)}}}
		per := n / lanes
		for i := 0; i < per/2; i++ {
			li.Keys = append(li.Keys, estate.Key{ID: fmt.Sprintf("%08d-0000-4000-8000-%012d", l, i), Origin: estate.OriginAliyunKMS,
				State: estate.KeyEnabled, Creator: lane.Account, VersionCount: 1})
		}
		for i := 0; i < per/2; i++ {
			s := estate.Secret{Name: fmt.Sprintf("app/secret-%06d", i), Type: estate.SecretGeneric, VersionCount: 1}
			if i%4 == 0 {
				s.EncryptionKeyID = li.Keys[i].ID
			}
			li.Secrets = append(li.Secrets, s)
		}
		inv.Lanes = append(inv.Lanes, li)
	}
	return inv
}

// AuditCost returns the cost per audit record on the hot path for the
// JSON-lines sink and for the SLS sink against the SLS twin, and the flush
// latency of the SLS sink at the end of an invocation of 100 records.
func AuditCost(ctx context.Context) (jsonNs, slsNs float64, flush time.Duration, err error) {
	const n = 20000
	rec := audit.Record{Level: audit.LevelInfo, RunID: "run-1", Function: "poll", Account: "1111", Region: "cn-hangzhou",
		ResourceType: "key", ResourceID: "0b30658a-ed1a-4922-b8f7-a673ca9c1234", BatchID: "1111/cn-hangzhou/b0001",
		Action: "Transition", Outcome: "running", Message: "task Running"}
	jl := audit.NewJSONLines(io.Discard, audit.JSONLinesOptions{})
	start := time.Now()
	for i := 0; i < n; i++ {
		jl.Log(ctx, rec)
	}
	jsonNs = float64(time.Since(start).Nanoseconds()) / n
	_ = jl.Flush(ctx)

	st, err := stack.Start(stack.Options{Inventory: kmstwin.DemoInventory(), Unthrottled: true})
	if err != nil {
		return 0, 0, 0, err
	}
	defer st.Close()
	ready := st.Ready()
	var home stack.Account
	for _, a := range ready.Accounts {
		if a.ID == ready.Home {
			home = a
		}
	}
	creds := sls.Credentials{AccessKeyID: home.AccessKeyID, AccessKeySecret: home.AccessKeySecret}
	if _, err := sls.EnsureLogstore(ctx, sls.SetupConfig{Endpoint: ready.SLS, DialAddr: ready.SLS, Project: ready.LogProject,
		Logstore: "bench", Credentials: creds}); err != nil {
		return 0, 0, 0, err
	}
	sink, err := sls.NewSink(sls.Config{Endpoint: ready.SLS, DialAddr: ready.SLS, Project: ready.LogProject, Logstore: "bench", Credentials: creds})
	if err != nil {
		return 0, 0, 0, err
	}
	defer sink.Close(ctx)
	start = time.Now()
	for i := 0; i < n; i++ {
		sink.Log(ctx, rec)
	}
	slsNs = float64(time.Since(start).Nanoseconds()) / n
	if err := sink.Flush(ctx); err != nil {
		return 0, 0, 0, err
	}
	for i := 0; i < 100; i++ {
		sink.Log(ctx, rec)
	}
	start = time.Now()
	err = sink.Flush(ctx)
	return jsonNs, slsNs, time.Since(start), err
}

// Serial is the one-call-at-a-time baseline: a discover.Source whose every
// call waits for the previous one to return.
type Serial struct {
	mu sync.Mutex
	// Source is the source being serialised.
	Source discover.Source
}

func (s *Serial) KeyIDs(ctx context.Context, l estate.Lane) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Source.KeyIDs(ctx, l)
}

func (s *Serial) Aliases(ctx context.Context, l estate.Lane) (map[string][]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Source.Aliases(ctx, l)
}

func (s *Serial) Key(ctx context.Context, l estate.Lane, id string) (estate.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Source.Key(ctx, l, id)
}

func (s *Serial) SecretNames(ctx context.Context, l estate.Lane) ([]estate.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Source.SecretNames(ctx, l)
}

func (s *Serial) Secret(ctx context.Context, l estate.Lane, sec estate.Secret) (estate.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Source.Secret(ctx, l, sec)
}

func (s *Serial) InstanceIDs(ctx context.Context, l estate.Lane) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Source.InstanceIDs(ctx, l)
}

func (s *Serial) Instance(ctx context.Context, l estate.Lane, id, owner string) (estate.Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Source.Instance(ctx, l, id, owner)
}

func (s *Serial) Regions(ctx context.Context, account, via string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Source.Regions(ctx, account, via)
}

var _ discover.Source = (*Serial)(nil)
