package kms

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	kmssdk "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/dara"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/discover"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
)

// TaskActions names the provider's migration-task operations. They are not
// in the published SDK; the defaults are the names the offline twin serves
// and can be changed in configuration.
type TaskActions struct {
	Create, Describe, List string
}

// DefaultTaskActions are the operation names the offline twin serves.
func DefaultTaskActions() TaskActions {
	return TaskActions{Create: "CreateMigrationTask", Describe: "DescribeMigrationTask", List: "ListMigrationTasks"}
}

// Tasks is the migration tool's task API (migration.Tasks) over the
// client, with the operation names of actions. It converts the
// provider's wire fields (RFC 3339 times, "Key" and "Secret" resource
// types) into the domain's types and nothing else; errors are the
// client's (*cloud.APIError).
type Tasks struct {
	c       *Client
	actions TaskActions
}

var (
	_ migration.Tasks    = (*Tasks)(nil)
	_ discover.TaskProbe = (*Tasks)(nil)
)

// Tasks returns the task API of c with the given operation names (empty
// names: the defaults).
func (c *Client) Tasks(actions TaskActions) *Tasks {
	d := DefaultTaskActions()
	if actions.Create == "" {
		actions.Create = d.Create
	}
	if actions.Describe == "" {
		actions.Describe = d.Describe
	}
	if actions.List == "" {
		actions.List = d.List
	}
	return &Tasks{c: c, actions: actions}
}

// wireTask is a migration task as the provider returns it. Status
// "Completed" only means the task ended: Results says what moved.
type wireTask struct {
	ID            string           `json:"TaskId"`
	InstanceID    string           `json:"KmsInstanceId"`
	Region        string           `json:"RegionId"`
	Method        string           `json:"Method"`
	Status        string           `json:"Status"`
	CreateTime    string           `json:"CreateTime"`
	MigrationTime string           `json:"MigrationTime,omitempty"`
	StartTime     string           `json:"StartTime,omitempty"`
	EndTime       string           `json:"EndTime,omitempty"`
	KeyCount      int              `json:"KeyCount"`
	SecretCount   int              `json:"SecretCount"`
	Results       []wireTaskResult `json:"Results,omitempty"`
}

// wireTaskResult is the provider's outcome for one resource of a task.
type wireTaskResult struct {
	ResourceType string `json:"ResourceType"` // Key or Secret
	ResourceID   string `json:"ResourceId"`
	Status       string `json:"Status"` // Succeeded, Failed or Skipped
	ReasonCode   string `json:"ReasonCode,omitempty"`
	Message      string `json:"Message,omitempty"`
}

// domain converts the wire task into the domain's.
func (w wireTask) domain() migration.Task {
	t := migration.Task{
		ID: w.ID, InstanceID: w.InstanceID, Status: w.Status,
		CreateTime: parseTime(w.CreateTime), StartTime: parseTime(w.StartTime), EndTime: parseTime(w.EndTime),
		KeyCount: w.KeyCount, SecretCount: w.SecretCount,
	}
	for _, r := range w.Results {
		kind := migration.KindSecret
		if strings.EqualFold(r.ResourceType, "Key") {
			kind = migration.KindKey
		}
		t.Results = append(t.Results, migration.TaskResult{Kind: kind, ID: r.ResourceID, Status: r.Status, ReasonCode: r.ReasonCode, Message: r.Message})
	}
	return t
}

