package discover_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/discover"
	"github.com/kmsmig/kmsmig/shared/estate"
)

// fakeLane is what the fake KMS holds in one lane, in the described form.
// Keys' aliases are served by Aliases, never by Key.
type fakeLane struct {
	keys      []estate.Key
	aliases   map[string][]string
	secrets   []estate.Secret
	instances []estate.Instance
}

// fakeSource is an in-memory discover.Source. A call named in fail returns
// that error instead of its answer; the hooks run before Key and Aliases
// answer and may block or fail them.
type fakeSource struct {
	lanes   map[estate.Lane]*fakeLane
	regions map[string][]string // account → regions listed through the seed
	fail    map[string]error    // failKey(op, lane or account, resource) → error

	onKey     func(ctx context.Context, l estate.Lane, id string) error
	onAliases func(ctx context.Context, l estate.Lane) error

	mu          sync.Mutex
	regionCalls []string // "account via"
	keyCalls    int
}

var _ discover.Source = (*fakeSource)(nil)

func failKey(op string, where fmt.Stringer, resource string) string {
	return op + " " + where.String() + " " + resource
}

type account string

func (a account) String() string { return string(a) }

func (f *fakeSource) failure(op string, where fmt.Stringer, resource string) error {
	return f.fail[failKey(op, where, resource)]
}

func (f *fakeSource) lane(l estate.Lane) *fakeLane {
	if fl, ok := f.lanes[l]; ok {
		return fl
	}
	return &fakeLane{}
}

func (f *fakeSource) KeyIDs(_ context.Context, l estate.Lane) ([]string, error) {
	if err := f.failure("ListKeys", l, ""); err != nil {
		return nil, err
	}
	var ids []string
	for _, k := range slices.Backward(f.lane(l).keys) { // not the canonical order
		ids = append(ids, k.ID)
	}
	return ids, nil
}

func (f *fakeSource) Aliases(ctx context.Context, l estate.Lane) (map[string][]string, error) {
	if f.onAliases != nil {
		if err := f.onAliases(ctx, l); err != nil {
			return nil, err
		}
	}
	if err := f.failure("ListAliases", l, ""); err != nil {
		return nil, err
	}
	return maps.Clone(f.lane(l).aliases), nil
}

func (f *fakeSource) Key(ctx context.Context, l estate.Lane, id string) (estate.Key, error) {
	f.mu.Lock()
	f.keyCalls++
	f.mu.Unlock()
	if f.onKey != nil {
		if err := f.onKey(ctx, l, id); err != nil {
			return estate.Key{}, err
		}
	}
	if err := f.failure("DescribeKey", l, id); err != nil {
		return estate.Key{}, err
	}
	for _, k := range f.lane(l).keys {
		if k.ID == id {
			return k, nil
		}
	}
	return estate.Key{}, notFound("DescribeKey")
}

func (f *fakeSource) SecretNames(_ context.Context, l estate.Lane) ([]estate.Secret, error) {
	if err := f.failure("ListSecrets", l, ""); err != nil {
		return nil, err
	}
	var out []estate.Secret
	for _, s := range slices.Backward(f.lane(l).secrets) {
		out = append(out, estate.Secret{Name: s.Name, Type: s.Type}) // the listing's short form
	}
	return out, nil
}

func (f *fakeSource) Secret(_ context.Context, l estate.Lane, s estate.Secret) (estate.Secret, error) {
	if err := f.failure("DescribeSecret", l, s.Name); err != nil {
		return estate.Secret{}, err
	}
	for _, full := range f.lane(l).secrets {
		if full.Name == s.Name {
			return full, nil
		}
	}
	return estate.Secret{}, notFound("DescribeSecret")
}

func (f *fakeSource) InstanceIDs(_ context.Context, l estate.Lane) (map[string]string, error) {
	if err := f.failure("ListKmsInstances", l, ""); err != nil {
		return nil, err
	}
	ids := map[string]string{}
	for _, in := range f.lane(l).instances {
		ids[in.ID] = in.Owner
	}
	return ids, nil
}

