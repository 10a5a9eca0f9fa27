#!/usr/bin/env bash
# Build the lab's base image (socketlab/base:latest by default) from Debian packages alone.
#
# No container registry is reachable on the lab machines, so nothing can be pulled: the root
# filesystem is made with mmdebstrap from Debian's own package archive (its default mirror; we
# pass none on purpose) and turned into an image with `docker import`. Every tool a service
# image needs goes in here, so the service Dockerfiles only COPY and configure and can be built
# with the network off.
#
# Usage: services/base/build-base.sh [--force] [TAG]
#   --force   rebuild even when TAG already exists (the default is to skip: idempotent)
#   TAG       image to produce, default socketlab/base:latest
# Environment: SUITE (default bookworm), KEEP_TAR=1 keeps the rootfs tarball for inspection.
set -euo pipefail

force=0
tag="socketlab/base:latest"
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "build-base: unknown option $arg (try --help)" >&2; exit 2 ;;
        *) tag="$arg" ;;
    esac
done

suite="${SUITE:-bookworm}"
# uid/gid of the unprivileged user the services run as; fixed so that files and logs are owned
# by the same number in every image and on the host.
lab_uid=10001

# Everything the lab's containers need, and why:
#   python3        the services and the healthcheck (stdlib only)
#   iproute2       `ip addr`, `ss`: see the container's own addresses and sockets
#   iputils-ping   reachability between containers
#   netcat-openbsd raw TCP/UDP by hand (nc -u for the chat server)
#   curl           HTTP by hand
#   procps         ps, top: watch threads and worker processes
#   tcpdump        look at the packets on the lab network
#   dnsutils       dig: Docker's embedded DNS at 127.0.0.11
#   ca-certificates  so that TLS tools work if a lab ever needs them
#   iptables       kernel packet loss (`statistic` match) for `make impair SERVICE=... LOSS=20%`,
#                  run from a helper container with NET_ADMIN, never by a service
#   slowhttptest   slow-client attacks (slowloris, slow body, slow read): exercise 17
# `passwd` (useradd) and `login` are Priority: required, so minbase already has them.
packages=(python3 iproute2 iputils-ping netcat-openbsd curl procps tcpdump dnsutils ca-certificates
    iptables slowhttptest)

log() { printf 'build-base: %s\n' "$*" >&2; }

if [[ $force -eq 0 ]] && docker image inspect "$tag" >/dev/null 2>&1; then
    log "$tag already exists ($(docker image inspect --format '{{.Id}}' "$tag")); nothing to do (--force rebuilds)"
    exit 0
fi

if ! command -v mmdebstrap >/dev/null 2>&1; then
    if [[ $(id -u) -ne 0 ]]; then
        log "mmdebstrap is missing; install it (apt-get install mmdebstrap) or run as root"
        exit 1
    fi
    log "mmdebstrap is missing: installing it with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap
fi

old_id="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
workdir="$(mktemp -d "${TMPDIR:-/tmp}/socketlab-base.XXXXXX")"
cleanup() {
    if [[ "${KEEP_TAR:-0}" == 1 ]]; then log "kept $workdir/rootfs.tar"; else rm -rf "$workdir"; fi
}
trap cleanup EXIT
rootfs="$workdir/rootfs.tar"

log "mmdebstrap $suite (variant minbase) -> $rootfs"
log "  packages: ${packages[*]}"
start=$SECONDS
# --dpkgopt path-exclude keeps documentation, manual pages and translations out (copyright
# files stay, as Debian asks). C.UTF-8 is built into libc, so no locales package is needed.
# Hooks:
#   - (customize, in the finished chroot) the unprivileged user `lab`, fixed uid, no login shell;
#   - (hook-dir merged-usr) lay out merged /usr the way debootstrap and Docker's debian images
#     do. Without it, the essential init-system-helpers' "usrmerge | usr-is-merged" is met by
#     usrmerge, which pulls in perl (about 50 MB) only to convert a tree that needs no converting.
#   - empty resolv.conf/hostname so the host's settings do not leak into the image
#     (Docker bind-mounts its own at run time).
mmdebstrap \
    --variant=minbase \
    --include="$(IFS=,; echo "${packages[*]}")" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --customize-hook="chroot \"\$1\" groupadd --gid $lab_uid lab" \
    --customize-hook="chroot \"\$1\" useradd --uid $lab_uid --gid $lab_uid --create-home --shell /usr/sbin/nologin lab" \
    --customize-hook=': > "$1/etc/resolv.conf"; echo localhost > "$1/etc/hostname"' \
    "$suite" "$rootfs"
log "mmdebstrap took $((SECONDS - start)) s; tarball $(du -h "$rootfs" | cut -f1)"

# An imported image has no config at all: PATH, locale and CMD must be set here.
# PYTHONUNBUFFERED: logs reach `docker logs` at once (log-based waits depend on it).
# PYTHONDONTWRITEBYTECODE: no __pycache__ written into read-only or COPYed trees.
log "docker import -> $tag"
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PYTHONUNBUFFERED=1' \
    --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
    --change "LABEL org.opencontainers.image.title=socketlab-base org.opencontainers.image.description=\"Debian $suite minbase with python3 and network tools\" org.opencontainers.image.created=$created" \
    --change 'CMD ["python3"]' \
    --message "socketlab base: mmdebstrap $suite minbase" \
    "$rootfs" "$tag" >/dev/null

new_id="$(docker image inspect --format '{{.Id}}' "$tag")"
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
    # The previous build is now untagged; drop it unless images built on it still need it.
    if docker image rm "$old_id" >/dev/null 2>&1; then
        log "removed the previous $tag ($old_id)"
    else
        log "kept the previous $tag ($old_id): images built from it still use it"
    fi
fi
log "built $tag: $(docker image inspect --format '{{.Id}} {{.Size}} bytes' "$tag") in $((SECONDS - start)) s"
docker run --rm --network none "$tag" sh -c \
    'printf "build-base: check: %s, user %s\n" "$(python3 --version)" "$(id lab)"' >&2
