package rehearsal

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/kmsmig/kmsmig/shared/app"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
)

// FunctionUse is what one function's instances did in a rehearsal (the FC
// twin's Usage and invocation records).
type FunctionUse struct {
	// Invocations counts the function's invocations (retries are one).
	Invocations int `json:"invocations"`
	// Instances counts the instances that ran (one process each, restarts
	// aside).
	Instances int `json:"instances"`
	// InvocationPeak is the largest peak resident set of one invocation
	// (bytes): the memory an invocation needs.
	InvocationPeak int64 `json:"invocationPeakBytes"`
	// InstancePeaks is each instance's peak resident set (bytes), in
	// start order; Peak is the largest, the function's.
	InstancePeaks []int64 `json:"instancePeakBytes"`
	Peak          int64   `json:"peakBytes"`
}

// functionUse reads the FC twin's figures of every function.
func (r *rehearsal) functionUse(invs []fctwin.Invocation) map[string]FunctionUse {
	out := map[string]FunctionUse{}
	for _, name := range functionNames {
		u := r.st.FC.Usage(name)
		fu := FunctionUse{Invocations: u.Invocations, Instances: len(u.Instances), Peak: u.PeakRSS()}
		for _, in := range u.Instances {
			fu.InstancePeaks = append(fu.InstancePeaks, in.PeakRSS)
		}
		for _, inv := range invs {
			if inv.Function == name {
				fu.InvocationPeak = max(fu.InvocationPeak, inv.PeakRSS)
			}
		}
		out[name] = fu
	}
	return out
}

// fanoutRun is what the discover invocations of one run did.
type fanoutRun struct {
	coordinated int          // groups the coordinators handed out (FanoutGroups)
	dispatched  int          // dispatches, across coordinator invocations
	groups      map[int]bool // groups whose invocation succeeded
	invocations int          // group invocations
	planned     bool         // a discover invocation of the run planned it
}

// checkDiscoveryFanout: when discover is configured to fan out
// (KMSMIG_DISCOVER_LANES_PER_INVOCATION, per) and the estate has more
// lanes than that, each run's coordinator handed out ceil(lanes/per)
// groups, each group's invocation succeeded, the groups ran as more than
// one invocation, and one of them planned the run. ok is false with no
// check when the configuration does not fan out.
func checkDiscoveryFanout(invs []fctwin.Invocation, per, lanes int, use FunctionUse) (Check, bool) {
	if per <= 0 || lanes <= per {
		return Check{}, false
	}
	want := (lanes + per - 1) / per
	runs := map[string]*fanoutRun{}
	var order []string
	for _, inv := range invs {
		if inv.Function != fnDiscover || inv.Status != fctwin.StatusSucceeded {
			continue
		}
		var res app.DiscoverResult
		if jsonUnmarshal(inv.Response, &res) != nil || res.RunID == "" {
			continue
		}
		fr := runs[res.RunID]
		if fr == nil {
			fr = &fanoutRun{groups: map[int]bool{}}
			runs[res.RunID] = fr
			order = append(order, res.RunID)
		}
		if res.Plan != "" {
			fr.planned = true
		}
		if res.FanoutGroup != nil {
			fr.groups[*res.FanoutGroup] = true
			fr.invocations++
			continue
		}
		fr.coordinated = max(fr.coordinated, res.FanoutGroups)
		fr.dispatched += res.Dispatched
	}
	var bad, seen []string
	for _, id := range order {
		fr := runs[id]
		var missing []string
		for g := range fr.coordinated {
			if !fr.groups[g] {
				missing = append(missing, strconv.Itoa(g))
			}
		}
		seen = append(seen, fmt.Sprintf("%s: %d groups handed out (%d dispatches), %d group invocations", id, fr.coordinated, fr.dispatched, fr.invocations))
		switch {
		case fr.coordinated != want:
			bad = append(bad, fmt.Sprintf("%s: %d groups handed out, want %d (%d lanes, %d per invocation)", id, fr.coordinated, want, lanes, per))
		case len(missing) > 0:
			bad = append(bad, fmt.Sprintf("%s: groups %v did not succeed", id, missing))
		case fr.invocations < 2:
			bad = append(bad, fmt.Sprintf("%s: the groups ran as %d invocation", id, fr.invocations))
		case !fr.planned:
			bad = append(bad, id+": no discover invocation planned the run")
		}
	}
	slices.Sort(bad)
	return Check{Name: "discovery fanned out", OK: len(order) > 0 && len(bad) == 0,
		Detail: fmt.Sprintf("%d lanes, %d per invocation: %s; discover ran on %d instances, peak %.0f MiB per invocation; wrong: %d %s",
			lanes, per, clip(seen, 5), use.Instances, float64(use.InvocationPeak)/(1<<20), len(bad), clip(bad, 10))}, true
}
