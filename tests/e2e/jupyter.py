"""Talk to a user's Jupyter server the way JupyterLab does: a session, then its kernel's websocket.

Only through the hub's proxy, with the user's own token.
"""

from __future__ import annotations

import json
import textwrap
import time
import uuid

import websocket

# A pyiron job that runs in a second and prints "RESULT finished 3".
ADD_JOB = textwrap.dedent("""
    from pyiron_base import Project
    def add(x, y):
        return x + y
    pr = Project("demo")
    job = pr.wrap_python_function(add)
    job.input["x"] = 1
    job.input["y"] = 2
    job.run()
    print("RESULT", job.status, job.output["result"])
""")


class KernelError(AssertionError):
    """The code raised in the kernel; the message carries its traceback."""


class Kernel:
    """A kernel started through the sessions API (cwd = the notebook's folder)."""

    def __init__(self, user, notebook_path: str = "Untitled.ipynb", timeout: float = 120):
        self.user = user
        r = user.user_server(
            "POST",
            "/api/sessions",
            json={
                "path": notebook_path,
                "name": notebook_path.rsplit("/", 1)[-1],
                "type": "notebook",
                "kernel": {"name": "python3"},
            },
        )
        assert r.status_code == 201, (r.status_code, r.text)
        self.session_id = r.json()["id"]
        kernel_id = r.json()["kernel"]["id"]
        # http -> ws, https -> wss (the TLS overlay)
        self.url = "ws" + user.server_url.removeprefix("http") + f"/api/kernels/{kernel_id}/channels"
        self.ws = websocket.create_connection(self.url, header=[f"Authorization: token {user.token}"], timeout=timeout)
        self.timeout = timeout
        self.stderr: list[str] = []

    def run(self, code: str, timeout: float | None = None) -> str:
        """Execute code; return its stdout; raise KernelError with the traceback if it fails."""
        msg_id = uuid.uuid4().hex
        self.ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": self.user.name,
                        "session": uuid.uuid4().hex,
                        "msg_type": "execute_request",
                        "version": "5.3",
                        "date": "",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "channel": "shell",
                    "buffers": [],
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                }
            )
        )
        out, error, idle = [], None, False
        self.stderr = []  # what a notebook shows as pink blocks, for this run
        deadline = time.monotonic() + (timeout or self.timeout)
        while not idle:
            if time.monotonic() > deadline:
                raise AssertionError(f"kernel did not finish within {timeout or self.timeout}s; output so far: {out}")
            msg = json.loads(self.ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
                if content.get("name") == "stderr":
                    self.stderr.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                out.append(content["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                error = "\n".join(content["traceback"])
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        if error:
            raise KernelError(f"{error}\nstdout: {''.join(out)}")
        return "".join(out)

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.user.user_server("DELETE", f"/api/sessions/{self.session_id}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
