"""Secrets out of the SDKs' debug logs: SAS signatures, presigned URLs, Authorization headers.

omnicloud's own messages never hold a secret, but at DEBUG the libraries it
drives log whole requests: urllib3 logs every URL (an Azure SAS is a bearer
token in its query string), botocore logs request headers and each
signature it computes (with a presigned URL's other, guessable parameters,
a signature is one too). :class:`RedactingFilter` rewrites such records;
:func:`redact_sdk_logs` puts it on the loggers that write them, and the CLI
also puts it on its handler, so ``omnicloud -v`` shows requests without
their secrets.
"""

from __future__ import annotations

import logging
import re
from typing import Final

__all__ = ["RedactingFilter", "redact", "redact_sdk_logs"]

REDACTED: Final = "***"  # as a credentials Secret shows itself; not imported, to keep the CLI light

_PATTERNS: Final = (
    # Query and connection-string parameters: Azure SAS (sig), S3 presigned URLs, keys,
    # and a GCS upload session's id (whoever holds it can write the object).
    re.compile(
        r"(?i)\b((?:sig|x-amz-signature|x-amz-security-token|signature|accountkey"
        r"|sharedaccesssignature|x-goog-signature|upload_id)=)[^&\s'\"<>;,]+"
    ),
    # Header values as botocore and urllib3 print them: 'Authorization': b'AWS4-HMAC-SHA256 ...'.
    re.compile(
        r"(?i)(['\"](?:authorization|x-amz-security-token|x-ms-copy-source-authorization)['\"]:\s*b?['\"])[^'\"]*"
    ),
    # botocore.auth logs each signature on its own ("Signature:\n<64 hex digits>").
    re.compile(r"(Signature:\s*)[0-9a-f]{64}"),
)

# The loggers that print requests at DEBUG.
_SDK_LOGGERS: Final = (
    "urllib3.connectionpool",
    "botocore.auth",
    "botocore.endpoint",
    "botocore.awsrequest",
    "botocore.httpsession",
    "botocore.parsers",
)


def redact(text: str) -> str:
    """``text`` with every secret it visibly carries replaced by ``***``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with :func:`redact`; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: leave it to logging
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER: Final = RedactingFilter()


def redact_sdk_logs() -> None:
    """Put the filter on the SDK loggers that print requests (once; calling again does nothing)."""
    for name in _SDK_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
