"""google-auth adapters for GCP credentials; imported only when an adapter is called."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import google.auth
import google.auth._helpers
import google.auth.credentials
import google.auth.exceptions
from google.oauth2 import service_account

from omnicloud.credentials._gcp import DEFAULT_SCOPES, METADATA_FLAVOR
from omnicloud.credentials._http import MetadataUnavailable, http_request
from omnicloud.errors import AuthenticationError, ConfigError, TransientError

if TYPE_CHECKING:
    from omnicloud.credentials._base import Credentials
    from omnicloud.credentials._gcp import GcpServiceAccount, GcpWorkloadIdentity
    from omnicloud.credentials._secret import Secret


def anonymous() -> Any:
    return google.auth.credentials.AnonymousCredentials()  # type: ignore[no-untyped-call]


def from_service_account(
    config: GcpServiceAccount, credentials: Credentials, scopes: Sequence[str] | None
) -> Any:
    info = json.loads(config.key.reveal())
    try:
        return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=list(scopes or DEFAULT_SCOPES)
        )
    except (ValueError, google.auth.exceptions.GoogleAuthError) as err:
        raise ConfigError(
            f"the service account key for {config.client_email} is not usable ({type(err).__name__})",
            provider="gcp",
        ) from err


def from_info(secret: Secret, credentials: Credentials, scopes: Sequence[str] | None, *, what: str) -> Any:
    info = json.loads(secret.reveal())
    chosen = list(scopes or DEFAULT_SCOPES)
    try:
        if info.get("type") == "external_account":
            return _external_account(info, chosen)
        found, _project = google.auth.load_credentials_from_dict(  # type: ignore[no-untyped-call]
            info, scopes=chosen
        )
    except (ValueError, google.auth.exceptions.GoogleAuthError) as err:
        raise ConfigError(f"the {what} are not usable ({type(err).__name__})", provider="gcp") from err
    return found


def _external_account(info: dict[str, Any], scopes: list[str]) -> Any:
    """The same three kinds google.auth.load_credentials_from_dict builds, without its project lookup,
    which would call Google's STS while the credentials are merely being built."""
    source = info.get("credential_source") or {}
    if info.get("subject_token_type") == "urn:ietf:params:aws:token-type:aws4_request":
        from google.auth import aws

        return aws.Credentials.from_info(info, scopes=scopes)  # type: ignore[no-untyped-call]
    if isinstance(source, dict) and source.get("executable") is not None:
        from google.auth import pluggable

        return pluggable.Credentials.from_info(info, scopes=scopes)  # type: ignore[no-untyped-call]
    from google.auth import identity_pool

    return identity_pool.Credentials.from_info(info, scopes=scopes)  # type: ignore[no-untyped-call]


def metadata_credentials(
    config: GcpWorkloadIdentity, credentials: Credentials, scopes: Sequence[str] | None
) -> Any:
    return _MetadataServerCredentials(config, credentials, scopes)


class _MetadataServerCredentials(google.auth.credentials.Scoped, google.auth.credentials.Credentials):
    """Access tokens from the GCE/GKE metadata server at the host omnicloud resolved.

    google-auth's own compute-engine credentials read ``GCE_METADATA_HOST``
    once, at import; these follow the host found during resolution, and refresh
    ``refresh_margin`` before expiry instead of google-auth's fixed threshold.
    """

    def __init__(
        self, config: GcpWorkloadIdentity, credentials: Credentials, scopes: Sequence[str] | None
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._config = config
        self._omni = credentials
        self._scopes = list(scopes) if scopes else None

    @property
    def requires_scopes(self) -> bool:
        return False

    def with_scopes(self, scopes: Sequence[str], default_scopes: Sequence[str] | None = None) -> Any:
        return _MetadataServerCredentials(self._config, self._omni, scopes or default_scopes)

    @property
    def service_account_email(self) -> str | None:
        return self._config.email

    def refresh(self, request: Any) -> None:
        host = self._config.metadata_host or "169.254.169.254"
        url = (
            f"http://{host}/computeMetadata/v1/instance/service-accounts/{self._config.service_account}/token"
        )
        if self._scopes:
            url += "?scopes=" + quote(",".join(self._scopes), safe=",")
        try:
            answer = http_request(
                "GET", url, timeout=max(self._omni.metadata_timeout, 1.0), headers=METADATA_FLAVOR
            )
        except MetadataUnavailable as err:
            raise TransientError(f"the GCE metadata server did not answer: {err}", provider="gcp") from err
        if not answer.ok:
            raise AuthenticationError(
                f"the GCE metadata server refused a token (HTTP {answer.status})", provider="gcp"
            )
        try:
            document = json.loads(answer.body)
            token = document["access_token"]
            lifetime = timedelta(seconds=int(document["expires_in"]))
        except (ValueError, KeyError, TypeError) as err:
            raise AuthenticationError(
                "the GCE metadata server sent a malformed token", provider="gcp"
            ) from err
        real_expiry = datetime.now(UTC).replace(tzinfo=None) + lifetime
        # google-auth refreshes REFRESH_THRESHOLD before ``expiry``; shift it so
        # the refresh happens ``refresh_margin`` before the real expiry instead.
        self.token = token
        self.expiry = real_expiry - self._omni.refresh_margin + google.auth._helpers.REFRESH_THRESHOLD
