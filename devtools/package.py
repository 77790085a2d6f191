"""`make package STAGE=…`: the stage as a CloudFormation (SAM) template and its code.

STAGE is dev, prod or any new name made from one's settings (BASE_STAGE=dev|prod, default dev),
with the options ARCH=arm64, SNAPSTART=on, PROVISIONED=<n> over the stage's (devtools/stages.py).
`chalice package --merge-template` writes out/<stage>/sam.json, deployment.zip (the app's own
code: app.py, chalicelib/, chalice's runtime module) and layer-deployment.zip (every dependency
in requirements.txt, under python/lib/python3.13/site-packages/: `"automatic_layer": true` in
.chalice/config.json), the stage's Lambda layer. Both zips get their bytecode for Python 3.13
(compile_for_runtime). The merge template comes from the table definition that `make run` and
the tests use (chalicelib/storage/table.py), so the deployed table has the same keys, indexes
and TTL:
- the calls table, on demand, with TTL; for prod (and stages made from it) also point-in-time
  recovery and `DeletionPolicy: RetainExceptOnCreate` (deleting the stack keeps the calls);
- the function's CALLS_TABLE set to that table (`Ref`), whatever config.json says, and its
  other settings from Parameters (devtools/parameters.py);
- its log group, keeping lines LOG_DAYS days;
- the layer's old versions deleted once replaced, and with the stack (LAYER_RETENTION);
- the API's one stage, throttled, and the alias API Gateway invokes (devtools/template_shape.py);
- alarms, their SNS topic and a dashboard (devtools/monitoring.py);
- Outputs: the URLs to paste into the Vonage application, and the table's name.

Packaging calls no AWS API, so no credentials or region are needed: chalice only asks for a
region to be set, and gets a placeholder here.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chalicelib.keys import INDEXES
from chalicelib.storage.table import create_table_args
from devtools import monitoring, stages, template_shape
from devtools.parameters import PARAMETER_VARIABLES, parameters, stage_setting
from devtools.stages import Shape
from devtools.template_shape import (
    API,
    API_STAGE,
    FUNCTION,
    api_name,
    api_properties,
    finish_template,
    function_name,
    function_properties,
)

ROOT = stages.ROOT
STAGES = stages.COMMITTED
TABLE = "CallsTable"  # the table's logical id
LAYER = "ManagedLayer"  # and for the layer `automatic_layer` makes (AWS::Serverless::LayerVersion)
# The code's two zips as chalice names them, each with where Lambda unpacks it: the function's
# code in /var/task, a layer's in /opt.
FUNCTION_ZIP = "deployment.zip"
LAYER_ZIP = "layer-deployment.zip"
MOUNTS = {FUNCTION_ZIP: "/var/task", LAYER_ZIP: "/opt"}
# A new version of the layer replaces the old one whenever a dependency changes: SAM's default
# (Retain) would keep every old version, and the last one after the stack is deleted. Functions
# already using a deleted version keep working (Lambda keeps their copy).
LAYER_RETENTION = "Delete"
# Chalice's packager reads the region setting only: any value, nothing is called there.
PLACEHOLDER_REGION = "us-east-1"


def _url(path: str) -> dict[str, Any]:
    return {
        "Fn::Sub": f"https://${{{API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{API_STAGE}{path}"
    }


def table_resource(stage: str, base: str | None = None) -> dict[str, Any]:
    """The calls table as CloudFormation declares it, from the local definition; a stage made
    from prod's settings keeps its table as prod does."""
    args = create_table_args(f"callgate-{stage}")
    properties: dict[str, Any] = {
        "TableName": args["TableName"],
        "BillingMode": args["BillingMode"],
        "AttributeDefinitions": args["AttributeDefinitions"],
        "KeySchema": args["KeySchema"],
        "GlobalSecondaryIndexes": args["GlobalSecondaryIndexes"],
        "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
    }
    resource: dict[str, Any] = {"Type": "AWS::DynamoDB::Table", "Properties": properties}
    if (base or stage) == "prod":
        properties["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
        # Kept when the stack is deleted or the table replaced; deleted when the stack's own
        # creation fails and rolls back (an empty table left behind would block every new
        # attempt): RetainExceptOnCreate (CloudFormation "DeletionPolicy attribute"). No
        # DeletionProtectionEnabled: it makes every delete fail, that rollback's included, so a
        # failed first deploy would end ROLLBACK_FAILED with the table left (AWS re:Post,
        # "resolve ROLLBACK_FAILED"). The policy alone keeps the table of a deleted stack.
        resource["DeletionPolicy"] = "RetainExceptOnCreate"
        resource["UpdateReplacePolicy"] = "Retain"
    return resource


LOG_DAYS = 30  # how long the function's log lines are kept


ROLE = "DefaultRole"  # chalice's logical id for the function's role (its generated policy: logs only)
LOGS = "FunctionLogs"
SECRET_ARN = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${SignatureSecretParam}"
PRIVATE_KEY_ARN = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${PrivateKeyParam}"


_stage_config = stages.stage_config  # the stage's settings (automatic_layer, xray), as its shape reads them


def role_policy(stage: str, base: str = stages.BASE_STAGE) -> dict[str, Any]:
    """The function's only permissions: what the code calls, on the resources it calls them on.

    DynamoDB authorises each part of a TransactWriteItems as its own action (PutItem,
    UpdateItem, DeleteItem: AWS, "Using IAM with DynamoDB transactions"; DeleteItem when an
    answer is settled: routes/settle.py). Writes go to the table only;
    the indexes are read with Query, a number's last caller with GetItem, the calls a callee's
    history lists with BatchGetItem. tests/unit/test_iam.py
    holds this to the operations the code performed while the test suite ran.
    """
    table = {"Fn::GetAtt": [TABLE, "Arn"]}
    indexes = [{"Fn::Sub": f"${{{TABLE}.Arn}}/index/{name}"} for name in INDEXES]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "CallsTable",
            "Effect": "Allow",
            "Action": [
                "dynamodb:BatchGetItem",
                "dynamodb:DeleteItem",
                "dynamodb:DescribeTable",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
            ],
            "Resource": table,
        },
        {"Sid": "CallsIndexes", "Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": indexes},
        {
            "Sid": "SignatureSecret",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            # the parameter's name starts with "/" (its AllowedPattern)
            "Resource": {"Fn::Sub": SECRET_ARN},
        },
        {
            "Sid": "PrivateKey",  # POST /token signs with it; read only when TOKEN_ISSUER is set
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": {"Fn::Sub": PRIVATE_KEY_ARN},
        },
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": [LOGS, "Arn"]},  # the group's streams: "…:log-group:<name>:*"
        },
    ]
    if _stage_config(stage, base).get("xray"):
        statements.append(
            {
                "Sid": "XRay",
                "Effect": "Allow",
                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                "Resource": "*",  # X-Ray has no resource-level permissions
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def merge_template(stage: str, chosen: Shape | None = None) -> dict[str, Any]:
    """What `chalice package --merge-template` adds to the stage's sam.json."""
    chosen = chosen or stages.shape(stage)
    variables: dict[str, Any] = {"CALLS_TABLE": {"Ref": TABLE}}
    variables.update({name: {"Ref": parameter} for parameter, name in PARAMETER_VARIABLES.items()})
    layer: dict[str, Any] = {}
    if _stage_config(stage, chosen.base).get("automatic_layer"):  # else there is no layer to merge into
        layer[LAYER] = {
            "Properties": {
                "Description": "callgate's Python dependencies (requirements.txt)",
                "RetentionPolicy": LAYER_RETENTION,
            }
        }
    namespace = stage_setting(stage, "METRICS_NAMESPACE", chosen.base)
    watched = monitoring.resources(stage, namespace, api_name(stage), API_STAGE, function_name(stage))
    return {
        "Parameters": {
            **parameters(stage, chosen.base),
            **monitoring.PARAMETERS,
            **template_shape.parameters(chosen),
        },
        "Conditions": monitoring.CONDITIONS,
        "Resources": {
            TABLE: table_resource(stage, chosen.base),
            FUNCTION: {"Properties": function_properties(chosen, variables)},
            API: {"Properties": api_properties(chosen)},
            # chalice's role, with this policy in place of the one chalice generates
            ROLE: {
                "Properties": {
                    "Policies": [
                        {"PolicyName": "callgate", "PolicyDocument": role_policy(stage, chosen.base)}
                    ]
                }
            },
            LOGS: {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {
                    "LogGroupName": f"/aws/lambda/{function_name(stage)}",
                    "RetentionInDays": LOG_DAYS,
                },
            },
            **layer,
            **watched,
        },
        "Outputs": {
            "AnswerURL": {"Value": _url("/answer"), "Description": "the Vonage application's answer URL"},
            "EventURL": {"Value": _url("/event"), "Description": "its event URL"},
            "FallbackURL": {"Value": _url("/fallback"), "Description": "its fallback answer URL"},
            "TableName": {"Value": {"Ref": TABLE}},
            **template_shape.outputs(chosen),
        },
    }


# What could make chalice look for an account: a profile, keys, the user's AWS files
_ACCOUNT_VARIABLES = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
)  # fmt: skip


def packaging_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` for `chalice package`, cut off from any AWS account: packaging calls no AWS
    API, and a profile that does not exist here (or a half-set one) must not stop it."""
    env = {name: value for name, value in environ.items() if name not in _ACCOUNT_VARIABLES}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env["AWS_DEFAULT_REGION"] = environ.get("AWS_DEFAULT_REGION") or PLACEHOLDER_REGION
    return env


def package(stage: str, out: Path, chosen: Shape | None = None) -> Path:
    """Run chalice package for `stage` (its shape: `chosen`) into `out`; the directory written."""
    chosen = chosen or stages.shape(stage)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (FUNCTION_ZIP, LAYER_ZIP):  # a zip from an earlier build must not pass for this one's
        (out / stale).unlink(missing_ok=True)
    merge = out / "merge.json"
    merge.write_text(json.dumps(merge_template(stage, chosen), indent=2) + "\n")
    env = packaging_environment(os.environ)
    chalice = Path(sys.executable).with_name("chalice")
    project = stages.project_for(chosen, out / "project") if chosen.derived else ROOT
    try:
        subprocess.run(
            [str(chalice), "package", "--stage", stage, "--merge-template", str(merge), str(out.resolve())],
            cwd=project,
            env=env,
            check=True,
        )
    finally:
        if project != ROOT:
            shutil.rmtree(project)
    sam = out / "sam.json"
    sam.write_text(json.dumps(finish_template(json.loads(sam.read_text()), chosen), indent=2) + "\n")
    return out


FUNCTION_BUDGET = 3_000_000  # bytes: the function's own zip (the layer holds the dependencies)
RUNTIME_TAG = f"cpython-{sys.version_info.major}{sys.version_info.minor}"  # the packaging Python's


class ForeignExtension(SystemExit):
    """The package holds a compiled extension that Lambda's Python cannot load."""


def compile_for_runtime(archive: Path, mounted_at: str = MOUNTS[FUNCTION_ZIP]) -> int:
    """Add each module's bytecode for the packaging Python (the runtime's) to `archive` (the
    function's code or a layer); the number of modules compiled.

    Lambda's code directory and its layers (/opt) are read-only: a module without its .pyc is
    compiled again at every cold start. The .pyc files are hash-based and unchecked (PEP 552):
    zip extraction changes file times, which a timestamp-based .pyc would take for an edit.
    They name their source by where Lambda unpacks `archive` (`mounted_at`), not by this
    build's temporary directory, so the same code gives the same zip (`aws cloudformation
    package` names its upload by the zip's hash: an unchanged layer is not a new version).
    An extension module built for another Python stops the build (it would fail at import,
    on the first call).
    """
    with zipfile.ZipFile(archive) as source:
        entries = source.infolist()
        foreign = [
            e.filename
            for e in entries
            if e.filename.endswith((".so", ".pyd"))
            and RUNTIME_TAG not in e.filename
            and "abi3" not in e.filename
        ]
        if foreign:
            raise ForeignExtension(f"{archive}: extensions for another Python: {', '.join(foreign[:5])}")
        with tempfile.TemporaryDirectory() as tmp:
            source.extractall(tmp)
            # Bytecode already in the zip is a local __pycache__ that chalice copied: another
            # Python's, or this one's but timestamp-based (stale once unzipped). Never kept.
            for stale in Path(tmp).rglob("*.pyc"):
                stale.unlink()
            compileall.compile_dir(
                tmp,
                ddir=mounted_at,
                quiet=1,
                force=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            compiled = sorted(Path(tmp).rglob("*.pyc"))
            rebuilt = archive.with_suffix(".tmp")
            with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as target:
                for entry in entries:
                    if not entry.filename.endswith(".pyc"):
                        target.writestr(entry, source.read(entry.filename))
                for path in compiled:
                    info = zipfile.ZipInfo(path.relative_to(tmp).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                    info.external_attr = 0o644 << 16
                    target.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    rebuilt.replace(archive)
    return len(compiled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", help="dev, prod, or any new name (made from --base's settings)")
    parser.add_argument("--base", default=stages.BASE_STAGE, help="a new stage's settings: dev's or prod's")
    parser.add_argument("--arch", default=None, choices=stages.ARCHITECTURES, help="the stage's otherwise")
    parser.add_argument("--snapstart", default=None, choices=("on", "off"), help="the stage's otherwise")
    parser.add_argument("--provisioned", type=int, default=None, help="instances kept warm on the alias")
    args = parser.parse_args()
    snapstart = None if args.snapstart is None else args.snapstart == "on"
    provisioned = args.provisioned
    chosen = stages.shape(args.stage, args.base, args.arch, snapstart, provisioned)
    out = package(args.stage, ROOT / "out" / args.stage, chosen)
    runtime = json.loads((out / "sam.json").read_text())["Resources"][FUNCTION]["Properties"]["Runtime"]
    written = []
    for name, mounted_at in MOUNTS.items():
        if (out / name).is_file():  # no layer when requirements.txt names nothing
            compiled = compile_for_runtime(out / name, mounted_at)
            size = (out / name).stat().st_size
            written.append(f"{name} ({compiled} modules compiled, {size / 1e6:.2f} MB)")
    function_size = (out / FUNCTION_ZIP).stat().st_size
    print(f"packaged {args.stage} for {runtime}: {out.relative_to(ROOT)}/sam.json, {', '.join(written)}")
    if function_size > FUNCTION_BUDGET:
        raise SystemExit(
            f"{out / FUNCTION_ZIP}: {function_size:,} bytes, over the function's budget "
            f"({FUNCTION_BUDGET:,}): move what makes it grow into the layer"
        )


if __name__ == "__main__":
    main()
