package fc

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// InstanceUsage is what one instance of a binary function did and used.
type InstanceUsage struct {
	// ID is the instance's FC_INSTANCE_ID.
	ID string
	// Invocations counts the attempts its process was handed (retries
	// included).
	Invocations int
	// PeakRSS is the largest resident set (bytes) of the instance's
	// processes: the highest of the per-invocation peaks and of each
	// process's maximum at exit (getrusage); zero where /proc is not
	// readable.
	PeakRSS int64
}

// FunctionUsage is what a function's instances did and used.
type FunctionUsage struct {
	// Invocations counts the function's invocation records (as
	// Invocations lists them; retries are one record).
	Invocations int
	// Instances are the binary function's instances, in start order; an
	// in-process handler has none.
	Instances []InstanceUsage
}

// PeakRSS returns the largest PeakRSS of the function's instances.
func (u FunctionUsage) PeakRSS() int64 {
	var most int64
	for _, in := range u.Instances {
		most = max(most, in.PeakRSS)
	}
	return most
}

// Usage returns how many invocations a function had and, per instance,
// how many attempts its process ran and its peak memory. It is the twin's
// own accessor, for harnesses: FC shows memory per instance in its
// monitoring, not through an API the twin serves. An unknown function
// returns a zero FunctionUsage.
func (s *Server) Usage(name string) FunctionUsage {
	var u FunctionUsage
	s.mu.Lock()
	for _, id := range s.order {
		if s.records[id].Function == name {
			u.Invocations++
		}
	}
	d, ok := s.fns[name]
	s.mu.Unlock()
	if !ok {
		return u
	}
	for _, in := range d.pool.processes() {
		in.mu.Lock()
		u.Instances = append(u.Instances, InstanceUsage{ID: in.id(), Invocations: in.handed, PeakRSS: in.peakRSS})
		in.mu.Unlock()
	}
	return u
}

// resetPeakRSS makes the kernel's peak resident set of pid (VmHWM) start
// again from the current one (proc(5), clear_refs value 5), so that the
// next reading is the peak of what ran since. It fails silently where
// /proc does not allow it: the reading is then the process's peak so far.
func resetPeakRSS(pid int) {
	_ = os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
}

// peakRSS returns pid's peak resident set in bytes (VmHWM of
// /proc/<pid>/status), zero when it cannot be read.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
