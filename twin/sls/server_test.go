package sls_test

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
	"github.com/kmsmig/kmsmig/twin/sls"
)

const (
	accountA = "1111111111111111"
	accountB = "2222222222222222"
	project  = "kmsmig-audit"
	store    = "audit"
)

type fixture struct {
	srv  *sls.Server
	keys *acs.Keyring
	ts   *httptest.Server
	a, b acs.Credential
}

func newFixture(t *testing.T, opts ...sls.Option) *fixture {
	t.Helper()
	keys := acs.NewKeyring()
	a, err := keys.AddAccount(accountA, "", "")
	require.NoError(t, err)
	b, err := keys.AddAccount(accountB, "", "")
	require.NoError(t, err)
	srv := sls.New(keys, opts...)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &fixture{srv: srv, keys: keys, ts: ts, a: a, b: b}
}

func (f *fixture) addr() string { return f.ts.Listener.Addr().String() }

// client returns an official SDK client for c.
func (f *fixture) client(c acs.Credential) *slssdk.Client {
	return &slssdk.Client{
		Endpoint:        f.addr(),
		AccessKeyID:     c.AccessKeyID,
		AccessKeySecret: c.AccessKeySecret,
		SecurityToken:   c.SecurityToken,
		HTTPClient:      sls.HTTPClient(f.addr()),
		RetryTimeOut:    2 * time.Second,
	}
}

// setup creates the project, logstore and an index with keys and full text.
func (f *fixture) setup(t *testing.T) *slssdk.Client {
	t.Helper()
	c := f.client(f.a)
	_, err := c.CreateProject(project, "audit trail")
	require.NoError(t, err)
	require.NoError(t, c.CreateLogStore(project, store, 30, 1, false, 0))
	idx := slssdk.Index{
		Keys: map[string]slssdk.IndexKey{
			"action":  {Token: []string{" ", ",", ":"}, Type: "text"},
			"outcome": {Token: []string{" "}, Type: "text"},
			"message": {Token: []string{" ", ",", "."}, Type: "text"},
			"id":      {Token: []string{" "}, Type: "text", CaseSensitive: true},
		},
		Line: &slssdk.IndexLine{Token: []string{" ", ",", "."}},
	}
	require.NoError(t, c.CreateIndex(project, store, idx))
	return c
}

func ptr[T any](v T) *T { return &v }

func logOf(t time.Time, kv ...string) *slssdk.Log {
	l := &slssdk.Log{Time: ptr(uint32(t.Unix()))}
	for i := 0; i+1 < len(kv); i += 2 {
		l.Contents = append(l.Contents, &slssdk.LogContent{Key: ptr(kv[i]), Value: ptr(kv[i+1])})
	}
	return l
}

func slsCode(t *testing.T, err error) string {
	t.Helper()
	require.Error(t, err)
	var e *slssdk.Error
	require.ErrorAs(t, err, &e)
	require.NotEmpty(t, e.RequestID, "x-log-requestid must come back with every error")
	return e.Code
}

