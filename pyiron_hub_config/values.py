"""Value types shared by the settings and the environment catalogue.

Each is an ``Annotated`` type whose validator raises ``ValueError`` with a message that
says what a valid value looks like; pydantic turns those into per-variable problems.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Network, ip_network
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator

from .subnets import DEFAULT_POOL, NOT_FOR_BRIDGES

# JupyterHub's ByteSpecification (behind Spawner.mem_limit) has the same 1024-based units,
# but takes only upper-case K/M/G/T with nothing after: the old deployment's '2g' and
# '2048MiB' would be refused. So the grammar is ours; the spawner gets the byte count.
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?$", re.IGNORECASE)
# Docker refuses containers with less than 6 MiB; a Jupyter server needs far more.
MIN_MEMORY = 64 * 1024**2
# Docker turns CPUs into a CFS quota of CPUs * 100000 us per 100000 us period (NanoCpus on a
# swarm) and reads a quota of 0 as *no limit*; its smallest quota is 1000 us, i.e. 0.01 CPU.
MIN_CPUS = 0.01
MAX_CPUS = 1024.0


def parse_memory(value: object) -> int:
    """'512M', '2G', '1.5g', '2048MiB' or a byte count -> bytes (enough for a Jupyter server)."""
    n = parse_size(value)
    if n < MIN_MEMORY:
        raise ValueError(f"{value!r} is too small: a Jupyter server needs at least 64M")
    return n


def parse_size(value: object) -> int:
    """The same grammar for any size (a disk quota may be small): -> bytes."""
    if isinstance(value, bool):
        raise ValueError("must be a size like 512M or 2G")
    if isinstance(value, int):
        n = value
    else:
        m = _MEMORY.match(str(value).strip())
        if not m:
            raise ValueError(f"{value!r} is not a size: use a number with K, M, G or T, like 512M or 2G")
        try:
            n = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
        except OverflowError:  # more digits than a float holds: not a ValueError, so pydantic would not catch it
            raise ValueError(f"{value!r} is too large: use a size like 512M or 2G") from None
    return n


def format_memory(n: int) -> str:
    """Bytes -> the shortest exact '2G' / '512M' form (for forms and messages)."""
    for unit in ("T", "G", "M", "K"):
        if n % _UNITS[unit] == 0:
            return f"{n // _UNITS[unit]}{unit}"
    return str(n)


# Docker takes a memory limit as a signed 64-bit byte count: a larger one would fail only at spawn.
MAX_MEMORY = 2**63 - 1


def check_memory_max(n: int) -> int:
    if n > MAX_MEMORY:
        raise ValueError(f"{format_memory(n)} is too large: use a size like 512M or 2G")
    return n


def check_cpus(value: float) -> float:
    if not MIN_CPUS <= value <= MAX_CPUS:
        raise ValueError(f"{value} is out of range: use a number of CPUs from {MIN_CPUS:g}, such as 0.5, 1 or 4")
    return value


# Docker's reference grammar, simplified: [host[:port]/]path[:tag][@sha256:digest]. Kept by
# hand: docker-py only splits a reference (parse_repository_tag), it never checks one.
# As in Docker, a first component is a registry host only if it has a dot or a port or
# is "localhost"; the path is lower case, so no spaces or shell characters can pass.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:(?:localhost|{_LABEL}(?:\.{_LABEL})+)(?::[0-9]+)?|{_LABEL}:[0-9]+)/"
_IMAGE = re.compile(
    rf"^(?:{_HOST})?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[a-f0-9]{{64}})?$"
)


def check_image(value: str) -> str:
    value = value.strip()
    if not _IMAGE.match(value):
        raise ValueError(
            f"{value!r} is not a valid image reference: use lower-case name[:tag], like pyiron/pyiron:latest"
        )
    return value


def check_http_url(value: str) -> str:
    """An http(s) URL, returned as written.

    Not pydantic's HttpUrl: it follows the WHATWG URL standard, which repairs rather than
    refuses ('https:///token' gets the host 'token', 'http:/kc' becomes 'http://kc/') and
    hands back a normalised form, while the issuer must stay exactly as Keycloak writes it.
    """
    value = value.strip()
    parts = urlsplit(value)
    try:
        port_ok = parts.port != 0
    except ValueError:  # urlsplit checks the port only when asked: 'host:99999', 'host:abc'
        port_ok = False
    # Any whitespace, not only spaces: urlsplit silently drops tabs and line breaks.
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or re.search(r"\s", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


def check_origin(value: str) -> str:
    """scheme://host[:port] and nothing more, with a DNS name: users' servers get <user>.<host>."""
    value = check_http_url(value).rstrip("/")
    parts = urlsplit(value)
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r} must be only scheme://host[:port], like https://hub.example.org")
    if re.fullmatch(r"[0-9.]+|\[.*\]", parts.netloc.rsplit(":", 1)[0]) or "." not in (parts.hostname or ""):
        raise ValueError(f"{value!r} needs a domain name (users' servers are <user>.<that name>), not an address")
    return value


