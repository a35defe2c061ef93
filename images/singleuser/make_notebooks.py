"""Write the example notebooks shipped in a single-user image, in its NOTEBOOK_DIR.

usage: python make_notebooks.py ENVIRONMENT NOTEBOOK_DIR

Like the public images (one ~/notebooks_<image> folder with the examples of the
pyiron packages inside), each image gets:
  README-<environment>.ipynb   names the environment (the tests look for it)
  pyiron_base_example.ipynb    a real pyiron job, where pyiron_base is installed
  pyiron_atomistics_example.ipynb  a structure, where pyiron_atomistics is installed
Every notebook is validated with nbformat.
"""

import importlib.util
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def readme(env: str) -> list:
    return [
        new_markdown_cell(
            f"# pyiron environment: {env}\n\n"
            f"This notebook ships with the `{env}` image (a local stand-in for the public "
            "pyiron images). Everything in your home directory is kept between sessions.",
            id="readme",
        ),
        new_code_cell(
            "from importlib.metadata import PackageNotFoundError, version\n\n"
            'for package in ("jupyterhub", "jupyterlab", "pyiron_base", "pyiron_atomistics", "pysqa"):\n'
            "    try:\n"
            "        print(package, version(package))\n"
            "    except PackageNotFoundError:\n"
            '        print(package, "-")',
            id="versions",
        ),
    ]


def pyiron_base_example() -> list:
    return [
        new_markdown_cell(
            "# A first pyiron job\n\n"
            "`wrap_python_function` turns a Python function into a pyiron job: its input, "
            "output and status are stored in the project and listed in the job table.",
            id="intro",
        ),
        new_code_cell(
            'from pyiron_base import Project\n\npr = Project("demo")',
            id="project",
        ),
        new_code_cell(
            "def add_one(x):\n"
            "    return x + 1\n\n"
            "job = pr.wrap_python_function(add_one)\n"
            'job.input["x"] = 1\n'
            "job.run()\n"
            'print("result:", job.output["result"])',
            id="job",
        ),
        new_code_cell("pr.job_table()", id="table"),
    ]


def pyiron_atomistics_example() -> list:
    return [
        new_markdown_cell("# An atomic structure with pyiron_atomistics", id="intro"),
        new_code_cell(
            "from pyiron_atomistics import Project\n\n"
            'pr = Project("demo_atomistics")\n'
            'structure = pr.create.structure.bulk("Al", cubic=True).repeat(2)\n'
            'print(len(structure), "atoms,", structure.get_volume(), "Å³")',
            id="structure",
        ),
    ]


def write(path: Path, cells: list, env: str) -> None:
    nb = new_notebook(
        cells=cells,
        metadata={"kernelspec": KERNEL, "language_info": {"name": "python"}, "pyiron_environment": env},
    )
    nbformat.validate(nb)
    nbformat.write(nb, path)
    nbformat.validate(nbformat.read(path, as_version=4))
    print(f"wrote {path}")


def main(env: str, directory: str) -> None:
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    write(target / f"README-{env}.ipynb", readme(env), env)
    if importlib.util.find_spec("pyiron_base"):
        write(target / "pyiron_base_example.ipynb", pyiron_base_example(), env)
    if importlib.util.find_spec("pyiron_atomistics"):
        write(target / "pyiron_atomistics_example.ipynb", pyiron_atomistics_example(), env)


if __name__ == "__main__":
    main(*sys.argv[1:])
