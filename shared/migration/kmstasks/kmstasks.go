// Package kmstasks adapts the KMS adapter's migration-task calls
// (shared/aliyun/kms: CreateTask, DescribeTask, ListTasks with
// configurable action names) to migration.Tasks, whose types belong to the
// domain. It converts the provider's wire fields (RFC 3339 times, "Key"
// and "Secret" resource types) and nothing else; errors pass through
// unchanged (*cloud.APIError).
package kmstasks

import (
	"context"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
)

// Client is the part of *kms.Client this package uses.
type Client interface {
	// CreateTask submits a task; not idempotent (see kms.Client).
	CreateTask(ctx context.Context, l estate.Lane, actions kms.TaskActions, req kms.TaskRequest) (string, error)
	// DescribeTask reads a task; unknown: cloud.ErrNotFound.
	DescribeTask(ctx context.Context, l estate.Lane, actions kms.TaskActions, id string) (kms.Task, error)
	// ListTasks lists a lane's tasks, oldest first.
	ListTasks(ctx context.Context, l estate.Lane, actions kms.TaskActions) ([]kms.Task, error)
}

// Tasks is migration.Tasks over a KMS adapter client.
type Tasks struct {
	Client  Client
	Actions kms.TaskActions
}

var (
	_ Client          = (*kms.Client)(nil)
	_ migration.Tasks = (*Tasks)(nil)
	_ migration.KMS   = (*kms.Client)(nil)
)

// New returns Tasks over c with the given action names (zero: the
// defaults).
func New(c Client, actions kms.TaskActions) *Tasks {
	d := kms.DefaultTaskActions()
	if actions.Create == "" {
		actions.Create = d.Create
	}
	if actions.Describe == "" {
		actions.Describe = d.Describe
	}
	if actions.List == "" {
		actions.List = d.List
	}
	return &Tasks{Client: c, Actions: actions}
}

// CreateTask submits a task. Errors are the adapter's.
func (t *Tasks) CreateTask(ctx context.Context, l estate.Lane, req migration.TaskRequest) (string, error) {
	return t.Client.CreateTask(ctx, l, t.Actions, kms.TaskRequest{
		InstanceID: req.InstanceID, Automatic: req.Automatic, MigrationTime: req.MigrationTime,
		KeyIDs: req.KeyIDs, SecretNames: req.SecretNames,
	})
}

// DescribeTask reads a task with its results. Unknown task:
// cloud.ErrNotFound.
func (t *Tasks) DescribeTask(ctx context.Context, l estate.Lane, id string) (migration.Task, error) {
	k, err := t.Client.DescribeTask(ctx, l, t.Actions, id)
	if err != nil {
		return migration.Task{}, err
	}
	return convert(k), nil
}

// ListTasks lists the lane's tasks, oldest first.
func (t *Tasks) ListTasks(ctx context.Context, l estate.Lane) ([]migration.Task, error) {
	ks, err := t.Client.ListTasks(ctx, l, t.Actions)
	if err != nil {
		return nil, err
	}
	out := make([]migration.Task, len(ks))
	for i, k := range ks {
		out[i] = convert(k)
	}
	return out, nil
}

func convert(k kms.Task) migration.Task {
	t := migration.Task{
		ID: k.ID, InstanceID: k.InstanceID, Status: k.Status,
		CreateTime: parse(k.CreateTime), StartTime: parse(k.StartTime), EndTime: parse(k.EndTime),
		KeyCount: k.KeyCount, SecretCount: k.SecretCount,
	}
	for _, r := range k.Results {
		kind := migration.KindSecret
		if strings.EqualFold(r.ResourceType, "Key") {
			kind = migration.KindKey
		}
		t.Results = append(t.Results, migration.TaskResult{Kind: kind, ID: r.ResourceID, Status: r.Status, ReasonCode: r.ReasonCode, Message: r.Message})
	}
	return t
}

func parse(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
