"""The floor package of the cold-start bench: bench/floor_app/ packaged as callgate's dev stage is.

Run by the CPython 3.13 of .venv-package (`make bench` does: `.venv-package/bin/python -m
bench.floor_package`), as `make package` runs: `chalice package` of the floor's own Chalice
project (copied into out/floor/project/, where chalice keeps its caches), with
`"automatic_layer": true` like callgate, then `devtools.package.compile_for_runtime` on both
zips, so they carry Python 3.13 bytecode exactly as callgate's do. Writes
out/floor/deployment.zip (the floor's code) and out/floor/layer-deployment.zip (phonenumberslite,
its only dependency, pinned as callgate's requirements.txt pins it: checked here). No AWS
account or credentials: packaging calls no AWS API.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from devtools.package import FUNCTION_ZIP, LAYER_ZIP, MOUNTS, compile_for_runtime, packaging_environment

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "bench" / "floor_app"
OUT = ROOT / "out" / "floor"
PROJECT = OUT / "project"  # the floor's project as chalice packages it (its .chalice/deployments cache)
PACKAGE = OUT / FUNCTION_ZIP
LAYER = OUT / LAYER_ZIP
FILES = ("app.py", "requirements.txt", ".chalice/config.json")
STAGE = "dev"
PINNED = "phonenumberslite"


def pin(requirements: Path, name: str) -> str | None:
    """The `name==version` line of a requirements file, if any."""
    found = re.search(rf"^{re.escape(name)}==\S+", requirements.read_text(), re.MULTILINE)
    return found.group(0) if found else None


def build() -> None:
    ours, callgate = pin(SOURCE / "requirements.txt", PINNED), pin(ROOT / "requirements.txt", PINNED)
    if ours is None or ours != callgate:
        raise SystemExit(
            f"bench/floor_app/requirements.txt pins {ours}, callgate's requirements.txt {callgate}: "
            "the floor must run the same phonenumbers"
        )
    for name in FILES:
        target = PROJECT / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOURCE / name, target)
    built = OUT / "built"
    shutil.rmtree(built, ignore_errors=True)
    for stale in (PACKAGE, LAYER):  # a zip from an earlier build must not pass for this one's
        stale.unlink(missing_ok=True)
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run(
        [str(chalice), "package", "--stage", STAGE, str(built)],
        cwd=PROJECT,
        env=packaging_environment(os.environ),
        check=True,
    )
    written = []
    for name, mounted_at in MOUNTS.items():
        compiled = compile_for_runtime(built / name, mounted_at)
        (built / name).replace(OUT / name)
        written.append(f"{name} ({compiled} modules compiled, {(OUT / name).stat().st_size / 1e6:.2f} MB)")
    shutil.rmtree(built)
    print(f"packaged the floor into {OUT.relative_to(ROOT)}: {', '.join(written)}")


if __name__ == "__main__":
    build()
