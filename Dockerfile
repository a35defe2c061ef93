# The pyiron JupyterHub image: JupyterHub + DockerSpawner + OAuthenticator, configured
# entirely by environment variables (see README.md). No secret is ever baked in.
#
#   DOCKER_BUILDKIT=1 docker build -t pyiron-hub .
#   # behind a TLS-inspecting proxy, pass its CA bundle (used for pip only, not kept):
#   DOCKER_BUILDKIT=1 docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt -t pyiron-hub .
ARG BASE_IMAGE=debian:trixie-slim
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/hub/bin:$PATH

# Debian's configurable-http-proxy brings its own nodejs; tini reaps the proxy and
# forwards signals so `docker stop` shuts the hub down cleanly.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-venv ca-certificates node-configurable-http-proxy tini \
 && rm -rf /var/lib/apt/lists/*

# Slow, rarely changing layer: the pinned dependency tree.
COPY requirements.lock /tmp/requirements.lock
RUN --mount=type=secret,id=ca \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    python3 -m venv /opt/hub \
 && /opt/hub/bin/pip install --no-cache-dir --require-virtualenv -r /tmp/requirements.lock \
 && rm /tmp/requirements.lock

# Fast layers: the configuration package, and with it the environment catalogue
# (pyiron_hub_config/environments.toml). Adding an environment rebuilds only these.
COPY setup.cfg pyproject.toml README.md /tmp/src/
COPY pyiron_hub_config /tmp/src/pyiron_hub_config
RUN pip install --no-cache-dir --no-deps --no-build-isolation /tmp/src && rm -rf /tmp/src

WORKDIR /srv/jupyterhub
COPY jupyterhub_config.py /srv/jupyterhub/jupyterhub_config.py
# Generated secrets (cookie secret, crypt key, proxy token) live here, mode 0600.
RUN mkdir -m 0700 /srv/jupyterhub/data
VOLUME /srv/jupyterhub/data

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["pyiron-hub", "health"]
ENTRYPOINT ["tini", "-g", "--"]
CMD ["pyiron-hub", "serve"]
