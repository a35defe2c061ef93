"""``python -m pyiron_hub_config.docker_guard``: the guard service (compose.guard.yml)."""

import sys

from .guard import main

sys.exit(main())
