#!/bin/sh
# Run once in every service image, as root, at build time: install only what the base image
# lacks, and make the unprivileged user `lab` the services run as.
#
# On socketlab/base (services/base/build-base.sh) everything is already there, so this touches
# no network and the images build with `--network none`. On another base (BASE_IMAGE=
# python:3.12-slim, with a registry) it apt-gets the gaps. The tools are the lab user's, for the
# exercises run inside the containers: ip, ping, nc, curl, ps (the process tree of
# multiprocess-web), tcpdump and dig.
set -eu

missing=""
need() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need python3 python3
need ip iproute2
need ping iputils-ping
need nc netcat-openbsd
need curl curl
need ps procps
need tcpdump tcpdump
need dig dnsutils
test -e /etc/ssl/certs/ca-certificates.crt || missing="$missing ca-certificates"

if [ -n "$missing" ]; then
    echo "lab-tools: installing what the base lacks:$missing"
    apt-get update
    # $missing is a list of package names: word splitting is wanted here.
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
    rm -rf /var/lib/apt/lists/*
fi

# The same uid as the base's `lab`, so files mounted from the host read the same everywhere.
id lab >/dev/null 2>&1 || useradd --uid 10001 --create-home --shell /usr/sbin/nologin lab
