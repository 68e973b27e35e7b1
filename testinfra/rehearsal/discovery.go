package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kmsmig/kmsmig/shared/app"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
)

// DiscoveryRun is what one discovery by the real discover binary under
// the FC twin did (Discovery).
type DiscoveryRun struct {
	// Lanes is how many lanes the planning invocation planned; Groups how
	// many groups the coordinator handed out (zero: not fanned out).
	Lanes, Groups int
	// Wall is from the coordinator's invocation to the end of the last
	// discover invocation (the plan persisted).
	Wall time.Duration
	// Discover is the discover function's invocations, instances and peak
	// memory.
	Discover FunctionUse
}

// Discovery runs only a rehearsal's discover step: the twins and discover
// as Run deploys them (s.yaml with o.Settings; no timer, no chained
// migrate), on a clock at o.Speed (1 in benchmarks: real time, the
// documented quotas), invoked once as its timer would invoke it. It
// returns once every discover invocation has ended and one of them
// planned the run; a failed invocation is an error.
func Discovery(ctx context.Context, o Options) (*DiscoveryRun, error) {
	if o.Settings == nil {
		o.Settings = map[string]string{}
	}
	o.Settings["KMSMIG_FUNCTION_MIGRATE"] = "-" // discover only
	// No migrate or poll runs, so nothing steps lanes in groups (the
	// setting needs migrate's chaining, which is off here).
	o.Settings["KMSMIG_STEP_LANES_PER_INVOCATION"] = ""
	if err := o.defaults(); err != nil {
		return nil, err
	}
	w, err := bringUp(ctx, &o, time.Now())
	if err != nil {
		return nil, err
	}
	defer w.close()
	fns, err := o.load(w.st, w.caFile, w.clockFile, &Result{Binaries: map[string]int64{}})
	if err != nil {
		return nil, err
	}
	fn := fns[fnDiscover]
	fn.Triggers, fn.AsyncInvokeConfig.OnFailure = nil, ""
	if err := w.st.FC.Deploy(fn); err != nil {
		return nil, fmt.Errorf("rehearsal: deploy %s: %w", fn.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	start := time.Now()
	if _, err := w.st.FC.InvokeAsync(ctx, fnDiscover, []byte(`{}`), ""); err != nil {
		return nil, fmt.Errorf("rehearsal: invoke %s: %w", fnDiscover, err)
	}
	var wall time.Duration
	for wall == 0 {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("rehearsal: discovery not finished: %w\nlast function output:\n%s", ctx.Err(), w.logs.String())
		case <-time.After(10 * time.Millisecond):
		}
		// The coordinator hands its groups on before it ends: once nothing
		// is in flight, every discover invocation has ended.
		w.st.FC.Quiesce(func(fctwin.Quiet) { wall = time.Since(start) })
	}
	out := &DiscoveryRun{Wall: wall}
	invs := w.st.FC.Invocations()
	planned := false
	for _, inv := range invs {
		if inv.Status != fctwin.StatusSucceeded {
			return nil, fmt.Errorf("rehearsal: %s %s: %s", inv.Function, inv.Status, inv.Response)
		}
		var res app.DiscoverResult
		if err := jsonUnmarshal(inv.Response, &res); err != nil {
			return nil, fmt.Errorf("rehearsal: %s result: %w", inv.Function, err)
		}
		if res.FanoutGroup == nil {
			out.Groups = max(out.Groups, res.FanoutGroups)
		}
		if res.Plan != "" {
			planned, out.Lanes = true, res.Lanes
		}
	}
	if !planned {
		return nil, errors.New("rehearsal: no discover invocation planned the run")
	}
	r := &rehearsal{st: w.st}
	out.Discover = r.functionUse(invs)[fnDiscover]
	return out, nil
}
