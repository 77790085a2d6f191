"""A cold start of the packaged function, as close to Lambda's as runs here.

out/dev/deployment.zip and its layer, layer-deployment.zip (what `make package` builds), are
unpacked as Lambda unpacks them (the code in /var/task, the layer in /opt) and run by CPython
3.13 (the runtime's version, from .venv-package) in fresh processes that cannot write bytecode
(Lambda's code directory and layers are read-only), the layer's directories on sys.path after
the code's, in Lambda's order (boto3, which Lambda provides, comes from .venv-package), with
Lambda's AWS_LAMBDA_FUNCTION_NAME set so the app does what it does at a real init. Each
process times `import app` (Lambda's init), then the first and a second GET /answer (signed, as
Vonage signs it) through `app.app(event, context)` against DynamoDB Local. The same again with
the bytecode removed from both zips shows what shipping it saves. Lambda's init includes
building the DynamoDB client (the app does it then, not in the first answer's budget); `import
app` alone, outside Lambda, against `import chalice, boto3` from the same directory is the
budget's ratio.

The floor: bench/floor_app/, a Chalice app whose GET /answer checks `to` with phonenumbers,
does one put_item into the same table and returns a constant NCCO, its DynamoDB client built
at import. out/floor/deployment.zip and its layer (bench/floor_package.py, which `make bench`
runs: packaged and compiled for 3.13 as callgate's are) go through the same procedure, in the
same environment, interleaved with callgate's runs: callgate's init over the floor's is what
callgate adds to the least such a function loads.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import floor_package, lambda_invoke
from chalicelib.signature import sign
from devtools import dynamodb_local

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "out" / "dev" / "deployment.zip"
LAYER = ROOT / "out" / "dev" / "layer-deployment.zip"
FLOOR = "cold_floor"  # the floor's label: its figures are cold_floor_*
# On sys.path after the function's code, in this order: where Lambda finds a layer's packages
LAYER_DIRS = ("python/lib/python3.13/site-packages", "python")
PYTHON = ROOT / ".venv-package" / "bin" / "python"  # CPython 3.13, as `make package` builds with
RUNS = 7
SECRET = "cold-start-bench-signature-secret-0123456789"  # 32+ bytes, as HS256 needs
TABLE = "callgate-cold-start"  # a table of its own: the storage bench's calls count toward rate limits

_INVOKE = """
import json, sys, time
started = time.perf_counter()
import app
init = time.perf_counter()
class Context:
    function_name = "callgate-dev"
    aws_request_id = "cold-start"
    def get_remaining_time_in_millis(self):
        return 5000
times, decisions = [], []
for event in json.load(open(sys.argv[1])):
    before = time.perf_counter()
    reply = app.app(event, Context())
    times.append((time.perf_counter() - before) * 1000)
    body = json.loads(reply["body"])
    decisions.append((reply["statusCode"], body[-1]["action"] if isinstance(body, list) else body))
print(json.dumps({"init_ms": (init - started) * 1000, "first_ms": times[0], "second_ms": times[1],
                  "decisions": decisions}))
"""
_IMPORT = """
import time
started = time.perf_counter()
import chalice, boto3
print((time.perf_counter() - started) * 1000)
"""


def _signed(event: dict[str, Any]) -> dict[str, Any]:
    """`event` with Vonage's signature, made now (a token is good for 300 s)."""
    token = "Bearer " + sign(SECRET, time.time(), event["queryStringParameters"], None)
    event["headers"]["Authorization"] = token
    event["multiValueHeaders"]["Authorization"] = [token]
    return event


def _unpack(target: Path, bytecode: bool, package: Path = PACKAGE, layer: Path = LAYER) -> Path:
    """The function's code (`package`) in target/task (Lambda's /var/task) and its `layer` in
    target/opt (/opt), without any bytecode if not `bytecode`; the code's directory."""
    for archive, into in ((package, target / "task"), (layer, target / "opt")):
        with zipfile.ZipFile(archive) as package:
            package.extractall(into)
    if not bytecode:
        for cache in list(target.rglob("__pycache__")):
            shutil.rmtree(cache)
    return target / "task"


