"""The package's layout says where code runs, and the rules of each place hold.

The subpackages hold what never runs in the hub: users' containers, a cluster, the Docker
guard, the backup worker, the health probes (docs/contributing/module-map.md). Hub modules
never import from them; each keeps the rules its __init__ states, checked here by reading
the imports (ast), by parsing as the oldest Python promised, and by running the files that
travel alone under a real one of that Python where this machine has it.
"""

from __future__ import annotations

import ast
import glob
import importlib.util
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyiron_hub_config import backup, boot_shared
from pyiron_hub_config.in_user_container import boot

PACKAGE = Path(__file__).resolve().parents[2] / "pyiron_hub_config"
REPO = PACKAGE.parent
NAME = PACKAGE.name
# Where each subpackage runs is its __init__'s docstring; here, what the tests hold it to.
SUBPACKAGES = {"in_user_container", "on_cluster", "docker_guard", "backup_worker", "probes", "relay", "quota_service"}
# Files copied alone into places the hub does not control: standard library only, no import
# from the package, and nothing newer than this Python (their docstrings promise it).
TRAVEL_ALONE = ["in_user_container/boot.py", "in_user_container/notebook_quiet.py", "on_cluster/key_sync.py"]
OLDEST = (3, 8)
# Hub modules a subpackage may import, at the top of a module / inside a function. Each one
# listed for the top must itself keep the subpackage's rule there (checked below).
MAY_IMPORT = {
    "docker_guard": ({"problems", "subnets"}, {"values", "envfiles", "storage"}),
    "backup_worker": ({"backup_layout", "error_words"}, set()),
    "probes": ({"backup_status"}, set()),
    "in_user_container": (set(), set()),
    "on_cluster": (set(), set()),
    "relay": (set(), set()),
    "quota_service": (set(), set()),
}
# Old module paths that only say they are deprecated and run the new one (README "Upgrading").
DEPRECATED = {f"{NAME}.health": f"{NAME}.probes.health", f"{NAME}.backup_status": f"{NAME}.probes.backup_status"}
# Old paths kept as packages (only a __main__), so that git saw their module's move as a rename.
SHIM_PACKAGES = {"health"}
HEAVY = {"jupyterhub", "pydantic", "dockerspawner", "docker", "dotenv", "traitlets", "sqlalchemy"}


def hub_modules() -> list[Path]:
    return sorted([*PACKAGE.glob("*.py"), *(p for s in SHIM_PACKAGES for p in (PACKAGE / s).glob("*.py"))])


def modules_of(subpackage: str) -> list[Path]:
    return sorted((PACKAGE / subpackage).glob("*.py"))


@dataclass(frozen=True)
class Imported:
    name: str  # absolute: "json", "pyiron_hub_config.boot_shared", "pyiron_hub_config.probes.health"
    line: int
    statement: bool  # an import statement (not __import__ / import_module)
    at_top: bool  # runs when the module is imported (not in a function, not under __main__)
    optional: bool  # inside a try that catches ImportError: a fallback exists


