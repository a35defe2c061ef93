"""Sphinx configuration of the pyiron-hub documentation (built by scripts/docs)."""

import logging
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))  # the reference extension
sys.path.insert(0, str(DOCS.parent))  # pyiron_hub_config, which it renders

project = "pyiron-hub"
author = "the pyiron-hub developers"
copyright = "the pyiron-hub developers"

extensions = [
    "myst_parser",
    "sphinxcontrib.mermaid",
    "pyiron_hub_reference",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]

# Every heading down to ### gets an anchor, so `page.md#a-heading` links are checked by the
# build like any other reference (a broken one is a warning, and warnings fail the build).
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
# References to objects nobody documented are warnings too.
nitpicky = True
suppress_warnings = []

html_theme = "pydata_sphinx_theme"
html_title = "pyiron-hub"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": [],
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False


class _EmptyCatchAllGlob(logging.Filter):
    """Each folder's toctree ends in a `*` glob that picks up pages added later; until there
    are any it matches nothing, which is no mistake. Sphinx gives that warning no type, so
    suppress_warnings cannot name it; any other glob that matches nothing still fails."""

    def filter(self, record):
        return not (record.getMessage() == "toctree glob pattern '*' didn't match any documents")


def setup(app):
    logging.getLogger("sphinx.sphinx.directives.other").addFilter(_EmptyCatchAllGlob())


html_copy_source = False
