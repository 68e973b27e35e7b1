package fc

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ColdStart is one start of a function's process.
type ColdStart struct {
	Started time.Time // wall clock
	// Ready is the time from process start to its first GET .../next.
	Ready time.Duration
	// FirstServed is the time from process start to the first invocation
	// answered; zero until one is.
	FirstServed time.Duration
	// Exit is how the process ended; empty while it runs.
	Exit string
}

// instance is the one instance of a binary function: a runtime endpoint
// and the child process behind it, restarted when it dies.
type instance struct {
	s   *Server
	fn  Function
	dir string // HOME and TMPDIR of the process

	ctx    context.Context
	cancel context.CancelFunc
	addr   string
	srv    *http.Server

	mu       sync.Mutex
	queue    []*call
	inflight map[string]*call
	draining map[string]*call // answered, waiting for the end of their log
	wake     chan struct{}    // closed and replaced when the queue grows
	running  bool             // the supervisor runs
	stopped  bool
	// gen counts process starts; a runtime connection belongs to the
	// process that was current when it was accepted. dying is set from Kill
	// (or the process's end) until the next start, so that nothing is
	// handed to a connection of a dead process.
	gen   int
	dying bool
	// silentRuntime is set once an invocation ended without the runtime
	// SDK's start/end log lines, so later posts need not wait for them.
	silentRuntime bool
	proc          *os.Process
	starts        []ColdStart
	done          chan struct{} // closed when the supervisor returns
	// handed counts the attempts given to the process; peakRSS is the
	// largest resident set seen (bytes), at the end of an invocation or
	// at a process's exit.
	handed  int
	peakRSS int64
}

// id is the instance's FC_INSTANCE_ID.
func (in *instance) id() string { return filepath.Base(in.dir) }

func newInstance(s *Server, fn Function) (*instance, error) {
	dir, err := os.MkdirTemp("", "fc-"+fn.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("fc: function %s: instance directory: %w", fn.Name, err)
	}
	in := &instance{s: s, fn: fn, dir: dir, inflight: map[string]*call{}, draining: map[string]*call{}, wake: make(chan struct{})}
	in.ctx, in.cancel = context.WithCancel(s.ctx)
	if err := in.listenRuntime(); err != nil {
		in.cancel()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("fc: function %s: runtime endpoint: %w", fn.Name, err)
	}
	return in, nil
}

// submit queues c and starts the process if it is not running (a cold
// start on first use).
func (in *instance) submit(c *call) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped {
		return errClosed
	}
	in.queue = append(in.queue, c)
	close(in.wake)
	in.wake = make(chan struct{})
	if !in.running {
		in.running = true
		in.done = make(chan struct{})
		go in.supervise()
	}
	return nil
}

// abandon forgets c (it timed out); a late answer from the process is
// refused.
func (in *instance) abandon(c *call) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.inflight, c.id)
	for i, q := range in.queue {
		if q == c {
			in.queue = append(in.queue[:i:i], in.queue[i+1:]...)
			break
		}
	}
}

