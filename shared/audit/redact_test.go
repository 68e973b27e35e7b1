package audit_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/audit"
)

func TestGuardScrubs(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		gone   []string // must not survive
		stays  []string // must survive
		change bool
	}{
		{"access key secret", "ak LTAI5tAbCdEfGh secret-ish Xy7Kq2mNp9Rs4Tv6Wz8Bc1Df3Gh5Jk in text",
			[]string{"Xy7Kq2mNp9Rs4Tv6Wz8Bc1Df3Gh5Jk"}, []string{"LTAI5tAbCdEfGh", "in text"}, true},
		{"sts token", "token CAISzwJ1q6Ft5B2yfSjIr5bkLI3kuO1t1aSoUkHZ1jUxZdR+q",
			[]string{"CAISzwJ1q6Ft5B2yfSjIr5bkLI3kuO1t1aSoUkHZ1jUxZdR+q"}, nil, true},
		{"LOG signature", "Authorization: LOG LTAI5tAbCd:3cG8eQ6rTJtZ2qk1X0mU0v7H3y4=",
			[]string{"3cG8eQ6rTJtZ2qk1X0mU0v7H3y4="}, []string{"Authorization"}, true},
		{"acs3 signature", "ACS3-HMAC-SHA256 Credential=LTAIx,SignedHeaders=host,Signature=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			[]string{"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}, nil, true},
		{"key=value", `password=hunter2, next`, []string{"hunter2"}, []string{"next"}, true},
		{"json", `{"AccessKeySecret":"abc","SecurityToken": "def"}`, []string{"abc", "def"}, []string{"AccessKeySecret"}, true},
		{"query signature", "GET /?Action=ListKeys&Signature=Zm9vYmFy&SignatureNonce=1", []string{"Zm9vYmFy"}, []string{"SignatureNonce=1", "ListKeys"}, true},
		{"bearer", "call failed: bearer a1B2c3D4e5F6g7H8 refused", []string{"a1B2c3D4e5F6g7H8"}, []string{"call failed", "refused"}, true},
		{"jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrbXNtaWcifQ.c2lnbmF0dXJlSW5qZWN0ZWQ expired",
			[]string{"eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiJrbXNtaWcifQ", "c2lnbmF0dXJlSW5qZWN0ZWQ"}, []string{"expired"}, true},
		{"action names", "kms ListSecrets: Forbidden.NoPermission (HTTP 403); DescribeSecret: Rejected.Throttling", nil,
			[]string{"ListSecrets: Forbidden.NoPermission", "DescribeSecret: Rejected.Throttling"}, false},
		{"harmless", "rotation disabled on key-hzz62f1cb66fy3c8y5ks3 in kst-hzz65f0a9d1ynbsew7lgu, request 5F3C1D2E3A4B5C6D7E8F9A0B",
			nil, []string{"key-hzz62f1cb66fy3c8y5ks3", "kst-hzz65f0a9d1ynbsew7lgu", "5F3C1D2E3A4B5C6D7E8F9A0B"}, false},
		{"uuid and arn", "acs:ram::1234567890123456:role/kmsmig-fc task 0f8fad5b-d9cb-469f-a165-70867728950e",
			nil, []string{"acs:ram::1234567890123456:role/kmsmig-fc", "0f8fad5b-d9cb-469f-a165-70867728950e"}, false},
		{"metadata keys", "SecretName=db-password SecretType=Generic signature_method=hmac", nil,
			[]string{"db-password", "Generic", "hmac"}, false},
		{"path", "ledger at kmsmig/runs/20250330/cn-hangzhou/batches/0003.json", nil, []string{"kmsmig/runs/20250330/cn-hangzhou/batches/0003.json"}, false},
		{"wecom webhook key", "POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa failed",
			[]string{"693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"}, []string{"qyapi.weixin.qq.com/cgi-bin/webhook/send?key=", "failed"}, true},
		{"feishu hook path", "POST https://open.feishu.cn/open-apis/bot/v2/hook/2a4c6e8f-1b3d-4f5a-9c7e-0d2f4b6a8c1e: 500",
			[]string{"2a4c6e8f-1b3d-4f5a-9c7e-0d2f4b6a8c1e"}, []string{"open.feishu.cn/open-apis/bot/v2/hook/", ": 500"}, true},
		{"short apikey", "apikey=ab12 x-api-key: Zz9 done", []string{"ab12", "Zz9"}, []string{"done"}, true},
		{"dingtalk token", "https://oapi.dingtalk.com/robot/send?access_token=3f1e0f5c9a8b7d6c&timestamp=1&sign=abc%3D",
			[]string{"3f1e0f5c9a8b7d6c", "abc%3D"}, []string{"timestamp=1"}, true},
		{"key metadata", "KeyId=key-hz1 KeySpec=Aliyun_AES_256 KeyState=Enabled KeyUsage=ENCRYPT/DECRYPT", nil,
			[]string{"key-hz1", "Aliyun_AES_256", "Enabled", "ENCRYPT/DECRYPT"}, false},
	}
	g := &audit.Guard{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := g.Scrub(tt.in)
			require.Equal(t, tt.change, changed, got)
			for _, s := range tt.gone {
				require.NotContains(t, got, s)
			}
			for _, s := range tt.stays {
				require.Contains(t, got, s)
			}
		})
	}
}

func TestGuardKnownSecrets(t *testing.T) {
	g := &audit.Guard{}
	g.Add("short", "plain-words-secret")
	got, changed := g.Scrub("value plain-words-secret and short")
	require.True(t, changed)
	require.Equal(t, "value "+audit.Redacted+" and short", got)
	require.False(t, strings.Contains(got, "plain-words-secret"))
}

// A plan digest is what an operator compares with what they approve: it
// stays; the same hex without its "v1:" prefix, or a registered one, goes.
func TestGuardKeepsPlanDigests(t *testing.T) {
	const hex = "4648c9cc5ed0589cb5d052e0b954b6dbd26fb493a4ea4741a887c0847afbb8c0"
	g := &audit.Guard{}
	got, changed := g.Scrub("plan (digest `v1:" + hex + "`) awaits approval")
	require.False(t, changed, got)

	got, _ = g.Scrub("token " + hex)
	require.NotContains(t, got, hex, "bare hex is still stripped")

	g.Add(hex)
	got, _ = g.Scrub("digest v1:" + hex)
	require.NotContains(t, got, hex, "a registered value is stripped whatever precedes it")
}