_EMAIL = re.compile(r"^[^@\s<>\"'()]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def check_help_url(value: str) -> str:
    """A help page (http/https) or a mailto: address; nothing a browser would run."""
    value = value.strip()
    if value.lower().startswith("mailto:"):
        if not _EMAIL.match(value[len("mailto:") :]):
            raise ValueError(f"{value!r} is not a mailto: address: use mailto:name@example.org")
        return value
    try:
        return check_http_url(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither an http(s) URL nor a mailto: address") from None


def parse_address_pool(value: object) -> object:
    """'172.16.0.0/16' -> an IPv4 network for bridges: a range, exactly as written (no host bits)."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    try:
        pool = ip_network(value, strict=False) if "/" in value else None
    except ValueError:
        pool = None
    if pool is None:
        raise ValueError(f"{value[:60]!r} is not an address range: use CIDR notation like {DEFAULT_POOL}")
    if pool.version != 4:
        raise ValueError(f"{value!r} is an IPv6 range; users' networks are IPv4: use e.g. {DEFAULT_POOL}")
    if str(pool) != value:
        raise ValueError(f"{value!r} has bits set after the prefix: the range is written {pool}")
    for reserved in NOT_FOR_BRIDGES:
        if pool.overlaps(reserved):
            raise ValueError(
                f"{value!r} overlaps {reserved}, which is not for containers' networks: "
                f"use a private range like {DEFAULT_POOL}"
            )
    return pool


def split_list(value: object) -> object:
    """'a, b c' -> ['a', 'b', 'c']; lists pass through."""
    if isinstance(value, str):
        return [item for item in re.split(r"[,\s]+", value) if item]
    return value


MemoryBytes = Annotated[int, BeforeValidator(parse_memory), AfterValidator(check_memory_max)]
SizeBytes = Annotated[int, BeforeValidator(parse_size), AfterValidator(check_memory_max)]
Cpus = Annotated[float, AfterValidator(check_cpus)]
ImageRef = Annotated[str, AfterValidator(check_image)]
# The URL as written (a str; not pydantic's HttpUrl, see check_http_url).
HttpUrlText = Annotated[str, AfterValidator(check_http_url)]
Origin = Annotated[str, AfterValidator(check_origin)]
HelpUrl = Annotated[str, AfterValidator(check_help_url)]
NameList = Annotated[list[str], BeforeValidator(split_list)]

# A Keycloak group's name as JupyterHub keeps it (strip_group_path drops a leading '/').
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@ -]{0,254}$")


def parse_environment_groups(value: object) -> object:
    """'pyiron_md=research,teachers; pyiron_base=teaching' -> {'pyiron_md': ['research', 'teachers'], ...}."""
    if not isinstance(value, str):
        return value
    result: dict[str, list[str]] = {}
    for part in (p.strip() for p in value.split(";")):
        if not part:
            continue
        name, sep, groups = part.partition("=")
        names = [g.strip().lstrip("/") for g in groups.split(",") if g.strip()]
        if not sep or not name.strip() or not names:
            raise ValueError(f"{part!r} is not environment=group[,group]")
        bad = [g for g in names if not _GROUP.match(g)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a group name")
        result.setdefault(name.strip(), []).extend(names)
    return result


EnvironmentGroups = Annotated[dict[str, list[str]], BeforeValidator(parse_environment_groups)]
AddressPool = Annotated[IPv4Network, BeforeValidator(parse_address_pool)]


# Docker's placement constraint: node.<attribute> == or != a value (`docker service create --constraint`).
_CONSTRAINT = re.compile(r"^(node\.[a-zA-Z0-9_.-]+|engine\.labels\.[a-zA-Z0-9_.-]+)\s*(==|!=)\s*([a-zA-Z0-9_.:/-]+)$")


def check_constraints(value: object) -> object:
    """'node.role == worker, node.labels.x==y' -> ['node.role==worker', 'node.labels.x==y'].

    Split on commas only: Docker's own syntax allows spaces around the operator.
    """
    if not isinstance(value, str):
        return value
    constraints = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        match = _CONSTRAINT.match(item)
        if not match:
            raise ValueError(
                f"{item[:60]!r} is not a placement constraint: use e.g. node.role==worker "
                "or node.labels.pyiron-users==true"
            )
        constraints.append("".join(match.groups()))
    return constraints


ConstraintList = Annotated[list[str], BeforeValidator(check_constraints)]


def pull_arguments(image: str) -> tuple[str, str]:
    """The repository and tag (or digest) the Docker API's pull takes for an image reference.

    docker-py's parser splits at the last colon of the last path component or at the '@',
    so a registry's port and a digest survive: localhost:5000/pyiron/base stays whole,
    pyiron/base@sha256:... is pulled by its digest.
    """
    from docker.utils import parse_repository_tag

    repository, tag = parse_repository_tag(image)
    return repository, tag or "latest"
