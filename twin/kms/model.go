package kms

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// Lane is the scope of every KMS call: the calling account and the region
// whose endpoint received the request. An account never sees another
// account's keys and secrets, nor another region's.
type Lane struct {
	Account string
	Region  string
}

// String renders the lane as "account/region".
func (l Lane) String() string { return l.Account + "/" + l.Region }

// Clock tells the twin what time it is. Migration tasks progress against it,
// so tests inject a ManualClock and never sleep.
type Clock interface {
	Now() time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now().UTC() }

// ManualClock is a Clock that only moves when told to. It is safe for
// concurrent use.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a clock stopped at now.
func NewManualClock(now time.Time) *ManualClock { return &ManualClock{now: now.UTC()} }

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and returns the new time.
func (c *ManualClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to t (forwards or backwards).
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t.UTC()
}

// TaskTiming decides how long a migration task runs in simulated time:
// (Base + PerResource × resources) / Speed. The zero value means the
// defaults (30 s, 2 s, 1).
type TaskTiming struct {
	Base        time.Duration
	PerResource time.Duration
	// Speed divides the duration; 10 makes tasks ten times faster.
	Speed float64
	// QueueDelay is how long a manual task stays Pending before it runs.
	QueueDelay time.Duration
}

// Duration is how long a task of n resources runs once started, in
// simulated time: (Base + PerResource × n) / Speed, with the defaults
// applied.
func (tt TaskTiming) Duration(n int) time.Duration { return tt.duration(n) }

func (tt TaskTiming) duration(n int) time.Duration {
	base, per, speed := tt.Base, tt.PerResource, tt.Speed
	if base == 0 {
		base = 30 * time.Second
	}
	if per == 0 {
		per = 2 * time.Second
	}
	if speed <= 0 {
		speed = 1
	}
	return time.Duration(float64(base+per*time.Duration(n)) / speed)
}

// Options configure a Twin. The zero value is usable.
type Options struct {
	// Clock drives migration tasks and dates; default wall clock.
	Clock Clock
	// Timing of migration tasks.
	Timing TaskTiming
	// MaxKeysPerTask and MaxSecretsPerTask bound one migration task;
	// default 50 each.
	MaxKeysPerTask    int
	MaxSecretsPerTask int
	// MaxResourcesPerTask, when not zero, also bounds keys plus secrets of
	// one task: the console's manual selection reads the limit as "up to
	// 50 keys and secrets in total"; zero models the headline rule only.
	MaxResourcesPerTask int
	// MinImageVersion is the oldest software instance image a task may
	// target; default "2.9.0".
	MinImageVersion string
	// MigrationActions renames the migration tool's RPC actions.
	MigrationActions MigrationActions
	// TaskAPIAbsent serves no migration task action at all: every one is
	// answered as the gateway answers an action it does not know (404
	// InvalidAction.NotFound), as a cloud without the task API would.
	TaskAPIAbsent bool
	// Keyring receives a long-term access key for every inventory account
	// (the inventory's fixed key when it gives one); nil means a new one.
	Keyring *acs.Keyring
	// Verifier authenticates requests; nil means acs.NewVerifier(Keyring)
	// on the wall clock (the SDKs sign with wall-clock timestamps).
	Verifier *acs.Verifier
	// Limiter throttles calls; nil means a new one with DefaultQuotas.
	Limiter *acs.Limiter
	// FreezeDuringTask models the weakest reading of "control-plane
	// operations are refused while a migration runs": while a task of an
	// instance is Pending or Running, UpdateRotationPolicy and
	// UpdateSecretRotationPolicy are refused (409
	// Rejected.MigrationInProgress) on every key and secret of every
	// account that may migrate into that instance (owner or shared with)
	// in its region, not only on the task's resources. Off: only the
	// task's own resources are frozen.
	FreezeDuringTask bool
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = wallClock{}
	}
	if o.MaxKeysPerTask == 0 {
		o.MaxKeysPerTask = 50
	}
	if o.MaxSecretsPerTask == 0 {
		o.MaxSecretsPerTask = 50
	}
	if o.MinImageVersion == "" {
		o.MinImageVersion = "2.9.0"
	}
	return o
}

