"""The stack's alarms, their SNS topic and its dashboard, from the metrics callgate's request
lines carry (chalicelib/metrics.py) and those AWS publishes for the API and the function.

Every alarm notifies the topic `callgate-<stage>-alarms`; the `AlarmEmail` Parameter, when set,
subscribes that address (AWS mails it a link to confirm). Each alarm counts over five-minute
periods, and a period without data is not a breach (a quiet stage is not an alarm). What each
alarm means and what to do: docs/deploy.md#alarms.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib import metrics
from chalicelib.routes import answer, event, fallback, health, history, token

TOPIC = "AlarmTopic"
SUBSCRIPTION = "AlarmEmailSubscription"
DASHBOARD = "Dashboard"
PERIOD_S = 300
# Every route a request line names (its Route dimension), and those anyone may call unsigned
_LINES = (
    answer.ROUTE,
    event.ROUTE,
    fallback.ROUTE,
    token.ROUTE,
    history.LISTING,
    history.RECORD,
    health.ROUTE,
)
ROUTES = tuple(dict.fromkeys(route.path for route in _LINES))
PUBLIC_ROUTES = (answer.ROUTE.path, event.ROUTE.path, fallback.ROUTE.path, token.ROUTE.path)

PARAMETERS: dict[str, Any] = {
    "AlarmEmail": {
        "Type": "String",
        "Description": "an address the alarms mail (it confirms a subscription first); empty: none",
        "Default": "",
        "AllowedPattern": "([^\\s@]+@[^\\s@]+\\.[^\\s@]+)?",
    },
}
CONDITIONS: dict[str, Any] = {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}}


class Threshold:
    """An alarm's count in one period at or above which it fires."""

    SERVER_ERRORS = 5  # API Gateway 5xx: the function crashed or timed out (Vonage drops the call)
    UNAVAILABLE = 5  # callgate's 503s: storage, a secret, the settings or the issuer
    REFUSED_UNAVAILABLE = 3  # answers refused because the limits could not be read or written
    MISCONFIGURED = 1  # answers refused because a setting is wrong: every call fails until fixed
    UNAUTHORIZED = 100  # 401s on the public routes: forged or misrouted requests
    FALLBACK = 1  # Vonage used the fallback answer URL: the answer URL failed it
    LAMBDA_ERRORS = 1
    LAMBDA_THROTTLES = 1


def _metric(namespace: str, name: str, dimensions: dict[str, Any], stat: str = "Sum") -> dict[str, Any]:
    return {
        "Metric": {
            "Namespace": namespace,
            "MetricName": name,
            "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions.items()],
        },
        "Period": PERIOD_S,
        "Stat": stat,
    }


def _alarm(stage: str, name: str, description: str, threshold: int, **measured: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": f"callgate-{stage}-{name}",
            "AlarmDescription": description,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": threshold,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": TOPIC}],
            **measured,
        },
    }


def _summed(
    stage: str, name: str, description: str, threshold: int, parts: list[dict[str, Any]]
) -> dict[str, Any]:
    """An alarm on the sum of several metrics (metric math: one `m<i>` per part)."""
    queries: list[dict[str, Any]] = [
        {"Id": f"m{i}", "MetricStat": part, "ReturnData": False} for i, part in enumerate(parts)
    ]
    queries.append(
        {
            "Id": "total",
            "Expression": "SUM([" + ",".join(q["Id"] for q in queries) + "])",
            "Label": name,
            "ReturnData": True,
        }
    )
    return _alarm(stage, name, description, threshold, Metrics=queries)


def _single(stage: str, name: str, description: str, threshold: int, part: dict[str, Any]) -> dict[str, Any]:
    metric = part["Metric"]
    return _alarm(
        stage,
        name,
        description,
        threshold,
        Namespace=metric["Namespace"],
        MetricName=metric["MetricName"],
        Dimensions=metric["Dimensions"],
        Statistic=part["Stat"],
        Period=part["Period"],
    )


def alarms(stage: str, namespace: str, api_name: str, api_stage: str, function: str) -> dict[str, Any]:
    """The alarms, by logical id."""
    refused = {metrics.DECISION: "refuse"}
    by_route = {route: {metrics.ROUTE: route} for route in ROUTES}
    return {
        "ServerErrorsAlarm": _single(
            stage, "server-errors",
            "API Gateway answered 5xx: the function crashed, timed out or was throttled (Vonage "
            "does not retry a 500: its callers got the fallback answer URL or nothing). Read the "
            "function's log group.",
            Threshold.SERVER_ERRORS,
            _metric("AWS/ApiGateway", "5XXError", {"ApiName": api_name, "Stage": api_stage}),
        ),
        "UnavailableAlarm": _summed(
            stage, "unavailable",
            "callgate answered 503 (storage, the signature secret, the settings or the ID token "
            "issuer could not be reached; GET /health names which).",
            Threshold.UNAVAILABLE,
            [_metric(namespace, metrics.UNAVAILABLE, dims) for dims in by_route.values()],
        ),
        "RefusedUnavailableAlarm": _single(
            stage, "refused-policy-unavailable",
            "Calls were refused because their limits could not be checked (DynamoDB unreachable "
            "or throttled): callers heard 'we cannot connect calls right now'.",
            Threshold.REFUSED_UNAVAILABLE,
            _metric(namespace, metrics.ANSWERS, {**refused, metrics.REASON: "policy_unavailable"}),
        ),
        "MisconfiguredAlarm": _single(
            stage, "misconfigured",
            "Calls were refused because a setting is wrong: every call fails until it is fixed "
            "(GET /health and the log line say which).",
            Threshold.MISCONFIGURED,
            _metric(namespace, metrics.ANSWERS, {**refused, metrics.REASON: "misconfigured"}),
        ),
        "UnauthorizedAlarm": _summed(
            stage, "unauthorized",
            "Many unsigned or wrongly signed requests on the public routes: forged requests, a "
            "rotated signature secret, or another application pointed here.",
            Threshold.UNAUTHORIZED,
            [_metric(namespace, metrics.UNAUTHORIZED, by_route[route]) for route in PUBLIC_ROUTES],
        ),
        "FallbackAlarm": _single(
            stage, "fallback-used",
            "Vonage called the fallback answer URL: the answer URL failed it (an error or no "
            "answer in time), and those calls were refused or connected without a decision.",
            Threshold.FALLBACK,
            _metric(namespace, metrics.FALLBACK_USES, by_route[fallback.ROUTE.path]),
        ),
        "FunctionErrorsAlarm": _single(
            stage, "function-errors",
            "The function raised or timed out (Lambda Errors).",
            Threshold.LAMBDA_ERRORS,
            _metric("AWS/Lambda", "Errors", {"FunctionName": function}),
        ),
        "FunctionThrottlesAlarm": _single(
            stage, "function-throttles",
            "Lambda refused to run the function (concurrency): those requests got 5xx.",
            Threshold.LAMBDA_THROTTLES,
            _metric("AWS/Lambda", "Throttles", {"FunctionName": function}),
        ),
    }  # fmt: skip


