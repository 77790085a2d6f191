"""What a deployed stage enforces, read from the API definition Chalice deploys (no AWS needed)."""

from __future__ import annotations

import json

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


def test_policies_grant_only_what_the_store_calls_on_its_own_table() -> None:
    for stage in ("dev", "prod"):
        policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
        (table,) = [s for s in policy["Statement"] if s["Sid"] == "CallsTable"]
        assert sorted(table["Action"]) == [
            "dynamodb:DescribeTable",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
        ]
        assert table["Resource"] == [
            f"arn:aws:dynamodb:*:*:table/callgate-{stage}",
            f"arn:aws:dynamodb:*:*:table/callgate-{stage}/index/*",
        ]


def test_each_deployed_stage_reads_only_its_own_signature_secret() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage in ("dev", "prod"):
        param = config["stages"][stage]["environment_variables"]["VONAGE_SIGNATURE_SECRET_PARAM"]
        assert "ALLOW_UNSIGNED_WEBHOOKS" not in config["stages"][stage]["environment_variables"]
        policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
        (secret,) = [s for s in policy["Statement"] if s["Sid"] == "SignatureSecret"]
        assert secret["Action"] == ["ssm:GetParameter"]
        assert secret["Resource"] == f"arn:aws:ssm:*:*:parameter{param}"


def test_headers_are_read_whatever_their_case_and_whether_present() -> None:
    """app._header asks Chalice's lower-cased header dict directly (an absent header raises no
    KeyError inside); the names it is given are lower case, the request's may be any case."""
    from chalice.app import Request

    import app

    event = {
        "multiValueQueryStringParameters": None,
        "headers": {"Content-Type": "application/json", "AUTHORIZATION": "Bearer x"},
        "pathParameters": None,
        "requestContext": {"httpMethod": "POST", "resourcePath": "/event"},
        "body": "{}",
        "isBase64Encoded": False,
        "stageVariables": None,
    }
    app.app.current_request = Request(event)
    try:
        assert (app._header("content-type"), app._header("authorization")) == ("application/json", "Bearer x")
        assert app._header("x-absent") is None
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
    from chalicelib.storage.keys import TTL_ATTRIBUTE
    from chalicelib.storage.table import create_table_args
    from devtools.package import merge_template

    local = create_table_args("any")
    for stage in ("dev", "prod"):
        template = merge_template(stage)
        table = template["Resources"]["CallsTable"]
        props = table["Properties"]
        assert table["Type"] == "AWS::DynamoDB::Table"
        policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
        assert f":table/{props['TableName']}" in json.dumps(policy)  # the name its policy grants
        for name in ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes"):
            assert props[name] == local[name], name
        assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
        function = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
        assert function["CALLS_TABLE"] == {"Ref": "CallsTable"}
        assert {"AnswerURL", "EventURL", "FallbackURL", "TableName"} <= set(template["Outputs"])
        kept = stage == "prod"  # prod's calls outlive its stack
        assert (table.get("DeletionPolicy") == "Retain") == kept
        assert bool(props.get("DeletionProtectionEnabled")) == kept
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
        assert logs == {"LogGroupName": {"Fn::Sub": "/aws/lambda/${APIHandler}"}, "RetentionInDays": 30}
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
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("app.py", "x = 1\n")
        package.writestr("__pycache__/old.cpython-30.pyc", b"")
    assert compile_for_runtime(archive) == 1
    mine = f"cpython-{sys.version_info.major}{sys.version_info.minor}"  # the packaging Python's
    with zipfile.ZipFile(archive) as package:  # another Python's bytecode dropped, this one's added
        assert sorted(package.namelist()) == [f"__pycache__/app.{mine}.pyc", "app.py"]
