"""What `make package` wrote for each stage (`make test` packages both before the tests run)."""

from __future__ import annotations

import json
import zipfile
from typing import Any

import pytest

from chalicelib.storage.table import create_table_args
from tests.support import ROOT

STAGES = ("dev", "prod")


def _template(stage: str) -> dict[str, Any]:
    path = ROOT / "out" / stage / "sam.json"
    if not path.is_file():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run `make package STAGE={stage}` (make test does)")
    return json.loads(path.read_text())


@pytest.mark.parametrize("stage", STAGES)
def test_the_function_runs_on_python_3_13_against_the_stages_table(stage: str) -> None:
    resources = _template(stage)["Resources"]
    function = resources["APIHandler"]["Properties"]
    assert function["Runtime"] == "python3.13"
    assert function["Timeout"] <= 5
    assert function["Environment"]["Variables"]["VONAGE_NUMBER"] == {"Ref": "VonageNumber"}
    assert function["Environment"]["Variables"]["CALLS_TABLE"] == {"Ref": "CallsTable"}
    table = resources["CallsTable"]["Properties"]
    local = create_table_args(f"callgate-{stage}")
    for name in ("TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes"):
        assert table[name] == local[name], name
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


@pytest.mark.parametrize("stage", STAGES)
def test_the_package_holds_the_code_and_no_extension_for_another_python(stage: str) -> None:
    with zipfile.ZipFile(ROOT / "out" / stage / "deployment.zip") as package:
        names = package.namelist()
    for needed in ("app.py", "chalicelib/summary.py", "chalicelib/storage/call_store.py",
                   "phonenumbers/__init__.py", "jwt/__init__.py"):  # fmt: skip
        assert needed in names, needed
    compiled = [name for name in names if name.endswith((".so", ".pyd"))]
    assert all("cpython-313" in name or "abi3" in name for name in compiled), compiled
    assert not any(name.startswith(("tests/", "bench/", "devtools/", "deploy/", ".venv")) for name in names)
    assert not any(name.startswith(("boto3/", "botocore/")) for name in names)  # Lambda's own
    assert (ROOT / "out" / stage / "deployment.zip").stat().st_size <= 3_000_000


@pytest.mark.parametrize("stage", STAGES)
def test_every_module_comes_compiled_for_python_3_13(stage: str) -> None:
    """Lambda's code directory is read-only: a module without bytecode is compiled at every cold
    start. Hash-based unchecked .pyc files (PEP 552): extraction changes file times."""
    with zipfile.ZipFile(ROOT / "out" / stage / "deployment.zip") as package:
        names = set(package.namelist())
        modules = [name for name in names if name.endswith(".py")]
        for module in modules:
            folder, _, file = module.rpartition("/")
            compiled = f"{folder}/__pycache__/{file[:-3]}.cpython-313.pyc".lstrip("/")
            assert compiled in names, module
        flags = {package.read(name)[4:8] for name in names if name.endswith(".pyc")}
    assert flags == {b"\x01\x00\x00\x00"}  # hash-based, not checked against the source
    assert not [name for name in names if name.endswith(".pyc") and "cpython-313" not in name]


@pytest.mark.parametrize("stage", STAGES)
def test_the_function_runs_with_the_stages_own_role(stage: str) -> None:
    """chalice's role, with the generated policy in place of chalice's (logs on every group)."""
    from devtools.package import role_policy

    resources = _template(stage)["Resources"]
    role = resources["APIHandler"]["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = resources[role]["Properties"]["Policies"]
    assert policy["PolicyDocument"] == role_policy(stage)
    assert resources[role]["Type"] == "AWS::IAM::Role"
    assert [name for name, r in resources.items() if r.get("Type") == "AWS::IAM::Role"] == [role]


@pytest.mark.parametrize("stage", STAGES)
def test_the_transformed_template_is_plain_cloudformation(stage: str) -> None:
    """What CloudFormation deploys after the SAM transform (`make test` lints it too)."""
    path = ROOT / "out" / stage / "transformed.json"
    if not path.is_file():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: `make test` writes it (devtools/transform.py)")
    resources = json.loads(path.read_text())["Resources"]
    assert not [name for name, r in resources.items() if r["Type"].startswith("AWS::Serverless::")]
    function = resources["APIHandler"]
    assert function["Type"] == "AWS::Lambda::Function"
    assert function["Properties"]["Runtime"] == "python3.13"
    assert function["Properties"]["FunctionName"] == f"callgate-{stage}"
    assert resources["FunctionLogs"]["Properties"]["LogGroupName"] == f"/aws/lambda/callgate-{stage}"
    assert {r["Type"] for r in resources.values()} >= {"AWS::ApiGateway::RestApi", "AWS::DynamoDB::Table"}
