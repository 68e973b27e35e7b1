package fc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SourceOSS marks an invocation by an OSS trigger.
const SourceOSS Source = "oss"

// OSSTrigger is an fc3 OSS trigger of a function: objects created in
// Bucket whose key has Prefix and Suffix invoke the function
// asynchronously with FC's OSS event.
type OSSTrigger struct {
	Name string
	// SourceArn is acs:oss:<region>:<account>:<bucket>.
	SourceArn string
	Bucket    string
	// Events are the OSS event types, e.g. oss:ObjectCreated:* (a trailing
	// * matches every event of that kind).
	Events []string
	Prefix string
	Suffix string
	// InvocationRole is the role OSS assumes to invoke the function
	// (recorded, not checked: the twin has no RAM).
	InvocationRole string
}

// ossEventNames are the event types fc3 accepts in an OSS trigger.
var ossEventNames = []string{
	"oss:ObjectCreated:*", "oss:ObjectCreated:AppendObject", "oss:ObjectCreated:CompleteMultipartUpload", "oss:ObjectCreated:CopyObject",
	"oss:ObjectCreated:InitiateMultipartUpload", "oss:ObjectCreated:PostObject", "oss:ObjectCreated:PutObject", "oss:ObjectCreated:PutSymlink",
	"oss:ObjectCreated:UploadPart", "oss:ObjectCreated:UploadPartCopy", "oss:ObjectModified:UpdateObjectMeta",
	"oss:ObjectRemoved:AbortMultipartUpload", "oss:ObjectRemoved:DeleteObject", "oss:ObjectRemoved:DeleteObjects",
}

// ParseOSSSourceArn splits acs:oss:<region>:<account>:<bucket>.
func ParseOSSSourceArn(arn string) (region, account, bucket string, err error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 5 || parts[0] != "acs" || parts[1] != "oss" || parts[2] == "" || parts[3] == "" || parts[4] == "" || strings.Contains(parts[4], "/") {
		return "", "", "", fmt.Errorf("sourceArn %q: want acs:oss:<region>:<account>:<bucket>", arn)
	}
	return parts[2], parts[3], parts[4], nil
}

// matches reports whether an object event fires the trigger.
func (t OSSTrigger) matches(bucket, eventName, key string) bool {
	if bucket != t.Bucket || !strings.HasPrefix(key, t.Prefix) || !strings.HasSuffix(key, t.Suffix) {
		return false
	}
	name := "oss:" + eventName
	return slices.ContainsFunc(t.Events, func(e string) bool {
		if kind, ok := strings.CutSuffix(e, "*"); ok {
			return strings.HasPrefix(name, kind)
		}
		return e == name
	})
}

// OSSObjectEvent is what OSS tells about an object: the input of
// DeliverOSSEvent (twin/oss.ObjectCreated, field by field).
type OSSObjectEvent struct {
	// EventName without "oss:", e.g. ObjectCreated:PutObject.
	EventName   string
	Region      string
	BucketOwner string
	Bucket      string
	Key         string
	ETag        string
	Size        int64
	DeltaSize   int64
	RequestID   string
	Principal   string
	SourceIP    string
	Time        time.Time
}

// OSSEvent is Function Compute's OSS trigger event, in the format FC
// documents ("Formats of event for different triggers": OSS triggers).
type OSSEvent struct {
	Events []OSSEventRecord `json:"events"`
}

// OSSEventRecord is one record of an OSSEvent.
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

// DeliverOSSEvent invokes, asynchronously, every deployed function with
// an OSS trigger that e fires, with one record per event; it returns the
// request ids. Safe to call from the OSS twin's hook (it never blocks on
// the invocation).
func (s *Server) DeliverOSSEvent(e OSSObjectEvent) []string {
	type target struct{ fn, trigger string }
	var targets []target
	s.mu.Lock()
	for name, d := range s.fns {
		for _, t := range d.fn.OSSTriggers {
			if t.matches(e.Bucket, e.EventName, e.Key) {
				targets = append(targets, target{name, t.Name})
			}
		}
	}
	s.mu.Unlock()
	slices.SortFunc(targets, func(a, b target) int { return strings.Compare(a.fn+a.trigger, b.fn+b.trigger) })
	var ids []string
	for _, t := range targets {
		var r OSSEventRecord
		r.EventName, r.EventSource, r.EventVersion = e.EventName, "acs:oss", "1.0"
		r.EventTime = e.Time.UTC().Format("2006-01-02T15:04:05.000Z")
		r.OSS.Bucket.Arn = "acs:oss:" + e.Region + ":" + e.BucketOwner + ":" + e.Bucket
		r.OSS.Bucket.Name, r.OSS.Bucket.OwnerIdentity = e.Bucket, e.BucketOwner
		r.OSS.Object.DeltaSize, r.OSS.Object.ETag, r.OSS.Object.Key, r.OSS.Object.Size = e.DeltaSize, e.ETag, e.Key, e.Size
		r.OSS.OSSSchemaVersion, r.OSS.RuleID = "1.0", t.trigger
		r.Region = e.Region
		r.RequestParameters.SourceIPAddress = e.SourceIP
		r.ResponseElements.RequestID = e.RequestID
		r.UserIdentity.PrincipalID = e.Principal
		ev, _ := json.Marshal(OSSEvent{Events: []OSSEventRecord{r}})
		id, err := s.invokeAsync(context.Background(), t.fn, ev, "", SourceOSS)
		if err != nil {
			s.logf(t.fn, "oss trigger %s: %v", t.trigger, err)
			continue
		}
		ids = append(ids, id)
	}
	return ids
}
