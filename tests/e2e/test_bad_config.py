"""Bad configuration is refused twice: by `pyiron-hub check` and by the hub's real start-up.

Every case is one fault on top of a valid baseline (the baseline passing `check` is
verified first, by the `baseline` fixture every case depends on). A case holds when

1. `pyiron-hub check`, in process, exits 1 and its report has exactly the expected number
   of problems, one of which starts with the variable or catalogue entry and contains the
   words of the fix (or the example); no traceback, and no secret of the baseline echoed.
   Cases that need no file on the hub's side are also checked the way the README tells an
   admin to: `pyiron-hub check --env-file FILE` (the same file the container gets).
2. The hub image, started for real with that env file (`docker run --env-file`, network
   none, 60 s timeout): its default command `pyiron-hub serve` for every case, and
   `jupyterhub -f /srv/jupyterhub/jupyterhub_config.py` (JupyterHub loading the config
   file itself) for a subset covering every category. Each must exit 1 quickly with the
   same report, before waiting for the database, with no traceback, and leave no file:
   the container's data directory (a bind mount) stays empty and `docker diff` shows
   nothing but the catalogue's mount point. (So the containers are removed after
   `docker diff`, by name, instead of with --rm.)

Seeds for `pyiron-hub init --from config.json` (truncated, wrong types, unknown sections
or keys) must exit 1 naming the key, and leave the target directory byte-identical:
both beside earlier env files (which stay as they were) and for a directory that does
not exist yet (which is not created).

The containers of all selected cases are started up front, a few at a time, by a
module fixture; each case's test then checks its own results, so one test function
per case checks both paths ("tried/held" in the reliability table counts cases).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pyiron_hub_config.cli import main
from pyiron_hub_config.envfiles import ENV_FILES, known_variables

from .conftest import DOCKER

pytestmark = pytest.mark.reliability("bad configuration")

TIMEOUT = 60  # seconds a refused start may take at most, per container
QUICK = 45  # ...and what counts as quick: a hub waiting for its database takes POSTGRES_WAIT_TIMEOUT (60 s);
# 45, not 30: beside the swarm suite (tests/streams.py) the slowest refusal took 22 s
WORKERS = 4  # containers started at once (measured on 2 cores: ~1 s each at 4, ~1.8 s one by one)
LABEL = "pyiron-hub-test=badcfg"
IN_CONTAINER_CATALOGUE = "/srv/jupyterhub/custom.toml"
HUB_CONFIG = "/srv/jupyterhub/jupyterhub_config.py"

# --- the valid baseline ------------------------------------------------------------------
# Keycloak (AUTHENTICATOR unset), a realm that never resolves, one allowed group.
CLIENT_SECRET = "badcfg-client-secret-never-echoed"
DB_PASSWORD = "badcfg-db-password-never-echoed"
SECRETS = (CLIENT_SECRET, DB_PASSWORD)
BASELINE = {
    "OAUTH2_ISSUER_URL": "http://keycloak.invalid/realms/pyiron",
    "CLIENT_ID": "pyiron-hub",
    "CLIENT_SECRET": CLIENT_SECRET,
    "POSTGRES_PASSWORD": DB_PASSWORD,
    "OAUTH2_ALLOWED_GROUPS": "pyiron-users",
}


def entry(name: str, **keys: object) -> str:
    """One [[environments]] TOML entry; display_name and image have defaults, None leaves a key out."""
    keys = {"display_name": name.replace("_", " "), "image": f"pyiron/{name.removeprefix('pyiron_')}:latest", **keys}
    lines = ["[[environments]]", f"name = {json.dumps(name)}"]
    for key, value in keys.items():
        if value is None:
            continue
        text = (
            ("true" if value else "false")
            if isinstance(value, bool)
            else str(value)
            if isinstance(value, (int, float))
            else json.dumps(value)
        )
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n\n"


# A valid custom catalogue: every catalogue case changes one thing in it.
BASE_ENTRY = entry("pyiron_base", default=True)
ATOMISTICS_ENTRY = entry("pyiron_atomistics", image="pyiron/pyiron:latest", mem_limit="4G", cpu_limit=2)
CATALOGUE = BASE_ENTRY + ATOMISTICS_ENTRY

BASELINE_SEED = {
    "build": {"HUB_PORT": "8000"},
    "pyiron": {
        "OAUTH2_ISSUER_URL": "https://keycloak.example.org/realms/pyiron",
        "CLIENT_ID": "pyiron-hub",
        "CLIENT_SECRET": CLIENT_SECRET,
        "OAUTH2_ALLOWED_GROUPS": "pyiron-users",
        "ADMIN_USER": "alice",
    },
    "shared": {"POSTGRES_PASSWORD": DB_PASSWORD},
}
BASELINE_SEED_TEXT = json.dumps(BASELINE_SEED, indent=2) + "\n"


def seed(**sections: object) -> str:
    """The baseline config.json with some sections' entries changed (or whole sections replaced)."""
    data = json.loads(BASELINE_SEED_TEXT)
    for section, change in sections.items():
        if isinstance(change, dict) and isinstance(data.get(section), dict):
            data[section].update(change)
        else:
            data[section] = change
    return json.dumps(data, indent=2)


