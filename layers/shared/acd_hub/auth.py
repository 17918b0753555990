"""Who may call: a shared-secret token (several valid at once, for rotation) and optionally an
allow-list of source networks. :func:`authenticate` is the use case's one step."""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from acd_hub.errors import Forbidden, TokensUnavailable, Unauthorized

if TYPE_CHECKING:
    from acd_hub.settings import HubSettings

TokenSource = Callable[[], Sequence[str]]
# While SSM cannot be read, the tokens read before are used and SSM asked again this much later.
STALE_RETRY_SECONDS = 30


def authenticate(
    source_ip: str, presented: str | None, settings: HubSettings, tokens: TokenSource
) -> frozenset[str]:
    """Raises Forbidden (source), TokensUnavailable (also when none is configured) or
    Unauthorized; else the secrets to redact from whatever is kept: the valid tokens (the one
    presented is one of them). Any other value sent as a token is replaced by its name, not
    searched for everywhere: a "token=1" must not blank every "1" of the request."""
    check_source(source_ip, settings)
    valid = tokens()
    check_token(presented, valid)
    return frozenset(token for token in valid if token)


def check_source(source_ip: str, settings: HubSettings) -> None:
    networks = settings.source_networks
    if not networks:
        return
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        raise Forbidden("unparseable source address") from None
    # An IPv4 address written as IPv6 (::ffff:198.51.100.20, what a dual-stack socket reports) is
    # that IPv4 address: it is in no IPv4 network, so the allowed ACD was refused 403.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if not any(address in network for network in networks):
        raise Forbidden("source address not allowed")


def check_token(presented: str | None, valid_tokens: Sequence[str]) -> None:
    if not any(valid_tokens):
        # None configured (a parameter of only commas or blanks): our fault, not the caller's. A
        # 401 "no token configured" told anyone that no token exists and the ACD that its URL was
        # wrong, and an ACD drops what was refused; a 503 is retried once the parameter is fixed.
        raise TokensUnavailable("no callback token configured")
    if not presented:
        raise Unauthorized("missing token")
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


def cached_tokens(
    read: Callable[[], Sequence[str]], max_age: int, clock: Callable[[], float] = time.monotonic
) -> TokenSource:
    """Tokens from ``read`` (the SSM parameter), cached ``max_age`` seconds so a rotation is
    picked up without a redeploy. While they cannot be read (:class:`TokensUnavailable`), tokens
    read before stay valid (a rotation is picked up a little later) rather than refusing the ACD,
    and SSM is asked again :data:`STALE_RETRY_SECONDS` later."""
    cached: list[tuple[float, tuple[str, ...]]] = []  # (asked again from, the tokens)

    def fetch() -> Sequence[str]:
        now = clock()
        if cached and now < cached[0][0]:
            return cached[0][1]
        try:
            tokens = tuple(read())
        except TokensUnavailable:
            if cached:
                # SSM is asked again only STALE_RETRY_SECONDS later, not by the next callback:
                # every callback asking a throttled SSM kept the account's quota spent (cold
                # starts, which have no list, got 503s), and a slow one cost each callback the
                # client's whole time budget.
                cached[:] = [(now + min(max_age, STALE_RETRY_SECONDS), cached[0][1])]
                return cached[0][1]
            raise
        cached[:] = [(now + max_age, tokens)]
        return tokens

    return fetch


def token_source(settings: HubSettings) -> TokenSource:
    if settings.token_parameter:
        from acd_hub.adapters.ssm_tokens import parameter_reader  # noqa: PLC0415  (botocore, lazily)

        read = parameter_reader(settings.token_parameter, settings.aws_endpoint_url)
        return cached_tokens(read, settings.token_cache_seconds)
    return static_tokens(settings)
