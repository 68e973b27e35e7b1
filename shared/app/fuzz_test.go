package app

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
)

// The event fuzzers (FuzzDecode*Event) decode through the production path,
// fcruntime.Handler. Seeds shared by them: the events Function Compute and
// the functions themselves send, and near misses of them.
var eventSeeds = []string{
	`{}`,
	`{"triggerTime":"2026-11-29T01:00:00Z","triggerName":"discover-nightly","payload":"{\"dryRun\":true}"}`,
	`{"triggerTime":"2026-11-29T02:00:00Z","triggerName":"migrate","payload":""}`,
	`{"runId":"run-20261129","accounts":["1111"],"regions":["cn-hangzhou"],"include":["tag:env=prod"],"exclude":["secret:test-*"],"dryRun":true}`,
	`{"runId":"run-20261129","lane":"1111/cn-hangzhou","batchId":"b0001"}`,
	`{"runId":"run-20261129","lanes":["1111/cn-hangzhou","2222/cn-shanghai"]}`,
	`{"runId":"run-20261129","lanes":[]}`,
	`{"runId":"run-20261129","lanes":["1111/cn-hangzhou","1111/cn-hangzhou"]}`,
	`{"runId":"run-20261129","lane":"1111/cn-hangzhou","lanes":["1111/cn-hangzhou"]}`,
	`{"lanes":["1111/cn-hangzhou"],"batchId":"1111/cn-hangzhou/b0001"}`,
	`{"runId":"r","lanes":"1111/cn-hangzhou"}`,
	`{"runId":"r","lanes":[null,7]}`,
	`{"triggerName":"poll","payload":"{\"runId\":\"r\",\"lanes\":[\"1111/cn-hangzhou\"]}"}`,
	`{"action":"restore","runId":"run-20261129","lane":"1111/cn-hangzhou","batchId":"b0002"}`,
	`{"timestamp":1764378000000,"requestContext":{"requestId":"r-1","functionArn":"acs:fc:cn-hangzhou:1111:functions/kmsmig-poll","condition":"UnhandledInvocationError","approximateInvokeCount":3},"requestPayload":"{}","responseContext":{"statusCode": 200, "functionError":"UnhandledInvocationError"},"responsePayload":"boom"}`,
	`{"responseContext":null}`,
	`{"requestContext":{"requestId":"r-2","extra":true},"version":"v2","responsePayload":"{\"errorMessage\":\"x\"}"}`,
	`{"runId":"a","runId":"a"}`,
	`{"runId":"x"} {}`,
	`{"runId":"x"} garbage`,
	`{"runId":"a","RUNID":"b"}`,
	`{"runID":"case"}`,
	`{"colour":"red"}`,
	`{"dryRun":"yes"}`,
	`[]`,
	`null`,
	"{\"runId\":\"\xff\"}",
}

// decodeAsProduction decodes an event the way the functions do: through
// fcruntime.Handler (eventjson.Decode), in front of a handler that only
// captures the event.
func decodeAsProduction[E any](data []byte) (E, error) {
	var got E
	h := fcruntime.Handler(func(_ context.Context, e E) (struct{}, error) {
		got = e
		return struct{}{}, nil
	})
	if _, err := h.Invoke(context.Background(), data); err != nil {
		var zero E
		return zero, err
	}
	return got, nil
}

// checkEventRoundTrip asserts the property the production decoder must
// have for every event: an accepted event re-encodes to JSON that decodes
// to the same value, and that JSON is a fixed point of another round.
// What it accepts and refuses (trailing data, field-name case, repeated
// fields, lenient destination events) is pinned by
// TestProductionEventDecoding.
func checkEventRoundTrip[T any](t *testing.T, data []byte, normalize func(*T)) {
	t.Helper()
	v, err := decodeAsProduction[T](data)
	if err != nil {
		return
	}
	enc, err := json.Marshal(v)
	require.NoErrorf(t, err, "accepted event %q does not re-encode: %v", data, err)
	v2, err := decodeAsProduction[T](enc)
	require.NoErrorf(t, err, "re-encoded event %s is refused: %v (input %q)", enc, err, data)
	normalize(&v)
	normalize(&v2)
	require.Falsef(t, !reflect.DeepEqual(v, v2), "round trip changed the event:\n input %q\n first %#v\nsecond %#v", data, v, v2)
	enc2, err := json.Marshal(v2)
	require.Falsef(t, err != nil || !bytes.Equal(enc, enc2), "encoding is not a fixed point: %s vs %s (%v)", enc, enc2, err)
}

