package fc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/aliyun/sdkerr"
	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/migration"
)

// APIVersion is the FC OpenAPI version the invoker speaks.
const APIVersion = "2023-03-30"

// Headers of InvokeFunction.
const (
	HeaderInvocationType = "x-fc-invocation-type"
	HeaderAsyncTaskID    = "x-fc-async-task-id"
	HeaderRequestID      = "x-fc-request-id"
)

// MaxAsyncPayload is FC's limit on an asynchronous invocation's payload.
const MaxAsyncPayload = 128 << 10

// Config says where FC is and who calls it.
type Config struct {
	// Endpoint is host[:port] of the FC API; empty means
	// <Account>.<Region>.fc.aliyuncs.com.
	Endpoint string
	Account  string
	Region   string
	// Insecure sends plain HTTP (the offline twin on loopback); New
	// refuses it for an endpoint that is not a loopback one
	// (cloud.ErrPlainHTTP).
	Insecure bool
	// Credential signs the requests. Required.
	Credential credentials.Credential
	// MaxAttempts bounds the tries of one invocation on throttling and
	// transient failures (default 4); a repeat is safe because the task id
	// makes it idempotent.
	MaxAttempts int
	// CallTimeout bounds one HTTP exchange (default 10s).
	CallTimeout time.Duration
}

// invokeBackoff spaces the retries of one invocation: 100ms before the
// first, doubling up to 3.2s.
var invokeBackoff = cloud.Backoff{Base: 100 * time.Millisecond, Max: 3200 * time.Millisecond}

// Invoker starts FC functions asynchronously. It is safe for concurrent
// use.
type Invoker struct {
	cfg Config
	// mu serialises calls: the darabonba client mutates shared fields
	// (headers, the HTTP client's timeout) on every request, which races
	// under concurrent use (go test -race).
	mu     sync.Mutex
	client *openapi.Client
}

var _ migration.Invoker = (*Invoker)(nil)

// New returns an Invoker for cfg. It fails when the credential is missing
// or neither an endpoint nor account and region are given.
func New(cfg Config) (*Invoker, error) {
	if cfg.Credential == nil {
		return nil, errors.New("fc: config: Credential is required")
	}
	if cfg.Endpoint == "" {
		if cfg.Account == "" || cfg.Region == "" {
			return nil, errors.New("fc: config: Endpoint, or Account and Region, required")
		}
		cfg.Endpoint = cfg.Account + "." + cfg.Region + ".fc.aliyuncs.com"
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 4
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	protocol := "https"
	if cfg.Insecure {
		if err := cloud.CheckPlainHTTP("fc", cfg.Endpoint, true); err != nil {
			return nil, err
		}
		protocol = "http"
	}
	ms := int(cfg.CallTimeout / time.Millisecond)
	c, err := openapi.NewClient(&openapiutil.Config{
		Credential: cfg.Credential, Endpoint: dara.String(cfg.Endpoint), RegionId: dara.String(cfg.Region),
		Protocol: dara.String(protocol), ReadTimeout: dara.Int(ms), ConnectTimeout: dara.Int(ms),
	})
	if err != nil {
		return nil, fmt.Errorf("fc: client for %s: %w", cfg.Endpoint, err)
	}
	return &Invoker{cfg: cfg, client: c}, nil
}

// InvokeAsync queues an asynchronous invocation of function with payload.
// With a taskID, FC accepts the invocation once: a repeat answered 409
// (the task id exists) counts as success, so a chain step may be invoked
// any number of times. Throttling and transient failures are retried with
// jittered back-off. Errors: *cloud.APIError (unknown function matches
// cloud.ErrNotFound, bad credentials cloud.ErrDenied); a payload over
// MaxAsyncPayload is refused before any call; cancellation: ctx.Err(),
// outcome unknown.
func (v *Invoker) InvokeAsync(ctx context.Context, function string, payload []byte, taskID string) error {
	if len(payload) > MaxAsyncPayload {
		return fmt.Errorf("fc: invoke %s: payload of %d bytes exceeds the %d-byte asynchronous limit", function, len(payload), MaxAsyncPayload)
	}
	var last error
	for attempt := range v.cfg.MaxAttempts {
		if attempt > 0 {
			if err := cloud.Sleep(ctx, invokeBackoff.Delay(attempt-1)); err != nil {
				return err
			}
		}
		err := v.invoke(ctx, function, payload, taskID)
		if err == nil || isContext(err) {
			return err
		}
		if errors.Is(err, cloud.ErrConflict) && taskID != "" {
			return nil // the task id exists: this step was invoked already
		}
		last = err
		if !cloud.Retryable(err) {
			break
		}
	}
	return fmt.Errorf("fc: invoke %s async (task %q): %w", function, taskID, last)
}

func (v *Invoker) invoke(ctx context.Context, function string, payload []byte, taskID string) error {
	h := map[string]*string{HeaderInvocationType: dara.String("Async")}
	if taskID != "" {
		h[HeaderAsyncTaskID] = dara.String(taskID)
	}
	params := &openapiutil.Params{
		Action: dara.String("InvokeFunction"), Version: dara.String(APIVersion), Protocol: dara.String("HTTPS"),
		Pathname: dara.String("/" + APIVersion + "/functions/" + url.PathEscape(function) + "/invocations"),
		Method:   dara.String("POST"), AuthType: dara.String("AK"), Style: dara.String("ROA"),
		ReqBodyType: dara.String("json"), BodyType: dara.String("binary"),
	}
	req := &openapiutil.OpenApiRequest{Headers: h, Query: map[string]*string{}, Stream: dara.ToReader(string(payload))}
	v.mu.Lock()
	res, err := v.client.CallApiWithCtx(ctx, params, req, &dara.RuntimeOptions{Autoretry: dara.Bool(false)})
	v.mu.Unlock()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return sdkerr.Convert("fc", "InvokeFunction", err)
	}
	if status := dara.ForceInt(res["statusCode"]); status != 202 && status != 200 {
		return &cloud.APIError{Service: "fc", Action: "InvokeFunction", Status: status, Message: "unexpected status"}
	}
	return nil
}

func isContext(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
