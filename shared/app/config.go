package app

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
)

// Config is every setting of the functions. Each field names its
// environment variable; LoadConfig documents the defaults.
type Config struct {
	// Accounts to migrate (KMSMIG_ACCOUNTS, comma-separated UIDs). Empty
	// means the function's own account only.
	Accounts []string
	// RoleArns maps an account to the RAM role the function assumes in it
	// (KMSMIG_ROLE_ARNS, account=acs:ram::<account>:role/<name>,...). The
	// function's own account needs none.
	RoleArns map[string]string
	// Regions to migrate (KMSMIG_REGIONS, comma-separated). Empty means
	// every region DescribeRegions lists.
	Regions []string
	// SeedRegion is where regions are listed from (KMSMIG_SEED_REGION;
	// default the function's region).
	SeedRegion string
	// KMSEndpoints overrides KMS endpoints per region
	// (KMSMIG_KMS_ENDPOINTS, region=host[:port],...).
	KMSEndpoints map[string]string
	// STSEndpoint overrides the STS endpoint (KMSMIG_STS_ENDPOINT).
	STSEndpoint string
	// Insecure sends plain HTTP to overridden endpoints (KMSMIG_INSECURE,
	// true only for the offline twins).
	Insecure bool
	// State is where run state lives (KMSMIG_STATE): dir:<path> or
	// oss://<bucket>[/<prefix>]. Default dir:/tmp/kmsmig-state (local runs
	// only: Function Compute instances do not share /tmp).
	State string
	// OSSEndpoint and OSSRegion locate the state bucket (KMSMIG_OSS_ENDPOINT,
	// KMSMIG_OSS_REGION; default the function's region and its public
	// endpoint).
	OSSEndpoint, OSSRegion string
	// Targets names the target instance per lane (KMSMIG_TARGETS,
	// account/region=kst-...,...).
	Targets map[estate.Lane]string
	// Audit selects where the audit trail goes (KMSMIG_AUDIT): "auto"
	// (SLS when a project is known — configured or the function's own log
	// project — else JSON lines on stdout), "sls", "stdout" or "off".
	Audit string
	// SLSEndpoint, SLSProject and SLSLogstore locate the audit logstore
	// (KMSMIG_SLS_ENDPOINT, default <region>.log.aliyuncs.com;
	// KMSMIG_SLS_PROJECT and KMSMIG_SLS_LOGSTORE, default the function's
	// own log project and logstore).
	SLSEndpoint, SLSProject, SLSLogstore string
	// AlertWebhook receives alerts as JSON (KMSMIG_ALERT_WEBHOOK);
	// DingTalkWebhook and DingTalkSecret send them to a DingTalk robot
	// (KMSMIG_DINGTALK_WEBHOOK, KMSMIG_DINGTALK_SECRET). None: alerts are
	// only ALERT records of the audit trail.
	AlertWebhook, DingTalkWebhook, DingTalkSecret string
	// AlertPeriod is how long an alert stays silent after it was sent
	// (KMSMIG_ALERT_PERIOD, a Go duration of at least 1m, default 1h; 0 is
	// refused: de-duplication cannot be turned off).
	AlertPeriod time.Duration
	// Window is the off-hours window in which tasks may run
	// (KMSMIG_WINDOW, "HH:MM-HH:MM" in Timezone; empty: always open).
	Window *DailyWindow
	// Timezone of the window (KMSMIG_TIMEZONE, IANA name, default UTC).
	Timezone *time.Location
	// Automatic submits tasks with the provider's automatic method and a
	// migration time instead of manual ones (KMSMIG_METHOD=automatic;
	// default manual).
	Automatic bool
	// MaxAttempts bounds how often a resource is tried (KMSMIG_MAX_ATTEMPTS,
	// 1..10, default 3).
	MaxAttempts int
	// StallAfter flags a task without progress (KMSMIG_STALL_AFTER, default 30m).
	StallAfter time.Duration
	// QPS overrides the client-side quotas per API group and account and
	// region (KMSMIG_QPS, group=N,..., groups key-read, key-write, tags,
	// secret-read, secret-write, instance-read, migration; default the
	// shared gateway's documented quotas). Raise them only after Alibaba
	// Cloud raised the account's quota.
	QPS map[string]float64
	// PollWait is how long a poll invocation may wait for a task that is
	// running to complete, so the next batch starts at once
	// (KMSMIG_POLL_WAIT, default 0: no wait; s.yaml sets 65s, a little over
	// the poll timer's minute, so that one poll's wait overlaps the next).
	PollWait time.Duration
	// TaskActions are the provider's migration-task operation names
	// (KMSMIG_TASK_ACTIONS, "create,describe,list"; default the twin's).
	TaskActions [3]string
	// FunctionMigrate and FunctionRotate are the functions chained by
	// asynchronous invocation (KMSMIG_FUNCTION_MIGRATE, KMSMIG_FUNCTION_ROTATE;
	// default kmsmig-migrate and kmsmig-rotate; "-" turns chaining off).
	FunctionMigrate, FunctionRotate string
	// Backend is how batches move (KMSMIG_BACKEND): "task" (default)
	// creates the provider's migration tasks; "observe" publishes each
	// batch for an operator to start in the console and detects the moves
	// by observation.
	Backend string
	// ObserveTimeout is how long the observe backend watches a published
	// batch before reporting what has not moved (KMSMIG_OBSERVE_TIMEOUT,
	// 1m..720h, default 24h).
	ObserveTimeout time.Duration
	// FunctionDiscover is the discover function itself, which a
	// coordinating discover invokes once per group of lanes
	// (KMSMIG_FUNCTION_DISCOVER, default kmsmig-discover).
	FunctionDiscover string
	// DiscoverLanesPerInvocation is the most lanes one discover invocation
	// inventories (KMSMIG_DISCOVER_LANES_PER_INVOCATION, 1..1000; unset: no
	// limit). Above it discover coordinates: it hands groups of that many
	// lanes to further discover invocations, and the last of them to
	// finish plans the whole estate.
	DiscoverLanesPerInvocation int
	// FunctionPoll is the poll function itself, which a coordinating poll
	// invokes once per group of lanes (KMSMIG_FUNCTION_POLL, default
	// kmsmig-poll); a coordinating migrate invokes FunctionMigrate.
	FunctionPoll string
	// StepLanesPerInvocation is the most lanes one migrate or poll
	// invocation steps (KMSMIG_STEP_LANES_PER_INVOCATION,
	// 1..MaxLanesPerInvocation; unset: no limit, one invocation steps every
	// lane of the run). Above it a migrate or poll of the whole run
	// coordinates: it hands groups of lanes, named in the event, to
	// asynchronous invocations of its own function (StepGroupEvent).
	StepLanesPerInvocation int
	// FanoutInvocations is the most group invocations one coordinating
	// discover, migrate or poll hands out per step
	// (KMSMIG_FANOUT_INVOCATIONS, 1..MaxFanoutInvocations, default
	// DefaultFanoutInvocations). When lanes ÷ lanes-per-invocation would
	// need more, the groups grow to ceil(lanes ÷ FanoutInvocations).
	FanoutInvocations int
	// FCEndpoint is the Function Compute endpoint for chaining
	// (KMSMIG_FC_ENDPOINT; default <account>.<region>.fc.aliyuncs.com).
	FCEndpoint string
	// Clock is where the functions read the time from (KMSMIG_CLOCK):
	// empty for the wall clock, or file:<path> naming the simulated clock's
	// mapping that the FC twin of a rehearsal keeps up to date
	// (shared/wiring.NewClock). Rehearsals only; never set in production.
	Clock string
	// Approval is whether a person must approve a plan before migrate
	// starts it (KMSMIG_APPROVAL): "auto" (default: migrate starts every
	// plan) or "required" (s.yaml: migrate switches nothing off and submits
	// nothing until an approval of the plan's digest is in the run-state
	// store; kmsmig approve records it).
	Approval string
	// Plan carries the batch limits (KMSMIG_BATCH_KEYS,
	// KMSMIG_BATCH_SECRETS, 1..50, default 50 each; KMSMIG_BATCH_TOTAL, see
	// loadProviderRules) and filters (KMSMIG_INCLUDE, KMSMIG_EXCLUDE:
	// ';'-separated plan filters).
	Plan plan.Settings
	// StrictKeyVersions blocks keys with several key versions, the older
	// guides' rule (KMSMIG_STRICT_KEY_VERSIONS, default false).
	StrictKeyVersions bool
}