def _resolve(node: ast.ImportFrom, module: str) -> str:
    """The absolute name an ImportFrom in module (dotted, 'pyiron_hub_config.x.y') imports from."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")[: -node.level]
    return ".".join(parts + ([node.module] if node.module else []))


def _at_top(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return False
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            return False  # runs only as a command, never on import
    return True


def _optional(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        child, node = node, parents[node]
        if (
            isinstance(node, ast.Try)
            and child in node.body
            and any(
                h.type is not None and re.search(r"\b(ImportError|ModuleNotFoundError)\b", ast.unparse(h.type))
                for h in node.handlers
            )
        ):
            return True
    return False


def imports(path: Path, source: str | None = None) -> list[Imported]:
    """Every module that the file at path (or source, as if at path) imports.

    `from . import x` counts as importing `pyiron_hub_config.x`; `__import__(...)` and
    `importlib.import_module(...)` with a string or an f-string on __package__ count as well.
    """
    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
    if path.name == "__init__.py":
        module += ".__init__"
    tree = ast.parse(path.read_text() if source is None else source, str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, node, True) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module)
            names.append((base, node, True))
            names += [(f"{base}.{alias.name}", node, True) for alias in node.names if alias.name != "*"]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            arg = node.args[0]
            if isinstance(arg, ast.Constant):
                names.append((str(arg.value), node, False))
            elif isinstance(arg, ast.JoinedStr):
                names.append(
                    (
                        "".join(
                            str(v.value)
                            if isinstance(v, ast.Constant)
                            else NAME
                            if "__package__" in ast.unparse(v)
                            else "?"
                            for v in arg.values
                        ),
                        node,
                        False,
                    )
                )
    return [
        Imported(name, node.lineno, statement, _at_top(node, parents), _optional(node, parents))
        for name, node, statement in names
    ]


def _in_subpackage(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == NAME and parts[1] in SUBPACKAGES else None


def _stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names or name == "__future__"


# --- the layout itself ---------------------------------------------------------------------------
def test_every_subpackage_says_where_it_runs_and_under_which_rules():
    found = {p.parent.name for p in PACKAGE.glob("*/__init__.py")} - SHIM_PACKAGES
    assert found == SUBPACKAGES, "a new subpackage: add it here, with its rules, and to docs/contributing/module-map.md"
    for name in SUBPACKAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text())) or ""
        assert re.search(r"\bruns?\b", doc, re.I) and "never" in doc and "Python" in doc, name
        # Only a docstring: importing the subpackage costs nothing and imports nothing.
        body = ast.parse((PACKAGE / name / "__init__.py").read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), name


def test_the_module_map_names_every_module_and_subpackage():
    page = (REPO / "docs" / "contributing" / "module-map.md").read_text()
    named = set(re.findall(r"^\| `([a-z_]+(?:/[a-z_]+)?(?:\.py|/))`", page, re.M))
    modules = (
        {p.name for p in PACKAGE.glob("*.py")}
        | {f"{s}/" for s in SUBPACKAGES | SHIM_PACKAGES}
        | {f"{s}/{p.name}" for s in SUBPACKAGES for p in modules_of(s) if p.name != "__init__.py"}
    )
    assert modules - named == set(), "not in docs/contributing/module-map.md"
    assert named - modules == set(), "in docs/contributing/module-map.md, but no such module"


# --- hub modules never import what runs elsewhere ------------------------------------------------
@pytest.mark.parametrize(
    "source, imported",
    [
        ("from .in_user_container.boot import write_atomically", "in_user_container"),
        ("from .in_user_container import boot", "in_user_container"),
        ("from . import probes", "probes"),
        ("import pyiron_hub_config.on_cluster.key_sync", "on_cluster"),
        ("from pyiron_hub_config.docker_guard.guard import Policy", "docker_guard"),
        ("def f():\n    from .backup_worker import worker", "backup_worker"),
        ("w = __import__(f'{__package__}.backup_worker.worker', fromlist=['main'])", "backup_worker"),
        ("import importlib\nm = importlib.import_module('pyiron_hub_config.probes.health')", "probes"),
        ("from .boot_shared import write_atomically", None),  # the control: the hub's own copy
        ("from .backup_layout import STAGING", None),
        ("import runpy\nrunpy.run_module('pyiron_hub_config.probes.health')", None),  # run, not imported
    ],
)
def test_the_import_check_sees_every_way_of_importing(source, imported):
    as_if = PACKAGE / "spawner.py"  # as if a hub module said it
    seen = {_in_subpackage(i.name) for i in imports(as_if, source)} - {None}
    assert seen == ({imported} if imported else set())


@pytest.mark.parametrize("path", hub_modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_hub_modules_import_nothing_from_the_subpackages(path):
    wrong = sorted({f"line {i.line}: {i.name}" for i in imports(path) if _in_subpackage(i.name)})
    assert wrong == [], f"{path.name} imports code that runs outside the hub (share it through a hub module)"


# --- each subpackage keeps its rules -------------------------------------------------------------
@pytest.mark.parametrize("subpackage", sorted(SUBPACKAGES))
def test_subpackages_import_only_the_standard_library_and_what_they_may(subpackage):
    at_top, inside = MAY_IMPORT[subpackage]
    for path in modules_of(subpackage):
        alone = path.relative_to(PACKAGE).as_posix() in TRAVEL_ALONE
        for i in imports(path):
            if _stdlib(i.name):
                continue
            where = f"{subpackage}/{path.name} line {i.line}: {i.name}"
            own = i.name.split(".")[1] if i.name.startswith(f"{NAME}.") else None
            if own == subpackage or i.name == NAME:
                assert not alone, f"{where}: this file travels alone"
                continue  # `from .guard import main` inside the subpackage
            if own is not None:
                assert own in (at_top if i.at_top else at_top | inside), (
                    f"{where}: not a hub module {subpackage} may import {'at the top' if i.at_top else ''}"
                )
            elif subpackage in ("docker_guard", "quota_service"):  # the hub image's, not at the top (--ping)
                assert not i.at_top, f"{where}: imported at the top, which the healthcheck pays at each run"
            else:
                assert i.optional and not i.at_top, (
                    f"{where}: not in the standard library (only an optional import with a fallback may be)"
                )


def test_the_rule_check_refuses_a_package_outside_the_standard_library():
    boot_path = PACKAGE / "in_user_container" / "boot.py"
    assert [i.optional for i in imports(boot_path, "def f():\n    import yaml\n")] == [False]
    assert [
        i.optional for i in imports(boot_path, "try:\n    import yaml\nexcept ImportError:\n    yaml = None\n")
    ] == [True]  # the control: an optional module with a fallback
    assert not _stdlib("yaml") and _stdlib("importlib.metadata")


@pytest.mark.parametrize("module", sorted({m for top, _ in MAY_IMPORT.values() for m in top} | {"boot_shared"}))
def test_hub_modules_the_subpackages_import_keep_their_rules(module):
    # At the top the standard library only: what a probe or the guard pays at each start.
    for i in imports(PACKAGE / f"{module}.py"):
        if i.at_top:
            assert _stdlib(i.name), f"{module}.py line {i.line}: {i.name}"


def test_the_hubs_copy_of_boots_helpers_keeps_boots_rules():
    # boot_shared.py's functions are boot.py's, copied either way: the same Python, and the
    # standard library only (checked above).
    ast.parse((PACKAGE / "boot_shared.py").read_text(), feature_version=OLDEST)


@pytest.mark.parametrize(
    "module",
    [
        f"{NAME}.docker_guard.guard",
        f"{NAME}.probes.health",
        f"{NAME}.probes.backup_status",
        f"{NAME}.backup_worker.worker",
        f"{NAME}.relay.tcp_relay",
    ],
)
def test_what_runs_often_or_alone_imports_nothing_heavy(module):
    code = f"import sys, {module}; print(sorted(set({sorted(HEAVY)!r}) & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout
    assert out.strip() == "[]"


# --- the hub's copy of what it shares with boot.py -----------------------------------------------
SHARED = [
    name
    for name, value in vars(boot_shared).items()
    if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
]


def test_the_hub_shares_what_it_used_to_import_from_boot():
    assert {
        "PACKAGES_DIR",
        "PACKAGES_MANIFEST",
        "IMAGE_ID_VARIABLE",
        "MUST_WRITE_VARIABLE",
        "NOT_WRITABLE",
        "NOT_WRITABLE_LINE",
        "temp_file_beside",
        "write_atomically",
    } <= set(SHARED)


@pytest.mark.parametrize("name", SHARED)
def test_the_hubs_copy_agrees_with_boot(name):
    mine, theirs = getattr(boot_shared, name), getattr(boot, name, None)
    assert theirs is not None, f"boot.py has no {name}"
    if inspect.isfunction(mine):
        assert inspect.getsource(mine) == inspect.getsource(theirs), f"{name}: boot.py's and boot_shared.py's differ"
    else:
        assert mine == theirs


def test_the_backup_and_its_worker_share_one_layout():
    from pyiron_hub_config import backup_layout
    from pyiron_hub_config.backup_worker import worker

    for name in ("VOLUMES", "STAGING", "SQLITE_DIR", "RESTORE_TARGET"):
        assert getattr(worker, name) is getattr(backup_layout, name)
    assert backup.STAGING is backup_layout.STAGING and backup.VOLUMES is backup_layout.VOLUMES


# --- old Pythons ----------------------------------------------------------------------------------
def test_the_files_that_travel_alone_promise_the_oldest_python_tested():
    promise = "%d.%d" % OLDEST
    for name in ("in_user_container", "on_cluster"):
        assert f"Python {promise}" in (PACKAGE / name / "__init__.py").read_text(), name
    assert f"nothing newer than Python {promise}" in (
        ast.get_docstring(ast.parse(Path(boot.__file__).read_text())) or ""
    )
    assert f"({promise}+)" in (PACKAGE / "on_cluster" / "key_sync.py").read_text()


@pytest.mark.parametrize("relative", TRAVEL_ALONE)
def test_the_files_that_travel_alone_parse_as_the_oldest_python(relative):
    ast.parse((PACKAGE / relative).read_text(), relative, feature_version=OLDEST)


def test_the_parse_check_refuses_newer_syntax():
    with pytest.raises(SyntaxError):  # the control: 3.10's match would pass unnoticed otherwise
        ast.parse("match x:\n    case 1:\n        pass\n", feature_version=OLDEST)
    with pytest.raises(SyntaxError):
        ast.parse("with (open('a') as a, open('b') as b):\n    pass\n", feature_version=OLDEST)


def old_python() -> str | None:
    """A real Python of the oldest version promised, if this machine has one (pyenv's, Debian's)."""
    version = "%d.%d" % OLDEST
    candidates = [
        shutil.which(f"python{version}"),
        f"/usr/bin/python{version}",
        f"/usr/local/bin/python{version}",
        *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}"))),
        *sorted(glob.glob(f"/root/.pyenv/versions/{version}.*/bin/python{version}")),
    ]
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run(
                [candidate, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out == version:
            return candidate
    return None


OLD_PYTHON = old_python()
needs_old_python = pytest.mark.skipif(
    OLD_PYTHON is None,
    reason="no Python %d.%d on this machine: only the "
    "parse check (test_the_files_that_travel_alone_parse_...) ran" % OLDEST,
)

LOAD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("m", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
"""


