"""Each gap of the emulator the deploy test bridges: small, named, announced when applied.

None changes ``template.yaml``. The README's "Deploy it locally" lists every name in
:data:`WORKAROUNDS` (a unit test holds it to that) with why it exists.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from acd_deploy.steps import StepFailed, log
from acd_devkit.template import condition_holds


@dataclass(frozen=True)
class Workaround:
    name: str
    gap: str


METRIC_MATH_ALARM = Workaround(
    "metric-math-alarm",
    "MiniStack cannot create an AWS::CloudWatch::Alarm with Metrics (metric math or a Metrics "
    "Insights query); the failure rolls the whole stack back",
)
HTTP_API_ROUTES = Workaround(
    "http-api-routes",
    "MiniStack ignores the OpenAPI Body of an AWS::ApiGatewayV2::Api, where SAM writes an HttpApi's "
    "routes and JWT authorizers: the API has no routes and every request 404s",
)
EXECUTE_API_ADDRESS = Workaround(
    "execute-api-address",
    "https://<api>.execute-api.<region>.amazonaws.com (the stack's HttpApiUrl) resolves to AWS; "
    "MiniStack serves the API at <endpoint>/_aws/execute-api/<api>/",
)
WORKAROUNDS = (METRIC_MATH_ALARM, HTTP_API_ROUTES, EXECUTE_API_ADDRESS)


def announce(workaround: Workaround, detail: str) -> None:
    log(f"WORKAROUND {workaround.name}: {detail} (gap: {workaround.gap})")


# --- metric-math-alarm: applied to the deployed copy of the built template ----------------------

# The one form the template uses: SELECT SUM(<metric>) FROM SCHEMA("<namespace>", <dims>)
# WHERE <dim> = '<value>'. Anything else stops the deploy rather than being guessed at.
_INSIGHTS_SUM = re.compile(
    r"""SELECT\s+SUM\((?P<metric>\w+)\)\s+FROM\s+SCHEMA\("(?P<namespace>[^"]+)",[^)]*\)\s+"""
    r"""WHERE\s+(?P<dimension>\w+)\s*=\s*'(?P<value>[^']*)'\s*$""",
    re.IGNORECASE,
)


