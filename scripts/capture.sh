#!/usr/bin/env bash
# Capture the packets of one lab service (or all of them) into captures/<service>-<time>.pcap.
#
#   scripts/capture.sh SERVICE|all [SECONDS] [FILTER]      (make capture SERVICE=... runs this)
#
# A short-lived helper container from the lab's base image joins the service's network namespace
# (`--network container:<id>`: the same interfaces, addresses and sockets) and runs tcpdump
# there. The helper holds NET_RAW and NET_ADMIN itself; the service keeps running unprivileged.
# tcpdump stops after SECONDS (default 10) or at Ctrl-C, and either way writes a complete file
# (-U: every packet is flushed as it is written). Then the host-side summary reads it.
#
# Environment: COMPOSE_PROJECT_NAME (default socketlab), BASE_IMAGE (default socketlab/base:latest),
# IFACE (default any: eth0 and lo; IFACE=eth0 leaves out the healthchecks on loopback),
# SUMMARY (the command that summarises a file; default .venv/bin/python scripts/pcap_summary.py).
set -euo pipefail

service=${1:?usage: capture.sh SERVICE|all [SECONDS] [FILTER]}
duration=${2:-10}
filter=${3:-}
project=${COMPOSE_PROJECT_NAME:-socketlab}
image=${BASE_IMAGE:-socketlab/base:latest}
iface=${IFACE:-any}
summary=${SUMMARY:-.venv/bin/python scripts/pcap_summary.py}
outdir=${CAPTURE_DIR:-captures}

if ! [[ "$duration" =~ ^[0-9]+$ ]] || (( duration < 1 || duration > 3600 )); then
	echo "capture: SECONDS must be a whole number from 1 to 3600, not '$duration'" >&2
	exit 2
fi

# service name -> container id, for the running containers of the project
declare -A ids=()
while read -r id name; do
	[[ -n "$id" ]] && ids[$name]=$id
done < <(docker ps --filter "label=com.docker.compose.project=$project" \
	--format '{{.ID}} {{.Label "com.docker.compose.service"}}')
if (( ${#ids[@]} == 0 )); then
	echo "capture: no running containers for project $project (make up first)" >&2
	exit 1
fi
if [[ "$service" == all ]]; then
	mapfile -t services < <(printf '%s\n' "${!ids[@]}" | sort)
elif [[ -n "${ids[$service]:-}" ]]; then
	services=("$service")
else
	echo "capture: no running service '$service' in project $project;" \
		"running: $(printf '%s\n' "${!ids[@]}" | sort | tr '\n' ' ')" >&2
	exit 2
fi

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
files=()
pids=()
names=()
echo "capture: ${services[*]} for ${duration} s on $iface${filter:+ (filter: $filter)}; Ctrl-C ends it early"
for name in "${services[@]}"; do
	file="$name-$stamp.pcap"
	files+=("$outdir/$file")
	names+=("$project-capture-$name")
	# --init: a PID 1 that passes Ctrl-C (SIGINT) on to timeout and tcpdump. timeout sends
	# tcpdump SIGINT at the limit too: tcpdump then finishes the file and prints its counts.
	# -Z root (with SETUID and SETGID to do it): tcpdump would otherwise drop to its own user
	# before it opens the file, and that user cannot write the directory of the host.
	# $filter is one argument: tcpdump joins its words into the expression itself.
	docker run --rm --init --name "${names[-1]}" \
		--network "container:${ids[$name]}" \
		--cap-drop ALL --cap-add NET_RAW --cap-add NET_ADMIN --cap-add SETUID --cap-add SETGID \
		--volume "$outdir:/captures" \
		"$image" \
		timeout --signal INT "$duration" \
		tcpdump -i "$iface" -U -n -Z root -w "/captures/$file" ${filter:+"$filter"} &
	pids+=($!)
done
# Ctrl-C: this script lives on to summarise the files, and passes SIGINT to each helper itself
# (a background `docker run` may have SIGINT ignored, as a non-interactive shell starts it):
# tini hands it to timeout, timeout to tcpdump, which finishes its file. `wait` returns early
# when a signal comes in, so wait again until each helper is really gone.
stop_helpers() {
	echo "capture: stopping (Ctrl-C): finishing the files" >&2
	docker kill --signal INT "${names[@]}" >/dev/null 2>&1 || true
}
trap stop_helpers INT TERM
status=0
for pid in "${pids[@]}"; do
	while kill -0 "$pid" 2>/dev/null; do
		code=0
		wait "$pid" || code=$?
		(( code > 128 )) && kill -0 "$pid" 2>/dev/null && continue
		(( code != 0 )) && status=$code
		break
	done
done
trap - INT TERM
# 124: timeout's "the limit was reached", which is how a capture normally ends.
if (( status != 0 && status != 124 )); then
	echo "capture: tcpdump failed (exit $status)" >&2
fi
for file in "${files[@]}"; do
	if [[ -s "$file" ]]; then
		echo "capture: wrote ${file#"$PWD/"} ($(stat -c %s "$file") bytes)"
		$summary "${file#"$PWD/"}"
	else
		echo "capture: no file for ${file#"$PWD/"}" >&2
		status=1
	fi
done
if (( status == 124 )); then status=0; fi
exit "$status"
