"""The value types shared by settings and catalogue: sizes, CPUs, image references, URLs, lists."""

from __future__ import annotations

import pytest

from pyiron_hub_config.values import (
    check_cpus,
    check_http_url,
    check_image,
    format_memory,
    parse_memory,
    split_list,
)

from .helpers import GIB, MIB


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("64M", 64 * MIB),
        ("512m", 512 * MIB),
        ("2G", 2 * GIB),
        ("1.5G", 1536 * MIB),
        ("2048MiB", 2 * GIB),
        ("2 GB", 2 * GIB),
        ("  4g ", 4 * GIB),
        ("1T", 1024 * GIB),
        ("131072K", 128 * MIB),
        (str(GIB), GIB),
        (GIB, GIB),
    ],
)
def test_parse_memory_accepts(raw, expected):
    assert parse_memory(raw) == expected


@pytest.mark.parametrize(
    "raw, words",
    [
        ("lots", "is not a size"),
        ("-1G", "is not a size"),
        ("2X", "is not a size"),
        ("G", "is not a size"),
        ("1e3G", "is not a size"),
        ("nan", "is not a size"),
        ("inf", "is not a size"),
        ("", "is not a size"),
        ("2G; rm -rf /", "is not a size"),
        ("63M", "too small"),
        ("0", "too small"),
        (0, "too small"),
        (-GIB, "too small"),
        (True, "must be a size"),
        ("9" * 400, "too large"),
        ("9" * 400 + "T", "too large"),
    ],
)
def test_parse_memory_rejects_with_value_error(raw, words):
    # ValueError (not OverflowError or TypeError): pydantic turns only that into a problem.
    with pytest.raises(ValueError) as info:
        parse_memory(raw)
    assert words in str(info.value)


@pytest.mark.parametrize(
    "n, text",
    [(2 * GIB, "2G"), (512 * MIB, "512M"), (1536 * MIB, "1536M"), (1024 * GIB, "1T"), (1000, "1000"), (3 * 1024, "3K")],
)
def test_format_memory(n, text):
    assert format_memory(n) == text


@pytest.mark.parametrize("n", [64 * MIB, 2 * GIB, 1536 * MIB, 3 * GIB + 5 * MIB])
def test_format_memory_round_trips(n):
    assert parse_memory(format_memory(n)) == n


@pytest.mark.parametrize("cpus", [0.1, 1.0, 4.0, 1024.0])
def test_check_cpus_accepts(cpus):
    assert check_cpus(cpus) == cpus


@pytest.mark.parametrize("cpus", [0.0, -1.0, 1024.5, float("nan"), float("inf"), float("-inf")])
def test_check_cpus_rejects(cpus):
    with pytest.raises(ValueError, match="out of range"):
        check_cpus(cpus)


@pytest.mark.parametrize(
    "image",
    [
        "pyiron/pyiron",
        "pyiron/pyiron:latest",
        "pyiron/base:2024-06.1",
        "ubuntu",
        "localhost/img:dev",
        "localhost:5000/a/b:c",
        "registry.example.org/pyiron/base:latest",
        "registry.example.org:443/x",
        "my-registry:5000/pyiron",
        "pyiron/pyiron@sha256:" + "0" * 64,
        "a__b/c--d:Tag_1",
    ],
)
def test_check_image_accepts(image):
    assert check_image(image) == image


@pytest.mark.parametrize(
    "image",
    [
        "",
        "pyiron/base latest",
        "pyiron/base;id",
        "pyiron/$(id)",
        "pyiron/`id`",
        "pyiron/base|sh",
        "pyiron/base&id",
        "pyiron/base>out",
        "Pyiron/base",
        "pyiron/Base",
        "--rm",
        "-pyiron",
        "pyiron//base",
        "pyiron/base:",
        ":latest",
        "pyiron/base:tag with space",
        "pyiron/base\nid",
        "pyiron/base@sha256:short",
        "pyiron/base:" + "t" * 200,
    ],
)
def test_check_image_rejects(image):
    with pytest.raises(ValueError, match="not a valid image reference"):
        check_image(image)


def test_check_image_strips_surrounding_blanks():
    assert check_image("  pyiron/base:1 ") == "pyiron/base:1"


@pytest.mark.parametrize(
    "url", ["https://kc.example.org/realms/p", "http://keycloak:8080/realms/p", "https://10.0.0.1"]
)
def test_check_http_url_accepts(url):
    assert check_http_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "kc.example.org",
        "ftp://kc.example.org",
        "file:///etc/passwd",
        "https://",
        "javascript:alert(1)",
        "https://kc.example.org/a b",
        "//kc.example.org",
    ],
)
def test_check_http_url_rejects(url):
    with pytest.raises(ValueError, match=r"is not an http\(s\) URL"):
        check_http_url(url)


@pytest.mark.parametrize(
    "raw, items", [("a,b", ["a", "b"]), ("a, b  c", ["a", "b", "c"]), ("", []), (" , ", []), (["x"], ["x"])]
)
def test_split_list(raw, items):
    assert split_list(raw) == items
