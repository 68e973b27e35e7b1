package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	kmssdk "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// Event is one thing the rehearsal did to the estate, as it happened.
type Event struct {
	Night int       `json:"night"`
	At    time.Time `json:"at"` // simulated
	Kind  string    `json:"kind"`
	// Detail says what, or why nothing was done.
	Detail string `json:"detail"`
	// Injected is false when no occasion for the event came.
	Injected bool `json:"injected"`
}

// Kinds of events. From the second night on, each happens once, at the
// first occasion:
const (
	// EventNewSecret: an owner creates a secret half an hour before the
	// second night's discover (KMS twin AddSecret: the twin serves no
	// CreateSecret); that night's plan takes it.
	EventNewSecret = "new-secret"
	// EventKeyDeleted: once a night's run is planned, an owner deletes a
	// key of the first batch that has not started (KMS twin RemoveKey: as
	// ScheduleKeyDeletion once its pending period has run out); kmsmig
	// reports it ResourceNotFound when it gets there.
	EventKeyDeleted = "key-deleted"
	// EventTaskStalled: in a night's window, the first task created for
	// a lane's last batch that holds some rotation off (chosen from the
	// night's plan) stalls (KMS twin StallTaskWhen, which holds it from
	// its creation) and runs past the window's end. A night without one
	// is recorded, not injected, with the reason.
	EventTaskStalled = "task-stalled"
	// EventTaskReleased: 35 minutes after that window's end (past
	// KMSMIG_STALL_AFTER, so the stall is alerted), the task is let go and
	// completes.
	EventTaskReleased = "task-released"
	// EventOwnerRotation: at that moment, before kmsmig has seen the task
	// end, the owner of one of its resources whose rotation kmsmig holds
	// off switches it on again with an interval of their own, through the
	// official SDK; kmsmig must leave it so (superseded).
	EventOwnerRotation = "owner-rotation"
)

const (
	newSecretLead = 30 * time.Minute // before the second discover
	releaseAfter  = 35 * time.Minute // after the stalled window's end
)

// injector injects the events. It is driven by the follow loop.
type injector struct {
	r      *rehearsal
	events []Event
	// last is when the latest event changed the world (simulated): the
	// rehearsal jumps only once a poll has seen it.
	last time.Time

	secretDone, deleteDone, stallDone bool
	stalled                           string // task id while stalled
	stalledNight                      int
	releaseAt                         time.Time
	// owner is the policy the owner set, by "account/region kind id".
	owner map[string]estate.Rotation
	// deleted is the key deleted, "account/region key id".
	deleted string
	// armed is the night whose stall is armed in the twin (0: none), for
	// the batches targets of run armedRun; tried the nights whose window
	// has chosen its targets.
	armed    int
	armedRun string
	targets  []string
	tried    map[int]bool
	// letGo are the batches ("run batch") whose task was caught but held
	// no rotation off.
	letGo map[string]bool
}

func (in *injector) record(now time.Time, kind, detail string, injected bool) {
	e := Event{Night: in.r.sched.night(now), At: now, Kind: kind, Detail: detail, Injected: injected}
	in.events = append(in.events, e)
	if injected {
		in.last = now
	}
	in.r.logf(now, "event %s: %s", kind, detail)
}

// active reports whether events are injected at all (from the second
// night on).
func (in *injector) active() bool { return in.r.o.Nights >= 2 }

// due returns the next time an event must happen (zero: none is
// scheduled): jumps land before it.
func (in *injector) due() time.Time {
	switch {
	case !in.active():
		return time.Time{}
	case !in.secretDone:
		return in.r.sched.discover[1].Add(-newSecretLead)
	case in.stalled != "":
		return in.releaseAt
	}
	return time.Time{}
}

// pending reports whether a scheduled event has yet to happen.
func (in *injector) pending() bool { return !in.due().IsZero() }

