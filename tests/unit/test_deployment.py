"""What a deployed stage enforces, read from the API definition Chalice deploys (no AWS needed)."""

from __future__ import annotations

import json
import re

import pytest
from chalice.deploy.swagger import SwaggerGenerator

import app as app_module
from tests.support import ROOT

SWAGGER = SwaggerGenerator(
    "us-east-1",
    {"api_handler_arn": "arn:aws:lambda:us-east-1:123456789012:function:callgate", "api_handler_name": "x"},
).generate_swagger(app_module.app)


def security(path: str, method: str) -> object:
    return SWAGGER["paths"][path][method].get("security")


def test_history_routes_require_iam_in_deployed_stages() -> None:
    assert security("/calls", "get") == [{"sigv4": []}]
    assert security("/calls/{conversation_uuid}", "get") == [{"sigv4": []}]
    assert SWAGGER["securityDefinitions"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_webhooks_stay_public() -> None:
    """Vonage cannot sign SigV4 requests: the webhooks check Vonage's own JWT signature instead."""
    for path in ("/answer", "/event", "/fallback"):
        for method in ("get", "post"):
            assert security(path, method) is None
    assert security("/health", "get") is None


def test_each_deployed_stage_reads_its_signature_secret_from_its_parameter() -> None:
    """The parameter's name is a Parameter of the stack (default: the stage's config.json), the
    function's VONAGE_SIGNATURE_SECRET_PARAM, and the one parameter its role may read."""
    from devtools.package import merge_template, role_policy

    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage in ("dev", "prod"):
        settings = config["stages"][stage]["environment_variables"]
        assert "ALLOW_UNSIGNED_WEBHOOKS" not in settings
        template = merge_template(stage)
        parameter = template["Parameters"]["SignatureSecretParam"]
        assert parameter["Default"] == settings["VONAGE_SIGNATURE_SECRET_PARAM"]
        assert re.fullmatch(parameter["AllowedPattern"], parameter["Default"])
        assert not re.fullmatch(parameter["AllowedPattern"], "callgate/no-leading-slash")
        variables = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
        assert variables["VONAGE_SIGNATURE_SECRET_PARAM"] == {"Ref": "SignatureSecretParam"}
        (secret,) = [s for s in role_policy(stage)["Statement"] if s["Sid"] == "SignatureSecret"]
        assert secret["Action"] == ["ssm:GetParameter"]
        assert secret["Resource"]["Fn::Sub"].endswith(":parameter${SignatureSecretParam}")


def test_the_role_replaces_chalices_and_the_log_group_needs_no_function() -> None:
    """The log group is named after the fixed function name, not `${APIHandler}`: the role's
    policy names the group, so a group that waited for the function would wait for the role."""
    from devtools.package import function_name, merge_template

    for stage in ("dev", "prod"):
        resources = merge_template(stage)["Resources"]
        assert resources["APIHandler"]["Properties"]["FunctionName"] == function_name(stage)
        logs = resources["FunctionLogs"]["Properties"]
        assert logs["LogGroupName"] == f"/aws/lambda/{function_name(stage)}"
        assert "APIHandler" not in json.dumps(resources["FunctionLogs"])
        (policy,) = resources["DefaultRole"]["Properties"]["Policies"]
        assert "APIHandler" not in json.dumps(policy)


def test_xray_on_a_stage_adds_its_two_permissions_and_traces_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    from devtools import package, stages

    def statements(stage: str) -> list[str]:
        return [s["Sid"] for s in package.role_policy(stage)["Statement"]]

    assert "XRay" not in statements("dev")
    assert "TracingEnabled" not in package.merge_template("dev")["Resources"]["RestAPI"]["Properties"]
    config = stages._config()
    config["stages"]["dev"] = {**config["stages"]["dev"], "xray": True}
    monkeypatch.setattr(stages, "_config", lambda: config)
    (xray,) = [s for s in package.role_policy("dev")["Statement"] if s["Sid"] == "XRay"]
    assert xray["Action"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    # the API stage is traced with the function: one trace from API Gateway to DynamoDB
    assert package.merge_template("dev")["Resources"]["RestAPI"]["Properties"]["TracingEnabled"] is True


def test_headers_are_read_whatever_their_case_and_whether_present() -> None:
    """A webhook's Content-Type and Authorization reach the routes whatever case the request
    spells them in; an absent header is None."""
    from chalice.app import Request

    import app

    def request(headers: dict[str, str]) -> dict:
        return {
            "multiValueQueryStringParameters": {"failover": ["1"]},
            "headers": headers,
            "pathParameters": None,
            "requestContext": {"httpMethod": "POST", "resourcePath": "/event"},
            "body": "{}",
            "isBase64Encoded": False,
            "stageVariables": None,
        }

    try:
        app.app.current_request = Request(
            request({"Content-Type": "application/json", "AUTHORIZATION": "Bearer x"})
        )
        read = app._request()
        assert (read.query, read.body, read.content_type, read.authorization) == (
            {"failover": "1"}, b"{}", "application/json", "Bearer x"
        )  # fmt: skip
        app.app.current_request = Request(request({"content-type": "application/json"}))
        assert (app._request().content_type, app._request().authorization) == ("application/json", None)
    finally:
        app.app.current_request = None  # type: ignore[assignment]


def test_in_lambda_the_dynamodb_client_is_built_at_init() -> None:
    """Not inside the first answer's budget: Lambda runs `import app` before any request."""
    import subprocess
    import sys

    from tests.support import ROOT

    code = "import app; from chalicelib.storage import client; print(len(client._clients))"
    env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x"}  # fmt: skip
    built = [
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, **extra}, capture_output=True,
                       text=True, check=True).stdout.strip()
        for extra in ({"AWS_LAMBDA_FUNCTION_NAME": "callgate-dev"}, {})
    ]  # fmt: skip
    assert built == ["1", "0"]


