package kms_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// awaitTask reads task id until it is Completed.
func awaitTask(t *testing.T, tasks *kms.Tasks, lane estate.Lane, id string) migration.Task {
	t.Helper()
	var task migration.Task
	require.Eventually(t, func() bool {
		var err error
		task, err = tasks.DescribeTask(t.Context(), lane, id)
		require.NoError(t, err)
		return task.Status == migration.TaskCompleted
	}, 10*time.Second, 10*time.Millisecond)
	return task
}

// The task client speaks the provider's wire format and hands the engine
// the domain's types: kinds, counts, times and per-resource results.
func TestTasksConvertWireToDomain(t *testing.T) {
	_, c := startDemo(t, stack.Options{Unthrottled: true, Timing: kmstwin.TaskTiming{Speed: 1000}})
	ctx := t.Context()
	lane := estate.Lane{Account: acctA, Region: "cn-hangzhou"}
	tasks := c.Tasks(kms.TaskActions{}) // empty names: the defaults
	const cmk, secret = "a1000001-0000-4000-8000-000000000008", "app/api-token"

	before := time.Now().UTC().Add(-time.Second)
	id, err := tasks.CreateTask(ctx, lane, migration.TaskRequest{InstanceID: "kst-hzdemo01", KeyIDs: []string{"a1000001-0000-4000-8000-000000000001", cmk}})
	require.NoError(t, err)
	require.NotEmpty(t, id)
	task := awaitTask(t, tasks, lane, id)
	assert.Equal(t, id, task.ID)
	assert.Equal(t, "kst-hzdemo01", task.InstanceID)
	assert.Equal(t, 2, task.KeyCount)
	assert.Zero(t, task.SecretCount)
	assert.False(t, task.CreateTime.Before(before.Truncate(time.Second)), "create time %v parsed from RFC 3339", task.CreateTime)
	assert.False(t, task.EndTime.IsZero(), "a completed task has an end time")
	assert.False(t, task.EndTime.Before(task.CreateTime))
	assert.Equal(t, time.UTC, task.CreateTime.Location())
	require.Len(t, task.Results, 2)
	for _, r := range task.Results {
		assert.Equal(t, migration.KindKey, r.Kind, "ResourceType Key becomes the domain's key kind")
		assert.Equal(t, "Succeeded", r.Status, r.Message)
	}

	// A secret after its CMK: the result's kind is secret.
	id2, err := tasks.CreateTask(ctx, lane, migration.TaskRequest{InstanceID: "kst-hzdemo01", SecretNames: []string{secret}})
	require.NoError(t, err)
	task2 := awaitTask(t, tasks, lane, id2)
	require.Len(t, task2.Results, 1)
	assert.Equal(t, migration.KindSecret, task2.Results[0].Kind)
	assert.Equal(t, secret, task2.Results[0].ID)
	assert.Equal(t, 1, task2.SecretCount)

	// ListTasks: every task of the lane, oldest first, without results.
	list, err := tasks.ListTasks(ctx, lane)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, []string{id, id2}, []string{list[0].ID, list[1].ID})
	assert.Equal(t, migration.TaskCompleted, list[0].Status)

	// A refusal on the merits carries the provider's reason code.
	_, err = tasks.CreateTask(ctx, lane, migration.TaskRequest{InstanceID: "kst-hzold001", KeyIDs: []string{"a1000001-0000-4000-8000-000000000009"}})
	require.Error(t, err)
	assert.NotEmpty(t, cloud.Code(err))

	// An unknown task is not found.
	_, err = tasks.DescribeTask(ctx, lane, "mt-does-not-exist")
	require.ErrorIs(t, err, cloud.ErrNotFound)
}

// Configured operation names are the ones called: a name the service does
// not serve is refused as the gateway refuses an unknown action.
func TestTasksCallConfiguredActions(t *testing.T) {
	_, c := startDemo(t, stack.Options{Unthrottled: true})
	lane := estate.Lane{Account: acctA, Region: "cn-hangzhou"}
	tasks := c.Tasks(kms.TaskActions{List: "ListKmsMigrationJobs"})
	_, err := tasks.ListTasks(t.Context(), lane)
	require.Error(t, err)
	assert.Equal(t, "InvalidAction.NotFound", cloud.Code(err))
	_, err = c.Tasks(kms.DefaultTaskActions()).ListTasks(t.Context(), lane)
	require.NoError(t, err, "the default names are served")
}

// ProbeTasks is one read-only list call: available with the twin's task
// API; against a twin without it (or with names it does not serve), the
// gateway's unknown-action refusal, which the domain reads as an action
// unavailable for good and never as a missing resource, and which no task
// call retries.
func TestProbeTasks(t *testing.T) {
	lane := estate.Lane{Account: acctA, Region: "cn-hangzhou"}
	st, c := startDemo(t, stack.Options{Unthrottled: true})
	action, err := c.Tasks(kms.TaskActions{}).ProbeTasks(t.Context(), lane)
	require.NoError(t, err)
	assert.Equal(t, "ListMigrationTasks", action)
	assert.Equal(t, int64(1), st.KMS.CallCounts()["ListMigrationTasks"], "one call")

	action, err = c.Tasks(kms.TaskActions{List: "ListKmsMigrationJobs"}).ProbeTasks(t.Context(), lane)
	assert.Equal(t, "ListKmsMigrationJobs", action)
	require.ErrorIs(t, err, cloud.ErrActionUnavailable)
	assert.NotErrorIs(t, err, cloud.ErrNotFound)

	_, absent := startDemo(t, stack.Options{Unthrottled: true, TaskAPIAbsent: true})
	tasks := absent.Tasks(kms.TaskActions{})
	_, err = tasks.ProbeTasks(t.Context(), lane)
	require.ErrorIs(t, err, cloud.ErrActionUnavailable)
	assert.Equal(t, "InvalidAction.NotFound", cloud.Code(err))
	assert.False(t, cloud.Retryable(err))
	_, err = tasks.DescribeTask(t.Context(), lane, "mt-1")
	require.ErrorIs(t, err, cloud.ErrActionUnavailable)
	assert.NotErrorIs(t, err, cloud.ErrNotFound, "an unknown action is not an unknown task")
	_, err = tasks.CreateTask(t.Context(), lane, migration.TaskRequest{InstanceID: "kst-hzdemo01", KeyIDs: []string{"k"}})
	require.ErrorIs(t, err, cloud.ErrActionUnavailable)
}
