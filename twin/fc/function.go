package fc

import (
	"context"
	"fmt"
	"regexp"
	"time"
)

// Defaults applied by Deploy to the fields a Function leaves zero. They are
// the defaults of the fc3 component (timeout 3 s, memory 512 MB, three async
// retries).
const (
	DefaultTimeout               = 3 * time.Second
	DefaultMemoryMB              = 512
	DefaultMaxAsyncRetryAttempts = 3
	// MaxTimeout is the longest a function may run (24 h).
	MaxTimeout = 24 * time.Hour
	// MaxAsyncPayload and MaxSyncPayload are the request body limits of
	// asynchronous and synchronous invocation.
	MaxAsyncPayload = 128 << 10
	MaxSyncPayload  = 32 << 20
)

// HandlerFunc is an in-process function body: the same contract as
// fc.Handler's Invoke in fc-runtime-go-sdk. ctx carries the invocation's
// deadline and an fccontext.FcContext, exactly as the runtime SDK builds them
// for a binary. A returned error (or a panic) is a function error.
type HandlerFunc func(ctx context.Context, event []byte) ([]byte, error)

// Function is one deployed function. Exactly one of Binary and Handler must
// be set.
type Function struct {
	// Name is the function name, unique within the twin.
	Name string
	// Binary is the path of an executable built against fc-runtime-go-sdk;
	// the twin runs it as a child process talking to its own runtime API.
	Binary string
	// Handler runs the function in-process instead of a binary.
	Handler HandlerFunc
	// HandlerName is the s.yaml handler (passed as x-fc-function-handler).
	HandlerName string
	// Runtime is the s.yaml runtime, informational ("go1", "custom.debian10").
	Runtime string
	// Env is the function's environmentVariables: the only variables of the
	// parent the child sees besides PATH, HOME and TMPDIR.
	Env map[string]string
	// Timeout bounds one invocation in wall-clock time; zero means
	// DefaultTimeout. Sub-second values are allowed (the runtime header
	// x-fc-function-timeout is rounded up to whole seconds).
	Timeout time.Duration
	// MemoryMB is memorySize; zero means DefaultMemoryMB.
	MemoryMB int
	// InstanceConcurrency is how many invocations one instance runs at
	// once (instanceConcurrency, 1..MaxInstanceConcurrency; zero: 1), and
	// MaxInstances how many instances the function may run at once
	// (concurrencyConfig.reservedConcurrency, 1..DefaultMaxInstances;
	// zero: DefaultMaxInstances). A new instance starts only when every
	// running one is full; beyond both limits invocations wait for a slot.
	// When both are zero the function keeps the twin's one instance taking
	// every invocation at once (see the package doc).
	InstanceConcurrency int
	MaxInstances        int
	// Role is the RAM role ARN whose STS credentials each invocation gets;
	// empty means the invocation gets no credentials.
	Role      string
	Region    string
	AccountID string
	// LogProject and LogStore are logConfig.project and logConfig.logstore.
	LogProject string
	LogStore   string
	// AsyncInvokeConfig governs asynchronous invocations of this function.
	AsyncInvokeConfig AsyncInvokeConfig
	// Triggers are the function's timer triggers.
	Triggers []Timer
	// OSSTriggers are the function's OSS triggers (DeliverOSSEvent).
	OSSTriggers []OSSTrigger
}

// AsyncInvokeConfig is the fc3 asyncInvokeConfig of a function.
type AsyncInvokeConfig struct {
	// MaxAsyncRetryAttempts is how many times a failed asynchronous
	// invocation is retried (0..8); nil means DefaultMaxAsyncRetryAttempts.
	MaxAsyncRetryAttempts *int
	// OnSuccess and OnFailure are destination function ARNs
	// (acs:fc:<region>:<account>:functions/<name>); empty means none.
	OnSuccess string
	OnFailure string
}

// Retries returns the effective number of retries.
func (c AsyncInvokeConfig) Retries() int {
	if c.MaxAsyncRetryAttempts == nil {
		return DefaultMaxAsyncRetryAttempts
	}
	return *c.MaxAsyncRetryAttempts
}

// Retries returns a pointer to n, for AsyncInvokeConfig.MaxAsyncRetryAttempts.
func Retries(n int) *int { return &n }

