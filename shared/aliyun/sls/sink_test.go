package sls_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/twin/acs"
	twinsls "github.com/kmsmig/kmsmig/twin/sls"
)

const (
	account  = "1234567890123456"
	project  = "kmsmig-trail"
	logstore = "audit"
)

type twin struct {
	srv  *twinsls.Server
	addr string
	keys *acs.Keyring
	cred acs.Credential
}

// syncBuffer is a bytes.Buffer safe for the sinks' background writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTwin starts an SLS twin with the trail's project, logstore and an
// index on every record field, set up through the official client.
func newTwin(tb testing.TB) *twin {
	tb.Helper()
	keys := acs.NewKeyring()
	cred, err := keys.AddAccount(account, "", "")
	require.NoError(tb, err)
	srv := twinsls.New(keys)
	ts := httptest.NewServer(srv)
	tb.Cleanup(ts.Close)
	tw := &twin{srv: srv, addr: ts.Listener.Addr().String(), keys: keys, cred: cred}
	c := tw.client()
	_, err = c.CreateProject(project, "")
	require.NoError(tb, err)
	require.NoError(tb, c.CreateLogStore(project, logstore, 30, 1, false, 0))
	idx := slssdk.Index{Keys: map[string]slssdk.IndexKey{}, Line: &slssdk.IndexLine{Token: []string{" ", ",", ".", ":", "="}}}
	for _, k := range audit.FieldNames {
		idx.Keys[k] = slssdk.IndexKey{Token: []string{" ", ",", ":"}, Type: "text"}
	}
	require.NoError(tb, c.CreateIndex(project, logstore, idx))
	return tw
}

func (tw *twin) client() *slssdk.Client {
	return &slssdk.Client{Endpoint: tw.addr, AccessKeyID: tw.cred.AccessKeyID, AccessKeySecret: tw.cred.AccessKeySecret,
		HTTPClient: twinsls.HTTPClient(tw.addr), RetryTimeOut: 2 * time.Second}
}

func (tw *twin) sink(tb testing.TB, mod func(*sls.Config)) (*sls.Sink, *syncBuffer) {
	tb.Helper()
	diag := &syncBuffer{}
	cfg := sls.Config{
		Endpoint: tw.addr, Project: project, Logstore: logstore, Topic: "kmsmig",
		Credentials: sls.Credentials{AccessKeyID: tw.cred.AccessKeyID, AccessKeySecret: tw.cred.AccessKeySecret},
		DialAddr:    tw.addr, Diagnostics: diag,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := sls.NewSink(cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s, diag
}

func (tw *twin) query(t *testing.T, q string) []map[string]string {
	t.Helper()
	now := time.Now().Unix()
	resp, err := tw.client().GetLogs(project, logstore, "", now-3600, now+60, q, 100, 0, false)
	require.NoError(t, err)
	return resp.Logs
}

func TestSLSWriteAndReadBack(t *testing.T) {
	tw := newTwin(t)
	s, diag := tw.sink(t, nil)
	log := audit.Enrich(s)
	ctx := audit.WithScope(t.Context(), audit.Scope{RunID: "run-1", RequestID: "req-1", Function: "migrate", Account: account, Region: "cn-hangzhou"})

	log.Log(ctx, audit.Record{ResourceType: "key", ResourceID: "key-aaa", BatchID: "b1", Action: "DisableRotation", Outcome: "updated", DurationMS: 12})
	log.Log(ctx, audit.Record{ResourceType: "key", ResourceID: "key-bbb", BatchID: "b1", Action: "DisableRotation", Outcome: "failed",
		Level: audit.LevelError, ReasonCode: "Rejected.Throttling", Message: "throttled"})
	log.Log(ctx, audit.Record{ResourceType: "secret", ResourceID: "db-pass", BatchID: "b2", Action: "Migrate", Outcome: "created", TaskID: "task-9"})

	fctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, log.Flush(fctx))
	st := log.Stats()
	require.Equal(t, audit.Stats{Logged: 3, Written: 3}, st)
	require.True(t, st.Complete())

	tests := []struct {
		query string
		want  []string // resource ids
	}{
		{"run_id:run-1", []string{"key-aaa", "key-bbb", "db-pass"}},
		{"action:DisableRotation and outcome:failed", []string{"key-bbb"}},
		{"level:ERROR", []string{"key-bbb"}},
		{"resource_type:secret and task_id:task-9", []string{"db-pass"}},
		{"batch_id:b1 not outcome:failed", []string{"key-aaa"}},
		{"run_id:other", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var got []string
			for _, l := range tw.query(t, tt.query) {
				got = append(got, l["resource_id"])
			}
			require.Equal(t, tt.want, got)
		})
	}
	t.Run("fields", func(t *testing.T) {
		logs := tw.query(t, "resource_id:key-bbb")
		require.Len(t, logs, 1)
		l := logs[0]
		require.Equal(t, "req-1", l["request_id"])
		require.Equal(t, "migrate", l["function"])
		require.Equal(t, account, l["account"])
		require.Equal(t, "cn-hangzhou", l["region"])
		require.Equal(t, "Rejected.Throttling", l["reason_code"])
		require.Equal(t, "kmsmig", l["__topic__"])
	})
	require.Empty(t, diag.String())
}

