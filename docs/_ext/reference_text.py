"""The reference, rendered from the code as MyST Markdown (no Sphinx needed here).

Each function reads one source of truth and returns Markdown text:
- settings_markdown: the variables the hub (Settings) or the backup (BackupSettings) read,
  from each field's alias, default, description and example;
- cli_markdown: the `pyiron-hub` commands, from the CLI's own argparse parsers;
- model_markdown: the fields of a TOML entry (catalogue, cluster list), from its pydantic model;
- metrics_markdown: every Prometheus metric the package defines, found in its source;
- compose_markdown: the variables the compose files interpolate, with their meanings.

pyiron_hub_reference.py (the Sphinx extension) puts them into the pages; the unit tests
(tests/unit/test_docs.py) call them without Sphinx. Written by hand because the models are
pydantic and the CLI argparse: autodoc-pydantic and sphinx-argparse would each render one
of them, in their own layout and with Sphinx's Python domain, which a page about
environment variables does not want.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pyiron_hub_config"
COMPOSE_FILES = sorted(
    p.name for p in REPO.glob("*.yml") if p.name == "docker-compose.yml" or p.name.startswith("compose.")
)


def _flat(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _cell(text) -> str:
    """A Markdown table cell: one line, pipes escaped, `<name>` shown (not taken for HTML)."""
    parts = _flat(text).split("`")
    # Outside code spans only (the even parts): inside them a backslash would show.
    return "`".join(p.replace("<", "\\<") if i % 2 == 0 else p for i, p in enumerate(parts))


def _code(text) -> str:
    text = _flat(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _default(value) -> str:
    if value is PydanticUndefined:
        return "**required**"
    if value is None or value in ([], {}, ""):
        return "—"
    if isinstance(value, bool):
        return _code("true" if value else "false")
    if isinstance(value, (list, tuple)):
        return _code(",".join(str(v) for v in value))
    return _code(value)


# Messages and descriptions in the code name README sections; in the docs they become links
# to the pages those sections moved to (README.md keeps the same table for readers there).
README_SECTIONS = {
    "Try it: one command": "tutorials/demo.md",
    "Set-up": "howto/production-setup.md",
    "Run the tests": "contributing/test-suites.md",
    "Configuration reference": "reference/configuration.md",
    "Running on a swarm": "howto/swarm.md",
    "Environments": "howto/environments.md",
    "Connecting a cluster": "howto/clusters.md",
    "Registering the key": "howto/clusters.md#registering-the-key",
    "TLS and reverse proxies": "howto/tls.md",
    "Per-user origins": "howto/tls.md#per-user-origins",
    "Usage": "howto/monitoring.md",
    "Metrics (Prometheus)": "howto/monitoring.md#metrics-prometheus",
    "Security notes": "topics/security.md",
    "Backups and restore": "howto/backups.md",
    "Upgrading": "howto/upgrades.md",
    "Troubleshooting": "troubleshooting.md",
    "How culling decides": "topics/culling.md",
    "Responsiveness under load": "topics/responsiveness.md",
}
_README_SECTION = re.compile(r"""README (["'])(.+?)\1""")


def _linked(text: str, docs_root: str) -> str:
    """`README "Security notes"` -> a link to the page it moved to (others stay as they are)."""

    def link(m):
        page = README_SECTIONS.get(m.group(2))
        return f"[{m.group(2)}]({docs_root}{page})" if page else m.group(0)

    return _README_SECTION.sub(link, text)


def _groups(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the `# --- title ---` comment above it in the model's source, if any."""
    source = Path(inspect.getsourcefile(model)).read_text(encoding="utf-8")
    tree = ast.parse(source)
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == model.__name__)
    titles = [
        (i + 1, m.group(1))
        for i, line in enumerate(source.splitlines())
        if (m := re.match(r"^\s*# -{2,}\s*(.+?)\s*-*\s*$", line))
    ]
    groups = {}
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above = [title for line, title in titles if line < node.lineno]
            if above:
                groups[node.target.id] = above[-1]
    return groups


def settings_markdown(which: str, docs_root: str = "../") -> str:
    """Every variable `which` ("hub" or "backup") reads, as a definition list, grouped by the
    section comments of the settings' source (a `###` heading each)."""
    if which == "hub":
        from pyiron_hub_config.settings import SECRET_MOUNTS, SECRET_VARIABLES, Settings

        model, secrets = Settings, SECRET_VARIABLES
    elif which == "backup":
        from pyiron_hub_config.backup_settings import BackupSettings

        model, secrets, SECRET_MOUNTS = BackupSettings, (), {}
    else:
        raise ValueError(f"no such settings: {which!r}; use hub or backup")
    groups, lines, group = _groups(model), [], None
    for name, field in model.model_fields.items():
        if groups.get(name) != group:
            group = groups.get(name)
            lines += [
                f"### {group if group.startswith('pyiron') else group[:1].upper() + group[1:]}",
                "",
            ]
        example = (field.json_schema_extra or {}).get("example")
        facts = [f"Default: {_default(field.default)}"]
        if example:
            facts.append(f"Example: {_code(example)}")
        lines += [
            f"`{field.alias}`",
            f": {_linked(_cell(field.description or ''), docs_root)}",
            "",
            f"  {' · '.join(facts)}",
            "",
        ]
    if secrets:
        lines += [
            "### Secrets from files",
            "",
            "Each secret can instead be read from a file, e.g. a Docker secret (not both):",
            "",
        ]
        for name in secrets:
            example = SECRET_MOUNTS.get(name) or f"/run/secrets/{name.lower()}"
            lines += [f"`{name}_FILE`", f": A file holding `{name}`. Example: {_code(example)}", ""]
    return "\n".join(lines) + "\n"


def _subcommands(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name) or "", sub


def _option_row(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    if action.option_strings:
        name = ", ".join(action.option_strings)
        if action.nargs != 0:
            name += " " + formatter._format_args(action, action.dest.upper())
    else:
        name = formatter._format_args(action, action.dest)
    text = formatter._expand_help(action) if action.help else ""
    if action.required and action.option_strings:
        text = f"required. {text}"
    return f"| {_code(name)} | {_cell(text)} |"


def cli_markdown() -> str:
    """A section per `pyiron-hub` command: what it does, its usage line and its options."""
    from pyiron_hub_config.cli import build_parser

    parser = build_parser()
    out = [f"{parser.description}", ""]
    for _name, help_text, sub in _subcommands(parser):
        out += [
            f"## `{sub.prog}`",
            "",
            _cell(f"{help_text[:1].upper()}{help_text[1:]}."),
            "",
            "```text",
            sub.format_usage().strip().removeprefix("usage: "),
            "```",
            "",
        ]
        rows = [a for a in sub._actions if not isinstance(a, argparse._HelpAction) and a.help != argparse.SUPPRESS]
        if rows:
            out += ["| Option | Meaning |", "|---|---|", *(_option_row(sub, a) for a in rows), ""]
    return "\n".join(out)


def _json_type(schema: dict, defs: dict) -> str:
    if "anyOf" in schema:
        kinds = [_json_type(s, defs) for s in schema["anyOf"] if s.get("type") != "null"]
        return " or ".join(kinds)
    if "$ref" in schema:
        return "table"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_json_type(schema.get('items', {}), defs)}s"
    if kind == "object":
        values = schema.get("additionalProperties")
        return f"table of {_json_type(values, defs)}s" if isinstance(values, dict) else "table"
    return {"number": "number", "integer": "integer", "boolean": "boolean", "string": "string"}.get(kind, kind)


_LIMITS = (
    ("minLength", "at least {} characters"),
    ("maxLength", "at most {} characters"),
    ("minimum", "at least {}"),
    ("maximum", "at most {}"),
    ("exclusiveMinimum", "above {}"),
    ("minItems", "at least {} entries"),
    ("pattern", "matches `{}`"),
)


def _limits(schema: dict) -> list[str]:
    found = []
    for part in [schema, *schema.get("anyOf", [])]:
        found += [text.format(part[key]) for key, text in _LIMITS if key in part]
    return found


def model_markdown(model: type[BaseModel]) -> str:
    """The fields of one TOML entry: key, type, default, limits and meaning."""
    schema = model.model_json_schema(mode="validation")
    defs, properties = schema.get("$defs", {}), schema["properties"]
    lines = ["| Key | Type | Default | Meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        prop = properties[name]
        limits = "; ".join(_limits(prop))
        meaning = f"{field.description} ({limits})" if field.description and limits else field.description or limits
        kind, default = _json_type(prop, defs), _default(field.default)
        lines.append(f"| `{name}` | {kind} | {default} | {_cell(meaning)} |")
    return "\n".join(lines) + "\n"


_METRIC_CLASSES = {
    "Gauge",
    "Counter",
    "Histogram",
    "Summary",
    "Info",
    "Enum",
    "GaugeMetricFamily",
    "CounterMetricFamily",
    "HistogramMetricFamily",
    "SummaryMetricFamily",
    "InfoMetricFamily",
}


def metrics() -> list[dict]:
    """Every metric a module of the package defines: name, kind, help text, labels, module."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if func not in _METRIC_CLASSES or len(node.args) < 2:
                continue
            name, doc = node.args[0], node.args[1]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                continue
            labels = []
            for keyword in node.keywords:
                if keyword.arg in ("labels", "labelnames") and isinstance(keyword.value, (ast.List, ast.Tuple)):
                    labels = [e.value for e in keyword.value.elts if isinstance(e, ast.Constant)]
            if len(node.args) > 2 and isinstance(node.args[2], (ast.List, ast.Tuple)):
                labels = [e.value for e in node.args[2].elts if isinstance(e, ast.Constant)]
            kind = func.removesuffix("MetricFamily").lower()
            text = doc.value if isinstance(doc, ast.Constant) else ""
            found.append(
                {
                    "name": name.value,
                    "kind": kind,
                    "help": text,
                    "labels": labels,
                    "module": path.relative_to(REPO).as_posix(),
                }
            )
    return sorted(found, key=lambda m: m["name"])


def metrics_markdown() -> str:
    lines = ["| Metric | Type | Labels | Meaning | Defined in |", "|---|---|---|---|---|"]
    for m in metrics():
        labels = ", ".join(f"`{label}`" for label in m["labels"]) or "—"
        lines.append(f"| `{m['name']}` | {m['kind']} | {labels} | {_cell(m['help'])} | `{m['module']}` |")
    return "\n".join(lines) + "\n"


_INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def compose_variables() -> dict[str, dict]:
    """Each variable the compose files interpolate: its default and the files using it."""
    found: dict[str, dict] = {}
    for name in COMPOSE_FILES:
        for m in _INTERPOLATION.finditer((REPO / name).read_text(encoding="utf-8")):
            entry = found.setdefault(m.group(1), {"default": None, "files": []})
            if m.group(2) and m.group(2).endswith("-") and m.group(3) and entry["default"] is None:
                entry["default"] = m.group(3)
            if name not in entry["files"]:
                entry["files"].append(name)
    return found


def compose_markdown(meanings: dict[str, str]) -> tuple[str, list[str]]:
    """The compose variables' table, and a problem for each variable without a meaning
    (or a meaning for a variable no compose file reads)."""
    variables = compose_variables()
    problems = [
        f"{name}: read by {', '.join(v['files'])}, but has no meaning in the page"
        for name, v in variables.items()
        if name not in meanings
    ]
    problems += [
        f"{name}: described in the page, but no compose file reads it" for name in meanings if name not in variables
    ]
    lines = ["| Variable | Default | Used by | Meaning |", "|---|---|---|---|"]
    for name in sorted(variables, key=lambda n: (list(meanings).index(n) if n in meanings else len(meanings), n)):
        v = variables[name]
        files = ", ".join(f"`{f}`" for f in v["files"])
        default = _code(v["default"]) if v["default"] else "—"
        lines.append(f"| `{name}` | {default} | {files} | {_cell(meanings.get(name, ''))} |")
    return "\n".join(lines) + "\n", problems