func TestProjectLogstoreIndex(t *testing.T) {
	f := newFixture(t)
	c := f.setup(t)

	p, err := c.GetProject(project)
	require.NoError(t, err)
	require.Equal(t, project, p.Name)
	require.Equal(t, "Normal", p.Status)

	ls, err := c.GetLogStore(project, store)
	require.NoError(t, err)
	require.Equal(t, 30, ls.TTL)
	require.Equal(t, 1, ls.ShardCount)

	names, err := c.ListLogStore(project)
	require.NoError(t, err)
	require.Equal(t, []string{store}, names)

	idx, err := c.GetIndex(project, store)
	require.NoError(t, err)
	require.Contains(t, idx.Keys, "action")
	require.NotNil(t, idx.Line)

	idx.Keys["extra"] = slssdk.IndexKey{Token: []string{" "}, Type: "text"}
	require.NoError(t, c.UpdateIndex(project, store, *idx))
	idx, err = c.GetIndex(project, store)
	require.NoError(t, err)
	require.Contains(t, idx.Keys, "extra")

	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"project again", func() error { _, err := c.CreateProject(project, ""); return err }, sls.CodeProjectAlreadyExist},
		{"logstore again", func() error { return c.CreateLogStore(project, store, 30, 1, false, 0) }, sls.CodeLogStoreAlreadyExist},
		{"index again", func() error { return c.CreateIndex(project, store, *idx) }, sls.CodeIndexAlreadyExist},
		{"missing project", func() error { _, err := c.GetLogStore("no-such-project", store); return err }, sls.CodeProjectNotExist},
		{"missing logstore", func() error { _, err := c.GetLogStore(project, "nope"); return err }, sls.CodeLogStoreNotExist},
		{"index of missing logstore", func() error { _, err := c.GetIndex(project, "nope"); return err }, sls.CodeLogStoreNotExist},
		{"bad ttl", func() error { return c.CreateLogStore(project, "other", 0, 1, false, 0) }, sls.CodeParameterInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, slsCode(t, tt.call()))
		})
	}

	require.NoError(t, c.CreateLogStore(project, "noindex", 1, 1, false, 0))
	bare, err := c.GetLogStore(project, "noindex")
	require.NoError(t, err)
	exists, err := bare.CheckIndexExist()
	require.NoError(t, err)
	require.False(t, exists)
}

func TestPutLogsCompression(t *testing.T) {
	f := newFixture(t)
	c := f.setup(t)
	now := time.Now()
	tests := []struct {
		name     string
		compress int
	}{
		{"lz4", slssdk.Compress_LZ4},
		{"zstd", slssdk.Compress_ZSTD},
		{"none", slssdk.Compress_None},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lg := &slssdk.LogGroup{
				Topic:   ptr("migration"),
				Source:  ptr("fn-" + tt.name),
				LogTags: []*slssdk.LogTag{{Key: ptr("run"), Value: ptr("r1")}},
				Logs: []*slssdk.Log{
					logOf(now, "id", tt.name, "action", "DisableRotation", "message", strings.Repeat("compressible ", 100)),
				},
			}
			require.NoError(t, c.PostLogStoreLogsV2(project, store, &slssdk.PostLogStoreLogsRequest{LogGroup: lg, CompressType: tt.compress}))
			var got *sls.Log
			for _, l := range f.srv.Logs(project, store) {
				if v, _ := l.Value("id"); v == tt.name {
					got = &l
				}
			}
			require.NotNil(t, got, "log %s not stored", tt.name)
			require.Equal(t, "migration", got.Topic)
			require.Equal(t, "fn-"+tt.name, got.Source)
			require.Equal(t, []sls.Content{{Key: "run", Value: "r1"}}, got.Tags)
			require.Equal(t, now.Unix(), got.Time.Unix())
			action, _ := got.Value("action")
			require.Equal(t, "DisableRotation", action)
		})
	}
}

