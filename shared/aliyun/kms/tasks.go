package kms

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	kmssdk "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/dara"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
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

// TaskRequest asks the provider to migrate resources of a lane into an
// instance. Automatic tasks start at MigrationTime; manual ones at once.
type TaskRequest struct {
	InstanceID    string
	Automatic     bool
	MigrationTime time.Time
	KeyIDs        []string
	SecretNames   []string
}

// Task is a migration task as the provider reports it. Status "Completed"
// only means the task ended: Results says what moved.
type Task struct {
	ID            string       `json:"TaskId"`
	InstanceID    string       `json:"KmsInstanceId"`
	Region        string       `json:"RegionId"`
	Method        string       `json:"Method"`
	Status        string       `json:"Status"`
	CreateTime    string       `json:"CreateTime"`
	MigrationTime string       `json:"MigrationTime,omitempty"`
	StartTime     string       `json:"StartTime,omitempty"`
	EndTime       string       `json:"EndTime,omitempty"`
	KeyCount      int          `json:"KeyCount"`
	SecretCount   int          `json:"SecretCount"`
	Results       []TaskResult `json:"Results,omitempty"`
}

// TaskResult is the provider's outcome for one resource of a task.
type TaskResult struct {
	ResourceType string `json:"ResourceType"` // Key or Secret
	ResourceID   string `json:"ResourceId"`
	Status       string `json:"Status"` // Succeeded, Failed or Skipped
	ReasonCode   string `json:"ReasonCode,omitempty"`
	Message      string `json:"Message,omitempty"`
}

// CreateTask submits a migration task and returns its id. A refused task
// comes back as *cloud.APIError with the provider's reason code.
// CreateTask is not idempotent on the provider side: callers record the
// intent first and look for an existing task (ListTasks) before retrying.
func (c *Client) CreateTask(ctx context.Context, l estate.Lane, actions TaskActions, req TaskRequest) (string, error) {
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
func (c *Client) DescribeTask(ctx context.Context, l estate.Lane, actions TaskActions, id string) (Task, error) {
	var t Task
	err := c.call(ctx, l.Account, l.Region, GroupMigration, actions.Describe, func(ctx context.Context, cl *kmssdk.Client) error {
		body, err := cl.CallApiWithCtx(ctx, rpcParams(actions.Describe), &openapiutil.OpenApiRequest{
			Query: map[string]*string{"TaskId": dara.String(id)},
		}, runtimeOptions())
		if err != nil {
			return err
		}
		return remarshal(body["body"], &t)
	})
	if err != nil {
		return Task{}, fmt.Errorf("kms: describe migration task %s in %s: %w", id, l, err)
	}
	return t, nil
}

// ListTasks returns every task of a lane (without results), oldest first.
func (c *Client) ListTasks(ctx context.Context, l estate.Lane, actions TaskActions) ([]Task, error) {
	var out []Task
	err := paginate(func(n int32) (int, int, error) {
		var page struct {
			Tasks      []Task
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
		out = append(out, page.Tasks...)
		return len(page.Tasks), page.TotalCount, err
	})
	if err != nil {
		return nil, fmt.Errorf("kms: list migration tasks in %s: %w", l, err)
	}
	return out, nil
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
