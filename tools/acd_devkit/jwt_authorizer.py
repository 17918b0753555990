"""API Gateway's JWT authorizer of an HTTP API, in front of a function run here, as the API Gateway
developer guide describes it ("Control access to HTTP APIs with JWT authorizers", "Authorizing API
requests with a JWT authorizer"):

1. the token comes from the authorizer's one identity source (a header or a query parameter),
   alone or prefixed with ``Bearer``; none: 401;
2. it is decoded, its algorithm must be RSA-based and its signature verify with the key of the
   issuer's JWKS named by the header's ``kid``;
3. ``iss`` must equal the issuer; ``aud`` must be one of the audiences, or, only when there is no
   ``aud``, ``client_id`` (a Cognito access token has no ``aud``); ``exp`` after now, ``nbf`` and
   ``iat`` before now; with route scopes, ``scope``/``scp`` must hold one of them;
4. any failure: 401 ``{"message":"Unauthorized"}`` (a missing scope: 403 ``Forbidden``) and the
   function is not invoked; else the claims reach it under ``requestContext.authorizer.jwt``.

The signature is checked by joserfc (a maintained JOSE library); the claims as listed above.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

RSA_ALGORITHMS = ("RS256", "RS384", "RS512")
UNAUTHORIZED = {
    "statusCode": 401,
    "headers": {"content-type": "application/json"},
    "body": '{"message":"Unauthorized"}',
}
FORBIDDEN = {
    "statusCode": 403,
    "headers": {"content-type": "application/json"},
    "body": '{"message":"Forbidden"}',
}


class Refused(Exception):
    """Why the authorizer refused a request (API Gateway answers 401 whatever the reason)."""


@dataclass(frozen=True)
class JwtAuthorizer:
    identity_source: str  # "$request.header.Authorization" or "$request.querystring.<name>"
    issuer: str
    audience: Sequence[str]
    keys: KeySet  # the issuer's JWKS (public keys)
    scopes: Sequence[str] = ()  # the route's authorizationScopes
    clock: Callable[[], float] = time.time

    def token(self, event: Mapping[str, Any]) -> str | None:
        source = self.identity_source
        value: str | None = None
        if source.startswith("$request.header."):
            name = source.removeprefix("$request.header.").lower()
            value = {k.lower(): v for k, v in (event.get("headers") or {}).items()}.get(name)
        elif source.startswith("$request.querystring."):
            name = source.removeprefix("$request.querystring.")
            values = parse_qs(event.get("rawQueryString") or "", keep_blank_values=True).get(name)
            value = values[-1] if values else None
        else:
            raise ValueError(f"a JWT authorizer's identity source is a header or a query parameter: {source}")
        if not value:
            return None
        value = value.strip()
        return value[len("Bearer ") :].strip() if value.lower().startswith("bearer ") else value

    def claims(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The token's claims, or :class:`Refused` saying why."""
        token = self.token(event)
        if not token:
            raise Refused("no token in the identity source")
        header = _header(token)
        if header.get("alg") not in RSA_ALGORITHMS:
            raise Refused(f"algorithm {header.get('alg')!r} is not RSA-based")
        kid = header.get("kid")
        if not kid or not any(key.kid == kid for key in self.keys.keys):
            raise Refused("no key of the issuer's JWKS has the token's kid")
        try:
            claims = dict(jwt.decode(token, self.keys, algorithms=list(RSA_ALGORITHMS)).claims)
        except (JoseError, ValueError) as exc:
            raise Refused(f"signature: {exc}") from None
        now = self.clock()
        if claims.get("iss") != self.issuer:
            raise Refused("iss is not the issuer")
        audiences = claims["aud"] if "aud" in claims else claims.get("client_id")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if not any(a in self.audience for a in audiences):
            raise Refused("neither aud nor client_id is an audience of the authorizer")
        if not _number(claims.get("exp")) or claims["exp"] <= now:
            raise Refused("expired")
        for name in ("nbf", "iat"):
            if name in claims and (not _number(claims[name]) or claims[name] > now):
                raise Refused(f"{name} is in the future")
        return claims

    def scoped(self, claims: Mapping[str, Any]) -> bool:
        if not self.scopes:
            return True
        held = set(str(claims.get("scope", "")).split()) | set(_as_list(claims.get("scp")))
        return bool(held & set(self.scopes))

    def __call__(self, handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
        """``handler`` behind the authorizer: refused requests never reach it."""

        def authorized(event: dict[str, Any], context: Any) -> Any:
            try:
                claims = self.claims(event)
            except Refused:
                return dict(UNAUTHORIZED)
            if not self.scoped(claims):
                return dict(FORBIDDEN)
            request_context = dict(event.get("requestContext") or {})
            request_context["authorizer"] = {"jwt": {"claims": claims, "scopes": list(self.scopes) or None}}
            return handler({**event, "requestContext": request_context}, context)

        return authorized


def _header(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise Refused("not a compact JWS")
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except ValueError:
        raise Refused("undecodable header") from None
    if not isinstance(header, dict):
        raise Refused("undecodable header")
    return header


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    return [str(v) for v in value] if isinstance(value, list) else []