// step injects whatever is due at now.
func (in *injector) step(ctx context.Context, now time.Time) {
	if !in.active() {
		return
	}
	night := in.r.sched.night(now)
	if !in.secretDone && !now.Before(in.r.sched.discover[1].Add(-newSecretLead)) {
		in.secretDone = true
		in.newSecret(ctx, now)
	}
	if !in.deleteDone && night >= 2 {
		in.deleteKey(ctx, now, night)
	}
	if !in.stallDone && in.stalled == "" && night >= 2 {
		in.stall(ctx, now, night)
	}
	if in.stalled != "" && !now.Before(in.releaseAt) {
		in.release(ctx)
	}
}

// newSecret creates a secret in the first lane the first night planned
// into an instance.
func (in *injector) newSecret(ctx context.Context, now time.Time) {
	p, err := in.r.firstPlan(ctx)
	if err != nil {
		in.record(now, EventNewSecret, "no plan of the first night to choose a lane from: "+err.Error(), false)
		return
	}
	for _, lp := range p.Lanes {
		if lp.InstanceID == "" {
			continue
		}
		name := "rehearsal/created-before-night-2"
		err := in.r.st.KMS.AddSecret(kmstwin.Lane{Account: lp.Lane.Account, Region: lp.Lane.Region}, kmstwin.SecretInventory{
			SecretName: name, Description: "created by its owner after the first night", SecretData: "never read",
			Tags: map[string]string{"created-by": "rehearsal"}})
		if err != nil {
			in.record(now, EventNewSecret, "AddSecret: "+err.Error(), false)
			return
		}
		in.record(now, EventNewSecret, fmt.Sprintf("secret %s created in %s", name, lp.Lane), true)
		return
	}
	in.record(now, EventNewSecret, "no lane has a target instance", false)
}

// deleteKey deletes a key of a batch of this night's run that has not
// started, once the run is planned; nothing of the functions runs
// meanwhile.
func (in *injector) deleteKey(ctx context.Context, now time.Time, night int) {
	cur, _, err := runstate.GetJSON[migration.CurrentRun](ctx, in.r.store, statekeys.Current)
	if err != nil || cur.Since.Before(in.r.sched.discover[night-1].Add(-time.Minute)) {
		return // this night's run is not planned yet
	}
	del := func(fctwin.Quiet) {
		in.deleteDone = true
		lane, id, batch, err := in.pendingKey(ctx, cur.RunID)
		if err != nil {
			in.record(now, EventKeyDeleted, "no key to delete: "+err.Error(), false)
			return
		}
		if err := in.r.st.KMS.RemoveKey(kmstwin.Lane{Account: lane.Account, Region: lane.Region}, id); err != nil {
			in.record(now, EventKeyDeleted, "RemoveKey: "+err.Error(), false)
			return
		}
		in.deleted = lane.String() + " key " + id
		in.record(now, EventKeyDeleted, fmt.Sprintf("key %s of pending batch %s (run %s) deleted by its owner", id, batch, cur.RunID), true)
	}
	// While nothing of the functions runs, if that comes before the
	// window opens; on a busy machine invocations may overlap all along,
	// and a deletion put off past the window would meet a batch that
	// never runs this night (its key then in no report): at the window's
	// start it happens anyway (the twin's RemoveKey is atomic; a batch
	// under way drops the key as ResourceNotFound).
	if !in.r.st.FC.Quiesce(del) && !now.Before(in.r.sched.windows[night-1][0]) {
		del(fctwin.Quiet{})
	}
}

// pendingKey picks a key of the first batch of the run that is still
// planned (its rotation untouched, no task: the next its lane will start,
// so that the night meets the deletion) and that encrypts no secret of
// the run.
func (in *injector) pendingKey(ctx context.Context, runID string) (estate.Lane, string, string, error) {
	p, _, err := runstate.GetJSON[plan.Plan](ctx, in.r.store, statekeys.Plan(runID))
	if err != nil {
		return estate.Lane{}, "", "", err
	}
	inv, _, err := runstate.GetJSON[estate.Inventory](ctx, in.r.store, statekeys.Inventory(runID))
	if err != nil {
		return estate.Lane{}, "", "", err
	}
	cmks := map[string]bool{}
	for _, li := range inv.Lanes {
		for _, s := range li.Secrets {
			cmks[s.EncryptionKeyID] = true
		}
	}
	for _, lp := range p.Lanes {
		for _, b := range lp.Batches {
			st, _, err := runstate.GetJSON[migration.BatchState](ctx, in.r.store, statekeys.Batch(runID, b.ID))
			if err == nil && st.Phase != migration.PhasePlanned || err != nil && !errors.Is(err, runstate.ErrNotFound) {
				continue // under way
			}
			for _, id := range b.Keys {
				if !cmks[id] {
					return b.Lane, id, b.ID, nil
				}
			}
		}
	}
	return estate.Lane{}, "", "", errors.New("every batch is under way or holds no key but CMKs")
}

