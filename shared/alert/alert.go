package alert

import (
	"fmt"
	"strings"
	"time"
)

// Severity says how urgently a person should look.
type Severity string

// The severities, most urgent first.
const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

// Alert is one notification. Key identifies what the alert is about, so
// that the same problem raised again within the de-duplication period is
// not sent twice; the constructors below build keys from the kind and the
// resource. Fields are shown as a list; the well-known names account,
// region, resource_type, resource_id, batch_id and task_id also fill the
// matching audit record fields.
type Alert struct {
	Key      string
	Severity Severity
	Title    string
	Text     string
	Fields   map[string]string
}

// Kinds of alert, used as the first part of a Key and as the audit
// record's reason code.
const (
	KindResourceFailed   = "resource-failed"
	KindPreflightBlocked = "preflight-blocked"
	KindRotationRestore  = "rotation-restore-failed"
	KindRotationOwner    = "rotation-superseded"
	KindTaskStalled      = "task-stalled"
	KindWindowOverrun    = "window-overrun"
	KindFunctionError    = "function-error"
	KindTaskAPI          = "task-api-unavailable"
)

// Kind returns the kind prefix of a's key ("" when the key has none).
func (a Alert) Kind() string {
	for i := 0; i < len(a.Key); i++ {
		if a.Key[i] == '/' {
			return a.Key[:i]
		}
	}
	return ""
}

// ResourceFailed reports a key or secret whose migration failed.
func ResourceFailed(account, region, resourceType, resourceID, reasonCode, detail string) Alert {
	return Alert{
		Key:      fmt.Sprintf("%s/%s/%s/%s", KindResourceFailed, account, region, resourceID),
		Severity: Critical,
		Title:    fmt.Sprintf("Migration failed for %s %s", resourceType, resourceID),
		Text:     detail,
		Fields: map[string]string{"account": account, "region": region, "resource_type": resourceType,
			"resource_id": resourceID, "reason_code": reasonCode},
	}
}

// PreflightBlocked reports a pre-flight finding that stops a lane from
// being migrated (instance too old, quota short, duplicate secret name...).
func PreflightBlocked(account, region, finding, detail string) Alert {
	return Alert{
		Key:      fmt.Sprintf("%s/%s/%s/%s", KindPreflightBlocked, account, region, finding),
		Severity: Critical,
		Title:    fmt.Sprintf("Pre-flight check blocks %s/%s: %s", account, region, finding),
		Text:     detail,
		Fields:   map[string]string{"account": account, "region": region, "reason_code": finding},
	}
}

// RotationRestoreFailed reports a key or secret whose automatic rotation
// could not be re-enabled after migration: left alone, it stays off.
func RotationRestoreFailed(account, region, resourceType, resourceID, detail string) Alert {
	return Alert{
		Key:      fmt.Sprintf("%s/%s/%s/%s", KindRotationRestore, account, region, resourceID),
		Severity: Critical,
		Title:    fmt.Sprintf("Rotation not restored on %s %s", resourceType, resourceID),
		Text:     detail,
		Fields: map[string]string{"account": account, "region": region, "resource_type": resourceType,
			"resource_id": resourceID},
	}
}

// RotationSuperseded reports a rotation policy that its owner changed while
// kmsmig held it off: kmsmig left it as they set it, and says so, naming
// the resource (detail: "kind id: what was found").
func RotationSuperseded(account, region, detail string) Alert {
	resource, _, _ := strings.Cut(detail, ":")
	return Alert{
		Key:      fmt.Sprintf("%s/%s/%s/%s", KindRotationOwner, account, region, resource),
		Severity: Warning,
		Title:    fmt.Sprintf("Rotation of %s changed by its owner during the migration; left as they set it", resource),
		Text:     detail + ". Check that this is the policy the owner wants; kmsmig will not touch it again.",
		Fields:   map[string]string{"account": account, "region": region, "resource_type": "rotation", "resource_id": resource},
	}
}

// TaskStalled reports a migration task that has made no progress since
// lastProgress, quiet ago.
func TaskStalled(account, region, taskID string, lastProgress time.Time, quiet time.Duration) Alert {
	return Alert{
		Key:      fmt.Sprintf("%s/%s/%s/%s", KindTaskStalled, account, region, taskID),
		Severity: Warning,
		Title:    fmt.Sprintf("Migration task %s has made no progress for %s", taskID, quiet.Round(time.Second)),
		Text:     fmt.Sprintf("Last progress at %s.", lastProgress.UTC().Format(time.RFC3339)),
		Fields:   map[string]string{"account": account, "region": region, "task_id": taskID, "resource_type": "task"},
	}
}

// WindowOverrun reports work still running (or planned) after the end of
// its maintenance window: control-plane operations stay blocked meanwhile.
func WindowOverrun(account, region, batchID string, windowEnd, now time.Time) Alert {
	return Alert{
		Key:      fmt.Sprintf("%s/%s/%s/%s", KindWindowOverrun, account, region, batchID),
		Severity: Warning,
		Title:    fmt.Sprintf("Batch %s overran its window by %s", batchID, now.Sub(windowEnd).Round(time.Second)),
		Text:     fmt.Sprintf("The window ended at %s.", windowEnd.UTC().Format(time.RFC3339)),
		Fields:   map[string]string{"account": account, "region": region, "batch_id": batchID},
	}
}

// TaskAPIUnavailable reports a lane (region empty: every lane of the
// account) whose migration task backend cannot run: no rotation is
// switched off there again. detail names the refusal and the remedy. One
// alert per lane or account, however many batches it stops.
func TaskAPIUnavailable(account, region, code, detail string) Alert {
	where, scope := account+"/"+region, account+"/"+region
	if region == "" {
		where, scope = "account "+account, account+"/*"
	}
	return Alert{
		Key:      fmt.Sprintf("%s/%s", KindTaskAPI, scope),
		Severity: Critical,
		Title:    fmt.Sprintf("Migration task API unavailable in %s (%s): nothing more is migrated there", where, code),
		Text:     detail,
		Fields:   map[string]string{"account": account, "region": region, "resource_type": "lane", "resource_id": scope, "reason_code": code},
	}
}

// FunctionError reports a function invocation that ended in an error.
func FunctionError(function, requestID string, err error) Alert {
	return Alert{
		Key:      fmt.Sprintf("%s/%s", KindFunctionError, function),
		Severity: Critical,
		Title:    fmt.Sprintf("Function %s failed", function),
		Text:     err.Error(),
		Fields:   map[string]string{"function": function, "request_id": requestID},
	}
}