func (f *fakeSource) Instance(_ context.Context, l estate.Lane, id, owner string) (estate.Instance, error) {
	if err := f.failure("GetKmsInstance", l, id); err != nil {
		return estate.Instance{}, err
	}
	for _, in := range f.lane(l).instances {
		if in.ID == id {
			if in.Owner != owner {
				return estate.Instance{}, fmt.Errorf("instance %s asked with owner %q, listed with %q", id, owner, in.Owner)
			}
			return in, nil
		}
	}
	return estate.Instance{}, notFound("GetKmsInstance")
}

func (f *fakeSource) Regions(_ context.Context, acct, via string) ([]string, error) {
	f.mu.Lock()
	f.regionCalls = append(f.regionCalls, acct+" "+via)
	f.mu.Unlock()
	if err := f.failure("DescribeRegions", account(acct), ""); err != nil {
		return nil, err
	}
	return f.regions[acct], nil
}

func notFound(action string) error {
	return &cloud.APIError{Service: "kms", Action: action, Status: 404, Code: "Forbidden.ResourceNotFound"}
}

func unavailable(action string) error {
	return &cloud.APIError{Service: "kms", Action: action, Status: 503, Code: "ServiceUnavailable", Message: "try later"}
}

// laneEstate builds a lane holding n keys, n secrets and one instance, each
// named after the lane so that a resource in the wrong lane shows.
func laneEstate(l estate.Lane, n int) *fakeLane {
	fl := &fakeLane{aliases: map[string][]string{}}
	for i := range n {
		id := fmt.Sprintf("key-%s-%s-%02d", l.Account, l.Region, i)
		fl.keys = append(fl.keys, estate.Key{ID: id, Origin: estate.OriginAliyunKMS, State: estate.KeyEnabled, VersionCount: i + 1})
		fl.aliases[id] = []string{"alias/b-" + id, "alias/a-" + id}
		fl.secrets = append(fl.secrets, estate.Secret{
			Name: fmt.Sprintf("secret-%s-%02d", l.Region, i), Type: estate.SecretGeneric, EncryptionKeyID: id,
			VersionCount: 2, StageLabels: []string{"ACSPrevious", "ACSCurrent"},
		})
	}
	fl.instances = []estate.Instance{{
		ID: "kst-" + l.Account + "-" + l.Region, Region: l.Region, Kind: estate.InstanceSoftware,
		KeyQuota: 1000, SecretQuota: 100, Owner: "owner-" + l.Account, SharedWith: []string{"z", "a"},
	}}
	return fl
}

// wantLane is the lane inventory discovery must produce from fl when every
// call succeeds: the described resources, aliases attached, normalized.
func wantLane(l estate.Lane, fl *fakeLane) estate.LaneInventory {
	li := estate.LaneInventory{Lane: l, Secrets: slices.Clone(fl.secrets), Instances: slices.Clone(fl.instances)}
	for _, k := range fl.keys {
		k.Aliases = slices.Clone(fl.aliases[k.ID])
		li.Keys = append(li.Keys, k)
	}
	inv := estate.Inventory{Lanes: []estate.LaneInventory{li}}
	inv.Normalize()
	return inv.Lanes[0]
}

func newSource(lanes ...estate.Lane) *fakeSource {
	f := &fakeSource{lanes: map[estate.Lane]*fakeLane{}, regions: map[string][]string{}, fail: map[string]error{}}
	for i, l := range lanes {
		f.lanes[l] = laneEstate(l, 3+i)
	}
	return f
}

func lane(a, r string) estate.Lane { return estate.Lane{Account: a, Region: r} }

func TestRunDiscoversEveryLane(t *testing.T) {
	lanes := []estate.Lane{lane("acct-a", "cn-beijing"), lane("acct-a", "cn-hangzhou"), lane("acct-b", "cn-beijing"), lane("acct-b", "cn-hangzhou")}
	src := newSource(lanes...)
	shanghai := time.FixedZone("CST", 8*3600)
	now := time.Date(2025, 3, 30, 9, 0, 0, 0, shanghai)

	inv, err := discover.Run(t.Context(), src, discover.Options{
		RunID:    "run-1",
		Accounts: []string{"acct-b", "acct-a", "acct-b"}, // repeated and unsorted
		Regions:  []string{"cn-hangzhou", "cn-beijing"},
		Workers:  2,
		Now:      func() time.Time { return now },
	})
	require.NoError(t, err)

	want := &estate.Inventory{RunID: "run-1", DiscoveredAt: now.UTC()}
	for _, l := range lanes {
		want.Lanes = append(want.Lanes, wantLane(l, src.lanes[l]))
	}
	require.Equal(t, want, inv)
	require.Empty(t, src.regionCalls, "regions were given: none is listed")
	require.NoError(t, inv.Validate())
}

