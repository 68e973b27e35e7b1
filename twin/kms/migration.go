package kms

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/rules"
	"github.com/kmsmig/kmsmig/twin/acs"
)

// Task statuses of DescribeMigrationTask.
const (
	TaskPending   = "Pending"
	TaskScheduled = "Scheduled"
	TaskRunning   = "Running"
	TaskCompleted = "Completed"
)

// Resource types and per-resource statuses of a task result.
const (
	ResourceKey    = "Key"
	ResourceSecret = "Secret"

	ResultSucceeded = "Succeeded"
	ResultFailed    = "Failed"
	ResultSkipped   = "Skipped"
)

// Per-resource reason codes of a task result (ReasonCode). Each names one
// rule of the migration tool.
const (
	ReasonAlreadyMigrated          = "AlreadyMigrated"            // Skipped: the resource already lives in an instance
	ReasonServiceKey               = "ServiceKeyNotMigratable"    // service keys (alias/acs/<product>) stay in KMS 1.0
	ReasonExternalKey              = "ExternalKeyMaterial"        // keys with imported (BYOK) material
	ReasonKeyPendingDeletion       = "KeyPendingDeletion"         // key scheduled for deletion: needs a decision
	ReasonKeyDisabled              = "KeyDisabled"                // disabled key: needs a decision
	ReasonKeyPendingImport         = "KeyPendingImport"           // key without material
	ReasonRotationEnabled          = "RotationEnabled"            // automatic rotation must be off first
	ReasonEncryptionKeyNotMigrated = "EncryptionKeyNotMigrated"   // the secret's CMK is not in the instance yet
	ReasonSecretNameExists         = "SecretNameExistsInInstance" // the name is already taken in the target instance
	ReasonDuplicateSecretName      = "DuplicateSecretName"        // another source secret for this instance has the name
	ReasonQuotaExceeded            = "QuotaExceeded"              // the instance ran out of quota while the task ran
	ReasonInjected                 = "InjectedFailure"            // default code of FailResource
)

// Task-level refusal codes of CreateMigrationTask (besides InvalidParameter,
// MissingParameter, Forbidden.KeyNotFound, Forbidden.ResourceNotFound and
// Forbidden.DKMSInstanceNotFound).
const (
	CodeRegionMismatch      = "Rejected.InstanceRegionMismatch"    // 400: instance of another region
	CodeImageTooOld         = "Rejected.InstanceVersionTooLow"     // 400: software image older than 2.9.0
	CodeInsufficientQuota   = "Rejected.InsufficientQuota"         // 400: not enough key or secret quota
	CodeNotShared           = "Forbidden.InstanceNotShared"        // 403: instance neither owned by nor shared with the caller
	CodeInstanceState       = "Forbidden.DKMSInstanceStateInvalid" // 403: instance expired or not Connected
	CodeLimitExceeded       = "Rejected.LimitExceeded"             // 400: more keys or secrets than one task carries
	CodeMigrationInProgress = "Rejected.MigrationInProgress"       // 409: resource or instance busy with a running task
)

const (
	resKey    = ResourceKey
	resSecret = ResourceSecret
)

func errInMigration(kind, id, taskID string) *acs.Error {
	return &acs.Error{Status: http.StatusConflict, Code: CodeMigrationInProgress,
		Message: fmt.Sprintf("The %s %s is being migrated by task %s; control-plane operations are refused until it completes.", kind, id, taskID)}
}

type task struct {
	id         string
	lane       Lane
	instanceID string
	method     string
	created    time.Time
	ready      time.Time // earliest start: MigrationTime or created+QueueDelay
	started    time.Time
	due        time.Time
	finished   time.Time
	status     string
	keys       []string // key ids
	secrets    []string // secret names
	results    []TaskResult
	held       bool // caught by StallTaskWhen: stays Running past due
}

func (tk *task) holds(kind, id string) bool {
	if kind == resKey {
		return slices.Contains(tk.keys, id)
	}
	return slices.Contains(tk.secrets, id)
}