// compactRaw puts a raw JSON value in its compact form: encoding/json
// compacts a RawMessage when it marshals it, so only the compact form can
// survive a round trip byte for byte.
func compactRaw(m *json.RawMessage) {
	if len(*m) == 0 {
		return
	}
	var b bytes.Buffer
	if err := json.Compact(&b, *m); err == nil {
		*m = b.Bytes()
	}
}

// emptyToNil treats an empty list like an absent one: the fields are
// omitempty, so [] is written as nothing and reads back as nil, and the two
// mean the same to the handler ("not narrowed").
func emptyToNil(e *DiscoverEvent) {
	for _, l := range []*[]string{&e.Accounts, &e.Regions, &e.Include, &e.Exclude} {
		if len(*l) == 0 {
			*l = nil
		}
	}
}

// emptyLanesToNil treats a step event's empty lanes like absent ones:
// the field is omitempty, so [] is written as nothing; the handler
// refuses [] (a group names at least one lane), so no accepted event
// changes meaning.
func emptyLanesToNil(l *[]string) {
	if l != nil && *l != nil && len(*l) == 0 {
		*l = nil
	}
}

func FuzzDecodeDiscoverEvent(f *testing.F) {
	for _, s := range eventSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkEventRoundTrip(t, data, emptyToNil)
	})
}

func FuzzDecodeStepEvent(f *testing.F) {
	for _, s := range eventSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkEventRoundTrip(t, data, func(e *StepEvent) { emptyLanesToNil(&e.Lanes) })
	})
}

func FuzzDecodeRotateEvent(f *testing.F) {
	for _, s := range eventSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkEventRoundTrip(t, data, func(e *RotateEvent) { compactRaw(&e.ResponseContext); emptyLanesToNil(&e.Lanes) })
	})
}

// configEnv turns the fuzzer's input into an environment: lines of
// NAME=value (NAME without the KMSMIG_ prefix is accepted too, so the
// fuzzer reaches every variable cheaply).
func configEnv(data string) map[string]string {
	env := map[string]string{}
	for line := range strings.SplitSeq(data, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if !strings.HasPrefix(k, "KMSMIG_") {
			k = "KMSMIG_" + k
		}
		env[k] = v
	}
	return env
}

