package deploy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Fan-out settings and the limit FC 3.0 puts on one function's
// reservedConcurrency (of the region's 100 instances per account).
const (
	settingDiscoverLanes     = "KMSMIG_DISCOVER_LANES_PER_INVOCATION"
	settingStepLanes         = "KMSMIG_STEP_LANES_PER_INVOCATION"
	settingFanoutInvocations = "KMSMIG_FANOUT_INVOCATIONS"
	// DefaultFanoutInvocations is KMSMIG_FANOUT_INVOCATIONS unset: how many
	// group invocations a coordinating step runs at once.
	DefaultFanoutInvocations = 10
	// MaxFanoutInvocations bounds KMSMIG_FANOUT_INVOCATIONS (1..90): FC
	// 3.0 lets one function reserve at most 90 instances.
	MaxFanoutInvocations = 90
)

// FunctionConcurrency is what the fan-out check reads of one s.yaml
// function.
type FunctionConcurrency struct {
	// Name is the functionName (kmsmig-discover, kmsmig-migrate, ...).
	Name string
	// Env is its environmentVariables.
	Env map[string]string
	// ReservedConcurrency is concurrencyConfig.reservedConcurrency, zero
	// when unset (FC's regional limit then applies).
	ReservedConcurrency int
}

// CheckFanoutConcurrency refuses a deployment in which a function that
// fans out may not run its coordinator and the invocations it fans out to
// at once: discover with KMSMIG_DISCOVER_LANES_PER_INVOCATION set, migrate
// and poll with KMSMIG_STEP_LANES_PER_INVOCATION set, each needs
// concurrencyConfig.reservedConcurrency of at least 1 +
// KMSMIG_FANOUT_INVOCATIONS (default 10) when it sets one. Functions are
// told apart by their name's last part (-discover, -migrate, -poll). The
// error names every such function and both settings.
func CheckFanoutConcurrency(fns []FunctionConcurrency) error {
	var problems []string
	for _, fn := range fns {
		lanes := ""
		switch {
		case strings.HasSuffix(fn.Name, "-discover"):
			lanes = settingDiscoverLanes
		case strings.HasSuffix(fn.Name, "-migrate"), strings.HasSuffix(fn.Name, "-poll"):
			lanes = settingStepLanes
		default:
			continue
		}
		if strings.TrimSpace(fn.Env[lanes]) == "" {
			continue // does not fan out
		}
		fanout := DefaultFanoutInvocations
		if v := strings.TrimSpace(fn.Env[settingFanoutInvocations]); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxFanoutInvocations {
				problems = append(problems, fmt.Sprintf("%s: %s %q: must be a whole number from 1 to %d", fn.Name, settingFanoutInvocations, v, MaxFanoutInvocations))
				continue
			}
			fanout = n
		}
		if fn.ReservedConcurrency != 0 && fn.ReservedConcurrency < 1+fanout {
			problems = append(problems, fmt.Sprintf(
				"%s fans out (%s=%s) but concurrencyConfig.reservedConcurrency %d is below 1 + %s (%d): its coordinator and the %d invocations it fans out to cannot run at once; raise reservedConcurrency to %d or lower %s",
				fn.Name, lanes, fn.Env[lanes], fn.ReservedConcurrency, settingFanoutInvocations, fanout, fanout, 1+fanout, settingFanoutInvocations))
		}
	}
	if len(problems) > 0 {
		return errors.New("fan-out beyond concurrency: " + strings.Join(problems, "; "))
	}
	return nil
}