// TaskResult is the outcome of one resource of a completed task.
type TaskResult struct {
	ResourceType string `json:"ResourceType"`
	ResourceId   string `json:"ResourceId"` //nolint:revive // wire name
	Status       string `json:"Status"`
	ReasonCode   string `json:"ReasonCode,omitempty"`
	Message      string `json:"Message,omitempty"`
}

type faults struct {
	failing map[string]string
	stall   bool
	// stallWhen, when set, is asked about each task created; the first it
	// accepts is held (StallTaskWhen).
	stallWhen func(l Lane, keyIDs, secretNames []string) bool
	alter     map[string][2]string // resource → {field, value} (AlterOnMigration)
}

// FailResource makes the resource with this id (a key id or a secret name,
// in any account) fail inside every task that migrates it, with reasonCode
// (default InjectedFailure). An empty reasonCode after a previous call
// clears the fault.
func (t *Twin) FailResource(resourceID, reasonCode string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if reasonCode == "" {
		if _, ok := t.faults.failing[resourceID]; ok {
			delete(t.faults.failing, resourceID)
			return
		}
		reasonCode = ReasonInjected
	}
	t.faults.failing[resourceID] = reasonCode
}

// StallTasks makes running tasks stay Running past their due time (on) or
// lets them complete at the next read (off): every stalled task, those
// StallTaskWhen caught included.
func (t *Twin) StallTasks(on bool) {
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults.stall = on
	if !on {
		for _, tk := range t.tasks {
			tk.held = false
		}
	}
}

// StallTaskWhen arms a stall for one task: the first for which match
// reports true (given its lane, key ids and secret names), among the
// tasks not yet completed (brought up to the clock first) and then those
// created afterwards, stays Running past its due time until
// StallTasks(false). Nothing races a short task: a task is held before it
// can complete. The stall disarms once it has caught a task; nil disarms
// it. match runs under the twin's lock and must not call the twin.
func (t *Twin) StallTaskWhen(match func(l Lane, keyIDs, secretNames []string) bool) {
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults.stallWhen = match
	for _, tid := range t.taskOrder {
		if tk := t.tasks[tid]; match != nil && tk.status != TaskCompleted && match(tk.lane, slices.Clone(tk.keys), slices.Clone(tk.secrets)) {
			tk.held, t.faults.stallWhen = true, nil
			return
		}
	}
}

// runningTaskOf returns the Running task of the lane that holds a
// resource, or nil. The caller holds t.mu.
func (t *Twin) runningTaskOf(l Lane, kind, id string) *task {
	for _, tid := range t.taskOrder {
		tk := t.tasks[tid]
		if tk.status == TaskRunning && tk.lane == l && tk.holds(kind, id) {
			return tk
		}
	}
	return nil
}

// rotationFrozen returns the task that refuses a rotation policy change
// of resource (kind, id) in lane l, or nil: the Running task that holds
// it, or, with Options.FreezeDuringTask, any Pending or Running task of
// an instance of l's region that l's account may migrate into. The caller
// holds t.mu.
func (t *Twin) rotationFrozen(l Lane, kind, id string) *task {
	if tk := t.runningTaskOf(l, kind, id); tk != nil || !t.opts.FreezeDuringTask {
		return tk
	}
	for _, tid := range t.taskOrder {
		tk := t.tasks[tid]
		if tk.status != TaskPending && tk.status != TaskRunning {
			continue
		}
		if in := t.instances[tk.instanceID]; in != nil && in.region == l.Region && in.visibleTo(l.Account) {
			return tk
		}
	}
	return nil
}

func errInstanceFrozen(kind, id string, tk *task) *acs.Error {
	return &acs.Error{Status: http.StatusConflict, Code: CodeMigrationInProgress,
		Message: fmt.Sprintf("Instance %s is being migrated into by task %s; control-plane operations on the %s %s are refused until it completes.", tk.instanceID, tk.id, kind, id)}
}

// CreateMigrationTaskRequest holds the CreateMigrationTask parameters.
// KeyIds and SecretNames are JSON arrays.
type CreateMigrationTaskRequest struct {
	KmsInstanceId string //nolint:revive // wire name
	Method        string
	MigrationTime string
	KeyIds        []string //nolint:revive // wire name
	SecretNames   []string
	All           bool
}

