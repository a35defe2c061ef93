#!/usr/bin/env bash
# Build the local stand-ins for the registry images the tests need (no
# container registry answers on the build/CI machines), and the project's hub
# image.  Idempotent: what is already built is reused, so a second run with
# unchanged inputs takes seconds.
#
# usage: images/build.sh [all|base|postgres|singleuser|nginx|hub|verify|list]...
#   all         (default) base, postgres, singleuser, workflow, slurm, nginx and hub
#   base        $TEST_IMAGE_PREFIX/debian:trixie, and debian:bookworm for the frozen
#               old environments (debootstrap minbase + docker import; stand-ins for
#               debian:<suite>-slim; skipped when the tag exists)
#   postgres    $TEST_IMAGE_PREFIX/postgres:17    (stand-in for postgres:17)
#   singleuser  $TEST_IMAGE_PREFIX/{base,md,pyiron,continuum,experimental,extra}:latest,
#               stand-ins for the public pyiron images (see singleuser/Dockerfile;
#               each environment's files are in singleuser/envs/<name>/)
#   workflow    $TEST_IMAGE_PREFIX/workflow:latest: images/workflow/Dockerfile, which admins
#               build on pyiron/base, built on singleuser's base (its layers are reused)
#   slurm       $TEST_IMAGE_PREFIX/slurm:latest, a one-node SLURM cluster with an SSH login
#               (slurm/Dockerfile); the environments submit to it as built (the hub lends
#               them paramiko, pyiron_hub_config/hub_packages.py)
#   nginx       $TEST_IMAGE_PREFIX/nginx:latest, Debian's nginx (nginx/Dockerfile), the reverse
#               proxy in front of compose.nginx.yml in the e2e tests
#   hub         $TEST_IMAGE_PREFIX/hub:latest from the repository's Dockerfile
#               (skipped with a message while there is no Dockerfile)
#   verify      smoke-test the built images (runs short-lived containers)
#   list        print the image names this script builds, one per line
#
# Environment knobs:
#   TEST_IMAGE_PREFIX   tag prefix (default pyiron-hub-test)
#   TEST_HUB_IMAGE      tag of the hub image (default $TEST_IMAGE_PREFIX/hub:latest)
#   TEST_BASE_IMAGE     base image of all the others (default
#                       $TEST_IMAGE_PREFIX/debian:$DEBIAN_SUITE, made by debootstrap;
#                       any other value must exist locally or be pullable,
#                       e.g. debian:trixie-slim where a registry answers)
#   TEST_BASE_IMAGE_<SUITE>  the same for the environments on another Debian release
#                       (singleuser/envs/<name>/debian-suite), e.g.
#                       TEST_BASE_IMAGE_BOOKWORM=debian:bookworm-slim
#                       (default $TEST_IMAGE_PREFIX/debian:<suite>, made by debootstrap)
#   DEBIAN_SUITE        default trixie;  DEBIAN_MIRROR  default http://deb.debian.org/debian
#   SINGLEUSER_ENVS     environments to build (default "base md pyiron continuum experimental extra")
#   CA_BUNDLE           CA bundle passed as build secret "ca" when it exists
#                       (default /etc/ssl/certs/ca-certificates.crt)
#   DOCKER              docker client (default /usr/bin/docker; /usr/local/bin/docker lacks buildx)
#   BUILD_VERBOSE=1     stream build output (default: to a log file, shown on failure)
#   BUILD_NO_CACHE=1    rebuild without the build cache (the base is still reused)
#   SKIP_ENSURE_DOCKER=1  do not run scripts/ensure-docker.sh first
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/.." && pwd)"

DOCKER="${DOCKER:-/usr/bin/docker}"
PREFIX="${TEST_IMAGE_PREFIX:-pyiron-hub-test}"
DEBIAN_SUITE="${DEBIAN_SUITE:-trixie}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BASE_IMAGE="${TEST_BASE_IMAGE:-$PREFIX/debian:$DEBIAN_SUITE}"
POSTGRES_IMAGE="$PREFIX/postgres:17"
HUB_IMAGE="${TEST_HUB_IMAGE:-$PREFIX/hub:latest}"
HOME_DIR=/home/jovyan
SINGLEUSER_ENVS="${SINGLEUSER_ENVS:-base md pyiron continuum experimental extra}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
LOG_DIR="${BUILD_LOG_DIR:-${TMPDIR:-/tmp}/pyiron-hub-test-images}"
LOCK_FILE="${BUILD_LOCK_FILE:-${TMPDIR:-/tmp}/pyiron-hub-test-images.lock}"

