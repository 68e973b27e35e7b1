package app

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(env(nil))
	require.NoError(t, err)
	require.Equal(t, "dir:/tmp/kmsmig-state", c.State)
	require.Equal(t, 50, c.Plan.MaxKeys)
	require.Equal(t, 50, c.Plan.MaxSecrets)
	require.Empty(t, c.Accounts)
}

func TestLoadConfigFull(t *testing.T) {
	c, err := LoadConfig(env(map[string]string{
		"KMSMIG_ACCOUNTS":      "111, 222",
		"KMSMIG_ROLE_ARNS":     "222=acs:ram::222:role/kmsmig",
		"KMSMIG_REGIONS":       "cn-hangzhou,cn-shanghai",
		"KMSMIG_KMS_ENDPOINTS": "cn-hangzhou=127.0.0.1:1000",
		"KMSMIG_INSECURE":      "true",
		"KMSMIG_STATE":         "oss://bucket/prefix",
		"KMSMIG_TARGETS":       "111/cn-hangzhou=kst-1",
		"KMSMIG_BATCH_KEYS":    "20",
		"KMSMIG_EXCLUDE":       "secret:test-*;tag:env=dev",
	}))
	require.NoError(t, err)
	require.Equal(t, []string{"111", "222"}, c.Accounts)
	require.Equal(t, "acs:ram::222:role/kmsmig", c.RoleArns["222"])
	require.True(t, c.Insecure)
	require.Equal(t, "kst-1", c.Targets[estate.Lane{Account: "111", Region: "cn-hangzhou"}])
	require.Equal(t, 20, c.Plan.MaxKeys)
	require.Equal(t, []string{"secret:test-*", "tag:env=dev"}, c.Plan.Exclude)
}

func TestLoadConfigNamesEveryBadSetting(t *testing.T) {
	_, err := LoadConfig(env(map[string]string{
		"KMSMIG_ACCOUNTS":      "abc",
		"KMSMIG_REGIONS":       "Hangzhou",
		"KMSMIG_ROLE_ARNS":     "222=arn:aws:iam::222:role/x",
		"KMSMIG_INSECURE":      "maybe",
		"KMSMIG_STATE":         "s3://x",
		"KMSMIG_TARGETS":       "nolane=kst-1",
		"KMSMIG_BATCH_SECRETS": "51",
		"KMSMIG_KMS_ENDPOINTS": "cn-hangzhou",
	}))
	require.Error(t, err)
	for _, name := range []string{"KMSMIG_ACCOUNTS", "KMSMIG_REGIONS", "KMSMIG_ROLE_ARNS", "KMSMIG_INSECURE",
		"KMSMIG_STATE", "KMSMIG_TARGETS", "KMSMIG_BATCH_SECRETS", "KMSMIG_KMS_ENDPOINTS"} {
		require.True(t, strings.Contains(err.Error(), name), "error should name %s:\n%v", name, err)
	}
}

// Every value is trimmed of surrounding spaces, whatever its kind; a value
// of spaces only is unset.
func TestLoadConfigTrimsEveryValue(t *testing.T) {
	c, err := LoadConfig(env(map[string]string{
		"KMSMIG_STALL_AFTER":      " 45m ",
		"KMSMIG_POLL_WAIT":        "\t50s",
		"KMSMIG_ALERT_PERIOD":     "2h\n",
		"KMSMIG_MAX_ATTEMPTS":     " 5 ",
		"KMSMIG_BATCH_KEYS":       " 20",
		"KMSMIG_INSECURE":         " true ",
		"KMSMIG_METHOD":           " automatic ",
		"KMSMIG_STATE":            "   ",
		"KMSMIG_FUNCTION_MIGRATE": "  ",
		"KMSMIG_SEED_REGION":      " cn-hangzhou ",
	}))
	require.NoError(t, err)
	require.Equal(t, 45*time.Minute, c.StallAfter)
	require.Equal(t, 50*time.Second, c.PollWait)
	require.Equal(t, 2*time.Hour, c.AlertPeriod)
	require.Equal(t, 5, c.MaxAttempts)
	require.Equal(t, 20, c.Plan.MaxKeys)
	require.True(t, c.Insecure)
	require.True(t, c.Automatic)
	require.Equal(t, "dir:/tmp/kmsmig-state", c.State, "spaces only is unset")
	require.Equal(t, "kmsmig-migrate", c.FunctionMigrate, "spaces only is unset")
	require.Equal(t, "cn-hangzhou", c.SeedRegion)
}
