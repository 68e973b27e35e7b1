package app

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

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
	// (KMSMIG_ALERT_PERIOD, a Go duration, default 1h).
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
	// (KMSMIG_POLL_WAIT, default 0: no wait; s.yaml sets 50s, under the
	// poll timer's minute).
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
	// FCEndpoint is the Function Compute endpoint for chaining
	// (KMSMIG_FC_ENDPOINT; default <account>.<region>.fc.aliyuncs.com).
	FCEndpoint string
	// Plan carries the batch limits (KMSMIG_BATCH_KEYS,
	// KMSMIG_BATCH_SECRETS, 1..50, default 50 each) and filters
	// (KMSMIG_INCLUDE, KMSMIG_EXCLUDE: ';'-separated plan filters).
	Plan plan.Settings
}

// LoadConfig reads the configuration through getenv (os.Getenv in the
// functions). It returns every bad setting at once, each naming its
// variable and the reason; nothing is partially applied.
func LoadConfig(getenv func(string) string) (Config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	c := Config{
		SeedRegion:  strings.TrimSpace(getenv("KMSMIG_SEED_REGION")),
		STSEndpoint: strings.TrimSpace(getenv("KMSMIG_STS_ENDPOINT")),
		State:       strings.TrimSpace(getenv("KMSMIG_STATE")),
		OSSEndpoint: strings.TrimSpace(getenv("KMSMIG_OSS_ENDPOINT")),
		OSSRegion:   strings.TrimSpace(getenv("KMSMIG_OSS_REGION")),
		Plan:        plan.DefaultSettings(),
		Audit:       strings.TrimSpace(getenv("KMSMIG_AUDIT")),
		SLSEndpoint: strings.TrimSpace(getenv("KMSMIG_SLS_ENDPOINT")),
		SLSProject:  strings.TrimSpace(getenv("KMSMIG_SLS_PROJECT")),
		SLSLogstore: strings.TrimSpace(getenv("KMSMIG_SLS_LOGSTORE")),

		AlertWebhook:    strings.TrimSpace(getenv("KMSMIG_ALERT_WEBHOOK")),
		DingTalkWebhook: strings.TrimSpace(getenv("KMSMIG_DINGTALK_WEBHOOK")),
		DingTalkSecret:  strings.TrimSpace(getenv("KMSMIG_DINGTALK_SECRET")),
		AlertPeriod:     time.Hour,
	}
	c.Timezone = time.UTC
	if v := strings.TrimSpace(getenv("KMSMIG_TIMEZONE")); v != "" {
		loc, err := time.LoadLocation(v)
		if err != nil {
			bad("KMSMIG_TIMEZONE", "%q is not an IANA time zone like Asia/Shanghai", v)
		} else {
			c.Timezone = loc
		}
	}
	if v := strings.TrimSpace(getenv("KMSMIG_WINDOW")); v != "" {
		w, err := ParseDailyWindow(v)
		if err != nil {
			bad("KMSMIG_WINDOW", "%v", err)
		} else {
			c.Window = &w
		}
	}
	switch v := strings.TrimSpace(getenv("KMSMIG_METHOD")); v {
	case "", "manual":
	case "automatic":
		c.Automatic = true
	default:
		bad("KMSMIG_METHOD", "%q: want manual or automatic", v)
	}
	c.MaxAttempts = 3
	if v := getenv("KMSMIG_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10 {
			bad("KMSMIG_MAX_ATTEMPTS", "%q: must be a whole number from 1 to 10", v)
		} else {
			c.MaxAttempts = n
		}
	}
	c.StallAfter = 30 * time.Minute
	if v := getenv("KMSMIG_STALL_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad("KMSMIG_STALL_AFTER", "%q: want a duration like 30m", v)
		} else {
			c.StallAfter = d
		}
	}
	if qps, err := pairs(getenv("KMSMIG_QPS")); err != nil {
		bad("KMSMIG_QPS", "%v", err)
	} else {
		for g, v := range qps {
			n, err := strconv.ParseFloat(v, 64)
			// !(n > 0) refuses NaN too; an infinite or NaN rate would make
			// the adapter's token bucket spin.
			if !slices.Contains(quotaGroups, g) || err != nil || !(n >= 0.1) || math.IsInf(n, 0) {
				bad("KMSMIG_QPS", "%s=%s: want one of %s = a finite rate of at least 0.1 per second", g, v, strings.Join(quotaGroups, ", "))
				continue
			}
			if c.QPS == nil {
				c.QPS = map[string]float64{}
			}
			c.QPS[g] = n
		}
	}
	if v := getenv("KMSMIG_POLL_WAIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 15*time.Minute {
			bad("KMSMIG_POLL_WAIT", "%q: want a duration from 0 to 15m, e.g. 50s", v)
		} else {
			c.PollWait = d
		}
	}
	c.TaskActions = [3]string{"CreateMigrationTask", "DescribeMigrationTask", "ListMigrationTasks"}
	if v := strings.TrimSpace(getenv("KMSMIG_TASK_ACTIONS")); v != "" {
		parts := list(v, ",")
		if len(parts) != 3 {
			bad("KMSMIG_TASK_ACTIONS", "%q: want three action names: create,describe,list", v)
		} else {
			copy(c.TaskActions[:], parts)
		}
	}
	c.FunctionMigrate, c.FunctionRotate = "kmsmig-migrate", "kmsmig-rotate"
	if v := strings.TrimSpace(getenv("KMSMIG_FUNCTION_MIGRATE")); v != "" {
		c.FunctionMigrate = v
	}
	if v := strings.TrimSpace(getenv("KMSMIG_FUNCTION_ROTATE")); v != "" {
		c.FunctionRotate = v
	}
	c.FCEndpoint = strings.TrimSpace(getenv("KMSMIG_FC_ENDPOINT"))
	switch v := strings.TrimSpace(getenv("KMSMIG_BACKEND")); v {
	case "", "task":
		c.Backend = "task"
	case "observe":
		c.Backend = v
		if c.Automatic {
			bad("KMSMIG_METHOD", "automatic applies to the task backend only; with KMSMIG_BACKEND=observe the operator starts the migration")
		}
	default:
		bad("KMSMIG_BACKEND", "%q: want task or observe", v)
	}
	c.ObserveTimeout = 24 * time.Hour
	if v := strings.TrimSpace(getenv("KMSMIG_OBSERVE_TIMEOUT")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 720*time.Hour {
			bad("KMSMIG_OBSERVE_TIMEOUT", "%q: want a duration from 1m to 720h, e.g. 24h", v)
		} else {
			c.ObserveTimeout = d
		}
	}
	switch c.Audit {
	case "":
		c.Audit = "auto"
	case "auto", "sls", "stdout", "off":
	default:
		bad("KMSMIG_AUDIT", "%q: want auto, sls, stdout or off", c.Audit)
	}
	for name, u := range map[string]string{"KMSMIG_ALERT_WEBHOOK": c.AlertWebhook, "KMSMIG_DINGTALK_WEBHOOK": c.DingTalkWebhook} {
		if u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			bad(name, "must be an http(s) URL")
		}
	}
	if c.DingTalkSecret != "" && c.DingTalkWebhook == "" {
		bad("KMSMIG_DINGTALK_SECRET", "is set but KMSMIG_DINGTALK_WEBHOOK is not")
	}
	if v := getenv("KMSMIG_ALERT_PERIOD"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			bad("KMSMIG_ALERT_PERIOD", "%q: want a duration like 30m or 2h", v)
		} else {
			c.AlertPeriod = d
		}
	}
	c.Accounts = list(getenv("KMSMIG_ACCOUNTS"), ",")
	for _, a := range c.Accounts {
		if !digits(a) {
			bad("KMSMIG_ACCOUNTS", "%q is not an account UID (digits only)", a)
		}
	}
	c.Regions = list(getenv("KMSMIG_REGIONS"), ",")
	for _, r := range c.Regions {
		if !regionLike(r) {
			bad("KMSMIG_REGIONS", "%q is not a region id like cn-hangzhou", r)
		}
	}
	var err error
	if c.RoleArns, err = pairs(getenv("KMSMIG_ROLE_ARNS")); err != nil {
		bad("KMSMIG_ROLE_ARNS", "%v", err)
	}
	for a, arn := range c.RoleArns {
		if !strings.HasPrefix(arn, "acs:ram::"+a+":role/") {
			bad("KMSMIG_ROLE_ARNS", "role for account %s must look like acs:ram::%s:role/<name>, got %q", a, a, arn)
		}
	}
	if c.KMSEndpoints, err = pairs(getenv("KMSMIG_KMS_ENDPOINTS")); err != nil {
		bad("KMSMIG_KMS_ENDPOINTS", "%v", err)
	}
	if v := getenv("KMSMIG_INSECURE"); v != "" {
		if c.Insecure, err = strconv.ParseBool(v); err != nil {
			bad("KMSMIG_INSECURE", "%q is not true or false", v)
		}
	}
	switch {
	case c.State == "":
		c.State = "dir:/tmp/kmsmig-state"
	case strings.HasPrefix(c.State, "dir:") && len(c.State) > len("dir:"):
	case strings.HasPrefix(c.State, "oss://") && len(c.State) > len("oss://"):
	default:
		bad("KMSMIG_STATE", "%q: want dir:<path> or oss://<bucket>[/<prefix>]", c.State)
	}
	targets, err := pairs(getenv("KMSMIG_TARGETS"))
	if err != nil {
		bad("KMSMIG_TARGETS", "%v", err)
	}
	for k, v := range targets {
		l, err := estate.ParseLane(k)
		if err != nil {
			bad("KMSMIG_TARGETS", "%v", err)
			continue
		}
		if c.Targets == nil {
			c.Targets = map[estate.Lane]string{}
		}
		c.Targets[l] = v
	}
	for _, v := range []struct {
		name string
		dst  *int
	}{{"KMSMIG_BATCH_KEYS", &c.Plan.MaxKeys}, {"KMSMIG_BATCH_SECRETS", &c.Plan.MaxSecrets}} {
		if s := getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > plan.MaxPerKind {
				bad(v.name, "%q: must be a whole number from 1 to %d", s, plan.MaxPerKind)
				continue
			}
			*v.dst = n
		}
	}
	c.Plan.Include = list(getenv("KMSMIG_INCLUDE"), ";")
	c.Plan.Exclude = list(getenv("KMSMIG_EXCLUDE"), ";")
	if err := c.Plan.Validate(); err != nil {
		bad("KMSMIG_INCLUDE/KMSMIG_EXCLUDE", "%v", err)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// quotaGroups are the client-side quota groups KMSMIG_QPS may set (the KMS
// adapter's groups).
var quotaGroups = []string{"key-read", "key-write", "tags", "secret-read", "secret-write", "instance-read", "migration"}

func list(s, sep string) []string {
	var out []string
	for _, p := range strings.Split(s, sep) {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// pairs parses k=v,k=v.
func pairs(s string) (map[string]string, error) {
	var out map[string]string
	for _, p := range list(s, ",") {
		k, v, ok := strings.Cut(p, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q: want key=value", p)
		}
		if out == nil {
			out = map[string]string{}
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%q is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func regionLike(s string) bool {
	if s == "" || strings.Count(s, "-") < 1 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
