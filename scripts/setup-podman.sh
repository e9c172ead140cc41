#!/usr/bin/env bash
# Make a rootless Podman engine, with its Docker-compatible API on a unix socket, available
# on this machine, as a hospital without a Docker daemon would run it. Run as root.
#
# * Installs Debian's podman, uidmap (newuidmap/newgidmap), fuse-overlayfs and slirp4netns
#   when podman is missing.
# * Creates the unprivileged user $PODMAN_USER (default medperf-podman) and gives it 65536
#   subordinate uids and gids (/etc/subuid, /etc/subgid) when it has none.
# * Starts `podman system service --time=0 unix:///run/user/UID/podman.sock` as that user,
#   fully detached (log: $PODMAN_LOG), with XDG_RUNTIME_DIR=/run/user/UID, unless the socket
#   answers already.
# * Gives that engine the image $IMAGE (default python:3.11-slim) from the Docker Engine
#   (`docker save | podman load`; scripts/setup-docker.sh provides it there), as there may be
#   no network to pull from, under the name docker.io/library/$IMAGE.
#
# Idempotent and quick when everything is there. Prints the DOCKER_HOST to use last.
# Environment:
#   PODMAN_USER    the engine's user                       (default medperf-podman)
#   PODMAN_LOG     the service's log file                  (default /var/log/medperf-podman.log)
#   PODMAN_WAIT_S  seconds to wait for the socket          (default 60)
#   IMAGE          image to provide                        (default python:3.11-slim)
set -euo pipefail

PODMAN_USER="${PODMAN_USER:-medperf-podman}"
PODMAN_LOG="${PODMAN_LOG:-/var/log/medperf-podman.log}"
PODMAN_WAIT_S="${PODMAN_WAIT_S:-60}"
IMAGE="${IMAGE:-python:3.11-slim}"
SUB_COUNT=65536
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/.."

