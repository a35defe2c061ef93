"""Plain words for the errors JupyterHub states in its own terms (scopes, bare statuses).

JupyterHub refuses with "Action is not authorized with current scopes; requires any of
[admin:users]": exact for an administrator, jargon for everyone else. The error page says
what it means instead and keeps the original below it, folded, for whoever debugs.

Also, in one place, the words of other programs that the code must recognise where they
give no exit code or machine-readable output to go by; each pattern is tested against the
program's own output, recorded (tests/unit/samples/, tests/unit/test_error_words.py).
Only the standard library: the backup's worker imports it too.
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


# --- restic (the hub image has Debian trixie's 0.18) ------------------------------------------
# Its exit codes say most (restic >= 0.17; backup.py goes by them): 10 no repository there,
# 11 the repository is locked, 12 wrong password. For the rest it exits 1, and only its words
# say what went wrong.
RESTIC_NO_REPOSITORY, RESTIC_LOCKED, RESTIC_WRONG_PASSWORD = 10, 11, 12
RESTIC_DISK_FULL = re.compile(r"no space left on device|disk quota exceeded", re.IGNORECASE)
RESTIC_UNREACHABLE = re.compile(
    r"ssh: |Connection refused|unable to start the sftp session|connection lost|no route to host"
    r"|Temporary failure in name resolution|i/o timeout|dial tcp",
    re.IGNORECASE,
)
RESTIC_REPOSITORY_EXISTS = re.compile(r"config file already exists")  # `restic init` where one is

# --- Docker --------------------------------------------------------------------------------
DOCKER_NO_BIND_SOURCE = "bind source path does not exist"  # a bind mount's source is missing
GUARD_REFUSED = "docker-guard refused"  # a refusal of the Docker API guard (docker_guard/guard.py)


def template_functions(user: object = None) -> dict:
    """What c.JupyterHub.template_vars offers the templates; JupyterHub calls callables there
    with the user, so the functions are handed over through this call."""
    return {"explain_error": explain_error}