@needs_old_python
@pytest.mark.parametrize("relative", TRAVEL_ALONE)
def test_the_files_that_travel_alone_import_under_the_oldest_python(relative):
    done = subprocess.run(
        [OLD_PYTHON, "-I", "-c", LOAD + "print('imported')", str(PACKAGE / relative)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "imported"), done.stderr


@needs_old_python
def test_the_boot_step_runs_every_step_under_the_oldest_python(tmp_path):
    home = tmp_path / "home"
    (home / "work").mkdir(parents=True)
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        boot.MUST_WRITE_VARIABLE: str(home),
        boot.FILES_VARIABLE: json.dumps([{"path": ".pyiron_hub/resources/queues/queue.yaml", "content": "q: 1\n"}]),
    }
    if shutil.which("ssh-keygen"):
        env[boot.SSH_KEY_VARIABLE] = "1"
    done = subprocess.run(
        [OLD_PYTHON, "-I", boot.__file__, "sh", "-c", "echo server started"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (0, "server started\n"), done.stderr
    assert "skipped" not in done.stderr, done.stderr
    for step in ("examples:", "packages:", "files:", "jupyterlab news: answered no", "work folder: explained"):
        assert f"pyiron-hub boot: {step}" in done.stderr
    assert (home / ".pyiron_hub/resources/queues/queue.yaml").read_text() == "q: 1\n"
    assert (home / "work" / "README.md").exists()
    if boot.SSH_KEY_VARIABLE in env:
        assert (home / ".ssh" / "id_ed25519.pub").read_text().startswith("ssh-ed25519 ")


@needs_old_python
def test_the_key_sync_parses_the_hubs_list_under_the_oldest_python():
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3vLd1q6ZqHk9qY2vDn8w0V4g1wq7yU0nZb8s3t5r6Q"
    code = LOAD + f"print(m.parse('alice {key} pyiron-hub:alice\\nroot/.. {key}\\n'))"
    done = subprocess.run(
        [OLD_PYTHON, "-I", "-c", code, str(PACKAGE / "on_cluster" / "key_sync.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == repr([("alice", f"{key} pyiron-hub:alice")]), done.stderr
    help_ = subprocess.run(
        [OLD_PYTHON, "-I", str(PACKAGE / "on_cluster" / "key_sync.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert help_.returncode == 0 and "--cluster" in help_.stdout, help_.stderr


@needs_old_python
def test_the_notebook_quiet_file_silences_only_pyirons_info_under_the_oldest_python():
    code = (
        LOAD
        + """
import warnings
with warnings.catch_warnings(record=True) as seen:
    warnings.filterwarnings("always", category=UserWarning, append=True)
    warnings.warn("2026-12-07 00:00:00,123 - pyiron_log - INFO - x, submitted: queue id 1", UserWarning)
    warnings.warn("", UserWarning)
    warnings.warn("sbatch: error: invalid partition", UserWarning)
print([str(w.message) for w in seen])
"""
    )
    done = subprocess.run(
        [OLD_PYTHON, "-I", "-c", code, str(PACKAGE / "in_user_container" / "notebook_quiet.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == repr(["sbatch: error: invalid partition"]), done.stderr


# --- the commands the shipped files run ----------------------------------------------------------
def shipped_module_commands() -> list[tuple[str, str]]:
    """(file, module) for every `python -m pyiron_hub_config...` the Dockerfile, compose files,
    images, scripts and demo run."""
    files = [
        REPO / "Dockerfile",
        *REPO.glob("compose*.yml"),
        REPO / "docker-compose.yml",
        *(p for d in ("images", "scripts", "demo") for p in (REPO / d).rglob("*") if p.is_file()),
    ]
    found = []
    for path in files:
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for module in re.findall(r'-m"?,?\s*"?(' + NAME + r"(?:\.[a-z_]+)*)", text):
            found.append((path.relative_to(REPO).as_posix(), module))
    return found


def test_the_shipped_files_run_modules_by_their_new_paths():
    commands = shipped_module_commands()
    assert {m for _, m in commands} >= {f"{NAME}.probes.health", f"{NAME}.probes.backup_status", f"{NAME}.docker_guard"}
    for where, module in commands:
        assert importlib.util.find_spec(module) is not None, f"{where}: no module {module}"
        assert module not in DEPRECATED, f"{where}: {module} is deprecated, use {DEPRECATED[module]}"


def test_the_backup_runs_its_worker_by_a_module_that_exists():
    assert importlib.util.find_spec(backup.WORKER_MODULE) is not None


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_the_guards_command_keeps_its_path():
    done = _run("-m", f"{NAME}.docker_guard", "--help")
    assert done.returncode == 0 and f"python -m {NAME}.docker_guard" in done.stdout, done.stderr


@pytest.mark.parametrize("old, new", sorted(DEPRECATED.items()))
def test_the_old_module_paths_say_they_are_deprecated_and_run_the_new_one(old, new):
    # The backup status reads /srv/jupyterhub/data (none here: "no backup has run yet", 0); the
    # health probe asks port 8000, which answers or not, the same for both paths.
    was, now = _run("-m", old), _run("-m", new)
    assert f"{old} is deprecated" in was.stderr and new in was.stderr
    assert (was.returncode, was.stdout) == (now.returncode, now.stdout)
    assert was.stderr.split("\n", 1)[1] == now.stderr


def test_pyiron_hub_health_runs_the_probe(monkeypatch):
    from pyiron_hub_config import cli

    ran = []
    monkeypatch.setattr(subprocess, "call", lambda command: ran.append(command) or 7)
    assert cli.main(["health", "--hub-api"]) == 7
    assert ran == [[sys.executable, "-m", f"{NAME}.probes.health", "--hub-api"]]
    assert importlib.util.find_spec(ran[0][2]) is not None


# --- nothing still points at the old places ------------------------------------------------------
MOVED = {
    "boot": "in_user_container/boot.py",
    "notebook_quiet": "in_user_container/notebook_quiet.py",
    "key_sync": "on_cluster/key_sync.py",
    "backup_worker": "backup_worker/worker.py",
    "docker_guard": "docker_guard/guard.py",
    "health": "probes/health.py",
}
OLD_FILE = re.compile(rf"{NAME}/({'|'.join(MOVED)})\.py\b")
OLD_IMPORT = re.compile(rf"(?:import|from) {NAME}\.(boot|notebook_quiet|key_sync|backup_worker)\b(?![._])")


def test_the_docs_and_scripts_name_the_moved_modules_where_they_are():
    texts = [
        REPO / "README.md",
        *REPO.glob("docs/**/*.md"),
        *REPO.glob("benchmarks/**/*"),
        *REPO.glob("scripts/*"),
        *REPO.glob("images/**/*"),
        *REPO.glob("demo/**/*"),
        REPO / "Dockerfile",
        *REPO.glob("*.yml"),
    ]
    stale = []
    for path in (p for p in texts if p.is_file()):
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for found in [*OLD_FILE.finditer(text), *OLD_IMPORT.finditer(text)]:
            line = text.count("\n", 0, found.start()) + 1
            stale.append(f"{path.relative_to(REPO)}:{line}: {found.group(0)} (now {MOVED[found.group(1)]})")
    assert stale == []
