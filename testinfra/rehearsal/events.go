package rehearsal

import (
	"context"
	"errors"
	"fmt"
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
	// EventTaskStalled: a night's last task (due in the last quarter of
	// the window, or the task of the run's only unfinished batch) whose
	// batch holds some rotation off stalls (KMS twin StallTasks) and runs
	// past the window's end.
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
	// unfit are tasks found unfit to stall; batches the batch (run, id)
	// of each task looked up.
	unfit   map[string]bool
	batches map[string][2]string
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
	in.r.st.FC.Quiesce(func(fctwin.Quiet) {
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
	})
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

// stall stalls, in a night's window, a task that is the night's last: due
// in the last quarter of the window, or the task of the current run's only
// unfinished batch. Only a task whose batch holds some rotation off will do,
// so that its owner can change it (EventOwnerRotation).
func (in *injector) stall(ctx context.Context, now time.Time, night int) {
	w := in.r.sched.windows[night-1]
	if now.Before(w[0]) || !now.Before(w[1]) {
		return
	}
	from := w[1].Add(-w[1].Sub(w[0]) / 4)
	for _, tk := range in.r.st.KMS.Tasks() {
		if tk.Status != kmstwin.TaskRunning || tk.Stalled || !tk.Due.After(now.Add(5*time.Second)) || in.unfit[tk.ID] {
			continue
		}
		late := tk.Due.After(from)
		b, ok := in.batches[tk.ID]
		if !ok {
			runID, batchID, err := in.r.batchOfTask(ctx, tk.ID)
			if err != nil {
				continue // its batch has not recorded it yet
			}
			b = [2]string{runID, batchID}
			in.batches[tk.ID] = b
		}
		runID, batchID := b[0], b[1]
		if !late && !in.r.lastOfRun(runID, batchID) && !in.lastHolderOfLane(ctx, runID, batchID) {
			continue // neither due late, nor the run's last, nor its lane's last to hold rotation
		}
		if !in.holdsRotation(ctx, runID, batchID) {
			in.unfit[tk.ID] = true
			continue
		}
		in.r.st.KMS.StallTasks(true)
		for _, got := range in.r.st.KMS.Tasks() {
			if got.ID == tk.ID && got.Stalled {
				in.stalled, in.stalledNight, in.releaseAt = tk.ID, night, w[1].Add(releaseAfter)
				in.record(now, EventTaskStalled, fmt.Sprintf("task %s of batch %s (due %s) stalls past the window's end %s; released at %s",
					tk.ID, batchID, in.r.clockText(tk.Due), in.r.clockText(w[1]), in.r.clockText(in.releaseAt)), true)
				return
			}
		}
		in.r.st.KMS.StallTasks(false) // it completed meanwhile
	}
}

// lastHolderOfLane reports whether batch batchID is the last batch of its
// lane, in run runID's plan, that switches rotation off: it may stall when
// no later task of the night would hold rotation (the lane's later
// batches, holding none, then wait for the stalled task's release).
func (in *injector) lastHolderOfLane(ctx context.Context, runID, batchID string) bool {
	p, _, err := runstate.GetJSON[plan.Plan](ctx, in.r.store, statekeys.Plan(runID))
	if err != nil {
		return false
	}
	b, ok := p.Batch(batchID)
	if !ok || len(b.KeysRotationOff)+len(b.SecretsRotationOff) == 0 {
		return false
	}
	for _, lp := range p.Lanes {
		for _, o := range lp.Batches {
			if o.Lane == b.Lane && o.Seq > b.Seq && len(o.KeysRotationOff)+len(o.SecretsRotationOff) > 0 {
				return false
			}
		}
	}
	return true
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