// CreateMigrationTaskResponse is the body of CreateMigrationTask.
type CreateMigrationTaskResponse struct {
	TaskId string `json:"TaskId"` //nolint:revive // wire name
	Status string `json:"Status"`
}

// CreateMigrationTask validates a migration of the lane's keys and secrets
// into an instance and queues it (rules and codes in doc.go). Task-level
// rules refuse the call; per-resource rules show in the task's Results.
func (t *Twin) CreateMigrationTask(l Lane, req CreateMigrationTaskRequest) (*CreateMigrationTaskResponse, error) {
	if req.KmsInstanceId == "" {
		return nil, errMissing("KmsInstanceId")
	}
	method := or(req.Method, "manual")
	now := t.opts.Clock.Now()
	var at time.Time
	switch method {
	case "manual":
		at = now.Add(t.opts.Timing.QueueDelay)
	case "automatic":
		if req.MigrationTime == "" {
			return nil, errMissing("MigrationTime")
		}
		var err error
		if at, err = time.Parse(time.RFC3339, req.MigrationTime); err != nil {
			return nil, errParam("MigrationTime", "It must be an RFC 3339 time like 2025-01-31T18:00:00Z.")
		}
		if at.Before(now) {
			return nil, errParam("MigrationTime", "It must not be in the past.")
		}
	default:
		return nil, errParam("Method", "It must be manual or automatic.")
	}
	if req.All == (len(req.KeyIds)+len(req.SecretNames) > 0) {
		return nil, errParam("All", "Give KeyIds and/or SecretNames, or All=true, not both.")
	}
	if !req.All {
		if len(req.KeyIds) > t.opts.MaxKeysPerTask {
			return nil, &acs.Error{Status: http.StatusBadRequest, Code: CodeLimitExceeded, Message: fmt.Sprintf("A migration task carries at most %d keys; got %d.", t.opts.MaxKeysPerTask, len(req.KeyIds))}
		}
		if len(req.SecretNames) > t.opts.MaxSecretsPerTask {
			return nil, &acs.Error{Status: http.StatusBadRequest, Code: CodeLimitExceeded, Message: fmt.Sprintf("A migration task carries at most %d secrets; got %d.", t.opts.MaxSecretsPerTask, len(req.SecretNames))}
		}
		if n := len(req.KeyIds) + len(req.SecretNames); t.opts.MaxResourcesPerTask > 0 && n > t.opts.MaxResourcesPerTask {
			return nil, &acs.Error{Status: http.StatusBadRequest, Code: CodeLimitExceeded, Message: fmt.Sprintf("A migration task carries at most %d keys and secrets in total; got %d.", t.opts.MaxResourcesPerTask, n)}
		}
	}

	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.instances[req.KmsInstanceId]
	switch {
	case in == nil:
		return nil, errInstanceNotFound(req.KmsInstanceId)
	case in.region != l.Region:
		return nil, &acs.Error{Status: http.StatusBadRequest, Code: CodeRegionMismatch, Message: fmt.Sprintf("Instance %s is in %s; a task migrates only resources of the instance's own region, not %s.", in.id, in.region, l.Region)}
	case !in.visibleTo(l.Account):
		return nil, &acs.Error{Status: http.StatusForbidden, Code: CodeNotShared, Message: fmt.Sprintf("Instance %s is not shared with account %s.", in.id, l.Account)}
	case rules.CheckInstance(in.status, in.end, now) != rules.InstanceUsable:
		return nil, &acs.Error{Status: http.StatusForbidden, Code: CodeInstanceState, Message: fmt.Sprintf("Instance %s is %s and ends %s (%s).", in.id, in.status, fmtTime(in.end), rules.CheckInstance(in.status, in.end, now))}
	case !in.hardware && versionLess(in.image, t.opts.MinImageVersion):
		return nil, &acs.Error{Status: http.StatusBadRequest, Code: CodeImageTooOld, Message: fmt.Sprintf("Instance %s runs image %s; migration needs %s or later. Upgrade the instance first.", in.id, in.image, t.opts.MinImageVersion)}
	}
	for _, tid := range t.taskOrder {
		if tk := t.tasks[tid]; tk.status == TaskRunning && tk.instanceID == in.id {
			return nil, &acs.Error{Status: http.StatusConflict, Code: CodeMigrationInProgress, Message: fmt.Sprintf("Instance %s is busy with running task %s.", in.id, tk.id)}
		}
	}

	rs := t.region(l)
	if rs == nil {
		rs = newRegionState()
	}
	var keys, secrets []string
	if req.All {
		for _, k := range rs.keys {
			if !k.service && k.dkms == "" && !t.inActiveTask(l, resKey, k.id) {
				keys = append(keys, k.id)
			}
		}
		for _, s := range rs.secrets {
			if s.dkms == "" && !t.inActiveTask(l, resSecret, s.name) {
				secrets = append(secrets, s.name)
			}
		}
		if len(keys) > t.opts.MaxKeysPerTask || len(secrets) > t.opts.MaxSecretsPerTask ||
			(t.opts.MaxResourcesPerTask > 0 && len(keys)+len(secrets) > t.opts.MaxResourcesPerTask) {
			return nil, &acs.Error{Status: http.StatusBadRequest, Code: CodeLimitExceeded, Message: fmt.Sprintf("The region holds %d keys and %d secrets to migrate; a task carries at most %d keys and %d secrets. Migrate in batches.", len(keys), len(secrets), t.opts.MaxKeysPerTask, t.opts.MaxSecretsPerTask)}
		}
	} else {
		for _, ref := range req.KeyIds {
			k := rs.lookupKey(ref)
			if k == nil {
				return nil, errKeyNotFound(ref)
			}
			if slices.Contains(keys, k.id) {
				return nil, errParam("KeyIds", "Key "+k.id+" is listed twice.")
			}
			keys = append(keys, k.id)
		}
		for _, name := range req.SecretNames {
			if rs.secretsBy[name] == nil {
				return nil, errSecretNotFound(name)
			}
			if slices.Contains(secrets, name) {
				return nil, errParam("SecretNames", "Secret "+name+" is listed twice.")
			}
			secrets = append(secrets, name)
		}
		for _, id := range keys {
			if t.inActiveTask(l, resKey, id) {
				return nil, &acs.Error{Status: http.StatusConflict, Code: CodeMigrationInProgress, Message: "Key " + id + " already belongs to an unfinished migration task."}
			}
		}
		for _, name := range secrets {
			if t.inActiveTask(l, resSecret, name) {
				return nil, &acs.Error{Status: http.StatusConflict, Code: CodeMigrationInProgress, Message: "Secret " + name + " already belongs to an unfinished migration task."}
			}
		}
	}
	// Quota: every selected resource that is not already migrated (and not
	// a service key) needs room, counting tasks already queued for the
	// instance.
	needKeys, needSecrets := 0, 0
	for _, id := range keys {
		if k := rs.keyByID[id]; k.dkms == "" && !k.service {
			needKeys++
		}
	}
	for _, name := range secrets {
		if rs.secretsBy[name].dkms == "" {
			needSecrets++
		}
	}
	qKeys, qSecrets := t.queued(in.id)
	if free := in.keyQuota - in.usedKeys() - qKeys; needKeys > free {
		return nil, &acs.Error{Status: http.StatusBadRequest, Code: CodeInsufficientQuota, Message: fmt.Sprintf("Instance %s has room for %d more keys; the task needs %d.", in.id, max(free, 0), needKeys)}
	}
	if free := in.secretQuota - in.usedSecrets() - qSecrets; needSecrets > free {
		return nil, &acs.Error{Status: http.StatusBadRequest, Code: CodeInsufficientQuota, Message: fmt.Sprintf("Instance %s has room for %d more secrets; the task needs %d.", in.id, max(free, 0), needSecrets)}
	}

	t.taskSeq++
	tk := &task{
		id:         fmt.Sprintf("mt-%s-%06d", strings.ReplaceAll(l.Region, "-", ""), t.taskSeq),
		lane:       l,
		instanceID: in.id,
		method:     method,
		created:    now,
		ready:      at,
		status:     TaskPending,
		keys:       keys,
		secrets:    secrets,
	}
	if method == "automatic" {
		tk.status = TaskScheduled
	}
	if m := t.faults.stallWhen; m != nil && m(l, slices.Clone(keys), slices.Clone(secrets)) {
		tk.held, t.faults.stallWhen = true, nil
	}
	t.tasks[tk.id] = tk
	t.taskOrder = append(t.taskOrder, tk.id)
	t.active.Add(1)
	return &CreateMigrationTaskResponse{TaskId: tk.id, Status: tk.status}, nil
}