func TestRunListsRegionsThroughTheSeed(t *testing.T) {
	src := newSource(lane("acct-a", "cn-hangzhou"), lane("acct-a", "cn-shanghai"), lane("acct-b", "cn-beijing"))
	src.regions = map[string][]string{
		"acct-a": {"cn-shanghai", "cn-hangzhou", "cn-shanghai"},
		"acct-b": {"cn-beijing"},
	}
	inv, err := discover.Run(t.Context(), src, discover.Options{Accounts: []string{"acct-b", "acct-a"}, SeedRegion: "cn-hangzhou"})
	require.NoError(t, err)

	var got []estate.Lane
	for _, li := range inv.Lanes {
		got = append(got, li.Lane)
		require.Empty(t, li.Errors, "lane %s", li.Lane)
		require.Len(t, li.Keys, len(src.lanes[li.Lane].keys), "lane %s", li.Lane)
	}
	require.Equal(t, []estate.Lane{lane("acct-a", "cn-hangzhou"), lane("acct-a", "cn-shanghai"), lane("acct-b", "cn-beijing")}, got)
	require.ElementsMatch(t, []string{"acct-a cn-hangzhou", "acct-b cn-hangzhou"}, src.regionCalls)
}

func TestRunRefusesWhatPreventsAWholeRun(t *testing.T) {
	tests := []struct {
		name    string
		opts    discover.Options
		fail    map[string]error
		wantErr string
		wantIs  error
	}{
		{name: "no account", opts: discover.Options{Regions: []string{"cn-hangzhou"}},
			wantErr: "discover: options: accounts: at least one account is required"},
		{name: "no region and no seed", opts: discover.Options{Accounts: []string{"acct-a"}},
			wantErr: "discover: options: regions: give regions, or a seed region to list them from"},
		{name: "account with a slash", opts: discover.Options{Accounts: []string{"acct/a"}, Regions: []string{"cn-hangzhou"}},
			wantErr: `discover: options: estate: lane "acct/a/cn-hangzhou": account and region must not contain '/'`},
		{name: "empty region", opts: discover.Options{Accounts: []string{"acct-a"}, Regions: []string{""}},
			wantErr: `discover: options: estate: lane "acct-a/": account and region must both be set`},
		{name: "region listing fails",
			opts:    discover.Options{Accounts: []string{"acct-a", "acct-b"}, SeedRegion: "cn-hangzhou"},
			fail:    map[string]error{failKey("DescribeRegions", account("acct-b"), ""): unavailable("DescribeRegions")},
			wantErr: "discover: list regions of account acct-b: kms DescribeRegions: ServiceUnavailable (HTTP 503): try later",
			wantIs:  cloud.ErrTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newSource(lane("acct-a", "cn-hangzhou"))
			src.regions = map[string][]string{"acct-a": {"cn-hangzhou"}, "acct-b": {"cn-hangzhou"}}
			maps.Copy(src.fail, tt.fail)
			inv, err := discover.Run(t.Context(), src, tt.opts)
			require.EqualError(t, err, tt.wantErr)
			if tt.wantIs != nil {
				require.ErrorIs(t, err, tt.wantIs)
			}
			require.Nil(t, inv)
			require.Zero(t, src.keyCalls, "nothing is described before the lanes are known")
		})
	}
}

