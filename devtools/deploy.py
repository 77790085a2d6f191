"""`make deploy STAGE=… BUCKET=…` and `make destroy STAGE=…`: a stage as the CloudFormation stack
`callgate-<stage>`, through the AWS CLI and its usual credentials and region.

deploy: checks that the signature-secret parameter exists (without it every webhook gets 503),
uploads out/<stage>/deployment.zip and the layer's layer-deployment.zip to BUCKET (`aws
cloudformation package`: sam.json names both by paths relative to itself), creates or updates
the stack (`aws cloudformation deploy`), then prints the URLs to paste into the Vonage
application. The stage's Parameters come from deploy/<stage>.env (`NAME=value` lines), then
from the environment, which wins; NAME is the setting's name (VONAGE_NUMBER) or the
Parameter's (VonageNumber). VONAGE_NUMBER must be given: the template's default is a
placeholder, and calls made with a caller ID the team does not own fail or get blocked.
Parameters not given keep the stack's current values (the template's defaults on creation).

destroy: deletes the stack and waits. The prod table is retained (`DeletionPolicy:
RetainExceptOnCreate`, deletion protection on): its calls outlive the stack. Deleting prod's
stack also deletes its API and so the URLs Vonage calls: it asks for CONFIRM=callgate-prod.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from devtools.package import PARAMETER_VARIABLES, ROOT, STAGES

OUTPUTS = ("AnswerURL", "EventURL", "FallbackURL")  # what the Vonage application needs
REQUIRED = ("VonageNumber",)


class DeployError(SystemExit):
    """Stops a deploy with a message saying what to do; nothing was changed on AWS."""

    def __init__(self, message: str) -> None:
        super().__init__(f"make deploy: {message}")


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
    by_name = {name: parameter for parameter, name in PARAMETER_VARIABLES.items()}
    by_name.update({parameter: parameter for parameter in PARAMETER_VARIABLES})
    from_file = read_env_file(env_file(stage))
    unknown = sorted(set(from_file) - set(by_name))
    if unknown:
        known = ", ".join(sorted(PARAMETER_VARIABLES.values()))
        raise DeployError(f"{env_file(stage)}: unknown {', '.join(unknown)} (known: {known})")
    overrides: dict[str, str] = {}
    for source in (from_file, {name: environ[name] for name in by_name if environ.get(name)}):
        for name, value in source.items():
            overrides[by_name[name]] = value
    missing = [PARAMETER_VARIABLES[p] for p in REQUIRED if not overrides.get(p)]
    if missing:
        raise DeployError(
            f"set {', '.join(missing)} in {env_file(stage).relative_to(ROOT)} or the environment "
            "(the Vonage number calls come from, E.164 digits without +)"
        )
    return overrides


def secret_param(stage: str, overrides: Mapping[str, str]) -> str:
    """The parameter the stack will read the secret from: the one given, else the stack's
    current value (an update keeps it), else the template's default (a new stack)."""
    if overrides.get("SignatureSecretParam"):
        return overrides["SignatureSecretParam"]
    try:
        current = _aws([
            "cloudformation", "describe-stacks", "--stack-name", stack_name(stage), "--query",
            "Stacks[0].Parameters[?ParameterKey=='SignatureSecretParam'].ParameterValue", "--output", "text",
        ], capture=True).strip()  # fmt: skip
    except DeployError:  # no such stack yet (or no access: the parameter check says so next)
        current = ""
    if current and current != "None":
        return current
    template = json.loads((ROOT / "out" / stage / "sam.json").read_text())
    return str(template["Parameters"]["SignatureSecretParam"]["Default"])


def _aws(args: Sequence[str], capture: bool = False) -> str:
    try:
        done = subprocess.run(["aws", *args], check=False, text=True, capture_output=capture)
    except FileNotFoundError:
        raise DeployError(
            "the AWS CLI (`aws`) is not on PATH: install it and configure credentials"
        ) from None
    if done.returncode != 0:
        detail = (done.stderr or "").strip() if capture else ""
        raise DeployError(
            f"`aws {' '.join(args[:2])}` failed (exit {done.returncode}){': ' + detail if detail else ''}"
        )
    return done.stdout if capture else ""


def check_secret(name: str, holding: str = "the Vonage account's signature secret") -> None:
    """The parameter exists and is a SecureString (its value is not read)."""
    value = "file://private.key" if "key" in holding else "'<secret>'"
    try:
        kind = _aws(
            ["ssm", "get-parameter", "--name", name, "--query", "Parameter.Type", "--output", "text"], True
        )
    except DeployError as exc:
        raise DeployError(
            f"cannot read the SSM parameter {name} ({exc.code}). Create it with {holding}: "
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
    overrides = parameter_overrides(stage, environ)
    check_secret(secret_param(stage, overrides))
    if overrides.get("TokenIssuer"):  # POST /token is on: it needs these, and signs with the key
        needed = ("TokenAudience", "VonageApplicationId")
        absent = [PARAMETER_VARIABLES[p] for p in needed if not overrides.get(p)]
        if absent:
            raise DeployError(f"TOKEN_ISSUER is set: POST /token also needs {' and '.join(absent)}")
        template = json.loads((out / "sam.json").read_text())
        key = overrides.get("PrivateKeyParam") or str(template["Parameters"]["PrivateKeyParam"]["Default"])
        check_secret(key, "the Vonage application's private key")
    packaged = out / "packaged.json"
    _aws([
        "cloudformation", "package", "--template-file", str(out / "sam.json"), "--s3-bucket", bucket,
        "--s3-prefix", stack_name(stage), "--use-json", "--output-template-file", str(packaged),
    ])  # fmt: skip
    _aws([
        "cloudformation", "deploy", "--template-file", str(packaged), "--stack-name", stack_name(stage),
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


def destroy(stage: str, environ: Mapping[str, str]) -> str:
    """Delete the stage's stack; what was kept."""
    name = stack_name(stage)
    if stage == "prod" and environ.get("CONFIRM") != name:
        raise DeployError(f"this deletes prod's API and its URLs: run with CONFIRM={name}")
    _aws(["cloudformation", "delete-stack", "--stack-name", name])
    _aws(["cloudformation", "wait", "stack-delete-complete", "--stack-name", name])
    if stage == "prod":
        return f"the table {name} is kept, with its calls (deletion protection on)"
    return f"the table {name} is deleted with its calls"


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("deploy", "destroy"))
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--bucket", default="")
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    if args.action == "destroy":
        kept = destroy(args.stage, environ)
        print(f"deleted the stack {stack_name(args.stage)}; {kept}")
        return
    outputs = deploy(args.stage, args.bucket, environ)
    print(f"\nstack {stack_name(args.stage)} is up. In the Vonage application's Voice settings:")
    print(f"  Answer URL         (HTTP POST): {outputs['AnswerURL']}")
    print(f"  Event URL          (HTTP POST): {outputs['EventURL']}")
    print(f"  Fallback answer URL (HTTP POST): {outputs['FallbackURL']}")
    print(f"calls are kept in the DynamoDB table {outputs.get('TableName', stack_name(args.stage))}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