// inActiveTask reports whether a resource belongs to a task that has not
// completed. The caller holds t.mu.
func (t *Twin) inActiveTask(l Lane, kind, id string) bool {
	for _, tid := range t.taskOrder {
		tk := t.tasks[tid]
		if tk.status != TaskCompleted && tk.lane == l && tk.holds(kind, id) {
			return true
		}
	}
	return false
}

// queued counts the keys and secrets of unfinished tasks for an instance.
func (t *Twin) queued(instanceID string) (keys, secrets int) {
	for _, tid := range t.taskOrder {
		tk := t.tasks[tid]
		if tk.status != TaskCompleted && tk.instanceID == instanceID {
			keys += len(tk.keys)
			secrets += len(tk.secrets)
		}
	}
	return keys, secrets
}

// versionLess compares dotted numeric versions.
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// advance brings every unfinished task up to the clock: tasks start when
// their time has come and their instance is free, and complete when their
// simulated duration has passed (unless stalled). Events are applied in
// time order so that one task's outcome is seen by the next.
func (t *Twin) advance() {
	if t.active.Load() == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opts.Clock.Now()
	for {
		var next *task
		var when time.Time
		busy := map[string]time.Time{} // instance → free-since (zero: busy)
		for _, tid := range t.taskOrder {
			if tk := t.tasks[tid]; tk.status == TaskRunning {
				busy[tk.instanceID] = time.Time{}
			}
		}
		for _, tid := range t.taskOrder {
			tk := t.tasks[tid]
			var at time.Time
			switch tk.status {
			case TaskPending, TaskScheduled:
				if _, isBusy := busy[tk.instanceID]; isBusy {
					continue
				}
				at = tk.ready
			case TaskRunning:
				if t.faults.stall || tk.held {
					continue
				}
				at = tk.due
			default:
				continue
			}
			if !at.After(now) && (next == nil || at.Before(when)) {
				next, when = tk, at
			}
		}
		if next == nil {
			return
		}
		if next.status == TaskRunning {
			t.complete(next, when)
		} else {
			t.start(next, when)
		}
	}
}

