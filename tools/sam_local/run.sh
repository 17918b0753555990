#!/usr/bin/env bash
# make sam-local-test: the functions under SAM's own local tooling (sam local invoke, sam local
# start-api), on a machine with no registry but Debian's and PyPI's and no Docker image to pull.
#
#  1. A container engine: a running Docker daemon is reused ($DOCKER_HOST, else
#     /var/run/docker.sock); otherwise Debian's docker.io is installed if dockerd is missing and
#     a private dockerd is started (own data root, exec root, pid file and socket; no iptables,
#     no masquerading, no IP forwarding: containers reach this machine only) and stopped again,
#     by its PID, when this script ends (success, failure, INT or TERM), and the docker0 bridge
#     it created is removed.
#  2. The Lambda base image SAM asks for (public.ecr.aws/lambda/python:3.13-x86_64), built
#     offline unless present: a debootstrap'ed Debian trixie (Python 3.13) plus the PyPI
#     packages awslambdaric and boto3 and a /var/runtime/bootstrap; SAM adds its own runtime
#     interface emulator on top. The root file system is cached as a tarball in .cache/sam-local/.
#  3. tools/sam_local/check.py: sam build, a moto server, every sample in events/
#     through sam local invoke, then sam local start-api with real HTTP requests; it prints a
#     summary and exits non-zero on any mismatch.
#
# Needs root unless a Docker daemon is already usable. Environment knobs (all optional):
#   SAM_LOCAL_CACHE          cache directory (default .cache/sam-local)
#   SAM_LOCAL_DEBIAN_MIRROR  Debian mirror for debootstrap (default: the one apt uses)
#   SAM_LOCAL_REBUILD_IMAGE=1  rebuild the base image and its cached root file system
#   SAM_LOCAL_JOBS           sam local invoke processes at a time (default 2)
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"

PY="$REPO/.venv/bin/python"
SAM="$REPO/.venv-sam/bin/sam"
CACHE="${SAM_LOCAL_CACHE:-$REPO/.cache/sam-local}"
RUN_DIR="$CACHE/run"             # logs of this run (replaced by the next)

