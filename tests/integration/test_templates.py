"""Every stage shape `make test` packages (`make templates`: dev, prod, pr-42 made from dev's
settings, dev-arm64, dev-snapstart), read as CloudFormation deploys it (after the SAM transform),
against the rules AWS applies only on a real deploy."""

from __future__ import annotations

import json
import re
import zipfile
from typing import Any

import pytest

from chalicelib import metrics
from devtools import monitoring
from tests.support import ROOT

SHAPES = ("dev", "prod", "pr-42", "dev-arm64", "dev-snapstart")
WEBHOOKS = ("/answer", "/event", "/fallback")
ELF_MACHINES = {62: "x86_64", 183: "arm64"}  # e_machine, at byte 18 of an ELF header


def transformed(shape: str) -> dict[str, Any]:
    path = ROOT / "out" / shape / "transformed.json"
    if not path.is_file():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run `make templates` (make test does)")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_api_has_one_stage_and_no_implicit_stage_named_stage(shape: str) -> None:
    """SAM adds a stage `Stage` (so /Stage/answer) unless OpenApiVersion is set."""
    template = transformed(shape)
    (api_stage,) = of_type(template, "AWS::ApiGateway::Stage").values()
    assert api_stage["Properties"]["StageName"] == "api"
    deployments = of_type(template, "AWS::ApiGateway::Deployment").values()
    assert all("StageName" not in d["Properties"] for d in deployments)  # a Deployment can make one too
    assert '"StageName": "Stage"' not in json.dumps(template)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_webhook_is_throttled_at_the_stages_rate_and_burst(shape: str) -> None:
    """Each method on its own: every route's (`/*`, `*`), and each webhook's GET and POST by name."""
    (api_stage,) = of_type(transformed(shape), "AWS::ApiGateway::Stage").values()
    settings = {(s["ResourcePath"], s["HttpMethod"]): s for s in api_stage["Properties"]["MethodSettings"]}
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]
    block = config.get(shape, config["dev"])
    webhooks = [("/" + path.replace("/", "~1"), method) for path in WEBHOOKS for method in ("GET", "POST")]
    assert set(settings) == {("/*", "*"), *webhooks}
    for setting in settings.values():
        assert setting["ThrottlingRateLimit"] == block["webhook_throttle_rate"]
        assert setting["ThrottlingBurstLimit"] == block["webhook_throttle_burst"]


