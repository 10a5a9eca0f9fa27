#!/usr/bin/env bash
# Install the tools a target runs, when one is missing.
#   scripts/install-tools.sh LABEL COMMAND:PACKAGE... COMMAND:crate=CRATE@VERSION...
# e.g. scripts/install-tools.sh bench wrk:wrk ab:apache2-utils oha:crate=oha@1.16.0
#
# COMMAND:PACKAGE is a Debian package, installed with apt-get when COMMAND is not on PATH.
#
# Installing nginx must not start Debian's nginx on port 80: a policy-rc.d that says 101
# ("action forbidden") stops the package scripts from starting any service, and is removed
# afterwards (only if this script put it there).
#
# COMMAND:crate=CRATE@VERSION is a Rust crate, built with `cargo install --locked` at exactly
# VERSION into the project's own tool directory ($SOCKETLAB_TOOLS_DIR, default .tools/ of the
# checkout; never ~/.cargo/bin), where the bench looks for it (.tools/bin/COMMAND). Building
# oha takes minutes of two cores, so the build is kept in a cache outside the checkout,
# ${XDG_CACHE_HOME:-~/.cache}/socketlab/crates/CRATE-VERSION-ARCH (the version and the machine
# in the key: a new pin builds anew, an old one is never reused for it); a fresh clone on the
# same machine copies the binary from there in a moment. (oha 1.16.0 does not build without
# its default features, so its TLS stack is compiled too, although the bench speaks plain HTTP.)
set -euo pipefail

label=$1
shift
here=$(cd "$(dirname "$0")/.." && pwd)
tools_dir=${SOCKETLAB_TOOLS_DIR:-$here/.tools}
cache_dir=${XDG_CACHE_HOME:-$HOME/.cache}/socketlab/crates

missing=""
crates=()
for pair in "$@"; do
    command=${pair%%:*}
    package=${pair#*:}
    if [[ $package == crate=* ]]; then
        spec=${package#crate=}
        # Present at the pinned version already: nothing to do (`oha --version` says "oha 1.16.0").
        if [[ -x $tools_dir/bin/$command ]] &&
            "$tools_dir/bin/$command" --version 2>/dev/null | grep -qw -- "${spec#*@}"; then
            continue
        fi
        crates+=("$command $spec")
    else
        command -v "$command" >/dev/null 2>&1 || missing="$missing $package"
    fi
done

if [[ -n "$missing" ]]; then
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
    [[ $status -eq 0 ]] || exit "$status"
fi

for entry in "${crates[@]}"; do
    read -r command spec <<< "$entry"
    crate=${spec%@*}
    version=${spec#*@}
    if [[ $crate == "$spec" || -z $version ]]; then
        echo "$label: '$spec' must be CRATE@VERSION (a pinned version)" >&2
        exit 2
    fi
    cached=$cache_dir/$crate-$version-$(uname -m)
    if [[ ! -x $cached/bin/$command ]]; then
        if ! command -v cargo >/dev/null 2>&1; then
            echo "$label: $command needs cargo to build $crate $version (install Rust's cargo)" >&2
            exit 1
        fi
        echo "$label: building $crate $version with cargo (a few minutes, once per machine; cache $cached)"
        building=$cached.building.$$
        rm -rf "$building"
        started=$SECONDS
        # The build directory is the cache entry's own, so that nothing lands in the checkout
        # and a failed build leaves no entry behind (the rename below is the commit).
        cargo install --locked --quiet --version "$version" \
            --root "$building" --target-dir "$building/target" "$crate"
        rm -rf "$building/target" "$building/.crates.toml" "$building/.crates2.json"
        rm -rf "$cached"
        mv "$building" "$cached"
        echo "$label: built $crate $version in $((SECONDS - started)) s"
    fi
    mkdir -p "$tools_dir/bin"
    install -m 0755 "$cached/bin/$command" "$tools_dir/bin/$command"
    echo "$label: $command $version in $tools_dir/bin (from $cached)"
done
