"""What `make package` wrote for each stage (`make test` packages both before the tests run):
the function's own code in deployment.zip, its dependencies in the stage's Lambda layer,
layer-deployment.zip (`automatic_layer`)."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.storage.table import create_table_args
from tests.support import ROOT

STAGES = ("dev", "prod")
ZIPS = ("deployment.zip", "layer-deployment.zip")
# Where a layer's packages are, in the zip and so under /opt: Lambda puts /opt/python/lib/python3.13/
# site-packages, then /opt/python, on sys.path after the function's code (/var/task)
SITE_PACKAGES = "python/lib/python3.13/site-packages/"
PYTHON = ROOT / ".venv-package" / "bin" / "python"  # CPython 3.13, as `make package` builds with
LAMBDAS_OWN = ("boto3", "botocore", "s3transfer")  # in the runtime: never packaged


def _names(stage: str, archive: str) -> list[str]:
    path = ROOT / "out" / stage / archive
    if not path.is_file():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run `make package STAGE={stage}` (make test does)")
    with zipfile.ZipFile(path) as package:
        return package.namelist()


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
def test_the_functions_zip_holds_the_apps_own_code_within_its_budget(stage: str) -> None:
    names = _names(stage, "deployment.zip")
    for needed in (
        "app.py",
        "chalicelib/summary.py",
        "chalicelib/storage/call_store.py",
        "chalicelib/data/tts-languages.json",
        "chalice/app.py",
    ):
        assert needed in names, needed
    # app.py, chalicelib/ and chalice's runtime module (chalice puts it there, not in the layer)
    assert {name.split("/")[0] for name in names} == {"app.py", "__pycache__", "chalicelib", "chalice"}
    assert (ROOT / "out" / stage / "deployment.zip").stat().st_size <= 3_000_000


@pytest.mark.parametrize("stage", STAGES)
def test_the_layer_holds_every_dependency_built_for_lambdas_platform(stage: str) -> None:
    names = _names(stage, "layer-deployment.zip")
    assert [name for name in names if not name.startswith(SITE_PACKAGES)] == []
    packages = {name[len(SITE_PACKAGES) :].split("/")[0] for name in names}
    for needed in ("phonenumbers", "jwt", "cryptography", "cffi", "pycparser", "_cffi_backend"):
        assert any(p == needed or p.startswith(f"{needed}.") for p in packages), needed
    assert f"{SITE_PACKAGES}cryptography/hazmat/primitives/asymmetric/rsa.py" in names
    with zipfile.ZipFile(ROOT / "out" / stage / "layer-deployment.zip") as layer:
        wheel_tags = {
            line.removeprefix("Tag: ")
            for name in names
            if name.endswith(".dist-info/WHEEL")
            for line in layer.read(name).decode().splitlines()
            if line.startswith("Tag: ")
        }
    # pure Python, or built for Lambda's Linux on the function's architecture (x86_64)
    architecture = _template(stage)["Resources"]["APIHandler"]["Properties"]["Architectures"]
    assert architecture == ["x86_64"]
    native = [tag for tag in wheel_tags if not tag.endswith("-none-any")]
    assert native, wheel_tags  # cffi's and cryptography's
    assert all("-manylinux" in tag and tag.endswith("_x86_64") for tag in native), native  # not a local build


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("archive", ZIPS)
def test_no_zip_holds_lambdas_own_packages_or_an_extension_for_another_python(
    stage: str, archive: str
) -> None:
    names = _names(stage, archive)
    top = {name.removeprefix(SITE_PACKAGES).split("/")[0] for name in names}
    assert not [name for name in top if name.split("-")[0].split(".")[0] in LAMBDAS_OWN]
    assert not any(name.startswith(("tests/", "bench/", "devtools/", "deploy/", ".venv")) for name in names)
    compiled = [name for name in names if name.endswith((".so", ".pyd"))]
    assert all("cpython-313" in name or "abi3" in name for name in compiled), compiled


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("archive", ZIPS)
def test_every_module_comes_compiled_for_python_3_13(stage: str, archive: str) -> None:
    """Lambda's code directory and its layers are read-only: a module without bytecode is
    compiled at every cold start. Hash-based unchecked .pyc files (PEP 552): extraction changes
    file times."""
    _names(stage, archive)
    with zipfile.ZipFile(ROOT / "out" / stage / archive) as package:
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
def test_the_function_runs_with_the_stages_layer(stage: str) -> None:
    resources = _template(stage)["Resources"]
    function = resources["APIHandler"]["Properties"]
    assert function["CodeUri"] == "./deployment.zip"  # uploaded by `aws cloudformation package`
    assert function["Layers"] == [{"Ref": "ManagedLayer"}]
    layer = resources["ManagedLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "./layer-deployment.zip"  # and so is this
    assert "python3.13" in layer["Properties"]["CompatibleRuntimes"]
    assert layer["Properties"]["CompatibleArchitectures"] == function["Architectures"]
    assert layer["Properties"]["LayerName"] == f"callgate-{stage}-managed-layer"
    assert layer["Properties"]["RetentionPolicy"] == "Delete"  # no old versions left behind


_IMPORT = """
import json, sys
task, opt = sys.argv[1:]
sys.path[:0] = [task, opt + "/python/lib/python3.13/site-packages", opt + "/python"]  # Lambda's order
import app
imported = {"app_imports_cryptography": "cryptography" in sys.modules}
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
signed = key.sign(b"callgate", padding.PKCS1v15(), hashes.SHA256())
key.public_key().verify(signed, b"callgate", padding.PKCS1v15(), hashes.SHA256())  # raises if not
import boto3, chalice, chalicelib, cryptography, jwt, phonenumbers
imported.update({m.__name__: m.__file__ for m in (app, boto3, chalice, chalicelib, cryptography, jwt,
                                                  phonenumbers)})