@pytest.mark.parametrize("shape", SHAPES)
def test_alarms_notify_the_topic_and_the_dashboard_shows_the_four_views(shape: str) -> None:
    template = transformed(shape)
    (topic_id,) = of_type(template, "AWS::SNS::Topic")
    assert template["Resources"][topic_id]["Properties"]["TopicName"] == f"callgate-{shape}-alarms"
    (subscription,) = of_type(template, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"  # only when AlarmEmail is set
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    names = {a["Properties"]["AlarmName"].removeprefix(f"callgate-{shape}-") for a in alarms.values()}
    assert names == {
        "server-errors", "unavailable", "refused-policy-unavailable", "misconfigured", "unauthorized",
        "fallback-used", "function-errors", "function-throttles",
    }  # fmt: skip
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"
    (dashboard,) = of_type(template, "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == f"callgate-{shape}"
    body = json.loads(
        dashboard["Properties"]["DashboardBody"]["Fn::Sub"].replace("${AWS::Region}", "eu-west-1")
    )
    titles = [widget["properties"]["title"] for widget in body["widgets"]]
    assert titles == ["Answers by decision", "Events stored", "Latency (ms)", "Errors"]


def _watched(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric the alarms read."""
    found = []
    for alarm in of_type(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if "Metrics" in props:
            found += [q["MetricStat"]["Metric"] for q in props["Metrics"] if "MetricStat" in q]
        else:
            found.append({k: props[k] for k in ("Namespace", "MetricName", "Dimensions")})
    return found


@pytest.mark.parametrize("shape", SHAPES)
def test_the_alarms_watch_metrics_the_stage_publishes(shape: str) -> None:
    """callgate's metrics in the stage's namespace, by the dimensions its lines carry; AWS's by
    the API's and function's names."""
    template = transformed(shape)
    function = of_type(template, "AWS::Lambda::Function")["APIHandler"]["Properties"]["FunctionName"]
    (api,) = of_type(template, "AWS::ApiGateway::RestApi").values()
    variables = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    namespace = variables["METRICS_NAMESPACE"]  # where the function's lines put them
    assert namespace == f"callgate/{shape}"
    for metric in _watched(template):
        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        if metric["Namespace"] == "AWS/Lambda":
            assert dims == {"FunctionName": function}
        elif metric["Namespace"] == "AWS/ApiGateway":
            assert dims == {"ApiName": api["Properties"]["Name"], "Stage": "api"}
        else:
            assert metric["Namespace"] == namespace
            assert metric["MetricName"] in metrics.UNITS
            if metric["MetricName"] == metrics.ANSWERS:
                assert set(dims) == {metrics.DECISION, metrics.REASON}
            else:
                assert set(dims) == {metrics.ROUTE} and dims[metrics.ROUTE] in monitoring.ROUTES


@pytest.mark.parametrize("shape", SHAPES)
def test_a_failed_first_deploy_leaves_nothing_and_only_prods_table_outlives_its_stack(shape: str) -> None:
    """Deletion protection would fail the rollback's delete (ROLLBACK_FAILED, a table left that
    blocks the next deploy's name); RetainExceptOnCreate deletes what a failed create made and
    keeps the table when the stack is deleted later."""
    template = transformed(shape)
    assert "DeletionProtectionEnabled" not in json.dumps(template)
    # SAM keeps each published version (Retain) for the alias; Lambda deletes a function's
    # versions with the function, so none outlives the stack
    resources = template["Resources"].items()
    policies = {
        name: r.get("DeletionPolicy", "Delete")
        for name, r in resources
        if r["Type"] != "AWS::Lambda::Version"
    }
    kept = {name: policy for name, policy in policies.items() if policy != "Delete"}
    table = template["Resources"]["CallsTable"]
    if shape == "prod":
        assert kept == {"CallsTable": "RetainExceptOnCreate"}
        assert table["UpdateReplacePolicy"] == "Retain"
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    else:
        assert kept == {}  # a dev-like stage's table goes with its stack


@pytest.mark.parametrize("shape", ["pr-42", "dev-arm64", "dev-snapstart"])
def test_a_stage_made_from_dev_has_names_of_its_own(shape: str) -> None:
    """Every name is the stage's, said once (dev-arm64's are not dev-arm64-arm64's)."""
    template = transformed(shape)
    text = json.dumps(template)
    assert not re.search(r'callgate[-/]dev(?=["/])', text)  # no name of dev's itself
    assert f"callgate/{shape}-" not in text  # e.g. /callgate/dev-arm64-arm64/…: renamed twice
    resources = template["Resources"]
    assert resources["APIHandler"]["Properties"]["FunctionName"] == f"callgate-{shape}"
    assert resources["CallsTable"]["Properties"]["TableName"] == f"callgate-{shape}"
    assert resources["FunctionLogs"]["Properties"]["LogGroupName"] == f"/aws/lambda/callgate-{shape}"
    parameters = template["Parameters"]
    assert parameters["SignatureSecretParam"]["Default"] == f"/callgate/{shape}/vonage-signature-secret"
    assert parameters["PrivateKeyParam"]["Default"] == f"/callgate/{shape}/vonage-private-key"
    variables = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["METRICS_NAMESPACE"] == f"callgate/{shape}"


def _elf_machines(shape: str) -> set[str]:
    with zipfile.ZipFile(ROOT / "out" / shape / "layer-deployment.zip") as layer:
        return {
            ELF_MACHINES.get(int.from_bytes(layer.read(name)[18:20], "little"), "other")
            for name in layer.namelist()
            if name.endswith(".so")
        }


def test_arm64_runs_on_graviton_with_aarch64_extensions() -> None:
    resources = transformed("dev-arm64")["Resources"]
    assert resources["APIHandler"]["Properties"]["Architectures"] == ["arm64"]
    (layer,) = of_type(transformed("dev-arm64"), "AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert _elf_machines("dev-arm64") == {"arm64"}  # cryptography's and cffi's, built for aarch64
    assert _elf_machines("dev") == {"x86_64"}
    names = zipfile.ZipFile(ROOT / "out" / "dev-arm64" / "layer-deployment.zip").namelist()
    assert any(re.search(r"cpython-313-aarch64-linux-gnu\.so$", name) for name in names)


def test_snapstart_serves_through_an_alias_api_gateway_invokes() -> None:
    """SnapStart acts on published versions only: every route and the invoke permission name
    the alias, never the unqualified function ($LATEST)."""
    template = transformed("dev-snapstart")
    resources = template["Resources"]
    function = resources["APIHandler"]["Properties"]
    assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    ((alias_id, alias),) = of_type(template, "AWS::Lambda::Alias").items()
    assert alias["Properties"]["Name"] == "live"
    (version_id,) = of_type(template, "AWS::Lambda::Version")
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    (api,) = of_type(template, "AWS::ApiGateway::RestApi").values()
    paths = api["Properties"]["Body"]["paths"].values()
    uris = [m["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"] for ms in paths for m in ms.values()]
    assert uris and all(f"${{{alias_id}}}/invocations" in uri for uri in uris)
    (permission,) = of_type(template, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["FunctionName"] == {"Ref": alias_id}
    for shape in ("dev", "prod"):  # without it: no version, no alias, the function itself
        assert not of_type(transformed(shape), "AWS::Lambda::Alias")


def test_the_shapes_were_all_linted() -> None:
    """`make templates` lints both forms of every shape: the list there is this one."""
    makefile = (ROOT / "Makefile").read_text()
    (listed,) = re.findall(r"^SHAPES := (.+)$", makefile, flags=re.M)
    assert tuple(listed.split()) == SHAPES


def test_snapstart_publishes_a_version_whenever_code_version_changes() -> None:
    """SAM names the version from the code location and literal settings only: a new layer or a
    Parameter's new value would reach $LATEST, never the alias, without CodeVersion."""
    from devtools.transform import transform

    sam = json.loads((ROOT / "out" / "dev-snapstart" / "sam.json").read_text())

    def version(**values: str) -> str:
        (name,) = of_type(transform(sam, values), "AWS::Lambda::Version")
        return name

    assert version(CodeVersion="aaaa") == version(CodeVersion="aaaa")
    assert version(CodeVersion="aaaa") != version(CodeVersion="bbbb")
    assert version(CodeVersion="aaaa", VonageNumber="14155550199") == version(CodeVersion="aaaa")
