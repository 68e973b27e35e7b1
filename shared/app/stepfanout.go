package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
)

// MaxAsyncPayload is Function Compute's limit on an asynchronous
// invocation's payload, 128 KB (shared/aliyun/fc.MaxAsyncPayload is the
// adapter's copy, which refuses a larger one before any call).
const MaxAsyncPayload = 128 << 10

// MaxLanesPerInvocation bounds KMSMIG_DISCOVER_LANES_PER_INVOCATION and
// KMSMIG_STEP_LANES_PER_INVOCATION: a resource directory of a hundred
// accounts in ten regions in one invocation, whose memory the lane pools
// keep bounded. A migrate or poll group event names its lanes, and at
// this bound the largest one (MaxAccountIDLen-digit accounts,
// MaxRegionIDLen-character regions, the longest run id) is about 57 KB,
// under MaxAsyncPayload; a test holds it there.
const MaxLanesPerInvocation = 1000

// MaxAccountIDLen and MaxRegionIDLen bound the parts of a lane an event
// names (lane, lanes): Alibaba Cloud account UIDs have 16 digits and
// region ids about 20 characters (cn-shenzhen-finance-1); the bounds keep
// a group event's size computable.
const (
	MaxAccountIDLen = 20
	MaxRegionIDLen  = 32
)

// MaxFanoutInvocations bounds KMSMIG_FANOUT_INVOCATIONS: Function
// Compute's function-level instance cap. FC 3.0 documents a default limit
// of 100 instances per account and region, and a function's own instance
// limit may be at most 90% of it ("Specify the maximum number of
// instances", help/en/functioncompute/fc/user-guide/overview-of-configuring-
// the-maximum-number-of-on-demand-instances); a coordinator asking for
// more groups than its function may run would only queue them.
const MaxFanoutInvocations = 90

// DefaultFanoutInvocations is KMSMIG_FANOUT_INVOCATIONS' default.
const DefaultFanoutInvocations = 10

// loadFanout reads KMSMIG_STEP_LANES_PER_INVOCATION and
// KMSMIG_FANOUT_INVOCATIONS, each refused with its reason: a group event
// must fit Function Compute's asynchronous payload, a coordinator must not
// ask for more instances than Function Compute gives, and a coordinating
// migrate or poll must be able to invoke itself.
func (c *Config) loadFanout(s *settings) {
	c.StepLanesPerInvocation = s.intRangeWhy("KMSMIG_STEP_LANES_PER_INVOCATION", 0, 1, MaxLanesPerInvocation,
		fmt.Sprintf("a group's event names its lanes, and above %d lanes it could exceed Function Compute's %d KB asynchronous payload", MaxLanesPerInvocation, MaxAsyncPayload>>10))
	c.FanoutInvocations = s.intRangeWhy("KMSMIG_FANOUT_INVOCATIONS", DefaultFanoutInvocations, 1, MaxFanoutInvocations,
		fmt.Sprintf("the group invocations one coordinator hands out at once; at most %d, 90%% of Function Compute's default limit of 100 instances per account and region", MaxFanoutInvocations))
	if c.StepLanesPerInvocation > 0 {
		for _, f := range []struct{ name, v string }{{"KMSMIG_FUNCTION_MIGRATE", c.FunctionMigrate}, {"KMSMIG_FUNCTION_POLL", c.FunctionPoll}} {
			if f.v == "-" {
				s.bad("KMSMIG_STEP_LANES_PER_INVOCATION", "is set but %s is - (no chaining): a coordinating step hands its groups to its own function", f.name)
			}
		}
	}
}

