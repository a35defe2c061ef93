# The pyiron JupyterHub image: JupyterHub + DockerSpawner + OAuthenticator, configured
# entirely by environment variables (see README.md). No secret is ever baked in.
#
#   DOCKER_BUILDKIT=1 docker build -t pyiron-hub .
#   # behind a TLS-inspecting proxy, pass its CA bundle (used for pip only, not kept):
#   DOCKER_BUILDKIT=1 docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt -t pyiron-hub .
#
# Two stages: the Python tree is installed in `build`, which has pip; the image itself
# gets only the installed files, so pip, setuptools, wheel, caches and the build's apt
# packages never reach it.
ARG BASE_IMAGE=debian:trixie-slim

FROM ${BASE_IMAGE} AS tools
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates binutils \
 && rm -rf /var/lib/apt/lists/*
# /opt/tools has pip; /opt/hub, the venv the image keeps, has none: pip installs into it
# from outside (--python), so nothing of pip is left to remove.
RUN python3 -m venv /opt/tools && python3 -m venv --without-pip /opt/hub

FROM tools AS deps
# Slow, rarely changing layer: the pinned dependency tree, every file checked against its
# hash (scripts/lock-requirements.sh). The build tools go to /opt/tools only: they build
# this package (below) and are not needed at run time.
COPY requirements.lock build-requirements.lock /tmp/
RUN --mount=type=secret,id=ca \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    /opt/tools/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes \
      -r /tmp/build-requirements.lock \
 && /opt/tools/bin/pip --python /opt/hub/bin/python install --no-cache-dir --disable-pip-version-check \
      --require-hashes -r /tmp/requirements.lock \
 # JupyterHub ships all of Font Awesome; its pages load only the CSS and the web fonts.
 && fa=$(echo /opt/hub/share/jupyterhub/static/components/@fortawesome/fontawesome-free) \
 && test -f "$fa/css/all.min.css" && test -d "$fa/webfonts" \
 && rm -rf "$fa/js" "$fa/metadata" "$fa/scss" "$fa/less" "$fa"/sprites* "$fa"/svgs* \
 # Of the other components, the pages load one file each (page.html: jquery.min.js,
 # require.js, bootstrap.bundle.min.js, moment.js through require's paths; Bootstrap's CSS
 # is compiled into JupyterHub's style.min.css): their sources, locales, other builds, the
 # optimizer and the browsers' source maps go (about 20 MB). The tests after it fail the
 # build if JupyterHub moves a file it loads.
 && c=/opt/hub/share/jupyterhub/static/components \
 && rm -rf "$c/moment/src" "$c/moment/dist" "$c/moment/locale" "$c/moment/min" "$c/moment/ts3.1-typings" \
      "$c/jquery/src" "$c/jquery/dist-module" "$c/bootstrap/js" "$c/bootstrap/scss" "$c/bootstrap/dist/css" \
      "$c/requirejs/bin" \
 && find "$c/bootstrap/dist/js" "$c/jquery/dist" -type f -not -name bootstrap.bundle.min.js -not -name jquery.min.js -delete \
 && find /opt/hub/share/jupyterhub/static -name '*.map' -delete \
 && for f in moment/moment.js jquery/dist/jquery.min.js requirejs/require.js bootstrap/dist/js/bootstrap.bundle.min.js; do test -f "$c/$f"; done \
 # The libraries' own test suites (tornado's, JupyterHub's, ...) and the harnesses they offer
 # their users' tests (sqlalchemy.testing, ...) are never imported by the hub.
 && site=$(echo /opt/hub/lib/python3*/site-packages) \
 && rm -rf "$site/tornado/test" "$site/jupyterhub/tests" "$site/jsonschema/tests" "$site/oauthenticator/tests" \
      "$site/referencing/tests" "$site/traitlets/tests" "$site/certipy/test" \
      "$site/sqlalchemy/testing" "$site/alembic/testing" "$site/mako/testing" \
 # Compiled extensions come with their symbol tables (a fifth of the tree); Python never
 # reads them. The libraries auditwheel bundled (*.libs) stay untouched. The imports after
 # it make a broken strip fail the build, not the hub.
 && find /opt/hub -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} + \
 && /opt/hub/bin/python -c 'import cryptography.hazmat.bindings._rust, psycopg2, yaml, aiohttp, multidict, \
      frozenlist, propcache, rpds, pydantic_core, pydantic_settings, sqlalchemy.engine, jupyterhub.app, dockerspawner, \
      oauthenticator, alembic.command, mako.template'

