"""`pyiron-hub quota`: what it asks the quota service and what it prints, for users' homes
(`set`) and group folders (`set-group`). Only the HTTP call (quota._call) is replaced."""

from __future__ import annotations

import os

import pytest

from pyiron_hub_config import quota
from pyiron_hub_config.cli import main

URL = "http://quota-service:8099"
MIB = 1 << 20


@pytest.fixture
def service(monkeypatch, minimal_env):
    """The quota service as a table of answers; each call is recorded as (method, url, body)."""
    monkeypatch.setattr(os, "environ", {**minimal_env, "STORAGE_QUOTA": "10G", "SERVER_DISK_LIMIT": "20G"})
    calls: list[tuple[str, str, dict | None]] = []
    answers: dict[tuple[str, str], dict | Exception] = {}

    def call(url, method="GET", body=None):
        calls.append((method, url, body))
        got = answers[(method, url)]
        if isinstance(got, Exception):
            raise got
        return got

    monkeypatch.setattr(quota, "_call", call)
    return calls, answers


@pytest.mark.parametrize(
    "action, name, path, shown",
    [
        ("set", "ann.lee", "/users/ann-2elee/limit", "ann.lee"),
        ("set-group", "lab.x", "/groups/jupyterhub-group-lab_2ex/limit", "group lab.x"),
    ],
)
def test_setting_a_limit_puts_it_under_the_storage_name_and_prints_the_usage(service, capsys, action, name, path,
                                                                             shown):  # fmt: skip
    calls, answers = service
    answers[("PUT", URL + path)] = {"used": 3 * MIB, "limit": 20 << 30}
    assert main(["quota", action, name, "20G"]) == 0
    assert calls == [("PUT", URL + path, {"limit": 20 << 30})]
    assert capsys.readouterr().out == f"{shown}: 3M used of 20G\n"


@pytest.mark.parametrize(
    "argv, where, message, example",
    [
        (["set"], "quota set", "needs a user and a size", "pyiron-hub quota set alice 20G"),
        (["set", "ann"], "quota set", "needs a user and a size", "pyiron-hub quota set alice 20G"),
        (["set-group"], "quota set-group", "needs a group and a size", "pyiron-hub quota set-group lab 50G"),
        (["set-group", "lab"], "quota set-group", "needs a group and a size", "pyiron-hub quota set-group lab 50G"),
        (["set", "ann", "lots"], "quota set", "", "20G"),
        (["set-group", "lab", "lots"], "quota set-group", "", "50G"),
    ],
)
def test_a_missing_name_or_a_bad_size_is_reported_with_an_example_and_nothing_is_asked(
    service, capsys, argv, where, message, example
):
    calls, _ = service
    assert main(["quota", *argv]) == 1
    err = capsys.readouterr().err
    assert f"- {where}: {message}" in err and example in err
    assert calls == []


@pytest.mark.parametrize("argv", [["set", "ann", "20G"], ["set-group", "lab", "50G"], ["show"]])
def test_the_services_refusal_is_printed_as_it_said(service, capsys, argv):
    _, answers = service
    refusal = quota.QuotaServiceError("the group folder x does not exist yet")
    for method, path in [("PUT", "/users/ann/limit"), ("PUT", "/groups/jupyterhub-group-lab/limit"),
                         ("GET", "/users")]:  # fmt: skip
        answers[(method, URL + path)] = refusal
    assert main(["quota", *argv]) == 1
    assert capsys.readouterr().err == "pyiron-hub quota: the group folder x does not exist yet\n"


def test_show_lists_homes_then_group_folders(service, capsys):
    calls, answers = service
    answers[("GET", URL + "/users")] = {"ann": {"used": 19 * MIB, "limit": 20 * MIB}, "bo": {"used": 0, "limit": None}}
    answers[("GET", URL + "/groups")] = {"jupyterhub-group-lab": {"used": 3 * MIB, "limit": 8 * MIB}}
    assert main(["quota", "show"]) == 0
    assert [c[:2] for c in calls] == [("GET", URL + "/users"), ("GET", URL + "/groups")]
    assert capsys.readouterr().out.splitlines() == [
        f"{'home':<24} {'used':>10} {'quota':>10}",
        f"{'ann':<24} {'19M':>10} {'20M':>10}",
        f"{'bo':<24} {'0T':>10} {'none':>10}",  # format_memory's zero, as it prints it today
        f"{'group lab':<24} {'3M':>10} {'8M':>10}",
    ]


def test_without_a_storage_quota_nothing_is_asked(service, capsys, monkeypatch, minimal_env):
    calls, _ = service
    monkeypatch.setattr(os, "environ", minimal_env)
    assert main(["quota", "set", "ann", "20G"]) == 1
    assert "STORAGE_QUOTA: is not set" in capsys.readouterr().err and calls == []