func FuzzLoadConfig(f *testing.F) {
	for _, s := range []string{
		"",
		"ACCOUNTS=111, 222\nROLE_ARNS=222=acs:ram::222:role/kmsmig\nREGIONS=cn-hangzhou,cn-shanghai\nKMS_ENDPOINTS=cn-hangzhou=127.0.0.1:1000\nINSECURE=true\nSTATE=oss://bucket/prefix\nTARGETS=111/cn-hangzhou=kst-1\nBATCH_KEYS=20\nEXCLUDE=secret:test-*;tag:env=dev",
		"WINDOW=02:00-06:00\nTIMEZONE=Asia/Shanghai\nMETHOD=automatic\nMAX_ATTEMPTS=5\nSTALL_AFTER=45m\nPOLL_WAIT=50s",
		"QPS=key-read=25,secret-read=20.5\nTASK_ACTIONS=Create,Describe,List\nFUNCTION_MIGRATE=-\nAUDIT=sls\nSLS_PROJECT=p",
		"ALERT_WEBHOOK=https://example.com/hook\nDINGTALK_WEBHOOK=https://oapi.dingtalk.com/robot/send?access_token=x\nDINGTALK_SECRET=SEC1\nALERT_PERIOD=2h",
		"ACCOUNTS=abc\nREGIONS=Hangzhou\nROLE_ARNS=222=arn:aws:iam::222:role/x\nINSECURE=maybe\nSTATE=s3://x\nTARGETS=nolane=kst-1\nBATCH_SECRETS=51\nKMS_ENDPOINTS=cn-hangzhou",
		"BATCH_KEYS=0\nMAX_ATTEMPTS=11\nSTALL_AFTER=-1s\nPOLL_WAIT=16m\nQPS=key-read=0\nWINDOW=02:00-02:00\nTIMEZONE=Mars/Olympus",
		"INCLUDE=secret:[\nEXCLUDE=alias:",
		"DINGTALK_SECRET=s\nAUDIT=loud\nMETHOD=auto\nBACKEND=observe\nTASK_ACTIONS=a,b",
		"STEP_LANES_PER_INVOCATION=5\nFANOUT_INVOCATIONS=90\nFUNCTION_POLL=ops-poll\nDISCOVER_LANES_PER_INVOCATION=1000",
		"STEP_LANES_PER_INVOCATION=0\nFANOUT_INVOCATIONS=91\nDISCOVER_LANES_PER_INVOCATION=-1",
		"STEP_LANES_PER_INVOCATION=1001\nFANOUT_INVOCATIONS=x\nFUNCTION_POLL=9poll",
		"STEP_LANES_PER_INVOCATION=10\nFUNCTION_MIGRATE=-",
		"STEP_LANES_PER_INVOCATION=10\nFUNCTION_POLL=-",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		env := configEnv(data)
		c, err := LoadConfig(func(k string) string { return env[k] })
		if err != nil {
			require.Falsef(t, !strings.Contains(err.Error(), "KMSMIG_"), "error names no KMSMIG_ variable: %v", err)
			return
		}
		checkConfig(t, c)
	})
}

// checkConfig asserts that an accepted configuration is one the functions
// can run with: every value within its documented range.
func checkConfig(t *testing.T, c Config) {
	t.Helper()
	require.Falsef(t, c.Plan.MaxKeys < 1 || c.Plan.MaxKeys > plan.MaxPerKind || c.Plan.MaxSecrets < 1 || c.Plan.MaxSecrets > plan.MaxPerKind, "batch limits %d/%d outside 1..%d", c.Plan.MaxKeys, c.Plan.MaxSecrets, plan.MaxPerKind)
	require.NoError(t, c.Plan.Validate(), "accepted plan settings do not validate")
	require.Falsef(t, c.MaxAttempts < 1 || c.MaxAttempts > 10, "MaxAttempts %d outside 1..10", c.MaxAttempts)
	require.Falsef(t, c.StallAfter <= 0 || c.PollWait < 0 || c.PollWait > 15*time.Minute || c.AlertPeriod < 0, "durations out of range: stall %v, poll wait %v, alert period %v", c.StallAfter, c.PollWait, c.AlertPeriod)
	for g, n := range c.QPS {
		require.Falsef(t, !(n >= 0.1) || math.IsInf(n, 0) || !contains(quotaGroups, g), "QPS %s=%v: want a known group and a finite rate of at least 0.1", g, n)
	}
	require.Contains(t, []string{"auto", "sls", "stdout", "off"}, c.Audit)
	require.Falsef(t, !strings.HasPrefix(c.State, "dir:") && !strings.HasPrefix(c.State, "oss://"), "State %q", c.State)
	for _, a := range c.Accounts {
		require.Falsef(t, !digits(a), "account %q", a)
	}
	for _, r := range c.Regions {
		require.Falsef(t, !regionLike(r), "region %q", r)
	}
	for a, arn := range c.RoleArns {
		require.Falsef(t, !strings.HasPrefix(arn, "acs:ram::"+a+":role/"), "role %s=%s", a, arn)
	}
	for l := range c.Targets {
		require.NoError(t, l.Validate(), "target lane %q", l)
		p, err := estate.ParseLane(l.String())
		require.NoError(t, err, "target lane %q", l)
		require.Equal(t, l, p, "target lane %q does not round-trip", l)
	}
	require.NotNil(t, c.Timezone, "no time zone")
	if w := c.Window; w != nil {
		checkWindow(t, *w)
		s, e := w.At(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), c.Timezone)
		require.Falsef(t, !s.Before(e), "window %v in %v: start %v not before end %v", w, c.Timezone, s, e)
	}
	for _, a := range c.TaskActions {
		require.Falsef(t, a == "", "empty task action in %q", c.TaskActions)
	}
	require.Falsef(t, c.FunctionMigrate == "" || c.FunctionRotate == "" || c.FunctionPoll == "", "empty chained function name")
	require.Falsef(t, c.DiscoverLanesPerInvocation < 0 || c.DiscoverLanesPerInvocation > MaxLanesPerInvocation ||
		c.StepLanesPerInvocation < 0 || c.StepLanesPerInvocation > MaxLanesPerInvocation, "lanes per invocation %d/%d outside 0..%d",
		c.DiscoverLanesPerInvocation, c.StepLanesPerInvocation, MaxLanesPerInvocation)
	require.Falsef(t, c.FanoutInvocations < 1 || c.FanoutInvocations > MaxFanoutInvocations, "FanoutInvocations %d outside 1..%d", c.FanoutInvocations, MaxFanoutInvocations)
	require.Falsef(t, c.StepLanesPerInvocation > 0 && (c.FunctionMigrate == "-" || c.FunctionPoll == "-"), "a step fan-out without its own function")
	require.Falsef(t, c.DingTalkSecret != "" && c.DingTalkWebhook == "", "DingTalk secret without a webhook")
}

