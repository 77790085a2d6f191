"""`make deploy` / `make destroy` (devtools/deploy.py) against a stand-in `aws` command that logs
what it is asked and answers like the AWS CLI: no AWS account needed, the commands are checked.
The smoke check that ends a deploy is recorded here (devtools/smoke.py has tests of its own)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools import deploy, smoke
from devtools.package import merge_template

FAKE_AWS = """#!{python}
import json, os, sys
args = sys.argv[1:]
line = " ".join(args)
with open(os.environ["FAKE_AWS_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
fail = os.environ.get("FAKE_AWS_FAIL", "")
if fail and line.startswith(fail):
    sys.stderr.write("An error occurred (ParameterNotFound) when calling the GetParameter operation\\n")
    sys.exit(254)
def missing(what):
    sys.stderr.write(f"An error occurred ({{what}})\\n")
    sys.exit(254)
logged = [json.loads(l)[:2] for l in open(os.environ["FAKE_AWS_LOG"])]
created = ["cloudformation", "deploy"] in logged
status = os.environ.get("FAKE_AWS_STATUS", "") or ("CREATE_COMPLETE" if created else "")
if args[:2] == ["ssm", "get-parameter"] and "--with-decryption" in args:
    print(os.environ.get("FAKE_AWS_SECRET_VALUE", "a-signature-secret-of-32-bytes-at-least"))
elif args[:2] == ["ssm", "get-parameter"]:
    print(os.environ.get("FAKE_AWS_PARAM_TYPE", "SecureString"))
elif args[:2] == ["cloudformation", "describe-stacks"] and not status:
    missing("ValidationError) when calling the DescribeStacks operation: Stack with id x does not exist")
elif args[:2] == ["cloudformation", "describe-stacks"] and "StackStatus" in line:
    print(status)
elif args[:2] == ["cloudformation", "describe-stacks"] and "Parameters" in line:
    stage = args[args.index("--stack-name") + 1].removeprefix("callgate-")
    secret = os.environ.get("FAKE_AWS_STACK_SECRET", f"/callgate/{{stage}}/vonage-signature-secret")
    given = json.loads(os.environ.get("FAKE_AWS_STACK_PARAMETERS", "{{}}"))
    current = {{"SignatureSecretParam": secret, **given}}
    print(json.dumps([{{"ParameterKey": k, "ParameterValue": v}} for k, v in current.items()]))
elif args[:2] == ["cloudformation", "describe-stacks"]:
    base = "https://abc123.execute-api.eu-west-1.amazonaws.com/api"
    print(json.dumps([{{"OutputKey": k, "OutputValue": v}} for k, v in (
        ("AnswerURL", base + "/answer"), ("EventURL", base + "/event"),
        ("FallbackURL", base + "/fallback"), ("TableName", "callgate-dev"))]))
elif args[:2] == ["cloudformation", "get-template"]:  # as deployed last: given, or packaged here
    packaged = [json.loads(l) for l in open(os.environ["FAKE_AWS_LOG"]) if '"package"' in l]
    last = packaged[-1][packaged[-1].index("--template-file") + 1] if packaged else ""
    print(json.dumps(json.load(open(os.environ.get("FAKE_AWS_TEMPLATE", last)))))
elif args[:2] == ["dynamodb", "describe-table"]:
    print("ACTIVE") if os.environ.get("FAKE_AWS_TABLE") else missing("ResourceNotFoundException")
elif args[:2] == ["logs", "describe-log-groups"]:
    print(os.environ.get("FAKE_AWS_LOG_GROUPS", "[]"))
elif args[:2] == ["cloudformation", "wait"] and os.environ.get("FAKE_AWS_WAIT_FAILS"):
    sys.stderr.write("Waiter StackDeleteComplete failed: DELETE_FAILED\\n")
    sys.exit(255)
"""
NUMBER = {"VONAGE_NUMBER": "14155550123"}


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
def smoked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None, bool | None]]:
    """The smoke checks a deploy ran: (base, secret, deployed) each; every check passes."""
    ran: list[tuple[str, str | None, bool | None]] = []

    def checks(base: str, secret: str | None, deployed: bool | None = None) -> list[smoke.Check]:
        ran.append((base, secret, deployed))
        return [smoke.Check("GET /health answers 200", smoke.PASSED, "200")]

    monkeypatch.setattr(smoke, "smoke", checks)
    return ran


@pytest.fixture
def stage_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root of its own: out/<stage>/sam.json as `make package` writes its template,
    deploy/ empty."""
    root = tmp_path / "project"
    for stage in ("dev", "prod"):
        (root / "out" / stage).mkdir(parents=True)
        (root / "out" / stage / "sam.json").write_text(json.dumps(merge_template(stage)))
    (root / "deploy").mkdir()
    monkeypatch.setattr(deploy, "ROOT", root)
    return root


def stopped_with(argv: list[str], environ: dict[str, str]) -> str:
    """The message `make deploy`/`make destroy` stops with."""
    with pytest.raises(SystemExit) as stopped:
        deploy.main(argv, environ)
    return str(stopped.value.code)


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def verbs(log: Path) -> list[str]:
    return [" ".join(command[:2]) for command in calls(log)]


def flag(command: list[str], name: str) -> Any:
    return command[command.index(name) + 1]


def deployed_as(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: dict[str, Any]) -> None:
    """The stack exists, up, deployed with `template`."""
    path = tmp_path / "deployed.json"
    path.write_text(json.dumps(template))
    monkeypatch.setenv("FAKE_AWS_TEMPLATE", str(path))
    monkeypatch.setenv("FAKE_AWS_STATUS", "UPDATE_COMPLETE")


def test_a_first_deploy_uploads_creates_the_stack_prints_the_urls_and_smokes_it(
    aws: Path, stage_files: Path, smoked: list, capsys: pytest.CaptureFixture[str]
) -> None:
    (stage_files / "deploy" / "dev.env").write_text(
        "# the team's number\nVONAGE_NUMBER=447700900123\nALLOWED_COUNTRIES='GB,IE'\n\n"
    )
    assert deploy.main(["deploy", "dev", "--bucket", "my-code-bucket"], {"ALLOWED_COUNTRIES": "GB"}) == 0
    assert verbs(aws) == [
        "cloudformation describe-stacks",  # no stack yet: a first deploy
        "dynamodb describe-table",  # no table of its name left outside a stack
        "logs describe-log-groups",  # nor log group
        "ssm get-parameter",  # the secret's parameter: the template's default
        "cloudformation package",
        "cloudformation deploy",
        "cloudformation describe-stacks",  # the outputs
        "cloudformation describe-stacks",  # the smoke check's secret: the stack's parameter…
        "ssm get-parameter",  # …its value, for signing
    ]
    commands = calls(aws)
    assert flag(commands[1], "--table-name") == "callgate-dev"
    check, package, create = commands[3:6]
    assert flag(check, "--name") == "/callgate/dev/vonage-signature-secret"
    assert "--with-decryption" not in check  # the check reads the type only
    assert flag(package, "--s3-bucket") == "my-code-bucket"
    assert flag(package, "--template-file") == str(stage_files / "out/dev/sam.json")
    assert flag(create, "--template-file") == flag(package, "--output-template-file")
    assert flag(create, "--stack-name") == "callgate-dev"
    assert flag(create, "--capabilities") == "CAPABILITY_IAM"
    # the packaged template is over the 51,200 bytes `deploy` may send inline (its own upload)
    assert (flag(create, "--s3-bucket"), flag(create, "--s3-prefix")) == ("my-code-bucket", "callgate-dev")
    overrides = create[create.index("--parameter-overrides") + 1 :]
    assert overrides == ["AllowedCountries=GB", "VonageNumber=447700900123"]  # the environment wins
    printed = capsys.readouterr().out
    base = "https://abc123.execute-api.eu-west-1.amazonaws.com/api"
    for path in ("/answer", "/event", "/fallback"):
        assert base + path in printed
    assert smoked == [(base, "a-signature-secret-of-32-bytes-at-least", True)]
    assert "smoke passed against " + base in printed
    assert "a-signature-secret" not in printed  # read to sign with, never shown


def test_a_failed_smoke_check_fails_the_deploy_and_says_so(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = smoke.Check("an unsigned /answer gets 401", smoke.FAILED, "200 [...]")
    monkeypatch.setattr(smoke, "smoke", lambda base, secret, deployed=None: [refused])
    assert deploy.main(["deploy", "dev", "--bucket", "b"], {**NUMBER, "SECRET": "s" * 32}) == 1
    printed = capsys.readouterr().out
    assert "FAILED  an unsigned /answer gets 401" in printed
    assert "the stack is up, but the stage failed its smoke check" in printed
    assert "--with-decryption" not in json.dumps(calls(aws))  # SECRET given: the parameter is not read


def test_the_environment_alone_can_give_the_parameters(aws: Path, stage_files: Path, smoked: list) -> None:
    environ = {
        "VONAGE_NUMBER": "14155550123", "VONAGE_SIGNATURE_SECRET_PARAM": "/team/secret",
        "ALARM_EMAIL": "oncall@example.com",
    }  # fmt: skip
    deploy.main(["deploy", "prod", "--bucket", "b"], environ)
    check = next(c for c in calls(aws) if c[:2] == ["ssm", "get-parameter"])
    create = next(c for c in calls(aws) if c[:2] == ["cloudformation", "deploy"])
    assert flag(check, "--name") == "/team/secret"
    assert create[create.index("--parameter-overrides") + 1 :] == [
        "AlarmEmail=oncall@example.com",  # the stack's own: the alarms' topic subscribes it
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
        deploy.main(["deploy", "dev"], NUMBER)
    assert calls(aws) == []


def test_a_missing_secret_parameter_stops_the_deploy_and_says_how_to_create_it(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_AWS_FAIL", "ssm get-parameter")
    message = stopped_with(["deploy", "dev", "--bucket", "b"], NUMBER)
    assert message.startswith(
        "make deploy: cannot read the SSM parameter /callgate/dev/vonage-signature-secret"
    )
    assert "aws ssm put-parameter --name /callgate/dev/vonage-signature-secret" in message
    assert message.count("ParameterNotFound") == 1 and message.count("make deploy") == 1  # said once
    assert "cloudformation package" not in verbs(aws)  # no stack touched


def test_a_secret_stored_as_plain_text_stops_the_deploy(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_AWS_PARAM_TYPE", "String")
    with pytest.raises(SystemExit, match="is a String: store the secret as a SecureString"):
        deploy.main(["deploy", "dev", "--bucket", "b"], NUMBER)


def test_a_failing_cloudformation_step_stops_there(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch, smoked: list
) -> None:
    monkeypatch.setenv("FAKE_AWS_FAIL", "cloudformation deploy")
    with pytest.raises(SystemExit, match=r"^make deploy: `aws cloudformation deploy` failed"):
        deploy.main(["deploy", "dev", "--bucket", "b"], NUMBER)
    assert verbs(aws)[-1] == "cloudformation deploy" and smoked == []


def test_a_failed_first_deploy_is_cleared_and_created_again(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch, smoked: list,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """ROLLBACK_COMPLETE: CloudFormation cannot update such a stack, and its rollback deleted what
    it made (prod's table too: RetainExceptOnCreate), so the empty stack is deleted first."""
    monkeypatch.setenv("FAKE_AWS_STATUS", "ROLLBACK_COMPLETE")
    deploy.main(["deploy", "prod", "--bucket", "b"], NUMBER)
    assert verbs(aws)[:5] == [
        "cloudformation describe-stacks",
        "cloudformation delete-stack",
        "cloudformation wait",
        "dynamodb describe-table",
        "logs describe-log-groups",
    ]
    assert "first deploy failed and rolled back: deleting the empty stack first" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("FAKE_AWS_TABLE", "1", "the DynamoDB table callgate-prod exists outside any stack"),
        ("FAKE_AWS_LOG_GROUPS", '["/aws/lambda/callgate-prod"]', "aws logs delete-log-group"),
    ],
)
def test_a_first_deploy_stops_on_a_name_already_taken_outside_a_stack(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    """A table kept by `make destroy` (or a log group Lambda made) would fail the create."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit, match=expected):
        deploy.main(["deploy", "prod", "--bucket", "b"], NUMBER)
    assert "cloudformation deploy" not in verbs(aws)


@pytest.mark.parametrize("status", ["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_FAILED"])
def test_a_busy_or_stuck_stack_stops_the_deploy_with_what_to_run(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    monkeypatch.setenv("FAKE_AWS_STATUS", status)
    expected = "wait until it ends" if "PROGRESS" in status else "continue-update-rollback"
    with pytest.raises(SystemExit, match=expected):
        deploy.main(["deploy", "dev", "--bucket", "b"], NUMBER)
    assert verbs(aws) == ["cloudformation describe-stacks"]


def test_an_update_that_changes_two_indexes_is_refused_before_the_stack_is_touched(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The deployed template is read back from the stack and compared: CloudFormation would
    refuse two index changes in one update, after updating other resources first."""
    deployed = merge_template("dev")
    for index in deployed["Resources"]["CallsTable"]["Properties"]["GlobalSecondaryIndexes"]:
        index["Projection"] = {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["user"]}
    deployed_as(tmp_path, monkeypatch, deployed)
    message = stopped_with(["deploy", "dev", "--bucket", "b"], NUMBER)
    assert message.startswith(
        "make deploy: CloudFormation would refuse this update of the stack callgate-dev"
    )
    assert "the index by_date, by_user would change its key schema or projection" in message
    assert "one index created or deleted per deploy" in message
    assert verbs(aws) == ["cloudformation describe-stacks", "cloudformation get-template"]
    assert flag(calls(aws)[1], "--template-stage") == "Original"


def test_an_unchanged_redeploy_goes_through(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, smoked: list
) -> None:
    deployed_as(tmp_path, monkeypatch, merge_template("dev"))
    assert deploy.main(["deploy", "dev", "--bucket", "b"], NUMBER) == 0
    create = next(c for c in calls(aws) if c[:2] == ["cloudformation", "deploy"])
    assert "--no-fail-on-empty-changeset" in create  # nothing to change is not a failure
    assert "dynamodb describe-table" not in verbs(aws)  # an update: its table is the stack's


def test_destroy_deletes_the_dev_stack_and_waits(
    aws: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed_as(tmp_path, monkeypatch, merge_template("dev"))
    assert deploy.main(["destroy", "dev"], {}) == 0
    assert calls(aws)[2:] == [
        ["cloudformation", "delete-stack", "--stack-name", "callgate-dev"],
        ["cloudformation", "wait", "stack-delete-complete", "--stack-name", "callgate-dev"],
    ]
    printed = capsys.readouterr().out
    assert printed == "deleted the stack callgate-dev and its table callgate-dev, with its calls\n"


def test_destroying_prod_asks_for_confirmation_and_keeps_the_table(
    aws: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed_as(tmp_path, monkeypatch, merge_template("prod"))
    message = stopped_with(["destroy", "prod"], {})
    assert message.startswith("make destroy: this deletes callgate-prod's API")
    assert "CONFIRM=callgate-prod" in message
    assert "delete-stack" not in json.dumps(calls(aws))
    deploy.main(["destroy", "prod"], {"CONFIRM": "callgate-prod"})
    assert "the table callgate-prod is kept with its calls" in capsys.readouterr().out


def test_destroy_says_what_happened_when_there_is_nothing_or_it_fails(
    aws: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy.main(["destroy", "dev"], {})
    assert capsys.readouterr().out == "there is no stack callgate-dev: nothing to delete\n"
    deployed_as(tmp_path, monkeypatch, merge_template("dev"))
    monkeypatch.setenv("FAKE_AWS_WAIT_FAILS", "1")
    message = stopped_with(["destroy", "dev"], {})
    assert message.startswith("make destroy: the stack callgate-dev did not finish deleting")
    assert "make deploy" not in message and "describe-stack-events" in message


def test_a_stage_made_from_dev_deploys_under_its_own_names(
    aws: Path, stage_files: Path, smoked: list
) -> None:
    (stage_files / "out" / "pr-42").mkdir()
    (stage_files / "out" / "pr-42" / "sam.json").write_text(json.dumps(merge_template("pr-42")))
    deploy.main(["deploy", "pr-42", "--bucket", "b"], {**NUMBER, "SECRET": "s" * 32})
    commands = calls(aws)
    assert flag(commands[1], "--table-name") == "callgate-pr-42"
    assert flag(commands[3], "--name") == "/callgate/pr-42/vonage-signature-secret"
    assert flag(next(c for c in commands if c[1] == "deploy"), "--stack-name") == "callgate-pr-42"
    with pytest.raises(SystemExit, match="lowercase letters"):
        deploy.main(["deploy", "PR_42", "--bucket", "b"], NUMBER)


def test_an_update_checks_the_parameter_the_stack_already_reads(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, smoked: list
) -> None:
    """Not given, SignatureSecretParam keeps the stack's value on an update: that one is checked."""
    deployed_as(tmp_path, monkeypatch, merge_template("dev"))
    monkeypatch.setenv("FAKE_AWS_STACK_SECRET", "/team/rotated-secret")
    deploy.main(["deploy", "dev", "--bucket", "b"], NUMBER)
    check = next(c for c in calls(aws) if c[:2] == ["ssm", "get-parameter"])
    create = next(c for c in calls(aws) if c[:2] == ["cloudformation", "deploy"])
    assert flag(check, "--name") == "/team/rotated-secret"
    assert not [o for o in create if o.startswith("SignatureSecretParam=")]  # the stack keeps it


def test_a_token_route_deploy_needs_its_audience_application_and_key_parameter(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TOKEN_ISSUER without what POST /token needs stops before the stack is touched; with them,
    the private key's parameter is checked like the signature secret's."""
    env = {"VONAGE_NUMBER": "14155550123", "TOKEN_ISSUER": "https://login.example.com/"}
    with pytest.raises(deploy.DeployError, match="TOKEN_AUDIENCE and VONAGE_APPLICATION_ID"):
        deploy.deploy("dev", "bucket", env)
    assert "cloudformation package" not in verbs(aws)
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


def test_an_update_that_keeps_the_stacks_token_issuer_is_checked_like_one_that_sets_it(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Parameters not given keep the stack's values: POST /token stays on, so its needs are
    checked against what the stack will run, the private key's parameter included."""
    deployed_as(tmp_path, monkeypatch, merge_template("dev"))
    current = {"TokenIssuer": "https://login.example.com/", "PrivateKeyParam": "/team/key"}
    monkeypatch.setenv("FAKE_AWS_STACK_PARAMETERS", json.dumps(current))
    with pytest.raises(deploy.DeployError, match="TOKEN_AUDIENCE and VONAGE_APPLICATION_ID"):
        deploy.deploy("dev", "bucket", NUMBER)
    monkeypatch.setenv("FAKE_AWS_STACK_PARAMETERS", json.dumps(
        {**current, "TokenAudience": "app", "VonageApplicationId": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"}
    ))  # fmt: skip
    deploy.deploy("dev", "bucket", NUMBER)
    checked = [flag(c, "--name") for c in calls(aws) if c[:2] == ["ssm", "get-parameter"]]
    assert checked[-2:] == ["/callgate/dev/vonage-signature-secret", "/team/key"]  # the stack's key


def test_a_first_change_set_that_never_ran_is_a_first_deploy(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch, smoked: list
) -> None:
    """REVIEW_IN_PROGRESS never ends by itself: the AWS CLI creates its change set as for a new stack."""
    monkeypatch.setenv("FAKE_AWS_STATUS", "REVIEW_IN_PROGRESS")
    deploy.main(["deploy", "dev", "--bucket", "b"], NUMBER)
    assert "dynamodb describe-table" in verbs(aws) and "cloudformation get-template" not in verbs(aws)


def test_a_failed_creates_stuck_rollback_says_to_destroy_it(
    aws: Path, stage_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_AWS_STATUS", "ROLLBACK_FAILED")
    message = stopped_with(["deploy", "dev", "--bucket", "b"], NUMBER)
    assert "then make destroy STAGE=dev" in message and "continue-update-rollback" not in message


def test_destroying_what_a_failed_first_deploy_left_asks_nothing_and_says_nothing_was_kept(
    aws: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed_as(tmp_path, monkeypatch, merge_template("prod"))
    monkeypatch.setenv("FAKE_AWS_STATUS", "ROLLBACK_COMPLETE")
    deploy.main(["destroy", "prod"], {})  # no CONFIRM: its table went with the rollback
    assert capsys.readouterr().out == (
        "deleted the stack callgate-prod, left by a first deploy that failed: it held nothing\n"
    )


def test_a_snapstart_stage_publishes_a_version_for_each_new_code_layer_or_setting(
    aws: Path, stage_files: Path, smoked: list
) -> None:
    """CodeVersion, a hash of both zips and the Parameters given, is what makes SAM publish."""
    from devtools import stages

    out = stage_files / "out" / "dev-snapstart"
    out.mkdir()
    (out / "sam.json").write_text(
        json.dumps(merge_template("dev-snapstart", stages.shape("dev-snapstart", snapstart=True)))
    )
    (out / "deployment.zip").write_bytes(b"code")
    (out / "layer-deployment.zip").write_bytes(b"layer")

    def code_version(environ: dict[str, str]) -> str:
        deploy.main(["deploy", "dev-snapstart", "--bucket", "b"], environ)
        create = [c for c in calls(aws) if c[:2] == ["cloudformation", "deploy"]][-1]
        (value,) = [o.split("=", 1)[1] for o in create if o.startswith("CodeVersion=")]
        return value

    first = code_version(NUMBER)
    assert code_version(NUMBER) == first  # nothing changed: no new version
    (out / "layer-deployment.zip").write_bytes(b"layer 2")
    second = code_version(NUMBER)
    assert second != first
    assert code_version({"VONAGE_NUMBER": "14155550199"}) != second
