package rehearsal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/wiring"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
)

// Approval is a night's approval by the rehearsal: s.yaml deploys the
// functions with KMSMIG_APPROVAL=required, so every night's plan waits
// for it. The rehearsal approves as kmsmig approve does (the home
// account's caller identity from the STS twin, wiring.ApproveRun), once
// the window is open and migrate's timer has found the plan unapproved,
// so that the OSS trigger, not a timer, starts the night's first batch.
type Approval struct {
	Night  int       `json:"night"`
	RunID  string    `json:"runId"`
	Digest string    `json:"digest,omitempty"`
	At     time.Time `json:"at"` // simulated
	By     string    `json:"by,omitempty"`
	Signal string    `json:"signal,omitempty"`
	// Detail says why nothing was approved (no batch, already approved).
	Detail string `json:"detail,omitempty"`
	// Empty: the run's plan had no batch, so there was nothing to approve.
	Empty bool `json:"empty,omitempty"`
}

// approveLate is how long after the window opens the rehearsal approves at
// the latest, should migrate's timer not have fired.
const approveLate = 5 * time.Minute

// approver approves each night's run. It is driven by the follow loop.
type approver struct {
	r         *rehearsal
	done      map[int]bool
	approvals []Approval
	// last is when the latest approval changed the world (simulated).
	last time.Time
}

// opens is when night k's window opens (discover's time, without a
// window): the rehearsal approves once migrate, invoked from then on (its
// timer at the window's start), has found the plan unapproved and
// finished, so that the approval's trigger, not that timer, starts the
// night's first batch, as early as the approval allows.
func (a *approver) opens(k int) time.Time { return a.r.sched.windows[k-1][0] }

// due returns the next approval due (zero: none): jumps land before the
// window opens and never pass it while the approval waits.
func (a *approver) due() time.Time {
	for k := 1; k <= a.r.o.Nights; k++ {
		if !a.done[k] {
			return a.opens(k)
		}
	}
	return time.Time{}
}

// migrateRanSince reports whether an invocation of migrate enqueued at or
// after t has ended.
func (a *approver) migrateRanSince(t time.Time) bool {
	for _, inv := range a.r.st.FC.Invocations() {
		if inv.Function == fnMigrate && !inv.Enqueued.Before(t) && inv.Final() {
			return true
		}
	}
	return false
}

// settledSince returns when migrate may last have been started by
// something other than the approval on night k: the window's opening, or
// the end of the latest discover invocation (discover kicks migrate when
// it has planned); ok is false while a discover invocation still runs. An
// approval written before that kicked migrate ran would let the kick, not
// the trigger, start the night (a window that opens when discover runs).
func (a *approver) settledSince(k int) (t time.Time, ok bool) {
	t = a.opens(k)
	for _, inv := range a.r.st.FC.Invocations() {
		if inv.Function != fnDiscover || inv.Enqueued.Before(a.r.sched.discover[k-1].Add(-time.Minute)) {
			continue
		}
		if !inv.Final() {
			return t, false
		}
		if inv.Finished.After(t) {
			t = inv.Finished
		}
	}
	return t, true
}

// step approves the night's run once its window is open, discover has
// planned the run and ended, and migrate has run since both.
func (a *approver) step(ctx context.Context, now time.Time) {
	k := a.r.sched.night(now)
	if k > a.r.o.Nights || a.done[k] || now.Before(a.opens(k)) {
		return
	}
	if since, ok := a.settledSince(k); (!ok || !a.migrateRanSince(since)) && now.Before(a.opens(k).Add(approveLate)) {
		return
	}
	cur, _, err := runstate.GetJSON[migration.CurrentRun](ctx, a.r.store, statekeys.Current)
	if err != nil || cur.Since.Before(a.r.sched.discover[k-1].Add(-time.Minute)) {
		if now.After(a.r.sched.windows[k-1][1]) {
			a.done[k] = true
			a.r.logf(now, "no run of this night to approve before the window closed")
		}
		return // discover of this night has not planned yet
	}
	a.done[k] = true
	ap := Approval{Night: k, RunID: cur.RunID, At: now}
	st, err := approval.ReadStatus(ctx, a.r.store, cur.RunID)
	switch {
	case err != nil:
		ap.Detail = "cannot read the approval: " + err.Error()
	case !st.Required:
		ap.Detail, ap.Empty = "nothing to approve (no batch planned)", true
	case st.Approved:
		ap.Detail = "already approved"
	default:
		ap = a.approve(ctx, ap)
	}
	a.approvals = append(a.approvals, ap)
	if ap.Detail != "" {
		a.r.logf(now, "approval of %s: %s", ap.RunID, ap.Detail)
		return
	}
	a.last = now
	a.r.logf(now, "approved run %s (plan %s) as %s, as kmsmig approve does; the OSS trigger is prompted through %s", ap.RunID, ap.Digest, ap.By, ap.Signal)
}