// Twin holds the whole KMS estate of every account and region: keys,
// secrets, KMS 3.0 instances and migration tasks. Its operation methods are
// safe for concurrent use; Handler serves them per region over HTTP.
type Twin struct {
	opts Options

	mu        sync.RWMutex
	accounts  map[string]*account
	order     []string // account ids in inventory order
	regions   []string // every region of the estate, sorted
	instances map[string]*instance
	tasks     map[string]*task
	taskOrder []string
	taskSeq   int
	// active counts tasks not yet Completed so reads skip the write lock
	// when nothing is in flight.
	active atomic.Int64

	faults faults

	keyring  *acs.Keyring
	verifier *acs.Verifier
	limiter  *acs.Limiter
	srvMu    sync.Mutex
	servers  map[string]*acs.RPCServer
	faultCfg acs.Faults
	// instanceIDs lists every instance id, sorted.
	instanceIDs []string
}

type account struct {
	id      string
	regions map[string]*regionState
}

type regionState struct {
	keys      []*key // creation order
	keyByID   map[string]*key
	aliases   map[string]*key
	secrets   []*secret
	secretsBy map[string]*secret
}

func newRegionState() *regionState {
	return &regionState{keyByID: map[string]*key{}, aliases: map[string]*key{}, secretsBy: map[string]*secret{}}
}

type tag struct{ Key, Value string }

type keyVersion struct {
	id      string
	created time.Time
}

type key struct {
	id, arn            string
	aliases            []string
	tags               []tag
	description        string
	origin             string
	spec, usage        string
	protection         string
	state              string
	creator            string
	service            bool
	created            time.Time
	deleteDate         time.Time
	deletionProtection bool
	versions           []keyVersion
	rotation           bool
	interval           time.Duration
	lastRotation       time.Time
	dkms               string
}

type secretVersion struct {
	id      string
	stages  []string
	created time.Time
	data    string
}

type secret struct {
	name, arn    string
	secretType   string
	description  string
	encKeyID     string // empty: the system-managed key
	rotation     bool
	interval     time.Duration
	lastRotation time.Time
	extended     string
	created      time.Time
	updated      time.Time
	versions     []secretVersion
	tags         []tag
	dkms         string
	valueReads   atomic.Int64
}

type instance struct {
	id, name     string
	owner        string
	region       string
	hardware     bool
	image        string
	keyQuota     int
	secretQuota  int
	keysBase     int // keys created natively in the instance
	secretsBase  int
	secretNames  map[string]bool // names of secrets created natively in the instance
	status       string
	start, end   time.Time
	autoRenewal  bool
	sharedWith   []string
	spec, vpcNum int
	// keysUsed and secretsUsed count migrated resources.
	keysUsed, secretsUsed int
}

func (in *instance) visibleTo(acct string) bool {
	return in.owner == acct || slices.Contains(in.sharedWith, acct)
}

func (in *instance) usedKeys() int    { return in.keysBase + in.keysUsed }
func (in *instance) usedSecrets() int { return in.secretsBase + in.secretsUsed }

func (in *instance) productType() string {
	if in.hardware {
		return "hardware"
	}
	return "software"
}

