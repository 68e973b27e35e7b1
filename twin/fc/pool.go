package fc

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Instance limits of FC: instanceConcurrency is 1..200 (default 1), and a
// region runs at most 300 instances of an account by default, which a
// function's concurrencyConfig.reservedConcurrency may lower.
const (
	MaxInstanceConcurrency = 200
	DefaultMaxInstances    = 300
)

// limits returns how many invocations one instance of fn takes at once
// and how many instances it may have. A function that sets neither
// InstanceConcurrency nor MaxInstances keeps the twin's single instance
// taking every invocation at once (see the package doc).
func (fn Function) limits() (perInstance, instances int) {
	if fn.InstanceConcurrency == 0 && fn.MaxInstances == 0 {
		return math.MaxInt, 1
	}
	perInstance, instances = fn.InstanceConcurrency, fn.MaxInstances
	if perInstance == 0 {
		perInstance = 1
	}
	if instances == 0 {
		instances = DefaultMaxInstances
	}
	return perInstance, instances
}

// pool is a function's instances. An invocation takes a slot on an
// instance with room, else on a new instance while fewer than the limit
// run, else waits until one frees; FC, too, fills an instance before it
// starts another. Instances of an in-process handler are only counted;
// those of a binary are child processes (each started on its first
// invocation and kept until the function stops).
type pool struct {
	s           *Server
	fn          Function
	perInstance int
	max         int

	mu      sync.Mutex
	insts   []*slotted
	freed   chan struct{} // closed and replaced when a slot frees
	stopped bool
}

// slotted is one instance with the number of invocations it is running.
type slotted struct {
	inst *instance // nil for an in-process handler
	busy int
}

// newPool returns fn's pool; a binary function gets its first instance
// (its runtime endpoint; the process starts on the first invocation).
func newPool(s *Server, fn Function) (*pool, error) {
	per, max := fn.limits()
	p := &pool{s: s, fn: fn, perInstance: per, max: max, freed: make(chan struct{})}
	if fn.Binary != "" {
		in, err := newInstance(s, fn)
		if err != nil {
			return nil, err
		}
		p.insts = append(p.insts, &slotted{inst: in})
	}
	return p, nil
}

// acquire waits for a slot and returns its instance; release gives the
// slot back. It fails when the pool stops or ctx ends first.
func (p *pool) acquire(ctx context.Context) (*slotted, error) {
	for {
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return nil, errClosed
		}
		for _, si := range p.insts {
			if si.busy < p.perInstance {
				si.busy++
				p.mu.Unlock()
				return si, nil
			}
		}
		if len(p.insts) < p.max {
			si := &slotted{busy: 1}
			if p.fn.Binary != "" {
				in, err := newInstance(p.s, p.fn)
				if err != nil {
					p.mu.Unlock()
					return nil, err
				}
				si.inst = in
			}
			p.insts = append(p.insts, si)
			p.mu.Unlock()
			return si, nil
		}
		freed := p.freed
		p.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, errClosed
		}
	}
}

func (p *pool) release(si *slotted) {
	p.mu.Lock()
	si.busy--
	close(p.freed)
	p.freed = make(chan struct{})
	p.mu.Unlock()
}

// processes returns the pool's binary instances.
func (p *pool) processes() []*instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*instance
	for _, si := range p.insts {
		if si.inst != nil {
			out = append(out, si.inst)
		}
	}
	return out
}

// coldStarts returns every process start of the pool's instances, oldest
// first.
func (p *pool) coldStarts() []ColdStart {
	var out []ColdStart
	for _, in := range p.processes() {
		in.mu.Lock()
		out = append(out, in.starts...)
		in.mu.Unlock()
	}
	slices.SortStableFunc(out, func(a, b ColdStart) int { return a.Started.Compare(b.Started) })
	return out
}

// kill ends every running process of the pool, as a crash would.
func (p *pool) kill() error {
	killed := false
	for _, in := range p.processes() {
		if in.kill() == nil {
			killed = true
		}
	}
	if !killed {
		return fmt.Errorf("fc: function %s: no process running", p.fn.Name)
	}
	return nil
}

// stop ends every instance; waiting invocations fail.
func (p *pool) stop() {
	p.mu.Lock()
	p.stopped = true
	close(p.freed)
	p.freed = make(chan struct{})
	p.mu.Unlock()
	for _, in := range p.processes() {
		in.stop()
	}
}

// binary reports whether the pool runs processes.
func (p *pool) binary() bool { return p.fn.Binary != "" }