func TestRunRecordsFailuresOnTheirLane(t *testing.T) {
	partial, unlisted, clean := lane("acct-a", "cn-hangzhou"), lane("acct-a", "cn-shanghai"), lane("acct-b", "cn-hangzhou")
	src := newSource(partial, unlisted, clean)
	fp := src.lanes[partial]
	k0, k1, k2 := fp.keys[0].ID, fp.keys[1].ID, fp.keys[2].ID
	s0, s1 := fp.secrets[0].Name, fp.secrets[1].Name
	gone := estate.Instance{ID: "kst-gone", Owner: "acct-a"}
	fp.instances = append(fp.instances, gone)
	src.fail = map[string]error{
		// partial: some describe calls fail, some resources are gone.
		failKey("ListAliases", partial, ""):                    unavailable("ListAliases"),
		failKey("DescribeKey", partial, k0):                    unavailable("DescribeKey"),
		failKey("DescribeKey", partial, k1):                    notFound("DescribeKey"),
		failKey("DescribeSecret", partial, s0):                 errors.New("connection reset"),
		failKey("DescribeSecret", partial, s1):                 notFound("DescribeSecret"),
		failKey("GetKmsInstance", partial, fp.instances[0].ID): unavailable("GetKmsInstance"),
		failKey("GetKmsInstance", partial, gone.ID):            notFound("GetKmsInstance"),
		// unlisted: every listing fails.
		failKey("ListKeys", unlisted, ""):         unavailable("ListKeys"),
		failKey("ListSecrets", unlisted, ""):      unavailable("ListSecrets"),
		failKey("ListKmsInstances", unlisted, ""): unavailable("ListKmsInstances"),
	}
	var mu sync.Mutex
	var last discover.Progress
	inv, err := discover.Run(t.Context(), src, discover.Options{
		Accounts: []string{"acct-a", "acct-b"}, Regions: []string{"cn-hangzhou", "cn-shanghai"},
		Progress: func(p discover.Progress) {
			mu.Lock()
			defer mu.Unlock()
			if p.LanesDone == p.Lanes {
				last = p
			}
		},
	})
	require.NoError(t, err, "failures of lanes and resources are not fatal")
	require.Len(t, inv.Lanes, 4)

	got, ok := inv.Lane(partial)
	require.True(t, ok)
	wantKey := fp.keys[2] // described, without aliases: their listing failed
	require.Equal(t, []estate.Key{wantKey}, got.Keys)
	require.Equal(t, k2, got.Keys[0].ID)
	require.Len(t, got.Secrets, len(fp.secrets)-2)
	require.Empty(t, got.Instances)
	msg := func(action string) string { return unavailable(action).Error() }
	require.Equal(t, []estate.DiscoveryError{
		{Op: "DescribeKey", Resource: k0, Code: "ServiceUnavailable", Message: msg("DescribeKey")},
		{Op: "DescribeSecret", Resource: s0, Message: "connection reset"},
		{Op: "GetKmsInstance", Resource: fp.instances[0].ID, Code: "ServiceUnavailable", Message: msg("GetKmsInstance")},
		{Op: "ListAliases", Code: "ServiceUnavailable", Message: msg("ListAliases")},
	}, got.Errors, "resources deleted since listing are skipped, not errors")

	got, ok = inv.Lane(unlisted)
	require.True(t, ok)
	require.Equal(t, estate.LaneInventory{Lane: unlisted, Errors: []estate.DiscoveryError{
		{Op: "ListKeys", Code: "ServiceUnavailable", Message: msg("ListKeys")},
		{Op: "ListKmsInstances", Code: "ServiceUnavailable", Message: msg("ListKmsInstances")},
		{Op: "ListSecrets", Code: "ServiceUnavailable", Message: msg("ListSecrets")},
	}}, *got)

	got, ok = inv.Lane(clean)
	require.True(t, ok)
	require.Equal(t, wantLane(clean, src.lanes[clean]), *got, "other lanes are untouched")

	require.Equal(t, int64(7), last.Errors, "every recorded failure is counted")
}

