"""The template's tables, streams, topics and queues created in the local moto server."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from acd_local.lambda_runtime import LOCAL_ACCOUNT_ID, LOCAL_REGION
from acd_local.spec import StackSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient


REGION = LOCAL_REGION
ACCOUNT_ID = LOCAL_ACCOUNT_ID
DUMMY_CREDENTIAL = "testing"


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
    template: Mapping[str, Any] | StackSpec | None = None,
    *,
    region: str = REGION,
    clients: AwsClients | None = None,
) -> ProvisionedResources:
    """Create the template's tables (with their streams and TTL), its topics, a subscriber queue
    per topic and a DLQ per stream consumer on the AWS endpoint (a moto server).

    ``template`` is a loaded template, a :class:`StackSpec`, or None for ``template.yaml``.
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
        mapping.function: clients.sqs.create_queue(QueueName=f"{mapping.function}-local-dlq")["QueueUrl"]
        for mapping in spec.stream_mappings
    }
    return ProvisionedResources(
        endpoint_url, region, table_names, stream_arns, topic_arns, queue_urls, dlq_urls
    )


def _as_spec(template: Mapping[str, Any] | StackSpec | None) -> StackSpec:
    if isinstance(template, StackSpec):
        return template
    if template is None:
        return StackSpec.load()
    from acd_devkit import template as tpl  # noqa: PLC0415

    return StackSpec.from_template(template, tpl.find_template().resolve().parent)
