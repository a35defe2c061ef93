"""A hub, its database and the demo realm's Keycloak from the test images, on ports of their own.

Lighter than the demo (no environments are built, no cluster): for suites that need the
real Keycloak login but none of the demo's images. The realm is demo/keycloak's, with its
redirect URIs rewritten for this hub's address.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import IMAGES, PREFIX, REPO, Stack, _free_port, docker, remove_user_networks
from .conftest import PASSWORDS

KEYCLOAK_IMAGE = f"{PREFIX}/keycloak:latest"
# The master admin's password, as scripts/demo generates one (KEYCLOAK_ADMIN_PASSWORD).
ADMIN_PASSWORD = "keycloak-stack-test-admin-password"


class KeycloakStack(Stack):
    """The compose stack with the demo profile's Keycloak; the hub is reached as `hub_host`."""

    def __init__(self, directory: Path, hub_image: str, project: str, hub_host: str = "localhost"):
        super().__init__(directory, hub_image, project=project, network=f"{project}-users", users=tuple(PASSWORDS))
        self.keycloak_port = _free_port()
        self.url = f"http://{hub_host}:{self.port}"  # the realm's redirect URIs name this
        self.keycloak = f"http://localhost:{self.keycloak_port}"

    def env(self) -> dict:
        return {
            **super().env(),
            "KEYCLOAK_IMAGE": KEYCLOAK_IMAGE,
            "KEYCLOAK_PORT": str(self.keycloak_port),
            "KEYCLOAK_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }

    def compose(self, *args, check=True):
        return super().compose("--profile", "demo", *args, check=check)

    def user_containers(self) -> list[str]:
        return [f"{self.project}-jupyter-{user}" for user in self.users]


def keycloak_stack(directory: Path, hub_image: str, project: str, hub_host: str = "localhost", **env: str):
    """Start the stack (a generator for a fixture: yields it running, takes it down after).

    `env` adds hub settings; "{port}" in a value becomes the hub's published port.
    """
    if docker("image", "inspect", KEYCLOAK_IMAGE, check=False).returncode:
        pytest.fail(f"{KEYCLOAK_IMAGE} is missing: build it with images/keycloak/build.sh (./scripts/test does)")
    s = KeycloakStack(directory, hub_image, project, hub_host)
    hub = f"{hub_host}:{s.port}"
    realm = (REPO / "demo/keycloak/pyiron-realm.json").read_text().replace("localhost:8000", hub)
    (directory / "keycloak-realm").mkdir()
    (directory / "keycloak-realm").chmod(0o755)  # Keycloak's user reads it, whatever the umask
    (directory / "keycloak-realm" / "pyiron-realm.json").write_text(realm)
    (directory / "keycloak-realm" / "pyiron-realm.json").chmod(0o644)
    front = f"{s.keycloak}/realms/pyiron/protocol/openid-connect"
    back = "http://keycloak:8080/realms/pyiron/protocol/openid-connect"
    settings = {
        "OAUTH2_AUTHORIZE_URL": f"{front}/auth",
        "OAUTH2_LOGOUT_URL": f"{front}/logout",
        "OAUTH2_TOKEN_URL": f"{back}/token",
        "OAUTH2_USERDATA_URL": f"{back}/userinfo",
        "OAUTH_CALLBACK_URL": f"{s.url}/hub/oauth_callback",
        "CLIENT_ID": "pyiron-hub",
        "CLIENT_SECRET": "demo-only-client-secret-change-me",
        "OAUTH2_ALLOWED_GROUPS": "pyiron-users",
        "OAUTH2_ADMIN_GROUPS": "pyiron-admins",
        "DEPLOYMENT_NAME": project,
        "MEM_LIMIT": "512M",
        "PYIRON_BASE": IMAGES["pyiron_base"],
        "PYIRON_ATOMISTIC": IMAGES["pyiron_atomistics"],
        "PYIRON_CONTINUUM": IMAGES["pyiron_continuum"],
        "PYIRON_EXPERIMENTAL": IMAGES["pyiron_experimental"],
        **{name: value.format(port=s.port) for name, value in env.items()},
    }
    (directory / "pyiron.env").write_text("".join(f"{k}='{v}'\n" for k, v in settings.items()))
    (directory / "shared.env").write_text("POSTGRES_PASSWORD='keycloak-stack-test-db-password'\n")
    s.compose("down", "-v", "--remove-orphans", check=False)
    try:
        s.compose("up", "-d", "hub-db", "keycloak", "hub")
        s.wait_healthy("hub")
        s.wait_healthy("keycloak", timeout=240)
        yield s
    finally:
        for name in s.user_containers():  # first: servers left running hold the users' network
            docker("rm", "-f", name, check=False)
        s.compose("down", "-v", "--remove-orphans", check=False)
        remove_user_networks(s.network)  # those of servers removed with `docker rm -f` (ISOLATE_USERS)
        for user in s.users:
            for volume in (f"{project}-jupyterhub-user-{user}", f"{project}-jupyterhub-home-{user}"):
                docker("volume", "rm", "-f", volume, check=False)