// GroupSize returns how many lanes each group of a fan-out of lanes holds:
// per, unless lanes ÷ per groups would be more than invocations, in which
// case the groups grow to ceil(lanes ÷ invocations), so that a coordinator
// never hands out more than invocations groups. per ≤ 0: one group of
// every lane; invocations ≤ 0: no limit.
func GroupSize(lanes, per, invocations int) int {
	if per <= 0 {
		return lanes
	}
	if invocations > 0 && ceilDiv(lanes, per) > invocations {
		return ceilDiv(lanes, invocations)
	}
	return per
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// StepGroupEvent is the event a coordinating migrate or poll hands a group
// of lanes to its own function with: the run, and the lanes to step, in
// the plan's order. It is a StepEvent with only RunID and Lanes set.
type StepGroupEvent struct {
	RunID string   `json:"runId"`
	Lanes []string `json:"lanes"`
}

// StepGroupPayload returns the JSON of the group event of lanes of runID,
// refusing (before anything is invoked) a lane the group's invocation
// would refuse and an event over MaxAsyncPayload.
func StepGroupPayload(runID string, lanes []estate.Lane) ([]byte, error) {
	ev := StepGroupEvent{RunID: runID, Lanes: make([]string, len(lanes))}
	for i, l := range lanes {
		ev.Lanes[i] = l.String()
	}
	if _, err := parseLanes(ev.Lanes); err != nil {
		return nil, err
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	if err := payloadFits(b, len(lanes)); err != nil {
		return nil, err
	}
	return b, nil
}

// payloadFits refuses a group event of lanes lanes over MaxAsyncPayload.
// MaxLanesPerInvocation keeps every event a group accepts under it (see
// TestLargestGroupEventFitsTheAsyncPayload); this is the check at the
// boundary, so that a change of either fails here, before any invocation,
// rather than at Function Compute.
func payloadFits(b []byte, lanes int) error {
	if len(b) > MaxAsyncPayload {
		return fmt.Errorf("the group event of %d lanes is %d bytes, over Function Compute's %d-byte asynchronous payload: lower KMSMIG_STEP_LANES_PER_INVOCATION or raise KMSMIG_FANOUT_INVOCATIONS", lanes, len(b), MaxAsyncPayload)
	}
	return nil
}

// laneLike parses a lane an event names: <account UID>/<region id>, each
// part within its bound.
func laneLike(s string) (estate.Lane, error) {
	l, err := estate.ParseLane(s)
	if err == nil && (!digits(l.Account) || !regionLike(l.Region) || len(l.Account) > MaxAccountIDLen || len(l.Region) > MaxRegionIDLen) {
		err = errors.New("bad lane")
	}
	if err != nil {
		return estate.Lane{}, fmt.Errorf("%q: want <account UID>/<region id>, like 1234567890/cn-hangzhou (at most %d digits / %d characters)", s, MaxAccountIDLen, MaxRegionIDLen)
	}
	return l, nil
}

// parseLanes parses an event's lanes: at least one, at most
// MaxLanesPerInvocation, each laneLike, none twice.
func parseLanes(lanes []string) ([]estate.Lane, error) {
	switch {
	case len(lanes) == 0:
		return nil, errors.New("event: lanes: empty; name at least one lane, or leave lanes out to step every lane")
	case len(lanes) > MaxLanesPerInvocation:
		return nil, fmt.Errorf("event: lanes: %d given, at most %d", len(lanes), MaxLanesPerInvocation)
	}
	out := make([]estate.Lane, 0, len(lanes))
	seen := make(map[estate.Lane]bool, len(lanes))
	for i, s := range lanes {
		l, err := laneLike(s)
		if err != nil {
			return nil, fmt.Errorf("event: lanes[%d]: %w", i, err)
		}
		if seen[l] {
			return nil, fmt.Errorf("event: lanes[%d]: %q is given twice", i, s)
		}
		seen[l] = true
		out = append(out, l)
	}
	return out, nil
}

// StepFanout is what a coordinating migrate or poll did: the run's lanes,
// the groups they were split into and the lanes of each (the last may hold
// fewer), and how many were handed out.
type StepFanout struct {
	Function   string `json:"function"`
	Lanes      int    `json:"lanes"`
	Groups     int    `json:"groups"`
	GroupSize  int    `json:"groupSize"`
	Dispatched int    `json:"dispatched"`
}

// stepper is a step of migrate or poll: on one lane, on a group of lanes,
// on the whole run; beside is what a coordinator of the whole run still
// does itself (nil: nothing).
type stepper struct {
	function string
	lane     func(context.Context, string, estate.Lane) (migration.StepResult, error)
	lanes    func(context.Context, string, []estate.Lane) ([]migration.StepResult, error)
	run      func(context.Context, string) ([]migration.StepResult, error)
	beside   func(context.Context, string) ([]migration.StepResult, error)
	// active, when set, narrows the lanes worth a step (poll: those that
	// have begun); nil: every lane of the plan.
	active func(context.Context, string) ([]estate.Lane, error)
}

// coordinate, when the step fans out (KMSMIG_STEP_LANES_PER_INVOCATION
// set and exceeded by the run's lanes worth a step, s.active's, a
// Dispatch, the function named), hands those lanes, in plan order and in groups of GroupSize, to
// invocations of s.function, and returns what it did; nil when this
// invocation steps the lanes itself: then, when s.active narrowed them,
// narrowed is true and atWork are the lanes to step (perhaps none). Every
// group's event is built and checked before the first is handed out. A
// group that cannot be handed out does not stop the others; the errors
// are joined.
func (x *Executor) coordinate(ctx context.Context, s stepper, runID string) (f *StepFanout, atWork []estate.Lane, narrowed bool, err error) {
	per := x.Config.StepLanesPerInvocation
	if per <= 0 || x.Dispatch == nil || s.function == "" || s.function == "-" {
		return nil, nil, false, nil
	}
	lanesOf := x.Engine.Lanes
	if s.active != nil {
		lanesOf = s.active
	}
	lanes, err := lanesOf(ctx, runID)
	if err != nil || len(lanes) <= per {
		return nil, lanes, err == nil && s.active != nil, err
	}
	f, err = x.fanOut(ctx, s, runID, lanes, per)
	return f, nil, false, err
}

// fanOut hands lanes, in groups of GroupSize, to invocations of
// s.function (coordinate).
func (x *Executor) fanOut(ctx context.Context, s stepper, runID string, lanes []estate.Lane, per int) (*StepFanout, error) {
	var err error
	size := GroupSize(len(lanes), per, x.Config.FanoutInvocations)
	f := &StepFanout{Function: s.function, Lanes: len(lanes), GroupSize: size}
	if size > MaxLanesPerInvocation {
		return f, fmt.Errorf("fan-out of %s: %d lanes in at most KMSMIG_FANOUT_INVOCATIONS=%d groups need %d lanes a group, over the %d a group event may name: raise KMSMIG_FANOUT_INVOCATIONS",
			runID, len(lanes), x.Config.FanoutInvocations, size, MaxLanesPerInvocation)
	}
	groups := GroupLanes(lanes, size)
	f.Groups = len(groups)
	payloads := make([][]byte, len(groups))
	for g, lanes := range groups {
		if payloads[g], err = StepGroupPayload(runID, lanes); err != nil {
			return f, fmt.Errorf("fan-out of %s: group %d: %w", runID, g, err)
		}
	}
	var errs []error
	for g, p := range payloads {
		if err := x.Dispatch(ctx, s.function, runID, g, p); err != nil {
			if ctx.Err() != nil {
				return f, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("fan-out of %s: hand group %d to %s: %w", runID, g, s.function, err))
			continue
		}
		f.Dispatched++
	}
	return f, errors.Join(errs...)
}
