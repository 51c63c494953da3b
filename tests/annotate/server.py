"""A real ``labelrobust annotate serve`` process for the page and crash tests, and a tiny HTTP
participant (sign in, answer) on httpx."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

READY_TIMEOUT_S = 90


@dataclass
class Server:
    process: subprocess.Popen
    url: str

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as when a machine loses power or the OOM killer strikes."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_server(*args: str) -> Server:
    """Start ``labelrobust annotate serve ARGS --port 0`` and wait for the URL it prints."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "labelrobust", "annotate", "serve", *args, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    deadline, seen = time.monotonic() + READY_TIMEOUT_S, []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(r"annotation page: (http://\S+?)/\s", line)
        if match:
            server = Server(process, match.group(1))
            _wait_healthy(server)
            return server
    process.kill()
    raise RuntimeError("annotate serve did not start:\n" + "".join(seen))


def _wait_healthy(server: Server) -> None:
    for _ in range(100):
        try:
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{server.url} never answered /healthz")


def sign_in(base_url: str, name: str, transport=None) -> tuple[httpx.Client, str]:
    """(a client holding the session cookie, the page's CSRF token) for participant ``name``."""
    client = httpx.Client(base_url=base_url, timeout=30, transport=transport) if transport is None else httpx.Client(base_url=base_url, transport=transport)
    page = client.get("/")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    answer = client.post("/login", data={"name": name, "login_token": token}, follow_redirects=True)
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', answer.text).group(1)
    return client, csrf
