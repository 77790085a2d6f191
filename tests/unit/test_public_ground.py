"""Other libraries only through what they document: an upgrade of phonenumbers, PyJWT, botocore or
Chalice must stay a pin bump. These tests read the source (app, chalicelib, devtools, bench and
the tests themselves) and refuse any reach into a name another package does not publish."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

OWN = ("app", "chalicelib", "devtools", "bench", "tests")
SOURCES = sorted(
    [ROOT / "app.py", *(path for top in OWN[1:] for path in (ROOT / top).rglob("*.py"))],
    key=lambda path: str(path),
)
# the spellings of shortcuts once taken, wherever they appear (an attribute, a string, a name)
SHORTCUTS = ("c_make_encoder", "_sha2", "_sha256", "_srcfile", "_msg", "_data", "_dict")


def _own(module: str | None) -> bool:
    return module is None or module.split(".")[0] in OWN or module == "__future__"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_reaches(source: str, name: str = "<source>") -> list[str]:
    """Where `source` uses a name another package does not publish: `from x import _y`,
    `import x._y`, `import_module("_y")`, `x._y` on an imported package, `getattr(x, "_y")`,
    `sys.modules[...]`, `spec_from_file_location` (a second copy of a package), and the
    attributes of SHORTCUTS on anything."""
    tree = ast.parse(source, name)
    imported: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _own(alias.name):
                    imported.add((alias.asname or alias.name).split(".")[0])
                    if any(_private(part) for part in alias.name.split(".")):
                        found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and not _own(node.module):
            if any(_private(part) for part in (node.module or "").split(".")):
                found.append(f"{node.lineno}: from {node.module} import …")
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
                imported.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in imported:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
            elif node.attr in SHORTCUTS:
                found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr in SHORTCUTS:
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "sys.modules":
            found.append(f"{node.lineno}: sys.modules[...]")
        elif isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            if called.endswith("spec_from_file_location"):
                found.append(f"{node.lineno}: {called}(...)")
            if (
                called.endswith(("import_module", "__import__"))
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and any(_private(part) for part in node.args[0].value.split("."))
            ):
                found.append(f"{node.lineno}: {called}({node.args[0].value!r})")
            if (
                called == "getattr"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and _private(node.args[1].value)
            ):
                found.append(f"{node.lineno}: getattr(…, {node.args[1].value!r})")
        elif isinstance(node, ast.Name) and node.id in SHORTCUTS and node.id not in ("_data", "_dict"):
            found.append(f"{node.lineno}: {node.id}")
    return found


def test_no_module_reaches_into_another_packages_private_names() -> None:
    found = {
        str(path.relative_to(ROOT)): reaches
        for path in SOURCES
        if path.name != Path(__file__).name and (reaches := private_reaches(path.read_text(), str(path)))
    }
    assert found == {}


@pytest.mark.parametrize(
    "source",
    [
        "from phonenumbers.phonenumberutil import _extract_country_code",
        "import phonenumbers\nphonenumbers.phonenumberutil._test_number_length",
        "import os\nos.environ._data",
        "from chalice import app\napp.current_request.headers._dict",
        "import logging\nlogging._srcfile = None",
        "import json\njson.encoder.c_make_encoder",
        "import importlib\nimportlib.import_module('_sha2')",
        "import sys\nsys.modules['cryptography'] = None",
        "import importlib.util\nimportlib.util.spec_from_file_location('copy', 'jwt/__init__.py')",
        "import phonenumbers\ngetattr(phonenumbers, '_MIN_LENGTH_FOR_NSN')",
        "def f(exc):\n    return exc._msg",
        "from botocore.client import BaseClient\nBaseClient._make_api_call",
    ],
)
def test_each_kind_of_reach_is_found(source: str) -> None:
    """The check can fail: every shortcut once taken here is found."""
    assert private_reaches(source) != []


def test_a_projects_own_private_names_are_its_own_business() -> None:
    assert private_reaches("from chalicelib.routes import outcomes\noutcomes._private") == []
    assert private_reaches("import json\njson.dumps({})") == []


def test_one_copy_of_pyjwt_only_for_post_token_and_none_for_the_webhooks() -> None:
    """`import app` and a webhook request load neither PyJWT nor cryptography (the webhooks check
    their HS256 signature with the standard library); the token route's PyJWT is the one
    package, imported once, under its own name."""
    probe = (
        "import json, sys\n"
        "import app\n"
        "from chalicelib.routes import answer\n"
        "from chalicelib.routes.http import Request\n"
        "from chalicelib.routes.adapters import Adapters\n"
        "from tests.support import stage_settings\n"
        "settings = stage_settings(VONAGE_SIGNATURE_SECRET='x' * 40, ALLOW_UNSIGNED_WEBHOOKS=None)\n"
        "adapters = Adapters(store_for=lambda s: None, load_settings=lambda: settings)\n"
        "reply = answer.answer(adapters, Request({'to': '1'}, None, None, 'Bearer a.b.c'))\n"
        "webhooks = sorted(name for name in ('jwt', 'cryptography') if name in sys.modules)\n"
        "from chalicelib import tokens\n"
        "import jwt\n"
        "copies = sorted(name for name, module in list(sys.modules.items())\n"
        "                if getattr(module, '__file__', None) == jwt.__file__)\n"
        "print(json.dumps({'status': reply.status, 'webhooks': webhooks, 'copies': copies}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == {"status": 401, "webhooks": [], "copies": ["jwt"]}