// supervise runs the process, and again each time it dies, until the
// instance stops. A process that cannot be started fails the queued
// invocations and ends supervision; the next submit tries again.
func (in *instance) supervise() {
	defer close(in.done)
	backoff := 50 * time.Millisecond
	for {
		in.mu.Lock()
		if in.stopped {
			in.running = false
			in.mu.Unlock()
			return
		}
		in.mu.Unlock()
		started := time.Now()
		cmd := in.command()
		in.mu.Lock()
		in.gen++
		in.dying = false
		in.mu.Unlock()
		if err := cmd.Start(); err != nil {
			in.mu.Lock()
			queued := in.queue
			in.queue = nil
			in.running = false
			in.mu.Unlock()
			in.s.logf(in.fn.Name, "start %s: %v", in.fn.Binary, err)
			for _, c := range queued {
				c.finish(Result{Error: &FunctionError{Type: ErrorTypeStart, Message: "could not start the function process: " + err.Error()}})
			}
			return
		}
		in.mu.Lock()
		in.proc = cmd.Process
		in.starts = append(in.starts, ColdStart{Started: started})
		stopped := in.stopped
		in.mu.Unlock()
		if stopped {
			_ = cmd.Process.Kill()
		}

		err := cmd.Wait()
		cmd.Stdout.(*lineWriter).flush()
		cmd.Stderr.(*lineWriter).flush()
		exit := "exited"
		if err != nil {
			exit = err.Error()
		}
		var atExit int64
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
			atExit = int64(ru.Maxrss) << 10 // kilobytes on Linux
		}
		in.mu.Lock()
		in.peakRSS = max(in.peakRSS, atExit)
		in.proc = nil
		in.dying = true // until the next start: its connections may linger
		in.starts[len(in.starts)-1].Exit = exit
		lost := in.inflight
		in.inflight = map[string]*call{}
		stopped = in.stopped
		if stopped {
			in.running = false
		}
		in.mu.Unlock()
		for _, c := range lost {
			c.finish(Result{Error: &FunctionError{Type: ErrorTypeProcessExited, Message: "the function process " + exit + " before completing the request"}})
		}
		if stopped {
			return
		}
		in.s.logf(in.fn.Name, "process %s; restarting", exit)
		// Crash loops back off; a process that ran a while restarts quickly.
		if time.Since(started) > 5*time.Second {
			backoff = 50 * time.Millisecond
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-in.ctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// command builds the child process: the function's environment only, plus
// PATH, a private HOME and TMPDIR, FC's own FC_* variables and
// FC_RUNTIME_API.
func (in *instance) command() *exec.Cmd {
	fn := in.fn
	cmd := exec.Command(fn.Binary)
	cmd.Dir = filepath.Dir(fn.Binary)
	env := map[string]string{"PATH": os.Getenv("PATH"), "HOME": in.dir, "TMPDIR": in.dir}
	for k, v := range fn.Env { // the function's own settings win
		env[k] = v
	}
	env["FC_RUNTIME_API"] = in.addr
	env["FC_FUNCTION_NAME"] = fn.Name
	env["FC_FUNCTION_HANDLER"] = fn.HandlerName
	env["FC_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(fn.MemoryMB)
	env["FC_REGION"] = fn.Region
	env["FC_ACCOUNT_ID"] = fn.AccountID
	env["FC_INSTANCE_ID"] = in.id()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	cmd.Env = make([]string, 0, len(keys))
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdout = &lineWriter{emit: func(l string) { in.output("stdout", l) }}
	cmd.Stderr = &lineWriter{emit: func(l string) { in.output("stderr", l) }}
	return cmd
}

// output hands a line of the process's output to the log and to every
// invocation in flight (for x-fc-log-type: Tail).
func (in *instance) output(stream, line string) {
	in.mu.Lock()
	calls := make([]*call, 0, len(in.inflight)+len(in.draining))
	for _, c := range in.inflight {
		calls = append(calls, c)
	}
	for _, c := range in.draining {
		calls = append(calls, c)
	}
	in.mu.Unlock()
	for _, c := range calls {
		c.appendLog(line)
	}
	in.s.emit(LogLine{Function: in.fn.Name, Stream: stream, Text: line})
}

// markReady and markServed record cold-start figures; in.mu is held.
func (in *instance) markReady() {
	if n := len(in.starts); n > 0 && in.starts[n-1].Ready == 0 {
		in.starts[n-1].Ready = time.Since(in.starts[n-1].Started)
	}
}

func (in *instance) markServed() {
	if n := len(in.starts); n > 0 && in.starts[n-1].FirstServed == 0 {
		in.starts[n-1].FirstServed = time.Since(in.starts[n-1].Started)
	}
}

// kill ends the running process, if any, as a crash would.
func (in *instance) kill() error {
	in.mu.Lock()
	p := in.proc
	if p != nil {
		in.dying = true
	}
	in.mu.Unlock()
	if p == nil {
		return fmt.Errorf("fc: function %s: no process running", in.fn.Name)
	}
	return p.Kill()
}

// stop ends the instance: the process, its runtime endpoint and the
// invocations queued or in flight.
func (in *instance) stop() {
	in.mu.Lock()
	if in.stopped {
		in.mu.Unlock()
		return
	}
	in.stopped = true
	p, done, running := in.proc, in.done, in.running
	queued := in.queue
	in.queue = nil
	in.mu.Unlock()
	in.cancel()
	if p != nil {
		_ = p.Kill()
	}
	if running {
		<-done
	}
	_ = in.srv.Close()
	for _, c := range queued {
		c.finish(Result{Error: &FunctionError{Type: ErrorTypeProcessExited, Message: "the function instance was stopped"}})
	}
	_ = os.RemoveAll(in.dir)
}

// lineWriter splits a stream into lines.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(bytes.TrimRight(w.buf[:i], "\r")))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a very long line: emit what we have
		w.emit(string(w.buf))
		w.buf = nil
	}
	return len(p), nil
}

// flush emits an unterminated last line.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}
