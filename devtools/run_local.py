"""`make run`: DynamoDB Local (data kept in .dynamodb/data), the table, then `chalice local`.

Ctrl-C stops both. `chalice local` runs without auto-reload: its watcher polls
every file under the project, .dynamodb/data included, so each DynamoDB write
restarted the server in the middle of a call (and it polled all of .venv every
second). It still runs in its own process group, and the group is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from chalicelib import settings
from devtools import dynamodb_local as ddb

STAGE = "local"
DATA_DIR = ddb.ROOT / ".dynamodb" / "data"


RUN_DIR = ddb.ROOT / ".run" / STAGE
# Besides callgate's settings, what the environment may set for the local stage.
PASSED_THROUGH = (*settings.NAMES, "AWS_ENDPOINT_URL_DYNAMODB")


def _config() -> dict:
    return json.loads((ddb.ROOT / ".chalice" / "config.json").read_text())


def local_stage_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The local stage's variables, each overridden by the environment when set there
    (`VONAGE_SIGNATURE_SECRET=… make run`)."""
    config = _config()
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"][STAGE].get("environment_variables", {}))
    environ = os.environ if environ is None else environ
    env.update({name: environ[name] for name in PASSED_THROUGH if name in environ})
    return env


def project_with(stage_env: dict[str, str]) -> Path:
    """A project in .run/local whose local stage holds `stage_env`: `chalice local` lets a
    stage's config override the environment, so the overrides must be written into one."""
    config = _config()
    config["environment_variables"] = {}
    config["stages"] = {STAGE: {**config["stages"][STAGE], "environment_variables": stage_env}}
    (RUN_DIR / ".chalice").mkdir(parents=True, exist_ok=True)
    path = RUN_DIR / ".chalice" / "config.json"
    path.unlink(missing_ok=True)
    # it may hold the signature secret: readable by its owner only, from its creation on
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(json.dumps(config, indent=2))
    for name in ("app.py", "chalicelib", "requirements.txt"):
        link = RUN_DIR / name
        if not link.is_symlink():
            link.symlink_to(ddb.ROOT / name)
    return RUN_DIR


def start_dynamodb_local(url: str) -> subprocess.Popen[bytes]:
    """DynamoDB Local on `url`'s port, its data kept in .dynamodb/data between runs."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    log = open(ddb.ROOT / ".dynamodb" / "dynamodb-local.log", "ab")
    return ddb.start(urlsplit(url).port or 8001, DATA_DIR, log)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args()

    stage_env = local_stage_env()
    overridden = sorted(name for name in PASSED_THROUGH if name in os.environ)
    try:
        loaded = settings.load(stage_env)  # every number and code, before anything starts
    except settings.ConfigError as exc:
        where = f" with {', '.join(overridden)} from the environment" if overridden else ""
        print(
            f"callgate: the '{STAGE}' stage in .chalice/config.json{where} is wrong: {exc}", file=sys.stderr
        )
        return 2
    if loaded.token_problem is not None:  # the calls would work; POST /token would answer 503
        where = f" with {', '.join(overridden)} from the environment" if overridden else ""
        print(f"callgate: the '{STAGE}' stage{where} is wrong: {loaded.token_problem}", file=sys.stderr)
        return 2
    ddb_url = stage_env["AWS_ENDPOINT_URL_DYNAMODB"]
    table = stage_env["CALLS_TABLE"]
    signal.signal(signal.SIGTERM, _stop_on_sigterm)

    db_proc = None
    chalice_proc = None
    try:
        try:
            ddb.client(ddb_url, timeout=0.3).list_tables(Limit=1)
            print(f"callgate: using the DynamoDB already answering at {ddb_url}", flush=True)
        except Exception:
            db_proc = start_dynamodb_local(ddb_url)
            if not ddb.wait_ready(ddb_url, db_proc):
                print(
                    f"callgate: DynamoDB Local could not start at {ddb_url} (port in use?); "
                    "see .dynamodb/dynamodb-local.log",
                    file=sys.stderr,
                )
                return 1
            print(f"callgate: DynamoDB Local at {ddb_url}, data in {DATA_DIR}", flush=True)
        if ddb.ensure_table(ddb_url, table):
            print(f"callgate: created table {table}", flush=True)

        env = {**os.environ, **ddb.LOCAL_AWS_ENV}
        env.pop("AWS_PROFILE", None)
        chalice = shutil.which("chalice", path=os.path.dirname(sys.executable)) or "chalice"
        chalice_proc = subprocess.Popen(
            [
                chalice,
                "local",
                "--no-autoreload",
                "--stage",
                STAGE,
                "--host",
                args.host,
                "--port",
                str(args.port),
            ],
            cwd=project_with(stage_env),
            env=env,
            start_new_session=True,
        )
        base = f"http://{args.host}:{args.port}"
        signed = bool(loaded.signature_secrets or loaded.signature_secret_param)
        print(
            f"callgate: serving stage '{STAGE}' at {base} (answer URL {base}/answer, "
            f"event URL {base}/event). Ctrl-C stops it; run it again after changing the code.\n"
            + (f"  from the environment: {', '.join(overridden)}\n" if overridden else "")
            + (
                "  webhooks must be signed (VONAGE_SIGNATURE_SECRET); `make simulate` signs with it too"
                if signed
                else "  unsigned webhooks accepted (VONAGE_SIGNATURE_SECRET=… make run checks signatures)\n"
                f"  try: curl '{base}/answer?from_user=jane&to=14155550101&conversation_uuid=CON-1&uuid=u1'"
            ),
            flush=True,
        )
        return chalice_proc.wait()
    except KeyboardInterrupt:
        print("\ncallgate: stopping", flush=True)
        return 0
    finally:
        for proc in (chalice_proc, db_proc):
            if proc is not None:
                ddb.stop(proc)


if __name__ == "__main__":
    sys.exit(main())
