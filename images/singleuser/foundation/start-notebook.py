#!/usr/bin/env python3
"""Default command of the single-user images (CMD ["start-notebook.py"]).

Our own small equivalent of Jupyter Docker Stacks' start-notebook.py, with the same
contract: started by JupyterHub (JUPYTERHUB_API_TOKEN is in the environment) it becomes
`jupyterhub-singleuser`, listening on all interfaces unless NOTEBOOK_ARGS names an --ip;
otherwise `jupyter lab` (or `jupyter $DOCKER_STACKS_JUPYTER_CMD`). NOTEBOOK_ARGS and this
script's own arguments are passed on. It runs under start.sh, so the hooks have run.
"""

import os
import shlex
import sys

notebook_args = shlex.split(os.environ.get("NOTEBOOK_ARGS", ""))
if "JUPYTERHUB_API_TOKEN" in os.environ:
    command = ["jupyterhub-singleuser"]
    if not any(arg.startswith("--ip") for arg in notebook_args):
        command.append("--ip=0.0.0.0")
else:
    command = ["jupyter", os.environ.get("DOCKER_STACKS_JUPYTER_CMD", "lab")]
command += notebook_args + sys.argv[1:]
print("start-notebook.py: exec " + shlex.join(command), file=sys.stderr, flush=True)
os.execvp(command[0], command)