// start evaluates every per-resource rule against the estate as it is when
// the task starts, and marks the task Running.
func (t *Twin) start(tk *task, at time.Time) {
	for _, tid := range t.taskOrder {
		if o := t.tasks[tid]; o.status == TaskCompleted && o.instanceID == tk.instanceID && o.finished.After(at) {
			at = o.finished // waited for the instance to be free
		}
	}
	tk.status, tk.started = TaskRunning, at
	tk.due = at.Add(t.opts.Timing.duration(len(tk.keys) + len(tk.secrets)))
	in := t.instances[tk.instanceID]
	rs := t.region(tk.lane)
	tk.results = nil
	for _, id := range tk.keys {
		k := rs.keyByID[id]
		r := TaskResult{ResourceType: ResourceKey, ResourceId: id, Status: ResultFailed}
		code, injected := t.faults.failing[id]
		switch {
		case injected:
			r.ReasonCode, r.Message = code, "injected failure"
		case k.dkms != "":
			r.Status, r.ReasonCode, r.Message = ResultSkipped, ReasonAlreadyMigrated, "the key already lives in instance "+k.dkms
		case k.service:
			r.ReasonCode, r.Message = ReasonServiceKey, "service keys of "+k.creator+" are not migrated and need no action"
		case k.origin == "EXTERNAL":
			r.ReasonCode, r.Message = ReasonExternalKey, "keys with imported key material cannot be migrated"
		case k.state == "PendingDeletion":
			r.ReasonCode, r.Message = ReasonKeyPendingDeletion, "the key is scheduled for deletion; cancel the deletion or leave it"
		case k.state == "Disabled":
			r.ReasonCode, r.Message = ReasonKeyDisabled, "the key is disabled; enable it or leave it"
		case k.state == "PendingImport":
			r.ReasonCode, r.Message = ReasonKeyPendingImport, "the key has no key material"
		case k.rotation:
			r.ReasonCode, r.Message = ReasonRotationEnabled, "disable automatic rotation before migrating"
		default:
			r.Status = ResultSucceeded
		}
		tk.results = append(tk.results, r)
	}
	names := map[string]bool{}
	holders := t.secretHolders(in, tk.lane.Region)
	for _, name := range tk.secrets {
		s := rs.secretsBy[name]
		r := TaskResult{ResourceType: ResourceSecret, ResourceId: name, Status: ResultFailed}
		code, injected := t.faults.failing[name]
		var cmk *key
		if s.encKeyID != "" {
			cmk = rs.lookupKey(s.encKeyID)
		}
		switch {
		case injected:
			r.ReasonCode, r.Message = code, "injected failure"
		case s.dkms != "":
			r.Status, r.ReasonCode, r.Message = ResultSkipped, ReasonAlreadyMigrated, "the secret already lives in instance "+s.dkms
		case s.rotation:
			r.ReasonCode, r.Message = ReasonRotationEnabled, "disable automatic rotation before migrating"
		case cmk != nil && cmk.dkms != tk.instanceID:
			r.ReasonCode, r.Message = ReasonEncryptionKeyNotMigrated, "migrate the secret's CMK "+cmk.id+" into "+tk.instanceID+" first (in an earlier task)"
		case in.secretNames[name] || names[name]:
			r.ReasonCode, r.Message = ReasonSecretNameExists, "instance "+in.id+" already has a secret named "+name
		case len(holders.OtherHolders(tk.lane.Account, name)) > 0:
			r.ReasonCode, r.Message = ReasonDuplicateSecretName, "account(s) "+strings.Join(holders.OtherHolders(tk.lane.Account, name), ", ")+" sharing instance "+in.id+" also hold a secret named "+name
		default:
			r.Status = ResultSucceeded
		}
		names[name] = true
		tk.results = append(tk.results, r)
	}
}