// stall arms, in the window of each night from the second on, a stall for
// the first task the night creates for one of its run's stall targets
// (stallTargets), and records the task once the KMS twin has caught it.
// The twin holds the task from its creation (StallTaskWhen), so a short
// task cannot end before the rehearsal looks; which batches qualify
// depends on the plan alone, not on when tasks happen to run. A night that
// ends without one (none planned, or none submitted in the window) is
// recorded, not injected, with the reason; the next night tries again.
func (in *injector) stall(ctx context.Context, now time.Time, night int) {
	if in.armed != 0 && in.armed != night {
		in.disarm(ctx, now, in.armed)
		return
	}
	w := in.r.sched.windows[night-1]
	if in.armed == night {
		for _, tk := range in.r.st.KMS.Tasks() {
			if tk.Held {
				in.caught(ctx, now, night, tk)
				return
			}
		}
		if !now.Before(w[1]) {
			in.disarm(ctx, now, night)
		}
		return
	}
	if in.tried[night] || now.Before(w[0]) || !now.Before(w[1]) {
		return
	}
	cur, _, err := runstate.GetJSON[migration.CurrentRun](ctx, in.r.store, statekeys.Current)
	if err != nil || cur.Since.Before(in.r.sched.discover[night-1].Add(-time.Minute)) {
		return // this night's run is not planned yet
	}
	in.arm(ctx, now, night, cur.RunID)
}

// arm chooses the night's stall targets in run runID and arms the twin's
// stall for their tasks, those already created and not completed included
// (the functions need not be held off meanwhile).
func (in *injector) arm(ctx context.Context, now time.Time, night int, runID string) {
	in.tried[night] = true
	targets, why := in.stallTargets(ctx, runID)
	if len(targets) == 0 {
		in.record(now, EventTaskStalled, fmt.Sprintf("night %d: no task can stall: %s", night, why), false)
		return
	}
	resources := map[string]estate.Lane{}
	var names []string
	for _, b := range targets {
		names = append(names, b.ID)
		for _, id := range b.Keys {
			resources["key "+id] = b.Lane
		}
		for _, name := range b.Secrets {
			resources["secret "+name] = b.Lane
		}
	}
	in.armed, in.armedRun, in.targets = night, runID, names
	in.r.st.KMS.StallTaskWhen(func(l kmstwin.Lane, keyIDs, secretNames []string) bool {
		for _, id := range keyIDs {
			if bl, ok := resources["key "+id]; ok && bl.Account == l.Account && bl.Region == l.Region {
				return true
			}
		}
		for _, name := range secretNames {
			if bl, ok := resources["secret "+name]; ok && bl.Account == l.Account && bl.Region == l.Region {
				return true
			}
		}
		return false
	})
	in.r.logf(now, "the stall is armed for the first task of %s (run %s)", strings.Join(names, ", "), runID)
}

// disarm ends the armed stall of night at its window's end: a task the
// twin caught meanwhile is taken, otherwise the night is recorded as
// without a stall.
func (in *injector) disarm(ctx context.Context, now time.Time, night int) {
	in.r.st.KMS.StallTaskWhen(nil)
	for _, tk := range in.r.st.KMS.Tasks() {
		if tk.Held {
			in.caught(ctx, now, night, tk)
			return
		}
	}
	in.armed = 0
	in.record(now, EventTaskStalled, fmt.Sprintf("night %d: the window closed with no task of %s (run %s) caught: none was created, or each had completed before the stall was armed",
		night, strings.Join(in.targets, ", "), in.armedRun), false)
}