def test_the_packaged_table_is_the_local_definition() -> None:
    """`make package` merges the table from chalicelib/storage/table.py: same keys, indexes, TTL."""
    from chalicelib.keys import TTL_ATTRIBUTE
    from chalicelib.storage.table import create_table_args
    from devtools.package import merge_template

    local = create_table_args("any")
    for stage in ("dev", "prod"):
        template = merge_template(stage)
        table = template["Resources"]["CallsTable"]
        props = table["Properties"]
        assert table["Type"] == "AWS::DynamoDB::Table"
        assert props["TableName"] == f"callgate-{stage}"
        for name in ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes"):
            assert props[name] == local[name], name
        assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
        function = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
        assert function["CALLS_TABLE"] == {"Ref": "CallsTable"}
        assert {"AnswerURL", "EventURL", "FallbackURL", "TableName"} <= set(template["Outputs"])
        kept = stage == "prod"  # prod's calls outlive its stack
        assert (table.get("DeletionPolicy") == "RetainExceptOnCreate") == kept
        assert (table.get("UpdateReplacePolicy") == "Retain") == kept
        # never with deletion protection: it would fail the delete of a failed first deploy's rollback
        assert "DeletionProtectionEnabled" not in props
        assert ("PointInTimeRecoverySpecification" in props) == kept
    answer = merge_template("dev")["Outputs"]["AnswerURL"]["Value"]["Fn::Sub"]
    assert answer == "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api/answer"


def test_per_deployment_values_are_parameters_and_logs_expire() -> None:
    from devtools.package import merge_template

    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage in ("dev", "prod"):
        template = merge_template(stage)
        stage_env = config["stages"][stage]["environment_variables"]
        assert template["Parameters"]["VonageNumber"]["Default"] == stage_env["VONAGE_NUMBER"]
        assert template["Parameters"]["AllowedCountries"]["Default"] == stage_env["ALLOWED_COUNTRIES"]
        variables = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
        assert variables["VONAGE_NUMBER"] == {"Ref": "VonageNumber"}
        assert variables["ALLOWED_COUNTRIES"] == {"Ref": "AllowedCountries"}
        logs = template["Resources"]["FunctionLogs"]["Properties"]
        assert logs == {"LogGroupName": f"/aws/lambda/callgate-{stage}", "RetentionInDays": 30}
    # Vonage waits about a second for the answer URL: a function running for long helps nobody
    assert config["lambda_timeout"] <= 5


