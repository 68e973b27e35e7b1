package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// MigrateEvent is what migrate accepts: a StepEvent (timer, chained
// invocation, discover's kick), or the event of its OSS trigger on the
// state bucket (Function Compute's documented OSS event, {"events":[...]}),
// which only prompts it to read the run-state store.
type MigrateEvent struct {
	StepEvent
	// Events are the OSS event's records, decoded strictly by
	// DecodeOSSEvent; never both with StepEvent's fields.
	Events []json.RawMessage `json:"events,omitempty"`
}

// OSSEventRecord is one record of Function Compute's OSS trigger event, as
// FC documents it ("Formats of event for different triggers": OSS
// triggers). Every documented field is declared; DecodeOSSEvent refuses
// any other.
type OSSEventRecord struct {
	EventName    string `json:"eventName"`
	EventSource  string `json:"eventSource"`
	EventTime    string `json:"eventTime"`
	EventVersion string `json:"eventVersion"`
	OSS          struct {
		Bucket struct {
			Arn           string `json:"arn"`
			Name          string `json:"name"`
			OwnerIdentity string `json:"ownerIdentity"`
		} `json:"bucket"`
		Object struct {
			DeltaSize int64  `json:"deltaSize"`
			ETag      string `json:"eTag"`
			Key       string `json:"key"`
			Size      int64  `json:"size"`
		} `json:"object"`
		OSSSchemaVersion string `json:"ossSchemaVersion"`
		RuleID           string `json:"ruleId"`
	} `json:"oss"`
	Region            string `json:"region"`
	RequestParameters struct {
		SourceIPAddress string `json:"sourceIPAddress"`
	} `json:"requestParameters"`
	ResponseElements struct {
		RequestID string `json:"requestId"`
	} `json:"responseElements"`
	UserIdentity struct {
		PrincipalID string `json:"principalId"`
	} `json:"userIdentity"`
}

// ApprovalTrigger is where approvals are announced: the state bucket and
// the key prefix of the OSS trigger (<state prefix>/approvals/).
type ApprovalTrigger struct {
	Bucket, Prefix string
}

// ApprovalTrigger returns where the OSS trigger of migrate watches, from
// KMSMIG_STATE; ok is false for a store that is not on OSS (dir:), which
// has no trigger.
func (cfg Config) ApprovalTrigger() (t ApprovalTrigger, ok bool) {
	rest, isOSS := strings.CutPrefix(cfg.State, "oss://")
	if !isOSS || rest == "" {
		return ApprovalTrigger{}, false
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return ApprovalTrigger{Bucket: bucket, Prefix: prefix + statekeys.ApprovalSignalPrefix}, true
}

// DecodeOSSEvent decodes the records of an OSS trigger event strictly
// (every documented field, no other, the types FC documents) and returns
// the runs whose approvals they announce, in order, without repeats. Each
// record must come from OSS (eventSource acs:oss), announce a created
// object (eventName ObjectCreated:*), in the state bucket, under the
// approvals prefix, named <run>.json with a valid run id. Errors name the
// field, e.g. events[0].oss.bucket.name.
func (t ApprovalTrigger) DecodeOSSEvent(records []json.RawMessage) ([]string, error) {
	if len(records) == 0 {
		return nil, errors.New("oss event: events: empty; want at least one record")
	}
	var runs []string
	for i, raw := range records {
		at := fmt.Sprintf("events[%d]", i)
		var r OSSEventRecord
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("oss event: %s: %w", at, err)
		}
		switch {
		case r.EventSource != "acs:oss":
			return nil, fmt.Errorf("oss event: %s.eventSource: %q: want acs:oss", at, r.EventSource)
		case !strings.HasPrefix(r.EventName, "ObjectCreated:"):
			return nil, fmt.Errorf("oss event: %s.eventName: %q: want ObjectCreated:* (an approval is a created object)", at, r.EventName)
		case r.OSS.Bucket.Name != t.Bucket:
			return nil, fmt.Errorf("oss event: %s.oss.bucket.name: %q is not the state bucket %q", at, r.OSS.Bucket.Name, t.Bucket)
		}
		name, ok := strings.CutPrefix(r.OSS.Object.Key, t.Prefix)
		runID, isJSON := strings.CutSuffix(name, ".json")
		if !ok || !isJSON {
			return nil, fmt.Errorf("oss event: %s.oss.object.key: %q: want %s<run>.json", at, r.OSS.Object.Key, t.Prefix)
		}
		if err := ValidateRunID(runID); err != nil {
			return nil, fmt.Errorf("oss event: %s.oss.object.key: %q: %w", at, r.OSS.Object.Key, err)
		}
		if !slices.Contains(runs, runID) {
			runs = append(runs, runID)
		}
	}
	return runs, nil
}

// MigrateOn is migrate for any of its events. An OSS event (the trigger on
// approvals) is decoded strictly and only names runs: for the current run
// it runs Migrate at once (the window and the approval in the store still
// decide; outside the window the window's timer starts the run); a run
// that is not current starts nothing. The event's content is never taken
// as an approval. A malformed event, or one from another bucket or
// prefix, is refused naming the field, before anything is read.
func (x *Executor) MigrateOn(ctx context.Context, e MigrateEvent) (StepResult, error) {
	if len(e.Events) == 0 && e.Events == nil {
		return x.Migrate(ctx, e.StepEvent)
	}
	if !e.StepEvent.isZero() {
		return StepResult{}, errors.New("oss event: events: cannot be combined with runId, lane, lanes, batchId or timer fields")
	}
	t, ok := x.Config.ApprovalTrigger()
	if !ok {
		return StepResult{}, fmt.Errorf("oss event: events: the run-state store %s is not on OSS: no OSS trigger applies", x.Config.State)
	}
	runs, err := t.DecodeOSSEvent(e.Events)
	if err != nil {
		return StepResult{}, err
	}
	cur, err := x.Engine.Current(ctx)
	if errors.Is(err, migration.ErrNoRun) {
		return StepResult{Done: true, Trigger: "approval of " + strings.Join(runs, ", ") + ": no current run"}, nil
	}
	if err != nil {
		return StepResult{}, err
	}
	if !slices.Contains(runs, cur) {
		return StepResult{RunID: cur, Trigger: "approval of " + strings.Join(runs, ", ") + ": not the current run " + cur + "; nothing started"}, nil
	}
	res, err := x.Migrate(ctx, StepEvent{RunID: cur})
	res.Trigger = "approval of " + cur + " (oss://" + t.Bucket + "/" + t.Prefix + cur + ".json)"
	return res, err
}
