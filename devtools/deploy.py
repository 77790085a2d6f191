"""`make deploy STAGE=… BUCKET=…` and `make destroy STAGE=…`: a stage as the CloudFormation stack
`callgate-<stage>`, through the AWS CLI and its usual credentials and region.

deploy, in order, each step stopping with a message that says what to do:
1. the stage's Parameters: deploy/<stage>.env (`NAME=value` lines), then the environment, which
   wins; NAME is the setting's name (VONAGE_NUMBER) or the Parameter's (VonageNumber).
   VONAGE_NUMBER must be given (the template's default is a placeholder);
2. the stack's state: none (a first deploy: no table or log group of the stage's names may
   exist outside a stack), ROLLBACK_COMPLETE (a first deploy that failed: the empty stack is
   deleted, its table went with the rollback, and the deploy goes on as a first one), busy or
   failed (stop: what to run), or up (an update: the deployed template is read back and
   devtools/template_guard.py refuses a change CloudFormation would refuse);
3. the signature-secret parameter exists as a SecureString (without it every webhook is 503);
4. `aws cloudformation package` (uploads out/<stage>/*.zip to BUCKET) and `deploy`;
5. the URLs for the Vonage application, and `make smoke` against the stage (devtools/smoke.py),
   signed with SECRET from the environment or else the SSM parameter's value (read for the
   check, never printed or written).
Parameters not given keep the stack's current values (the template's defaults on creation).

destroy: deletes the stack and waits. A table kept by its DeletionPolicy (prod's) outlives the
stack with its calls; deleting such a stack also deletes its API and so the URLs Vonage calls,
so it asks for CONFIRM=callgate-<stage>.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from devtools import smoke, stages, template_guard
from devtools.package import FUNCTION_ZIP, LAYER_ZIP, ROOT, TABLE
from devtools.parameters import PARAMETER_VARIABLES
from devtools.template_shape import CODE_VERSION

OUTPUTS = ("AnswerURL", "EventURL", "FallbackURL")  # what the Vonage application needs
REQUIRED = ("VonageNumber",)
# Every Parameter a deploy may set, by the setting name it also answers to: the function's
# (each an environment variable it reads) and the stack's own
DEPLOY_PARAMETERS = {**PARAMETER_VARIABLES, "AlarmEmail": "ALARM_EMAIL"}
BUSY = ("_IN_PROGRESS",)
STUCK = ("ROLLBACK_FAILED", "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED", "IMPORT_ROLLBACK_FAILED")


class DeployError(SystemExit):
    """Stops a deploy or destroy with a message saying what to do."""

    def __init__(self, message: str, action: str = "deploy") -> None:
        super().__init__(f"make {action}: {message}")


class AwsFailed(Exception):
    """An AWS CLI command failed; str() is the command, its exit status and what it said."""

    def __init__(self, args: Sequence[str], status: int, said: str) -> None:
        self.said = said
        super().__init__(f"`aws {' '.join(args[:2])}` failed (exit {status}){': ' + said if said else ''}")


def stack_name(stage: str) -> str:
    return f"callgate-{stage}"


def env_file(stage: str) -> Path:
    return ROOT / "deploy" / f"{stage}.env"


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines; blank lines and `#` comments skipped; quotes around a value dropped."""
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise DeployError(f"{path}:{number}: expected NAME=value, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def parameter_overrides(stage: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The stack's Parameters for this deploy: deploy/<stage>.env, then the environment."""
    by_name = {name: parameter for parameter, name in DEPLOY_PARAMETERS.items()}
    by_name.update({parameter: parameter for parameter in DEPLOY_PARAMETERS})
    from_file = read_env_file(env_file(stage))
    unknown = sorted(set(from_file) - set(by_name))
    if unknown:
        known = ", ".join(sorted(DEPLOY_PARAMETERS.values()))
        raise DeployError(f"{env_file(stage)}: unknown {', '.join(unknown)} (known: {known})")
    overrides: dict[str, str] = {}
    for source in (from_file, {name: environ[name] for name in by_name if environ.get(name)}):
        for name, value in source.items():
            overrides[by_name[name]] = value
    missing = [DEPLOY_PARAMETERS[p] for p in REQUIRED if not overrides.get(p)]
    if missing:
        raise DeployError(
            f"set {', '.join(missing)} in {env_file(stage).relative_to(ROOT)} or the environment "
            "(the Vonage number calls come from, E.164 digits without +)"
        )
    return overrides


def _aws(args: Sequence[str], capture: bool = False) -> str:
    """Run `aws …`; its output when `capture`. A failure is AwsFailed, with what it printed."""
    try:
        done = subprocess.run(["aws", *args], check=False, text=True, capture_output=capture)
    except FileNotFoundError:
        raise DeployError(
            "the AWS CLI (`aws`) is not on PATH: install it and configure credentials"
        ) from None
    if done.returncode != 0:
        raise AwsFailed(args, done.returncode, (done.stderr or "").strip() if capture else "")
    return done.stdout if capture else ""


def stack_status(stage: str) -> str | None:
    """The stack's status (CREATE_COMPLETE, ROLLBACK_COMPLETE, …); None when there is no stack."""
    try:
        status = _aws([
            "cloudformation", "describe-stacks", "--stack-name", stack_name(stage),
            "--query", "Stacks[0].StackStatus", "--output", "text",
        ], capture=True).strip()  # fmt: skip
    except AwsFailed as exc:
        if "does not exist" in exc.said:
            return None
        raise
    return status or None


def deployed_template(stage: str) -> dict[str, Any]:
    """The template the stack was last deployed with, as written (before the SAM transform)."""
    body = json.loads(_aws([
        "cloudformation", "get-template", "--stack-name", stack_name(stage), "--template-stage", "Original",
        "--query", "TemplateBody", "--output", "json",
    ], capture=True))  # fmt: skip
    return json.loads(body) if isinstance(body, str) else body  # type: ignore[no-any-return]


def _exists(args: Sequence[str]) -> bool:
    try:
        _aws(args, capture=True)
    except AwsFailed as exc:
        if "NotFound" in exc.said:
            return False
        raise
    return True


def check_first_deploy(stage: str, template: Mapping[str, Any]) -> None:
    """Nothing outside a stack holds a name the new stack creates: CloudFormation would fail the
    create on it ("already exists") and roll everything back."""
    table = str(template["Resources"][TABLE]["Properties"]["TableName"])
    if _exists(["dynamodb", "describe-table", "--table-name", table, "--query", "Table.TableStatus"]):
        raise DeployError(
            f"the DynamoDB table {table} exists outside any stack (a stack deleted with its table "
            "kept, or made by hand), and the new stack would create one of that name. Bring it into "
            "the stack with a resource import (docs/deploy.md, 'A kept table'), or delete it with its "
            f"calls: aws dynamodb delete-table --table-name {table}"
        )
    group = f"/aws/lambda/{table}"
    found = _aws([
        "logs", "describe-log-groups", "--log-group-name-prefix", group,
        "--query", "logGroups[].logGroupName", "--output", "json",
    ], capture=True)  # fmt: skip
    if group in (json.loads(found or "[]") or []):
        raise DeployError(
            f"the log group {group} exists outside any stack (Lambda made it for an earlier "
            f"function of that name) and the new stack creates it: aws logs delete-log-group "
            f"--log-group-name {group}"
        )


def prepare_stack(stage: str, template: Mapping[str, Any]) -> bool:
    """Make the stack ready for this deploy, or stop with what to do (step 2 of the docstring);
    whether the stack exists (an update) or not (a create)."""
    name = stack_name(stage)
    status = stack_status(stage)
    if status == "ROLLBACK_COMPLETE":  # its first deploy failed: nothing in it, nothing kept
        print(f"the stack {name}'s first deploy failed and rolled back: deleting the empty stack first")
        _aws(["cloudformation", "delete-stack", "--stack-name", name])
        _aws(["cloudformation", "wait", "stack-delete-complete", "--stack-name", name])
        status = None
    if status in (None, "REVIEW_IN_PROGRESS"):  # REVIEW_IN_PROGRESS: a first change set that never ran
        check_first_deploy(stage, template)
        return False
    if status.endswith(BUSY):
        raise DeployError(f"the stack {name} is {status}: wait until it ends, then deploy again")
    if status in STUCK:
        events = f"see why with aws cloudformation describe-stack-events --stack-name {name}"
        if status == "UPDATE_ROLLBACK_FAILED":
            then = f"aws cloudformation continue-update-rollback --stack-name {name}"
        else:  # a failed create's rollback or a delete that failed: the stack can only go
            then = f"make destroy STAGE={stage} (what it cannot delete, delete by hand first)"
        raise DeployError(f"the stack {name} is {status}: {events}; then {then}, and deploy again")
    try:
        template_guard.check(deployed_template(stage), dict(template), f"the stack {name}")
    except template_guard.UpdateRefused as exc:
        raise DeployError(str(exc.code)) from None
    return True


def effective(
    name: str, overrides: Mapping[str, str], current: Mapping[str, str], template: Mapping[str, Any]
) -> str:
    """A Parameter's value after this deploy: given now, else the stack's current one (an update
    keeps it), else the template's default (a new stack)."""
    return overrides.get(name) or current.get(name) or str(template["Parameters"][name].get("Default", ""))


def stack_parameters(stage: str) -> dict[str, str]:
    """The stack's current Parameters."""
    found = _aws([
        "cloudformation", "describe-stacks", "--stack-name", stack_name(stage),
        "--query", "Stacks[0].Parameters", "--output", "json",
    ], capture=True)  # fmt: skip
    return {item["ParameterKey"]: item.get("ParameterValue", "") for item in json.loads(found or "[]") or []}


def code_version(out: Path, overrides: Mapping[str, str]) -> str:
    """A hash of the function's code, its layer and the Parameters given: the CodeVersion that
    makes SAM publish a version (for the alias) whenever one of them changes."""
    digest = hashlib.sha256()
    for name in (FUNCTION_ZIP, LAYER_ZIP):
        if (out / name).is_file():
            digest.update(hashlib.sha256((out / name).read_bytes()).digest())
    digest.update(json.dumps(dict(sorted(overrides.items()))).encode())
    return digest.hexdigest()[:32]


def check_secret(name: str, holding: str = "the Vonage account's signature secret") -> None:
    """The parameter exists and is a SecureString (its value is not read)."""
    value = "file://private.key" if "key" in holding else "'<secret>'"
    try:
        kind = _aws(
            ["ssm", "get-parameter", "--name", name, "--query", "Parameter.Type", "--output", "text"], True
        )
    except AwsFailed as exc:
        raise DeployError(
            f"cannot read the SSM parameter {name} ({exc.said or exc}). Create it with {holding}: "
            f"aws ssm put-parameter --name {name} --type SecureString --value {value}"
        ) from None
    if kind.strip() != "SecureString":
        raise DeployError(f"the SSM parameter {name} is a {kind.strip()}: store the secret as a SecureString")


def deploy(stage: str, bucket: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Create or update the stage's stack; its Outputs."""
    if not bucket:
        raise DeployError("BUCKET=<an S3 bucket in the stack's region, for the code> is required")
    out = ROOT / "out" / stage
    if not (out / "sam.json").exists():
        raise DeployError(f"{out / 'sam.json'} is missing: run make package STAGE={stage}")
    template = json.loads((out / "sam.json").read_text())
    overrides = parameter_overrides(stage, environ)
    exists = prepare_stack(stage, template)
    current = stack_parameters(stage) if exists else {}

    def value(name: str) -> str:
        return effective(name, overrides, current, template)

    check_secret(value("SignatureSecretParam"))
    if value("TokenIssuer"):  # POST /token is on (now or still): it needs these, and signs with the key
        needed = ("TokenAudience", "VonageApplicationId")
        absent = [PARAMETER_VARIABLES[p] for p in needed if not value(p)]
        if absent:
            raise DeployError(f"TOKEN_ISSUER is set: POST /token also needs {' and '.join(absent)}")
        check_secret(value("PrivateKeyParam"), "the Vonage application's private key")
    if CODE_VERSION in template["Parameters"]:
        overrides = {**overrides, CODE_VERSION: code_version(out, overrides)}
    packaged = out / "packaged.json"
    _aws([
        "cloudformation", "package", "--template-file", str(out / "sam.json"), "--s3-bucket", bucket,
        "--s3-prefix", stack_name(stage), "--use-json", "--output-template-file", str(packaged),
    ])  # fmt: skip
    _aws([
        # the template is over the 51,200 bytes a deploy may send inline: it goes through the bucket
        "cloudformation", "deploy", "--template-file", str(packaged), "--stack-name", stack_name(stage),
        "--s3-bucket", bucket, "--s3-prefix", stack_name(stage),
        "--capabilities", "CAPABILITY_IAM", "--no-fail-on-empty-changeset",
        "--parameter-overrides", *(f"{name}={value}" for name, value in sorted(overrides.items())),
    ])  # fmt: skip
    described = _aws([
        "cloudformation", "describe-stacks", "--stack-name", stack_name(stage),
        "--query", "Stacks[0].Outputs", "--output", "json",
    ], capture=True)  # fmt: skip
    outputs = {item["OutputKey"]: item["OutputValue"] for item in json.loads(described) or []}
    missing = [name for name in OUTPUTS if name not in outputs]
    if missing:
        raise DeployError(f"the stack has no output {', '.join(missing)}")
    return outputs


def smoke_secret(stage: str, environ: Mapping[str, str]) -> str | None:
    """The secret to sign the smoke check's webhooks with: SECRET, else the stack's parameter's
    value (None, and the signed checks are skipped, when this machine may not decrypt it)."""
    if environ.get("SECRET"):
        return environ["SECRET"]
    try:
        name = stack_parameters(stage).get("SignatureSecretParam")
        if not name:
            return None
        value = _aws(
            ["ssm", "get-parameter", "--name", name, "--with-decryption", "--query", "Parameter.Value",
             "--output", "text"], capture=True,
        )  # fmt: skip
    except AwsFailed:
        return None
    return value.strip() or None


def destroy(stage: str, environ: Mapping[str, str]) -> str:
    """Delete the stage's stack; what became of it and its table."""
    name = stack_name(stage)
    status = stack_status(stage)
    if status is None:
        return f"there is no stack {name}: nothing to delete"
    table = deployed_template(stage).get("Resources", {}).get(TABLE, {})
    table_name = table.get("Properties", {}).get("TableName", name)
    # a failed first deploy's rollback deleted the table it had made (RetainExceptOnCreate)
    kept = table.get("DeletionPolicy") in template_guard.KEEPING and status not in (
        "ROLLBACK_COMPLETE",
        "REVIEW_IN_PROGRESS",
    )
    if kept and environ.get("CONFIRM") != name:
        raise DeployError(
            f"this deletes {name}'s API, and so the URLs Vonage calls (its table {table_name} is "
            f"kept): run it with CONFIRM={name}",
            "destroy",
        )
    _aws(["cloudformation", "delete-stack", "--stack-name", name])
    try:
        _aws(["cloudformation", "wait", "stack-delete-complete", "--stack-name", name])
    except AwsFailed:
        raise DeployError(
            f"the stack {name} did not finish deleting: see why with aws cloudformation "
            f"describe-stack-events --stack-name {name}, then run make destroy STAGE={stage} again",
            "destroy",
        ) from None
    if status in ("ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"):
        return f"deleted the stack {name}, left by a first deploy that failed: it held nothing"
    if kept:
        return (
            f"deleted the stack {name}; the table {table_name} is kept with its calls (a new "
            f"make deploy STAGE={stage} stops until it is imported or deleted: docs/deploy.md, "
            "'A kept table')"
        )
    return f"deleted the stack {name} and its table {table_name}, with its calls"


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("deploy", "destroy"))
    parser.add_argument("stage", help="dev, prod or a stage made from one (make package STAGE=…)")
    parser.add_argument("--bucket", default="")
    args = parser.parse_args(argv)
    if not stages.STAGE_NAME.fullmatch(args.stage):
        raise DeployError(
            f"stage {args.stage!r}: lowercase letters, digits and '-', a letter first", args.action
        )
    environ = os.environ if environ is None else environ
    try:
        if args.action == "destroy":
            print(destroy(args.stage, environ))
            return 0
        outputs = deploy(args.stage, args.bucket, environ)
    except AwsFailed as exc:
        raise DeployError(str(exc), args.action) from None
    print(f"\nstack {stack_name(args.stage)} is up. In the Vonage application's Voice settings:")
    print(f"  Answer URL         (HTTP POST): {outputs['AnswerURL']}")
    print(f"  Event URL          (HTTP POST): {outputs['EventURL']}")
    print(f"  Fallback answer URL (HTTP POST): {outputs['FallbackURL']}")
    print(f"calls are kept in the DynamoDB table {outputs.get('TableName', stack_name(args.stage))}")
    base = outputs["AnswerURL"].removesuffix("/answer")
    print(f"\nmake smoke BASE={base}")
    sys.stdout.flush()
    try:
        code = smoke.report(base, smoke.smoke(base, smoke_secret(args.stage, environ), deployed=True))
    except OSError as exc:
        print(f"smoke FAILED against {base}: cannot reach it ({exc})")
        code = 1
    if code:
        print(f"the stack is up, but the stage failed its smoke check: see above (make smoke BASE={base})")
    return code


if __name__ == "__main__":
    sys.exit(main())
