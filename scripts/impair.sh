#!/usr/bin/env bash
# Impair a lab service in the kernel (loss, rate, delay) or change a relay profile.
#
#   scripts/impair.sh service SERVICE [LOSS] [RATE] [DELAY] [JITTER]
#   scripts/impair.sh clear [SERVICE]            (every service of the project when none given)
#   scripts/impair.sh profile PROFILE [KEY=VALUE ...]
#
# Kernel shaping runs in a short-lived helper container from the lab's base image in the
# service's network namespace (`--network container:<id>`), holding NET_ADMIN itself: the service
# never gets the capability. On the service's eth0:
#   LOSS   (e.g. 20%)    iptables `statistic` rules drop that share of packets in and out
#   RATE   (e.g. 1mbit)  a tbf qdisc limits what the service sends
#   DELAY, JITTER (100ms, 20ms)  netem, only where the kernel has sch_netem; otherwise one line
#          says so and points to the relay (which delays in user space).
# A profile change posts toxics to the impair relay's control API (GET /proxies lists them):
# the profile's keys from configs/impair.toml, then the KEY=VALUE pairs given.
set -euo pipefail

project=${COMPOSE_PROJECT_NAME:-socketlab}
image=${BASE_IMAGE:-socketlab/base:latest}
CHAIN_IN=SOCKETLAB-IMPAIR-IN
CHAIN_OUT=SOCKETLAB-IMPAIR-OUT

container_of() {
	docker ps --quiet --filter "label=com.docker.compose.project=$project" \
		--filter "label=com.docker.compose.service=$1" | head -n 1
}

services_running() {
	docker ps --filter "label=com.docker.compose.project=$project" \
		--format '{{.Label "com.docker.compose.service"}}' | sort
}

# Run a shell script as root with NET_ADMIN in the namespace of container $1.
in_namespace() {
	local id=$1
	shift
	docker run --rm --network "container:$id" --cap-drop ALL --cap-add NET_ADMIN --user root \
		"$image" sh -c "$1"
}

percent() {  # 20% or 0.2 -> 0.2000 (iptables' --probability); empty when not a share
	awk -v v="$1" 'BEGIN {
		p = v; if (v ~ /%$/) { sub(/%$/, "", p); p = p / 100 }
		if (p !~ /^[0-9.]+$/ && p + 0 != p) exit 1
		if (p < 0 || p > 1) exit 1
		printf "%.4f\n", p }'
}

clear_script="
iptables -D INPUT -i eth0 -j $CHAIN_IN 2>/dev/null || true
iptables -D OUTPUT -o eth0 -j $CHAIN_OUT 2>/dev/null || true
iptables -F $CHAIN_IN 2>/dev/null || true; iptables -X $CHAIN_IN 2>/dev/null || true
iptables -F $CHAIN_OUT 2>/dev/null || true; iptables -X $CHAIN_OUT 2>/dev/null || true
tc qdisc del dev eth0 root 2>/dev/null || true
"

