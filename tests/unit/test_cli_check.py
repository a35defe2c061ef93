"""`pyiron-hub check`: driven in-process through cli.main(argv)."""

from __future__ import annotations

import pytest

from pyiron_hub_config.cli import main

from .helpers import MINIMAL_ENV, OFFERED_BY_DEFAULT, catalogue_entry


def write_env_file(path, values: dict[str, str]):
    path.write_text("".join(f"{key}='{value}'\n" for key, value in values.items()))
    return path


def environment_lines(out: str, section: str = "  Environments:") -> dict[str, str]:
    lines = out.split(section + "\n", 1)[1].splitlines()
    section_lines = lines[: next((i for i, line in enumerate(lines) if not line.startswith("    ")), len(lines))]
    return {line.split()[0]: line for line in section_lines}


def test_summary_names_what_is_not_offered_and_how_to_offer_it(hub_environ, capsys):
    hub_environ.setenv("PYIRON_CONTINUUM", "pyiron/continuum:latest")
    main(["check"])
    out = capsys.readouterr().out
    assert environment_lines(out)["pyiron_continuum"].endswith("(retired)")
    left = environment_lines(out, "  Not offered (no image; set its variable to offer it):")
    assert left == {
        "pyiron_workflow": "    pyiron_workflow        PYIRON_WORKFLOW",
        "pyiron_experimental": "    pyiron_experimental    PYIRON_EXPERIMENTAL (retired)",
    }


def test_valid_environment(hub_environ, capsys):
    assert main(["check"]) == 0
    out, err = capsys.readouterr()
    assert (out.splitlines()[0], err) == ("Configuration is valid.", "")


def test_summary_lists_every_environment_with_its_image(hub_environ, capsys):
    hub_environ.setenv("PYIRON_BASE", "registry.example.org/base:7")
    main(["check"])
    lines = environment_lines(capsys.readouterr().out)
    assert sorted(lines) == sorted(OFFERED_BY_DEFAULT)
    assert "registry.example.org/base:7" in lines["pyiron_base"]
    assert [name for name, line in lines.items() if line.endswith("(default)")] == ["pyiron_atomistics"]


def test_summary_shows_limits(hub_environ, capsys):
    hub_environ.setenv("MEM_LIMIT", "3G")
    hub_environ.setenv("CPU_LIMIT", "1.5")
    main(["check"])
    assert environment_lines(capsys.readouterr().out)["pyiron_base"].split()[-3:] == ["3G", "1.5", "CPU"]


def test_summary_says_who_may_log_in(hub_environ, capsys):
    hub_environ.delenv("OAUTH2_ALLOW_ALL")
    hub_environ.setenv("OAUTH2_ALLOWED_GROUPS", "pyiron-users")
    hub_environ.setenv("ADMIN_USER", "alice")
    main(["check"])
    assert "  Who may log in: groups pyiron-users; admins: alice" in capsys.readouterr().out.splitlines()


def test_summary_names_the_keycloak_realm(hub_environ, capsys):
    main(["check"])
    assert (
        "  Keycloak:      https://keycloak.example.org/realms/pyiron (client pyiron-hub)"
        in capsys.readouterr().out.splitlines()
    )


def test_summary_warns_of_dummy_login(hub_environ, capsys):
    hub_environ.setenv("AUTHENTICATOR", "dummy")
    hub_environ.setenv("DUMMY_PASSWORD", "trial-password")
    main(["check"])
    assert "DUMMY authenticator" in capsys.readouterr().out


def test_summary_shows_no_secret(hub_environ, capsys):
    main(["check"])
    out = capsys.readouterr().out
    assert [s for s in (MINIMAL_ENV["CLIENT_SECRET"], MINIMAL_ENV["POSTGRES_PASSWORD"]) if s in out] == []


def test_custom_catalogue(hub_environ, capsys, write_catalogue):
    hub_environ.setenv("ENVIRONMENTS_FILE", str(write_catalogue(catalogue_entry("gpu") + catalogue_entry("cpu"))))
    assert main(["check"]) == 0
    assert sorted(environment_lines(capsys.readouterr().out)) == ["cpu", "gpu"]