export DOCKER_BUILDKIT=1

SUMMARY=()
T_START=$SECONDS

log() { printf '[build.sh] %s\n' "$*" >&2; }
die() { printf '[build.sh] ERROR: %s\n' "$*" >&2; exit 1; }

image_id() { "$DOCKER" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# record "<image> <status> <seconds>" for the summary
record() {
    SUMMARY+=("$(printf '%-42s %-34s %5ss' "$1" "$2" "$3")")
    log "$1: $2 (${3}s)"
}

# usage: docker_build TAG CONTEXT [docker build args...]
docker_build() {
    local tag="$1" context="$2"
    shift 2
    local before after t0 logfile status
    local args=(build --progress=plain -t "$tag")
    if [ -f "$CA_BUNDLE" ]; then
        args+=(--secret "id=ca,src=$CA_BUNDLE")
    fi
    if [ "${BUILD_NO_CACHE:-0}" = 1 ]; then
        args+=(--no-cache)
    fi
    mkdir -p "$LOG_DIR"
    logfile="$LOG_DIR/$(printf '%s' "$tag" | tr '/:' '__').log"
    before="$(image_id "$tag")"
    t0=$SECONDS
    log "building $tag (log: $logfile)"
    if [ "${BUILD_VERBOSE:-0}" = 1 ]; then
        "$DOCKER" "${args[@]}" "$@" "$context" 2>&1 | tee "$logfile" >&2 || status=$?
    else
        "$DOCKER" "${args[@]}" "$@" "$context" >"$logfile" 2>&1 || status=$?
    fi
    if [ "${status:-0}" != 0 ]; then
        tail -n 60 "$logfile" >&2 || true
        die "building $tag failed (full log: $logfile)"
    fi
    after="$(image_id "$tag")"
    if [ -n "$before" ] && [ "$before" = "$after" ]; then
        record "$tag" "reused (unchanged)" $((SECONDS - t0))
    else
        record "$tag" "built" $((SECONDS - t0))
    fi
}

# the image to build an environment of Debian release $1 on
base_image_for() {
    local suite="$1" var
    if [ "$suite" = "$DEBIAN_SUITE" ]; then
        printf '%s\n' "$BASE_IMAGE"
    else
        var="TEST_BASE_IMAGE_$(printf '%s' "$suite" | tr '[:lower:]-' '[:upper:]_')"
        printf '%s\n' "${!var:-$PREFIX/debian:$suite}"
    fi
}

# the Debian release an environment is built on
env_suite() {
    local file="$HERE/singleuser/envs/$1/debian-suite"
    if [ -f "$file" ]; then tr -d '[:space:]' <"$file"; else printf '%s' "$DEBIAN_SUITE"; fi
}

BASES_DONE=" "
build_base() {  # the default base
    build_debian "$DEBIAN_SUITE" "$BASE_IMAGE"
}

build_all_bases() {  # the default base and those of the selected environments
    local env suite
    build_base
    for env in $SINGLEUSER_ENVS; do
        suite="$(env_suite "$env")"
        build_debian "$suite" "$(base_image_for "$suite")"
    done
}

# usage: build_debian SUITE IMAGE -- reuse, pull or debootstrap the base image
build_debian() {
    local suite="$1" image="$2"
    [[ "$BASES_DONE" != *" $image "* ]] || return 0
    BASES_DONE+="$image "
    local t0=$SECONDS
    if [ -n "$(image_id "$image")" ]; then
        record "$image" "reused (tag exists)" $((SECONDS - t0))
        return
    fi
    if [ "$image" != "$PREFIX/debian:$suite" ]; then
        # a user-chosen base (e.g. the real debian:trixie-slim): pull it
        log "$image is not here; trying docker pull"
        "$DOCKER" pull "$image" >&2 \
            || die "base image $image is neither local nor pullable (unset TEST_BASE_IMAGE* to make one with debootstrap)"
        record "$image" "pulled" $((SECONDS - t0))
        return
    fi
    command -v debootstrap >/dev/null 2>&1 \
        || die "debootstrap is missing (run scripts/ensure-docker.sh as root)"
    [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"

    local rootfs
    rootfs="$(mktemp -d "${TMPDIR:-/tmp}/pyiron-hub-test-rootfs.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$rootfs'" EXIT
    mkdir -p "$LOG_DIR"
    log "debootstrap --variant=minbase $suite from $DEBIAN_MIRROR (log: $LOG_DIR/debootstrap-$suite.log)"
    if ! debootstrap --variant=minbase "$suite" "$rootfs" "$DEBIAN_MIRROR" \
            >"$LOG_DIR/debootstrap-$suite.log" 2>&1; then
        tail -n 40 "$LOG_DIR/debootstrap-$suite.log" >&2 || true
        die "debootstrap failed (full log: $LOG_DIR/debootstrap-$suite.log)"
    fi

    # Make it look like the official debian:<suite>-slim image: the same apt
    # sources (with updates and security), the "slim" dpkg path excludes
    # (no docs, man pages, locales), no package lists or caches.
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOS
Types: deb
URIs: $DEBIAN_MIRROR
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${DEBIAN_MIRROR%/debian}/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOS'
# as in the official debian "slim" images
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOS
    find "$rootfs/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete 2>/dev/null || true
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/groff/* "$rootfs"/usr/share/info/* \
        "$rootfs"/usr/share/lintian/* "$rootfs"/usr/share/linda/*
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/bootstrap.log
    : >"$rootfs/etc/hostname"
    rm -f "$rootfs/etc/resolv.conf" && : >"$rootfs/etc/resolv.conf"

    log "docker import -> $image"
    tar -C "$rootfs" --numeric-owner -c . | "$DOCKER" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        --message "debootstrap --variant=minbase $suite $DEBIAN_MIRROR" \
        - "$image" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    record "$image" "built (debootstrap + import)" $((SECONDS - t0))
}

build_postgres() {
    docker_build "$POSTGRES_IMAGE" "$HERE/postgres" --build-arg "BASE_IMAGE=$BASE_IMAGE"
}

build_singleuser() {
    local env suite
    for env in $SINGLEUSER_ENVS; do
        [ -f "$HERE/singleuser/envs/$env/jupyter.txt" ] \
            || die "no environment '$env' ($HERE/singleuser/envs/$env/jupyter.txt is missing)"
        suite="$(env_suite "$env")"
        build_debian "$suite" "$(base_image_for "$suite")"
        docker_build "$PREFIX/$env:latest" "$HERE/singleuser" \
            --build-arg "BASE_IMAGE=$(base_image_for "$suite")" \
            --build-arg "PYIRON_ENVIRONMENT=$env"
    done
}

build_workflow() {
    local base="$PREFIX/base:latest"
    [ -n "$(image_id "$base")" ] || die "$base is missing: build target singleuser first"
    docker_build "$PREFIX/workflow:latest" "$HERE/workflow" --build-arg "BASE_IMAGE=$base"
}

build_slurm() {
    docker_build "$PREFIX/slurm:latest" "$HERE/slurm" --build-arg "BASE_IMAGE=$BASE_IMAGE"
}

build_nginx() {
    docker_build "$PREFIX/nginx:latest" "$HERE/nginx" --build-arg "BASE_IMAGE=$BASE_IMAGE"
}

build_hub() {
    if [ ! -f "$REPO_ROOT/Dockerfile" ]; then
        log "SKIPPING $HUB_IMAGE: $REPO_ROOT/Dockerfile does not exist (yet)"
        record "$HUB_IMAGE" "skipped (no Dockerfile)" 0
        return
    fi
    docker_build "$HUB_IMAGE" "$REPO_ROOT" -f "$REPO_ROOT/Dockerfile" \
        --build-arg "BASE_IMAGE=$BASE_IMAGE"
}

# --- smoke tests -------------------------------------------------------------
run_check() {  # usage: run_check DESCRIPTION EXPECTED-SUBSTRING docker-run-args...
    local what="$1" want="$2" out
    shift 2
    if out="$("$DOCKER" run --rm "$@" 2>&1)" && [[ "$out" == *"$want"* ]]; then
        log "ok: $what"
    else
        printf '%s\n' "$out" >&2
        die "check failed: $what (expected output containing '$want')"
    fi
}

# the version an environment's requirements pin for a package ("" when unpinned)
pinned() {  # usage: pinned ENV PACKAGE
    cat "$HERE/singleuser/envs/$1/"{jupyter,pyiron}.txt 2>/dev/null \
        | sed -n "s/^$2==\([^[:space:]#]*\).*/\1/p" | head -n 1
}

verify_singleuser() {  # usage: verify_singleuser ENV
    local env="$1" img="$PREFIX/$1:latest" hooks jh base
    run_check "$img runs as jovyan 1000:100 in /home/jovyan" "user=jovyan:users 1000:100 pwd=/home/jovyan" \
        "$img" sh -c 'echo "user=$(id -un):$(id -gn) $(id -u):$(id -g) pwd=$(pwd)"'
    # The entrypoint runs before-notebook.d hooks (*.sh sourced, executables run).
    hooks="$(mktemp -d "${TMPDIR:-/tmp}/pyiron-hub-hooks.XXXXXX")"
    printf 'export HOOK_SOURCED=yes\n' >"$hooks/10-export.sh"
    printf '#!/bin/sh\necho hook-executed\n' >"$hooks/20-run"
    chmod 0755 "$hooks" "$hooks/20-run"
    chmod 0644 "$hooks/10-export.sh"
    # shellcheck disable=SC2016  # expanded inside the container
    run_check "$img entrypoint runs before-notebook.d hooks" "hook-executed"$'\n'"sourced=yes" \
        -v "$hooks:/usr/local/bin/before-notebook.d:ro" "$img" sh -c 'echo "sourced=$HOOK_SOURCED"' \
        || { rm -rf "$hooks"; return 1; }
    rm -rf "$hooks"
    jh="$(pinned "$env" jupyterhub)"
    run_check "$img start-notebook.py runs jupyterhub-singleuser ${jh%%.*}.x under a hub" \
        "exec jupyterhub-singleuser --ip=0.0.0.0 --version"$'\n'"version=${jh%%.*}." \
        -e JUPYTERHUB_API_TOKEN=verify "$img" \
        sh -c 'out="$(start-notebook.py --version 2>&1)"; echo "$out" | head -n 1; echo "version=$(echo "$out" | tail -n 1)"'
    run_check "$img start-notebook.py runs jupyter lab without a hub" "exec jupyter lab --version" \
        "$img" sh -c 'start-notebook.py --version 2>&1'
    base="$(pinned "$env" pyiron_base)"
    # shellcheck disable=SC2016
    run_check "$img pyiron_base ${base:-(unpinned)}" "pyiron_base=${base}" "$img" \
        python -c 'import importlib.metadata as m
try: print("pyiron_base=" + m.version("pyiron_base"))
except m.PackageNotFoundError: print("pyiron_base=none")'
    # shellcheck disable=SC2016
    run_check "$img has ~/notebooks_$env (NOTEBOOK_DIR), an empty ~/work, no pyiron configuration" \
        "nb=$HOME_DIR/notebooks_$env readme=ok work=ok home=notebooks_$env,work, pyiron-config=none" "$img" \
        sh -c 'echo "nb=$NOTEBOOK_DIR readme=$(test -f "$NOTEBOOK_DIR/README-'"$env"'.ipynb" && echo ok)" \
            "work=$(test -d ~/work -a -O ~/work -a -w ~/work -a -z "$(ls -A ~/work)" && echo ok)" \
            "home=$(ls ~ | tr "\n" ,)" \
            "pyiron-config=$(ls -d ~/.pyiron 2>/dev/null; env | grep ^PYIRON || echo none)"'
    run_check "$img label and marker name the environment" "label=$env marker=$env" "$img" \
        sh -c "echo label=$("$DOCKER" image inspect --format '{{ index .Config.Labels "org.pyiron.hub-test.environment" }}' "$img") marker=\$(cat /opt/conda/pyiron-environment)"
    # Every example runs (in the container's copy of the folder); the pyiron_base
    # one runs a real pyiron job.
    # shellcheck disable=SC2016
    run_check "$img runs its example notebooks" "examples-ok" "$img" \
        sh -c 'cd "$NOTEBOOK_DIR" || exit 1
            for nb in *_example.ipynb; do
                [ -e "$nb" ] || continue
                jupyter nbconvert --to notebook --execute --output "/tmp/$nb" "$nb" >/tmp/log 2>&1 \
                    || { cat /tmp/log; exit 1; }
                echo "ran $nb"
            done
            if [ -e pyiron_base_example.ipynb ]; then grep -q "result: 2" /tmp/pyiron_base_example.ipynb || exit 1; fi
            echo examples-ok'
}

verify() {
    local env suite
    run_check "$BASE_IMAGE runs" "$DEBIAN_SUITE" "$BASE_IMAGE" cat /etc/os-release
    for env in $SINGLEUSER_ENVS; do
        suite="$(env_suite "$env")"
        run_check "$PREFIX/$env:latest is Debian $suite" "$suite" "$PREFIX/$env:latest" cat /etc/os-release
    done
    run_check "$POSTGRES_IMAGE has postgres 17" "(PostgreSQL) 17" "$POSTGRES_IMAGE" postgres --version
    run_check "$POSTGRES_IMAGE has pg_isready on PATH" "pg_isready" "$POSTGRES_IMAGE" sh -c 'command -v pg_isready'
    for env in $SINGLEUSER_ENVS; do
        verify_singleuser "$env"
    done
    if [ -n "$(image_id "$HUB_IMAGE")" ]; then
        run_check "$HUB_IMAGE has jupyterhub" "." "$HUB_IMAGE" jupyterhub --version
    fi
}

list_images() {
    local env
    { printf '%s\n' "$BASE_IMAGE"
      for env in $SINGLEUSER_ENVS; do base_image_for "$(env_suite "$env")"; done; } | awk '!seen[$0]++'
    printf '%s\n' "$POSTGRES_IMAGE"
    for env in $SINGLEUSER_ENVS; do printf '%s\n' "$PREFIX/$env:latest"; done
    printf '%s\n' "$PREFIX/workflow:latest"
    printf '%s\n' "$PREFIX/slurm:latest" "$PREFIX/nginx:latest" "$HUB_IMAGE"
}

print_summary() {
    [ "${#SUMMARY[@]}" -gt 0 ] || return 0
    printf '\n%-42s %-34s %6s\n' "IMAGE" "RESULT" "TIME" >&2
    printf '%s\n' "${SUMMARY[@]}" >&2
    printf 'total: %ss\n' $((SECONDS - T_START)) >&2
}

main() {
    local targets=("$@") t
    [ "${#targets[@]}" -gt 0 ] || targets=(all)
    for t in "${targets[@]}"; do
        case "$t" in
            all|base|postgres|singleuser|workflow|slurm|nginx|hub|verify|list) ;;
            -h|--help|help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; return 0 ;;
            *) die "unknown target '$t' (expected: all base postgres singleuser workflow slurm nginx hub verify list)" ;;
        esac
    done
    if [ "${targets[*]}" = list ]; then list_images; return 0; fi

    if [ "${SKIP_ENSURE_DOCKER:-0}" != 1 ]; then
        "$REPO_ROOT/scripts/ensure-docker.sh"
    fi
    "$DOCKER" info >/dev/null 2>&1 || die "$DOCKER info fails: is dockerd running?"

    # one build at a time on this machine (two debootstraps would race)
    exec 9>"$LOCK_FILE"
    if ! flock -n 9; then
        log "another build.sh is running; waiting for it"
        flock 9
    fi

    for t in "${targets[@]}"; do
        case "$t" in
            base)       build_all_bases ;;
            postgres)   build_base; build_postgres ;;
            singleuser) build_singleuser ;;
            workflow)   build_workflow ;;
            slurm)      build_base; build_slurm ;;
            nginx)      build_base; build_nginx ;;
            hub)        build_base; build_hub ;;
            all)        build_all_bases; build_postgres; build_singleuser; build_workflow; build_slurm; build_nginx; build_hub ;;
            verify)     verify ;;
            list)       list_images ;;
        esac
    done
    print_summary
}

main "$@"