say() { printf 'setup-podman: %s\n' "$*"; }
die() { printf 'setup-podman: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and creates a user)"

ensure_packages() {
    local missing=()
    command -v podman >/dev/null 2>&1 || missing+=(podman)
    command -v newuidmap >/dev/null 2>&1 || missing+=(uidmap)
    command -v fuse-overlayfs >/dev/null 2>&1 || missing+=(fuse-overlayfs)
    command -v slirp4netns >/dev/null 2>&1 || missing+=(slirp4netns)
    if [ "${#missing[@]}" -eq 0 ]; then
        say "podman $(podman --version | awk '{print $3}') installed"
        return
    fi
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install ${missing[*]} by hand"
    say "apt-get install ${missing[*]}"
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
}

# The first free start of $SUB_COUNT ids at or above 100000 in /etc/subuid or /etc/subgid.
free_start() {
    awk -F: -v n="$SUB_COUNT" 'BEGIN { s = 100000 }
        NF == 3 && $2 + $3 > s { s = $2 + $3 } END { print s }' "$1"
}

ensure_user() {
    if ! id "$PODMAN_USER" >/dev/null 2>&1; then
        say "useradd $PODMAN_USER (unprivileged, no password, no login shell)"
        useradd --create-home --shell /usr/sbin/nologin "$PODMAN_USER"
    fi
    local file start
    for file in /etc/subuid /etc/subgid; do
        touch "$file"
        if ! grep -q "^$PODMAN_USER:" "$file"; then
            start=$(free_start "$file")
            say "$file: $PODMAN_USER:$start:$SUB_COUNT"
            printf '%s:%s:%s\n' "$PODMAN_USER" "$start" "$SUB_COUNT" >>"$file"
        fi
    done
    PODMAN_UID=$(id -u "$PODMAN_USER")
    RUNTIME_DIR="/run/user/$PODMAN_UID"
    SOCKET="$RUNTIME_DIR/podman.sock"
    if [ ! -d "$RUNTIME_DIR" ]; then
        say "mkdir $RUNTIME_DIR (its XDG_RUNTIME_DIR)"
        mkdir -p "$RUNTIME_DIR"
        chown "$PODMAN_USER:" "$RUNTIME_DIR"
        chmod 0700 "$RUNTIME_DIR"
    fi
    HOME_DIR=$(getent passwd "$PODMAN_USER" | cut -d: -f6)
    ensure_storage
}

# A new user's storage: overlay when the kernel mounts it in a user namespace (Linux 5.11+;
# no FUSE needed), else podman's own choice. vfs copies a whole image for every container.
ensure_storage() {
    local conf="$HOME_DIR/.config/containers/storage.conf" try
    local store="$HOME_DIR/.local/share/containers/storage"
    if [ -e "$conf" ] || [ -n "$(ls -A "$store" 2>/dev/null)" ]; then
        local driver
        driver=$(as_user podman info --format '{{.Store.GraphDriverName}}' 2>/dev/null || true)
        if [ "$driver" = "vfs" ]; then
            say "note: $PODMAN_USER's storage driver is vfs (every container copies its" \
                "image: slow); to switch, stop its service, run \`podman system reset -f\`" \
                "as $PODMAN_USER, empty $store and run this script again"
        fi
        return
    fi
    try=$(mktemp -d /var/tmp/medperf-podman-overlay.XXXXXX)
    chown "$PODMAN_USER:" "$try"
    if as_user podman --root "$try/root" --runroot "$try/run" --storage-driver overlay \
        info >/dev/null 2>&1; then
        say "$conf: driver overlay (native, in the user namespace)"
        as_user mkdir -p "$(dirname "$conf")"
        printf '[storage]\ndriver = "overlay"\n' | as_user tee "$conf" >/dev/null
    fi
    rm -rf "$try"
}

# podman as $PODMAN_USER, talking to its own service.
as_user() {
    (cd / && runuser -u "$PODMAN_USER" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        HOME="$HOME_DIR" XDG_RUNTIME_DIR="$RUNTIME_DIR" "$@")
}

answers() { as_user podman --url "unix://$SOCKET" version >/dev/null 2>&1; }

ensure_service() {
    if [ -S "$SOCKET" ] && answers; then
        say "the service already answers on $SOCKET"
        return
    fi
    say "starting: podman system service --time=0 unix://$SOCKET as $PODMAN_USER" \
        "(log: $PODMAN_LOG)"
    rm -f "$SOCKET"
    touch "$PODMAN_LOG"
    # Detached (new session, no stdin, output to the log only) so that the caller's pipes
    # are never held open, and 9>&- so that the set-up lock is not inherited.
    (cd / && exec nohup setsid runuser -u "$PODMAN_USER" -- env -i \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$HOME_DIR" XDG_RUNTIME_DIR="$RUNTIME_DIR" \
        podman system service --time=0 "unix://$SOCKET" \
        </dev/null >>"$PODMAN_LOG" 2>&1) 9>&- &
    disown 2>/dev/null || true
    local deadline=$((SECONDS + PODMAN_WAIT_S))
    until [ -S "$SOCKET" ] && answers; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 20 "$PODMAN_LOG" >&2 || true
            die "the podman service did not answer on $SOCKET within ${PODMAN_WAIT_S} s"
        fi
        sleep 0.5
    done
    say "the service answers on $SOCKET"
}

ensure_image() {
    local full="docker.io/library/$IMAGE"
    if as_user podman --url "unix://$SOCKET" image exists "$full"; then
        say "image $full present"
        return
    fi
    if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
        say "$IMAGE is not in the Docker Engine either: scripts/setup-docker.sh"
        scripts/setup-docker.sh
    fi
    say "docker save $IMAGE | podman load (as $PODMAN_USER)"
    docker save "$IMAGE" | as_user podman --url "unix://$SOCKET" load -q >/dev/null
    # `podman load` of an image named without a registry names it localhost/...
    if ! as_user podman --url "unix://$SOCKET" image exists "$full"; then
        as_user podman --url "unix://$SOCKET" tag "localhost/$IMAGE" "$full"
    fi
    say "image $full loaded"
}

report_limits() {
    local cgroup
    cgroup=$(stat -fc %T /sys/fs/cgroup 2>/dev/null || echo unknown)
    if [ "$cgroup" != "cgroup2fs" ]; then
        say "cgroup v1 here: a rootless engine cannot enforce memory or pids limits" \
            "(medperf-action says so when it runs)"
    fi
}

main() {
    local lock="${LOCK_FILE:-/tmp/medperf-setup-podman.lock}"
    if command -v flock >/dev/null 2>&1 && { exec 9>>"$lock"; } 2>/dev/null; then
        flock -w 900 9 || die "another setup-podman.sh has held the lock for 15 minutes"
    fi
    ensure_packages
    ensure_user
    ensure_service
    ensure_image
    report_limits
    say "done: DOCKER_HOST=unix://$SOCKET"
}

main "$@"
