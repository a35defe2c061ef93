#!/usr/bin/env bash
# Make sure a Docker engine (plus docker-compose v1 and debootstrap) is
# available on this machine, installing and starting what is missing.
#
# Idempotent: when everything is already installed and dockerd answers, it
# returns within a second.  Designed for Debian 12 (bookworm) build/CI
# machines, run as root; there is no systemd, so dockerd is started detached
# with setsid and logs to $DOCKERD_LOG.
#
# Environment knobs:
#   DOCKER              docker client to use (default /usr/bin/docker: the
#                       Debian 20.10 client; /usr/local/bin/docker lacks buildx)
#   DOCKERD_LOG         dockerd log file (default /var/log/dockerd.log)
#   DOCKERD_WAIT        seconds to wait for dockerd to answer (default 60)
#   DOCKERD_PIDFILE     the default engine's pid file (default /var/run/docker.pid)
#   ENSURE_DOCKER_PACKAGES  apt packages to ensure
#                       (default "docker.io docker-compose debootstrap")
set -euo pipefail

DOCKER="${DOCKER:-/usr/bin/docker}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
DOCKERD_WAIT="${DOCKERD_WAIT:-60}"
PACKAGES="${ENSURE_DOCKER_PACKAGES:-docker.io docker-compose debootstrap}"

log() { printf 'ensure-docker: %s\n' "$*" >&2; }
die() { printf 'ensure-docker: ERROR: %s\n' "$*" >&2; exit 1; }

docker_answers() { [ -x "$DOCKER" ] && "$DOCKER" info >/dev/null 2>&1; }

missing_packages() {
    local pkg status
    for pkg in $PACKAGES; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
        [ "$status" = "installed" ] || printf '%s ' "$pkg"
    done
}

# Is the default engine's dockerd alive (zombies do not count)?  By its pid file
# (/var/run/docker.pid, dockerd's default), not by name: other engines on this
# machine (a test swarm's nodes, with pid files of their own) are not this one.
# Reads /proc, as procps/pgrep may be missing on a minimal machine.
DOCKERD_PIDFILE="${DOCKERD_PIDFILE:-/var/run/docker.pid}"
dockerd_running() {
    local pid _pid comm state
    pid="$(cat "$DOCKERD_PIDFILE" 2>/dev/null)" || return 1
    read -r _pid comm state _ 2>/dev/null <"/proc/$pid/stat" || return 1
    [ "$comm" = "(dockerd)" ] && [ "$state" != "Z" ] && [ "$state" != "X" ]
}

need_root() {
    [ "$(id -u)" -eq 0 ] || die "$1 requires root (re-run as root, e.g. with sudo)"
}

# 1. Packages (cheap dpkg-query check; apt only when something is missing).
missing="$(missing_packages)"
if [ -n "$missing" ]; then
    need_root "installing packages ($missing)"
    log "installing missing packages: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
    missing="$(missing_packages)"
    [ -z "$missing" ] || die "packages still missing after apt-get install: $missing"
fi

# 2. Engine.
if docker_answers; then
    exit 0
fi

if dockerd_running; then
    # A dockerd exists but does not answer yet (still starting?): do not start
    # a second one, just wait for it below.
    log "dockerd is running but not answering yet; waiting up to ${DOCKERD_WAIT}s"
else
    need_root "starting dockerd"
    command -v dockerd >/dev/null 2>&1 || die "dockerd not found on PATH"
    log "starting dockerd (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    # Fully detached: own session, no stdin, output to the log file, so it
    # survives this script (and does not hold the caller's pipes open).
    # setsid execs dockerd in place, so $! is dockerd's pid.
    started_pid="$(setsid dockerd </dev/null >>"$DOCKERD_LOG" 2>&1 & echo $!)"
fi

# alive = exists and is not a zombie
pid_alive() {
    local _pid _comm state _
    read -r _pid _comm state _ 2>/dev/null <"/proc/$1/stat" || return 1
    [ "$state" != "Z" ] && [ "$state" != "X" ]
}

deadline=$(( SECONDS + DOCKERD_WAIT ))
until docker_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        log "last lines of $DOCKERD_LOG:"
        tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
        die "dockerd did not answer '$DOCKER info' within ${DOCKERD_WAIT}s"
    fi
    if [ -n "${started_pid:-}" ]; then alive() { pid_alive "$started_pid"; }; else alive() { dockerd_running; }; fi
    if ! alive; then
        log "last lines of $DOCKERD_LOG:"
        tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
        die "dockerd exited during start-up"
    fi
    sleep 1
done
log "dockerd is up ($("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