func TestGetLogsQuery(t *testing.T) {
	f := newFixture(t)
	c := f.setup(t)
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	lg := &slssdk.LogGroup{Topic: ptr("t1")}
	rows := []struct{ id, action, outcome, message string }{
		{"k1", "DisableRotation", "ok", "rotation disabled on key-1"},
		{"k2", "DisableRotation", "failed", "Throttled by KMS, retry later"},
		{"k3", "Migrate", "ok", "migrated into kst-instance"},
		{"K4", "Migrate", "failed", "quota exceeded"},
		{"k5", "RestoreRotation", "ok", "rotation restored"},
	}
	for i, r := range rows {
		lg.Logs = append(lg.Logs, logOf(base.Add(time.Duration(i)*time.Second), "id", r.id, "action", r.action, "outcome", r.outcome, "message", r.message))
	}
	require.NoError(t, c.PutLogs(project, store, lg))

	from, to := base.Unix(), base.Add(time.Minute).Unix()
	tests := []struct {
		query string
		want  []string
	}{
		{"*", []string{"k1", "k2", "k3", "K4", "k5"}},
		{"", []string{"k1", "k2", "k3", "K4", "k5"}},
		{"action:Migrate", []string{"k3", "K4"}},
		{"action:migrate", []string{"k3", "K4"}}, // keys are case-insensitive unless configured
		{"id:k4", nil},                           // id is case-sensitive
		{"id:K4", []string{"K4"}},
		{"outcome:failed and action:DisableRotation", []string{"k2"}},
		{"outcome:failed or action:RestoreRotation", []string{"k2", "K4", "k5"}},
		{"not outcome:ok", []string{"k2", "K4"}},
		{"action:Migrate not outcome:failed", []string{"k3"}},
		{"(action:Migrate or action:RestoreRotation) and outcome:ok", []string{"k3", "k5"}},
		{"rotation", []string{"k1", "k5"}},
		{"throttled", []string{"k2"}},
		{`"quota exceeded"`, []string{"K4"}},
		{`message:"retry later"`, []string{"k2"}},
		{"action:Restore*", []string{"k5"}},
		{"outcome:*", []string{"k1", "k2", "k3", "K4", "k5"}},
		{"__topic__:t1 and id:k1", []string{"k1"}},
		{"__topic__:other", nil},
		{"nomatch", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, err := c.GetLogs(project, store, "", from, to, tt.query, 100, 0, false)
			require.NoError(t, err)
			require.True(t, resp.IsComplete())
			var got []string
			for _, l := range resp.Logs {
				got = append(got, l["id"])
			}
			require.Equal(t, tt.want, got)
			require.Equal(t, int64(len(tt.want)), resp.Count)
		})
	}

	t.Run("reverse offset line", func(t *testing.T) {
		resp, err := c.GetLogs(project, store, "", from, to, "*", 2, 1, true)
		require.NoError(t, err)
		require.Len(t, resp.Logs, 2)
		require.Equal(t, "K4", resp.Logs[0]["id"])
		require.Equal(t, "k3", resp.Logs[1]["id"])
		require.Equal(t, strconv.FormatInt(base.Add(3*time.Second).Unix(), 10), resp.Logs[0]["__time__"])
	})
	t.Run("time range is [from, to)", func(t *testing.T) {
		resp, err := c.GetLogs(project, store, "", base.Add(time.Second).Unix(), base.Add(3*time.Second).Unix(), "*", 100, 0, false)
		require.NoError(t, err)
		require.Len(t, resp.Logs, 2)
		require.Equal(t, "k2", resp.Logs[0]["id"])
	})
	refused := []struct{ query, code string }{
		{"unknown:x", sls.CodeParameterInvalid},
		{"(action:Migrate", sls.CodeParameterInvalid},
		{"* | select count(*)", sls.CodeNotSupported},
	}
	for _, tt := range refused {
		t.Run("refused "+tt.query, func(t *testing.T) {
			_, err := c.GetLogs(project, store, "", from, to, tt.query, 100, 0, false)
			require.Equal(t, tt.code, slsCode(t, err))
		})
	}
	t.Run("no index", func(t *testing.T) {
		require.NoError(t, c.CreateLogStore(project, "bare", 1, 1, false, 0))
		_, err := c.GetLogs(project, "bare", "", from, to, "*", 100, 0, false)
		require.Equal(t, sls.CodeIndexConfigNotExist, slsCode(t, err))
	})
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	f.setup(t)
	now := time.Now()
	sts, err := f.keys.MintSTS(accountA, "acs:ram::"+accountA+":role/fc", time.Hour, now)
	require.NoError(t, err)
	expired, err := f.keys.MintSTS(accountA, "acs:ram::"+accountA+":role/fc", time.Hour, now.Add(-2*time.Hour))
	require.NoError(t, err)

	wrongSecret := f.a
	wrongSecret.AccessKeySecret = "not-the-secret"
	unknown := acs.Credential{AccessKeyID: "LTAIunknown", AccessKeySecret: "x"}
	noToken := sts
	noToken.SecurityToken = ""
	badToken := sts
	badToken.SecurityToken = "CAISforged"

	tests := []struct {
		name string
		cred acs.Credential
		want string // "" means success
	}{
		{"owner long-term key", f.a, ""},
		{"owner STS", sts, ""},
		{"wrong secret", wrongSecret, sls.CodeSignatureNotMatch},
		{"unknown key", unknown, sls.CodeUnauthorized},
		{"other account", f.b, sls.CodeUnauthorized},
		{"STS without token", noToken, sls.CodeUnauthorized},
		{"STS with wrong token", badToken, sls.CodeUnauthorized},
		{"expired STS", expired, sls.CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.client(tt.cred)
			lg := &slssdk.LogGroup{Logs: []*slssdk.Log{logOf(now, "id", tt.name)}}
			err := c.PutLogs(project, store, lg)
			if tt.want == "" {
				require.NoError(t, err)
				_, err = c.GetLogs(project, store, "", now.Unix()-60, now.Unix()+60, "*", 10, 0, false)
				require.NoError(t, err)
				return
			}
			require.Equal(t, tt.want, slsCode(t, err))
		})
	}
}

