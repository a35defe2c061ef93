"""``python -m pyiron_hub_config.docker_guard``: the guard service (docker-compose.yml's `docker-guard`)."""

import sys

from .guard import main

sys.exit(main())
