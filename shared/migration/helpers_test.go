package migration_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/discover"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	"github.com/kmsmig/kmsmig/twin/acs"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

const runID = "run-test"

// env is a twin stack, a KMS adapter over it, a directory store holding a
// discovered and planned run, and an engine wired to all of them.
type env struct {
	st     *stack.Stack
	kms    *kms.Client
	tasks  *kms.Tasks
	store  runstate.Store
	clock  *testClock
	audit  *recorder
	plan   plan.Plan
	eng    *migration.Engine
	lanes  []estate.Lane
	states map[string]bool
}

type envOptions struct {
	stack stack.Options
	// inventory seeds the twin; nil: the demo estate.
	inventory *kmstwin.Inventory
	lanes     []estate.Lane // nil: every lane
	config    migration.Config
	// clientQuotas are the adapter's client-side rate limits; nil: none
	// (the twin's quotas still apply unless the stack is unthrottled).
	clientQuotas map[kms.Group]float64
	// faults are injected once the run is discovered and planned, so that
	// the plan is the demo's.
	faults acs.Faults
	// qps are the twin's quotas per API group once the run is planned.
	qps map[string]float64
	// planSettings replace plan.DefaultSettings (smaller batches).
	planSettings *plan.Settings
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	o.stack.Inventory = o.inventory
	if o.stack.Inventory == nil {
		o.stack.Inventory = kmstwin.DemoInventory()
	}
	if o.stack.Timing.Speed == 0 {
		o.stack.Timing = kmstwin.TaskTiming{Speed: 1e6}
	}
	st, err := stack.Start(o.stack)
	require.NoError(t, err)
	// Close in the background: http.Server.Shutdown waits up to 5 s for
	// connections a client dialled but never used (StateNew), which the
	// adapter's concurrent discovery leaves behind. The listeners close at
	// once either way.
	t.Cleanup(func() { go st.Close() })
	quotas := o.clientQuotas
	if quotas == nil {
		quotas = map[kms.Group]float64{}
	}
	keys := map[string]stack.Account{}
	var accounts []string
	for _, a := range st.Ready().Accounts {
		keys[a.ID] = a
		accounts = append(accounts, a.ID)
	}
	c, err := kms.New(kms.Config{
		Endpoints: st.Ready().KMS, Insecure: true,
		Credentials: func(account string) (credentials.Credential, error) {
			a, ok := keys[account]
			if !ok {
				return nil, errors.New("unknown account " + account)
			}
			typ := "access_key"
			return credentials.NewCredential(&credentials.Config{Type: &typ, AccessKeyId: &a.AccessKeyID, AccessKeySecret: &a.AccessKeySecret})
		},
		BaseBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxAttempts: 12,
		Quotas: quotas,
	})
	require.NoError(t, err)
	store, err := runstate.OpenDir(t.TempDir())
	require.NoError(t, err)
	ctx := t.Context()

	inv, err := discover.Run(ctx, c, discover.Options{RunID: runID, Accounts: accounts, SeedRegion: "cn-hangzhou",
		Now: func() time.Time { return time.Now().UTC() }})
	require.NoError(t, err)
	vs, err := verdict.Classify(*inv, verdict.DefaultSettings())
	require.NoError(t, err)
	ps := plan.DefaultSettings()
	if o.planSettings != nil {
		ps = *o.planSettings
	}
	p, err := plan.New(vs, ps)
	require.NoError(t, err)
	if o.lanes != nil {
		var keep []plan.LanePlan
		for _, lp := range p.Lanes {
			for _, l := range o.lanes {
				if lp.Lane == l {
					keep = append(keep, lp)
				}
			}
		}
		p.Lanes = keep
	}
	put := func(key string, v any) {
		_, err := runstate.MutateJSON(ctx, store, key, func(x *any, _ bool) error { *x = v; return nil })
		require.NoError(t, err)
	}
	put(statekeys.Inventory(runID), inv)
	put(statekeys.Plan(runID), p)

	st.KMS.SetFaults(o.faults)
	for g, q := range o.qps {
		st.KMS.Limiter().SetQPS(g, q)
	}
	e := &env{st: st, kms: c, tasks: c.Tasks(kms.TaskActions{}), store: store, clock: &testClock{}, audit: &recorder{}, plan: *p}
	e.eng = e.engine(store, o.config)
	for _, lp := range p.Lanes {
		if len(lp.Batches) > 0 {
			e.lanes = append(e.lanes, lp.Lane)
		}
	}
	require.NotEmpty(t, e.lanes, "the demo plan must have batches")
	return e
}

// engine returns a fresh engine (a new function instance) over store.
func (e *env) engine(store runstate.Store, cfg migration.Config) *migration.Engine {
	return &migration.Engine{Store: store, KMS: e.kms, Tasks: e.tasks, Audit: e.audit, Clock: e.clock, Config: cfg}
}

// drive runs Step until the run is done or rounds run out.
func (e *env) drive(t *testing.T, eng *migration.Engine, rounds int) migration.Progress {
	t.Helper()
	var p migration.Progress
	var err error
	for range rounds {
		p, err = eng.Step(t.Context(), runID)
		if err == nil && p.Done() {
			return p
		}
	}
	require.NoError(t, err)
	require.True(t, p.Done(), "run not done after %d rounds: %v", rounds, p.Active)
	return p
}

