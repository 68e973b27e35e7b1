package app

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The bounds every setting is held to (checkBounds): each refusal names
// its variable and the reason; a good value of the same kind passes.
func TestLoadConfigBounds(t *testing.T) {
	loop := map[string]string{"KMSMIG_KMS_ENDPOINTS": "cn-hangzhou=127.0.0.1:1", "KMSMIG_FUNCTION_MIGRATE": "-", "KMSMIG_FUNCTION_ROTATE": "-"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string // substrings of the error; none: accepted
	}{
		// KMSMIG_INSECURE: plain HTTP to loopback overrides only.
		{"insecure with nothing overridden", with(nil, "KMSMIG_INSECURE", "true", "KMSMIG_FUNCTION_MIGRATE", "-", "KMSMIG_FUNCTION_ROTATE", "-"),
			[]string{"KMSMIG_INSECURE: true sends plain HTTP, only allowed to loopback endpoint overrides: endpoints: no endpoint is overridden"}},
		{"insecure to a real KMS endpoint", with(loop, "KMSMIG_INSECURE", "true", "KMSMIG_KMS_ENDPOINTS", "cn-hangzhou=kms.cn-hangzhou.aliyuncs.com"),
			[]string{"KMSMIG_INSECURE: ", "KMSMIG_KMS_ENDPOINTS: cn-hangzhou=kms.cn-hangzhou.aliyuncs.com is not a loopback endpoint"}},
		{"insecure with a region without override", with(loop, "KMSMIG_INSECURE", "true", "KMSMIG_REGIONS", "cn-hangzhou,cn-beijing"),
			[]string{"KMSMIG_INSECURE: ", "KMSMIG_KMS_ENDPOINTS: region cn-beijing has no override, so KMS would be reached at kms.cn-beijing.aliyuncs.com"}},
		{"insecure with a seed region without override", with(loop, "KMSMIG_INSECURE", "true", "KMSMIG_SEED_REGION", "cn-beijing"),
			[]string{"KMSMIG_INSECURE: ", "region cn-beijing has no override"}},
		{"insecure with oss state and no OSS override", with(loop, "KMSMIG_INSECURE", "true", "KMSMIG_STATE", "oss://bucket/p"),
			[]string{"KMSMIG_INSECURE: ", "KMSMIG_OSS_ENDPOINT: not set, so the default oss-<region>.aliyuncs.com would be used"}},
		{"insecure with a real OSS endpoint", with(loop, "KMSMIG_INSECURE", "true", "KMSMIG_STATE", "oss://bucket/p", "KMSMIG_OSS_ENDPOINT", "oss-cn-hangzhou.aliyuncs.com"),
			[]string{"KMSMIG_INSECURE: ", "KMSMIG_OSS_ENDPOINT: oss-cn-hangzhou.aliyuncs.com is not a loopback endpoint"}},
		{"insecure with chaining and no FC override", with(loop, "KMSMIG_INSECURE", "true", "KMSMIG_FUNCTION_MIGRATE", "kmsmig-migrate"),
			[]string{"KMSMIG_INSECURE: ", "KMSMIG_FC_ENDPOINT: not set, so the default <account>.<region>.fc.aliyuncs.com would be used"}},
		{"insecure with loopback overrides", with(loop, "KMSMIG_INSECURE", "true", "KMSMIG_REGIONS", "cn-hangzhou", "KMSMIG_STATE", "oss://bucket/p",
			"KMSMIG_OSS_ENDPOINT", "localhost:9", "KMSMIG_FUNCTION_MIGRATE", "kmsmig-migrate", "KMSMIG_FC_ENDPOINT", "127.0.0.2:9"), nil},
		{"http endpoint without insecure", with(loop, "KMSMIG_OSS_ENDPOINT", "http://127.0.0.1:9"),
			[]string{`KMSMIG_OSS_ENDPOINT: "http://127.0.0.1:9": plain HTTP needs KMSMIG_INSECURE=true`}},
		{"https endpoint with insecure", with(loop, "KMSMIG_INSECURE", "true", "KMSMIG_FC_ENDPOINT", "https://127.0.0.1:9"),
			[]string{`KMSMIG_FC_ENDPOINT: "https://127.0.0.1:9": https:// contradicts KMSMIG_INSECURE=true`}},
		{"plain SLS without insecure", with(loop, "KMSMIG_SLS_ENDPOINT", "127.0.0.1:9"),
			[]string{`KMSMIG_SLS_ENDPOINT: "127.0.0.1:9" is spoken to over plain HTTP: that needs KMSMIG_INSECURE=true`}},
		{"plain SLS off loopback", with(loop, "KMSMIG_INSECURE", "true", "KMSMIG_SLS_ENDPOINT", "http://cn-hangzhou.log.aliyuncs.com"),
			[]string{`KMSMIG_SLS_ENDPOINT: "http://cn-hangzhou.log.aliyuncs.com" is spoken to over plain HTTP`}},
		{"SLS over TLS", with(nil, "KMSMIG_SLS_ENDPOINT", "https://cn-hangzhou.log.aliyuncs.com"), nil},
		{"plain webhook", with(nil, "KMSMIG_ALERT_WEBHOOK", "http://hooks.example.com/x?key=s3cr3t"),
			[]string{"KMSMIG_ALERT_WEBHOOK: plain http:// needs KMSMIG_INSECURE=true and a loopback host"}},
		{"plain webhook on loopback with insecure", with(loop, "KMSMIG_INSECURE", "true", "KMSMIG_DINGTALK_WEBHOOK", "http://127.0.0.1:9/robot/send?access_token=t"), nil},
		{"webhook with a user", with(nil, "KMSMIG_ALERT_WEBHOOK", "https://u:p@hooks.example.com/x"),
			[]string{"KMSMIG_ALERT_WEBHOOK: must be an http(s) URL with a host and no user"}},
		{"STS over http", with(nil, "KMSMIG_STS_ENDPOINT", "http://127.0.0.1:9"),
			[]string{`KMSMIG_STS_ENDPOINT: "http://127.0.0.1:9": STS is always spoken to over HTTPS`}},
		// Endpoints: host[:port] or a URL of one.
		{"endpoint with a path", with(nil, "KMSMIG_OSS_ENDPOINT", "https://oss.example.com/x"),
			[]string{`KMSMIG_OSS_ENDPOINT: "https://oss.example.com/x": want host[:port] or http(s)://host[:port] without a path or query`}},
		{"endpoint with a fragment", with(nil, "KMSMIG_KMS_ENDPOINTS", "cn-hangzhou=attacker.example#"),
			[]string{`KMSMIG_KMS_ENDPOINTS: "attacker.example#": want host[:port]`}},
		{"endpoint with a bad port", with(nil, "KMSMIG_STS_ENDPOINT", "sts.aliyuncs.com:99999"),
			[]string{`KMSMIG_STS_ENDPOINT: "sts.aliyuncs.com:99999": want host[:port]`}},
		{"endpoint region", with(nil, "KMSMIG_KMS_ENDPOINTS", "Hangzhou=kms.example.com"),
			[]string{`KMSMIG_KMS_ENDPOINTS: "Hangzhou" is not a region id like cn-hangzhou`}},
		{"endpoints accepted", with(nil, "KMSMIG_STS_ENDPOINT", "https://sts.cn-hangzhou.aliyuncs.com", "KMSMIG_OSS_ENDPOINT", "oss-cn-hangzhou-internal.aliyuncs.com",
			"KMSMIG_FC_ENDPOINT", "1234.cn-hangzhou.fc.aliyuncs.com:443"), nil},
		// Names.
		{"seed region", with(nil, "KMSMIG_SEED_REGION", "attacker.example#"), []string{`KMSMIG_SEED_REGION: "attacker.example#" is not a region id like cn-hangzhou`}},
		{"function name with a slash", with(nil, "KMSMIG_FUNCTION_MIGRATE", "../x"),
			[]string{`KMSMIG_FUNCTION_MIGRATE: "../x" is not a Function Compute function name`}},
		{"function name starting with a digit", with(nil, "KMSMIG_FUNCTION_ROTATE", "1rotate"), []string{`KMSMIG_FUNCTION_ROTATE: "1rotate" is not`}},
		{"function name too long", with(nil, "KMSMIG_FUNCTION_ROTATE", "r"+strings.Repeat("x", 64)), []string{"KMSMIG_FUNCTION_ROTATE: "}},
		// Targets.
		{"target lane account", with(nil, "KMSMIG_TARGETS", "acct/cn-hangzhou=kst-1"),
			[]string{`KMSMIG_TARGETS: lane "acct/cn-hangzhou": want <account UID>/<region id>`}},
		{"target lane region", with(nil, "KMSMIG_TARGETS", "111/Hangzhou=kst-1"), []string{`KMSMIG_TARGETS: lane "111/Hangzhou"`}},
		{"target instance id", with(nil, "KMSMIG_TARGETS", "111/cn-hangzhou=i-123"),
			[]string{`KMSMIG_TARGETS: lane 111/cn-hangzhou: "i-123" is not a KMS instance id`}},
		{"target accepted", with(nil, "KMSMIG_TARGETS", "111/cn-hangzhou=kst-hzz62ee5c8fbcnwfc1vxy"), nil},
		// State.
		{"oss state with ..", with(nil, "KMSMIG_STATE", "oss://b-1/../x"),
			[]string{`KMSMIG_STATE: "oss://b-1/../x": the prefix must not hold empty, . or .. segments`}},
		{"oss state with an empty segment", with(nil, "KMSMIG_STATE", "oss://b-1/a//x"), []string{"KMSMIG_STATE: "}},
		{"oss bucket name", with(nil, "KMSMIG_STATE", "oss://B/x"), []string{`KMSMIG_STATE: "oss://B/x": "B" is not an OSS bucket name`}},
		{"oss state accepted", with(nil, "KMSMIG_STATE", "oss://my-bucket/kmsmig/"), nil},
		{"dir state inside FC", with(nil, "FC_FUNCTION_NAME", "kmsmig-poll", "KMSMIG_STATE", "dir:/tmp/s"),
			[]string{`KMSMIG_STATE: "dir:/tmp/s": dir: state inside Function Compute`}},
		{"default dir state inside FC", with(nil, "FC_RUNTIME_API", "127.0.0.1:9000"),
			[]string{`KMSMIG_STATE: "dir:/tmp/kmsmig-state": dir: state inside Function Compute`}},
		{"oss state inside FC", with(nil, "FC_FUNCTION_NAME", "kmsmig-poll", "KMSMIG_STATE", "oss://bucket/kmsmig"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig(env(tt.env))
			if len(tt.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), "s3cr3t", "a webhook's token is never quoted")
		})
	}
}

