"""``acd-admin``'s context, the one thing every command gets (``@click.pass_obj``): the clients,
the table names, the DLQs and topics and the hub's settings, all built lazily so ``--help`` never
touches AWS. The replay and the redrive work through it (:class:`acd_cli.replay.ReplayContext`,
:class:`acd_cli.redrive.RedriveContext`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from acd_cli.report_context import ReportContext, ReportError
from acd_hub.adapters.events_table import EventsTable
from acd_hub.fanout import SnsFanout
from acd_hub.settings import ENV_PREFIX, LOCAL_MAX_FUTURE_SECONDS, HubSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

    from acd_cli.redrive import Consumer
    from acd_cli.reporting import EventQueries
    from acd_hub.rebuild import Rebuilder

# Stack parameters that are hub settings: an operator action must read the ACD's local times,
# cut days and compute service levels exactly as the deployed functions do.
STACK_SETTINGS = {
    "AcdTimeZone": "acd_timezone",
    "ReportTimeZone": "report_timezone",
    "DefaultPhoneRegion": "default_phone_region",
    "RetentionDays": "retention_days",
    "ServiceLevelSeconds": "service_level_seconds",
    "KpiShards": "kpi_shards",
    "ListingShards": "listing_shards",
    "BoardShards": "board_shards",
}
# Topics of the fan-out: (template logical id, stack output).
TOPICS = {
    "configchanged": ("ConfigChangedTopic", "ConfigChangedTopicArn"),
    "broadcastevent": ("BroadcastTopic", "BroadcastTopicArn"),
}


def _in_environment(setting: str) -> bool:
    """Whether ``ACD_<SETTING>`` (any case) is set: :class:`HubSettings` reads it then."""
    return any(name.lower() == ENV_PREFIX + setting for name in os.environ)


@dataclass
class AdminContext:
    """What writing commands need: the streams, SQS and SNS clients, the DLQs and topics, and the
    hub's settings as deployed; over ``acd-report``'s connection (session, clients, table names
    from the stack outputs or the local stack's logical ids), which it holds, not extends."""

    connection: ReportContext = field(default_factory=ReportContext)
    acd_timezone_option: str | None = None
    report_timezone_option: str | None = None
    quiet: bool = False

    # -- what the use cases read through the connection --

    @property
    def dynamodb(self) -> DynamoDBClient:
        return self.connection.dynamodb

    @property
    def events_table(self) -> str:
        return self.connection.events_table

    @property
    def queries(self) -> EventQueries:
        return self.connection.queries

    # -- what writing commands add --

    @cached_property
    def streams(self) -> DynamoDBStreamsClient:
        client: DynamoDBStreamsClient = self.connection.client("dynamodbstreams")
        return client

    @cached_property
    def sqs(self) -> SQSClient:
        client: SQSClient = self.connection.client("sqs")
        return client

    @cached_property
    def s3(self) -> Any:  # no mypy-boto3-s3 in the lock for one list/get/delete
        return self.connection.client("s3")

    @cached_property
    def sns(self) -> SNSClient:
        client: SNSClient = self.connection.client("sns")
        return client

    @cached_property
    def settings(self) -> HubSettings:
        """The hub's settings as the stack's functions see them: stack parameters (with
        ``--stack-name``), else ``ACD_*`` environment variables, else the defaults (against the
        local stack, its bound on event times ahead); the time zone options win over both."""
        values: dict[str, Any] = {}
        if self.connection.stack_name:
            params = self.connection.stack_parameters
            values.update({name: params[key] for key, name in STACK_SETTINGS.items() if key in params})
        elif self.connection.local and not _in_environment("max_future_seconds"):
            # The local stack's ingest lets events in up to a day ahead: a replay against it
            # must not refuse what it would take (the deployed default, 900 s, would).
            values["max_future_seconds"] = LOCAL_MAX_FUTURE_SECONDS
        if self.acd_timezone_option:
            values["acd_timezone"] = self.acd_timezone_option
        if self.report_timezone_option:
            values["report_timezone"] = self.report_timezone_option
        values.update(
            events_table=self.events_table,
            reports_table=self.connection.reports_table,
            cmd_day_shards=self.connection.cmd_day_shards,
            # An operator action is authenticated by the operator's AWS credentials: no
            # callback token, and no source allow-list (the operator is not the ACD).
            callback_tokens=[],
            token_parameter="",
            allowed_source_cidrs=[],
        )
        try:
            return HubSettings(**values)
        except ValueError as exc:
            raise ReportError(f"hub settings: {exc}") from None

    def queue_url(self, consumer: Consumer, option: str | None) -> str:
        if option:
            return option
        if self.connection.stack_name:
            return self.connection.stack_output(consumer.dlq_output)
        if self.connection.local:
            return self.sqs.get_queue_url(QueueName=f"{consumer.function}-local-dlq")["QueueUrl"]
        raise ReportError("which queue? Pass --stack-name (reads its outputs) or --queue-url")

    def failure_bucket(self, consumer: Consumer, option: str | None) -> str | None:
        """The consumer's S3 on-failure destination, or None where it is a queue (acd-local's
        are all queues)."""
        if option:
            return option
        if consumer.destination != "s3" or not self.connection.stack_name:
            return None
        return self.connection.stack_output(consumer.dlq_output)

    def topic_arn(self, cmd: str) -> str:
        logical_id, output_key = TOPICS[cmd]
        if self.connection.stack_name:
            return self.connection.stack_output(output_key)
        if not self.connection.local:
            raise ReportError("which topics? Pass --stack-name (reads its outputs)")
        # The local stack names each topic after its logical id.
        for page in self.sns.get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                if topic["TopicArn"].rsplit(":", 1)[-1] == logical_id:
                    return topic["TopicArn"]
        raise ReportError(f"topic {logical_id} not found at {self.connection.where()}")

    @cached_property
    def fanout(self) -> SnsFanout:
        settings = self.settings.model_copy(
            update={
                "config_topic_arn": self.topic_arn("configchanged"),
                "broadcast_topic_arn": self.topic_arn("broadcastevent"),
            }
        )
        return SnsFanout(self.sns, settings)

    @cached_property
    def events(self) -> EventsTable:
        return EventsTable(self.dynamodb, self.events_table)

    @cached_property
    def rebuilder(self) -> Rebuilder:
        from acd_hub.adapters.reports_table import ReportsTable  # noqa: PLC0415  (only redrive/rebuild)
        from acd_hub.rebuild import Rebuilder  # noqa: PLC0415

        return Rebuilder(
            self.events,
            ReportsTable(self.dynamodb, self.connection.reports_table, self.settings.board_shards),
            self.settings,
        )

    def progress(self) -> Progress:
        """A progress bar on stderr (stdout keeps the results), on a terminal only: in a pipe or a
        log it would be one frozen bar, and a line before any ``Error: ...``."""
        console = Console(stderr=True)
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=self.quiet or not console.is_terminal,
        )