# --- the cases -----------------------------------------------------------------------------
class Missing:
    """ENVIRONMENTS_FILE names a file that is not there."""


@dataclass(frozen=True)
class Case:
    category: str
    id: str
    names: str  # a problem must start with this: the variable or catalogue entry
    fix: tuple[str, ...]  # ...and contain these words: the fix or the example
    env: dict = field(default_factory=dict)  # changes to BASELINE; None unsets
    catalogue: str | bytes | type | None = None  # a custom catalogue, mounted as ENVIRONMENTS_FILE
    problems: int = 1  # the one fault and nothing else: exactly this many problems reported
    jupyterhub: bool = False  # also start `jupyterhub -f` in a container
    on_host: bool | None = None  # also `check --env-file`; default: unless a file on the hub's side matters

    @property
    def checked_on_host(self) -> bool:
        if self.on_host is not None:
            return self.on_host
        # `check --env-file` does not read files named in it (they are inside the container).
        return self.catalogue is None and not any(
            v and (k.endswith("_FILE") or k == "OAUTH2_CA_BUNDLE") for k, v in self.env.items()
        )

    def environ(self, catalogue_path: str | None) -> dict[str, str]:
        env = {**BASELINE, **self.env}
        if self.catalogue is not None:
            env["ENVIRONMENTS_FILE"] = catalogue_path
        return {k: v for k, v in env.items() if v is not None}


def cases(category: str, *rows: tuple) -> list[Case]:
    """Rows of (id, names, fix, env changes, options)."""
    made = []
    for row in rows:
        id_, names, fix, changes, *options = row
        made.append(
            Case(
                category,
                id_,
                names,
                (fix,) if isinstance(fix, str) else tuple(fix),
                dict(changes),
                **(options[0] if options else {}),
            )
        )
    return made


JH = {"jupyterhub": True}
IMAGE_FIX = "use lower-case name[:tag], like pyiron/pyiron:latest"
URL_FIX = ("is not an http(s) URL", "(example: https://keycloak.example.org/")
MEM_FIX = "like 512M or 2G"
CPU_FIX = "number of CPUs from 0.01, such as 0.5, 1 or 4"
EMPTY_CATALOGUE_FIX = ("needs at least one [[environments]] entry", 'name = "pyiron_base"')