// caught records the task the twin holds for a stall target, once its
// batch has recorded it. A batch that holds no rotation off (its
// resources' rotation was off already) is not what the owner's event
// needs: the task is let go and the night's other targets stay armed.
func (in *injector) caught(ctx context.Context, now time.Time, night int, tk kmstwin.TaskInfo) {
	runID, batchID, err := in.r.batchOfTask(ctx, tk.ID)
	if err != nil {
		return // its batch has not recorded it yet; the task is held meanwhile
	}
	w := in.r.sched.windows[night-1]
	if !in.holdsRotation(ctx, runID, batchID) {
		in.r.st.KMS.StallTasks(false)
		in.armed, in.letGo[runID+" "+batchID] = 0, true
		in.r.logf(now, "task %s of batch %s holds no rotation off: let go", tk.ID, batchID)
		if now.Before(w[1]) {
			in.tried[night] = false // the lane's other targets, if any, are armed again
			return
		}
		in.record(now, EventTaskStalled, fmt.Sprintf("night %d: the task of %s held no rotation off", night, batchID), false)
		return
	}
	in.armed = 0
	in.stalled, in.stalledNight, in.releaseAt = tk.ID, night, w[1].Add(releaseAfter)
	in.record(now, EventTaskStalled, fmt.Sprintf("task %s of batch %s (due %s) stalls past the window's end %s; released at %s",
		tk.ID, batchID, in.r.clockText(tk.Due), in.r.clockText(w[1]), in.r.clockText(in.releaseAt)), true)
}

