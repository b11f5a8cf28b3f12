"""Who may read: bearer tokens, on by default as soon as the server is reachable from elsewhere.

The decision is a plain function so it is tested without a server. Tokens come from
``ENERGY_API_TOKENS`` and are compared in constant time; they are never logged (only how many).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field

from energy_orchestration import settings

AUTH_MODES = ("auto", "on", "off")


def is_loopback(host: str) -> bool:
    """True only for addresses nobody else can reach; unknown host names count as exposed."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_required(mode: str, host: str) -> bool:
    mode = mode.strip().lower()
    if mode not in AUTH_MODES:
        raise ValueError(f"ENERGY_API_AUTH must be one of {', '.join(AUTH_MODES)}, got {mode!r}")
    if mode == "auto":
        return not is_loopback(host)
    return mode == "on"


def parse_tokens(value: str) -> tuple[str, ...]:
    return settings.split_list(value)


@dataclass(frozen=True)
class AuthPolicy:
    required: bool
    tokens: tuple[str, ...] = field(default=(), repr=False)  # repr=False: never in logs or tracebacks

    @classmethod
    def build(cls, mode: str, host: str, tokens: str) -> "AuthPolicy":
        required = auth_required(mode, host)
        parsed = parse_tokens(tokens)
        if required and not parsed:
            raise ValueError(f"authentication is on (ENERGY_API_AUTH={mode}, host {host}) but ENERGY_API_TOKENS is "
                             "empty: set at least one token, or bind to 127.0.0.1")
        return cls(required, parsed)

    def allows(self, token: str | None) -> bool:
        if not self.required:
            return True
        if not token:
            return False
        candidate = token.encode()
        # Compare with every token (no early exit) so timing does not tell which one was close.
        return sum(hmac.compare_digest(candidate, t.encode()) for t in self.tokens) > 0

    def describe(self) -> str:
        return f"bearer tokens required ({len(self.tokens)} configured)" if self.required else "no authentication"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