ENV_CASES = [
    *cases(
        "missing",
        # id                        names in the message       words of the fix                 env changes
        ("no CLIENT_ID", "CLIENT_ID", ("is required but not set", "example: pyiron-hub"), {"CLIENT_ID": None}, JH),
        (
            "no CLIENT_SECRET",
            "CLIENT_SECRET",
            ("is required", "example: a long random string"),
            {"CLIENT_SECRET": None},
        ),
        (
            "no POSTGRES_PASSWORD",
            "POSTGRES_PASSWORD",
            ("is required", "example: a long random string"),
            {"POSTGRES_PASSWORD": None},
        ),
        (
            "no issuer, no endpoints",
            "OAUTH2_ISSUER_URL",
            ("give the realm URL, or all three endpoint URLs", "example: https://keycloak.example.org/realms/pyiron"),
            {"OAUTH2_ISSUER_URL": None},
        ),
        (
            "no issuer, two of three endpoints",
            "OAUTH2_ISSUER_URL",
            "neither are OAUTH2_USERDATA_URL",
            {
                "OAUTH2_ISSUER_URL": None,
                "OAUTH2_AUTHORIZE_URL": "https://kc.example.org/realms/p/protocol/openid-connect/auth",
                "OAUTH2_TOKEN_URL": "https://kc.example.org/realms/p/protocol/openid-connect/token",
            },
        ),
        (
            "no access policy",
            "OAUTH2_ALLOWED_GROUPS",
            ("nobody but admins could log in", "OAUTH2_ALLOW_ALL=true"),
            {"OAUTH2_ALLOWED_GROUPS": None},
            JH,
        ),
        (
            "OAUTH2_ALLOW_ALL=false is no policy",
            "OAUTH2_ALLOWED_GROUPS",
            "OAUTH2_ALLOW_ALL=true",
            {"OAUTH2_ALLOWED_GROUPS": None, "OAUTH2_ALLOW_ALL": "false"},
        ),
        ("dummy login without password", "DUMMY_PASSWORD", "example: a test password", {"AUTHENTICATOR": "dummy"}),
    ),
    *cases(
        "empty",
        ("CLIENT_ID=", "CLIENT_ID", ("is set but empty", "example: pyiron-hub"), {"CLIENT_ID": ""}),
        ("CLIENT_SECRET=", "CLIENT_SECRET", ("is set but empty", "example:"), {"CLIENT_SECRET": ""}, JH),
        ("CLIENT_SECRET=<blanks>", "CLIENT_SECRET", ("is set but empty", "example:"), {"CLIENT_SECRET": "   "}),
        ("POSTGRES_PASSWORD=", "POSTGRES_PASSWORD", ("is set but empty", "example:"), {"POSTGRES_PASSWORD": ""}),
        ("OAUTH2_ISSUER_URL=", "OAUTH2_ISSUER_URL", "give the realm URL", {"OAUTH2_ISSUER_URL": ""}),
    ),
    *cases(
        "url",
        (
            "ftp issuer",
            "OAUTH2_ISSUER_URL",
            URL_FIX,
            {"OAUTH2_ISSUER_URL": "ftp://keycloak.example.org/realms/pyiron"},
            JH,
        ),
        (
            "javascript: logout",
            "OAUTH2_LOGOUT_URL",
            URL_FIX,
            {"OAUTH2_LOGOUT_URL": "javascript:alert(document.cookie)"},
        ),
        ("file: token endpoint", "OAUTH2_TOKEN_URL", URL_FIX, {"OAUTH2_TOKEN_URL": "file:///etc/passwd"}),
        ("no host", "OAUTH2_ISSUER_URL", URL_FIX, {"OAUTH2_ISSUER_URL": "https:///realms/pyiron"}),
        (
            "space inside",
            "OAUTH2_ISSUER_URL",
            URL_FIX,
            {"OAUTH2_ISSUER_URL": "https://keycloak.example.org/realms/py iron"},
        ),
        (
            "tab inside",
            "OAUTH2_ISSUER_URL",
            URL_FIX,
            {"OAUTH2_ISSUER_URL": "https://keycloak.example.org\t/realms/pyiron"},
        ),
        (
            "no-break space in host",
            "OAUTH2_ISSUER_URL",
            URL_FIX,
            {"OAUTH2_ISSUER_URL": "https://keycloak\u00a0example.org/realms/pyiron"},
        ),
        (
            "port out of range",
            "OAUTH2_ISSUER_URL",
            URL_FIX,
            {"OAUTH2_ISSUER_URL": "https://keycloak.example.org:99999/realms/pyiron"},
        ),
        (
            "scheme-relative callback",
            "OAUTH_CALLBACK_URL",
            ("is not an http(s) URL", "example: https://hub.example.org/"),
            {"OAUTH_CALLBACK_URL": "//hub.example.org/hub/oauth_callback"},
        ),
        (
            "broken IPv6 host",
            "OAUTH2_AUTHORIZE_URL",
            ("Invalid IPv6 URL", "example: https://keycloak.example.org/"),
            {"OAUTH2_AUTHORIZE_URL": "http://[::1/realms/pyiron/protocol/openid-connect/auth"},
        ),
    ),
    *cases(
        "limits",
        ("MEM_LIMIT=0", "MEM_LIMIT", ("too small", "at least 64M", "example: 2G"), {"MEM_LIMIT": "0"}),
        ("MEM_LIMIT negative", "MEM_LIMIT", ("is not a size", MEM_FIX), {"MEM_LIMIT": "-1G"}),
        ("MEM_LIMIT=lots", "MEM_LIMIT", ("is not a size", MEM_FIX), {"MEM_LIMIT": "lots"}, JH),
        ("MEM_LIMIT=nan", "MEM_LIMIT", ("is not a size", MEM_FIX), {"MEM_LIMIT": "nan"}),
        ("MEM_LIMIT huge", "MEM_LIMIT", ("too large", MEM_FIX), {"MEM_LIMIT": "99999999999T"}),
        ("CPU_LIMIT=0", "CPU_LIMIT", ("out of range", CPU_FIX), {"CPU_LIMIT": "0"}),
        ("CPU_LIMIT negative", "CPU_LIMIT", ("out of range", CPU_FIX), {"CPU_LIMIT": "-1"}),
        ("CPU_LIMIT=lots", "CPU_LIMIT", ("use a number", "example: 1"), {"CPU_LIMIT": "lots"}),
        ("CPU_LIMIT=nan", "CPU_LIMIT", ("out of range", CPU_FIX), {"CPU_LIMIT": "nan"}),
        ("CPU_LIMIT huge", "CPU_LIMIT", ("out of range", CPU_FIX), {"CPU_LIMIT": "100000"}),
        ("MAX_MEM_LIMIT huge", "MAX_MEM_LIMIT", ("too large", MEM_FIX), {"MAX_MEM_LIMIT": "9" * 400 + "G"}),
        (
            "MAX_MEM_LIMIT below MEM_LIMIT",
            "MEM_LIMIT",
            ("above MAX_MEM_LIMIT=1G", "example: at most 1G"),
            {"MAX_MEM_LIMIT": "1G"},
            JH,
        ),
        ("MAX_CPU_LIMIT huge", "MAX_CPU_LIMIT", ("out of range", CPU_FIX), {"MAX_CPU_LIMIT": "1e9"}),
        (
            "MAX_CPU_LIMIT below CPU_LIMIT",
            "CPU_LIMIT",
            ("above MAX_CPU_LIMIT=0.5", "example: at most 0.5"),
            {"MAX_CPU_LIMIT": "0.5"},
        ),
    ),
    *cases(
        "image",
        ("space", "PYIRON_BASE", IMAGE_FIX, {"PYIRON_BASE": "pyiron/base latest"}, JH),
        ("semicolon", "PYIRON_BASE", IMAGE_FIX, {"PYIRON_BASE": "pyiron/base:latest;id"}),
        ("$(id)", "PYIRON_ATOMISTIC", IMAGE_FIX, {"PYIRON_ATOMISTIC": "pyiron/pyiron:$(id)"}),
        ("backticks", "PYIRON_CONTINUUM", IMAGE_FIX, {"PYIRON_CONTINUUM": "pyiron/continuum:`id`"}),
        ("pipe", "PYIRON_EXPERIMENTAL", IMAGE_FIX, {"PYIRON_EXPERIMENTAL": "pyiron/experimental|sh"}),
        ("&&", "PYIRON_BASE", IMAGE_FIX, {"PYIRON_BASE": "pyiron/base:latest&&id"}),
        ("upper case", "PYIRON_BASE", IMAGE_FIX, {"PYIRON_BASE": "Pyiron/Base:latest"}),
        ("an option, not an image", "PYIRON_ATOMISTIC", IMAGE_FIX, {"PYIRON_ATOMISTIC": "--privileged"}),
    ),
    *cases(
        "files and secrets",
        (
            "CLIENT_SECRET_FILE missing",
            "CLIENT_SECRET_FILE",
            ("cannot read", "example: /run/secrets/client_secret"),
            {"CLIENT_SECRET": None, "CLIENT_SECRET_FILE": "/run/secrets/badcfg-absent"},
            JH,
        ),
        (
            "POSTGRES_PASSWORD_FILE is a binary",
            "POSTGRES_PASSWORD_FILE",
            ("is not UTF-8 text", "a file holding only the secret"),
            {"POSTGRES_PASSWORD": None, "POSTGRES_PASSWORD_FILE": "/bin/sh"},
        ),
        (
            "CLIENT_SECRET and CLIENT_SECRET_FILE",
            "CLIENT_SECRET_FILE",
            "keep one",
            {"CLIENT_SECRET_FILE": "/run/secrets/client_secret"},
            {"on_host": True},
        ),
        (
            "OAUTH2_CA_BUNDLE missing",
            "OAUTH2_CA_BUNDLE",
            ("no such file", "mount the file into the hub container"),
            {"OAUTH2_CA_BUNDLE": "/srv/badcfg/keycloak-ca.pem"},
        ),
        (
            "OAUTH2_CA_BUNDLE name too long",
            "OAUTH2_CA_BUNDLE",
            "mount the file into the hub container",
            {"OAUTH2_CA_BUNDLE": "/srv/" + "k" * 300 + ".pem"},
        ),
        (
            "TLS cert without key",
            "TLS_CERT_FILE",
            "must be set together",
            {"TLS_CERT_FILE": "/srv/badcfg/hub.crt"},
            {"problems": 2},
        ),  # ...and the certificate is not there
    ),
    *cases(
        "catalogue",
        (
            "file missing",
            "ENVIRONMENTS_FILE",
            ("cannot read it: No such file", "example: a TOML file"),
            {},
            {"catalogue": Missing},
        ),
        (
            "not TOML",
            "ENVIRONMENTS_FILE",
            ("is not valid TOML", "(quoted strings)"),
            {},
            {"catalogue": CATALOGUE.replace('name = "pyiron_base"', "name = pyiron_base"), **JH},
        ),
        (
            "not UTF-8",
            "ENVIRONMENTS_FILE",
            ("is not UTF-8 text", "save it as UTF-8"),
            {},
            {"catalogue": CATALOGUE.encode().replace(b"pyiron base", b"pyiron\xff base")},
        ),
        (
            "duplicate names",
            "catalogue entry 'pyiron_base'",
            ("used twice", "give each entry its own name"),
            {},
            {"catalogue": CATALOGUE + entry("pyiron_base", display_name="again"), **JH},
        ),
        # An entry of the admin's own (its image cannot come from a PYIRON_* variable, as
        # pyiron_base's may): imgae is unknown, and image is missing.
        (
            "typo imgae",
            "catalogue entry 'pyiron_custom'",
            ("imgae: unknown key", "valid keys are", "image"),
            {},
            {
                "catalogue": BASE_ENTRY + entry("pyiron_custom", image=None, imgae="pyiron/base:latest"),
                "problems": 2,
                **JH,
            },
        ),
        (
            "typo [[environment]]",
            "ENVIRONMENTS_FILE",
            "unknown key; the file holds only [[environments]] entries",
            {},
            {"catalogue": CATALOGUE.replace("[[environments]]", "[[environment]]"), "problems": 2},
        ),  # ...and none is there
        (
            "two defaults",
            "ENVIRONMENTS_FILE",
            ("more than one entry has default = true", "mark one entry as default"),
            {},
            {"catalogue": BASE_ENTRY + entry("pyiron_atomistics", default=True)},
        ),
        ("empty list", "ENVIRONMENTS_FILE", EMPTY_CATALOGUE_FIX, {}, {"catalogue": "environments = []\n"}),
        (
            "bad image",
            "catalogue entry 'pyiron_base'",
            ("image:", IMAGE_FIX),
            {},
            {"catalogue": entry("pyiron_base", image="pyiron/base; rm -rf /") + ATOMISTICS_ENTRY},
        ),
        (
            "bad name",
            "catalogue entry 'Pyiron Base'",
            "name: String should match pattern",
            {},
            {"catalogue": entry("Pyiron Base", image="pyiron/base:latest") + ATOMISTICS_ENTRY},
        ),
        (
            "mem_limit=lots",
            "catalogue entry 'pyiron_atomistics'",
            ("mem_limit:", "is not a size", MEM_FIX),
            {},
            {"catalogue": BASE_ENTRY + entry("pyiron_atomistics", mem_limit="lots")},
        ),
        (
            "mem_limit above MAX_MEM_LIMIT",
            "catalogue entry 'pyiron_atomistics'",
            ("mem_limit 4G is above MAX_MEM_LIMIT", "example: 3G"),
            {"MAX_MEM_LIMIT": "3G"},
            {"catalogue": CATALOGUE},
        ),
        (
            "PYIRON_BASE without its entry",
            "PYIRON_BASE",
            "unset it, or add the entry to the catalogue",
            {"PYIRON_BASE": "pyiron/base:7"},
            {"catalogue": ATOMISTICS_ENTRY},
        ),
    ),
]