func TestSignatureV4(t *testing.T) {
	f := newFixture(t, sls.WithRegion("cn-hangzhou"))
	f.setup(t)
	for _, tt := range []struct {
		region string
		want   string
	}{{"cn-hangzhou", ""}, {"cn-shanghai", sls.CodeSignatureNotMatch}} {
		t.Run(tt.region, func(t *testing.T) {
			c := f.client(f.a)
			c.AuthVersion = slssdk.AuthV4
			c.Region = tt.region
			lg := &slssdk.LogGroup{Logs: []*slssdk.Log{logOf(time.Now(), "id", "v4")}}
			err := c.PutLogs(project, store, lg)
			if tt.want == "" {
				require.NoError(t, err)
				resp, err := c.GetLogs(project, store, "", time.Now().Unix()-60, time.Now().Unix()+60, "id:v4", 10, 0, false)
				require.NoError(t, err)
				require.Len(t, resp.Logs, 1)
				return
			}
			require.Equal(t, tt.want, slsCode(t, err))
		})
	}
}

func TestClockSkew(t *testing.T) {
	skewed := time.Now().Add(time.Hour)
	f := newFixture(t, sls.WithClock(func() time.Time { return skewed }))
	_, err := f.client(f.a).CreateProject(project, "")
	require.Equal(t, sls.CodeRequestTimeTooSkewed, slsCode(t, err))
}

func TestPutLogsLimits(t *testing.T) {
	f := newFixture(t)
	c := f.setup(t)

	t.Run("log group over 5 MB", func(t *testing.T) {
		big := strings.Repeat("x", 1<<20)
		lg := &slssdk.LogGroup{}
		for i := 0; i < 6; i++ {
			lg.Logs = append(lg.Logs, logOf(time.Now(), "message", big))
		}
		require.Equal(t, sls.CodePostBodyTooLarge, slsCode(t, c.PutLogs(project, store, lg)))
	})
	t.Run("log group just under 5 MB", func(t *testing.T) {
		lg := &slssdk.LogGroup{Logs: []*slssdk.Log{logOf(time.Now(), "message", strings.Repeat("y", sls.MaxLogGroupBytes-100))}}
		require.NoError(t, c.PutLogs(project, store, lg))
	})
	t.Run("garbage body", func(t *testing.T) {
		err := c.PutRawLogWithCompressType(project, store, []byte{0x0a, 0xff, 0xff, 0xff}, slssdk.Compress_LZ4)
		require.Equal(t, sls.CodePostBodyInvalid, slsCode(t, err))
	})
	t.Run("logstore missing", func(t *testing.T) {
		lg := &slssdk.LogGroup{Logs: []*slssdk.Log{logOf(time.Now(), "id", "x")}}
		require.Equal(t, sls.CodeLogStoreNotExist, slsCode(t, c.PutLogs(project, "nope", lg)))
	})
}

