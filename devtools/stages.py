"""Stage shapes for `make package`/`make deploy`: a stage of .chalice/config.json, or any other
name made from a base stage's settings (`make package STAGE=pr-42`, from dev's), each with names
of its own (`callgate-pr-42`: its stack, function, table, log group, SSM parameters, metrics);
and the options a stage may take, from its config.json block or from the command line:

- `lambda_architecture`: `x86_64` (default) or `arm64` (Chalice's own setting: it packages the
  aarch64 wheels of python3.13 for the layer; Lambda's runtime is the same Python);
- `snapstart`: true to publish a version per deploy with SnapStart (python3.12 and later;
  "SnapStart only applies to published versions": Lambda SnapStart docs);
- `provisioned_concurrency`: instances kept warm on the alias (not with SnapStart: "you cannot
  use SnapStart and provisioned concurrency on the same function version");
- `webhook_throttle_rate`, `webhook_throttle_burst`: API Gateway's steady requests per second
  and burst for the stage (MethodSettings ThrottlingRateLimit/BurstLimit: requests over them get
  429 before Lambda is invoked or billed).

A derived stage is packaged from a copy of the project whose config.json has that stage added
(chalice packages only the stages it names); a committed stage without options, from the
project itself.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ("dev", "prod")
BASE_STAGE = "dev"
# Lowercase letters, digits and '-', a letter first: names built from it fit every AWS rule
# (a Lambda function name is at most 64 characters, a stack's 128, an S3-safe character set).
STAGE_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
ARCHITECTURES = ("x86_64", "arm64")
DEFAULT_THROTTLE_RATE = 50  # requests per second, steady: far above a small team's calls
DEFAULT_THROTTLE_BURST = 100


class StageError(SystemExit):
    """A stage name or option that cannot be packaged; the message says why."""


@dataclass(frozen=True)
class Shape:
    """One stage as it is packaged."""

    stage: str
    base: str  # the committed stage whose settings it starts from (itself, for dev and prod)
    architecture: str
    snapstart: bool
    provisioned: int
    throttle_rate: int
    throttle_burst: int
    xray: bool

    @property
    def derived(self) -> bool:
        """Not packaged from the project as committed (another name, or options changed)."""
        return self.stage not in COMMITTED or self != shape(self.stage)

    @property
    def alias(self) -> bool:
        """Whether API Gateway invokes a published version's alias (SnapStart, provisioned)."""
        return self.snapstart or self.provisioned > 0


def _config() -> dict[str, Any]:
    return json.loads((ROOT / ".chalice" / "config.json").read_text())  # type: ignore[no-any-return]


def stage_block(stage: str, base: str = BASE_STAGE) -> dict[str, Any]:
    """The stage's block of config.json: its own, or the base stage's with every name in it that
    says the base stage saying this one instead (table, SSM parameters, metrics namespace)."""
    config = _config()
    if stage in config["stages"]:
        return dict(config["stages"][stage])
    if base not in COMMITTED:
        raise StageError(f"a new stage starts from dev's or prod's settings, not {base!r}")
    # one pass: `callgate-dev`, `/callgate/dev/…`, `callgate/dev` each said once for the new
    # stage (replacing one after another would rename dev-arm64's names twice)
    names = re.compile(rf"callgate([-/]){re.escape(base)}\b(?!-)")
    text = names.sub(lambda found: f"callgate{found.group(1)}{stage}", json.dumps(config["stages"][base]))
    return json.loads(text)  # type: ignore[no-any-return]


def stage_config(stage: str, base: str = BASE_STAGE) -> dict[str, Any]:
    """config.json's project-wide settings with the stage's block (or its base stage's) over them."""
    return {**_config(), **stage_block(stage, base)}


def shape(
    stage: str,
    base: str = BASE_STAGE,
    architecture: str | None = None,
    snapstart: bool | None = None,
    provisioned: int | None = None,
) -> Shape:
    """The stage's shape: config.json's (or the base stage's), with these options over it."""
    if not STAGE_NAME.fullmatch(stage):
        raise StageError(f"stage {stage!r}: lowercase letters, digits and '-', a letter first, at most 32")
    block = stage_config(stage, base)
    chosen = architecture or block.get("lambda_architecture", "x86_64")
    if chosen not in ARCHITECTURES:
        raise StageError(f"architecture {chosen!r}: one of {', '.join(ARCHITECTURES)}")
    snap = bool(block.get("snapstart", False)) if snapstart is None else snapstart
    warm = int(block.get("provisioned_concurrency", 0)) if provisioned is None else provisioned
    if snap and warm:
        raise StageError("SnapStart and provisioned concurrency cannot be used on the same version: pick one")
    if warm < 0:
        raise StageError("provisioned concurrency is a number of instances, 0 or more")
    throttle = (block.get("webhook_throttle_rate", DEFAULT_THROTTLE_RATE),
                block.get("webhook_throttle_burst", DEFAULT_THROTTLE_BURST))  # fmt: skip
    if not all(isinstance(value, int) and not isinstance(value, bool) and value > 0 for value in throttle):
        raise StageError(
            f"webhook_throttle_rate and webhook_throttle_burst: whole numbers above 0, not {throttle}"
        )
    return Shape(
        stage=stage,
        base=stage if stage in COMMITTED else base,
        architecture=chosen,
        snapstart=snap,
        provisioned=warm,
        throttle_rate=throttle[0],
        throttle_burst=throttle[1],
        xray=bool(block.get("xray", False)),
    )


def project_for(chosen: Shape, directory: Path) -> Path:
    """A copy of the project whose config.json names `chosen` (for chalice package); `directory`.

    Chalice's built layers are shared with the project (.chalice/deployments, named by the
    requirements' hash, runtime and architecture), so a derived stage downloads nothing twice."""
    if directory.exists():
        shutil.rmtree(directory)
    (directory / ".chalice").mkdir(parents=True)
    shutil.copy(ROOT / "app.py", directory / "app.py")
    shutil.copy(ROOT / "requirements.txt", directory / "requirements.txt")
    shutil.copytree(
        ROOT / "chalicelib", directory / "chalicelib", ignore=shutil.ignore_patterns("__pycache__")
    )
    shared = ROOT / ".chalice" / "deployments"
    shared.mkdir(parents=True, exist_ok=True)
    (directory / ".chalice" / "deployments").symlink_to(shared, target_is_directory=True)
    config = _config()
    block = stage_block(chosen.stage, chosen.base)
    block["lambda_architecture"] = chosen.architecture
    config["stages"] = {chosen.stage: block}
    (directory / ".chalice" / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return directory