func TestSLSWithSTSCredentials(t *testing.T) {
	tw := newTwin(t)
	// Each invocation brings fresh STS credentials; the sink asks every time.
	var mu sync.Mutex
	var current acs.Credential
	mint := func() {
		c, err := tw.keys.MintSTS(account, "acs:ram::"+account+":role/kmsmig-fc", time.Hour, time.Now())
		require.NoError(t, err)
		mu.Lock()
		current = c
		mu.Unlock()
	}
	mint()
	s, _ := tw.sink(t, func(c *sls.Config) {
		c.Credentials = sls.Credentials{}
		c.CredentialsFunc = func() (sls.Credentials, error) {
			mu.Lock()
			defer mu.Unlock()
			return sls.Credentials{AccessKeyID: current.AccessKeyID, AccessKeySecret: current.AccessKeySecret, SecurityToken: current.SecurityToken}, nil
		}
	})
	for i := range 2 {
		s.Log(t.Context(), audit.Record{Time: time.Now(), Level: audit.LevelInfo, RunID: "sts", Action: fmt.Sprintf("inv-%d", i)})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		require.NoError(t, s.Flush(ctx))
		cancel()
		mint() // the next invocation's credentials
	}
	require.Equal(t, int64(2), s.Stats().Written)
	require.Len(t, tw.query(t, "run_id:sts"), 2)
}

func TestSLSDownCallerUnaffected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())

	diag := &syncBuffer{}
	secret := "s3cr3tS3cr3tS3cr3tS3cr3tS3cr3t"
	s, err := sls.NewSink(sls.Config{
		Endpoint: dead, Project: project, Logstore: logstore, DialAddr: dead, Retries: -1,
		Credentials: sls.Credentials{AccessKeyID: "LTAIdead", AccessKeySecret: secret},
		Diagnostics: diag,
	})
	require.NoError(t, err)
	defer s.Close(t.Context())
	for i := range 50 {
		s.Log(t.Context(), audit.Record{Action: "Probe", Message: fmt.Sprint(i)})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Flush(ctx), "failed deliveries settle the records; Flush does not fail")
	st := s.Stats()
	require.Equal(t, int64(50), st.Logged)
	require.Equal(t, int64(50), st.Failed)
	require.Zero(t, st.Written)
	require.False(t, st.Complete())
	require.Contains(t, diag.String(), "failed")
	require.NotContains(t, diag.String(), secret)
}

func TestSLSFlushBoundedByDeadline(t *testing.T) {
	tw := newTwin(t)
	tw.srv.SetFault(func(op, _, _ string) *twinsls.Error {
		if op == "PutLogs" {
			return &twinsls.Error{Status: http.StatusServiceUnavailable, Code: twinsls.CodeServerBusy, Message: "busy"}
		}
		return nil
	})
	s, _ := tw.sink(t, func(c *sls.Config) { c.Retries = 100; c.MaxRetryBackoff = 50 * time.Millisecond })
	s.Log(t.Context(), audit.Record{Action: "Stuck"})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s.Flush(ctx), context.DeadlineExceeded)
	require.Equal(t, int64(1), s.Stats().Pending)

	// The service recovers: the producer's retries deliver the record.
	tw.srv.SetFault(nil)
	ctx2, cancel2 := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel2()
	require.NoError(t, s.Flush(ctx2))
	require.Equal(t, audit.Stats{Logged: 1, Written: 1}, s.Stats())
	require.Len(t, tw.query(t, "action:Stuck"), 1)
}

func TestSLSRedactsSecrets(t *testing.T) {
	tw := newTwin(t)
	s, _ := tw.sink(t, nil)
	s.Log(t.Context(), audit.Record{Action: "Leak", Message: "calling with secret " + tw.cred.AccessKeySecret + " and Signature=abc123"})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Flush(ctx))
	require.Equal(t, int64(1), s.Stats().Redacted)
	logs := tw.srv.Logs(project, logstore)
	require.Len(t, logs, 1)
	msg, _ := logs[0].Value("message")
	require.NotContains(t, msg, tw.cred.AccessKeySecret)
	require.NotContains(t, msg, "abc123")
	for _, secret := range tw.keys.Secrets() {
		for _, c := range logs[0].Contents {
			require.NotContains(t, c.Value, secret)
		}
	}
}

func TestNewSLSValidates(t *testing.T) {
	for name, cfg := range map[string]sls.Config{
		"no endpoint":    {Project: "p", Logstore: "l", Credentials: sls.Credentials{AccessKeyID: "a", AccessKeySecret: "b"}},
		"no logstore":    {Endpoint: "e", Project: "p", Credentials: sls.Credentials{AccessKeyID: "a", AccessKeySecret: "b"}},
		"no credentials": {Endpoint: "e", Project: "p", Logstore: "l"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := sls.NewSink(cfg)
			require.Error(t, err)
		})
	}
	c := sls.Credentials{AccessKeyID: "LTAIid", AccessKeySecret: "very-secret-value"}
	require.False(t, strings.Contains(fmt.Sprintf("%v %+v %#v", c, c, c), "very-secret-value"))
}