func TestFaultInjection(t *testing.T) {
	f := newFixture(t)
	c := f.setup(t)
	f.srv.SetFault(func(op, _, _ string) *sls.Error {
		if op == "PutLogs" {
			return &sls.Error{Status: http.StatusForbidden, Code: "WriteQuotaExceed", Message: "Project write quota exceed"}
		}
		return nil
	})
	lg := &slssdk.LogGroup{Logs: []*slssdk.Log{logOf(time.Now(), "id", "x")}}
	require.Equal(t, "WriteQuotaExceed", slsCode(t, c.PutLogs(project, store, lg)))
	f.srv.SetFault(nil)
	require.NoError(t, c.PutLogs(project, store, lg))
}

// signedRequest sends a request signed by the SDK's own V1 signer, for the
// forms the SDK no longer sends (GET ?type=log, deflate bodies).
func (f *fixture) signedRequest(t *testing.T, method, uri string, headers map[string]string, body []byte) *http.Response {
	t.Helper()
	headers["Date"] = time.Now().UTC().Format(http.TimeFormat)
	headers["x-log-apiversion"] = "0.6.0"
	headers["Host"] = project + "." + f.addr()
	require.NoError(t, slssdk.NewSignerV1(f.a.AccessKeyID, f.a.AccessKeySecret).Sign(method, uri, headers, body))
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+project+"."+f.addr()+uri, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := sls.HTTPClient(f.addr()).Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestDeflateAndQueryStringGetLogs(t *testing.T) {
	f := newFixture(t)
	f.setup(t)
	now := time.Now()
	raw, err := (&slssdk.LogGroup{Logs: []*slssdk.Log{logOf(now, "id", "deflated", "action", "Migrate")}}).Marshal()
	require.NoError(t, err)
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(raw)
	require.NoError(t, zw.Close())
	resp := f.signedRequest(t, http.MethodPost, "/logstores/"+store+"/shards/lb", map[string]string{
		"Content-Type":       "application/x-protobuf",
		"x-log-compresstype": "deflate",
		"x-log-bodyrawsize":  strconv.Itoa(len(raw)),
	}, buf.Bytes())
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))

	uri := fmt.Sprintf("/logstores/%s?type=log&from=%d&to=%d&query=%s&line=10&offset=0&reverse=false",
		store, now.Unix()-10, now.Unix()+10, "action%3AMigrate")
	resp = f.signedRequest(t, http.MethodGet, uri, map[string]string{"x-log-bodyrawsize": "0"}, nil)
	body, _ = io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "Complete", resp.Header.Get("x-log-progress"))
	require.Equal(t, "1", resp.Header.Get("x-log-count"))
	var logs []map[string]string
	require.NoError(t, json.Unmarshal(body, &logs))
	require.Len(t, logs, 1)
	require.Equal(t, "deflated", logs[0]["id"])

	resp = f.signedRequest(t, http.MethodPost, "/logstores/"+store, map[string]string{
		"Content-Type":       "application/x-protobuf",
		"x-log-compresstype": "gzip",
		"x-log-bodyrawsize":  strconv.Itoa(len(raw)),
	}, raw)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	var e struct{ ErrorCode, ErrorMessage string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	require.Equal(t, sls.CodeInvalidCompressType, e.ErrorCode)
	require.NotEmpty(t, resp.Header.Get("x-log-requestid"))
}

func TestLogsAccessor(t *testing.T) {
	f := newFixture(t)
	require.Nil(t, f.srv.Logs("nope", "nope"))
	require.NoError(t, f.srv.AddProject(accountA, project, ""))
	require.Error(t, f.srv.AddProject(accountB, project, ""))
	c := f.client(f.a)
	require.NoError(t, c.CreateLogStore(project, store, 1, 1, false, 0))
	lg := &slssdk.LogGroup{Logs: []*slssdk.Log{logOf(time.Now(), "b", "2", "a", "1")}}
	require.NoError(t, c.PutLogs(project, store, lg))
	logs := f.srv.Logs(project, store)
	require.Len(t, logs, 1)
	keys := []string{logs[0].Contents[0].Key, logs[0].Contents[1].Key}
	require.False(t, sort.StringsAreSorted(keys), "contents keep the order they were sent in")
	require.NotEmpty(t, logs[0].Source, "an empty source becomes the client address")
}