IMAGE="public.ecr.aws/lambda/python:3.13-x86_64"
SUITE="trixie"                   # Debian 13: Python 3.13, as the Lambda runtime python3.13
AWSLAMBDARIC_VERSION="4.2.2"
# boto3 as pinned for the project (the Lambda runtime ships boto3; the layer does not)
BOTO3_VERSION="$(sed -n 's/^ *"boto3==\([^"]*\)".*/\1/p' pyproject.toml | head -1)"

# The private daemon: nothing shared with a system Docker.
DOCKERD_RUN="/run/acd-sam-local"
DOCKERD_SOCK="unix://$DOCKERD_RUN/docker.sock"
DOCKERD_PIDFILE="$DOCKERD_RUN/dockerd.pid"
DOCKERD_DATA="/var/lib/acd-sam-local/docker"

DOCKERD_PID=""                   # set only for a dockerd this script started
BRIDGE_CREATED=""                # docker0 did not exist before that dockerd created it
DRIVER_PID=""
T0=$SECONDS

say() { printf '[sam-local %4ds] %s\n' "$((SECONDS - T0))" "$*"; }
die() { printf '[sam-local] ERROR: %s\n' "$*" >&2; exit 1; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$DRIVER_PID" ] && kill -0 "$DRIVER_PID" 2>/dev/null; then
        kill -TERM "$DRIVER_PID" 2>/dev/null || true
        wait "$DRIVER_PID" 2>/dev/null || true
    fi
    if [ -n "$DOCKERD_PID" ]; then
        say "stopping dockerd (PID $DOCKERD_PID)"
        kill -TERM "$DOCKERD_PID" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$DOCKERD_PID" 2>/dev/null; then
            say "dockerd did not stop in 30 s: killing PID $DOCKERD_PID"
            kill -KILL "$DOCKERD_PID" 2>/dev/null || true
        fi
        wait "$DOCKERD_PID" 2>/dev/null || true
        if [ -n "$BRIDGE_CREATED" ] && ip link show docker0 >/dev/null 2>&1; then
            ip link delete docker0 2>/dev/null || true
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

docker_ok() { timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

as_root() {
    [ "$(id -u)" = 0 ] || die "$* needs root (or start a Docker daemon yourself and set DOCKER_HOST)"
}

apt_install() {
    as_root "installing $*"
    say "installing $* from Debian"
    local policy=/usr/sbin/policy-rc.d added=""
    # No service may start from the package's maintainer scripts: the daemon is started below.
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added=1
    fi
    local rc=0
    { DEBIAN_FRONTEND=noninteractive apt-get update -q \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; } \
        >"$RUN_DIR/apt.log" 2>&1 || rc=$?
    [ -z "$added" ] || rm -f "$policy"
    [ "$rc" = 0 ] || { tail -30 "$RUN_DIR/apt.log" >&2; die "apt-get install $* failed (log: $RUN_DIR/apt.log)"; }
}

start_dockerd() {
    local driver=$1
    rm -f "$DOCKERD_RUN/docker.sock"
    dockerd --host "$DOCKERD_SOCK" --pidfile "$DOCKERD_PIDFILE" \
        --data-root "$DOCKERD_DATA" --exec-root "$DOCKERD_RUN/exec" \
        --storage-driver "$driver" \
        --iptables=false --ip-masq=false --ip-forward=false \
        >>"$RUN_DIR/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 120); do
        if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
            wait "$DOCKERD_PID" 2>/dev/null || true
            DOCKERD_PID=""
            return 1
        fi
        if docker_ok; then return 0; fi
        sleep 0.5
    done
    say "dockerd ($driver) not ready after 60 s"
    kill -TERM "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
    DOCKERD_PID=""
    return 1
}

ensure_engine() {
    if [ -n "${DOCKER_HOST:-}" ] && docker_ok; then
        say "reusing the Docker daemon at DOCKER_HOST=$DOCKER_HOST"
        return
    fi
    if [ -S /var/run/docker.sock ] && DOCKER_HOST=unix:///var/run/docker.sock docker_ok; then
        export DOCKER_HOST=unix:///var/run/docker.sock
        say "reusing the Docker daemon at $DOCKER_HOST"
        return
    fi
    export DOCKER_HOST="$DOCKERD_SOCK"
    if [ -s "$DOCKERD_PIDFILE" ] && kill -0 "$(cat "$DOCKERD_PIDFILE")" 2>/dev/null && docker_ok; then
        say "reusing this script's dockerd left running by an interrupted run (PID $(cat "$DOCKERD_PIDFILE"); not stopped here)"
        return
    fi
    command -v dockerd >/dev/null 2>&1 || apt_install docker.io
    command -v docker >/dev/null 2>&1 || die "docker CLI missing although dockerd is installed"
    as_root "starting dockerd"
    mkdir -p "$DOCKERD_RUN" "$DOCKERD_DATA"
    if command -v ip >/dev/null 2>&1 && ! ip link show docker0 >/dev/null 2>&1; then BRIDGE_CREATED=1; fi
    if start_dockerd overlay2; then
        say "dockerd started (PID $DOCKERD_PID, overlay2, $DOCKER_HOST)"
    elif start_dockerd vfs; then
        say "dockerd started (PID $DOCKERD_PID, vfs: overlay2 failed, see $RUN_DIR/dockerd.log)"
    else
        tail -30 "$RUN_DIR/dockerd.log" >&2
        die "dockerd did not start (log: $RUN_DIR/dockerd.log)"
    fi
}

# The Debian mirror apt is configured with (one-line or deb822 sources), for debootstrap.
debian_mirror() {
    if [ -n "${SAM_LOCAL_DEBIAN_MIRROR:-}" ]; then echo "$SAM_LOCAL_DEBIAN_MIRROR"; return; fi
    local found
    found="$({
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; break } }'
        cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
            | awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }'
    } | grep -E '^[a-z+]+://[^ ]*/debian/?$' | head -1 || true)"
    echo "${found:-http://deb.debian.org/debian}"
}

# shellcheck disable=SC2016  # $_HANDLER is for the container to expand
BOOTSTRAP='#!/bin/sh
# Lambda bootstrap: the runtime interface client (PyPI awslambdaric) serves $_HANDLER.
exec /usr/bin/python3 -m awslambdaric "$_HANDLER"
'
# As in the official image: task root first, then layers, runtime packages, runtime client.
IMAGE_CHANGES=(
    'ENV LANG=C.UTF-8'
    'ENV TZ=:/etc/localtime'
    'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin'
    'ENV LAMBDA_TASK_ROOT=/var/task'
    'ENV LAMBDA_RUNTIME_DIR=/var/runtime'
    'ENV PYTHONPATH=/var/task:/opt/python/lib/python3.13/site-packages:/opt/python:/var/lang/lib/python3.13/site-packages:/var/runtime'
    'WORKDIR /var/task'
    'ENTRYPOINT ["/var/runtime/bootstrap"]'
)

pip_into() {  # $1: target directory of the image's root file system, then requirements
    local target=$1; shift
    "$PY" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
        --only-binary=:all: --implementation cp --python-version 3.13 --abi cp313 \
        --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
        --target "$target" "$@" >>"$RUN_DIR/pip.log" 2>&1 \
        || { tail -30 "$RUN_DIR/pip.log" >&2; die "pip install $* failed (log: $RUN_DIR/pip.log)"; }
}

