"""A real PostgreSQL server for the in-process hub tests: a throwaway cluster on the host."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import pytest

# Debian's configurable-http-proxy keeps its node modules in /usr/share/nodejs, which a
# node not built by Debian (as on these machines) does not search by itself.
os.environ.setdefault("NODE_PATH", "/usr/share/nodejs")

PASSWORD = "p@ss:w/rd#%"  # every character that breaks a naively built URL


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL server binaries not found: apt-get install postgresql (scripts/test does this)")
    return os.path.dirname(found[-1])


@pytest.fixture(scope="session")
def postgres():
    """Start postgres on 127.0.0.1:<free port> with a user 'hub' and database 'jupyterhub'."""
    bindir = _pg_bin()
    root = tempfile.mkdtemp(prefix="pyiron-hub-pg-")
    data = os.path.join(root, "data")
    # PostgreSQL refuses to run as root; use its own account then.
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        pw = pwd.getpwnam(user)
        os.chown(root, pw.pw_uid, pw.pw_gid)

    def run(*cmd, **kw):
        if user:
            cmd = ("runuser", "-u", user, "--", *cmd)
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)

    pwfile = os.path.join(root, "pw")
    with open(pwfile, "w") as f:
        f.write(PASSWORD)
    if user:
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    run(f"{bindir}/initdb", "-D", data, "-U", "hub", "--pwfile", pwfile, "--auth=scram-sha-256", "-E", "UTF8")
    port = _free_port()
    run(
        f"{bindir}/pg_ctl",
        "-D",
        data,
        "-l",
        os.path.join(root, "log"),
        "-w",
        "start",
        "-o",
        f"-h 127.0.0.1 -p {port} -k {root}",
    )
    try:
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        subprocess.run(
            [f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "hub", "jupyterhub"],
            check=True,
            env=env,
            capture_output=True,
        )
        yield {"host": "127.0.0.1", "port": port, "user": "hub", "password": PASSWORD, "db": "jupyterhub"}
    finally:
        run(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fresh_database(postgres):
    """Drop and recreate the database so each hub test starts with an empty schema."""
    import psycopg2

    conn = psycopg2.connect(
        host=postgres["host"], port=postgres["port"], user="hub", password=postgres["password"], dbname="postgres"
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS jupyterhub WITH (FORCE)")
        cur.execute("CREATE DATABASE jupyterhub")
    conn.close()
    return postgres
