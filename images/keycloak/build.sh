#!/usr/bin/env bash
# Build the local Keycloak image pyiron-hub-test/keycloak:<version> (+ :latest).
#
# Idempotent:
#  * the distribution zip (org.keycloak:keycloak-quarkus-dist:<version>:zip) is
#    fetched with Maven only when it is not already in the local Maven repository;
#  * the build context (Dockerfile + zip) is assembled in a cache directory outside
#    the repository, never inside it;
#  * the build is skipped when the image tag exists and was built from the same
#    Dockerfile, version and base image (recorded in an image label); otherwise
#    docker's layer cache keeps a rebuild cheap.
#
# Environment (all optional):
#   KEYCLOAK_VERSION   default below
#   BASE_IMAGE         default pyiron-hub-test/debian:trixie (any debian:trixie-slim-like image)
#   IMAGE_NAME         default pyiron-hub-test/keycloak
#   MAVEN_LOCAL_REPO   default ~/.m2/repository
#   BUILD_CACHE_DIR    default ${XDG_CACHE_HOME:-~/.cache}/pyiron-hub/keycloak-build
#   DOCKER             docker client to use (default /usr/bin/docker if present)
#   FORCE_BUILD=1      build even if the image looks up to date
set -euo pipefail

KEYCLOAK_VERSION="${KEYCLOAK_VERSION:-26.7.3}"
BASE_IMAGE="${BASE_IMAGE:-pyiron-hub-test/debian:trixie}"
IMAGE_NAME="${IMAGE_NAME:-pyiron-hub-test/keycloak}"
MAVEN_LOCAL_REPO="${MAVEN_LOCAL_REPO:-$HOME/.m2/repository}"
BUILD_CACHE_DIR="${BUILD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pyiron-hub/keycloak-build}"
FORCE_BUILD="${FORCE_BUILD:-0}"

# The docker 28 client some machines have first on PATH lacks buildx; Debian's
# client in /usr/bin works with DOCKER_BUILDKIT=1.
if [[ -z "${DOCKER:-}" ]]; then
    if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dockerfile="$here/Dockerfile"
tag="$IMAGE_NAME:$KEYCLOAK_VERSION"
artifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip"
zip_name="keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
m2_zip="$MAVEN_LOCAL_REPO/org/keycloak/keycloak-quarkus-dist/$KEYCLOAK_VERSION/$zip_name"

log() { printf '[keycloak-image] %s\n' "$*" >&2; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# What the image is built from; stored as a label to decide whether to rebuild.
base_id="$("$DOCKER" image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)"
if [[ -z "$base_id" ]]; then
    log "base image $BASE_IMAGE not found; build it first (debootstrap trixie + docker import)"
    log "or set BASE_IMAGE to a debian:trixie(-slim) image you have"
    exit 1
fi
build_key="$(printf '%s\n' "$(sha256_of "$dockerfile")" "$KEYCLOAK_VERSION" "$base_id" | sha256sum | cut -d' ' -f1)"

existing_key="$("$DOCKER" image inspect --format '{{ index .Config.Labels "org.pyiron-hub.build-key" }}' "$tag" 2>/dev/null || true)"
if [[ "$FORCE_BUILD" != 1 && "$existing_key" == "$build_key" ]]; then
    log "$tag is up to date; not rebuilding"
    "$DOCKER" tag "$tag" "$IMAGE_NAME:latest"
    exit 0
fi

# 1. The distribution zip, via Maven's local repository.
if [[ ! -s "$m2_zip" ]]; then
    command -v mvn >/dev/null || { log "mvn not found (apt-get install maven) and $m2_zip missing"; exit 1; }
    log "fetching $artifact with mvn (not in $MAVEN_LOCAL_REPO)"
    start=$SECONDS
    mvn -B -q dependency:get -Dtransitive=false -Dartifact="$artifact" \
        -Dmaven.repo.local="$MAVEN_LOCAL_REPO"
    log "fetched in $((SECONDS - start)) s"
fi
if [[ -s "$m2_zip.sha1" ]]; then
    want="$(cut -c1-40 "$m2_zip.sha1")"
    have="$(sha1sum "$m2_zip" | cut -d' ' -f1)"
    if [[ "$want" != "$have" ]]; then
        log "checksum mismatch for $m2_zip (want $want, have $have); delete it and rerun"
        exit 1
    fi
fi

# 2. Build context outside the repository.
ctx="$BUILD_CACHE_DIR/$KEYCLOAK_VERSION"
mkdir -p "$ctx"
find "$ctx" -mindepth 1 -maxdepth 1 ! -name "$zip_name" ! -name Dockerfile -exec rm -rf {} +
if ! cmp -s "$m2_zip" "$ctx/$zip_name"; then
    ln -f "$m2_zip" "$ctx/$zip_name" 2>/dev/null || cp -f "$m2_zip" "$ctx/$zip_name"
fi
cp -f "$dockerfile" "$ctx/Dockerfile"

# 3. Build.
log "building $tag from $BASE_IMAGE (context $ctx)"
start=$SECONDS
DOCKER_BUILDKIT=1 "$DOCKER" build \
    --build-arg BASE_IMAGE="$BASE_IMAGE" \
    --build-arg KEYCLOAK_VERSION="$KEYCLOAK_VERSION" \
    --label org.pyiron-hub.build-key="$build_key" \
    --tag "$tag" \
    --tag "$IMAGE_NAME:latest" \
    "$ctx"
log "built $tag in $((SECONDS - start)) s"
