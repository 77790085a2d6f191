"""The docs: their NCCO examples build exactly the JSON printed under them, every link
resolves, and nothing points outside the repository."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from chalicelib import ncco
from tests.support import ROOT

NCCO_DOC = (ROOT / "docs" / "ncco.md").read_text()
SECTION = NCCO_DOC.split("## NCCO builder", 1)[1].split("\n## ", 1)[0]
PAIRS = re.findall(r"```python\n(.*?)```\s*```json\n(.*?)```", SECTION, flags=re.S)
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_ncco_reference_has_its_examples() -> None:
    # the app-to-phone guide's NCCO, a recorded call, an IVR, failover (two steps), websocket
    assert len(PAIRS) == 6


@pytest.mark.parametrize(("code", "expected"), PAIRS, ids=[f"example {i + 1}" for i in range(len(PAIRS))])
def test_ncco_example(code: str, expected: str) -> None:
    built = eval(code, {"ncco": ncco})  # one expression each, as the reference says
    assert built == json.loads(expected)


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_relative_link_resolves(doc) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (doc.parent / target).exists(), f"{doc.name} links to {target}, which does not exist"


def test_the_repository_stands_alone() -> None:
    """People clone it alone: nothing may point at files, trackers or documents outside it."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    words = [
        "\\.\\./shared",
        "ROAD" + "MAP",
        "\\bissue #?\\d+",
        "\\bthe seed\\b",
        "\\bseed \\d{3}\\b",
    ]  # split: not a hit itself
    outside = re.compile("|".join(words), re.IGNORECASE)
    found = []
    for name in tracked.stdout.split():
        path = ROOT / name
        if path.suffix in (".py", ".md", ".json", ".toml", ".txt") or path.name in ("Makefile", "run"):
            if path.is_file():  # a file deleted in the working tree is still listed until committed
                found += [
                    f"{name}: {line.strip()}"
                    for line in path.read_text().splitlines()
                    if outside.search(line)
                ]
    assert found == []
