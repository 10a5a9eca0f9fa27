#!/usr/bin/env bash
# Install the Debian packages of the tools a target runs, when a command is missing.
#   scripts/install-tools.sh LABEL COMMAND:PACKAGE...
# e.g. scripts/install-tools.sh bench wrk:wrk ab:apache2-utils nginx:nginx
#
# Installing nginx must not start Debian's nginx on port 80: a policy-rc.d that says 101
# ("action forbidden") stops the package scripts from starting any service, and is removed
# afterwards (only if this script put it there).
set -euo pipefail

label=$1
shift
missing=""
for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
[[ -z "$missing" ]] && exit 0

echo "$label: installing$missing"
policy=/usr/sbin/policy-rc.d
added=""
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    added=1
fi
status=0
# $missing is a list of package names: word splitting is wanted here.
# shellcheck disable=SC2086
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing || status=$?
if [[ -n "$added" ]]; then rm -f "$policy"; fi
exit "$status"
