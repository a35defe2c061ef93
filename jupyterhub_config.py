# The pyiron hub is configured entirely by environment variables (see README.md).
from pyiron_hub_config import configure

configure(c)  # noqa: F821 - `c` is provided by JupyterHub's config loader
