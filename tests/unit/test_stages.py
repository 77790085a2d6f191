"""Stage shapes (devtools/stages.py, template_shape.py) and the update guard
(devtools/template_guard.py): what `make package` accepts and what `make deploy` refuses."""

from __future__ import annotations

import copy
import json

import pytest

from devtools import stages, template_guard
from devtools.package import merge_template
from devtools.template_shape import api_properties, function_properties


def test_a_new_stage_takes_its_base_stages_settings_under_names_of_its_own() -> None:
    block = stages.stage_block("pr-42", "prod")
    variables = block["environment_variables"]
    assert variables["CALLS_TABLE"] == "callgate-pr-42"
    assert variables["VONAGE_SIGNATURE_SECRET_PARAM"] == "/callgate/pr-42/vonage-signature-secret"
    assert variables["METRICS_NAMESPACE"] == "callgate/pr-42"
    assert "prod" not in json.dumps(block)
    shape = stages.shape("pr-42", "prod")
    assert (shape.base, shape.derived) == ("prod", True)
    # made from prod's settings, it keeps its table as prod does
    assert (
        merge_template("pr-42", shape)["Resources"]["CallsTable"]["DeletionPolicy"] == "RetainExceptOnCreate"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("PR_42",), "lowercase letters, digits and '-'"),
        (("42",), "a letter first"),
        (("x" * 33,), "at most 32"),
        (("pr-1", "local"), "from dev's or prod's settings"),
        (("pr-1", "dev", "sparc"), "one of x86_64, arm64"),
        (("pr-1", "dev", None, True, 2), "cannot be used on the same version"),
        (("pr-1", "dev", None, False, -1), "0 or more"),
    ],
)
def test_a_shape_that_cannot_be_packaged_is_refused_saying_why(args: tuple, expected: str) -> None:
    with pytest.raises(stages.StageError, match=expected):
        stages.shape(*args)


def test_committed_stages_package_from_the_project_and_options_make_a_copy() -> None:
    assert not stages.shape("dev").derived
    assert stages.shape("dev", architecture="arm64").derived
    assert stages.shape("dev-arm64", architecture="arm64").derived


def test_provisioned_concurrency_is_set_on_the_alias_api_gateway_invokes() -> None:
    shape = stages.shape("pr-7", provisioned=2)
    properties = function_properties(shape, {})
    assert properties["AutoPublishAlias"] == "live"
    assert properties["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    assert "SnapStart" not in properties
    plain = function_properties(stages.shape("dev"), {})
    assert "AutoPublishAlias" not in plain and "ProvisionedConcurrencyConfig" not in plain


def test_the_api_stage_is_throttled_and_has_no_implicit_stage() -> None:
    properties = api_properties(stages.shape("dev"))
    assert properties["OpenApiVersion"] == "2.0"
    assert properties["Name"] == "callgate-dev"
    named = {(s["ResourcePath"], s["HttpMethod"]) for s in properties["MethodSettings"]}
    webhooks = {
        (f"/~1{name}", method) for name in ("answer", "event", "fallback") for method in ("GET", "POST")
    }
    assert named == {("/*", "*"), *webhooks}


def test_throttle_settings_must_be_whole_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    config = stages._config()
    config["stages"]["dev"] = {**config["stages"]["dev"], "webhook_throttle_rate": "fast"}
    monkeypatch.setattr(stages, "_config", lambda: config)
    with pytest.raises(stages.StageError, match="whole numbers above 0"):
        stages.shape("dev")


def _indexes(template: dict) -> list[dict]:
    return template["Resources"]["CallsTable"]["Properties"]["GlobalSecondaryIndexes"]


def test_the_guard_lets_through_an_unchanged_template_and_one_index_added_or_removed() -> None:
    deployed = merge_template("dev")
    template_guard.check(deployed, copy.deepcopy(deployed))
    added = copy.deepcopy(deployed)
    _indexes(added).append({**_indexes(added)[0], "IndexName": "by_number"})
    template_guard.check(deployed, added)
    removed = copy.deepcopy(deployed)
    del _indexes(removed)[0]
    template_guard.check(deployed, removed)
    template_guard.check(None, deployed)  # no stack yet: a create


def test_the_guard_refuses_two_index_changes_with_what_to_do() -> None:
    """A listed field added to a shared INCLUDE projection changed both indexes at once."""
    deployed = merge_template("dev")
    for index in _indexes(deployed):
        index["Projection"] = {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["user"]}
    with pytest.raises(template_guard.UpdateRefused) as refused:
        template_guard.check(deployed, merge_template("dev"), "the stack callgate-dev")
    message = str(refused.value.code)
    assert message.startswith("CloudFormation would refuse this update of the stack callgate-dev:")
    assert "the index by_date, by_user would change its key schema or projection" in message
    assert "one index created or deleted per deploy" in message and "make destroy" in message


def test_the_guard_refuses_two_creations_and_a_replaced_table() -> None:
    deployed = merge_template("dev")
    del _indexes(deployed)[:]
    found = template_guard.problems(deployed, merge_template("dev"))
    assert found == [
        "CallsTable: one update may create or delete only one global secondary index; this one "
        "would create by_date, create by_user"
    ]
    renamed = merge_template("dev")
    renamed["Resources"]["CallsTable"]["Properties"]["KeySchema"][0]["AttributeName"] = "id"
    (problem,) = template_guard.problems(merge_template("dev"), renamed)
    assert "its KeySchema changed, which replaces the table" in problem


def test_the_guard_refuses_a_table_that_would_no_longer_be_kept() -> None:
    """A stage made from prod's settings, packaged once without BASE_STAGE=prod, would lose its
    table at the next `make destroy`: refused, saying how to package it."""
    kept = merge_template("eu", stages.shape("eu", "prod"))
    (problem,) = template_guard.problems(kept, merge_template("eu", stages.shape("eu", "dev")))
    assert "would no longer be kept when the stack is deleted" in problem and "BASE_STAGE=prod" in problem
    template_guard.check(merge_template("eu", stages.shape("eu", "dev")), kept)  # keeping more: fine