func contains(set []string, s string) bool {
	for _, v := range set {
		if v == s {
			return true
		}
	}
	return false
}

func checkWindow(t *testing.T, w DailyWindow) {
	t.Helper()
	day := 24 * time.Hour
	require.Falsef(t, w.Start < 0 || w.Start >= day || w.End < 0 || w.End >= day || w.Start == w.End ||
		w.Start%time.Minute != 0 || w.End%time.Minute != 0, "window %+v: bounds must be distinct whole minutes within a day", w)
}

func FuzzParseDailyWindow(f *testing.F) {
	for _, s := range []string{"02:00-06:00", "23:00-03:00", "00:00-23:59", " 2:00 - 6:00 ", "2-6", "02:00",
		"25:00-06:00", "02:00-02:00", "02:00-06:00-07:00", "-", "02:60-03:00"} {
		f.Add(s, int64(1764388800), uint8(0))
	}
	zones := []*time.Location{time.UTC, mustZone(f, "Asia/Shanghai"), mustZone(f, "America/Sao_Paulo"), mustZone(f, "Europe/London"), mustZone(f, "Australia/Lord_Howe")}
	f.Fuzz(func(t *testing.T, s string, unix int64, zone uint8) {
		w, err := ParseDailyWindow(s)
		if err != nil {
			require.Falsef(t, !strings.Contains(err.Error(), "HH:MM") && !strings.Contains(err.Error(), "equal"), "error says neither the format nor the fault: %v", err)
			return
		}
		checkWindow(t, w)
		// The canonical text of w parses to w.
		text := clockText(w.Start) + "-" + clockText(w.End)
		w2, err := ParseDailyWindow(text)
		require.NoError(t, err, "%q -> %+v -> %q", s, w, text)
		require.Equal(t, w, w2, "%q -> %+v -> %q -> %+v", s, w, text, w2)
		// At returns the window open at now or the next one: it ends after
		// now, is ordered, lasts at most a day (give or take a DST shift)
		// and starts within a day of now.
		const slack = 2 * time.Hour
		now := time.Unix(unix%(400*365*86400), 0) // within ±400 years of 1970
		loc := zones[int(zone)%len(zones)]
		start, end := w.At(now, loc)
		require.Falsef(t, !now.Before(end) || !start.Before(end) || end.Sub(start) > 24*time.Hour+slack || start.Sub(now) > 24*time.Hour+slack, "window %q at %v in %v: %v .. %v", s, now, loc, start, end)
	})
}

func clockText(d time.Duration) string {
	return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(d).Format("15:04")
}

func mustZone(f *testing.F, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		f.Fatalf("zone %s: %v", name, err)
	}
	return loc
}