imported["version"] = list(sys.version_info[:2])
print(json.dumps(imported))
"""


@pytest.mark.parametrize("stage", STAGES)
def test_the_package_imports_from_the_function_and_its_layer_as_lambda_runs_it(
    stage: str, tmp_path: Path
) -> None:
    """Unpacked as Lambda unpacks it (the code in /var/task, the layer in /opt) and run by
    CPython 3.13: `import app` leaves `cryptography` out (only POST /token needs it), and
    cryptography's extension from the layer loads and signs (the wheel for Lambda's platform).
    The packaging venv's own copies come after the layer on sys.path, as the runtime's boto3
    does in Lambda: each module is checked to come from where Lambda would find it."""
    if not PYTHON.is_file():
        pytest.fail("no .venv-package: run `make package` (it needs CPython 3.13)")
    task, opt = tmp_path / "task", tmp_path / "opt"
    for archive, into in (("deployment.zip", task), ("layer-deployment.zip", opt)):
        _names(stage, archive)
        with zipfile.ZipFile(ROOT / "out" / stage / archive) as package:
            package.extractall(into)
    done = subprocess.run(
        [str(PYTHON), "-I", "-B", "-c", _IMPORT, str(task), str(opt)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},  # -I: no PYTHONPATH, no user site, not the working directory
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported["version"] == [3, 13]
    assert imported["app_imports_cryptography"] is False
    assert imported["app"] == str(task / "app.py")
    for module in ("chalice", "chalicelib"):
        assert imported[module] == str(task / module / "__init__.py"), module
    for module in ("cryptography", "jwt", "phonenumbers"):
        assert imported[module] == str(opt / SITE_PACKAGES / module / "__init__.py"), module
    assert not imported["boto3"].startswith(str(tmp_path))  # the runtime's (here: the venv's)


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
    (layer,) = function["Properties"]["Layers"]  # the layer's version, named by its content's hash
    assert resources[layer["Ref"]]["Type"] == "AWS::Lambda::LayerVersion"
    assert resources[layer["Ref"]]["DeletionPolicy"] == "Delete"


@pytest.mark.parametrize("stage", STAGES)
def test_a_browsers_preflight_reaches_the_function_behind_api_gateway(stage: str) -> None:
    """OPTIONS /token goes to callgate (TOKEN_CORS_ORIGINS decides), not to a mock API Gateway
    answers with fixed headers: the same code answers it under `chalice local` and deployed."""
    path = ROOT / "out" / stage / "transformed.json"
    resources = json.loads(path.read_text())["Resources"]
    (api,) = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    token = api["Properties"]["Body"]["paths"]["/token"]
    assert set(token) == {"post", "options"}
    assert {method["x-amazon-apigateway-integration"]["type"] for method in token.values()} == {"aws_proxy"}
