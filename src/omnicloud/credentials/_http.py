"""The few HTTP calls credentials need (metadata services, container endpoints), on the stdlib.

Metadata services live on link-local addresses that only answer on a cloud;
elsewhere a request may hang until its timeout, so every call here has a
short one and no retries. Proxies are ignored on purpose: a metadata request
sent through a corporate proxy would either fail slowly or, worse, reach
someone else's metadata service.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message

__all__ = ["HttpAnswer", "MetadataUnavailable", "http_request"]


class MetadataUnavailable(Exception):
    """The endpoint did not answer (refused, unreachable, timed out)."""


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_request(
    method: str,
    url: str,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
) -> HttpAnswer:
    """One request; HTTP error statuses are answers, network failures raise :class:`MetadataUnavailable`."""
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return HttpAnswer(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as err:
        body = err.read() if err.fp is not None else b""
        return HttpAnswer(err.code, _lower(err.headers), body)
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise MetadataUnavailable(f"no answer from {url} within {timeout:g} s ({reason})") from err


def _lower(headers: Message) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