// secretHolders records the not-yet-migrated secrets, in region, of every
// account that may migrate into in (rules.MayMigrateInto), for the
// duplicate-name rule the classifier applies too.
func (t *Twin) secretHolders(in *instance, region string) *rules.SecretHolders {
	h := &rules.SecretHolders{}
	for _, acct := range rules.MayMigrateInto(in.owner, in.sharedWith) {
		rs := t.region(Lane{acct, region})
		if rs == nil {
			continue
		}
		for _, s := range rs.secrets {
			if s.dkms == "" {
				h.Add(acct, s.name)
			}
		}
	}
	return h
}

// complete applies the task's successful results: the resources gain the
// instance id and the instance's usage rises. Quota is re-checked so that
// concurrent tasks cannot overfill an instance.
func (t *Twin) complete(tk *task, at time.Time) {
	in := t.instances[tk.instanceID]
	rs := t.region(tk.lane)
	for i := range tk.results {
		r := &tk.results[i]
		if r.Status != ResultSucceeded {
			continue
		}
		if r.ResourceType == ResourceKey {
			if in.usedKeys() >= in.keyQuota {
				r.Status, r.ReasonCode, r.Message = ResultFailed, ReasonQuotaExceeded, "instance "+in.id+" has no key quota left"
				continue
			}
			rs.keyByID[r.ResourceId].dkms = in.id
			t.alterKey(rs.keyByID[r.ResourceId])
			in.keysUsed++
			continue
		}
		if in.usedSecrets() >= in.secretQuota {
			r.Status, r.ReasonCode, r.Message = ResultFailed, ReasonQuotaExceeded, "instance "+in.id+" has no secret quota left"
			continue
		}
		rs.secretsBy[r.ResourceId].dkms = in.id
		t.alterSecret(rs.secretsBy[r.ResourceId])
		in.secretNames[r.ResourceId] = true
		in.secretsUsed++
	}
	tk.status, tk.finished = TaskCompleted, at
	t.active.Add(-1)
}

