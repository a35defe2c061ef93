"""Write the small notebook shipped in a single-user test image.

usage: python make_notebook.py ENVIRONMENT OUTPUT.ipynb
The notebook names the environment, and is validated with nbformat.
"""
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

env, path = sys.argv[1], sys.argv[2]
nb = new_notebook(
    cells=[
        new_markdown_cell(
            f"# pyiron environment: {env}\n\n"
            f"This notebook ships with the `{env}` test image "
            "(a local stand-in for the public pyiron images). "
            "Your own files belong in `~/work`, which is kept between sessions.",
            id="readme",
        ),
        new_code_cell(
            "import os\n"
            'print("PYIRON_ENVIRONMENT =", os.environ.get("PYIRON_ENVIRONMENT"))',
            id="environment",
        ),
    ],
    metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "pyiron_environment": env,
    },
)
nbformat.validate(nb)
nbformat.write(nb, path)
nbformat.validate(nbformat.read(path, as_version=4))
print(f"wrote {path}")
