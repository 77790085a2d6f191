"""`make run` checks the local stage's settings before starting anything."""

from __future__ import annotations

import json

import pytest

from devtools import run_local
from tests.support import BASE_ENV, SECRET


def test_bad_local_settings_stop_make_run_before_anything_starts(monkeypatch, capsys) -> None:
    started = []
    bad = {**BASE_ENV, "ALLOWED_COUNTRIES": "US,UK"}
    monkeypatch.setattr(run_local, "local_stage_env", lambda: bad)
    monkeypatch.setattr(run_local, "start_dynamodb_local", lambda *a, **k: started.append(a))
    monkeypatch.setattr("sys.argv", ["run_local"])
    assert run_local.main() == 2
    assert started == []
    assert "ALLOWED_COUNTRIES: UK not ISO 3166 region codes" in capsys.readouterr().err


def test_the_committed_local_stage_passes(monkeypatch) -> None:
    class Stop(Exception):
        pass

    def stop_here(*args: object, **kwargs: object) -> None:
        raise Stop  # past the settings check: it would now start DynamoDB Local

    # no DynamoDB answering yet (run_local probes with a client), and nothing may start
    monkeypatch.setattr(run_local.ddb, "client", stop_here)
    monkeypatch.setattr(run_local, "start_dynamodb_local", stop_here)
    monkeypatch.setattr("sys.argv", ["run_local"])
    with pytest.raises(Stop):
        run_local.main()


def test_settings_from_the_environment_reach_the_local_stage(tmp_path, monkeypatch) -> None:
    """`chalice local` lets a stage's config win over the environment: make run writes them into one."""
    env = run_local.local_stage_env({"VONAGE_SIGNATURE_SECRET": SECRET, "VONAGE_NUMBER": "447700900000",
                                     "HOME": "/root"})  # fmt: skip
    assert (env["VONAGE_SIGNATURE_SECRET"], env["VONAGE_NUMBER"]) == (SECRET, "447700900000")
    assert "HOME" not in env  # only callgate's settings
    monkeypatch.setattr(run_local, "RUN_DIR", tmp_path / "run")
    project = run_local.project_with(env)
    config = json.loads((project / ".chalice" / "config.json").read_text())
    assert config["stages"]["local"]["environment_variables"]["VONAGE_SIGNATURE_SECRET"] == SECRET
    assert set(config["stages"]) == {"local"} and config["environment_variables"] == {}
    assert (project / "app.py").resolve() == (run_local.ddb.ROOT / "app.py").resolve()