// approve is kmsmig approve without the prompt: the plan's digest as
// shown, the approver's identity from STS, wiring.ApproveRun.
func (a *approver) approve(ctx context.Context, ap Approval) Approval {
	p, st, err := approval.Plan(ctx, a.r.store, ap.RunID)
	if err == nil {
		err = approval.Approvable(&p, st, "")
	}
	if err != nil {
		ap.Detail = "not approvable: " + err.Error()
		return ap
	}
	ready := a.r.st.Ready()
	home := account(ready, ready.Home)
	cred, err := ram.Static(home.AccessKeyID, home.AccessKeySecret, "")
	if err != nil {
		ap.Detail = err.Error()
		return ap
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(ready.CAPEM))
	who, err := ram.CallerIdentity(ctx, cred, ram.IdentityConfig{Endpoint: ready.STS,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}})
	if err != nil {
		ap.Detail = "who approves: " + err.Error()
		return ap
	}
	done, err := wiring.ApproveRun(ctx, a.r.store, ap.RunID, p.Digest, who, a.r.clock.Now())
	if err != nil {
		ap.Detail = "approve: " + err.Error()
		return ap
	}
	ap.Digest, ap.By, ap.Signal = done.Approval.Digest, who.String(), done.Signal
	return ap
}

// checkTriggerStarts: every night's approved run had its first batch
// started by migrate invoked through its OSS trigger (after the approval),
// not by a timer or a chained invocation: approval, OSS event and first
// start in that order.
func (a *approver) checkTriggerStarts(runs []runState, invocations []fctwin.Invocation) Check {
	c := Check{Name: "each approved run started by the OSS trigger after its approval"}
	byID := map[string]fctwin.Invocation{}
	for _, inv := range invocations {
		byID[inv.RequestID] = inv
	}
	var bad, good []string
	approved, empty := 0, 0
	for _, ap := range a.approvals {
		if ap.Empty {
			empty++
		}
		if ap.Signal == "" {
			continue
		}
		approved++
		i := slices.IndexFunc(runs, func(rs runState) bool { return rs.id == ap.RunID })
		if i < 0 {
			bad = append(bad, ap.RunID+": not in the campaign")
			continue
		}
		var first *migration.Transition
		var batch string
		for _, b := range runs[i].batches {
			for _, h := range b.History {
				if h.From == migration.PhasePlanned && h.To != migration.PhaseFailed && (first == nil || h.At.Before(first.At)) {
					h := h
					first, batch = &h, b.ID
				}
			}
		}
		if first == nil {
			bad = append(bad, ap.RunID+": no batch started")
			continue
		}
		inv, ok := byID[first.RequestID]
		if c, group := coordinatorOf(inv, invocations, ap.RunID); ok && group {
			// A group of a fanned-out migrate started it: the coordinator
			// that handed the group out is what the trigger invoked.
			inv = c
		}
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s: first start of %s by request %q, not a function invocation", ap.RunID, batch, first.RequestID))
		case inv.Function != fnMigrate || inv.Source != fctwin.SourceOSS:
			bad = append(bad, fmt.Sprintf("%s: first start of %s by %s (%s), not migrate's OSS trigger", ap.RunID, batch, inv.Function, inv.Source))
		case inv.Enqueued.Before(ap.At) || first.At.Before(inv.Enqueued):
			bad = append(bad, fmt.Sprintf("%s: out of order: approved %s, OSS event %s, first start %s", ap.RunID,
				a.r.clockText(ap.At), a.r.clockText(inv.Enqueued), a.r.clockText(first.At)))
		default:
			good = append(good, fmt.Sprintf("%s approved %s, OSS event %s (request %s), %s %s at %s", ap.RunID, a.r.clockText(ap.At),
				a.r.clockText(inv.Enqueued), inv.RequestID, batch, first.To, a.r.clockText(first.At)))
		}
	}
	// Holds vacuously only when every night's plan was empty (a rehearsal
	// whose lanes are all blocked, say): then nothing waits for approval.
	allEmpty := len(a.approvals) > 0 && empty == len(a.approvals)
	c.OK = (approved > 0 || allEmpty) && len(bad) == 0
	c.Detail = fmt.Sprintf("%d approved, %d empty plans: %s", approved, empty, strings.Join(append(bad, good...), "; "))
	return c
}

// coordinatorOf returns the migrate invocation that handed group
// invocation inv out (its task id is ChainTaskID(run, "<fn>-<request>",
// "group-N")); false when inv is not such a group.
func coordinatorOf(inv fctwin.Invocation, invocations []fctwin.Invocation, runID string) (fctwin.Invocation, bool) {
	if inv.Function != fnMigrate || inv.TaskID == "" || !strings.Contains(inv.TaskID, "_group-") {
		return fctwin.Invocation{}, false
	}
	for _, c := range invocations {
		if c.Function != fnMigrate || c.RequestID == inv.RequestID {
			continue
		}
		for g := 0; g < app.MaxFanoutInvocations; g++ {
			if migration.ChainTaskID(runID, fnMigrate+"-"+c.RequestID, fmt.Sprintf("group-%d", g)) == inv.TaskID {
				return c, true
			}
		}
	}
	return fctwin.Invocation{}, false
}
