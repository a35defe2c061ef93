"""The documentation names every variable the hub, the backup and compose read.

The reference is rendered from the code at build time (docs/_ext/reference_text.py): these
tests check the rendering without Sphinx, and then the built site itself (the `docs`
extra; scripts/test installs it and builds the site with scripts/docs too).
"""

import html
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pyiron_hub_config.backup_settings import backup_variable_names
from pyiron_hub_config.envfiles import BUILD_VARIABLES
from pyiron_hub_config.settings import SECRET_VARIABLES, variable_names

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import reference_text  # noqa: E402 (from docs/_ext)

HUB_VARIABLES = sorted(set(variable_names()) | {f"{v}_FILE" for v in SECRET_VARIABLES})
BACKUP_VARIABLES = sorted(backup_variable_names())
COMPOSE_VARIABLES = sorted(reference_text.compose_variables())


def test_the_rendered_reference_names_every_variable():
    hub, backup = (
        reference_text.settings_markdown("hub"),
        reference_text.settings_markdown("backup"),
    )
    assert [v for v in HUB_VARIABLES if f"\n`{v}`\n: " not in "\n" + hub] == []
    assert [v for v in BACKUP_VARIABLES if f"\n`{v}`\n: " not in "\n" + backup] == []


def test_a_variable_shows_its_meaning_default_and_example_under_its_group():
    text = reference_text.settings_markdown("hub")
    mem_limit = "`MEM_LIMIT`\n: Default memory limit of a user's server.\n\n"
    assert mem_limit + "  Default: `2G` · Example: `2G`\n" in text
    password = "`POSTGRES_PASSWORD`\n: Database password (or POSTGRES_PASSWORD_FILE).\n\n"
    assert password + "  Default: **required**" in text
    # Grouped by the settings' section comments: the database's variables under its heading.
    database = text.index("### Database\n")
    assert database < text.index("`POSTGRES_HOST`") and text.index("### Secrets and state") > text.index(
        "`POSTGRES_DB`"
    )


def test_compose_variables_are_found_in_the_compose_files_and_known_to_init():
    assert {"HUB_IMAGE", "POSTGRES_IMAGE", "DOCKER_NETWORK_NAME", "HOST_CERT_PATH"} <= set(COMPOSE_VARIABLES)
    assert reference_text.compose_variables()["HUB_IMAGE"]["default"] == "pyiron-hub:latest"
    # `pyiron-hub init` files each into build.env.
    assert [v for v in COMPOSE_VARIABLES if v not in BUILD_VARIABLES] == []


def test_a_compose_variable_without_a_meaning_is_a_problem():
    meanings = {name: "x" for name in COMPOSE_VARIABLES if name != "HUB_IMAGE"}
    _, problems = reference_text.compose_markdown({**meanings, "NO_SUCH_VARIABLE": "y"})
    assert len(problems) == 2
    assert problems[0].startswith("HUB_IMAGE: read by ") and "NO_SUCH_VARIABLE" in problems[1]


def test_every_metric_of_the_package_is_found():
    names = {m["name"] for m in reference_text.metrics()}
    assert {"pyiron_hub_user_storage_bytes", "pyiron_hub_backup_last_exit_status"} <= names
    storage = next(m for m in reference_text.metrics() if m["name"] == "pyiron_hub_user_storage_bytes")
    assert storage["labels"] == ["user", "volume"] and storage["kind"] == "gauge"


def test_every_cli_command_is_rendered():
    from pyiron_hub_config.cli import build_parser

    text = reference_text.cli_markdown()
    commands = [name for name, _, _ in reference_text._subcommands(build_parser())]
    assert {"init", "check", "pull", "backup", "restore"} <= set(commands)
    assert [c for c in commands if f"## `pyiron-hub {c}`" not in text] == []


def test_each_reference_page_uses_its_directive():
    pages = {
        p: (DOCS / "reference" / p).read_text()
        for p in (
            "configuration.md",
            "backup-configuration.md",
            "cli.md",
            "catalogue.md",
            "metrics.md",
        )
    }
    assert "```{pyiron-hub-settings} hub" in pages["configuration.md"]
    assert "```{pyiron-hub-compose-variables}" in pages["configuration.md"]
    assert "```{pyiron-hub-settings} backup" in pages["backup-configuration.md"]
    assert "```{pyiron-hub-cli}" in pages["cli.md"]
    assert "pyiron_hub_config.catalogue.Environment" in pages["catalogue.md"]
    assert "pyiron_hub_config.clusters.Cluster" in pages["catalogue.md"]
    assert "```{pyiron-hub-metrics}" in pages["metrics.md"]


class _Code(HTMLParser):
    """The text of every <code> element of a page."""

    def __init__(self):
        super().__init__()
        self.depth, self.texts = 0, []

    def handle_starttag(self, tag, attrs):
        if tag == "code":
            self.depth += 1
            self.texts.append("")

    def handle_endtag(self, tag):
        if tag == "code":
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.texts[-1] += data


def _code_texts(page: Path) -> set[str]:
    parser = _Code()
    parser.feed(page.read_text())
    return {re.sub(r"\s+", " ", t).strip() for t in parser.texts}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site as scripts/docs builds it (warnings are errors)."""
    pytest.importorskip("sphinx", reason="the docs extra is not installed: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("html")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-E",
            "-q",
            "-b",
            "html",
            str(DOCS),
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_the_built_reference_names_every_variable_the_hub_reads(site):
    found = _code_texts(site / "reference" / "configuration.html")
    assert [v for v in HUB_VARIABLES if v not in found] == []


def test_the_built_reference_names_every_variable_the_backup_reads(site):
    found = _code_texts(site / "reference" / "backup-configuration.html")
    assert [v for v in BACKUP_VARIABLES if v not in found] == []


def test_the_built_reference_names_every_variable_compose_reads(site):
    found = _code_texts(site / "reference" / "configuration.html")
    assert [v for v in COMPOSE_VARIABLES if v not in found] == []


def test_the_benchmarks_page_includes_the_benchmarks_readme(site):
    page = html.unescape(re.sub(r"<[^>]+>", "", (site / "reference" / "benchmarks.html").read_text()))
    page = page.replace("\u2019", "'")  # Sphinx's smart quotes
    sections = re.findall(r"^## (.+)$", (REPO / "benchmarks" / "README.md").read_text(), re.M)
    assert len(sections) >= 5
    assert [h for h in sections if h.replace("`", "") not in page] == []


def test_a_readme_section_named_in_a_description_links_to_its_page():
    linked = reference_text._linked("see (README \"Security notes\") and README 'Nowhere'", "../")
    assert linked == "see ([Security notes](../topics/security.md)) and README 'Nowhere'"
    # Every page the table names exists (the build checks the anchors).
    pages = {p.partition("#")[0] for p in reference_text.README_SECTIONS.values()}
    assert [p for p in pages if not (DOCS / p).is_file()] == []
