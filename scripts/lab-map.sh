#!/usr/bin/env bash
# Print the running lab as a map: each service, where it is inside the lab (name, address and
# port on its networks) and how the host reaches it (ports published on 127.0.0.1).
#
#   scripts/lab-map.sh [PROJECT]      (default: $COMPOSE_PROJECT_NAME, else socketlab)
#
# Reads only `docker inspect`, so it works the same under Compose v1 and v2: containers are found
# by the compose labels, not by their names (v1 says socketlab_x_1, v2 socketlab-x-1).
set -euo pipefail

project=${1:-${COMPOSE_PROJECT_NAME:-socketlab}}
ids=$(docker ps --quiet --filter "label=com.docker.compose.project=$project")
if [[ -z "$ids" ]]; then
	echo "map: no running containers for project $project (make up)" >&2
	exit 1
fi

# One line per container: service, networks (name=ip,...), exposed ports (8080/tcp,...),
# published ports (8080/tcp=127.0.0.1:8080,...). Fields are separated by '|'.
format='{{index .Config.Labels "com.docker.compose.service"}}|'
format+='{{range $net, $cfg := .NetworkSettings.Networks}}{{$net}}={{$cfg.IPAddress}},{{end}}|'
format+='{{range $port, $_ := .Config.ExposedPorts}}{{$port}},{{end}}|'
format+='{{range $port, $bindings := .NetworkSettings.Ports}}{{range $bindings}}{{$port}}={{.HostIp}}:{{.HostPort}},{{end}}{{end}}'

rows=()
# shellcheck disable=SC2086  # ids is a list of container ids
while IFS='|' read -r service networks exposed published; do
	inside=()
	for net in ${networks//,/ }; do
		inside+=("${net#*=} (${net%%=*})")
	done
	ports=()
	for port in ${exposed//,/ }; do
		case $port in
			*/tcp) ports+=("$service:${port%/tcp}") ;;
			*) ports+=("$service:$port") ;;
		esac
	done
	host=()
	for binding in ${published//,/ }; do
		port=${binding%%=*} addr=${binding#*=}
		case $port in
			*/tcp) host+=("http://$addr/") ;;
			*/udp) host+=("udp $addr") ;;
		esac
	done
	[[ ${#ports[@]} -gt 0 ]] || ports=("$service")
	[[ ${#host[@]} -gt 0 ]] || host=("not published")
	rows+=("$(printf '%s\t%s\t%s\t%s' "$service" "${ports[*]}" "${inside[*]}" "${host[*]}")")
done < <(docker inspect --format "$format" $ids)

# Sorted by address, so the map reads in the order of the fixed addresses (.10, .20, ...).
{
	printf 'SERVICE\tIN THE LAB\tADDRESS (NETWORK)\tFROM THE HOST\n'
	printf '%s\n' "${rows[@]}" | sort -t $'\t' -k3,3V
} | awk -F '\t' '
	# Columns as wide as their widest cell (column(1) is not on every machine).
	{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
	END { for (r = 1; r <= NR; r++) printf "  %-*s  %-*s  %-*s  %s\n", w[1], cell[r, 1], w[2], cell[r, 2], w[3], cell[r, 3], cell[r, 4] }'