// stallTargets returns the batches of run runID whose task may stall: for
// each lane, the last batch of the plan that switches rotation off (so
// that the owner has a policy to change, and only the lane's batches that
// hold none wait behind it). why says why there is none.
func (in *injector) stallTargets(ctx context.Context, runID string) ([]plan.Batch, string) {
	p, _, err := runstate.GetJSON[plan.Plan](ctx, in.r.store, statekeys.Plan(runID))
	if err != nil {
		return nil, "run " + runID + "'s plan: " + err.Error()
	}
	var out []plan.Batch
	for _, lp := range p.Lanes {
		var last *plan.Batch
		for i, b := range lp.Batches {
			if len(b.KeysRotationOff)+len(b.SecretsRotationOff) > 0 && (last == nil || b.Seq > last.Seq) {
				last = &lp.Batches[i]
			}
		}
		if last != nil && !in.letGo[runID+" "+last.ID] {
			out = append(out, *last)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Sprintf("no batch of run %s switches rotation off (or its task held none)", runID)
	}
	return out, ""
}

// holdsRotation reports whether batch batchID of run runID holds a ledger
// entry off.
func (in *injector) holdsRotation(ctx context.Context, runID, batchID string) bool {
	keys, err := in.r.store.List(ctx, statekeys.LedgerPrefix)
	if err != nil {
		return false
	}
	for _, k := range keys {
		le, _, err := runstate.GetJSON[migration.LedgerEntry](ctx, in.r.store, k)
		if err == nil && le.Off() && le.HeldBy(runID, batchID) {
			return true
		}
	}
	return false
}

// release lets the stalled task go and, before any function can see it
// end, has the owner of one of its resources switch rotation on again.
func (in *injector) release(ctx context.Context) {
	in.r.st.FC.Quiesce(func(fctwin.Quiet) {
		now := in.r.clock.Now()
		id := in.stalled
		in.stalled, in.stallDone = "", true
		in.r.st.KMS.StallTasks(false)
		in.record(now, EventTaskReleased, "task "+id+" released: it completes", true)
		detail, err := in.ownerRotation(ctx, id)
		if err != nil {
			in.record(now, EventOwnerRotation, err.Error(), false)
			return
		}
		in.record(now, EventOwnerRotation, detail, true)
	})
}

// ownerRotation switches rotation on, with an interval other than the
// recorded one, for the first ledger entry that the batch of task holds
// off, through the official SDK with its owner's access key.
func (in *injector) ownerRotation(ctx context.Context, taskID string) (string, error) {
	runID, batchID, err := in.r.batchOfTask(ctx, taskID)
	if err != nil {
		return "", err
	}
	keys, err := in.r.store.List(ctx, statekeys.LedgerPrefix)
	if err != nil {
		return "", err
	}
	for _, k := range keys {
		le, _, err := runstate.GetJSON[migration.LedgerEntry](ctx, in.r.store, k)
		if err != nil || !le.Off() || !le.HeldBy(runID, batchID) {
			continue
		}
		interval := 30 * 24 * time.Hour
		if le.Original.Interval == interval {
			interval = 60 * 24 * time.Hour
		}
		if err := in.r.ownerSetsRotation(le.Lane, le.Kind, le.ID, interval); err != nil {
			return "", fmt.Errorf("the owner's rotation change on %s %s was refused: %w", le.Kind, le.ID, err)
		}
		in.owner[ledgerName(le.Lane, le.Kind, le.ID)] = estate.Rotation{Enabled: true, Interval: interval}
		return fmt.Sprintf("the owner of %s %s in %s switched rotation on every %s (kmsmig recorded %s and holds it off for %s)",
			le.Kind, le.ID, le.Lane, interval, describeRotation(le.Original), batchID), nil
	}
	return "", fmt.Errorf("batch %s of task %s holds no rotation off: no owner to change one", batchID, taskID)
}

func ledgerName(l estate.Lane, kind migration.ResourceKind, id string) string {
	return fmt.Sprintf("%s %s %s", l, kind, id)
}

func describeRotation(r estate.Rotation) string {
	if !r.Enabled {
		return "off"
	}
	return "on every " + r.Interval.String()
}

// batchOfTask finds the batch, of any run of the campaign, that holds a
// task.
func (r *rehearsal) batchOfTask(ctx context.Context, taskID string) (runID, batchID string, err error) {
	runs, err := r.runIDs(ctx)
	if err != nil {
		return "", "", err
	}
	for _, run := range runs {
		keys, err := r.store.List(ctx, statekeys.BatchPrefix(run))
		if err != nil {
			return "", "", err
		}
		for _, k := range keys {
			b, _, err := runstate.GetJSON[migration.BatchState](ctx, r.store, k)
			if err == nil && b.TaskID == taskID {
				return run, b.ID, nil
			}
		}
	}
	return "", "", fmt.Errorf("no batch holds task %s", taskID)
}

// ownerSetsRotation is what an owner does in the console or with the SDK:
// UpdateRotationPolicy or UpdateSecretRotationPolicy with their own access
// key, through the official kms-20160120 client.
func (r *rehearsal) ownerSetsRotation(l estate.Lane, kind migration.ResourceKind, id string, interval time.Duration) error {
	var key *struct{ id, secret string }
	for _, a := range r.st.Ready().Accounts {
		if a.ID == l.Account {
			key = &struct{ id, secret string }{a.AccessKeyID, a.AccessKeySecret}
		}
	}
	if key == nil {
		return fmt.Errorf("no access key of account %s", l.Account)
	}
	c, err := kmssdk.NewClient(&openapi.Config{AccessKeyId: tea.String(key.id), AccessKeySecret: tea.String(key.secret),
		Endpoint: tea.String(r.st.Ready().KMS[l.Region]), Protocol: tea.String("http"), RegionId: tea.String(l.Region)})
	if err != nil {
		return err
	}
	every := fmt.Sprintf("%ds", int64(interval/time.Second))
	if kind == migration.KindKey {
		_, err = c.UpdateRotationPolicy(&kmssdk.UpdateRotationPolicyRequest{KeyId: tea.String(id),
			EnableAutomaticRotation: tea.Bool(true), RotationInterval: tea.String(every)})
		return err
	}
	_, err = c.UpdateSecretRotationPolicy(&kmssdk.UpdateSecretRotationPolicyRequest{SecretName: tea.String(id),
		EnableAutomaticRotation: tea.Bool(true), RotationInterval: tea.String(every)})
	return err
}