def _run(code: str, cwd: Path, env: dict[str, str], *args: str) -> str:
    """`code` run from the function's code directory `cwd`: first on sys.path (`python -c`), then
    its layer's directories (PYTHONPATH, before the interpreter's own)."""
    layer = os.pathsep.join(str(cwd.parent / "opt" / part) for part in LAYER_DIRS)
    done = subprocess.run(
        [str(PYTHON), "-c", code, *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": layer},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold start failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip().splitlines()[-1]  # the app's log lines come before


def measure(endpoint: str, progress: Callable[[str], None]) -> dict[str, float]:
    """Median figures over RUNS fresh processes; {} when the package or Python 3.13 is missing."""
    if not PACKAGE.is_file() or not LAYER.is_file() or not PYTHON.is_file():
        progress("cold start skipped: run `make package STAGE=dev` first (it needs CPython 3.13)")
        return {}
    dynamodb_local.ensure_table(endpoint, TABLE)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **dynamodb_local.LOCAL_AWS_ENV,
        **lambda_invoke.stage_environment(endpoint),
        "CALLS_TABLE": TABLE,
        "VONAGE_SIGNATURE_SECRET": SECRET,  # deployed stages read it from SSM, unreachable here
        "AWS_LAMBDA_FUNCTION_NAME": "callgate-dev",
        "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's code directory is read-only
    }
    del env["ALLOW_UNSIGNED_WEBHOOKS"]  # a deployed function takes signed requests only
    # every run calls as the same user: limits high enough (still counted) for all of them
    env.update(dict.fromkeys(("MAX_CALLS_PER_USER_PER_HOUR", "MAX_CALLS_PER_USER_PER_DAY"), "100000"))
    results: dict[str, float] = {
        "package_zip_mb": round(PACKAGE.stat().st_size / 1e6, 2),
        "layer_zip_mb": round(LAYER.stat().st_size / 1e6, 2),
    }
    variants = {"cold": True, "cold_no_bytecode": False}
    floor = floor_package.PACKAGE.is_file() and floor_package.LAYER.is_file()
    if not floor:
        progress("floor cold start skipped: no out/floor/*.zip (`make bench` builds them)")
    envs = dict.fromkeys(variants, env)
    if floor:
        variants[FLOOR] = True
        envs[FLOOR] = {**env, "AWS_LAMBDA_FUNCTION_NAME": "callgate-floor"}  # the same stage otherwise
    calls = iter(lambda_invoke.answer_requests((RUNS * len(variants) + 2) * 2))  # a new call each
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {label: _unpack(Path(tmp) / label, bytecode) for label, bytecode in variants.items()
                if label != FLOOR}  # fmt: skip
        if floor:
            dirs[FLOOR] = _unpack(Path(tmp) / FLOOR, True, floor_package.PACKAGE, floor_package.LAYER)

        def cold_start(label: str) -> dict[str, Any]:
            events = Path(tmp) / "events.json"
            events.write_text(json.dumps([_signed(next(calls)[0]), _signed(next(calls)[0])]))
            run: dict[str, Any] = json.loads(_run(_INVOKE, dirs[label], envs[label], str(events)))
            if [tuple(d) for d in run["decisions"]] != [(200, "connect")] * 2:  # the reply's last action
                raise RuntimeError(f"the packaged function ({label}) did not connect: {run['decisions']}")
            return run

        also = ", and the floor package" if floor else ""
        progress(f"cold starts from the package, with and without its bytecode{also}: {RUNS} runs each")
        cold_start("cold")  # DynamoDB Local's own warm-up (its JIT): not counted
        if floor:
            cold_start(FLOOR)  # and of its put_item path
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label in variants}
        for _ in range(RUNS):  # interleaved: whatever else the machine does falls on both
            for label in variants:
                runs[label].append(cold_start(label))
        for label, found in runs.items():
            for key, name in (
                ("init_ms", "init"),
                ("first_ms", "first_answer"),
                ("second_ms", "warm_answer"),
            ):
                results[f"{label}_{name}_ms"] = round(statistics.median(run[key] for run in found), 1)
        plain = {name: value for name, value in env.items() if name != "AWS_LAMBDA_FUNCTION_NAME"}
        for key, code, environment in (
            ("cold_import_app_ms", _IMPORT.replace("import chalice, boto3", "import app"), plain),
            ("cold_import_chalice_boto3_ms", _IMPORT, env),
        ):
            results[key] = round(
                statistics.median(float(_run(code, dirs["cold"], environment)) for _ in range(RUNS)), 1
            )
    results["cold_import_vs_chalice_boto3"] = round(
        results["cold_import_app_ms"] / results["cold_import_chalice_boto3_ms"], 2
    )
    if floor:
        results["cold_init_vs_floor"] = round(results["cold_init_ms"] / results["cold_floor_init_ms"], 2)
    return results
