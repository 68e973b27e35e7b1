#!/usr/bin/env bash
# render-policies: render the RAM policies of the deployment from its
# configuration into OUT (default deploy/out). A wrapper of
# `kmsmig policies` (cmd/kmsmig/policies.go, tested by deploy/*_test.go),
# which does the rendering and the checks.
#
#   ALIBABA_CLOUD_ACCOUNT_ID=1234... KMSMIG_STATE_BUCKET=my-kmsmig-state \
#   KMSMIG_SLS_PROJECT=my-kmsmig KMSMIG_ACCOUNTS=1234...,5678... deploy/render-policies.sh
#
# Inputs (environment; defaults match s.yaml):
#   ALIBABA_CLOUD_ACCOUNT_ID  account of the functions          (required)
#   KMSMIG_STATE_BUCKET       state bucket                      (required)
#   KMSMIG_SLS_PROJECT        SLS project of audit + FC logs    (required)
#   KMSMIG_ACCOUNTS           accounts to migrate (as in s.yaml's vars.settings); each
#                             one but the home account gets a member role
#   KMSMIG_ROLE_ARNS          member roles by account (as in s.yaml), else MEMBER_ROLE_NAME
#   MEMBER_ROLE_NAME          the role in member accounts       (kmsmig-member)
#   KMSMIG_FUNCTION_MIGRATE, KMSMIG_FUNCTION_ROTATE  the functions the code invokes
#   KMSMIG_DISCOVER_LANES_PER_INVOCATION, KMSMIG_FUNCTION_DISCOVER,
#   KMSMIG_STEP_LANES_PER_INVOCATION, KMSMIG_FUNCTION_POLL
#                             fan-outs: set, discover / poll are invoked too
#   STATE_PREFIX              object prefix of the run state    (kmsmig; s.yaml's KMSMIG_STATE)
#   SLS_LOGSTORE              audit logstore                    (kmsmig-audit; s.yaml's KMSMIG_SLS_LOGSTORE)
#   FC_LOGSTORE               function-log logstore             (kmsmig-fc-logs; s.yaml's vars.logStore)
#   FC_ROLE_NAME              the functions' role               (kmsmig-fc; s.yaml's vars.roleName)
#   OUT                       output directory                  (deploy/out)
# Writes nothing when a value is bad (exit status 2, naming it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
need() { if [ -z "${!1:-}" ]; then echo "render-policies: $1 is not set" >&2; exit 2; fi; }
need ALIBABA_CLOUD_ACCOUNT_ID
need KMSMIG_STATE_BUCKET
need KMSMIG_SLS_PROJECT
export OUT="${OUT:-$here/out}"
cd "$here/.."
exec go run ./cmd/kmsmig policies
