"""The callback tokens from SSM Parameter Store (a SecureString, comma-separated).

SSM answers a burst of cold starts with ThrottlingException (its GetParameter quota is shared by
the account and region); like a slow or unreachable SSM, that is a reason to ask the ACD to
resend (:class:`TokensUnavailable`, a 503), not a fault of ours (a 500). Anything else (no such
parameter, access denied) is a broken deployment and stays an error. The client is the ingest's
(``acd_hub.aws``: it gives up within the function's time budget)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from acd_hub.errors import TokensUnavailable

TRANSIENT_SSM_ERRORS = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "InternalServerError", "ServiceUnavailable"}
)


def parameter_reader(
    parameter_name: str, endpoint_url: str = "", client: Any = None
) -> Callable[[], tuple[str, ...]]:
    def read() -> tuple[str, ...]:
        nonlocal client
        if client is None:
            from acd_hub.aws import ssm_client  # noqa: PLC0415  (created on first use)

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

    return read
