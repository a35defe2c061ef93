"""Plain words for the errors JupyterHub states in its own terms (scopes, bare statuses).

JupyterHub refuses with "Action is not authorized with current scopes; requires any of
[admin:users]": exact for an administrator, jargon for everyone else. The error page says
what it means instead and keeps the original below it, folded, for whoever debugs.
"""

from __future__ import annotations

import re

_SCOPES_REFUSED = re.compile(r"requires any of \[([^\]]*)\]")


def explain_error(status_code: int, message: str | None) -> str | None:
    """What the error means for the person who met it, or None when its message says so already."""
    found = _SCOPES_REFUSED.search(message or "")
    if found:
        scopes = [s.strip().split("!", 1)[0] for s in found.group(1).split(",") if s.strip()]
        if any(s.startswith("admin") for s in scopes):
            return "This page is for the administrators of this hub, and your account is not one of them."
        if any(s in ("access:servers", "servers", "read:servers") for s in scopes):
            return "This belongs to another user's server: only its owner (or an administrator) may open it."
        return "Your account is not allowed to do this."
    if status_code == 404 and not message:
        return "There is no page at this address. It may have moved, or the link has a typo."
    return None


def template_functions(user: object = None) -> dict:
    """What c.JupyterHub.template_vars offers the templates; JupyterHub calls callables there
    with the user, so the functions are handed over through this call."""
    return {"explain_error": explain_error}