SEED_FIX_TYPE = "must be a string, not"
SEED_CASES = [
    # id                       names in the message          words of the fix                     config.json
    (
        "truncated",
        "config file",
        ("is not valid JSON", '"pyiron": {"CLIENT_ID"'),
        BASELINE_SEED_TEXT[: len(BASELINE_SEED_TEXT) // 2],
    ),
    ("empty file", "config file", "is not valid JSON", ""),
    (
        "not UTF-8",
        "config file",
        ("is not UTF-8 text", "save it as UTF-8"),
        BASELINE_SEED_TEXT.encode().replace(b"pyiron-hub", b"pyiron-\xffhub"),
    ),
    ("a list, not an object", "config file", "must be a JSON object with sections build, pyiron and shared", "[1, 2]"),
    ("null document", "config file", "must be a JSON object", "null"),
    (
        "list value",
        "pyiron.ALLOWED_USERS",
        (SEED_FIX_TYPE + " list", '"ALLOWED_USERS": "value"'),
        seed(pyiron={"ALLOWED_USERS": ["alice", "bob"]}),
    ),
    (
        "bool value",
        "pyiron.OAUTH2_ALLOW_ALL",
        (SEED_FIX_TYPE + " bool", '"OAUTH2_ALLOW_ALL": "value"'),
        seed(pyiron={"OAUTH2_ALLOW_ALL": True}),
    ),
    ("null value", "pyiron.CLIENT_ID", SEED_FIX_TYPE + " NoneType", seed(pyiron={"CLIENT_ID": None})),
    (
        "nested object value",
        "pyiron.CLIENT_SECRET",
        SEED_FIX_TYPE + " dict",
        seed(pyiron={"CLIENT_SECRET": {"value": CLIENT_SECRET}}),
    ),
    (
        "section not an object",
        "section 'shared'",
        'must be an object of "NAME": "value" pairs',
        seed(shared=[f"POSTGRES_PASSWORD={DB_PASSWORD}"]),
    ),
    (
        "unknown section",
        "section 'keycloak'",
        ("unknown section", "build, pyiron or shared"),
        seed(keycloak={"CLIENT_ID": "pyiron-hub"}),
    ),
    (
        "unknown key (typo)",
        "pyiron.CLIENT_SECERT",
        ("unknown variable", "configuration reference"),
        seed(pyiron={"CLIENT_SECERT": "x"}),
    ),
    ("lower-case key", "pyiron.client_id", "unknown variable", seed(pyiron={"client_id": "pyiron-hub"})),
    ("unknown key in build", "build.NOT_A_VARIABLE", "unknown variable", seed(build={"NOT_A_VARIABLE": "1"})),
    ("valid JSON, bad MEM_LIMIT", "MEM_LIMIT", ("is not a size", MEM_FIX), seed(pyiron={"MEM_LIMIT": "lots"})),
    ("valid JSON, NaN CPUs", "CPU_LIMIT", ("out of range", CPU_FIX), seed(pyiron={"CPU_LIMIT": float("nan")})),
    (
        "valid JSON, javascript: URL",
        "OAUTH2_ISSUER_URL",
        URL_FIX,
        seed(pyiron={"OAUTH2_ISSUER_URL": "javascript:alert(1)"}),
    ),
    ("valid JSON, bad image", "PYIRON_BASE", IMAGE_FIX, seed(pyiron={"PYIRON_BASE": "pyiron/base;id"})),
    (
        "a quote an env file cannot hold",
        "POSTGRES_PASSWORD",
        "set POSTGRES_PASSWORD_FILE",
        seed(shared={"POSTGRES_PASSWORD": "it's-a-secret"}),
    ),
]


# --- helpers -----------------------------------------------------------------------------
def problems_of(report: str) -> list[str]:
    """The '  - ...' items of a report (an example may continue on following lines)."""
    items: list[str] = []
    for line in report.splitlines():
        if line.startswith("  - "):
            items.append(line[4:])
        elif items and not line.startswith(("Nothing was started.", "No file was written.", "pyiron-hub:")):
            items[-1] += "\n" + line
    return items


def refusal_faults(
    label: str,
    names: str,
    fix: tuple[str, ...],
    expected: int,
    code: int | None,
    out: str,
    err: str,
    outcome: str = "Nothing was started.",
    prefix: bool = True,
) -> list[str]:
    """What is wrong with how a configuration was refused (empty: refused as it should be)."""
    text = out + err
    faults = []
    if code != 1:
        faults.append(f"exit code {code}, not 1")
    if "Traceback" in text:
        faults.append("printed a traceback")
    header = re.search(r"^pyiron-hub: (\d+) configuration problems?:$", err, re.MULTILINE)
    if not header:
        faults.append("no problem report on stderr")
    elif int(header.group(1)) != expected:
        faults.append(f"{header.group(1)} problems, not {expected}: the case is not its one fault")
    items = problems_of(err)
    if not any((item.startswith(names) if prefix else names in item) and all(w in item for w in fix) for item in items):
        faults.append(f"no problem {'starts with' if prefix else 'names'} {names!r} and says {fix!r}")
    if outcome not in err:
        faults.append(f"does not say {outcome!r}")
    if "Configuration is valid" in out or "waiting for the database" in text:
        faults.append("went on as if the configuration were valid")
    if any(secret in text for secret in SECRETS):
        faults.append("echoed a secret of the baseline")
    if "uid=" in text:
        faults.append("something ran `id`")
    if faults:
        return [f"{label}: " + "; ".join(faults) + f"\n--- exit {code}; stdout:\n{out}\n--- stderr:\n{err}"]
    return []


def run_cli(argv: list[str], capsys) -> tuple[int | None, str, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except BaseException as err:  # noqa: BLE001 - a raised exception is the failure being tested for
        out, errout = capsys.readouterr()
        return None, out, errout + f"\nTraceback (raised instead of a report): {type(err).__name__}: {err}"
    out, err = capsys.readouterr()
    return code, out, err


def clear_environ(monkeypatch) -> None:
    for name in known_variables() | {"JUPYTERHUB_CONFIG"}:
        monkeypatch.delenv(name, raising=False)


def write_env_file(path: Path, env: dict[str, str]) -> Path:
    """KEY=VALUE lines: literal for `docker run --env-file`, read the same by `check --env-file`."""
    assert all("\n" not in v and "'" not in v and '"' not in v for v in env.values())
    path.write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
    return path


def place_catalogue(case: Case, directory: Path) -> Path | None:
    """The case's catalogue on the host (None: the case has none)."""
    if case.catalogue is None:
        return None
    path = directory / "custom.toml"
    if case.catalogue is not Missing:
        if isinstance(case.catalogue, bytes):
            path.write_bytes(case.catalogue)
        else:
            path.write_text(case.catalogue, encoding="utf-8")
    return path


def snapshot(directory: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every file and directory below directory (hidden ones too): mode and content."""
    if not directory.exists():
        return {}
    found = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(root) / name
            st = path.lstat()
            found[str(path.relative_to(directory))] = (
                st.st_mode,
                path.read_bytes() if stat.S_ISREG(st.st_mode) else None,
            )
    return found


# --- the hub, started for real -----------------------------------------------------------
@dataclass
class Start:
    label: str
    code: int | None
    out: str
    err: str
    seconds: float
    leftovers: list[str]  # files the refused start left behind


def start_hub(image: str, case: Case, directory: Path, command: list[str], label: str, environ: dict) -> Start:
    """`docker run` the hub image with the case's env file; no network; removed afterwards."""
    name = f"badcfg-{uuid.uuid4().hex[:12]}"
    data = directory / f"data-{label.split()[0]}"
    data.mkdir()
    mounts = ["-v", f"{data}:/srv/jupyterhub/data"]
    expected_diff = set()
    catalogue = directory / "custom.toml"
    if case.catalogue is not None and case.catalogue is not Missing:
        mounts += ["-v", f"{catalogue}:{IN_CONTAINER_CATALOGUE}:ro"]
        expected_diff = {f"A {IN_CONTAINER_CATALOGUE}", "C /srv", "C /srv/jupyterhub"}  # the mount point itself
    cmd = [
        DOCKER,
        "run",
        "--name",
        name,
        "--label",
        LABEL,
        "--network",
        "none",
        "--env-file",
        str(directory / "hub.env"),
        *mounts,
        image,
        *command,
    ]
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=environ)
        seconds = time.monotonic() - t0
        diff = subprocess.run([DOCKER, "diff", name], capture_output=True, text=True, env=environ).stdout.split("\n")
        leftovers = [line for line in diff if line and line not in expected_diff]
        leftovers += [f"A {p} (data volume)" for p in sorted(os.listdir(data))]
        return Start(label, r.returncode, r.stdout, r.stderr, seconds, leftovers)
    except subprocess.TimeoutExpired as err:
        return Start(
            label,
            None,
            str(err.stdout or ""),
            f"{err.stderr or ''}\n(no exit within {TIMEOUT} s)",
            time.monotonic() - t0,
            [],
        )
    finally:
        subprocess.run([DOCKER, "rm", "-f", "-v", name], capture_output=True, env=environ)


COMMANDS = {
    "pyiron-hub serve (the image's command)": [],
    f"jupyterhub -f {HUB_CONFIG}": ["jupyterhub", "-f", HUB_CONFIG],
}


@pytest.fixture(scope="module")
def stats(request):
    """Print what ran and how long it took, at the end of the module."""
    counts = {"t0": time.monotonic(), "containers": [], "categories": {}}
    yield counts
    seconds = time.monotonic() - counts["t0"]
    runs = counts["containers"]
    lines = [
        "bad configuration: cases run per category: " + ", ".join(f"{k} {v}" for k, v in counts["categories"].items()),
        f"bad configuration: {len(runs)} hub containers ("
        + ", ".join(f"{sum(1 for r in runs if r.label == k)} {k.split()[0]}" for k in COMMANDS)
        + (
            f"; slowest {max(r.seconds for r in runs):.1f} s, mean {sum(r.seconds for r in runs) / len(runs):.1f} s"
            if runs
            else ""
        )
        + f"); module runtime {seconds:.0f} s",
    ]
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        if tr:
            tr.ensure_newline()
        for line in lines:
            tr.write_line(line) if tr else print(line)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The baseline passes `check` (environment, env file, custom catalogue) and `init --from`:
    so every case fails because of its one fault."""
    directory = tmp_path_factory.mktemp("badcfg-baseline")
    catalogue = directory / "custom.toml"
    catalogue.write_text(CATALOGUE)
    env_file = write_env_file(directory / "hub.env", BASELINE)
    with pytest.MonkeyPatch.context() as mp:
        clear_environ(mp)
        for k, v in BASELINE.items():
            mp.setenv(k, v)
        codes = {"check": main(["check"]), "check --env-file": main(["check", "--env-file", str(env_file)])}
        mp.setenv("ENVIRONMENTS_FILE", str(catalogue))
        codes["check with the custom catalogue"] = main(["check"])
        seed_dir = directory / "seeded"
        seed_dir.mkdir()
        (seed_dir / "config.json").write_text(BASELINE_SEED_TEXT)
        codes["init --from config.json"] = main(["init", "--from", str(seed_dir / "config.json")])
        clear_environ(mp)
        codes["check of what init wrote"] = main(
            ["check", "--env-file", str(seed_dir / "pyiron.env"), "--env-file", str(seed_dir / "shared.env")]
        )
    assert codes == dict.fromkeys(codes, 0), f"the valid baseline is refused: {codes}"
    return seed_dir  # env files an earlier, successful init wrote


@pytest.fixture(scope="module")
def hub_starts(request, images, tmp_path_factory, stats):
    """Start the hub image for every selected case, a few containers at a time."""
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if item.module.__name__ == __name__
        and isinstance(getattr(item, "callspec", None) and item.callspec.params.get("case"), Case)
    ]
    environ = dict(os.environ)  # the docker client's own environment, fixed before any test changes it
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    futures: dict[str, list[Future]] = {}
    for case in selected:
        directory = tmp_path_factory.mktemp("badcfg-case")
        place_catalogue(case, directory)
        write_env_file(directory / "hub.env", case.environ(IN_CONTAINER_CATALOGUE))
        commands = [label for label in COMMANDS if case.jupyterhub or label.startswith("pyiron-hub serve")]
        futures[case.id] = [
            pool.submit(start_hub, images, case, directory, COMMANDS[label], label, environ) for label in commands
        ]
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


# --- the tests -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", ENV_CASES, ids=[f"{c.category}: {c.id}" for c in ENV_CASES])
def test_refused_by_check_and_by_hub_start(case, baseline, hub_starts, stats, tmp_path, monkeypatch, capsys):
    faults = []
    stats["categories"][case.category] = stats["categories"].get(case.category, 0) + 1
    catalogue = place_catalogue(case, tmp_path)
    env = case.environ(str(catalogue) if catalogue else None)

    # 1. `pyiron-hub check`, in process, with exactly the case's environment
    clear_environ(monkeypatch)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code, out, err = run_cli(["check"], capsys)
    faults += refusal_faults("pyiron-hub check", case.names, case.fix, case.problems, code, out, err)
    if case.checked_on_host:  # ...and as the README has an admin run it, on the env file
        clear_environ(monkeypatch)
        env_file = write_env_file(tmp_path / "pyiron.env", env)
        code, out, err = run_cli(["check", "--env-file", str(env_file)], capsys)
        faults += refusal_faults("pyiron-hub check --env-file", case.names, case.fix, case.problems, code, out, err)

    # 2. the hub's start-up, for real
    for future in hub_starts[case.id]:
        start = future.result()
        stats["containers"].append(start)
        faults += refusal_faults(
            f"docker run ... {start.label}", case.names, case.fix, case.problems, start.code, start.out, start.err
        )
        if start.code is not None and start.seconds > QUICK:
            faults.append(f"{start.label}: took {start.seconds:.0f} s to refuse")
        if start.leftovers:
            faults.append(f"{start.label}: left files behind: {start.leftovers}")
    assert not faults, "\n\n".join(faults)


@pytest.mark.parametrize("row", SEED_CASES, ids=[row[0] for row in SEED_CASES])
def test_init_refuses_seed_and_writes_nothing(row, baseline, stats, tmp_path, capsys):
    id_, names, fix, text = row
    fix = (fix,) if isinstance(fix, str) else fix
    faults = []
    stats["categories"]["init seed"] = stats["categories"].get("init seed", 0) + 1

    def write_seed(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path

    # beside the env files an earlier init wrote (the default: the seed's own folder)
    project = tmp_path / "project"
    project.mkdir()
    for name in ENV_FILES:
        shutil.copy2(baseline / name, project / name)
    config = write_seed(project / "config.json")
    before = snapshot(project)
    code, out, err = run_cli(["init", "--from", str(config)], capsys)
    faults += refusal_faults(
        "init beside earlier env files", names, fix, 1, code, out, err, outcome="No file was written.", prefix=False
    )
    if snapshot(project) != before:
        changed = sorted(set(snapshot(project).items()) ^ set(before.items()))
        faults.append(f"init beside earlier env files changed the directory: {[c[0] for c in changed]}")

    # into a directory that does not exist yet
    config = write_seed(tmp_path / "seed" / "config.json")
    before = snapshot(tmp_path / "seed")
    target = tmp_path / "new" / "dir"
    code, out, err = run_cli(["init", "--from", str(config), "--dir", str(target)], capsys)
    faults += refusal_faults(
        "init --dir <new>", names, fix, 1, code, out, err, outcome="No file was written.", prefix=False
    )
    if (tmp_path / "new").exists():
        faults.append(f"init --dir <new> created {sorted(str(p) for p in (tmp_path / 'new').rglob('*'))}")
    if snapshot(tmp_path / "seed") != before:
        faults.append("init --dir <new> changed the seed's folder")
    assert not faults, "\n\n".join(faults)
