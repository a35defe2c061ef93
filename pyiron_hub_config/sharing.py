"""Share my server: JupyterHub's own sharing (its shares API, JupyterHub 5.1+), offered on a page.

The hub grants nothing of its own: with SERVER_SHARING each user's role holds ``shares!user``
(grant and revoke access to their own servers) and the names to share with; the page
/hub/share calls JupyterHub's REST API from the user's browser, as JupyterHub's own home
page does for starting and stopping. Admins' role (apply.ADMIN_SCOPES_WITHOUT_ACCESS) holds
no ``shares``: without ADMIN_ACCESS an admin cannot share anyone's server with themselves.
"""

from __future__ import annotations

from jupyterhub.handlers import BaseHandler
from tornado import web

# What every user holds with SERVER_SHARING: JupyterHub's "user" role ("self") and what its
# shares API asks of a user who shares by name (a user or a group).
USER_ROLE_WITH_SHARING = {
    "name": "user",
    "description": "A user, who may share their own servers with other users and groups (SERVER_SHARING)",
    "scopes": ["self", "shares!user", "read:users:name", "read:groups:name"],
}


class ShareHandler(BaseHandler):
    """/hub/share: the user's servers, whom each is shared with, and the servers shared with them."""

    @web.authenticated
    async def get(self):
        user = self.current_user
        servers = [
            {
                "name": spawner.name,
                "label": spawner.name or "default",
                "profile": (spawner.user_options or {}).get("profile", ""),
                "url": spawner.server.url if spawner.server else "",
            }
            for spawner in sorted(user.all_spawners(), key=lambda s: s.name)
            if spawner.active
        ]
        self.finish(await self.render_template("pyiron_share.html", servers=servers))


def sharing_handlers() -> list[tuple]:
    return [(r"/share", ShareHandler)]