def test_invalid_environment_lists_every_problem(hub_environ, capsys):
    for name, value in {"MEM_LIMIT": "lots", "CPU_LIMIT": "-1", "PYIRON_BASE": "a b", "SPAWN_TIMEOUT": "soon"}.items():
        hub_environ.setenv(name, value)
    hub_environ.delenv("CLIENT_ID")
    assert main(["check"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("pyiron-hub: 5 configuration problems:")
    assert [
        v for v in ("MEM_LIMIT", "CPU_LIMIT", "PYIRON_BASE", "SPAWN_TIMEOUT", "CLIENT_ID") if f"  - {v}: " not in err
    ] == []


def test_settings_and_catalogue_problems_together(hub_environ, capsys, write_catalogue):
    hub_environ.setenv("MEM_LIMIT", "lots")
    hub_environ.setenv("ENVIRONMENTS_FILE", str(write_catalogue(catalogue_entry("a", "BAD"))))
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert ("  - MEM_LIMIT: " in err, "  - catalogue entry 'a' in " in err) == (True, True)


def test_catalogue_problem_found_after_valid_settings(hub_environ, capsys, write_catalogue):
    hub_environ.setenv("PYIRON_CONTINUUM", "pyiron/continuum:2")
    hub_environ.setenv("ENVIRONMENTS_FILE", str(write_catalogue(catalogue_entry("only"))))
    assert main(["check"]) == 1
    assert (
        "  - PYIRON_CONTINUUM: is set, but the catalogue has no environment 'pyiron_continuum'"
        in capsys.readouterr().err
    )


# --- --env-file ---------------------------------------------------------------------------
@pytest.fixture
def env_files(tmp_path):
    """pyiron.env and shared.env as `pyiron-hub init` lays them out."""
    pyiron = {k: v for k, v in MINIMAL_ENV.items() if k != "POSTGRES_PASSWORD"}
    return (
        write_env_file(tmp_path / "pyiron.env", pyiron),
        write_env_file(tmp_path / "shared.env", {"POSTGRES_PASSWORD": "pw-from-file"}),
    )


def test_two_env_files_together(clean_environ, env_files, capsys):
    pyiron, shared = env_files
    assert main(["check", "--env-file", str(pyiron), "--env-file", str(shared)]) == 0
    assert (
        capsys.readouterr().out.splitlines()[-1] == "  (paths are inside the hub container and were not checked here)"
    )


def test_one_env_file_is_not_enough(clean_environ, env_files, capsys):
    assert main(["check", "--env-file", str(env_files[0])]) == 1
    assert "  - POSTGRES_PASSWORD: is required but not set" in capsys.readouterr().err


def test_later_env_file_wins(clean_environ, env_files, tmp_path, capsys):
    pyiron, shared = env_files
    write_env_file(pyiron, {**{k: v for k, v in MINIMAL_ENV.items() if k != "POSTGRES_PASSWORD"}, "MEM_LIMIT": "lots"})
    override = write_env_file(tmp_path / "override.env", {"MEM_LIMIT": "3G"})
    assert main(["check", "--env-file", str(pyiron), "--env-file", str(shared), "--env-file", str(override)]) == 0
    assert environment_lines(capsys.readouterr().out)["pyiron_base"].split()[-3] == "3G"


def test_env_files_replace_the_shell_environment(hub_environ, env_files, capsys):
    hub_environ.setenv("MEM_LIMIT", "lots")  # in the shell, not in the files
    assert main(["check", "--env-file", str(env_files[0]), "--env-file", str(env_files[1])]) == 0


def test_env_file_paths_are_not_checked_on_the_host(clean_environ, env_files, capsys):
    pyiron, shared = env_files
    write_env_file(
        shared,
        {
            "POSTGRES_PASSWORD": "pw",
            "OAUTH2_CA_BUNDLE": "/srv/jupyterhub/ca.pem",
            "ENVIRONMENTS_FILE": "/srv/jupyterhub/environments.toml",
        },
    )
    assert main(["check", "--env-file", str(pyiron), "--env-file", str(shared)]) == 0


def test_env_file_with_problems(clean_environ, env_files, capsys):
    pyiron, shared = env_files
    write_env_file(shared, {"POSTGRES_PASSWORD": "pw", "CPU_LIMIT": "0", "OAUTH2_ISSUER_URL": "ftp://kc"})
    assert main(["check", "--env-file", str(pyiron), "--env-file", str(shared)]) == 1
    err = capsys.readouterr().err
    assert ("  - CPU_LIMIT: " in err, "  - OAUTH2_ISSUER_URL: " in err) == (True, True)


def test_missing_env_file_is_a_problem_not_a_traceback(clean_environ, env_files, tmp_path, capsys):
    assert main(["check", "--env-file", str(env_files[0]), "--env-file", str(tmp_path / "shraed.env")]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "shraed.env") in err and "No such file or directory" in err


def test_docker_secret_files_are_not_read_on_the_host(clean_environ, env_files, capsys):
    pyiron, shared = env_files
    write_env_file(shared, {"POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password"})
    assert main(["check", "--env-file", str(pyiron), "--env-file", str(shared)]) == 0


def test_check_lists_the_clusters_and_reports_their_problems(hub_environ, capsys, tmp_path):
    from .test_clusters import CLUSTER

    path = tmp_path / "clusters.toml"
    path.write_text(CLUSTER)
    hub_environ.setenv("CLUSTERS_FILE", str(path))
    assert main(["check"]) == 0
    # The section's own lines (the images' presence on this host follows them).
    clusters = [
        line for line in capsys.readouterr().out.split("  Clusters:\n", 1)[1].splitlines() if line.startswith("    ")
    ]
    assert clusters == [
        "    hpc1                   login.hpc1.example.org:22    account {username}     queues short, long (default)"
    ]
    path.write_text(CLUSTER.replace("cores_max = 4", "cores_max = -1"))
    assert main(["check"]) == 1
    assert "cluster 'hpc1'" in capsys.readouterr().err
