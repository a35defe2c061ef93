#!/usr/bin/env bash
# Build the test cluster image (see Dockerfile): pyiron-hub-test/slurm:latest.
# Environment: TEST_IMAGE_PREFIX (default pyiron-hub-test), TEST_SLURM_IMAGE (the tag),
# TEST_BASE_IMAGE (default $TEST_IMAGE_PREFIX/debian:trixie), CA_BUNDLE, DOCKER.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
docker="${DOCKER:-/usr/bin/docker}"
prefix="${TEST_IMAGE_PREFIX:-pyiron-hub-test}"
tag="${TEST_SLURM_IMAGE:-$prefix/slurm:latest}"
base="${TEST_BASE_IMAGE:-$prefix/debian:trixie}"
ca="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
args=(build --progress=plain -t "$tag" --build-arg "BASE_IMAGE=$base")
[ -f "$ca" ] && args+=(--secret "id=ca,src=$ca")
log="${TMPDIR:-/tmp}/pyiron-hub-slurm-build.log"
start=$SECONDS
if ! DOCKER_BUILDKIT=1 "$docker" "${args[@]}" "$here" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "[slurm] building $tag failed (full log: $log)" >&2
    exit 1
fi
echo "[slurm] $tag ready ($((SECONDS - start))s, log: $log)" >&2
