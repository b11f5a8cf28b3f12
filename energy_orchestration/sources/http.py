"""HTTP behaviour every provider client shares: retries, back-off and honouring 429s.

Providers differ in envelopes and paging, not in how a polite client survives 5xx, timeouts
and rate limits, so that lives here once.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson
import requests
from urllib3.exceptions import ProtocolError

log = logging.getLogger(__name__)


class SourceError(Exception):
    """A provider answered in a way retrying will not fix (4xx, malformed page)."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "", url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.url = url


class MalformedPage(SourceError):
    """The provider answered 2xx with a body that breaks its contract (not JSON, HTML, a JSON
    value of the wrong shape). Retrying the same request rarely helps; the body is kept in
    quarantine by the caller (``ingest.fetch_and_publish``) and the window stays not done."""

    def __init__(self, message: str, *, page: Any = None, body: str | None = None, url: str = "",
                 status: int = 200) -> None:
        if body is None:
            try:
                body = json.dumps(page, ensure_ascii=False, default=str)
            except (TypeError, ValueError):
                body = repr(page)
        super().__init__(message, status=status, body=body, url=url)


class SourceUnavailable(SourceError):
    """Retries were exhausted on 5xx, timeouts, connection errors or 429s."""


class NotYetPublished(SourceError):
    """The provider has no rows for a window that should have them (yet)."""


@dataclass
class RetryPolicy:
    max_attempts: int = 4
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 90.0
    """A 429 asking us to wait longer than this fails the call instead of blocking a run."""
    max_rate_limited_seconds: float = 600.0
    """Waits a 429 asks for are not failed attempts (the provider said when to come back) and do not
    use up ``max_attempts``; they are bounded by this total per call instead. Four attempts lost
    to a minute tick sharing the one-request-per-minute budget failed a backfill."""


@dataclass
class PoliteSession:
    """A ``requests`` session that retries what is worth retrying and explains what is not."""

    timeout_seconds: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    user_agent: str = "energy-orchestration/0.1 (+https://github.com/energy-orchestration)"
    deadline: float | None = None
    """``time.monotonic()`` by which every call must be over (the live sensor's tick budget): each
    attempt's timeout is cut to the time left, no retry starts after it, and a call that runs out
    raises :class:`SourceUnavailable`, so a slow or hanging provider cannot stall a sensor tick."""

    def get_json(self, url: str, params: dict[str, Any]) -> Any:
        last_problem = ""
        attempt = rate_limited = 0
        while attempt < self.retry.max_attempts:
            attempt += 1
            timeout = self._timeout(url, last_problem)
            try:
                response = self.session.get(url, params=params, timeout=timeout,
                                            headers={"User-Agent": self.user_agent, "Accept": "application/json"})
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
                self._back_off(attempt, last_problem, url)
                continue
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError,
                    ProtocolError) as exc:  # the connection broke mid-body: a truncated page, worth retrying
                last_problem = f"truncated response body ({type(exc).__name__}: {exc})"
                self._back_off(attempt, last_problem, url)
                continue
            if response.status_code == 429:
                wait = _retry_after_seconds(response)
                last_problem = f"HTTP 429 (Retry-After {wait:g}s)"
                if wait > self.retry.max_retry_after_seconds:
                    raise SourceUnavailable(f"rate limited for {wait:g}s by {url}", status=429,
                                            body=response.text[:500], url=url)
                if self.deadline is not None and wait > self.deadline - time.monotonic():
                    raise SourceUnavailable(f"rate limited for {wait:g}s by {url}, beyond the time budget",
                                            status=429, body=response.text[:500], url=url)
                if rate_limited + wait <= self.retry.max_rate_limited_seconds:
                    rate_limited += wait
                    attempt -= 1  # not a failure: the provider said when to come back
                    log.warning("rate limited by %s; waiting %.0fs as Retry-After asks (%.0fs of %.0fs waited)",
                                url, wait, rate_limited, self.retry.max_rate_limited_seconds)
                    self.sleep(wait)
                elif attempt < self.retry.max_attempts:
                    log.warning("rate limited by %s; waiting %.0fs as Retry-After asks", url, wait)
                    self.sleep(wait)
                continue
            if response.status_code >= 500:
                last_problem = f"HTTP {response.status_code}: {response.text[:200]}"
                self._back_off(attempt, last_problem, url)
                continue
            if response.status_code >= 400:
                raise SourceError(f"HTTP {response.status_code} from {response.url}: {response.text[:500]}",
                                  status=response.status_code, body=response.text, url=response.url)
            return parse_page(response)
        raise SourceUnavailable(f"gave up on {url} after {self.retry.max_attempts} attempts; last: {last_problem}",
                                url=url)

    def _timeout(self, url: str, last_problem: str) -> float:
        """This attempt's timeout: the configured one, cut to what is left of the deadline."""
        if self.deadline is None:
            return self.timeout_seconds
        left = self.deadline - time.monotonic()
        if left <= 0.05:
            raise SourceUnavailable(f"time budget spent before {url} answered"
                                    + (f"; last: {last_problem}" if last_problem else ""), url=url)
        return min(self.timeout_seconds, left)

    def _back_off(self, attempt: int, problem: str, url: str) -> None:
        if attempt >= self.retry.max_attempts:
            return
        delay = min(self.retry.backoff_seconds * 2 ** (attempt - 1), self.retry.max_backoff_seconds)
        if self.deadline is not None:
            delay = max(0.0, min(delay, self.deadline - time.monotonic()))
        log.warning("%s from %s (attempt %d/%d); retrying in %.1fs", problem, url, attempt,
                    self.retry.max_attempts, delay)
        self.sleep(delay)


def parse_page(response: requests.Response) -> Any:
    """The page's JSON. orjson reads a UTF-8 page ~4x faster than ``response.json()`` (a 31-day
    history page: 0.6 s of the fetch's 2.2 s, benchmarks/fetch_publish.py); a page orjson refuses
    (another charset, a BOM, NaN) goes to ``response.json()``, so what was read before still is."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        pass
    try:
        return response.json()
    except ValueError:
        raise MalformedPage(f"malformed page from {response.url}: body is not JSON",
                            status=response.status_code, body=response.text, url=response.url) from None


def _retry_after_seconds(response: requests.Response) -> float:
    header = response.headers.get("Retry-After", "")
    try:
        return max(1.0, float(header))
    except ValueError:
        return 60.0  # the real service always sends the header; a minute is its window
