"""The one exception tree of omnicloud.

Every error raised by omnicloud derives from :class:`OmniCloudError`, which
carries the operation (``op``), the URI it concerned, the provider, and whether
retrying may help (``retryable``). Subclasses also inherit the builtin a Python
user would already catch, so ``except FileNotFoundError`` keeps working::

    OmniCloudError
    ├── InvalidURIError            (ValueError)
    ├── ConfigError                (ValueError)
    ├── NotFoundError              (FileNotFoundError)
    ├── PermissionDeniedError      (PermissionError)
    ├── AuthenticationError
    ├── CredentialsNotFoundError
    ├── PreconditionFailedError    (object exists / etag changed)
    ├── IntegrityError             (digest mismatch)
    ├── TransientError             (retryable: throttling, 5xx, timeouts, unreachable)
    ├── UnsupportedError           (NotImplementedError)
    └── InvalidTokenError

SDK exceptions are translated at the backend boundary with ``raise ... from``;
nothing above a backend sees an SDK exception type.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "CredentialsNotFoundError",
    "IntegrityError",
    "InvalidTokenError",
    "InvalidURIError",
    "NotFoundError",
    "OmniCloudError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "TransientError",
    "UnsupportedError",
]


class OmniCloudError(Exception):
    """Root of every omnicloud error.

    ``str(error)`` is one line meant for a person: what failed, on what, and
    (where known) how to fix it.
    """

    retryable_default: bool = False

    def __init__(
        self,
        message: str,
        *,
        op: str | None = None,
        uri: str | None = None,
        provider: str | None = None,
        retryable: bool | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.op = op
        self.uri = uri
        self.provider = provider
        self.retryable = self.retryable_default if retryable is None else retryable
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.message
        if self.uri and self.uri not in text:
            text = f"{text} ({self.uri})"
        if self.hint:
            text = f"{text}; {self.hint}"
        return text

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[object, ...]:
        # Keep keyword-only attributes when errors cross process boundaries
        # (Dask workers, multiprocessing).
        return (
            _rebuild_error,
            (
                type(self),
                self.message,
                {
                    "op": self.op,
                    "uri": self.uri,
                    "provider": self.provider,
                    "retryable": self.retryable,
                    "hint": self.hint,
                },
            ),
        )


def _rebuild_error(cls: type[OmniCloudError], message: str, fields: dict[str, object]) -> OmniCloudError:
    return cls(message, **fields)  # type: ignore[arg-type]


class InvalidURIError(OmniCloudError, ValueError):
    """The text is not a URI omnicloud accepts."""


class ConfigError(OmniCloudError, ValueError):
    """A setting, option or profile is invalid."""


class NotFoundError(OmniCloudError, FileNotFoundError):
    """The object, prefix or bucket does not exist."""


class PermissionDeniedError(OmniCloudError, PermissionError):
    """The identity is known but may not do this."""


class AuthenticationError(OmniCloudError):
    """The credentials were rejected (bad key, bad signature, expired token)."""


class CredentialsNotFoundError(OmniCloudError):
    """No credentials could be found in any source."""


class PreconditionFailedError(OmniCloudError):
    """A condition on the request did not hold (object exists, etag changed)."""


class IntegrityError(OmniCloudError):
    """Data read back does not match its recorded digest."""


class TransientError(OmniCloudError):
    """A failure that may pass: throttling, server errors, timeouts, unreachable endpoints."""

    retryable_default = True


class UnsupportedError(OmniCloudError, NotImplementedError):
    """The backend or provider cannot do this; the message says why."""


class InvalidTokenError(OmniCloudError):
    """A token failed validation."""
