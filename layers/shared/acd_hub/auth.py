"""Who may call: a shared-secret token (several valid at once, for rotation) and optionally an
allow-list of source networks."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Sequence

from acd_hub.errors import Forbidden, Unauthorized
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


def ssm_tokens(parameter_name: str, max_age: int) -> TokenSource:
    """Tokens from a SecureString parameter (comma-separated), cached ``max_age`` seconds so a
    rotation is picked up without a redeploy."""

    def fetch() -> Sequence[str]:
        from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415  (cold-start cost)

        value = parameters.get_parameter(parameter_name, decrypt=True, max_age=max_age)
        return tuple(part.strip() for part in str(value).split(",") if part.strip())

    return fetch


def token_source(settings: HubSettings) -> TokenSource:
    if settings.token_parameter:
        return ssm_tokens(settings.token_parameter, settings.token_cache_seconds)
    return static_tokens(settings)
