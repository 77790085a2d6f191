"""Fixtures for every tier. DynamoDB Local starts only when a test asks for it.

`tests/unit` asks for none of the DynamoDB fixtures, so it runs without Java or
npm. The integration and end-to-end tiers share one in-memory Amazon DynamoDB
Local per session, reached over HTTP.

The app is tested through its real wiring: a copy of .chalice/config.json whose
`local` stage points at this session's DynamoDB Local and table, loaded by
`chalice.test.Client` (or `chalice local`) exactly as `make run` loads it.
Set DDB_ENDPOINT to use a DynamoDB Local that is already running.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

import app as app_module
from chalicelib.storage.call_store import CallStore
from chalicelib.storage.client import dynamodb_client
from chalicelib.storage.timing import ANSWER_BUDGET_S
from devtools import dynamodb_local as ddb
from tests import aws_operations
from tests.support import Harness

ROOT = Path(__file__).resolve().parent.parent
STAGE = "local"


def pytest_configure(config: pytest.Config) -> None:
    aws_operations.install()  # which AWS permissions the code needs (tests/unit/test_iam.py)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `after_all` run last: they read what the others recorded."""
    items.sort(key=lambda item: item.get_closest_marker("after_all") is not None)


UNLIMITED = ("MAX_CALLS_PER_USER_PER_HOUR", "MAX_CALLS_PER_USER_PER_DAY", "MAX_CALLS_PER_MINUTE")


@pytest.fixture(scope="session", autouse=True)
def aws_env() -> Iterator[None]:
    """Dummy credentials and region only: nothing here may reach AWS."""
    patch = pytest.MonkeyPatch()
    for name, value in ddb.LOCAL_AWS_ENV.items():
        patch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        patch.delenv(name, raising=False)
    yield
    patch.undo()


@pytest.fixture(scope="session")
def ddb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("DDB_ENDPOINT"):
        yield os.environ["DDB_ENDPOINT"]
        return
    log_path = tmp_path_factory.mktemp("dynamodb") / "dynamodb-local.log"
    with open(log_path, "ab") as log:
        proc, url = ddb.start_on_free_port(log=log)
        try:
            yield url
        finally:
            ddb.stop(proc)


@pytest.fixture(scope="session")
def ddb_client(ddb_url: str) -> Any:
    return ddb.client(ddb_url)


@pytest.fixture(scope="session")
def table_name(ddb_url: str) -> str:
    name = f"callgate-test-{uuid.uuid4().hex[:8]}"
    ddb.ensure_table(ddb_url, name)
    return name


ProjectFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def make_project(tmp_path_factory: pytest.TempPathFactory, ddb_url: str, table_name: str) -> ProjectFactory:
    """A copy of the project whose `local` stage uses the test DynamoDB (plus overrides).

    An override of None removes the variable from the stage.
    """

    def make(copy_code: bool = False, **overrides: str | None) -> Path:
        project = tmp_path_factory.mktemp("project")
        (project / ".chalice").mkdir()
        config = json.loads((ROOT / ".chalice" / "config.json").read_text())
        env = config["stages"][STAGE]["environment_variables"]
        env.update({"AWS_ENDPOINT_URL_DYNAMODB": ddb_url, "CALLS_TABLE": table_name})
        # One table serves the whole session: rate limits would trip across tests.
        # Tests of the limits set their own (and a fresh table).
        env.update({name: "1000000" for name in UNLIMITED})
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
                config["environment_variables"].pop(name, None)
            else:
                env[name] = value
        (project / ".chalice" / "config.json").write_text(json.dumps(config, indent=2))
        if copy_code:
            shutil.copy(ROOT / "app.py", project / "app.py")
            shutil.copytree(
                ROOT / "chalicelib", project / "chalicelib", ignore=shutil.ignore_patterns("__pycache__")
            )
        return project

    return make


@pytest.fixture(scope="session")
def project_dir(make_project: ProjectFactory) -> Path:
    return make_project()


# What "patient" storage waits for: whatever a busy machine makes DynamoDB Local take.
PATIENT_CONNECT_S, PATIENT_READ_S, PATIENT_BUDGET_S = 5.0, 30.0, 60.0


@contextmanager
def chalice_client(project: Path, patient: bool = True) -> Iterator[Client]:
    """The app as `chalice.test.Client` serves it, with `project`'s `local` stage.

    `patient` (the default): the app's DynamoDB calls wait whatever a busy machine makes DynamoDB
    Local take, for the tests of what a request does. With the production budget (a 0.4 s read
    timeout, 0.85 s for the answer's storage) a slow DynamoDB Local on a loaded machine is a
    spoken refusal or a 503: the budget at work, not a defect the test is about. The tests of
    that budget (faults, broken replies, a restarting DynamoDB) pass patient=False.
    """
    # Client carries on with an empty config when it cannot load one: make that loud
    config = json.loads((project / ".chalice" / "config.json").read_text())
    assert config.get("app_name") == "callgate" and STAGE in config.get("stages", {}), "no callgate project"
    adapters = app_module.adapters
    saved = (adapters.store_for, adapters.answer_budget_s, adapters.event_budget_s)
    if patient:
        adapters.store_for = lambda settings: CallStore(
            dynamodb_client(PATIENT_CONNECT_S, PATIENT_READ_S), settings.calls_table
        )
        adapters.answer_budget_s = adapters.event_budget_s = PATIENT_BUDGET_S
    try:
        with Client(app_module.app, stage_name=STAGE, project_dir=str(project)) as client:
            yield client
    finally:
        adapters.store_for, adapters.answer_budget_s, adapters.event_budget_s = saved


@pytest.fixture
def client(project_dir: Path) -> Iterator[Client]:
    with chalice_client(project_dir) as test_client:
        yield test_client


@pytest.fixture
def fresh_table(ddb_url: str) -> str:
    """A table of the test's own: for counters and listings that must not see other tests."""
    name = f"callgate-fresh-{uuid.uuid4().hex[:8]}"
    ddb.ensure_table(ddb_url, name)
    return name


@pytest.fixture
def make_harness(ddb_url: str, fresh_table: str) -> Callable[..., Harness]:
    """The handlers over DynamoDB Local, on a table of the test's own, with these settings."""

    def make(budget_s: float = ANSWER_BUDGET_S, **env: str | None) -> Harness:
        return Harness(ddb.client(ddb_url), fresh_table, budget_s, **env)

    return make


@pytest.fixture
def conversation_uuid() -> str:
    return f"CON-{uuid.uuid4()}"
