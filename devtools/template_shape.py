"""What a stage's shape changes in its template: the REST API's stage (one stage, throttled,
traced) and, with SnapStart or provisioned concurrency, the alias API Gateway invokes.

Each choice cites the AWS documentation it relies on; docs/deploy.md says what each option does.
"""

from __future__ import annotations

from typing import Any

from devtools.stages import Shape

FUNCTION = "APIHandler"  # chalice's logical id for the REST API's function
API = "RestAPI"  # and for the API itself
API_STAGE = "api"  # api_gateway_stage in .chalice/config.json


def function_name(stage: str) -> str:
    """The function's name, fixed so its log group can be named (and granted) before it exists:
    a log group named after `${APIHandler}` makes the role wait for the function, which waits
    for the role (a circular dependency)."""
    return f"callgate-{stage}"


def api_name(stage: str) -> str:
    """The REST API's name: API Gateway's metrics name an API by it (the alarms' ApiName)."""
    return f"callgate-{stage}"


WEBHOOKS = ("/answer", "/event", "/fallback")  # public: Vonage calls them, and so can anyone
WEBHOOK_METHODS = ("GET", "POST")
ALIAS = "live"  # the alias API Gateway invokes, with SnapStart or provisioned concurrency
CODE_VERSION = "CodeVersion"  # the Parameter that publishes a new version when it changes


def parameters(chosen: Shape) -> dict[str, Any]:
    """The shape's own Parameters: with an alias, CodeVersion, which `make deploy` sets to a hash
    of the code, the layer and the Parameters it gives. SAM publishes a version only when the
    function's code location, its literal settings or AutoPublishCodeSha256 change: a new layer
    or a Parameter's new value would otherwise reach $LATEST but never the alias API Gateway
    invokes (SAM, AWS::Serverless::Function, AutoPublishAlias and AutoPublishCodeSha256)."""
    if not chosen.alias:
        return {}
    return {
        CODE_VERSION: {
            "Type": "String",
            "Description": "a hash of the code, layer and settings (make deploy sets it)",
            "Default": "packaged",
            "AllowedPattern": "[0-9a-zA-Z]{1,64}",
        }
    }


def outputs(chosen: Shape) -> dict[str, Any]:
    """With an alias, the CodeVersion it serves: what `make deploy` last published."""
    if not chosen.alias:
        return {}
    return {CODE_VERSION: {"Value": {"Ref": CODE_VERSION}, "Description": "the version the alias serves"}}


def api_properties(chosen: Shape) -> dict[str, Any]:
    """The REST API stage's settings: no second stage, throttled, traced with the function.

    - `OpenApiVersion`: SAM otherwise adds a stage named `Stage` beside the configured one, so
      /Stage/answer would be served too ("setting this property to any valid value will also
      remove the stage Stage": SAM, AWS::Serverless::Api; aws/serverless-application-model#191).
    - `MethodSettings`: every method of every route (`/*`, `*`), and each webhook's GET and POST
      by name, throttled at the stage's rate and burst, each method on its own: API Gateway
      answers 429 beyond them before invoking (or billing) the function ("Throttle API requests
      for better throughput", API Gateway developer guide; a MethodSetting names one method of
      one resource, or all of them with `/*` and `*`: AWS::ApiGateway::Stage MethodSetting).
    - `TracingEnabled` when the function is traced (`xray`): X-Ray on the stage too.
    """
    throttle = {"ThrottlingRateLimit": chosen.throttle_rate, "ThrottlingBurstLimit": chosen.throttle_burst}
    routes = [{"ResourcePath": "/*", "HttpMethod": "*", **throttle}]
    # a resource path's slashes are written ~1 (AWS::ApiGateway::Stage MethodSetting)
    routes += [
        {"ResourcePath": "/" + path.replace("/", "~1"), "HttpMethod": method, **throttle}
        for path in WEBHOOKS
        for method in WEBHOOK_METHODS
    ]
    properties: dict[str, Any] = {
        "Name": api_name(chosen.stage),
        "OpenApiVersion": "2.0",
        "MethodSettings": routes,
    }
    if chosen.xray:
        properties["TracingEnabled"] = True
    return properties


def function_properties(chosen: Shape, variables: dict[str, Any]) -> dict[str, Any]:
    """The function's name and environment; with SnapStart or provisioned concurrency, a version
    published on each deploy and its alias (SAM's AutoPublishAlias), which API Gateway invokes
    (finish_template): both act on a published version only, never on $LATEST (Lambda docs,
    "Improving startup performance with Lambda SnapStart", "Configuring provisioned concurrency")."""
    properties: dict[str, Any] = {
        "FunctionName": function_name(chosen.stage),
        "Environment": {"Variables": variables},
    }
    if chosen.alias:
        properties["AutoPublishAlias"] = ALIAS
        properties["AutoPublishCodeSha256"] = {"Ref": CODE_VERSION}
    if chosen.snapstart:
        properties["SnapStart"] = {"ApplyOn": "PublishedVersions"}
    if chosen.provisioned:
        properties["ProvisionedConcurrencyConfig"] = {"ProvisionedConcurrentExecutions": chosen.provisioned}
    return properties


def finish_template(template: dict[str, Any], chosen: Shape) -> dict[str, Any]:
    """chalice's sam.json with API Gateway invoking the alias when there is one: every route's
    integration and the invoke permission name `APIHandler.Alias` (SAM's reference to the alias
    it publishes), else API Gateway would keep invoking $LATEST and neither SnapStart nor
    provisioned concurrency would ever serve a request."""
    if not chosen.alias:
        return template
    resources = template["Resources"]
    for methods in resources[API]["Properties"]["DefinitionBody"]["paths"].values():
        for method in methods.values():
            integration = method.get("x-amazon-apigateway-integration", {})
            uri = integration.get("uri", {})
            if isinstance(uri, dict) and "Fn::Sub" in uri:
                uri["Fn::Sub"] = uri["Fn::Sub"].replace(f"${{{FUNCTION}.Arn}}", f"${{{FUNCTION}.Alias}}")
    resources[f"{FUNCTION}InvokePermission"]["Properties"]["FunctionName"] = {"Ref": f"{FUNCTION}.Alias"}
    # cfn-lint reads sam.json without SAM's `.Alias` attribute (E1019, "not one of …Arn"): that
    # check only, on the API only; the transformed template, where it is a plain Ref, is linted whole
    resources[API].setdefault("Metadata", {})["cfn-lint"] = {"config": {"ignore_checks": ["E1019"]}}
    return template