def single_metric_alarms(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``template`` in which each alarm on a Metrics Insights ``SUM ... WHERE d = 'v'``
    watches the one metric with that dimension instead (same threshold, period and actions).
    On AWS the query sums over every other dimension; here only the stand-in's own series is
    watched. The alarm's ARN, which the dashboard names, stays.

    An alarm above 0 on ``FILL(a, 0) + FILL(b, 0) + ...`` of Sum statistics becomes one alarm per
    metric (the first keeps the logical id, the others are ``<id>Part2``, ...): any of them above 0
    is exactly the sum above 0. Any other metric-math form stops the deploy."""
    changed = copy.deepcopy(dict(template))
    split: dict[str, list[dict[str, Any]]] = {}
    for logical_id, resource in changed["Resources"].items():
        properties = resource.get("Properties", {})
        if resource.get("Type") != "AWS::CloudWatch::Alarm" or "Metrics" not in properties:
            continue
        if "Condition" in resource:
            # Created only when a parameter asks for it (NoCallbacksAlarm: OpeningHoursUtc), which
            # the deploy test leaves at its default: kept as it is, the emulator never sees it.
            continue
        queries = [m for m in properties["Metrics"] if m.get("ReturnData", True)]
        expression = " ".join(str(queries[0].get("Expression", "")).split()) if len(queries) == 1 else ""
        match = _INSIGHTS_SUM.match(expression)
        if match is None:
            summed = _any_of_summed_metrics(properties, expression)
            if summed is None:
                raise StepFailed(
                    "prepare the template",
                    f"{logical_id}: a metric-math alarm of a form this workaround does not know",
                )
            split[logical_id] = summed
            continue
        properties.pop("Metrics")
        properties.update(
            {
                "Namespace": match["namespace"],
                "MetricName": match["metric"],
                "Dimensions": [{"Name": match["dimension"], "Value": match["value"]}],
                "Statistic": "Sum",
                "Period": queries[0].get("Period", 300),
            }
        )
        announce(
            METRIC_MATH_ALARM,
            f"{logical_id} watches {match['namespace']}/{match['metric']} {match['dimension']}={match['value']} "
            "(one metric) instead of its Metrics Insights sum",
        )
    for logical_id, stats in split.items():
        alarm = changed["Resources"][logical_id]
        alarm["Properties"].pop("Metrics")
        names = [logical_id] + [f"{logical_id}Part{n}" for n in range(2, len(stats) + 1)]
        for name, stat in zip(names, stats, strict=True):
            metric = stat["Metric"]
            one = copy.deepcopy(alarm)
            one["Properties"].update(
                {
                    "Namespace": metric["Namespace"],
                    "MetricName": metric["MetricName"],
                    "Dimensions": metric.get("Dimensions", []),
                    "Statistic": stat["Stat"],
                    "Period": stat["Period"],
                }
            )
            changed["Resources"][name] = one
        watched = ", ".join(f"{n} on {s['Metric']['MetricName']}" for n, s in zip(names, stats, strict=True))
        announce(
            METRIC_MATH_ALARM,
            f"{logical_id} (above 0 on a sum of {len(stats)} metrics) is one alarm per metric instead: {watched}",
        )
    return changed


# FILL(a, 0) + FILL(b, 0) + ...: each term one of the alarm's MetricStats (ReturnData false).
_FILLED_TERM = re.compile(r"FILL\((?P<id>\w+),\s*0\)")


def _any_of_summed_metrics(properties: Mapping[str, Any], expression: str) -> list[dict[str, Any]] | None:
    """The MetricStats of an alarm on ``FILL(a, 0) + FILL(b, 0) + ...`` that fires when the sum of
    Sum statistics is above 0: the same as "any one of them above 0" (counts are never negative),
    so one alarm per metric watches exactly what the sum does. None for any other form."""
    terms = [term.strip() for term in expression.split("+")]
    matches = [_FILLED_TERM.fullmatch(term) for term in terms]
    stats = {m["Id"]: m.get("MetricStat") for m in properties["Metrics"] if not m.get("ReturnData", True)}
    if not expression or not all(matches):
        return None
    ids = [match["id"] for match in matches if match]
    if (
        sorted(ids) != sorted(stats)
        or any(not stats[i] or stats[i].get("Stat") != "Sum" for i in ids)
        or properties.get("ComparisonOperator") != "GreaterThanThreshold"
        or properties.get("Threshold") not in (0, 0.0, "0")
    ):
        return None
    return [stats[i] for i in ids]


# --- http-api-routes: after the deploy, from the processed template's Body ---------------------------


def _substitute(value: Any, names: Callable[[str], str]) -> str:
    """``Fn::Sub`` with no variable map, each ``${name}`` looked up by ``names``."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or set(value) != {"Fn::Sub"} or not isinstance(value["Fn::Sub"], str):
        raise StepFailed(
            "add the HTTP API routes", f"an integration uri this workaround cannot resolve: {value!r}"
        )
    return re.sub(r"\$\{([^}!]+)\}", lambda m: names(m.group(1)), value["Fn::Sub"])


def route_keys(body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(route key, its x-amazon-apigateway-integration) of each operation of an OpenAPI body as
    SAM writes it for an HttpApi: ``GET /callback``, ..., and ``$default`` for the path of that
    name (its any-method operation)."""
    keys = []
    for path, operations in body.get("paths", {}).items():
        for method, operation in operations.items():
            # a path item also holds "parameters" (a list), "summary", ...: not operations
            integration = (
                operation.get("x-amazon-apigateway-integration") if isinstance(operation, dict) else None
            )
            if not isinstance(integration, dict):
                continue
            if path == "$default":
                key = "$default"
            else:
                verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                key = f"{verb} {path}"
            keys.append((key, integration))
    return keys


def add_http_api_routes(clients: Any, stack_name: str, region: str) -> list[str]:
    """Create the routes (and their Lambda proxy integrations) of every ``AWS::ApiGatewayV2::Api``
    of the stack from its ``Body`` in the processed template, unless the API has routes already
    (then the emulator read the Body itself and nothing is done). Returns the route keys added."""
    cloudformation, apigateway, lambda_ = clients.cloudformation, clients.apigatewayv2, clients.lambda_
    processed = cloudformation.get_template(StackName=stack_name, TemplateStage="Processed")["TemplateBody"]
    template = json.loads(processed) if isinstance(processed, str) else processed
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    }
    account = clients.account_id

    def names(name: str) -> str:
        pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::StackName": stack_name,
        }
        if name in pseudo:
            return pseudo[name]
        logical_id, _, attribute = name.partition(".")
        if attribute == "Arn" and logical_id in physical:
            return str(
                lambda_.get_function(FunctionName=physical[logical_id])["Configuration"]["FunctionArn"]
            )
        if not attribute and logical_id in physical:
            return physical[logical_id]
        raise StepFailed("add the HTTP API routes", f"cannot resolve ${{{name}}} in an integration uri")

    # SAM wraps the paths of a function under a Condition in Fn::If (the board's): decided by the
    # stack's own parameter values, as CloudFormation decided them.
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}

    def holds(condition: str) -> bool:
        return condition_holds(template, condition, parameters)

    added_all: list[str] = []
    for logical_id, resource in template["Resources"].items():
        added: list[str] = []
        if resource.get("Type") != "AWS::ApiGatewayV2::Api" or "Body" not in resource.get("Properties", {}):
            continue
        api_id = physical[logical_id]
        if apigateway.get_routes(ApiId=api_id).get("Items"):
            log(f"{logical_id} has routes of its own: workaround {HTTP_API_ROUTES.name} not needed")
            continue
        body = chosen_paths(resource["Properties"]["Body"], holds)
        authorizers = _create_authorizers(apigateway, api_id, body, names)
        secured = route_authorizers(body)
        integrations: dict[tuple[str, str], str] = {}
        for key, integration in route_keys(body):
            uri = _substitute(integration["uri"], names)
            version = str(integration.get("payloadFormatVersion", "2.0"))
            if (uri, version) not in integrations:
                integrations[uri, version] = apigateway.create_integration(
                    ApiId=api_id,
                    IntegrationType=str(integration.get("type", "aws_proxy")).upper(),
                    IntegrationUri=uri,
                    IntegrationMethod=str(integration.get("httpMethod", "POST")),
                    PayloadFormatVersion=version,
                )["IntegrationId"]
            route: dict[str, Any] = {
                "ApiId": api_id,
                "RouteKey": key,
                "Target": f"integrations/{integrations[uri, version]}",
            }
            if key in secured:
                name, scopes = secured[key]
                route.update(AuthorizationType="JWT", AuthorizerId=authorizers[name])
                if scopes:
                    route["AuthorizationScopes"] = scopes
            apigateway.create_route(**route)
            added.append(f"{key} (JWT {secured[key][0]})" if key in secured else key)
        announce(
            HTTP_API_ROUTES, f"{logical_id} ({api_id}): {len(added)} routes from its Body: {', '.join(added)}"
        )
        if not added:
            raise StepFailed("add the HTTP API routes", f"{logical_id}: no route found in its Body")
        added_all.extend(added)
    return added_all


_NO_VALUE = {"Ref": "AWS::NoValue"}


def chosen_paths(body: Mapping[str, Any], holds: Callable[[str], bool]) -> dict[str, Any]:
    """The Body with every ``Fn::If`` SAM wrote for a function under a Condition (the board's: on
    its path items, operations and integration uris) replaced by the branch ``holds`` chooses; a
    branch of ``AWS::NoValue`` drops the key or list item."""

    def chosen(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"Fn::If"}:
            condition, when_true, when_false = value["Fn::If"]
            return chosen(when_true if holds(condition) else when_false)
        if isinstance(value, dict):
            kept = {key: chosen(item) for key, item in value.items()}
            return {key: item for key, item in kept.items() if item != _NO_VALUE}
        if isinstance(value, list):
            return [item for item in (chosen(i) for i in value) if item != _NO_VALUE]
        return value

    found: dict[str, Any] = chosen(dict(body))
    return found


def route_authorizers(body: Mapping[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """Route key -> (authorizer name, scopes) of each operation whose ``security`` names one."""
    secured = {}
    for path, operations in body.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or not operation.get("security"):
                continue
            ((name, scopes),) = operation["security"][0].items()
            verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
            secured["$default" if path == "$default" else f"{verb} {path}"] = (name, list(scopes or []))
    return secured


def _create_authorizers(
    apigateway: Any, api_id: str, body: Mapping[str, Any], names: Callable[[str], str]
) -> dict[str, str]:
    """The JWT authorizers of the Body's security schemes, created on the API: name -> id."""
    created = {}
    for name, scheme in body.get("components", {}).get("securitySchemes", {}).items():
        spec = scheme.get("x-amazon-apigateway-authorizer") or {}
        if str(spec.get("type", "")).lower() != "jwt":
            raise StepFailed(
                "add the HTTP API routes", f"authorizer {name}: only JWT authorizers are known here"
            )
        jwt = spec["jwtConfiguration"]
        source = spec["identitySource"]
        created[name] = apigateway.create_authorizer(
            ApiId=api_id,
            Name=name,
            AuthorizerType="JWT",
            IdentitySource=source if isinstance(source, list) else [source],
            JwtConfiguration={
                "Issuer": _substitute(jwt["issuer"], names),
                "Audience": [_reference(a, names) for a in jwt.get("audience", [])],
            },
        )["AuthorizerId"]
        announce(HTTP_API_ROUTES, f"JWT authorizer {name} ({source}) from the Body on {api_id}")
    return created


def _reference(value: Any, names: Callable[[str], str]) -> str:
    """A ``Ref`` (or a plain string, or ``Fn::Sub``) as its physical value."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return names(str(value["Ref"]))
    return _substitute(value, names)


# --- execute-api-address ------------------------------------------------------------------------------


def local_api_url(http_api_url: str, endpoint: str) -> str:
    """The stack's ``HttpApiUrl`` output (``https://<api>.execute-api.<region>.<suffix>/``) as the
    emulator serves it (the ``$default`` stage: no stage segment)."""
    host = urlsplit(http_api_url).hostname or ""
    api_id, _, rest = host.partition(".")
    if not api_id or not rest.startswith("execute-api."):
        raise StepFailed("find the callback URL", f"HttpApiUrl {http_api_url!r} is not an execute-api URL")
    url = f"{endpoint}/_aws/execute-api/{api_id}/"
    announce(EXECUTE_API_ADDRESS, f"{http_api_url} is served at {url}")
    return url