func TestRunReportsProgress(t *testing.T) {
	lanes := []estate.Lane{lane("acct-a", "cn-hangzhou"), lane("acct-a", "cn-shanghai"), lane("acct-b", "cn-hangzhou")}
	src := newSource(lanes...) // 3, 4 and 5 keys and as many secrets
	src.fail[failKey("DescribeKey", lanes[0], src.lanes[lanes[0]].keys[0].ID)] = unavailable("DescribeKey")
	var mu sync.Mutex
	var calls []discover.Progress
	_, err := discover.Run(t.Context(), src, discover.Options{
		Accounts: []string{"acct-a", "acct-b"}, Regions: []string{"cn-hangzhou", "cn-shanghai"},
		Progress: func(p discover.Progress) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, p)
		},
	})
	require.NoError(t, err)
	// acct-b/cn-shanghai holds nothing, but is a lane all the same.
	final := discover.Progress{Lanes: 4, LanesDone: 4, Listed: 2 * (3 + 4 + 5), Described: 2*(3+4+5) - 1, Errors: 1}
	require.Contains(t, calls, final, "the last lane to finish reports the totals")
	require.GreaterOrEqual(t, len(calls), int(final.Described)+final.Lanes, "one call per described resource and per lane")
	for _, p := range calls {
		require.Equal(t, final.Lanes, p.Lanes)
		require.LessOrEqual(t, p.LanesDone, final.LanesDone)
		require.LessOrEqual(t, p.Described, p.Listed)
		require.LessOrEqual(t, p.Described, final.Described)
		require.LessOrEqual(t, p.Errors, final.Errors)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	l := lane("acct-a", "cn-hangzhou")
	src := newSource(l)
	src.lanes[l] = laneEstate(l, 50)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	src.onKey = func(ctx context.Context, _ estate.Lane, _ string) error {
		cancel()
		return ctx.Err()
	}
	var mu sync.Mutex
	var errs int64
	inv, err := discover.Run(ctx, src, discover.Options{
		Accounts: []string{"acct-a"}, Regions: []string{"cn-hangzhou"}, Workers: 1,
		Progress: func(p discover.Progress) {
			mu.Lock()
			defer mu.Unlock()
			errs = max(errs, p.Errors)
		},
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, inv)
	require.Equal(t, 1, src.keyCalls, "the pool stops once the context ends")
	require.Zero(t, errs, "a call ended by the context is not a lane failure")
}

func TestRunDescribesOnAPoolOfWorkers(t *testing.T) {
	tests := []struct {
		name        string
		workers     int
		keys        int
		concurrency int
	}{
		{"as configured", 4, 12, 4},
		{"default 16", 0, 40, 16},
		{"no more workers than keys", 8, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := lane("acct-a", "cn-hangzhou")
			src := newSource()
			src.lanes[l] = laneEstate(l, tt.keys)
			// Each describe waits until the pool has tt.concurrency calls in
			// flight: a smaller pool never gets there and its calls fail.
			var mu sync.Mutex
			inFlight, most := 0, 0
			full := make(chan struct{})
			var fill sync.Once
			src.onKey = func(context.Context, estate.Lane, string) error {
				mu.Lock()
				inFlight++
				most = max(most, inFlight)
				if inFlight == tt.concurrency {
					fill.Do(func() { close(full) })
				}
				mu.Unlock()
				defer func() {
					mu.Lock()
					inFlight--
					mu.Unlock()
				}()
				select {
				case <-full:
					return nil
				case <-time.After(5 * time.Second):
					return errors.New("the pool never ran enough describe calls at once")
				}
			}
			inv, err := discover.Run(t.Context(), src, discover.Options{
				Accounts: []string{"acct-a"}, Regions: []string{"cn-hangzhou"}, Workers: tt.workers,
			})
			require.NoError(t, err)
			require.Empty(t, inv.Lanes[0].Errors)
			require.Len(t, inv.Lanes[0].Keys, tt.keys)
			require.Equal(t, tt.concurrency, most)
		})
	}
}