// The alert path is configured apart from everything else: settings
// LoadConfig refuses do not touch it, its own are checked as LoadConfig
// checks them.
func TestLoadAlertConfig(t *testing.T) {
	e := env(map[string]string{
		"KMSMIG_MAX_ATTEMPTS": "11", "KMSMIG_STATE": "oss://b/../x", "KMSMIG_TARGETS": "x=y", // refused by LoadConfig only
		"KMSMIG_AUDIT": "sls", "KMSMIG_SLS_PROJECT": "p", "KMSMIG_SLS_LOGSTORE": "s", "KMSMIG_SLS_ENDPOINT": "cn-hangzhou.log.aliyuncs.com",
		"KMSMIG_ALERT_WEBHOOK": "https://hooks.example.com/x?key=t", "KMSMIG_DINGTALK_WEBHOOK": "https://oapi.dingtalk.com/robot/send?access_token=t",
		"KMSMIG_DINGTALK_SECRET": "SEC1", "KMSMIG_ALERT_PERIOD": "30m",
	})
	_, err := LoadConfig(e)
	require.Error(t, err)
	c, err := LoadAlertConfig(e)
	require.NoError(t, err)
	require.Equal(t, Config{Audit: "sls", SLSProject: "p", SLSLogstore: "s", SLSEndpoint: "cn-hangzhou.log.aliyuncs.com",
		AlertWebhook: "https://hooks.example.com/x?key=t", DingTalkWebhook: "https://oapi.dingtalk.com/robot/send?access_token=t",
		DingTalkSecret: "SEC1", AlertPeriod: 30 * time.Minute}, c)

	for _, tt := range []struct{ name, value, want string }{
		{"KMSMIG_ALERT_PERIOD", "0", `alert configuration: KMSMIG_ALERT_PERIOD: "0": want a duration of at least 1m`},
		{"KMSMIG_ALERT_WEBHOOK", "http://hooks.example.com/x", "alert configuration: KMSMIG_ALERT_WEBHOOK: plain http:// needs KMSMIG_INSECURE=true"},
		{"KMSMIG_SLS_ENDPOINT", "127.0.0.1:9", `alert configuration: KMSMIG_SLS_ENDPOINT: "127.0.0.1:9" is spoken to over plain HTTP`},
		{"KMSMIG_DINGTALK_SECRET", "SEC1", "alert configuration: KMSMIG_DINGTALK_SECRET: is set but KMSMIG_DINGTALK_WEBHOOK is not"},
		{"KMSMIG_AUDIT", "loud", `alert configuration: KMSMIG_AUDIT: "loud": want auto, sls, stdout or off`},
	} {
		_, err := LoadAlertConfig(env(map[string]string{tt.name: tt.value}))
		require.ErrorContains(t, err, tt.want, tt.name)
	}
}
