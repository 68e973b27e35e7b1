#!/usr/bin/env bash
# render-policies: fill the placeholders of the policy templates in this
# folder and write deployable JSON documents to OUT (default deploy/out).
#
#   ALIBABA_CLOUD_ACCOUNT_ID=1234... KMSMIG_STATE_BUCKET=my-kmsmig-state \
#   KMSMIG_SLS_PROJECT=my-kmsmig deploy/render-policies.sh
#
# Inputs (environment; defaults match s.yaml):
#   KMSMIG_STATE_BUCKET       state bucket                      (required)
#   KMSMIG_SLS_PROJECT        SLS project of audit + FC logs    (required)
#   ALIBABA_CLOUD_ACCOUNT_ID  account of the functions          (required for the member trust policy)
#   STATE_PREFIX              object prefix of the run state    (kmsmig; s.yaml's KMSMIG_STATE)
#   SLS_LOGSTORE              audit logstore                    (kmsmig-audit; s.yaml's KMSMIG_SLS_LOGSTORE)
#   FC_LOGSTORE               function-log logstore             (kmsmig-fc-logs; s.yaml's vars.logStore)
#   FC_ROLE_NAME              the functions' role               (kmsmig-fc; s.yaml's vars.roleName)
#   MEMBER_ROLE_NAME          the role in member accounts       (kmsmig-member)
#   OUT                       output directory                  (deploy/out)
# Refuses to write a document in which a <PLACEHOLDER> is left.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$here/out}"

need() { if [ -z "${!1:-}" ]; then echo "render-policies: $1 is not set" >&2; exit 2; fi; }
need KMSMIG_STATE_BUCKET
need KMSMIG_SLS_PROJECT
need ALIBABA_CLOUD_ACCOUNT_ID
case "$ALIBABA_CLOUD_ACCOUNT_ID" in *[!0-9]*) echo "render-policies: ALIBABA_CLOUD_ACCOUNT_ID must be digits" >&2; exit 2;; esac
for v in KMSMIG_STATE_BUCKET KMSMIG_SLS_PROJECT STATE_PREFIX SLS_LOGSTORE FC_LOGSTORE FC_ROLE_NAME MEMBER_ROLE_NAME; do
  case "${!v:-x}" in *[!A-Za-z0-9._/-]*) echo "render-policies: $v=${!v} has characters outside [A-Za-z0-9._/-]" >&2; exit 2;; esac
done
prefix="${STATE_PREFIX:-kmsmig}"
prefix="${prefix%/}"

mkdir -p "$out"
for f in ram-policy.json member-role-policy.json member-role-trust-policy.json fc-role-trust-policy.json oss-trigger-role-policy.json oss-trigger-trust-policy.json; do
  sed -e "s|<STATE_BUCKET>|$KMSMIG_STATE_BUCKET|g" \
      -e "s|<STATE_PREFIX>|$prefix|g" \
      -e "s|<SLS_PROJECT>|$KMSMIG_SLS_PROJECT|g" \
      -e "s|<SLS_LOGSTORE>|${SLS_LOGSTORE:-kmsmig-audit}|g" \
      -e "s|<FC_LOGSTORE>|${FC_LOGSTORE:-kmsmig-fc-logs}|g" \
      -e "s|<FC_ROLE_NAME>|${FC_ROLE_NAME:-kmsmig-fc}|g" \
      -e "s|<MEMBER_ROLE_NAME>|${MEMBER_ROLE_NAME:-kmsmig-member}|g" \
      -e "s|<HOME_ACCOUNT_ID>|$ALIBABA_CLOUD_ACCOUNT_ID|g" \
      "$here/$f" > "$out/$f.tmp"
  if grep -n '<[A-Z_]*>' "$out/$f.tmp" >&2; then
    echo "render-policies: $f: placeholders left (above)" >&2
    rm -f "$out/$f.tmp"
    exit 1
  fi
  mv "$out/$f.tmp" "$out/$f"
  echo "$out/$f"
done