// Lanes start as others finish: never more than ParallelLanes in
// progress, and every lane discovered.
func TestRunDiscoversLanesOnAPoolOfWorkers(t *testing.T) {
	tests := []struct {
		name        string
		parallel    int
		lanes       int
		concurrency int
	}{
		{"as configured", 3, 10, 3},
		{"default", 0, discover.DefaultParallelLanes + 6, discover.DefaultParallelLanes},
		{"no more workers than lanes", 8, 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lanes []estate.Lane
			var regions []string
			for i := range tt.lanes {
				regions = append(regions, fmt.Sprintf("cn-r%03d", i))
				lanes = append(lanes, lane("acct-a", regions[i]))
			}
			src := newSource(lanes...)
			// A lane ends only after its alias listing: each listing waits
			// until tt.concurrency lanes are listing at once, which a
			// smaller pool never reaches (its listings then fail), and then
			// a little longer, for a larger pool's surplus lanes to show.
			var mu sync.Mutex
			inProgress, most := 0, 0
			full := make(chan struct{})
			var fill sync.Once
			src.onAliases = func(context.Context, estate.Lane) error {
				mu.Lock()
				inProgress++
				most = max(most, inProgress)
				if inProgress == tt.concurrency {
					fill.Do(func() { close(full) })
				}
				mu.Unlock()
				defer func() {
					mu.Lock()
					inProgress--
					mu.Unlock()
				}()
				select {
				case <-full:
					time.Sleep(20 * time.Millisecond)
					return nil
				case <-time.After(5 * time.Second):
					return errors.New("the pool never ran enough lanes at once")
				}
			}
			inv, err := discover.Run(t.Context(), src, discover.Options{
				Accounts: []string{"acct-a"}, Regions: regions, ParallelLanes: tt.parallel,
			})
			require.NoError(t, err)
			require.Len(t, inv.Lanes, tt.lanes)
			for i, li := range inv.Lanes {
				require.Equal(t, wantLane(lanes[i], src.lanes[lanes[i]]), li)
			}
			require.Equal(t, tt.concurrency, most)
		})
	}
}

// The keys' describe calls must not wait for the alias listing (both share
// one quota): the fake's listing answers only after a key was described.
func TestRunListsAliasesWhileDescribingKeys(t *testing.T) {
	l := lane("acct-a", "cn-hangzhou")
	src := newSource(l)
	described := make(chan struct{})
	var once sync.Once
	src.onKey = func(context.Context, estate.Lane, string) error {
		once.Do(func() { close(described) })
		return nil
	}
	src.onAliases = func(context.Context, estate.Lane) error {
		select {
		case <-described:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("no key was described while the aliases were listed")
		}
	}
	inv, err := discover.Run(t.Context(), src, discover.Options{Accounts: []string{"acct-a"}, Regions: []string{"cn-hangzhou"}})
	require.NoError(t, err)
	require.Equal(t, wantLane(l, src.lanes[l]), inv.Lanes[0])
}

func TestRunIsDeterministic(t *testing.T) {
	lanes := []estate.Lane{lane("acct-a", "cn-hangzhou"), lane("acct-b", "cn-hangzhou"), lane("acct-b", "cn-shanghai")}
	now := time.Date(2025, 3, 30, 1, 0, 0, 0, time.UTC)
	var encodings []string
	for _, workers := range []int{1, 3, 16} {
		src := newSource(lanes...)
		for _, l := range lanes {
			fl := src.lanes[l]
			for i := range 5 {
				fl.instances = append(fl.instances, estate.Instance{ID: fmt.Sprintf("kst-%d", 9-i), Owner: l.Account})
			}
		}
		src.fail[failKey("DescribeKey", lanes[1], src.lanes[lanes[1]].keys[1].ID)] = unavailable("DescribeKey")
		src.fail[failKey("ListAliases", lanes[1], "")] = unavailable("ListAliases")
		inv, err := discover.Run(t.Context(), src, discover.Options{
			RunID: "r", Accounts: []string{"acct-b", "acct-a"}, Regions: []string{"cn-shanghai", "cn-hangzhou"},
			Workers: workers, Now: func() time.Time { return now },
		})
		require.NoError(t, err)
		b, err := json.Marshal(inv)
		require.NoError(t, err)
		encodings = append(encodings, string(b))
	}
	require.Equal(t, encodings[0], encodings[1])
	require.Equal(t, encodings[0], encodings[2])
}

// probeFunc is a discover.TaskProbe answering from a function.
type probeFunc func(l estate.Lane) error

func (f probeFunc) ProbeTasks(_ context.Context, l estate.Lane) (string, error) {
	return "ListMigrationTasks", f(l)
}

