#!/usr/bin/env bash
# Fuzz smoke: runs every fuzz target for a few seconds each and fails on the
# first crash or property violation. `go test -fuzz` takes one target per
# run, hence the loop. The seed corpora (f.Add and testdata/fuzz/) already
# run as ordinary tests under `make test`; this explores beyond them.
#
#   scripts/fuzz-smoke.sh            # FUZZTIME=2s per target (~75 s on 2 cores)
#   FUZZTIME=30s scripts/fuzz-smoke.sh
#
# A failing input is written to <package>/testdata/fuzz/<Target>/; keep it
# as the regression seed of the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
fuzztime="${FUZZTIME:-2s}"

targets=(
  ./shared/app:FuzzDecodeDiscoverEvent
  ./shared/app:FuzzDecodeStepEvent
  ./shared/app:FuzzDecodeRotateEvent
  ./shared/app:FuzzLoadConfig
  ./shared/app:FuzzParseDailyWindow
  ./shared/app:FuzzDecodeOSSEvent
  ./shared/estate:FuzzParseVersion
  ./shared/estate:FuzzParseLane
  ./shared/plan:FuzzParseFilter
  ./twin/kms:FuzzParseInventory
  ./twin/kms:FuzzParseGenerateSpec
  ./twin/acs:FuzzVerifyRPC
  ./twin/acs:FuzzVerifyRPCRaw
  ./twin/acs:FuzzParseRoleArn
  ./twin/oss:FuzzOSSRequest
  ./twin/sls:FuzzSLSRequest
  ./twin/fc:FuzzParseCron
  ./twin/fc:FuzzParseSYAML
)

# deadline_race: the run failed with Go's fuzz coordinator's bare
# "context deadline exceeded" at the -fuzztime boundary and wrote no
# failing input: golang/go#75804, a race in internal/fuzz (fixed in Go
# 1.27, not in the go1.26 toolchain used here), not a finding.
deadline_race() {
  grep -q '^    context deadline exceeded$' <<<"$1" && ! grep -q 'Failing input written' <<<"$1"
}

failed=()
raced=()
for t in "${targets[@]}"; do
  pkg=${t%%:*} name=${t##*:}
  for attempt in 1 2; do
    if out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
      # A target may spend its whole time replaying a large cached corpus
      # and print no execs line: that is a pass, not an error.
      execs=$(grep -o 'execs: [0-9]*' <<<"$out" | tail -n 1 || true)
      echo "ok   $name ($pkg): ${execs:-seed corpus only}"
      break
    fi
    if deadline_race "$out"; then
      if [ "$attempt" = 1 ]; then
        echo "again $name ($pkg): context deadline exceeded at the fuzztime boundary, no failing input (golang/go#75804)"
        continue
      fi
      echo "raced $name ($pkg): twice the coordinator's deadline race, no failing input (golang/go#75804); not counted as a failure"
      raced+=("$name")
      break
    fi
    echo "FAIL $name ($pkg)"
    echo "$out"
    failed+=("$name")
    break
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz smoke: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz smoke: ${#targets[@]} targets, no failures${raced:+ (deadline race twice: ${raced[*]})}"