// Timer is a timer trigger of a function.
type Timer struct {
	Name string
	// CronExpression is "@every <duration>" or six-field cron with seconds
	// first, UTC unless prefixed with CRON_TZ=<zone>.
	CronExpression string
	Enable         bool
	Payload        string
}

// ARN returns the function's ARN as destinations name it:
// acs:fc:<region>:<account>:functions/<name>.
func (f Function) ARN() string {
	return FunctionARN(f.Region, f.AccountID, f.Name)
}

// FunctionARN formats a function ARN.
func FunctionARN(region, account, name string) string {
	return fmt.Sprintf("acs:fc:%s:%s:functions/%s", region, account, name)
}

var arnPattern = regexp.MustCompile(`^acs:fc:([a-z0-9-]*):([0-9A-Za-z_-]*):functions/([A-Za-z_][A-Za-z0-9_-]{0,127})(?::[A-Za-z0-9_.-]+)?$`)

// ParseFunctionARN splits a destination ARN into region, account and
// function name. A qualifier suffix (":LATEST") is accepted and dropped.
func ParseFunctionARN(arn string) (region, account, name string, err error) {
	m := arnPattern.FindStringSubmatch(arn)
	if m == nil {
		return "", "", "", fmt.Errorf("fc: %q is not a function ARN (acs:fc:<region>:<account>:functions/<name>)", arn)
	}
	return m[1], m[2], m[3], nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,127}$`)

// withDefaults validates f and fills its zero fields.
func (f Function) withDefaults() (Function, error) {
	if !namePattern.MatchString(f.Name) {
		return f, fmt.Errorf("fc: function name %q: want a letter or underscore, then letters, digits, underscores or hyphens, at most 128", f.Name)
	}
	if (f.Binary == "") == (f.Handler == nil) {
		return f, fmt.Errorf("fc: function %s: set exactly one of Binary and Handler", f.Name)
	}
	if f.Timeout == 0 {
		f.Timeout = DefaultTimeout
	}
	if f.Timeout < 0 || f.Timeout > MaxTimeout {
		return f, fmt.Errorf("fc: function %s: timeout %s out of range (0, 24h]", f.Name, f.Timeout)
	}
	if f.MemoryMB == 0 {
		f.MemoryMB = DefaultMemoryMB
	}
	if f.InstanceConcurrency < 0 || f.InstanceConcurrency > MaxInstanceConcurrency {
		return f, fmt.Errorf("fc: function %s: instanceConcurrency %d out of range 1..%d", f.Name, f.InstanceConcurrency, MaxInstanceConcurrency)
	}
	if f.MaxInstances < 0 || f.MaxInstances > DefaultMaxInstances {
		return f, fmt.Errorf("fc: function %s: reservedConcurrency %d out of range 1..%d", f.Name, f.MaxInstances, DefaultMaxInstances)
	}
	if r := f.AsyncInvokeConfig.Retries(); r < 0 || r > 8 {
		return f, fmt.Errorf("fc: function %s: maxAsyncRetryAttempts %d out of range 0..8", f.Name, r)
	}
	for _, arn := range []string{f.AsyncInvokeConfig.OnSuccess, f.AsyncInvokeConfig.OnFailure} {
		if arn == "" {
			continue
		}
		if _, _, _, err := ParseFunctionARN(arn); err != nil {
			return f, fmt.Errorf("fc: function %s: destination: %w", f.Name, err)
		}
	}
	for _, t := range f.Triggers {
		if _, err := ParseCron(t.CronExpression); err != nil {
			return f, fmt.Errorf("fc: function %s: trigger %s: %w", f.Name, t.Name, err)
		}
	}
	env := make(map[string]string, len(f.Env))
	for k, v := range f.Env {
		env[k] = v
	}
	f.Env = env
	f.Triggers = append([]Timer(nil), f.Triggers...)
	for _, t := range f.OSSTriggers {
		if _, _, _, err := ParseOSSSourceArn(t.SourceArn); err != nil {
			return f, fmt.Errorf("fc: function %s: trigger %s: %w", f.Name, t.Name, err)
		}
		if len(t.Events) == 0 {
			return f, fmt.Errorf("fc: function %s: trigger %s: no events", f.Name, t.Name)
		}
	}
	f.OSSTriggers = append([]OSSTrigger(nil), f.OSSTriggers...)
	return f, nil
}