// DescribeMigrationTaskRequest holds the DescribeMigrationTask parameters.
type DescribeMigrationTaskRequest struct {
	TaskId string //nolint:revive // wire name
}

// MigrationTask is one task as DescribeMigrationTask and ListMigrationTasks
// show it. Results is filled once the task is Completed.
type MigrationTask struct {
	TaskId        string       `json:"TaskId"`        //nolint:revive // wire name
	KmsInstanceId string       `json:"KmsInstanceId"` //nolint:revive // wire name
	RegionId      string       `json:"RegionId"`      //nolint:revive // wire name
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

// DescribeMigrationTaskResponse is the body of DescribeMigrationTask.
type DescribeMigrationTaskResponse struct {
	MigrationTask
}

func (tk *task) view(results bool) MigrationTask {
	v := MigrationTask{
		TaskId: tk.id, KmsInstanceId: tk.instanceID, RegionId: tk.lane.Region, Method: tk.method, Status: tk.status,
		CreateTime: fmtTaskTime(tk.created), StartTime: fmtTaskTime(tk.started), EndTime: fmtTaskTime(tk.finished),
		KeyCount: len(tk.keys), SecretCount: len(tk.secrets),
	}
	if tk.method == "automatic" {
		v.MigrationTime = fmtTaskTime(tk.ready)
	}
	if results && tk.status == TaskCompleted {
		v.Results = slices.Clone(tk.results)
		if v.Results == nil {
			v.Results = []TaskResult{}
		}
	}
	return v
}

// DescribeMigrationTask returns a task of the lane with its per-resource
// results; Forbidden.MigrationTaskNotFound (404) for a task of another
// account or region.
func (t *Twin) DescribeMigrationTask(l Lane, req DescribeMigrationTaskRequest) (*DescribeMigrationTaskResponse, error) {
	if req.TaskId == "" {
		return nil, errMissing("TaskId")
	}
	t.rlock()
	defer t.mu.RUnlock()
	tk := t.tasks[req.TaskId]
	if tk == nil || tk.lane != l {
		return nil, &acs.Error{Status: http.StatusNotFound, Code: "Forbidden.MigrationTaskNotFound", Message: "The specified migration task is not found: " + req.TaskId}
	}
	return &DescribeMigrationTaskResponse{MigrationTask: tk.view(true)}, nil
}

// ListMigrationTasksRequest holds the ListMigrationTasks parameters.
type ListMigrationTasksRequest struct {
	Status               string
	PageNumber, PageSize *int32
}

// ListMigrationTasksResponse is the body of ListMigrationTasks.
type ListMigrationTasksResponse struct {
	Tasks      []MigrationTask `json:"Tasks"`
	PageNumber int             `json:"PageNumber"`
	PageSize   int             `json:"PageSize"`
	TotalCount int             `json:"TotalCount"`
}

// ListMigrationTasks pages through the lane's tasks in creation order
// (without Results), optionally only those with Status.
func (t *Twin) ListMigrationTasks(l Lane, req ListMigrationTasksRequest) (*ListMigrationTasksResponse, error) {
	t.rlock()
	defer t.mu.RUnlock()
	var list []*task
	for _, tid := range t.taskOrder {
		if tk := t.tasks[tid]; tk.lane == l && (req.Status == "" || tk.status == req.Status) {
			list = append(list, tk)
		}
	}
	num, sz, lo, hi, err := page(req.PageNumber, req.PageSize, 10, len(list))
	if err != nil {
		return nil, err
	}
	out := &ListMigrationTasksResponse{PageNumber: num, PageSize: sz, TotalCount: len(list), Tasks: []MigrationTask{}}
	for _, tk := range list[lo:hi] {
		out.Tasks = append(out.Tasks, tk.view(false))
	}
	return out, nil
}

// fmtTaskTime writes a task time with its milliseconds when it has any
// (RFC 3339 allows the fraction; the real service writes whole seconds),
// so that a rehearsal on an accelerated clock can still measure task
// durations. A whole-second time reads exactly as the service writes it.
func fmtTaskTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.999Z07:00")
}
