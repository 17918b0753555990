"""The template's tables (with their streams and TTL), its topics, a subscriber queue per topic
and a DLQ per stream consumer, created on a moto server: what ``acd-local``, the ``sam local``
check and the integration tests stand on. Read from the template (:mod:`acd_devkit.template`),
or from a stand-in's :class:`StackResources` (``acd-local``'s spec is one)."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from acd_devkit.lambda_events import ACCOUNT, REGION

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient


ACCOUNT_ID = ACCOUNT
DUMMY_CREDENTIAL = "testing"
# A real profile or session in the caller's environment must not reach the moto server (nor AWS).
UNSET_AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def moto_env(region: str = REGION) -> dict[str, str]:
    """What boto3 needs in the environment to reach a moto server and nothing else: the region and
    dummy credentials (the endpoint, ``AWS_ENDPOINT_URL``, is the caller's to add)."""
    return {
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
        # botocore would otherwise send stream calls to an account-specific endpoint, which moto
        # does not answer.
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }


@dataclass(frozen=True)
class AwsClients:
    dynamodb: DynamoDBClient
    streams: DynamoDBStreamsClient
    sns: SNSClient
    sqs: SQSClient


def aws_clients(endpoint_url: str, region: str = REGION) -> AwsClients:
    """Clients bound to the endpoint explicitly (not through the environment, which a test or
    another stack in this process may change)."""
    import boto3  # noqa: PLC0415

    session = boto3.session.Session(
        aws_access_key_id=DUMMY_CREDENTIAL, aws_secret_access_key=DUMMY_CREDENTIAL, region_name=region
    )
    return AwsClients(
        dynamodb=session.client("dynamodb", endpoint_url=endpoint_url),
        streams=session.client("dynamodbstreams", endpoint_url=endpoint_url),
        sns=session.client("sns", endpoint_url=endpoint_url),
        sqs=session.client("sqs", endpoint_url=endpoint_url),
    )


@dataclass(frozen=True)
class ProvisionedResources:
    endpoint_url: str
    region: str
    table_names: dict[str, str]  # logical id -> table name (the same string)
    stream_arns: dict[str, str]  # table logical id -> latest stream ARN
    topic_arns: dict[str, str]  # topic logical id -> ARN
    subscriber_queue_urls: dict[str, str]  # topic logical id -> "<topic>-local-subscriber" queue
    dlq_urls: dict[str, str]  # stream consumer logical id -> "<function>-local-dlq" queue


def reset_moto(endpoint_url: str) -> None:
    """Drop all of moto's state (it is process-wide: every server in the process shares it)."""
    # Our own loopback URL (http://127.0.0.1:<port>), not user input.
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", data=b"", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()


def provision(
    endpoint_url: str,
    template: Mapping[str, Any] | StackResources | None = None,
    *,
    region: str = REGION,
    clients: AwsClients | None = None,
) -> ProvisionedResources:
    """Create the template's tables (with their streams and TTL), its topics, a subscriber queue
    per topic and a DLQ per stream consumer on the AWS endpoint (a moto server).

    ``template`` is a loaded template, a :class:`StackResources`, or None for ``template.yaml``.
    """
    spec = _as_spec(template)
    clients = clients or aws_clients(endpoint_url, region)
    table_names: dict[str, str] = {}
    stream_arns: dict[str, str] = {}
    for logical_id, kwargs in spec.tables.items():
        # Table name = logical id: the settings' defaults and what acd-report assumes locally.
        description = clients.dynamodb.create_table(**{**kwargs, "TableName": logical_id})["TableDescription"]  # type: ignore[arg-type]
        table_names[logical_id] = logical_id
        if description.get("LatestStreamArn"):
            stream_arns[logical_id] = description["LatestStreamArn"]
        if logical_id in spec.ttl_attributes:
            clients.dynamodb.update_time_to_live(
                TableName=logical_id,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attributes[logical_id]},
            )
    topic_arns: dict[str, str] = {}
    queue_urls: dict[str, str] = {}
    for topic in spec.topics:
        topic_arns[topic] = clients.sns.create_topic(Name=topic)["TopicArn"]
        queue_url = clients.sqs.create_queue(QueueName=f"{topic}-local-subscriber")["QueueUrl"]
        queue_arn = clients.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        # Not raw delivery: the SNS envelope keeps the topic and the message attributes together.
        clients.sns.subscribe(TopicArn=topic_arns[topic], Protocol="sqs", Endpoint=queue_arn)
        queue_urls[topic] = queue_url
    dlq_urls = {
        function: clients.sqs.create_queue(QueueName=f"{function}-local-dlq")["QueueUrl"]
        for function in spec.consumers
    }
    return ProvisionedResources(
        endpoint_url, region, table_names, stream_arns, topic_arns, queue_urls, dlq_urls
    )


class StackResources(Protocol):
    """What :func:`provision` creates: tables (``create_table`` arguments by logical id), TTL
    attributes, topics, and the stream consumers (a DLQ each)."""

    @property
    def tables(self) -> Mapping[str, Mapping[str, Any]]: ...

    @property
    def ttl_attributes(self) -> Mapping[str, str]: ...

    @property
    def topics(self) -> Sequence[str]: ...

    @property
    def consumers(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class TemplateResources:
    tables: Mapping[str, Mapping[str, Any]]
    ttl_attributes: Mapping[str, str]
    topics: Sequence[str]
    consumers: Sequence[str]

    @classmethod
    def read(cls, template: Mapping[str, Any]) -> TemplateResources:
        from acd_devkit import template as tpl  # noqa: PLC0415

        return cls(
            tables=tpl.dynamodb_tables(template),
            ttl_attributes=tpl.ttl_attributes(template),
            topics=tuple(tpl.sns_topics(template)),
            consumers=tuple(m["function"] for m in tpl.stream_mappings(template)),
        )


def _as_spec(template: Mapping[str, Any] | StackResources | None) -> StackResources:
    from acd_devkit import template as tpl  # noqa: PLC0415

    if template is None:
        return TemplateResources.read(tpl.load_template(tpl.find_template()))
    if isinstance(template, Mapping):
        return TemplateResources.read(template)
    return template
