"""Who may call: a shared-secret token (several valid at once, for rotation) and optionally an
allow-list of source networks."""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable, Sequence
from typing import Any

from acd_hub.errors import Forbidden, TokensUnavailable, Unauthorized
from acd_hub.settings import HubSettings

TokenSource = Callable[[], Sequence[str]]


def check_source(source_ip: str, settings: HubSettings) -> None:
    networks = settings.source_networks
    if not networks:
        return
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        raise Forbidden("unparseable source address") from None
    if not any(address in network for network in networks):
        raise Forbidden("source address not allowed")


def check_token(presented: str | None, valid_tokens: Sequence[str]) -> None:
    if not presented or not valid_tokens:
        raise Unauthorized("missing token" if not presented else "no token configured")
    given = presented.encode("utf-8", "surrogateescape")
    # Compare against every token, without stopping early, in constant time each.
    matched = False
    for token in valid_tokens:
        matched |= hmac.compare_digest(given, token.encode("utf-8"))
    if not matched:
        raise Unauthorized("invalid token")


def static_tokens(settings: HubSettings) -> TokenSource:
    tokens = tuple(secret.get_secret_value() for secret in settings.callback_tokens)
    return lambda: tokens


# SSM answers a burst of cold starts with ThrottlingException (its GetParameter quota is shared
# by the account and region); like a slow or unreachable SSM, that is a reason to ask the ACD to
# resend (503), not a fault of ours (500). Anything else (no such parameter, access denied) is a
# broken deployment and stays a 500.
TRANSIENT_SSM_ERRORS = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "InternalServerError", "ServiceUnavailable"}
)


def ssm_tokens(
    parameter_name: str,
    max_age: int,
    client: object = None,
    clock: Callable[[], float] = time.monotonic,
    endpoint_url: str = "",
) -> TokenSource:
    """Tokens from a SecureString parameter (comma-separated), cached ``max_age`` seconds so a
    rotation is picked up without a redeploy. While SSM cannot be read, tokens read before stay
    valid (a rotation is picked up a little later); without any, :class:`TokensUnavailable`."""
    cached: list[tuple[float, tuple[str, ...]]] = []

    def fetch() -> Sequence[str]:
        now = clock()
        if cached and now - cached[0][0] < max_age:
            return cached[0][1]
        try:
            tokens = _read_parameter(client, parameter_name, endpoint_url)
        except TokensUnavailable:
            if cached:
                return cached[0][1]
            raise
        cached[:] = [(now, tokens)]
        return tokens

    return fetch


def _read_parameter(client: Any, parameter_name: str, endpoint_url: str) -> tuple[str, ...]:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415  (cold-start cost)

    if client is None:
        from acd_hub.aws import ssm_client  # noqa: PLC0415

        client = ssm_client(endpoint_url)
    try:
        value = client.get_parameter(Name=parameter_name, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        if code in TRANSIENT_SSM_ERRORS:
            raise TokensUnavailable(code) from exc
        raise
    except BotoCoreError as exc:  # timeouts, no connection
        raise TokensUnavailable(type(exc).__name__) from exc
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def token_source(settings: HubSettings) -> TokenSource:
    if settings.token_parameter:
        return ssm_tokens(
            settings.token_parameter, settings.token_cache_seconds, endpoint_url=settings.aws_endpoint_url
        )
    return static_tokens(settings)
