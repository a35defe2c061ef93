"""DockerSpawner with the pyiron environment picker."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment as Jinja, PackageLoader, select_autoescape
from tornado import web
from traitlets import Float, Integer, List, default

from .docker_pool import PooledDockerSpawner
from .options import InvalidChoice, options_from_form, validate_choice
from .readiness import AnswerBeforeReady
from .values import format_memory


@lru_cache(maxsize=1)
def _templates() -> Jinja:
    return Jinja(loader=PackageLoader(__package__, "templates"), autoescape=select_autoescape(default=True))


def render_options_form(environments, max_mem_limit=None, max_cpu_limit=None) -> str:
    """The picker's HTML; empty when there is nothing to choose."""
    if len(environments) < 2 and max_mem_limit is None and max_cpu_limit is None:
        return ""
    return _templates().get_template("options_form.html").render(
        environments=environments,
        max_mem_limit=format_memory(max_mem_limit) if max_mem_limit else None,
        max_cpu_limit=max_cpu_limit,
    )


class PyironSpawner(AnswerBeforeReady, PooledDockerSpawner):
    """Starts the catalogue environment a user picks, with its memory and CPU limits."""

    environments = List(
        help="The resolved catalogue (pyiron_hub_config.catalogue.Environment); users can start only these.",
    ).tag(config=True)
    max_mem_limit = Integer(
        None, allow_none=True, help="Bytes a user may ask for; None: users cannot pick memory."
    ).tag(config=True)
    max_cpu_limit = Float(
        None, allow_none=True, help="CPUs a user may ask for; None: users cannot pick CPUs."
    ).tag(config=True)

    @default("options_form")
    def _options_form_default(self):
        return render_options_form(self.environments, self.max_mem_limit, self.max_cpu_limit)

    @default("options_from_form")
    def _options_from_form_default(self):
        return self._checked_options_from_form

    def _checked_options_from_form(self, formdata):
        # Checked here too so that a bad form comes back at once with the message above it.
        options = options_from_form(formdata)
        self._choose(options)
        return options

    def options_from_query(self, query_data):
        return self._checked_options_from_form(query_data)

    @default("apply_user_options")
    def _apply_user_options_default(self):
        return type(self)._apply_choice

    @staticmethod
    def _apply_choice(spawner: PyironSpawner, user_options: dict):
        # Runs for every start, whichever way the request came (form, query, REST API).
        choice = spawner._choose(user_options)
        spawner.image = choice.environment.image
        spawner.mem_limit = choice.mem_limit
        spawner.cpu_limit = choice.cpu_limit
        spawner.environment = {**spawner.environment, "PYIRON_ENVIRONMENT": choice.environment.name}
        spawner.log.info(
            "Starting %s for %s: %s, %s memory, %g CPU", choice.environment.name, spawner.user.name,
            choice.environment.image, format_memory(choice.mem_limit), choice.cpu_limit,
        )

    def _choose(self, options):
        try:
            return validate_choice(options, self.environments, self.max_mem_limit, self.max_cpu_limit)
        except InvalidChoice as err:
            raise web.HTTPError(400, str(err)) from None


def pass_access_token(spawner: PyironSpawner, auth_state: dict | None) -> None:
    """auth_state_hook: give the user's server its Keycloak access token (opt-in)."""
    if auth_state and auth_state.get("access_token"):
        spawner.environment = {**spawner.environment, "OAUTH_ACCESS_TOKEN": auth_state["access_token"]}