# What the hub lends to users' servers (pyiron_hub_config/hub_packages.py): paramiko for
# pysqa's SSH mode, which the public pyiron images lack, and rfc3987, which saves every
# server the seconds rfc3987_syntax takes to import (server-packages.lock says why). One tree serves every CPython in
# SERVER_PYTHONS: its wheels are abi3 or pure, except cffi's backend, a file per version.
# Stripped like the hub's own; what the hub has itself at the same version (cryptography,
# cffi, pycparser) is a link to the hub's copy, kept once in the image (the hub copies the
# files, not the links, into servers' volume).
FROM deps AS server-packages
ARG SERVER_PYTHONS="3.11 3.12 3.13 3.14"
COPY server-packages.lock /tmp/server-packages.lock
RUN --mount=type=secret,id=ca \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    set -e; arch=$(uname -m); mkdir /opt/packages; \
    for v in $SERVER_PYTHONS; do \
      /opt/tools/bin/pip install --no-cache-dir --disable-pip-version-check --no-compile --no-deps \
        --only-binary=:all: --implementation cp --python-version "$v" --target "/tmp/packages/$v" \
        --platform "manylinux_2_28_$arch" --platform "manylinux_2_17_$arch" --platform "manylinux2014_$arch" \
        -r /tmp/server-packages.lock; \
      cp -a -n "/tmp/packages/$v/." /opt/packages/; \
    done; \
    rm -rf /opt/packages/bin; \
    test "$(ls /opt/packages/_cffi_backend.cpython-3*.so | wc -l)" = "$(echo $SERVER_PYTHONS | wc -w)"; \
    find /opt/packages -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} +; \
    hub=$(echo /opt/hub/lib/python3*/site-packages); \
    for dist in "$hub"/*.dist-info; do \
      [ -d "/opt/packages/${dist##*/}" ] || continue; \
      for top in $(cat "$dist/top_level.txt" 2>/dev/null || sed -n 's#^\([^/,]*\)/.*#\1#p' "$dist/RECORD" | sort -u); do \
        case "$top" in *.dist-info|..|"") continue ;; esac; \
        if [ -e "$hub/$top" ] && [ -e "/opt/packages/$top" ]; then rm -rf "/opt/packages/$top"; ln -s "$hub/$top" "/opt/packages/$top"; fi; \
      done; \
    done; \
    for so in "$hub"/_cffi_backend.*.so; do \
      [ -e "/opt/packages/${so##*/}" ] && rm "/opt/packages/${so##*/}" && ln -s "$so" "/opt/packages/${so##*/}"; \
    done; \
    /opt/tools/bin/python -c 'import json, sys; \
lock = [l.split("==") for l in open("/tmp/server-packages.lock") if "==" in l and not l.startswith("#")]; \
json.dump({"pythons": sys.argv[1:], "modules": ["paramiko"], "speedups": ["rfc3987"], \
           "packages": {n: v.strip() for n, v in lock}}, \
          open("/opt/packages/pyiron-hub-packages.json", "w"), indent=1)' $SERVER_PYTHONS; \
    ls -la /opt/packages; du -sh /opt/packages

FROM deps AS build
# Fast layer: the configuration package, and with it the environment catalogue
# (pyiron_hub_config/environments.toml). It goes to a prefix of its own, so that the
# image copies it as a small layer on top of the dependency tree.
COPY setup.cfg pyproject.toml README.md /tmp/src/
COPY pyiron_hub_config /tmp/src/pyiron_hub_config
RUN /opt/tools/bin/pip wheel --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation \
      -w /tmp/wheels /tmp/src \
 && /opt/tools/bin/pip --python /opt/hub/bin/python install --no-cache-dir --disable-pip-version-check \
      --no-deps --no-warn-script-location --prefix /opt/package /tmp/wheels/*.whl

FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/hub/bin:$PATH

# Debian's configurable-http-proxy brings its own nodejs; tini reaps the proxy and
# forwards signals so `docker stop` shuts the hub down cleanly. restic and ssh (for sftp:
# repositories) serve `pyiron-hub backup` (compose.backup.yml), which runs this image too;
# so does postgresql-client: the backup dumps and restores the database over the network, as
# a client (Debian's client is the major version of the postgres:17 the stack runs; pg_dump
# must be at least the server's). No .deb stays behind
# (a base image without Debian's docker-clean hook would otherwise keep them).
# Of nodejs and its modules the proxy never loads TypeScript's declarations, lodash's
# ES-module copy nor corepack (yarn/pnpm's installer): dpkg leaves them out (about 12 MB),
# as slim images leave out the documentation.
RUN printf 'path-exclude /usr/share/nodejs/%s/*\n' @types lodash-es corepack > /etc/dpkg/dpkg.cfg.d/pyiron-hub-nodejs \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 ca-certificates node-configurable-http-proxy tini restic openssh-client postgresql-client \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb

COPY --from=server-packages /opt/packages /opt/pyiron-hub/packages
COPY --from=build /opt/hub /opt/hub
COPY --from=build /opt/package /opt/hub

WORKDIR /srv/jupyterhub
COPY jupyterhub_config.py /srv/jupyterhub/jupyterhub_config.py
# Generated secrets (cookie secret, crypt key, proxy token, metrics token) live here, mode 0600.
RUN mkdir -m 0700 /srv/jupyterhub/data
VOLUME /srv/jupyterhub/data

EXPOSE 8000
# The probe imports nothing but the standard library (a tenth of a second, not two), so it
# can run often: the hub counts as healthy within seconds of answering.
HEALTHCHECK --interval=3s --timeout=5s --start-period=60s --retries=3 CMD ["python3", "-m", "pyiron_hub_config.probes.health"]
ENTRYPOINT ["tini", "-g", "--"]
CMD ["pyiron-hub", "serve"]
