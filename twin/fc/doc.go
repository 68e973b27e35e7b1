// Package fc is the offline twin of Function Compute 3.0: it runs the
// project's function binaries as child processes behind the runtime API that
// fc-runtime-go-sdk v0.3.1 speaks, invokes them synchronously and
// asynchronously (retries, task-id idempotency, OnSuccess/OnFailure
// destinations), fires their timer triggers on a clock that can run faster
// than real time, serves InvokeFunction (FC OpenAPI 2023-03-30, V3-signed,
// ROA) so that darabonba-openapi's CallApi reaches it, and reads the
// functions from a Serverless Devs s.yaml (edition 3.0.0, component fc3).
// In-process Go handlers can stand in for binaries.
//
// Every invocation gets STS credentials of the function's role, minted by
// the shared acs.Keyring, in the x-fc-access-key-id, x-fc-access-key-secret
// and x-fc-security-token headers; the runtime SDK exposes them through
// fccontext.FromContext.
//
// A trap the twin reproduces because it runs the real SDK:
// fc.StartHandler(lambda.NewHandlerWithOptions(...)) compiles, but
// fc-runtime-go-sdk v0.3.1 accepts only a func there and fails every
// invocation with "handler kind ptr is not func"; see testdata/fcfunc for a
// wiring that works.
//
// Where it differs from the real service:
//
// # Instances
//
//   - A function that sets instanceConcurrency or
//     concurrencyConfig.reservedConcurrency (Function.InstanceConcurrency,
//     MaxInstances) runs on several instances, as FC does: an instance takes
//     up to instanceConcurrency invocations at once (default 1, at most
//     200), a new instance starts only when every running one is full, and
//     at most reservedConcurrency instances run (read as FC's per-function
//     instance limit; default 300, FC's per-region default). Beyond that an
//     invocation, synchronous or asynchronous, waits in the twin for a
//     slot, and its timeout starts when it has one; FC answers a
//     synchronous invocation over the limit with a throttling error
//     (ResourceExhausted) and retries an asynchronous one with back-off,
//     which the twin does not model. A binary's instance is one process,
//     started on its first invocation and kept until Close (or redeploy):
//     no provisioned capacity or idle reclaim, instances never scale in.
//     A slot is freed when its invocation ends or times out (the process
//     may still be running a timed-out handler).
//   - A function that sets neither keeps the twin's older model: one
//     instance taking every invocation at once (FC's default is one
//     invocation per instance and scale-out). An in-process handler's
//     instances are only counted. ColdStarts reports, for every process
//     of every instance, process start → first GET .../invocation/next
//     and → first answer; Kill ends every running process.
//   - The process sees only the function's environmentVariables, PATH, a
//     private HOME and TMPDIR (a fresh temporary directory), FC_RUNTIME_API
//     and FC's FC_FUNCTION_NAME, FC_FUNCTION_HANDLER,
//     FC_FUNCTION_MEMORY_SIZE, FC_REGION, FC_ACCOUNT_ID and FC_INSTANCE_ID.
//     Role credentials come only per invocation (headers), not as
//     ALIBABA_CLOUD_* variables. The working directory is the binary's
//     directory (FC: /code). Memory and CPU are not limited.
//   - Memory is measured, for harnesses only: Invocation.PeakRSS is the
//     peak resident set of the instance's process while the attempt ran
//     (the kernel's VmHWM, reset through /proc/<pid>/clear_refs when the
//     attempt is handed to a process running nothing else, read when it
//     answers; beside other attempts on the same instance it is their
//     common peak), and Server.Usage gives per function its invocation
//     count and per instance the attempts run and the peak (the above and
//     getrusage's maximum at each process exit). FC shows memory in its
//     monitoring and request metrics; no API the twin serves carries it.
//     Linux only (zero elsewhere). The Go runtime keeps freed heap for a
//     while, so an attempt's peak includes what earlier ones left resident.
//   - A process that dies fails its in-flight invocations
//     (FunctionProcessExited) and is restarted after 50 ms, backing off to
//     2 s while it keeps crashing; queued invocations wait for it. A binary
//     that cannot be started fails what is queued (FunctionStartError).
//   - Lifecycle hooks (initializer, preStop, preFreeze) are never invoked;
//     POST .../runtime/init/error is accepted and logged.
//
// # Runtime API
//
//   - Headers of GET .../invocation/next: x-fc-request-id,
//     x-fc-function-deadline (epoch milliseconds, wall clock),
//     x-fc-function-timeout (seconds, rounded up), the credentials,
//     x-fc-function-name/-handler/-memory, x-fc-function-type 0,
//     x-fc-service-logproject/-logstore, x-fc-region, x-fc-account-id,
//     x-fc-retry-count, x-fc-qualifier LATEST; x-fc-service-name and
//     x-fc-version-id are empty; no tracing headers.
//   - An answer for an invocation that already timed out is refused with
//     400 (the SDK logs it).
//
// # Invocation
//
//   - Timeouts are wall-clock; Function.Timeout may be under a second. A
//     timed-out invocation fails with FunctionTimeoutError but the process
//     is not restarted. Async retries reuse the request id (the runtime API
//     knows invocations only by it), so a late answer from a timed-out
//     attempt could complete a later attempt of the same request.
//   - Error types the twin reports itself (FunctionTimeoutError,
//     FunctionProcessExited, FunctionStartError, FunctionCredentialsError)
//     are the twin's names, not FC's.
//   - Asynchronous invocations and all Invocation records live in memory
//     for the twin's lifetime. Every function error
//     (timeouts and crashes included) is retried up to
//     MaxAsyncRetryAttempts after an exponential back-off on the twin's
//     clock (Config.RetryBackoff, default 1 s simulated, doubling up to
//     5 min); FC does not publish its schedule. maxAsyncEventAgeInSeconds
//     and async task mode (status queries, stop) are not modelled.
//   - x-fc-async-task-id is accepted once per function for the twin's
//     lifetime; a repeat is refused with 409 AsyncTaskAlreadyExist (FC
//     documents 409; the code name is the twin's).
//   - Destinations are functions only (no MNS, EventBridge or RocketMQ);
//     they are invoked asynchronously with an approximation of FC's
//     destination event: {timestamp, requestContext{requestId, functionArn,
//     condition "Success"|"UnhandledInvocationError",
//     approximateInvokeCount}, requestPayload, responseContext{statusCode
//     200, functionError = errorType}, responsePayload (the response, or
//     the error JSON)}.
//
// # InvokeFunction API
//
//   - Only POST /2023-03-30/functions/{name}/invocations; qualifier LATEST
//     (or none). A caller may invoke functions of its own account only;
//     others answer 404 FunctionNotFound. There is no RAM policy check.
//   - A function error answers 200 with x-fc-error-type:
//     UnhandledInvocationError and the error JSON as body. Refusals use the
//     OpenAPI error body {RequestId, HostId, Code, Message, Recommend}.
//   - x-fc-log-type: Tail returns (base64, last 4 KB) the process output
//     written while the invocation was in flight, which can include lines
//     of concurrent invocations; in-process handlers return none.
//
// # Timers
//
//   - Cron expressions are parsed by robfig/cron/v3 (seconds first, "?"
//     allowed, @every, CRON_TZ=/TZ= prefixes; UTC otherwise). Missed
//     firings are skipped, not caught up. triggerTime is the scheduled
//     simulated time, RFC 3339 in UTC. Timer and OSS triggers fire;
//     other trigger types in s.yaml are checked for a known triggerType
//     and skipped.
//
// # OSS triggers
//
//   - Server.DeliverOSSEvent is how OSS reaches the twin (the OSS twin's
//     OnObjectCreated hook, wired by testinfra/stack): every function
//     whose OSS trigger matches the bucket (sourceArn), the event
//     (oss:ObjectCreated:* or an exact name) and the key's prefix and
//     suffix is invoked asynchronously, at once and exactly once per
//     object event, with FC's documented OSS event ({"events":[one
//     record]}: eventName, eventSource acs:oss, eventTime, eventVersion
//     1.0, oss{bucket{arn,name,ownerIdentity}, object{deltaSize, eTag,
//     key, size}, ossSchemaVersion 1.0, ruleId}, region,
//     requestParameters.sourceIPAddress, responseElements.requestId,
//     userIdentity.principalId). FC documents neither the delay nor
//     exactly-once delivery: code must treat the event as a prompt. The
//     ruleId is the trigger's name, not a real rule id; invocationRole
//     is recorded, not checked (no RAM).
//
// # Clock
//
//   - Simulated time = start + speed × wall-clock time elapsed (NewClock),
//     moved forward at once by Clock.Jump (the real service has no such
//     thing: a rehearsal skips the hours in which nothing is due). It
//     drives timers, retry back-off and the times in Invocation records;
//     deadlines, timeouts and STS expiry use the wall clock (or the
//     Verifier's clock), since function code runs in real time.
//   - Clock.Publish keeps the clock's mapping (wall instant ↔ simulated
//     instant, speed) in a JSON file, rewritten at every jump, so that the
//     function processes can read the simulated time (kmsmig's
//     KMSMIG_CLOCK=file:<path>, rehearsals only). Server.Quiesce runs a
//     function while no invocation is in flight and holds new ones off
//     until it returns: the moment to jump. NextFirings lists every
//     timer's next firing.
//
// # s.yaml
//
//   - References: ${env(NAME)}, ${env('NAME')}, ${env("NAME")}, ${env.NAME}
//     and ${vars.a.b} (vars may use env only); values come from
//     LoadOptions, never from the process environment. ${this...},
//     ${resources...}, ${config(...)} and other helpers are refused.
//   - Only fc3 resources with runtime go1 or custom*; code must name a
//     directory holding the built binary (no build, no zip, no OSS);
//     logConfig "auto" becomes project serverless-<region>-<account>,
//     logstore default-logs. Properties the twin does not model are
//     ignored.
package fc
