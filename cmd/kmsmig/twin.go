package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/testinfra/stack"
	"github.com/kmsmig/kmsmig/twin/acs"
	"github.com/kmsmig/kmsmig/twin/kms"
)

const twinSynopsis = `twin --inventory PATH|demo [--addr 127.0.0.1:0] [--qps GROUP=N,...|off] [--latency DUR] [--fault-rate F] [--task-speed X] [--task-api present|absent]

Starts offline twins of Alibaba Cloud KMS (every region of the inventory at
its own address, the migration tool's provider side included), STS and OSS
(with a bucket for run state), with one access key per inventory account.
Once every endpoint accepts requests it prints ONE line of JSON to stdout:

  {"kms": {"<region>": "host:port", ...}, "sts": "host:port", "oss": "host:port",
   "stateBucket": "kmsmig-state", "ossRegion": "<region>",
   "accounts": [{"id": "...", "accessKeyId": "...", "accessKeySecret": "..."}]}

and serves until interrupted (SIGINT or SIGTERM). Point the official SDKs at
those addresses over plain HTTP. The inventory format is documented in
twin/kms/doc.go; "demo" is the built-in estate that exercises every migration
rule.

--task-api absent serves no migration task action: the KMS twin answers each
one exactly as the real gateway answers an action it does not know (404
InvalidAction.NotFound), to rehearse a cloud where the task API is missing.

Quota groups for --qps (calls per second per account and region; defaults are
the shared gateway's): ` + "KeyMetadata=50, KeyModify=30, SecretMetadata=40, SecretModify=30, SecretValue=450, ResourceTags=300, Instance=20, Migration=10"

func runTwin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("twin", twinSynopsis, stderr)
	inventory := fs.String("inventory", "", "inventory file (JSON), or demo for the built-in estate (required)")
	addr := fs.String("addr", "127.0.0.1:0", "host to listen on; each endpoint gets its own free port (the port part must be 0)")
	qps := fs.String("qps", "", "quota overrides GROUP=N,... (N=0 removes a quota), or off to remove all")
	latency := fs.Duration("latency", 0, "latency added to every KMS call, e.g. 20ms")
	faultRate := fs.Float64("fault-rate", 0, "probability 0..1 that a KMS call fails with a transient 503 ServiceUnavailable")
	seed := fs.Uint64("seed", 1, "seed of the fault injection")
	taskSpeed := fs.Float64("task-speed", 1, "migration tasks run this many times faster than the default timing (30s + 2s per resource)")
	taskAPI := fs.String("task-api", "present", "present, or absent: every migration task action answered as an unknown action")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	opts, err := twinOptions(*inventory, *addr, *qps, *latency, *faultRate, *seed, *taskSpeed)
	if err != nil {
		return err
	}
	if opts.TaskAPIAbsent, err = taskAPIAbsent(*taskAPI); err != nil {
		return err
	}
	st, err := stack.Start(opts)
	if err != nil {
		return err
	}
	defer st.Close()
	line, err := json.Marshal(st.Ready())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(line))
	fmt.Fprintf(stderr, "kmsmig twin: serving %d regions for %d accounts; interrupt to stop\n", len(st.Ready().KMS), len(st.Ready().Accounts))
	<-ctx.Done()
	return nil
}

// twinOptions validates the twin command's flags; every error names the flag.
func twinOptions(inventory, addr, qps string, latency time.Duration, faultRate float64, seed uint64, taskSpeed float64) (stack.Options, error) {
	var o stack.Options
	var err error
	switch inventory {
	case "":
		return o, fmt.Errorf("%w: --inventory is required (a file, or demo)", errUsage)
	case "demo":
		o.Inventory = kms.DemoInventory()
	default:
		if o.Inventory, err = loadInventory(inventory); err != nil {
			return o, err
		}
	}
	host, port, ok := strings.Cut(addr, ":")
	if !ok || host == "" || port != "0" {
		return o, fmt.Errorf("%w: --addr %q: want HOST:0 (every endpoint takes its own free port)", errUsage, addr)
	}
	o.Host = host
	if qps == "off" {
		o.Unthrottled = true
	} else if qps != "" {
		o.QPS = map[string]float64{}
		known := kms.DefaultQuotas()
		for _, part := range strings.Split(qps, ",") {
			g, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if _, isGroup := known[g]; !ok || !isGroup {
				return o, fmt.Errorf("%w: --qps %q: want GROUP=N with GROUP one of %s", errUsage, part, groupNames(known))
			}
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || n < 0 {
				return o, fmt.Errorf("%w: --qps %q: N must be a number ≥ 0", errUsage, part)
			}
			o.QPS[g] = n
		}
	}
	if latency < 0 {
		return o, fmt.Errorf("%w: --latency must not be negative", errUsage)
	}
	if faultRate < 0 || faultRate > 1 {
		return o, fmt.Errorf("%w: --fault-rate %v: must be between 0 and 1", errUsage, faultRate)
	}
	if taskSpeed <= 0 {
		return o, fmt.Errorf("%w: --task-speed %v: must be > 0", errUsage, taskSpeed)
	}
	o.Faults = acs.Faults{Latency: latency, ErrorRate: faultRate, Seed: seed}
	o.Timing = kms.TaskTiming{Speed: taskSpeed}
	return o, nil
}

// taskAPIAbsent reads the --task-api flag of twin and rehearse.
func taskAPIAbsent(v string) (bool, error) {
	switch v {
	case "present":
		return false, nil
	case "absent":
		return true, nil
	}
	return false, fmt.Errorf("%w: --task-api %q: want present or absent", errUsage, v)
}

func groupNames(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for g := range m {
		names = append(names, g)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// loadInventory reads the --inventory flag of twin, rehearse and chaos
// (a file, demo or generate:...). A file that cannot be read or is refused
// (every problem named by its JSON path) is a usage error: the command
// exits 2 before it starts anything or writes anything.
func loadInventory(inventory string) (*kms.Inventory, error) {
	inv, err := kms.LoadInventory(inventory)
	if err != nil {
		return nil, fmt.Errorf("%w: --inventory %s: %v", errUsage, inventory, err)
	}
	return inv, nil
}
