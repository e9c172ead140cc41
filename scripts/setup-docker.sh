#!/usr/bin/env bash
# Make a Docker Engine and the image `python:3.11-slim` available on this machine.
#
# * When `docker info` fails: install Debian's docker.io (if dockerd is missing) and start
#   `dockerd --bridge=none --iptables=false`, fully detached, logging to $DOCKERD_LOG.
# * When `python:3.11-slim` is absent: try `docker pull`; when the registry cannot be
#   reached, build a stand-in (Debian bookworm minbase + python3, i.e. Python 3.11) with
#   debootstrap and `docker import` it under that tag. The stand-in is kept.
#
# Idempotent and quick when everything is there. Needs root for the installing parts.
# Environment:
#   DOCKERD_LOG      dockerd's log file            (default /var/log/medperf-dockerd.log)
#   DOCKER_WAIT_S    seconds to wait for dockerd   (default 60)
#   PULL_TIMEOUT_S   seconds for `docker pull`     (default 20)
#   DEBIAN_MIRROR    mirror for debootstrap        (default: detected from apt sources)
#   IMAGE            image to provide              (default python:3.11-slim)
set -euo pipefail

IMAGE="${IMAGE:-python:3.11-slim}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/medperf-dockerd.log}"
DOCKER_WAIT_S="${DOCKER_WAIT_S:-60}"
PULL_TIMEOUT_S="${PULL_TIMEOUT_S:-20}"
SUITE="bookworm"
export DEBIAN_FRONTEND=noninteractive

say() { printf 'setup-docker: %s\n' "$*"; }
die() { printf 'setup-docker: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        die "need root to run: $*"
    fi
}

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        as_root apt-get update -qq </dev/null
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    as_root apt-get install -y -qq --no-install-recommends "$@" </dev/null >/dev/null
}

# ---------------------------------------------------------------- engine
ensure_engine() {
    local t0
    t0=$(now)
    if docker info >/dev/null 2>&1; then
        say "Docker Engine already running ($(elapsed "$t0") s)"
        return
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        apt_install docker.io
        say "installed docker.io ($(elapsed "$t0") s)"
    fi
    command -v docker >/dev/null 2>&1 || apt_install docker.io
    local cmd=(dockerd --bridge=none --iptables=false)
    if pgrep -x dockerd >/dev/null 2>&1; then
        say "dockerd is already running; waiting for it to answer"
        wait_for_engine "$t0"
        return
    fi
    say "starting: ${cmd[*]} (log: $DOCKERD_LOG)"
    as_root mkdir -p "$(dirname "$DOCKERD_LOG")"
    # Fully detached: new session, no stdin, stdout/stderr to the log only, so that the
    # caller's pipes (pytest, CI) are never held open by dockerd.
    if [ "$(id -u)" -eq 0 ]; then
        # (9>&-: the set-up lock must not be inherited by dockerd)
        nohup setsid "${cmd[@]}" </dev/null >>"$DOCKERD_LOG" 2>&1 9>&- &
    else
        sudo -n sh -c "nohup setsid ${cmd[*]} </dev/null >>'$DOCKERD_LOG' 2>&1 &" \
            </dev/null >/dev/null 2>&1 9>&-
    fi
    disown 2>/dev/null || true
    wait_for_engine "$t0"
}

wait_for_engine() {
    local deadline=$((SECONDS + DOCKER_WAIT_S))
    until docker info >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
            die "the Docker Engine did not answer within ${DOCKER_WAIT_S} s" \
                "(is this user allowed to use /var/run/docker.sock? see $DOCKERD_LOG)"
        fi
        sleep 0.5
    done
    say "Docker Engine is up ($(elapsed "$1") s)"
}

# ---------------------------------------------------------------- image
detect_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then
        printf '%s\n' "$DEBIAN_MIRROR"
        return
    fi
    local files=() f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources; do
        if [ -f "$f" ]; then files+=("$f"); fi
    done
    if [ "${#files[@]}" -gt 0 ]; then
        # deb822 "URIs:" lines and one-line "deb URI suite ..." entries; take the first
        # main Debian archive (not -security, not third-party).
        uri=$(
            {
                grep -hE '^[[:space:]]*URIs:' "${files[@]}" 2>/dev/null \
                    | sed -E 's/^[[:space:]]*URIs:[[:space:]]*//' | tr ' ' '\n'
                grep -hE '^[[:space:]]*deb[[:space:]]' "${files[@]}" 2>/dev/null \
                    | sed -E 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//' \
                    | awk '{print $1}'
            } | grep -E '/debian/?$' | grep -v -- '-security' | head -n 1
        ) || true
        if [ -n "$uri" ]; then
            printf '%s\n' "${uri%/}"
            return
        fi
    fi
    printf '%s\n' "http://deb.debian.org/debian"
}

build_stand_in() {
    local t0 mirror tmp rootfs
    t0=$(now)
    if ! command -v debootstrap >/dev/null 2>&1; then
        apt_install debootstrap
        say "installed debootstrap ($(elapsed "$t0") s)"
    fi
    mirror=$(detect_mirror)
    tmp=$(mktemp -d /var/tmp/medperf-rootfs.XXXXXX)
    # shellcheck disable=SC2064
    trap "as_root rm -rf '$tmp'" EXIT
    rootfs="$tmp/rootfs"
    say "debootstrap --variant=minbase --include=python3 $SUITE (mirror $mirror)"
    if ! as_root debootstrap --variant=minbase --include=python3 "$SUITE" "$rootfs" "$mirror" \
        </dev/null >"$tmp/debootstrap.log" 2>&1; then
        tail -n 30 "$tmp/debootstrap.log" >&2 || true
        die "debootstrap failed (mirror $mirror)"
    fi
    say "debootstrap done ($(elapsed "$t0") s)"
    # `python` as well as `python3`, like the official image.
    if [ ! -e "$rootfs/usr/bin/python" ]; then as_root ln -s python3 "$rootfs/usr/bin/python"; fi
    # Slim it down: apt caches and docs are not needed in the image.
    as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
    say "docker import -> $IMAGE"
    as_root tar -C "$rootfs" --numeric-owner -c . | docker import \
        --change 'CMD ["python3"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
        --change 'LABEL org.medperf-action.stand-in=debootstrap-bookworm-minbase-python3' \
        - "$IMAGE" >/dev/null
    as_root rm -rf "$tmp"
    trap - EXIT
    say "built stand-in $IMAGE ($(elapsed "$t0") s)"
}

ensure_image() {
    local t0
    t0=$(now)
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        say "image $IMAGE present ($(elapsed "$t0") s)"
        return
    fi
    say "pulling $IMAGE (timeout ${PULL_TIMEOUT_S} s)"
    if timeout "$PULL_TIMEOUT_S" docker pull "$IMAGE" </dev/null >/dev/null 2>&1; then
        say "pulled $IMAGE ($(elapsed "$t0") s)"
        return
    fi
    say "pull failed ($(elapsed "$t0") s); building a stand-in with debootstrap"
    build_stand_in
}

main() {
    local t0
    t0=$(now)
    # One set-up at a time (several test sessions may start at once).
    local lock="${LOCK_FILE:-/tmp/medperf-setup-docker.lock}"
    if command -v flock >/dev/null 2>&1 && { exec 9>>"$lock"; } 2>/dev/null; then
        flock -w 900 9 || die "another setup-docker.sh has held the lock for 15 minutes"
    fi
    ensure_engine
    ensure_image
    say "$IMAGE = $(docker image inspect --format '{{.Id}}' "$IMAGE")"
    say "done ($(elapsed "$t0") s)"
}

main "$@"
