"""The end-to-end tier: `chalice local` as a subprocess (one per session), over real HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.dynamodb_local import LOCAL_AWS_ENV, free_port, stop
from tests.support import SECRET


def http(method: str, url: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


@pytest.fixture(scope="session")
def server(make_project, tmp_path_factory) -> Iterator[str]:
    """`chalice local` on the committed local stage (unsigned requests accepted)."""
    yield from _serve(make_project(copy_code=True), tmp_path_factory)


@pytest.fixture(scope="session")
def signed_server(make_project, tmp_path_factory) -> Iterator[str]:
    """`chalice local` that checks Vonage's signature, as `VONAGE_SIGNATURE_SECRET=… make run` does."""
    project = make_project(copy_code=True, VONAGE_SIGNATURE_SECRET=SECRET, ALLOW_UNSIGNED_WEBHOOKS=None)
    yield from _serve(project, tmp_path_factory)


def _serve(project: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    chalice = shutil.which("chalice", path=os.path.dirname(sys.executable))
    assert chalice, "chalice CLI not installed next to this Python"
    env = {**os.environ, **LOCAL_AWS_ENV}
    log_path = tmp_path_factory.mktemp("chalice") / "chalice-local.log"
    with open(log_path, "ab") as log:
        for _ in range(3):  # the port can be taken between free_port() and the bind
            port = free_port()
            proc = subprocess.Popen(
                [
                    chalice,
                    "local",
                    "--no-autoreload",
                    "--stage",
                    "local",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                cwd=project,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    if http("GET", f"{base}/health")[0] == 200:
                        break
                except OSError:
                    pass  # not listening yet
                time.sleep(0.1)
            if proc.poll() is None and time.monotonic() < deadline:
                break
            stop(proc)
        else:
            pytest.fail(f"chalice local did not start; see {log_path}:\n{log_path.read_text()[-2000:]}")
        try:
            yield base
        finally:
            stop(proc)  # the whole process group