// planOf reads the stored plan.
func (e *env) planOf(t *testing.T) plan.Plan {
	t.Helper()
	p, _, err := runstate.GetJSON[plan.Plan](t.Context(), e.store, statekeys.Plan(runID))
	require.NoError(t, err)
	return p
}

// batch reads a batch state.
func (e *env) batch(t *testing.T, id string) migration.BatchState {
	t.Helper()
	s, _, err := runstate.GetJSON[migration.BatchState](t.Context(), e.store, statekeys.Batch(runID, id))
	require.NoError(t, err, id)
	return s
}

// checkOneTaskPerBatch: every task of the lanes is claimed by exactly one
// batch, and no batch has more than one.
func (e *env) checkOneTaskPerBatch(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	claimed := map[string]string{}
	for _, lp := range e.planOf(t).Lanes {
		for _, b := range lp.Batches {
			s, _, err := runstate.GetJSON[migration.BatchState](ctx, e.store, statekeys.Batch(runID, b.ID))
			if errors.Is(err, runstate.ErrNotFound) {
				continue
			}
			require.NoError(t, err)
			if s.TaskID != "" {
				prev, dup := claimed[s.TaskID]
				require.False(t, dup, "task %s claimed by %s and %s", s.TaskID, prev, b.ID)
				claimed[s.TaskID] = b.ID
			}
		}
	}
	for _, l := range e.lanes {
		tasks, err := e.tasks.ListTasks(ctx, l)
		require.NoError(t, err)
		for _, tk := range tasks {
			_, ok := claimed[tk.ID]
			require.True(t, ok, "task %s of lane %s belongs to no batch", tk.ID, l)
		}
	}
}

// checkHistories: every batch history of the run is a path through the
// transition table that ends in the batch's phase. It returns the phase
// changes the histories hold.
func (e *env) checkHistories(t *testing.T) map[[2]migration.Phase]bool {
	t.Helper()
	ctx := t.Context()
	keys, err := e.store.List(ctx, statekeys.BatchPrefix(runID))
	require.NoError(t, err)
	seen := map[[2]migration.Phase]bool{}
	for _, k := range keys {
		s, _, err := runstate.GetJSON[migration.BatchState](ctx, e.store, k)
		require.NoError(t, err)
		require.NoError(t, migration.ValidHistory(s.History), "%s: %+v", s.ID, s.History)
		require.Equal(t, s.Phase, s.History[len(s.History)-1].To, "%s: the history ends elsewhere than the phase", s.ID)
		for _, h := range s.History {
			seen[[2]migration.Phase{h.From, h.To}] = true
		}
	}
	return seen
}

// checkNoRotationLeftOff is the invariant every test ends with: no policy
// this project switched off is still off. Every ledger entry is restored
// (or verified) and KMS shows exactly its original policy.
func (e *env) checkNoRotationLeftOff(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	keys, err := e.store.List(ctx, statekeys.LedgerPrefix)
	require.NoError(t, err)
	for _, k := range keys {
		le, _, err := runstate.GetJSON[migration.LedgerEntry](ctx, e.store, k)
		require.NoError(t, err)
		require.False(t, le.Off(), "ledger entry %s still off (batch %s, last error %q)", k, le.BatchID, le.LastError)
		var got estate.Rotation
		if le.Kind == migration.KindKey {
			kk, err := e.kms.Key(ctx, le.Lane, le.ID)
			require.NoError(t, err)
			got = kk.Rotation
		} else {
			s, err := e.kms.Secret(ctx, le.Lane, estate.Secret{Name: le.ID})
			require.NoError(t, err)
			got = s.Rotation
		}
		require.True(t, got.Enabled, "%s: rotation off in KMS", k)
		require.Equal(t, le.Original.Interval, got.Interval, k)
	}
}

// ledgerCount counts ledger entries.
func (e *env) ledgerCount(t *testing.T) int {
	keys, err := e.store.List(t.Context(), statekeys.LedgerPrefix)
	require.NoError(t, err)
	return len(keys)
}

// testClock is the wall clock plus an offset tests can move.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().UTC().Add(time.Duration(c.offset.Load())) }
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// recorder is an audit.Logger keeping every record.
type recorder struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (r *recorder) Log(_ context.Context, rec audit.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
}
func (r *recorder) Flush(context.Context) error { return nil }
func (r *recorder) Stats() audit.Stats          { return audit.Stats{} }

func (r *recorder) actions() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, rec := range r.recs {
		out[rec.Action]++
	}
	return out
}

func (r *recorder) find(action, outcome string) []audit.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Record
	for _, rec := range r.recs {
		if rec.Action == action && (outcome == "" || rec.Outcome == outcome) {
			out = append(out, rec)
		}
	}
	return out
}

var _ audit.Logger = (*recorder)(nil)

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ledger reads one ledger entry.
func (e *env) ledger(t *testing.T, l estate.Lane, kind migration.ResourceKind, id string) migration.LedgerEntry {
	t.Helper()
	le, _, err := runstate.GetJSON[migration.LedgerEntry](t.Context(), e.store, statekeys.Ledger(l, kind, id))
	require.NoError(t, err)
	return le
}