build_rootfs() {  # $1: the tarball to write
    local tarball=$1 mirror rootfs
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    as_root "debootstrap"
    mirror="$(debian_mirror)"
    rootfs="$CACHE/rootfs.tmp"
    rm -rf "$rootfs"
    say "debootstrap --variant=minbase --include=python3 $SUITE from $mirror"
    debootstrap --variant=minbase --include=python3 "$SUITE" "$rootfs" "$mirror" \
        >"$RUN_DIR/debootstrap.log" 2>&1 \
        || { tail -30 "$RUN_DIR/debootstrap.log" >&2; die "debootstrap failed (log: $RUN_DIR/debootstrap.log)"; }
    chroot "$rootfs" python3 --version 2>&1 | grep -q '^Python 3\.13\.' \
        || die "$SUITE's python3 is not Python 3.13: $(chroot "$rootfs" python3 --version 2>&1)"
    say "pip: awslambdaric==$AWSLAMBDARIC_VERSION, boto3==$BOTO3_VERSION (cp313 manylinux wheels)"
    pip_into "$rootfs/var/runtime" "awslambdaric==$AWSLAMBDARIC_VERSION"
    pip_into "$rootfs/var/lang/lib/python3.13/site-packages" "boto3==$BOTO3_VERSION"
    printf '%s' "$BOOTSTRAP" >"$rootfs/var/runtime/bootstrap"
    chmod 755 "$rootfs/var/runtime/bootstrap"
    mkdir -p "$rootfs/var/task" "$rootfs/opt"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
    tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
}

ensure_image() {
    # Everything that goes into the image names it: a change rebuilds.
    local key tarball marker
    key="$(printf '%s\n' "$SUITE" "$AWSLAMBDARIC_VERSION" "$BOTO3_VERSION" "$BOOTSTRAP" \
        "${IMAGE_CHANGES[@]}" | sha256sum | cut -c1-16)"
    tarball="$CACHE/lambda-python3.13-rootfs-$key.tar"
    marker="$(docker image inspect "$IMAGE" --format '{{range .Config.Env}}{{println .}}{{end}}' 2>/dev/null \
        | sed -n 's/^ACD_SAM_LOCAL_BASE=//p' || true)"
    if [ "${SAM_LOCAL_REBUILD_IMAGE:-}" = 1 ]; then
        rm -f "$tarball"; marker="rebuild"
    elif [ "$marker" = "$key" ]; then
        say "base image $IMAGE is current ($key)"
        return
    elif [ -z "$marker" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
        say "using the existing $IMAGE (not built here: left as it is)"
        return
    fi
    if [ -f "$tarball" ]; then
        say "base image from the cached root file system $(basename "$tarball")"
    else
        build_rootfs "$tarball"
        find "$CACHE" -maxdepth 1 -name 'lambda-python3.13-rootfs-*.tar' ! -name "$(basename "$tarball")" -delete
    fi
    local changes=()
    for change in "${IMAGE_CHANGES[@]}" "ENV ACD_SAM_LOCAL_BASE=$key"; do changes+=(--change "$change"); done
    docker import "${changes[@]}" "$tarball" "$IMAGE" >/dev/null
    say "imported $IMAGE ($key)"
}

# This machine's address on Docker's default bridge: where containers reach it.
bridge_gateway() {
    local gateway device
    gateway="$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)"
    if [ -z "$gateway" ]; then  # a new default bridge may not list its gateway: ask the interface
        device="$(docker network inspect bridge --format '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null || true)"
        gateway="$(ip -4 -o addr show dev "${device:-docker0}" 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }')"
    fi
    echo "${gateway%%/*}"
}

main() {
    [ -x "$PY" ] || die "$PY missing: run 'make setup'"
    [ -x "$SAM" ] || die "$SAM missing: run 'make sam-setup'"
    command -v python3.13 >/dev/null 2>&1 || die "python3.13 not on PATH (sam build needs it): run through 'make sam-local-test'"
    [ -n "$BOTO3_VERSION" ] || die "no boto3==X pin found in pyproject.toml"
    mkdir -p "$CACHE"
    rm -rf "$RUN_DIR" && mkdir -p "$RUN_DIR"
    ensure_engine
    ensure_image
    local gateway
    gateway="$(bridge_gateway)"
    [ -n "$gateway" ] || die "no IPv4 address for this machine on Docker's default bridge network"
    say "containers reach this machine at $gateway (Docker's default bridge)"
    "$PY" -m sam_local.check --sam "$SAM" --gateway "$gateway" --work-dir "$RUN_DIR" \
        --jobs "${SAM_LOCAL_JOBS:-2}" &
    DRIVER_PID=$!
    local rc=0
    wait "$DRIVER_PID" || rc=$?
    DRIVER_PID=""
    say "done (exit $rc)"
    return "$rc"
}

main "$@"