def test_a_package_with_an_extension_for_another_python_is_refused(tmp_path) -> None:
    import sys
    import zipfile

    import pytest

    from devtools.package import ForeignExtension, compile_for_runtime

    other = f"cpython-{sys.version_info.major}{sys.version_info.minor + 1}"
    archive = tmp_path / "deployment.zip"
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("app.py", "x = 1\n")
        package.writestr(f"fast.{other}-x86_64-linux-gnu.so", b"\x7fELF")
    with pytest.raises(ForeignExtension, match=other):
        compile_for_runtime(archive)
    mine = f"cpython-{sys.version_info.major}{sys.version_info.minor}"  # the packaging Python's
    timestamped = b"\x00" * 16  # flags 0: checked against the source's time, stale once unzipped
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("app.py", "x = 1\n")
        package.writestr("__pycache__/old.cpython-30.pyc", b"")
        package.writestr(f"__pycache__/app.{mine}.pyc", timestamped)
    assert compile_for_runtime(archive) == 1
    with zipfile.ZipFile(archive) as package:  # another Python's bytecode dropped, this one's made anew
        assert sorted(package.namelist()) == [f"__pycache__/app.{mine}.pyc", "app.py"]
        assert package.read(f"__pycache__/app.{mine}.pyc")[4:8] == b"\x01\x00\x00\x00"  # unchecked hash


def test_packaging_ignores_any_aws_account_settings() -> None:
    """No credentials are needed, and none can get in the way (a profile this machine lacks)."""
    import os

    from devtools.package import packaging_environment

    env = packaging_environment({"PATH": "/bin", "AWS_PROFILE": "nope", "AWS_ACCESS_KEY_ID": "AKIA",
                                 "AWS_SECRET_ACCESS_KEY": "s", "AWS_CA_BUNDLE": "/ca.pem"})  # fmt: skip
    assert env == {"PATH": "/bin", "AWS_CA_BUNDLE": "/ca.pem", "AWS_DEFAULT_REGION": "us-east-1",
                   "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}  # fmt: skip


def test_every_dependency_goes_in_the_stages_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    """`automatic_layer`: the function's zip holds the app's code, the layer its dependencies
    (cryptography alone would take the function's zip past 3 MB). Old layer versions are
    deleted once replaced; without a layer, nothing is merged (it would be a typeless resource)."""
    from devtools import package

    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["automatic_layer"] is True
    for stage in ("dev", "prod"):
        layer = package.merge_template(stage)["Resources"][package.LAYER]
        assert layer["Properties"]["RetentionPolicy"] == "Delete"
        assert set(layer) == {"Properties"}  # chalice's resource, its Type and content kept
    real = package._stage_config
    monkeypatch.setattr(
        package, "_stage_config", lambda stage, base: {**real(stage, base), "automatic_layer": False}
    )
    assert package.LAYER not in package.merge_template("dev")["Resources"]


def test_a_layers_bytecode_names_its_sources_under_opt_and_is_the_same_at_every_build(tmp_path) -> None:
    """A layer is unpacked in /opt: its .pyc files say so (tracebacks), not the build's temporary
    directory, so an unchanged layer zips to the same bytes (the same upload, no new version)."""
    import marshal
    import sys
    import zipfile

    from devtools.package import MOUNTS, compile_for_runtime

    mine = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    module = "python/lib/python3.13/site-packages/dep/__init__.py"
    built = []
    for attempt in ("first", "second"):
        archive = tmp_path / attempt / "layer-deployment.zip"
        archive.parent.mkdir()
        with zipfile.ZipFile(archive, "w") as layer:
            layer.writestr(zipfile.ZipInfo(module, date_time=(2020, 1, 1, 0, 0, 0)), "x = 1\n")
        assert compile_for_runtime(archive, MOUNTS["layer-deployment.zip"]) == 1
        built.append(archive.read_bytes())
    assert built[0] == built[1]
    with zipfile.ZipFile(tmp_path / "first" / "layer-deployment.zip") as layer:
        pyc = layer.read(f"python/lib/python3.13/site-packages/dep/__pycache__/__init__.{mine}.pyc")
    assert pyc[4:8] == b"\x01\x00\x00\x00"  # unchecked hash
    assert marshal.loads(pyc[16:]).co_filename == f"/opt/{module}"
