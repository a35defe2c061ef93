"""Sphinx directives that put the reference, rendered from the code, into MyST pages.

    ```{pyiron-hub-settings} hub         (or: backup)
    ```
    ```{pyiron-hub-cli}
    ```
    ```{pyiron-hub-model} pyiron_hub_config.clusters.Cluster
    ```
    ```{pyiron-hub-metrics}
    ```
    ```{pyiron-hub-compose-variables}
    HUB_IMAGE: the hub image you built
    ...
    ```

Each renders Markdown (reference_text.py) and parses it in place, so the generated tables
and headings are part of the page: nothing generated is committed, and a variable added to
the code is in the next build.
"""

from __future__ import annotations

import importlib
import re

import reference_text
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective


class _Markdown(SphinxDirective):
    def _parse(self, text: str) -> list[nodes.Node]:
        container = nodes.section() if re.search(r"^#+ ", text, re.M) else nodes.container()
        self.state.nested_parse(
            StringList(text.splitlines(), source=self.get_location()),
            self.content_offset,
            container,
            match_titles=True,
        )
        return container.children


class Settings(_Markdown):
    required_arguments = 1

    def run(self):
        return self._parse(reference_text.settings_markdown(self.arguments[0]))


class Cli(_Markdown):
    def run(self):
        return self._parse(reference_text.cli_markdown())


class Model(_Markdown):
    required_arguments = 1

    def run(self):
        module, _, name = self.arguments[0].rpartition(".")
        return self._parse(reference_text.model_markdown(getattr(importlib.import_module(module), name)))


class Metrics(_Markdown):
    def run(self):
        return self._parse(reference_text.metrics_markdown())


class ComposeVariables(_Markdown):
    has_content = True

    def run(self):
        meanings = {}
        for line in self.content:
            if line.strip():
                name, _, meaning = line.partition(":")
                meanings[name.strip()] = meaning.strip()
        text, problems = reference_text.compose_markdown(meanings)
        for problem in problems:
            self.state.document.reporter.warning(f"compose variable {problem}", line=self.lineno)
        return self._parse(text)


def setup(app):
    app.add_directive("pyiron-hub-settings", Settings)
    app.add_directive("pyiron-hub-cli", Cli)
    app.add_directive("pyiron-hub-model", Model)
    app.add_directive("pyiron-hub-metrics", Metrics)
    app.add_directive("pyiron-hub-compose-variables", ComposeVariables)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
