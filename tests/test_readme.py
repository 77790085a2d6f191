"""The README's NCCO examples build exactly the JSON printed under them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chalicelib import ncco

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
SECTION = README.split("## NCCO builder", 1)[1].split("\n## ", 1)[0]
PAIRS = re.findall(r"```python\n(.*?)```\s*```json\n(.*?)```", SECTION, flags=re.S)


def test_readme_has_the_examples_the_issue_asks_for() -> None:
    assert len(PAIRS) == 6  # seed, recorded call, IVR, failover (two steps), websocket


@pytest.mark.parametrize(("code", "expected"), PAIRS, ids=[f"example {i + 1}" for i in range(len(PAIRS))])
def test_readme_example(code: str, expected: str) -> None:
    built = eval(code, {"ncco": ncco})  # one expression each, as the README says
    assert built == json.loads(expected)
    assert json.dumps(built) == json.dumps(json.loads(expected))  # key order too
