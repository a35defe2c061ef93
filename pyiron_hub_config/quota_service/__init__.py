"""The quota service: makes each user's home a btrfs subvolume with a qgroup limit, raises
one user's limit, and reports what each uses (STORAGE_QUOTA, compose.quota.yml).

Where it runs and with which privileges: in a container of its own (the hub image again),
as root with the one capability CAP_SYS_ADMIN (setting a qgroup limit needs it), the host's
STORAGE_QUOTA_ROOT bound at the same path, on an internal network that only the hub joins.
It holds no Docker socket and no secret. The hub holds no privilege: it asks this service
over HTTP, and mounts <root>/<user>/home into the user's server through the Docker guard, which
lets through binds of exactly such a directory and nothing else of the host.

Rules for its code: the hub image's Python, standard library only, plus aiohttp for the
HTTP side (never at the top: the healthcheck starts it every few seconds). The hub never imports from it (tests/unit/test_layout.py); it speaks JSON to it.

    python -m pyiron_hub_config.quota_service --root /srv/pyiron-hub/quota [--listen 0.0.0.0:8099]
    python -m pyiron_hub_config.quota_service --ping     (the service's healthcheck)

    GET  /ping                   200 (the healthcheck)
    GET  /check                  200 {"ok": true} or 503 {"message": why no quota is enforced}
    GET  /users                  {name: {"used": bytes, "limit": bytes|null}} for every subvolume
    PUT  /users/{name}           {"limit": bytes}: make the user's subvolume <root>/<name> with
                                 that limit and a home in it (<name>/home, uid 1000, mode 0700)
                                 if it is missing; an existing one keeps its limit (an admin
                                 may have raised it)
    PUT  /users/{name}/limit     {"limit": bytes}: set an existing subvolume's limit (its files stay)
    GET  /groups                 {name: {"used": bytes, "limit": bytes|null}} for every group folder
    PUT  /groups/{name}          {"limit": bytes}: make the group folder's subvolume <root>/_groups/<name>
                                 with that limit and the folder in it (<name>/folder, uid 1000,
                                 mode 2775) if it is missing; an existing one keeps its limit
    PUT  /groups/{name}/limit    {"limit": bytes}: set an existing group folder's limit
"""
