"""`make deploy` / `make destroy` (devtools/deploy.py) against a stand-in `aws` command that logs
what it is asked and answers like the AWS CLI: no AWS account needed, the commands are checked."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools import deploy

FAKE_AWS = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_AWS_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
fail = os.environ.get("FAKE_AWS_FAIL", "")
if fail and " ".join(args).startswith(fail):
    sys.stderr.write("An error occurred (ParameterNotFound)\\n")
    sys.exit(254)
if args[:2] == ["ssm", "get-parameter"]:
    print(os.environ.get("FAKE_AWS_PARAM_TYPE", "SecureString"))
elif args[:2] == ["cloudformation", "describe-stacks"] and "Parameters" in " ".join(args):
    if not os.environ.get("FAKE_AWS_STACK_SECRET"):
        sys.stderr.write("An error occurred (ValidationError): Stack with id x does not exist\\n")
        sys.exit(254)
    print(os.environ["FAKE_AWS_STACK_SECRET"])
elif args[:2] == ["cloudformation", "describe-stacks"]:
    base = "https://abc123.execute-api.eu-west-1.amazonaws.com/api"
    print(json.dumps([{{"OutputKey": k, "OutputValue": v}} for k, v in (
        ("AnswerURL", base + "/answer"), ("EventURL", base + "/event"),
        ("FallbackURL", base + "/fallback"), ("TableName", "callgate-dev"))]))
"""


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake `aws` first on PATH; the file it logs each command line to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "aws"
    script.write_text(FAKE_AWS.format(python=sys.executable))
    script.chmod(0o755)
    log = tmp_path / "aws.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_AWS_LOG", str(log))
    return log


