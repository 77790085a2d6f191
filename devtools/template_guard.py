"""Refuse an update CloudFormation would refuse halfway: compare the deployed template with the
new one before `make deploy` touches the stack.

CloudFormation compares the two templates (not the live table), and a DynamoDB table's update
can create or delete only one global secondary index; an index's key schema or projection
cannot change in place; and a table with a fixed name cannot be replaced ("You can create or
delete only one global secondary index per update", "If you update a resource that has a
custom name and the update requires replacement, CloudFormation fails": AWS::DynamoDB::Table
and the Name type, CloudFormation User Guide). Such an update fails after other resources were
updated and rolls back: caught here, nothing is changed and the message says what to do.

    python -m devtools.template_guard DEPLOYED.json NEW.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

TABLE_TYPE = "AWS::DynamoDB::Table"
# What replaces a table when it changes (CloudFormation: "Update requires: Replacement")
REPLACING = ("TableName", "KeySchema")
KEEPING = ("Retain", "RetainExceptOnCreate", "Snapshot")  # a table these keep outlives its stack


class UpdateRefused(SystemExit):
    """The update would fail in CloudFormation; the message says why and what to do."""


def _tables(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource.get("Properties", {})
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") == TABLE_TYPE
    }


def _kept(template: dict[str, Any], name: str) -> bool:
    """Whether the table outlives its stack (prod's, and a stage made from prod's settings)."""
    return template["Resources"][name].get("DeletionPolicy") in KEEPING


def _recoverable(table: dict[str, Any]) -> bool:
    return bool(table.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"))


def _indexes(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}


def _shape(index: dict[str, Any]) -> tuple[str, str]:
    """What cannot change in place: the key schema and the projection (throughput may)."""
    return json.dumps(index.get("KeySchema"), sort_keys=True), json.dumps(
        index.get("Projection"), sort_keys=True
    )


def problems(deployed: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why CloudFormation would refuse updating `deployed` to `new` (empty: it would not)."""
    found: list[str] = []
    before = _tables(deployed)
    for name, table in _tables(new).items():
        if name not in before:
            continue  # a new table: created, nothing to compare
        old = before[name]
        if (_kept(deployed, name) and not _kept(new, name)) or (
            _recoverable(old) and not _recoverable(table)
        ):
            found.append(
                f"{name}: the table would no longer be kept when the stack is deleted, or lose its "
                "point-in-time recovery: a stage made from prod's settings is packaged with "
                "BASE_STAGE=prod every time (make deploy STAGE=<stage> BASE_STAGE=prod)"
            )
        replaced = [key for key in REPLACING if old.get(key) != table.get(key)]
        if replaced and (table.get("TableName") or old.get("TableName")):
            found.append(
                f"{name}: its {' and '.join(replaced)} changed, which replaces the table, and a table "
                "with a fixed name cannot be replaced"
            )
        was, now = _indexes(old), _indexes(table)
        created = sorted(set(now) - set(was))
        deleted = sorted(set(was) - set(now))
        changed = sorted(index for index in set(now) & set(was) if _shape(now[index]) != _shape(was[index]))
        if changed:
            found.append(
                f"{name}: the index {', '.join(changed)} would change its key schema or projection, "
                "which DynamoDB cannot do in place"
            )
        if len(created) + len(deleted) > 1:
            moves = [f"create {index}" for index in created] + [f"delete {index}" for index in deleted]
            found.append(
                f"{name}: one update may create or delete only one global secondary index; this one "
                f"would {', '.join(moves)}"
            )
    return found


ADVICE = (
    "Deploy it in steps CloudFormation accepts: one index created or deleted per deploy, and an "
    "index whose keys or projection change deleted in one deploy and created again (or under a "
    "new name) in the next (docs/deploy.md, 'Changing the table'). A stage whose calls may go "
    "can instead be deleted and deployed again (make destroy STAGE=<stage>)."
)


def check(deployed: dict[str, Any] | None, new: dict[str, Any], stack: str = "the stack") -> None:
    """Raise UpdateRefused when `new` cannot replace `deployed` (None: no stack yet)."""
    if deployed is None:
        return
    found = problems(deployed, new)
    if found:
        listed = "".join(f"\n  - {problem}" for problem in found)
        raise UpdateRefused(f"CloudFormation would refuse this update of {stack}:{listed}\n{ADVICE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deployed", type=Path, help="the template the stack was deployed with")
    parser.add_argument("new", type=Path, help="the template to deploy (out/<stage>/sam.json)")
    args = parser.parse_args()
    check(json.loads(args.deployed.read_text()), json.loads(args.new.read_text()), str(args.deployed))
    print(f"{args.new}: CloudFormation can update {args.deployed}'s stack to it (tables and indexes)")


if __name__ == "__main__":
    main()