// LoadConfig reads the configuration through getenv (os.Getenv in the
// functions). Every value is trimmed of surrounding spaces, so a value of
// spaces only is unset. It returns every bad setting at once, each naming
// its variable and the reason; nothing is partially applied.
func LoadConfig(getenv func(string) string) (Config, error) {
	s := &settings{getenv: getenv}
	c := Config{Plan: plan.DefaultSettings()}
	c.loadScope(s)
	c.loadStrings(s)
	c.loadSchedule(s)
	c.loadLimits(s)
	c.loadObservability(s)
	c.loadPlan(s)
	c.checkBounds(s, getenv)
	c.loadProviderRules(s)
	if err := s.err(); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// loadScope reads what is migrated: accounts and the roles reaching them,
// regions.
func (c *Config) loadScope(s *settings) {
	c.Accounts = s.list("KMSMIG_ACCOUNTS", ",")
	for _, a := range c.Accounts {
		if !digits(a) {
			s.bad("KMSMIG_ACCOUNTS", "%q is not an account UID (digits only)", a)
		}
	}
	c.RoleArns = s.pairs("KMSMIG_ROLE_ARNS")
	for _, a := range slices.Sorted(maps.Keys(c.RoleArns)) {
		if arn := c.RoleArns[a]; !strings.HasPrefix(arn, "acs:ram::"+a+":role/") {
			s.bad("KMSMIG_ROLE_ARNS", "role for account %s must look like acs:ram::%s:role/<name>, got %q", a, a, arn)
		}
	}
	c.Regions = s.list("KMSMIG_REGIONS", ",")
	for _, r := range c.Regions {
		if !regionLike(r) {
			s.bad("KMSMIG_REGIONS", "%q is not a region id like cn-hangzhou", r)
		}
	}
	c.KMSEndpoints = s.pairs("KMSMIG_KMS_ENDPOINTS")
	c.Insecure = s.boolean("KMSMIG_INSECURE")
	c.State = s.stringOr("KMSMIG_STATE", "dir:/tmp/kmsmig-state")
	if !hasBody(c.State, "dir:") && !hasBody(c.State, "oss://") {
		s.bad("KMSMIG_STATE", "%q: want dir:<path> or oss://<bucket>[/<prefix>]", c.State)
	}
}

// loadStrings reads the settings that are free text: endpoints, names,
// the DingTalk secret.
func (c *Config) loadStrings(s *settings) {
	for _, v := range []struct {
		dst       *string
		name, def string
	}{
		{&c.SeedRegion, "KMSMIG_SEED_REGION", ""},
		{&c.STSEndpoint, "KMSMIG_STS_ENDPOINT", ""},
		{&c.OSSEndpoint, "KMSMIG_OSS_ENDPOINT", ""},
		{&c.OSSRegion, "KMSMIG_OSS_REGION", ""},
		{&c.SLSEndpoint, "KMSMIG_SLS_ENDPOINT", ""},
		{&c.SLSProject, "KMSMIG_SLS_PROJECT", ""},
		{&c.SLSLogstore, "KMSMIG_SLS_LOGSTORE", ""},
		{&c.DingTalkSecret, "KMSMIG_DINGTALK_SECRET", ""},
		{&c.FCEndpoint, "KMSMIG_FC_ENDPOINT", ""},
		{&c.FunctionMigrate, "KMSMIG_FUNCTION_MIGRATE", "kmsmig-migrate"},
		{&c.FunctionRotate, "KMSMIG_FUNCTION_ROTATE", "kmsmig-rotate"},
		{&c.FunctionDiscover, "KMSMIG_FUNCTION_DISCOVER", "kmsmig-discover"},
		{&c.FunctionPoll, "KMSMIG_FUNCTION_POLL", "kmsmig-poll"},
	} {
		*v.dst = s.stringOr(v.name, v.def)
	}
}

// loadSchedule reads when and how tasks run: window, time zone, clock,
// method, backend, the provider's task operations.
func (c *Config) loadSchedule(s *settings) {
	c.Timezone = time.UTC
	if v := s.string("KMSMIG_TIMEZONE"); v != "" {
		if loc, err := time.LoadLocation(v); err != nil {
			s.bad("KMSMIG_TIMEZONE", "%q is not an IANA time zone like Asia/Shanghai", v)
		} else {
			c.Timezone = loc
		}
	}
	if v := s.string("KMSMIG_WINDOW"); v != "" {
		if w, err := ParseDailyWindow(v); err != nil {
			s.bad("KMSMIG_WINDOW", "%v", err)
		} else {
			c.Window = &w
		}
	}
	c.Clock = s.string("KMSMIG_CLOCK")
	if c.Clock != "" && !hasBody(c.Clock, "file:") {
		s.bad("KMSMIG_CLOCK", "%q: want file:<path> (rehearsals only) or nothing", c.Clock)
	}
	c.Approval = s.choice("KMSMIG_APPROVAL", approval.ModeAuto, approval.ModeRequired)
	c.Automatic = s.choice("KMSMIG_METHOD", "manual", "automatic") == "automatic"
	c.Backend = s.choice("KMSMIG_BACKEND", "task", "observe")
	if c.Backend == "observe" && c.Automatic {
		s.bad("KMSMIG_METHOD", "automatic applies to the task backend only; with KMSMIG_BACKEND=observe the operator starts the migration")
	}
	c.TaskActions = [3]string{"CreateMigrationTask", "DescribeMigrationTask", "ListMigrationTasks"}
	if v := s.string("KMSMIG_TASK_ACTIONS"); v != "" {
		if parts := list(v, ","); len(parts) != 3 {
			s.bad("KMSMIG_TASK_ACTIONS", "%q: want three action names: create,describe,list", v)
		} else {
			copy(c.TaskActions[:], parts)
		}
	}
}

// forever is the upper bound of a duration without one.
const forever = time.Duration(math.MaxInt64)

// loadLimits reads the numbers: attempts, batch sizes, durations, rates.
func (c *Config) loadLimits(s *settings) {
	for _, v := range []struct {
		dst                  *int
		name                 string
		def, lowest, highest int
	}{
		{&c.MaxAttempts, "KMSMIG_MAX_ATTEMPTS", 3, 1, 10},
		{&c.Plan.MaxKeys, "KMSMIG_BATCH_KEYS", c.Plan.MaxKeys, 1, plan.MaxPerKind},
		{&c.Plan.MaxSecrets, "KMSMIG_BATCH_SECRETS", c.Plan.MaxSecrets, 1, plan.MaxPerKind},
		{&c.DiscoverLanesPerInvocation, "KMSMIG_DISCOVER_LANES_PER_INVOCATION", 0, 1, MaxLanesPerInvocation},
	} {
		*v.dst = s.intRange(v.name, v.def, v.lowest, v.highest)
	}
	c.loadFanout(s)
	for _, v := range []struct {
		dst                  *time.Duration
		name                 string
		def, lowest, highest time.Duration
		want                 string
	}{
		{&c.StallAfter, "KMSMIG_STALL_AFTER", 30 * time.Minute, time.Nanosecond, forever, "a duration like 30m"},
		{&c.PollWait, "KMSMIG_POLL_WAIT", 0, 0, 15 * time.Minute, "a duration from 0 to 15m, e.g. 50s"},
		{&c.ObserveTimeout, "KMSMIG_OBSERVE_TIMEOUT", 24 * time.Hour, time.Minute, 720 * time.Hour, "a duration from 1m to 720h, e.g. 24h"},
		{&c.AlertPeriod, "KMSMIG_ALERT_PERIOD", time.Hour, time.Minute, forever, alertPeriodWant},
	} {
		*v.dst = s.duration(v.name, v.def, v.lowest, v.highest, v.want)
	}
	qps := s.pairs("KMSMIG_QPS")
	for _, g := range slices.Sorted(maps.Keys(qps)) {
		v := qps[g]
		n, err := strconv.ParseFloat(v, 64)
		// !(n >= 0.1) refuses NaN too; an infinite or NaN rate would make
		// the adapter's token bucket spin.
		if !slices.Contains(quotaGroups, g) || err != nil || !(n >= 0.1) || math.IsInf(n, 0) {
			s.bad("KMSMIG_QPS", "%s=%s: want one of %s = a finite rate of at least 0.1 per second", g, v, strings.Join(quotaGroups, ", "))
			continue
		}
		if c.QPS == nil {
			c.QPS = map[string]float64{}
		}
		c.QPS[g] = n
	}
}

// loadObservability reads where the audit trail and the alerts go.
func (c *Config) loadObservability(s *settings) {
	c.Audit = s.choice("KMSMIG_AUDIT", "auto", "sls", "stdout", "off")
	c.AlertWebhook = s.url("KMSMIG_ALERT_WEBHOOK")
	c.DingTalkWebhook = s.url("KMSMIG_DINGTALK_WEBHOOK")
	if c.DingTalkSecret != "" && c.DingTalkWebhook == "" {
		s.bad("KMSMIG_DINGTALK_SECRET", "is set but KMSMIG_DINGTALK_WEBHOOK is not")
	}
}

// loadPlan reads the target instances and the plan filters.
func (c *Config) loadPlan(s *settings) {
	targets := s.pairs("KMSMIG_TARGETS")
	for _, k := range slices.Sorted(maps.Keys(targets)) {
		l, err := estate.ParseLane(k)
		if err != nil {
			s.bad("KMSMIG_TARGETS", "%v", err)
			continue
		}
		if c.Targets == nil {
			c.Targets = map[estate.Lane]string{}
		}
		c.Targets[l] = targets[k]
	}
	c.Plan.Include = s.list("KMSMIG_INCLUDE", ";")
	c.Plan.Exclude = s.list("KMSMIG_EXCLUDE", ";")
	if err := c.Plan.Validate(); err != nil {
		s.bad("KMSMIG_INCLUDE/KMSMIG_EXCLUDE", "%v", err)
	}
}

// quotaGroups are the client-side quota groups KMSMIG_QPS may set (the KMS
// adapter's groups).
var quotaGroups = []string{"key-read", "key-write", "tags", "secret-read", "secret-write", "instance-read", "migration"}