@pytest.fixture
def stage_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root of its own: out/<stage>/sam.json as `make package` leaves it, deploy/ empty."""
    root = tmp_path / "project"
    for stage in ("dev", "prod"):
        (root / "out" / stage).mkdir(parents=True)
        template = {
            "Parameters": {"SignatureSecretParam": {"Default": f"/callgate/{stage}/vonage-signature-secret"}}
        }
        (root / "out" / stage / "sam.json").write_text(json.dumps(template))
    (root / "deploy").mkdir()
    monkeypatch.setattr(deploy, "ROOT", root)
    return root


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def flag(command: list[str], name: str) -> Any:
    return command[command.index(name) + 1]


def test_deploy_uploads_creates_the_stack_and_prints_the_three_urls(
    aws: Path, stage_files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (stage_files / "deploy" / "dev.env").write_text(
        "# the team's number\nVONAGE_NUMBER=447700900123\nALLOWED_COUNTRIES='GB,IE'\n\n"
    )
    deploy.main(["deploy", "dev", "--bucket", "my-code-bucket"], {"ALLOWED_COUNTRIES": "GB"})
    current, check, package, create, describe = calls(aws)
    assert current[:4] == ["cloudformation", "describe-stacks", "--stack-name", "callgate-dev"]  # none yet
    assert check[:4] == ["ssm", "get-parameter", "--name", "/callgate/dev/vonage-signature-secret"]
    assert "--with-decryption" not in check  # the secret itself is never read
    assert package[:2] == ["cloudformation", "package"]
    assert flag(package, "--s3-bucket") == "my-code-bucket"
    assert flag(package, "--template-file") == str(stage_files / "out/dev/sam.json")
    assert create[:2] == ["cloudformation", "deploy"]
    assert flag(create, "--template-file") == flag(package, "--output-template-file")
    assert flag(create, "--stack-name") == "callgate-dev"
    assert flag(create, "--capabilities") == "CAPABILITY_IAM"
    overrides = create[create.index("--parameter-overrides") + 1 :]
    assert overrides == ["AllowedCountries=GB", "VonageNumber=447700900123"]  # the environment wins
    assert describe[:2] == ["cloudformation", "describe-stacks"]
    printed = capsys.readouterr().out
    base = "https://abc123.execute-api.eu-west-1.amazonaws.com/api"
    for path in ("/answer", "/event", "/fallback"):
        assert base + path in printed


def test_the_environment_alone_can_give_the_parameters(aws: Path, stage_files: Path) -> None:
    environ = {"VONAGE_NUMBER": "14155550123", "VONAGE_SIGNATURE_SECRET_PARAM": "/team/secret"}
    deploy.main(["deploy", "prod", "--bucket", "b"], environ)
    check, _, create, _ = calls(aws)
    assert flag(check, "--name") == "/team/secret"
    assert create[create.index("--parameter-overrides") + 1 :] == [
        "SignatureSecretParam=/team/secret",
        "VonageNumber=14155550123",
    ]
    assert flag(create, "--stack-name") == "callgate-prod"


@pytest.mark.parametrize(
    ("environ", "env_file", "expected"),
    [
        ({}, None, "set VONAGE_NUMBER in deploy/dev.env or the environment"),
        ({"VONAGE_NUMBER": "1"}, "VONAGE_NUMER=1\n", "unknown VONAGE_NUMER"),
        ({"VONAGE_NUMBER": "1"}, "just text\n", "expected NAME=value"),
    ],
)
def test_a_deploy_without_its_settings_stops_before_any_aws_call(
    aws: Path, stage_files: Path, environ: dict[str, str], env_file: str | None, expected: str
) -> None:
    if env_file is not None:
        (stage_files / "deploy" / "dev.env").write_text(env_file)
    with pytest.raises(SystemExit, match=expected):
        deploy.main(["deploy", "dev", "--bucket", "b"], environ)
    assert calls(aws) == []


def test_a_deploy_without_a_bucket_stops_before_any_aws_call(aws: Path, stage_files: Path) -> None:
    with pytest.raises(SystemExit, match="BUCKET="):
        deploy.main(["deploy", "dev"], {"VONAGE_NUMBER": "14155550123"})
    assert calls(aws) == []


def test_a_missing_secret_parameter_stops_the_deploy_and_says_how_to_create_it(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_AWS_FAIL", "ssm get-parameter")
    with pytest.raises(
        SystemExit, match="aws ssm put-parameter --name /callgate/dev/vonage-signature-secret"
    ):
        deploy.main(["deploy", "dev", "--bucket", "b"], {"VONAGE_NUMBER": "14155550123"})
    assert [c[1] for c in calls(aws)] == ["describe-stacks", "get-parameter"]  # no stack touched


def test_a_secret_stored_as_plain_text_stops_the_deploy(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_AWS_PARAM_TYPE", "String")
    with pytest.raises(SystemExit, match="is a String: store the secret as a SecureString"):
        deploy.main(["deploy", "dev", "--bucket", "b"], {"VONAGE_NUMBER": "14155550123"})


def test_a_failing_cloudformation_step_stops_there(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_AWS_FAIL", "cloudformation deploy")
    with pytest.raises(SystemExit, match="`aws cloudformation deploy` failed"):
        deploy.main(["deploy", "dev", "--bucket", "b"], {"VONAGE_NUMBER": "14155550123"})
    assert [c[1] for c in calls(aws)] == ["describe-stacks", "get-parameter", "package", "deploy"]


def test_destroy_deletes_the_dev_stack_and_waits(aws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deploy.main(["destroy", "dev"], {})
    assert calls(aws) == [
        ["cloudformation", "delete-stack", "--stack-name", "callgate-dev"],
        ["cloudformation", "wait", "stack-delete-complete", "--stack-name", "callgate-dev"],
    ]
    assert "deleted with its calls" in capsys.readouterr().out


def test_destroying_prod_asks_for_confirmation_and_keeps_the_table(
    aws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit, match="CONFIRM=callgate-prod"):
        deploy.main(["destroy", "prod"], {})
    assert calls(aws) == []
    deploy.main(["destroy", "prod"], {"CONFIRM": "callgate-prod"})
    assert [c[1] for c in calls(aws)] == ["delete-stack", "wait"]
    assert "the table callgate-prod is kept" in capsys.readouterr().out


def test_an_update_checks_the_parameter_the_stack_already_reads(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not given, SignatureSecretParam keeps the stack's value on an update: that one is checked."""
    monkeypatch.setenv("FAKE_AWS_STACK_SECRET", "/team/rotated-secret")
    deploy.main(["deploy", "dev", "--bucket", "b"], {"VONAGE_NUMBER": "14155550123"})
    _, check, _, create, _ = calls(aws)
    assert flag(check, "--name") == "/team/rotated-secret"
    assert not [o for o in create if o.startswith("SignatureSecretParam=")]  # the stack keeps it


def test_a_token_route_deploy_needs_its_audience_application_and_key_parameter(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TOKEN_ISSUER without what POST /token needs stops before the stack is touched; with them,
    the private key's parameter is checked like the signature secret's."""
    template = json.loads((stage_files / "out" / "dev" / "sam.json").read_text())
    template["Parameters"]["PrivateKeyParam"] = {"Default": "/callgate/dev/vonage-private-key"}
    (stage_files / "out" / "dev" / "sam.json").write_text(json.dumps(template))
    env = {"VONAGE_NUMBER": "14155550123", "TOKEN_ISSUER": "https://login.example.com/"}
    with pytest.raises(deploy.DeployError, match="TOKEN_AUDIENCE and VONAGE_APPLICATION_ID"):
        deploy.deploy("dev", "bucket", env)
    assert not any(command[:2] == ["cloudformation", "deploy"] for command in calls(aws))
    env.update(TOKEN_AUDIENCE="app", VONAGE_APPLICATION_ID="aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")
    monkeypatch.setenv("FAKE_AWS_FAIL", "ssm get-parameter --name /callgate/dev/vonage-private-key")
    with pytest.raises(
        deploy.DeployError, match=r"private key: aws ssm put-parameter .* file://private\.key"
    ):
        deploy.deploy("dev", "bucket", env)
    monkeypatch.delenv("FAKE_AWS_FAIL")
    deploy.deploy("dev", "bucket", env)
    (command,) = [c for c in calls(aws) if c[:2] == ["cloudformation", "deploy"]]
    assert "TokenIssuer=https://login.example.com/" in command and "TokenAudience=app" in command
