package estate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Inventory is what one discovery run found, lane by lane. It is persisted
// as JSON and read back by the functions that classify, plan and verify;
// Normalize puts it in the canonical order that makes that JSON stable.
type Inventory struct {
	RunID        string          `json:"runId"`
	DiscoveredAt time.Time       `json:"discoveredAt"`
	Lanes        []LaneInventory `json:"lanes,omitempty"`
}

// LaneInventory is the part of an Inventory that belongs to one lane: the
// lane's keys and secrets, the instances the lane's account can see in the
// lane's region, and the errors discovery met there. A lane with Errors is
// incomplete: what it lists is true, but something may be missing.
type LaneInventory struct {
	Lane      Lane             `json:"lane"`
	Keys      []Key            `json:"keys,omitempty"`
	Secrets   []Secret         `json:"secrets,omitempty"`
	Instances []Instance       `json:"instances,omitempty"`
	Errors    []DiscoveryError `json:"errors,omitempty"`
	// TaskAPI is what discovery learned of the migration task API in the
	// lane; nil when it was not probed (the observe backend needs none).
	TaskAPI *TaskAPIProbe `json:"taskApi,omitempty"`
}

// TaskAPIProbe is the outcome of discovery's first contact with the
// migration task API of a lane: one read-only call of its list action.
type TaskAPIProbe struct {
	// Action is the operation called (the configured list action).
	Action string `json:"action"`
	// Available is set when the call succeeded.
	Available bool `json:"available"`
	// Code and Message are the refusal's, when it failed.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Permanent is set when the refusal will not change until the
	// configuration or the grants do (an unknown action, a missing
	// permission, credentials not accepted for it).
	Permanent bool `json:"permanent,omitempty"`
}

// Unavailable reports whether the task API was probed and failed.
func (p *TaskAPIProbe) Unavailable() bool { return p != nil && !p.Available }

// DiscoveryError records one call that failed during discovery, so that an
// incomplete lane says what is missing instead of looking empty.
type DiscoveryError struct {
	// Op is the API action that failed, for example DescribeKey.
	Op string `json:"op"`
	// Resource is the key ID, secret name or instance ID concerned, empty
	// for a listing call.
	Resource string `json:"resource,omitempty"`
	// Code is the service's error code, for example Rejected.Throttling.
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// Lane returns the inventory of lane l and true, or nil and false when the
// inventory has no such lane. The pointer aliases inv's storage.
func (inv *Inventory) Lane(l Lane) (*LaneInventory, bool) {
	for i := range inv.Lanes {
		if inv.Lanes[i].Lane == l {
			return &inv.Lanes[i], true
		}
	}
	return nil, false
}

// Normalize sorts inv in place into its canonical order: lanes by account
// and region, keys by ID, secrets by name (then instance), instances by ID,
// every string list sorted, discovery errors by op and resource, and every
// time in UTC. Two inventories with the same content encode to the same
// JSON once normalized.
func (inv *Inventory) Normalize() {
	inv.DiscoveredAt = utc(inv.DiscoveredAt)
	slices.SortStableFunc(inv.Lanes, func(a, b LaneInventory) int { return a.Lane.Compare(b.Lane) })
	for i := range inv.Lanes {
		inv.Lanes[i].normalize()
	}
}

func (li *LaneInventory) normalize() {
	slices.SortStableFunc(li.Keys, func(a, b Key) int { return cmp.Compare(a.ID, b.ID) })
	for i := range li.Keys {
		k := &li.Keys[i]
		slices.Sort(k.Aliases)
		k.NextRotation, k.LastRotation = utc(k.NextRotation), utc(k.LastRotation)
	}
	slices.SortStableFunc(li.Secrets, func(a, b Secret) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.InstanceID, b.InstanceID))
	})
	for i := range li.Secrets {
		slices.Sort(li.Secrets[i].StageLabels)
	}
	slices.SortStableFunc(li.Instances, func(a, b Instance) int { return cmp.Compare(a.ID, b.ID) })
	for i := range li.Instances {
		in := &li.Instances[i]
		slices.Sort(in.SharedWith)
		slices.Sort(in.SecretNames)
		in.Expires = utc(in.Expires)
	}
	slices.SortStableFunc(li.Errors, func(a, b DiscoveryError) int {
		return cmp.Or(cmp.Compare(a.Op, b.Op), cmp.Compare(a.Resource, b.Resource),
			cmp.Compare(a.Code, b.Code), cmp.Compare(a.Message, b.Message))
	})
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// Validate returns every structural problem of inv joined into one error
// (nil when there is none), each naming its lane and resource: an invalid
// or repeated lane, a key without ID or with a repeated ID, a secret
// without name, an instance without ID or repeated. Two secrets sharing a
// name are not a structural problem; classification reports them.
func (inv *Inventory) Validate() error {
	var errs []error
	seen := make(map[Lane]bool, len(inv.Lanes))
	for _, li := range inv.Lanes {
		if err := li.Lane.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[li.Lane] {
			errs = append(errs, fmt.Errorf("estate: lane %s appears twice", li.Lane))
		}
		seen[li.Lane] = true
		errs = append(errs, li.validate()...)
	}
	return errors.Join(errs...)
}

func (li *LaneInventory) validate() []error {
	var errs []error
	keys := make(map[string]bool, len(li.Keys))
	for _, k := range li.Keys {
		switch {
		case strings.TrimSpace(k.ID) == "":
			errs = append(errs, fmt.Errorf("estate: lane %s: key without id", li.Lane))
		case keys[k.ID]:
			errs = append(errs, fmt.Errorf("estate: lane %s: key %s appears twice", li.Lane, k.ID))
		}
		keys[k.ID] = true
	}
	for _, s := range li.Secrets {
		if strings.TrimSpace(s.Name) == "" {
			errs = append(errs, fmt.Errorf("estate: lane %s: secret without name", li.Lane))
		}
	}
	instances := make(map[string]bool, len(li.Instances))
	for _, in := range li.Instances {
		switch {
		case strings.TrimSpace(in.ID) == "":
			errs = append(errs, fmt.Errorf("estate: lane %s: instance without id", li.Lane))
		case instances[in.ID]:
			errs = append(errs, fmt.Errorf("estate: lane %s: instance %s appears twice", li.Lane, in.ID))
		}
		instances[in.ID] = true
	}
	return errs
}