// CreateTask submits a migration task and returns its id. A refused task
// comes back as *cloud.APIError with the provider's reason code.
// CreateTask is not idempotent on the provider side: callers record the
// intent first and look for an existing task (ListTasks) before retrying.
func (t *Tasks) CreateTask(ctx context.Context, l estate.Lane, req migration.TaskRequest) (string, error) {
	c, actions := t.c, t.actions
	q := map[string]*string{"KmsInstanceId": dara.String(req.InstanceID), "Method": dara.String("manual")}
	if req.Automatic {
		q["Method"] = dara.String("automatic")
		q["MigrationTime"] = dara.String(req.MigrationTime.UTC().Format(time.RFC3339))
	}
	if len(req.KeyIDs) > 0 {
		q["KeyIds"] = dara.String(mustJSON(req.KeyIDs))
	}
	if len(req.SecretNames) > 0 {
		q["SecretNames"] = dara.String(mustJSON(req.SecretNames))
	}
	var id string
	// Creating is not retried blindly: a lost response could hide a task
	// that was created. Only refusals before the provider acted (throttling)
	// are retried by call(); transient errors surface to the state machine.
	err := c.callOnce(ctx, l, GroupMigration, actions.Create, func(ctx context.Context, cl *kmssdk.Client) error {
		body, err := cl.CallApiWithCtx(ctx, rpcParams(actions.Create), &openapiutil.OpenApiRequest{Query: q}, runtimeOptions())
		if err != nil {
			return err
		}
		b, _ := body["body"].(map[string]any)
		id = str(b["TaskId"])
		if id == "" {
			return fmt.Errorf("%s returned no TaskId", actions.Create)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("kms: create migration task in %s (%d keys, %d secrets into %s): %w",
			l, len(req.KeyIDs), len(req.SecretNames), req.InstanceID, err)
	}
	return id, nil
}

// DescribeTask reads a task with its per-resource results. An unknown task
// matches cloud.ErrNotFound.
func (t *Tasks) DescribeTask(ctx context.Context, l estate.Lane, id string) (migration.Task, error) {
	c, actions := t.c, t.actions
	var w wireTask
	err := c.call(ctx, l.Account, l.Region, GroupMigration, actions.Describe, func(ctx context.Context, cl *kmssdk.Client) error {
		body, err := cl.CallApiWithCtx(ctx, rpcParams(actions.Describe), &openapiutil.OpenApiRequest{
			Query: map[string]*string{"TaskId": dara.String(id)},
		}, runtimeOptions())
		if err != nil {
			return err
		}
		return remarshal(body["body"], &w)
	})
	if err != nil {
		return migration.Task{}, fmt.Errorf("kms: describe migration task %s in %s: %w", id, l, err)
	}
	return w.domain(), nil
}

// ListTasks returns every task of a lane (without results), oldest first.
func (t *Tasks) ListTasks(ctx context.Context, l estate.Lane) ([]migration.Task, error) {
	c, actions := t.c, t.actions
	var out []migration.Task
	err := paginate(func(n int32) (int, int, error) {
		var page struct {
			Tasks      []wireTask
			TotalCount int
		}
		err := c.call(ctx, l.Account, l.Region, GroupMigration, actions.List, func(ctx context.Context, cl *kmssdk.Client) error {
			body, err := cl.CallApiWithCtx(ctx, rpcParams(actions.List), &openapiutil.OpenApiRequest{
				Query: map[string]*string{"PageNumber": dara.String(strconv.Itoa(int(n))), "PageSize": dara.String(strconv.Itoa(pageSize))},
			}, runtimeOptions())
			if err != nil {
				return err
			}
			return remarshal(body["body"], &page)
		})
		for _, w := range page.Tasks {
			out = append(out, w.domain())
		}
		return len(page.Tasks), page.TotalCount, err
	})
	if err != nil {
		return nil, fmt.Errorf("kms: list migration tasks in %s: %w", l, err)
	}
	return out, nil
}

// ProbeTasks is discovery's first contact with the lane's task API: one
// read-only call of the list action (one task per page), retried only on
// throttling and transient failures like every call. An unknown action, a
// missing permission or refused credentials come back as the client's
// *cloud.APIError, matching cloud.ErrActionUnavailable.
func (t *Tasks) ProbeTasks(ctx context.Context, l estate.Lane) (string, error) {
	c, action := t.c, t.actions.List
	err := c.call(ctx, l.Account, l.Region, GroupMigration, action, func(ctx context.Context, cl *kmssdk.Client) error {
		_, err := cl.CallApiWithCtx(ctx, rpcParams(action), &openapiutil.OpenApiRequest{
			Query: map[string]*string{"PageNumber": dara.String("1"), "PageSize": dara.String("1")},
		}, runtimeOptions())
		return err
	})
	if err != nil {
		return action, fmt.Errorf("kms: probe the migration task API (%s) in %s: %w", action, l, err)
	}
	return action, nil
}

// callOnce is call() limited to retrying throttling refusals, for
// operations that must not be repeated after an ambiguous failure.
func (c *Client) callOnce(ctx context.Context, l estate.Lane, g Group, action string, fn func(ctx context.Context, cl *kmssdk.Client) error) error {
	var last error
	for attempt := 0; attempt < c.cfg.MaxAttempts; attempt++ {
		last = c.callWith(ctx, l.Account, l.Region, g, action, 1, fn)
		if last == nil || !isThrottled(last) {
			return last
		}
		if err := cloud.Sleep(ctx, c.backoff(attempt+1)); err != nil {
			return err
		}
	}
	return last
}

func remarshal(v any, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func mustJSON(v []string) string {
	b, _ := json.Marshal(v)
	return string(b)
}
