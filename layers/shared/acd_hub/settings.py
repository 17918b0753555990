"""Settings, read once per container from the environment (``ACD_<NAME>``, any case).

Domain code never reads ``os.environ``; it is handed a :class:`HubSettings`. A handler builds
one at cold start (``HubSettings()``); tests build one with keyword arguments, which win over
the environment.

A plain pydantic model, not pydantic-settings: that package costs the ingest's cold start
about 50 ms of imports (asyncio, argparse, dotenv and every settings source) to read a dozen
variables.
"""

from __future__ import annotations

import ipaddress
import os
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

ENV_PREFIX = "acd_"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# acd-local's bound (its ingest's ACD_MAX_FUTURE_SECONDS): acd-sim sends today's whole day at
# once, its afternoon hours ahead of their time. One value for acd-local and for an operator
# action against it (acd-admin --endpoint-url), so a replay judges an event time as that ingest.
LOCAL_MAX_FUTURE_SECONDS = 86400


class HubSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    events_table: str = "EventsTable"
    reports_table: str = "ReportsTable"
    # Empty on AWS. Locally (sam local invoke --env-vars env.json) it points the clients at a
    # moto server; the environment's AWS_ENDPOINT_URL works too when it is not declared empty.
    aws_endpoint_url: str = ""
    config_topic_arn: str = ""
    broadcast_topic_arn: str = ""

    # Valid callback tokens. Locally: ACD_CALLBACK_TOKENS="tok1,tok2". On AWS the tokens live in
    # SSM Parameter Store (SecureString, comma-separated) named by token_parameter.
    callback_tokens: list[SecretStr] = Field(default_factory=list)
    token_parameter: str = ""
    token_cache_seconds: int = 300
    # Empty: any source address. Otherwise only these CIDRs may call (the vendor advises
    # allow-listing the ACD's external IP).
    allowed_source_cidrs: list[str] = Field(default_factory=list)

    acd_timezone: str = "Europe/Berlin"
    report_timezone: str = "Europe/Berlin"
    default_phone_region: str = "DE"
    retention_days: int = Field(default=0, ge=0)  # 0: keep forever (no TTL written)
    service_level_seconds: int = Field(default=20, ge=0)
    # An event time further ahead of its arrival than this is refused (400, quarantined): a wrong
    # clock or zone at the ACD, which would otherwise freeze the board until that time.
    max_future_seconds: int = Field(default=900, ge=0)
    # Listings by cmd and day are spread over this many partitions (each takes ~1,000 writes/s).
    cmd_day_shards: int = Field(default=8, ge=1, le=64)
    # A hotline's KPI counters are spread over this many partitions by task id (README
    # "Capacity": one partition per ~100 counter updates/s keeps a big hotline well inside
    # DynamoDB's per-partition write limit). Readers must use the same number.
    kpi_shards: int = Field(default=4, ge=1, le=64)
    # The hotlines the deployed board shows (BoardFunction): it may read the reports table only,
    # which does not list a day's hotlines.
    board_hotlines: list[str] = Field(default_factory=list)
    # A hotline day's call listing, by task id (README "Capacity": at 100x a large
    # center the biggest hotline's listing takes ~2,300 WCU/s, a partition 1,000).
    listing_shards: int = Field(default=4, ge=1, le=64)
    # The live board, by agent (an entry per agent, written on each of its newest states).
    board_shards: int = Field(default=8, ge=1, le=64)

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, given: Any) -> Any:
        """Every setting not given comes from ``ACD_<NAME>`` if that is set (names in any case,
        as pydantic-settings read them)."""
        if not isinstance(given, dict):
            return given
        environment = {
            name.lower(): value for name, value in os.environ.items() if name.lower().startswith(ENV_PREFIX)
        }
        from_environment = {
            name: environment[ENV_PREFIX + name]
            for name in cls.model_fields
            if ENV_PREFIX + name in environment
        }
        return {**from_environment, **given}

    @field_validator("callback_tokens", "allowed_source_cidrs", "board_hotlines", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("allowed_source_cidrs")
    @classmethod
    def _valid_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    @field_validator("acd_timezone", "report_timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @cached_property
    def acd_zone(self) -> ZoneInfo:
        return ZoneInfo(self.acd_timezone)

    @cached_property
    def report_zone(self) -> ZoneInfo:
        return ZoneInfo(self.report_timezone)

    @cached_property
    def source_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(c, strict=False) for c in self.allowed_source_cidrs)
