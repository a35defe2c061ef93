#!/usr/bin/env bash
# Resolve the direct dependencies (setup.cfg's install_requires, the one list of them) into
# requirements.lock, and the build tools (pyproject.toml's build-system.requires) into
# build-requirements.lock: exact versions with the hashes of every file of each, which the
# Dockerfile installs with pip's hash checking. For the image's Python (Debian trixie: 3.13).
# Versions already in a lock are kept unless --upgrade is given (uv's preference for the
# existing output file). Needs uv (`pip install uv`); UV, PYTHON_VERSION can be given.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-uv}
command -v "$uv" >/dev/null || { echo "lock-requirements: uv not found (pip install uv)" >&2; exit 1; }
# The system's certificate store: where a TLS-inspecting proxy's CA is installed.
export UV_NATIVE_TLS=${UV_NATIVE_TLS:-1}
common=(--generate-hashes --python-version "${PYTHON_VERSION:-3.13}" --python-platform linux --quiet
        --custom-compile-command scripts/lock-requirements.sh "$@")
"$uv" pip compile setup.cfg "${common[@]}" -o requirements.lock
python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' |
    "$uv" pip compile - "${common[@]}" -o build-requirements.lock
echo "wrote requirements.lock ($(grep -c '^[A-Za-z]' requirements.lock) packages)," \
     "build-requirements.lock ($(grep -c '^[A-Za-z]' build-requirements.lock))"