def dashboard_body(namespace: str, api_name: str, api_stage: str, function: str) -> str:
    """The dashboard's JSON, with `${AWS::Region}` for Fn::Sub: answers by decision, events
    stored, latency, errors."""

    def search(metric: str, extra: str = "") -> str:
        return f"SEARCH('{{{namespace},Decision,Reason}} MetricName=\"{metric}\"{extra}', 'Sum', {PERIOD_S})"

    def widget(title: str, metrics_: list[Any], x: int, y: int, stat: str = "Sum") -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": "${AWS::Region}",
                "view": "timeSeries",
                "stat": stat,
                "period": PERIOD_S,
                "metrics": metrics_,
            },
        }

    api = ["ApiName", api_name, "Stage", api_stage]
    connects, refusals = (
        search(metrics.ANSWERS, f' Decision="{decision}"') for decision in ("connect", "refuse")
    )
    answers = [
        [{"expression": f"SUM({connects})", "label": "connect", "id": "c"}],
        [{"expression": f"SUM({refusals})", "label": "refuse", "id": "r"}],
        [{"expression": refusals, "label": "refused:", "id": "reasons"}],  # one line per reason
    ]
    stored = [
        [namespace, metrics.EVENTS_STORED, metrics.ROUTE, route, {"label": f"stored ({route})"}]
        for route in (event.ROUTE.path, fallback.ROUTE.path)
    ] + [[namespace, metrics.DUPLICATES, metrics.ROUTE, event.ROUTE.path, {"label": "redeliveries"}]]

    def p99(metric: list[Any], label: str) -> list[Any]:
        return [*metric, {"stat": "p99", "label": label}]

    latency = [
        ["AWS/ApiGateway", "Latency", *api, {"stat": "p50", "label": "API p50"}],
        p99(["AWS/ApiGateway", "Latency", *api], "API p99"),
        p99(["AWS/Lambda", "Duration", "FunctionName", function], "function p99"),
        *(
            p99([namespace, metrics.STORAGE_LATENCY, metrics.ROUTE, path], f"DynamoDB p99 ({path})")
            for path in (answer.ROUTE.path, event.ROUTE.path)
        ),
    ]
    errors = [
        ["AWS/ApiGateway", "5XXError", *api, {"label": "API 5xx"}],
        ["AWS/ApiGateway", "4XXError", *api, {"label": "API 4xx (429 throttled included)"}],
        ["AWS/Lambda", "Errors", "FunctionName", function, {"label": "function errors"}],
        ["AWS/Lambda", "Throttles", "FunctionName", function, {"label": "function throttles"}],
        *([namespace, metrics.UNAVAILABLE, metrics.ROUTE, path, {"label": f"503 {path}"}] for path in ROUTES),
        *([namespace, metrics.UNAUTHORIZED, metrics.ROUTE, p, {"label": f"401 {p}"}] for p in PUBLIC_ROUTES),
        [namespace, metrics.FALLBACK_USES, metrics.ROUTE, fallback.ROUTE.path, {"label": "fallback used"}],
    ]  # fmt: skip
    widgets = [
        widget("Answers by decision", answers, 0, 0),
        widget("Events stored", stored, 12, 0),
        widget("Latency (ms)", latency, 0, 6, stat="p99"),
        widget("Errors", errors, 12, 6),
    ]
    return json.dumps({"widgets": widgets}, separators=(",", ":"))


def resources(stage: str, namespace: str, api_name: str, api_stage: str, function: str) -> dict[str, Any]:
    """The topic, its optional e-mail subscription, the alarms and the dashboard, by logical id."""
    return {
        TOPIC: {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": f"callgate-{stage}-alarms",
                "DisplayName": f"callgate {stage} alarms",
            },
        },
        SUBSCRIPTION: {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {
                "TopicArn": {"Ref": TOPIC},
                "Protocol": "email",
                "Endpoint": {"Ref": "AlarmEmail"},
            },
        },
        **alarms(stage, namespace, api_name, api_stage, function),
        DASHBOARD: {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardName": f"callgate-{stage}",
                "DashboardBody": {"Fn::Sub": dashboard_body(namespace, api_name, api_stage, function)},
            },
        },
    }
