package kms_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// golden compares a response body (RequestId removed) with
// testdata/<name>.golden.json, rewriting it with -update.
func golden(t *testing.T, name string, body map[string]any) {
	t.Helper()
	require.NotEmpty(t, body["RequestId"])
	delete(body, "RequestId")
	got, err := json.MarshalIndent(body, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got))
}

func TestGoldenResponses(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	body, err := call(t, c, "DescribeKey", map[string]string{"KeyId": keyRotating})
	require.NoError(t, err)
	golden(t, "describe_key", body)
	body, err = call(t, c, "GetKmsInstance", map[string]string{"KmsInstanceId": instMain})
	require.NoError(t, err)
	golden(t, "get_kms_instance", body)

	v := migrate(t, e, c, instMain, []string{keyPlain, keyExternal}, []string{"app/api-token"})
	body, err = call(t, c, "DescribeMigrationTask", map[string]string{"TaskId": v.TaskId})
	require.NoError(t, err)
	golden(t, "describe_migration_task", body)
	e.clock.Advance(time.Minute)
	body, err = call(t, c, "ListMigrationTasks", nil)
	require.NoError(t, err)
	golden(t, "list_migration_tasks", body)
}