service_cmd() {
	local service=$1 loss=${2:-} rate=${3:-} delay=${4:-} jitter=${5:-}
	local id
	id=$(container_of "$service")
	if [[ -z "$id" ]]; then
		echo "impair: no running service '$service' in project $project; running:" \
			"$(services_running | tr '\n' ' ')" >&2
		exit 2
	fi
	if [[ -z "$loss$rate$delay$jitter" ]]; then
		echo "impair: say what to do: LOSS=20% RATE=1mbit DELAY=100ms JITTER=20ms" >&2
		exit 2
	fi
	if ! docker run --rm "$image" sh -c 'command -v iptables >/dev/null'; then
		echo "impair: $image has no iptables; rebuild the base with it: make base-rebuild" >&2
		exit 1
	fi
	local script="$clear_script"
	local said=()
	if [[ -n "$loss" ]]; then
		local p
		if ! p=$(percent "$loss"); then
			echo "impair: LOSS must be a share like 20% or 0.2, not '$loss'" >&2
			exit 2
		fi
		script+="
iptables -N $CHAIN_IN && iptables -N $CHAIN_OUT
iptables -A $CHAIN_IN -m statistic --mode random --probability $p -j DROP
iptables -A $CHAIN_OUT -m statistic --mode random --probability $p -j DROP
iptables -I INPUT -i eth0 -j $CHAIN_IN && iptables -I OUTPUT -o eth0 -j $CHAIN_OUT
"
		said+=("loss $loss in and out (iptables statistic)")
	fi
	if [[ -n "$delay$jitter" ]]; then
		# Probe for sch_netem on the loopback of a throwaway namespace: never on the service.
		if ! docker run --rm --cap-drop ALL --cap-add NET_ADMIN --user root --network none "$image" \
			tc qdisc add dev lo root netem delay 1ms >/dev/null 2>&1; then
			echo "impair: this kernel has no sch_netem, so no delay or jitter in the kernel;" \
				"use the relay instead: make impair PROFILE=slow-web LATENCY_MS=${delay%ms}${jitter:+ JITTER_MS=${jitter%ms}}"
			delay="" jitter=""
		fi
	fi
	if [[ -n "$delay$jitter" ]]; then
		script+="tc qdisc add dev eth0 root netem delay ${delay:-0ms} ${jitter}${rate:+ rate $rate}
"
		said+=("delay ${delay:-0ms} ${jitter:+jitter $jitter }(netem)${rate:+, rate $rate}")
	elif [[ -n "$rate" ]]; then
		# burst: at least rate/HZ; 32 kbit is plenty for the lab's rates. latency bounds the queue.
		script+="tc qdisc add dev eth0 root tbf rate $rate burst 32kbit latency 400ms
"
		said+=("rate $rate out (tbf)")
	fi
	if ((${#said[@]} == 0)); then
		exit 0  # only a delay was asked for, and the line above said why there is none
	fi
	in_namespace "$id" "set -e
$script"
	local joined
	joined=$(printf '%s; ' "${said[@]}")
	echo "impair: $service: ${joined%; }. make impair-clear SERVICE=$service undoes it"
}

clear_cmd() {
	local targets
	if [[ -n "${1:-}" ]]; then targets=("$1"); else mapfile -t targets < <(services_running); fi
	for service in "${targets[@]}"; do
		local id
		id=$(container_of "$service")
		[[ -z "$id" ]] && { echo "impair: no running service '$service'" >&2; exit 2; }
		in_namespace "$id" "$clear_script" && echo "impair: $service: cleared (no loss, no qdisc)"
	done
}

profile_cmd() {
	local profile=$1
	shift
	local id
	id=$(container_of impair)
	if [[ -z "$id" ]]; then
		echo "impair: the relay is not running (make up starts it)" >&2
		exit 1
	fi
	# The profile's toxics from the file, then the overrides, as one JSON object; the relay
	# checks every value and answers 400 with the reason if one is bad.
	local body
	body=$(python3 - "$profile" "$@" <<'EOF'
import json, sys, tomllib
profile, pairs = sys.argv[1], sys.argv[2:]
KEYS = ("latency_ms", "jitter_ms", "bandwidth", "loss", "reset_after", "slow_close_ms",
        "timeout_ms")
OFF = {"timeout_ms": -1}
with open("configs/impair.toml", "rb") as f:
    proxies = tomllib.load(f).get("proxies", {})
if profile not in proxies:
    sys.exit(f"impair: no profile '{profile}' in configs/impair.toml (profiles: {', '.join(proxies)})")
table = proxies[profile]
# Both directions off first, then the file's direction on: the profile is all there is.
doc = {k: OFF.get(k, 0) for k in KEYS}
doc["stream"] = "both"
steps = [doc, {"stream": table.get("stream", "downstream"),
               **{k: table[k] for k in KEYS if k in table}}]
for pair in pairs:
    key, _, value = pair.partition("=")
    key = key.lower()
    if key not in KEYS and key != "stream":
        sys.exit(f"impair: unknown toxic {key.upper()} (known: {', '.join(k.upper() for k in KEYS)})")
    if key == "stream" or value.endswith("%"):
        steps[1][key] = value
    else:
        try:
            steps[1][key] = float(value) if "." in value else int(value)
        except ValueError:
            sys.exit(f"impair: {key.upper()} must be a number, not '{value}'")
print("\n".join(json.dumps(step) for step in steps))
EOF
)
	local step reply
	while IFS= read -r step; do
		# Inside the relay's own container: the control API needs no published port for this.
		reply=$(docker exec -i "$id" python3 -c '
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], data=sys.stdin.buffer.read(), method="POST",
                             headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=5) as resp:
        print(resp.read().decode())
except urllib.error.HTTPError as exc:
    print(exc.read().decode())
    sys.exit(1)
' "http://127.0.0.1:${IMPAIR_API_PORT:-8474}/proxies/$profile" <<<"$step") || {
			echo "impair: the relay refused: $reply" >&2
			exit 1
		}
	done <<<"$body"
	python3 -c '
import json, sys
doc = json.loads(sys.stdin.read())
on = {s: {k: v for k, v in t.items() if v not in (0, 0.0) and not (k == "timeout_ms" and v == -1)}
      for s, t in doc["toxics"].items()}
up, down = on["upstream"] or "none", on["downstream"] or "none"
name, listen, upstream = doc["name"], doc["listen"], doc["upstream"]
print(f"impair: {name} ({listen} -> {upstream}): upstream {up}, downstream {down}")
' <<<"$reply"
}

case ${1:-} in
	service) shift; service_cmd "$@" ;;
	clear) shift; clear_cmd "${1:-}" ;;
	profile) shift; profile_cmd "$@" ;;
	*) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
