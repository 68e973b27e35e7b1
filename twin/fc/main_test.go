package fc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
	"github.com/kmsmig/kmsmig/twin/fc"
)

const (
	testAccount = "1234567890123456"
	testRegion  = "cn-hangzhou"
	testRole    = "acs:ram::" + testAccount + ":role/kmsmig-fc"
)

// fcfunc is the test function binary, built once by TestMain.
var fcfunc string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fc-twin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fcfunc = filepath.Join(dir, "main")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "build", "-o", fcfunc, "./testdata/fcfunc")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the test function:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newServer returns a twin with one account in its keyring.
func newServer(t *testing.T, cfg fc.Config) (*fc.Server, *acs.Keyring) {
	t.Helper()
	if cfg.Keyring == nil {
		cfg.Keyring = acs.NewKeyring()
	}
	_, err := cfg.Keyring.AddAccount(testAccount, "", "")
	require.NoError(t, err)
	if cfg.Region == "" {
		cfg.Region = testRegion
	}
	if cfg.AccountID == "" {
		cfg.AccountID = testAccount
	}
	s := fc.New(cfg)
	t.Cleanup(func() { _ = s.Close() })
	return s, cfg.Keyring
}

// binaryFunction is the test binary deployed as name.
func binaryFunction(name string) fc.Function {
	return fc.Function{
		Name:        name,
		Binary:      fcfunc,
		HandlerName: "main",
		Runtime:     "go1",
		Env:         map[string]string{"GREETING": "hello"},
		Timeout:     10 * time.Second,
		MemoryMB:    256,
		Role:        testRole,
		Region:      testRegion,
		AccountID:   testAccount,
		LogProject:  "kmsmig-logs",
		LogStore:    "fc",
	}
}

// reply is the test function's answer.
type reply struct {
	Op          string            `json:"op"`
	Message     string            `json:"message"`
	PID         int               `json:"pid"`
	DeadlineMS  int64             `json:"deadlineMs"`
	Env         map[string]string `json:"env"`
	TriggerName string            `json:"triggerName"`
	TriggerTime string            `json:"triggerTime"`
	Context     *struct {
		RequestID   string
		Credentials struct{ AccessKeyId, AccessKeySecret, SecurityToken string }
		Function    struct {
			Name, Handler, Memory string
			Timeout               int
		}
		Service    struct{ LogProject, LogStore, Qualifier string }
		Region     string
		AccountId  string
		RetryCount int
	} `json:"context"`
}

func event(t *testing.T, v map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// invoke runs a synchronous invocation that must succeed.
func invoke(t *testing.T, s *fc.Server, name string, ev map[string]any) (fc.Result, reply) {
	t.Helper()
	res, err := s.Invoke(t.Context(), name, event(t, ev))
	require.NoError(t, err)
	require.Nil(t, res.Error, "function error")
	var r reply
	require.NoError(t, json.Unmarshal(res.Payload, &r), "payload %s", res.Payload)
	return res, r
}

// waitCtx bounds a wait so that a broken twin fails the test instead of
// hanging it.
func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
