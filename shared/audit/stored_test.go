package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/audit"
)

const (
	stsURL     = "https://sts.aliyuncs.com/?AccessKeyId=STS.NTx9pQ3kLm2Vb&Action=AssumeRole&SecurityToken=CAISzwJ1q6Ft5B2yfSjIr5bkLI3kuO1t1aSoUkHZ1jUxZdR&Signature=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4"
	tokenName  = "Xy7Kq2mNp9Rs4Tv6Wz8Bc1Df3Gh5Jk" // a secret may be named like a token
	registered = "https://hooks.example.com/send?access_token=abc&x=1"
)

func TestScrubStoredJSON(t *testing.T) {
	g := &audit.Guard{}
	g.Add(registered)
	in := []byte(`{
  "name": "` + tokenName + `",
  "keyIds": ["` + tokenName + `"],
  "reasonCode": "Forbidden.NoPermission",
  "errors": [
    {"op": "ListKeys", "code": "x", "message": "kms ListKeys: Get \"` + stsURL + `\": dial tcp: refused"}
  ],
  "history": [{"at": 1, "note": "delivery to ` + strings.ReplaceAll(registered, "&", `\u0026`) + ` failed"}],
  "owner": "` + strings.ReplaceAll(registered, "&", `\u0026`) + `",
  "count": 12345678901234567890
}`)
	out, changed := g.ScrubStored("runs/r1/inventory.json", in)
	require.True(t, changed)
	require.True(t, json.Valid(out), "%s", out)
	s := string(out)
	for _, gone := range []string{"STS.NTx9pQ3kLm2Vb", "CAISzwJ1q6Ft5B2yfSjIr5bkLI3kuO1t1aSoUkHZ1jUxZdR", "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4", "access_token=abc", `access_token\u0026`} {
		assert.NotContains(t, s, gone)
	}
	// Identifiers and everything outside the scrubbed strings survive byte for byte.
	assert.Equal(t, 2, strings.Count(s, `"`+tokenName+`"`), "identifiers are not text fields: %s", s)
	assert.Contains(t, s, `"reasonCode": "Forbidden.NoPermission"`)
	assert.Contains(t, s, `"count": 12345678901234567890`)
	assert.Contains(t, s, "https://sts.aliyuncs.com/")
	assert.True(t, strings.HasPrefix(s, "{\n  \"name\""), "layout kept: %s", s)

	// Scrubbing is stable: a second pass changes nothing.
	again, changed := g.ScrubStored("runs/r1/inventory.json", out)
	assert.False(t, changed)
	assert.Equal(t, out, again)

	// Nothing to scrub: the very same bytes.
	clean := []byte(`{"message":"rotation disabled on key-1","name":"x"}`)
	got, changed := g.ScrubStored("k.json", clean)
	assert.False(t, changed)
	assert.Equal(t, clean, got)
}

func TestScrubStoredOtherPayloads(t *testing.T) {
	g := &audit.Guard{}
	g.Add("my-dingtalk-secret-SEC123")
	md, changed := g.ScrubStored("runs/r1/report.md", []byte("- ListKeys: "+stsURL+"\n- secret `"+tokenName+"`\n"))
	require.True(t, changed)
	assert.NotContains(t, string(md), "CAISzwJ1")
	assert.NotContains(t, string(md), "STS.NTx9pQ3kLm2Vb")

	plain := []byte("run-" + tokenName)
	got, changed := g.ScrubStored("current", plain)
	assert.False(t, changed, "plain payloads lose registered values only")
	assert.Equal(t, plain, got)
	got, changed = g.ScrubStored("current", []byte("x my-dingtalk-secret-SEC123 y"))
	assert.True(t, changed)
	assert.Equal(t, "x "+audit.Redacted+" y", string(got))

	// Two JSON values, or broken JSON, are treated as plain text.
	got, changed = g.ScrubStored("a.json", []byte(`{"message":"`+stsURL+`"} {}`))
	assert.False(t, changed)
	assert.Contains(t, string(got), "CAIS")
}

func TestIsTextField(t *testing.T) {
	for _, f := range []string{"message", "errorMessage", "lastError", "reason", "detail", "note", "deferred", "pending", "remediation", "problems", "warnings", "why"} {
		assert.True(t, audit.IsTextField(f), f)
	}
	for _, f := range []string{"reasonCode", "code", "id", "name", "keyIds", "secretNames", "resource", "owner", "key", "runId"} {
		assert.False(t, audit.IsTextField(f), f)
	}
}

func TestScrubErrorAndWriter(t *testing.T) {
	g := &audit.Guard{}
	base := &fs.PathError{Op: "open", Path: stsURL, Err: fs.ErrNotExist}
	err := g.ScrubError(base)
	assert.NotContains(t, err.Error(), "CAISzwJ1")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	var pe *fs.PathError
	assert.True(t, errors.As(err, &pe))
	clean := errors.New("plain failure")
	assert.Same(t, clean, g.ScrubError(clean))
	assert.NoError(t, g.ScrubError(nil))

	var b bytes.Buffer
	w := g.Writer(&b)
	n, werr := w.Write([]byte("kmsmig: " + stsURL + "\n"))
	require.NoError(t, werr)
	assert.Equal(t, len("kmsmig: "+stsURL+"\n"), n)
	assert.NotContains(t, b.String(), "CAISzwJ1")
	assert.True(t, strings.HasSuffix(b.String(), "\n"))
}

// BenchmarkScrubStored: every run-state write passes ScrubStored; an
// inventory of 10,000 resources is a few MB.
func BenchmarkScrubStored(b *testing.B) {
	type res struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Message string `json:"message"`
	}
	rs := make([]res, 10000)
	for i := range rs {
		rs[i] = res{ID: "key-hzz62f1cb66fy3c8y5ks3", Name: "prod/app/db-password", Message: "rotation disabled on key-hzz62f1cb66fy3c8y5ks3"}
	}
	data, err := json.MarshalIndent(map[string]any{"resources": rs}, "", "  ")
	require.NoError(b, err)
	g := &audit.Guard{}
	g.Add("LTAI5tAbCdEfGh0123", "Xy7Kq2mNp9Rs4Tv6Wz8Bc1Df3Gh5Jk")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		g.ScrubStored("runs/r/inventory.json", data)
	}
}