// The task API is probed once per lane when a probe is given: available,
// or unavailable with the provider's code and whether the refusal is
// permanent. A failed probe is not a discovery error. Without a probe (the
// observe backend) nothing is recorded.
func TestRunProbesTheTaskAPIPerLane(t *testing.T) {
	ok, absent, denied, flaky := lane("acct-a", "cn-hangzhou"), lane("acct-a", "cn-beijing"), lane("acct-b", "cn-hangzhou"), lane("acct-b", "cn-beijing")
	src := newSource(ok, absent, denied, flaky)
	var mu sync.Mutex
	calls := map[estate.Lane]int{}
	probe := probeFunc(func(l estate.Lane) error {
		mu.Lock()
		calls[l]++
		mu.Unlock()
		switch l {
		case absent:
			return fmt.Errorf("kms: list migration tasks in %s: %w", l, &cloud.APIError{Status: 404, Code: "InvalidAction.NotFound", Message: "Specified api is not found"})
		case denied:
			return &cloud.APIError{Status: 403, Code: "Forbidden.RAM", Message: "not authorized"}
		case flaky:
			return &cloud.APIError{Status: 503, Code: "ServiceUnavailable"}
		}
		return nil
	})
	inv, err := discover.Run(t.Context(), src, discover.Options{Accounts: []string{"acct-a", "acct-b"}, Regions: []string{"cn-hangzhou", "cn-beijing"}, TaskAPI: probe})
	require.NoError(t, err)
	got := map[estate.Lane]estate.TaskAPIProbe{}
	for _, li := range inv.Lanes {
		require.NotNil(t, li.TaskAPI, "%s probed", li.Lane)
		require.Empty(t, li.Errors, "%s: a failed probe is no discovery error", li.Lane)
		p := *li.TaskAPI
		p.Message = ""
		got[li.Lane] = p
	}
	require.Equal(t, map[estate.Lane]estate.TaskAPIProbe{
		ok:     {Action: "ListMigrationTasks", Available: true},
		absent: {Action: "ListMigrationTasks", Code: "InvalidAction.NotFound", Permanent: true},
		denied: {Action: "ListMigrationTasks", Code: "Forbidden.RAM", Permanent: true},
		flaky:  {Action: "ListMigrationTasks", Code: "ServiceUnavailable"},
	}, got)
	require.Equal(t, map[estate.Lane]int{ok: 1, absent: 1, denied: 1, flaky: 1}, calls)

	inv, err = discover.Run(t.Context(), src, discover.Options{Accounts: []string{"acct-a"}, Regions: []string{"cn-hangzhou"}})
	require.NoError(t, err)
	require.Nil(t, inv.Lanes[0].TaskAPI, "no probe: nothing recorded")
}

// Explicit lanes are discovered as given (not as accounts × regions), and
// each is handed to LaneDone, in its final form, as soon as it is done.
func TestRunDiscoversGivenLanesAndHandsEachOver(t *testing.T) {
	lanes := []estate.Lane{lane("acct-b", "cn-beijing"), lane("acct-a", "cn-hangzhou"), lane("acct-b", "cn-beijing")}
	src := newSource(lane("acct-a", "cn-hangzhou"), lane("acct-a", "cn-beijing"), lane("acct-b", "cn-beijing"))
	var mu sync.Mutex
	done := map[estate.Lane]estate.LaneInventory{}
	inv, err := discover.Run(t.Context(), src, discover.Options{Lanes: lanes, ParallelLanes: 1,
		LaneDone: func(li estate.LaneInventory) {
			mu.Lock()
			defer mu.Unlock()
			_, again := done[li.Lane]
			require.False(t, again, "lane %s handed over twice", li.Lane)
			done[li.Lane] = li
		}})
	require.NoError(t, err)
	require.Len(t, inv.Lanes, 2, "acct-a/cn-beijing is not a given lane; the repeat is dropped")
	require.Len(t, done, 2)
	for _, li := range inv.Lanes {
		require.Equal(t, wantLane(li.Lane, src.lanes[li.Lane]), li)
		require.Equal(t, li, done[li.Lane])
	}
	_, err = discover.Run(t.Context(), src, discover.Options{Lanes: []estate.Lane{{Account: "acct-a"}}})
	require.ErrorContains(t, err, "discover: options:")
}