// New builds a twin from a validated inventory.
func New(inv *Inventory, opts Options) (*Twin, error) {
	if err := inv.Validate(); err != nil {
		return nil, err
	}
	t := &Twin{
		opts:      opts.withDefaults(),
		accounts:  map[string]*account{},
		instances: map[string]*instance{},
		tasks:     map[string]*task{},
	}
	t.faults.failing = map[string]string{}
	t.servers = map[string]*acs.RPCServer{}
	t.keyring, t.verifier, t.limiter = opts.Keyring, opts.Verifier, opts.Limiter
	if t.keyring == nil {
		t.keyring = acs.NewKeyring()
	}
	if t.verifier == nil {
		t.verifier = acs.NewVerifier(t.keyring, acs.VerifierOptions{})
	}
	if t.limiter == nil {
		t.limiter = acs.NewLimiter(nil)
		for g, q := range DefaultQuotas() {
			t.limiter.SetQPS(g, q)
		}
	}
	for _, ai := range inv.Accounts {
		if _, err := t.keyring.AddAccount(ai.ID, ai.AccessKeyID, ai.AccessKeySecret); err != nil {
			return nil, fmt.Errorf("kms: register account %s: %w", ai.ID, err)
		}
	}
	now := t.opts.Clock.Now()
	regions := map[string]bool{}
	for _, ai := range inv.Accounts {
		t.order = append(t.order, ai.ID)
		a := &account{id: ai.ID, regions: map[string]*regionState{}}
		t.accounts[ai.ID] = a
		for rname, ri := range ai.Regions {
			regions[rname] = true
			for _, ii := range ri.Instances {
				t.instances[ii.KmsInstanceID] = ii.build(ai.ID, rname, now)
			}
		}
	}
	for _, ai := range inv.Accounts {
		a := t.accounts[ai.ID]
		for rname, ri := range ai.Regions {
			rs := newRegionState()
			a.regions[rname] = rs
			for _, ki := range ri.Keys {
				k := ki.build(ai.ID, rname)
				rs.keys = append(rs.keys, k)
				rs.keyByID[k.id] = k
				for _, al := range k.aliases {
					rs.aliases[al] = k
				}
				if in := t.instances[k.dkms]; in != nil {
					in.keysUsed++
				}
			}
			for _, si := range ri.Secrets {
				s := si.build(ai.ID, rname)
				rs.secrets = append(rs.secrets, s)
				rs.secretsBy[s.name] = s
				if in := t.instances[s.dkms]; in != nil {
					in.secretsUsed++
					// A migrated secret holds its name in the instance, as
					// one migrated by a task does (complete).
					in.secretNames[s.name] = true
				}
			}
		}
	}
	for r := range regions {
		t.regions = append(t.regions, r)
	}
	sort.Strings(t.regions)
	for id := range t.instances {
		t.instanceIDs = append(t.instanceIDs, id)
	}
	sort.Strings(t.instanceIDs)
	return t, nil
}

func (t *Twin) sortedInstanceIDs() []string { return t.instanceIDs }

// Regions returns every region of the estate, sorted. Each gets its own
// endpoint (Handler).
func (t *Twin) Regions() []string { return slices.Clone(t.regions) }

// Accounts returns the account ids of the estate in inventory order.
func (t *Twin) Accounts() []string { return slices.Clone(t.order) }

// Now returns the twin's clock time.
func (t *Twin) Now() time.Time { return t.opts.Clock.Now() }

// region returns the state of a lane, or nil when the account has no
// resources there (which reads like an empty region, as in the real
// service).
func (t *Twin) region(l Lane) *regionState {
	a := t.accounts[l.Account]
	if a == nil {
		return nil
	}
	return a.regions[l.Region]
}

// SecretValueReads reports how many times GetSecretValue returned the value
// of a secret, so tests can prove a caller never read secret material. It
// returns -1 when the secret does not exist.
func (t *Twin) SecretValueReads(l Lane, name string) int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	rs := t.region(l)
	if rs == nil || rs.secretsBy[name] == nil {
		return -1
	}
	return rs.secretsBy[name].valueReads.Load()
}

// lookupKey resolves a key id, ARN or alias within a lane.
func (rs *regionState) lookupKey(ref string) *key {
	if rs == nil {
		return nil
	}
	if k := rs.keyByID[ref]; k != nil {
		return k
	}
	if k := rs.aliases[ref]; k != nil {
		return k
	}
	for _, k := range rs.keys {
		if k.arn == ref {
			return k
		}
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtInterval(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return fmt.Sprintf("%ds", int64(d/time.Second))
}
