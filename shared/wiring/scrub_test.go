package wiring_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/wiring"
)

// injected are the credentials TestNoCredentialLeavesTheProcess plants in
// every error path it reaches, by name.
type injected map[string]string

// recorder is an HTTP receiver that keeps every request body.
type recorder struct {
	mu     sync.Mutex
	bodies []string
	answer func(w http.ResponseWriter)
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, string(b))
	r.mu.Unlock()
	r.answer(w)
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

// text returns everything written so far.
func (l *lines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// captureStderr redirects os.Stderr until the returned function is called,
// which restores it and returns what was written.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	return func() string {
		os.Stderr = old
		_ = w.Close()
		return <-done
	}
}

// TestNoCredentialLeavesTheProcess injects credentials (the invocation's
// AccessKeyId, AccessKeySecret and SecurityToken, a request Signature, the
// alert webhook URL with its access_token, the DingTalk signing secret and
// a Bearer token) into every error path a function has — KMS answering
// errors that carry them, STS unreachable (credentials-go puts the signed
// URL in its error), the OSS store failing with them, alert delivery
// failing with them, a use case returning, storing, logging and alerting
// them, a panic — and scans every output: the run-state files, the errors
// returned to Function Compute, stderr, the audit trail and the alert
// bodies the receivers got. It lists the injected secrets found (expected:
// none) and fails if there is any.
func TestNoCredentialLeavesTheProcess(t *testing.T) {
	st := startStack(t)
	ready := st.Ready()
	home := homeAccount(t, st)
	member := ""
	for _, a := range ready.Accounts {
		if a.ID != home.ID {
			member = a.ID
			break
		}
	}
	require.NotEmpty(t, member)

	secrets := injected{
		"AccessKeyId":     home.AccessKeyID,
		"AccessKeySecret": home.AccessKeySecret,
		"SecurityToken":   "CAIShQJ1q6Ft5B2yfSjIr5bkLI3kuO1t1aSoUkHZ1jUxZdRinjected",
		"Signature":       "InjSig9f86d081884c7d659a2feaa0c55ad0",
		"webhook token":   "whk7c1e0a2b44f9d8e6a5b3c2d1e0f9a8b7",
		"DingTalk token":  "dtk5b3c2d1e0f9a8b7c1e0a2b44f9d8e6a",
		"DingTalk secret": "SECd6e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1",
		"Bearer token":    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrbXNtaWcifQ.c2lnbmF0dXJlSW5qZWN0ZWQ",
	}
	webhookRecv := &recorder{answer: func(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) }}
	webhook := httptest.NewServer(webhookRecv)
	t.Cleanup(webhook.Close)
	webhookURL := webhook.URL + "/kmsmig/alerts?access_token=" + secrets["webhook token"]

	// The text every hostile answer carries: what a careless proxy, SDK or
	// receiver could echo back.
	leak := func() string {
		return fmt.Sprintf("denied GET https://kms.cn-hangzhou.aliyuncs.com/?Action=ListSecrets&AccessKeyId=%s&SecurityToken=%s&Signature=%s "+
			"(key pair %s / %s, session %s); alerts to %s signed with %s; Authorization: Bearer %s",
			secrets["AccessKeyId"], secrets["SecurityToken"], secrets["Signature"],
			secrets["AccessKeyId"], secrets["AccessKeySecret"], secrets["SecurityToken"],
			webhookURL, secrets["DingTalk secret"], secrets["Bearer token"])
	}

	// DingTalk refuses every message, echoing the credentials in errmsg.
	dingRecv := &recorder{answer: func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"errcode": 310000, "errmsg": "sign not match: " + leak()})
	}}
	ding := httptest.NewServer(dingRecv)
	t.Cleanup(ding.Close)
	dingURL := ding.URL + "/robot/send?access_token=" + secrets["DingTalk token"]

	// KMS: the twin behind a proxy that answers ListSecrets with an error
	// carrying the credentials.
	kmsTarget, err := url.Parse("http://" + ready.KMS["cn-hangzhou"])
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(kmsTarget)
	kms := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := r.Header.Get("x-acs-action")
		if action == "" {
			action = r.URL.Query().Get("Action")
		}
		if action == "ListSecrets" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(map[string]string{"RequestId": "req-hostile", "HostId": "kms", "Code": "Forbidden.NoPermission", "Message": leak()})
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(kms.Close)

	// OSS: every call fails with the credentials in the error's message.
	oss := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("x-oss-request-id", "req-oss")
		w.WriteHeader(http.StatusForbidden)
		_, _ = fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>%s</Message><RequestId>req-oss</RequestId><HostId>oss</HostId></Error>",
			strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(leak()))
	}))
	t.Cleanup(oss.Close)

	// STS: a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sts := ln.Addr().String()
	require.NoError(t, ln.Close())

	state := t.TempDir()
	env := map[string]string{
		"KMSMIG_STATE":            "dir:" + state,
		"KMSMIG_AUDIT":            "stdout",
		"KMSMIG_INSECURE":         "true",
		"KMSMIG_REGIONS":          "cn-hangzhou",
		"KMSMIG_ACCOUNTS":         home.ID + "," + member,
		"KMSMIG_ROLE_ARNS":        member + "=acs:ram::" + member + ":role/kmsmig-member",
		"KMSMIG_STS_ENDPOINT":     sts,
		"KMSMIG_KMS_ENDPOINTS":    "cn-hangzhou=" + strings.TrimPrefix(kms.URL, "http://"),
		"KMSMIG_ALERT_WEBHOOK":    webhookURL,
		"KMSMIG_DINGTALK_WEBHOOK": dingURL,
		"KMSMIG_DINGTALK_SECRET":  secrets["DingTalk secret"],
		"KMSMIG_FUNCTION_MIGRATE": "-",
		"KMSMIG_FUNCTION_ROTATE":  "-",
		"KMSMIG_ALERT_PERIOD":     "1m",
	}
	fcCtx := func(requestID string) context.Context {
		fcc := &fccontext.FcContext{RequestID: requestID, AccountId: home.ID, Region: "cn-hangzhou"}
		fcc.Function.Name = "kmsmig-discover"
		fcc.Credentials.AccessKeyId, fcc.Credentials.AccessKeySecret, fcc.Credentials.SecurityToken =
			secrets["AccessKeyId"], secrets["AccessKeySecret"], secrets["SecurityToken"]
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		t.Cleanup(cancel)
		return fccontext.NewContext(ctx, fcc)
	}

	stdout := &lines{}
	var returned, results []string
	stderr := captureStderr(t)
	var stderrText string
	func() {
		defer func() { stderrText = stderr() }()

		// 1. discover: KMS errors and STS unreachable, stored as discovery
		// errors in the inventory and the reports.
		h := fcruntime.Handler(wiring.Handler("discover", wiring.Discover, getenv(env), stdout, os.Stderr))
		out, err := h.Invoke(fcCtx("req-discover"), []byte(`{}`))
		if err != nil {
			returned = append(returned, err.Error())
		}
		results = append(results, string(out))

		// 2. a use case that stores batch state, logs, alerts and returns
		// errors carrying the credentials.
		uc := func(ctx context.Context, d *wiring.Deps, _ app.StepEvent) (app.StepResult, error) {
			_, err := runstate.MutateJSON(ctx, d.Store, statekeys.Batch("scrub", "b0001"), func(b *migration.BatchState, _ bool) error {
				b.Lane = estate.Lane{Account: home.ID, Region: "cn-hangzhou"}
				b.Message, b.Deferred = "task failed: "+leak(), "instance busy: "+leak()
				b.Problems = []string{leak()}
				b.History = append(b.History, migration.Transition{To: "failed", Reason: leak()})
				return nil
			})
			require.NoError(t, err)
			d.Audit.Log(ctx, audit.Record{Action: "Probe", Outcome: "failed", Message: leak()})
			_ = d.Alerter.Alert(ctx, alert.Alert{Key: "probe/" + secrets["SecurityToken"], Severity: alert.Critical, Title: "probe " + leak(), Text: leak(),
				Fields: map[string]string{"detail": leak(), "resource_id": secrets["AccessKeySecret"]}})
			return app.StepResult{}, fmt.Errorf("poll: %s: %w", leak(), fs.ErrPermission)
		}
		h = fcruntime.Handler(wiring.Handler("poll", uc, getenv(env), stdout, os.Stderr))
		_, err = h.Invoke(fcCtx("req-usecase"), []byte(`{}`))
		require.Error(t, err, "the use case fails")
		returned = append(returned, err.Error())

		// 2b. a use case that succeeds with a result whose reasons carry
		// them (Function Compute logs results and passes them on).
		okCase := func(context.Context, *wiring.Deps, app.StepEvent) (app.StepResult, error) {
			return app.StepResult{RunID: "scrub", Steps: []migration.StepResult{{BatchID: "b0001", Step: "migrate", Outcome: "deferred",
				Reason: "rotation change refused: " + leak(), Pending: []string{"key:k1: " + leak()}}}}, nil
		}
		h = fcruntime.Handler(wiring.Handler("migrate", okCase, getenv(env), stdout, os.Stderr))
		out, err = h.Invoke(fcCtx("req-result"), []byte(`{}`))
		require.NoError(t, err)
		results = append(results, string(out))

		// 3. a panic whose value carries them: its stack goes to stderr.
		boom := func(context.Context, *wiring.Deps, app.StepEvent) (app.StepResult, error) { panic(errors.New(leak())) }
		h = fcruntime.Handler(wiring.Handler("migrate", boom, getenv(env), stdout, os.Stderr))
		_, err = h.Invoke(fcCtx("req-panic"), []byte(`{}`))
		require.Error(t, err)
		returned = append(returned, err.Error())

		// 4. the OSS store failing with them at open.
		ossEnv := map[string]string{}
		for k, v := range env {
			ossEnv[k] = v
		}
		ossEnv["KMSMIG_STATE"], ossEnv["KMSMIG_OSS_ENDPOINT"], ossEnv["KMSMIG_OSS_REGION"] = "oss://kmsmig-state/x", strings.TrimPrefix(oss.URL, "http://"), "cn-hangzhou"
		h = fcruntime.Handler(wiring.Handler("migrate", wiring.Migrate, getenv(ossEnv), stdout, os.Stderr))
		_, err = h.Invoke(fcCtx("req-oss"), []byte(`{}`))
		require.Error(t, err, "the store cannot open")
		returned = append(returned, err.Error())

		// 5. a bad configuration whose error quotes the value.
		badEnv := map[string]string{}
		for k, v := range env {
			badEnv[k] = v
		}
		badEnv["KMSMIG_WINDOW"] = "Bearer " + secrets["Bearer token"] // pasted into the wrong setting
		h = fcruntime.Handler(wiring.Handler("migrate", wiring.Migrate, getenv(badEnv), stdout, os.Stderr))
		_, err = h.Invoke(fcCtx("req-badcfg"), []byte(`{}`))
		require.Error(t, err)
		returned = append(returned, err.Error())
	}()

	// The outputs.
	outputs := map[string]string{"stderr": stderrText, "audit trail (stdout)": stdout.text()}
	for i, e := range returned {
		outputs[fmt.Sprintf("returned error %d", i+1)] = e
	}
	for i, r := range results {
		outputs[fmt.Sprintf("returned result %d", i+1)] = r
	}
	for i, b := range webhookRecv.all() {
		outputs[fmt.Sprintf("webhook body %d", i+1)] = b
	}
	for i, b := range dingRecv.all() {
		outputs[fmt.Sprintf("dingtalk body %d", i+1)] = b
	}
	var files []string
	require.NoError(t, filepath.WalkDir(state, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(state, path)
		files = append(files, rel)
		outputs["store "+rel] = string(b)
		return nil
	}))

	// The scan must have reached every path: otherwise "nothing found"
	// proves nothing.
	joined := func(prefix string) string {
		var b strings.Builder
		for k, v := range outputs {
			if strings.HasPrefix(k, prefix) {
				b.WriteString(v)
			}
		}
		return b.String()
	}
	reached := map[string]bool{
		"KMS error stored as a discovery error": strings.Contains(joined("store "), "Forbidden.NoPermission"),
		"discovery error in report.md":          strings.Contains(joined("store runs/"), "ListSecrets"),
		"batch state stored":                    strings.Contains(joined("store runs/scrub/batches/"), "task failed"),
		"use case error returned":               strings.Contains(joined("returned error"), "poll: denied"),
		"use case result returned":              strings.Contains(joined("returned result"), "rotation change refused"),
		"panic on stderr":                       strings.Contains(stderrText, "kmsmig: panic"),
		"store error returned":                  strings.Contains(joined("returned error"), "open run-state store: oss: access denied"),
		"configuration error returned":          strings.Contains(joined("returned error"), "KMSMIG_WINDOW"),
		"webhook received alerts":               len(webhookRecv.all()) >= 2,
		"dingtalk received alerts":              len(dingRecv.all()) >= 2,
		"dingtalk delivery error recorded":      strings.Contains(joined("audit"), "sign not match"),
		"STS unreachable stored":                strings.Contains(joined("store runs/"), sts+"?"),
	}
	var missed []string
	for what, ok := range reached {
		if !ok {
			missed = append(missed, what)
		}
	}
	sort.Strings(missed)
	require.Empty(t, missed, "paths the test did not reach (files: %v; returned: %q)", files, returned)

	var found []string
	for _, name := range sortedNames(secrets) {
		for _, where := range sortedNames(outputs) {
			if strings.Contains(outputs[where], secrets[name]) {
				found = append(found, name+" in "+where)
			}
		}
	}
	// A signature the SDK computed is not known in advance: no Signature
	// query value may survive.
	sig := regexp.MustCompile(`Signature=([^\[&\s"\\]+)`)
	for _, where := range sortedNames(outputs) {
		for _, m := range sig.FindAllStringSubmatch(outputs[where], -1) {
			found = append(found, "Signature value "+m[1]+" in "+where)
		}
	}
	if os.Getenv("SCRUB_DUMP") != "" {
		for _, k := range sortedNames(outputs) {
			t.Logf("--- %s\n%s", k, outputs[k])
		}
	}
	t.Logf("injected %d secrets (%s) into discover, a use case, a panic, the OSS store and a bad setting; scanned %d outputs (%d store files)",
		len(secrets), strings.Join(sortedNames(secrets), ", "), len(outputs), len(files))
	t.Logf("injected secrets found: %d %v", len(found), found)
	require.Empty(t, found, "credentials left the process")
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
