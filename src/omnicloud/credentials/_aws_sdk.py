"""boto3/botocore adapters for AWS credentials; imported only when an adapter is called."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from omnicloud.credentials._refresh import utcnow
from omnicloud.credentials._secret import Secret
from omnicloud.errors import (
    AuthenticationError,
    CredentialsNotFoundError,
    OmniCloudError,
    PermissionDeniedError,
    TransientError,
)

if TYPE_CHECKING:
    from boto3.session import Session as Boto3Session

    from omnicloud.credentials._aws import AwsAssumeRole, AwsKeys, AwsWebIdentity
    from omnicloud.credentials._base import Credentials

# STS is global, but the SDK needs some region to build a client; this is its default.
_STS_DEFAULT_REGION = "us-east-1"
# How long obstore may keep keys botocore manages before asking again.
_DELEGATED_KEYS_TTL = timedelta(minutes=5)


class _FixedProvider(CredentialProvider):
    """Hands botocore exactly one credentials object and nothing from its own chain."""

    METHOD = "omnicloud"
    CANONICAL_NAME = "omnicloud"

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def _session_with(credentials: Any, region: str | None) -> Boto3Session:
    core = botocore.session.Session()
    # Replace botocore's chain so these credentials, and only these, are used.
    core.register_component("credential_provider", CredentialResolver([_FixedProvider(credentials)]))
    return boto3.Session(botocore_session=core, region_name=region)


def static_session(keys: AwsKeys, region: str | None) -> Boto3Session:
    return boto3.Session(
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key.reveal(),
        aws_session_token=keys.session_token.reveal() if keys.session_token else None,
        region_name=region,
    )


def anonymous_session(region: str | None) -> Boto3Session:
    """A session with no credentials at all; clients must use ``Config(signature_version=UNSIGNED)``."""
    return _session_with(None, region)


def profile_session(profile: str, region: str | None) -> Boto3Session:
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except BotoCoreError as err:
        raise _map_error(err, f"profile {profile}") from err


def refreshing_session(credentials: Credentials, fetch: Callable[[], AwsKeys], method: str) -> Boto3Session:
    """A session whose keys botocore fetches again ``refresh_margin`` before they expire."""

    def refresh() -> dict[str, Any]:
        keys = fetch()
        expires_at = keys.expires_at or (utcnow() + timedelta(hours=1))
        return {
            "access_key": keys.access_key_id,
            "secret_key": keys.secret_access_key.reveal(),
            "token": keys.session_token.reveal() if keys.session_token else None,
            "expiry_time": expires_at.isoformat(),
        }

    margin = max(1, int(credentials.refresh_margin.total_seconds()))
    refreshable = RefreshableCredentials.create_from_metadata(
        metadata=refresh(),
        refresh_using=refresh,
        method=f"omnicloud-{method}",
        # botocore's own windows (15 and 10 minutes) would refresh short-lived
        # test credentials on every call; ours follow the configured margin.
        advisory_timeout=margin,
        mandatory_timeout=max(1, margin // 2),
    )
    return _session_with(refreshable, credentials.region)


def keys_from_session(session: Boto3Session, what: str) -> AwsKeys:
    from omnicloud.credentials._aws import AwsKeys

    try:
        found = session.get_credentials()
        if found is None:
            raise CredentialsNotFoundError(f"botocore found no credentials for {what}", provider="aws")
        frozen = found.get_frozen_credentials()
    except BotoCoreError as err:
        raise _map_error(err, what) from err
    if not frozen.access_key or not frozen.secret_key:
        raise CredentialsNotFoundError(f"botocore found incomplete credentials for {what}", provider="aws")
    expires_at = utcnow() + _DELEGATED_KEYS_TTL if isinstance(found, RefreshableCredentials) else None
    return AwsKeys(
        frozen.access_key,
        Secret(frozen.secret_key),
        Secret(frozen.token) if frozen.token else None,
        expires_at,
    )


def _sts_client(session: Boto3Session, credentials: Credentials, endpoint: str | None, **config: Any) -> Any:
    return session.client(
        "sts",
        region_name=credentials.region or _STS_DEFAULT_REGION,
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, **config),
    )


def assume_role(config: AwsAssumeRole, credentials: Credentials) -> AwsKeys:
    base_session = config.base.boto3_session()
    client = _sts_client(base_session, credentials, config.sts_endpoint)
    request: dict[str, Any] = {"RoleArn": config.role_arn, "RoleSessionName": config.role_session_name}
    if config.external_id:
        request["ExternalId"] = config.external_id
    if config.duration_seconds:
        request["DurationSeconds"] = config.duration_seconds
    try:
        answer = client.assume_role(**request)
    except (ClientError, BotoCoreError) as err:
        raise _map_error(err, f"assume role {config.role_arn}") from err
    return _keys_from_sts(answer)


def assume_role_with_web_identity(config: AwsWebIdentity, credentials: Credentials) -> AwsKeys:
    token = config.read_token()
    # AssumeRoleWithWebIdentity is authenticated by the token itself, not by a signature.
    client = _sts_client(
        anonymous_session(credentials.region), credentials, config.sts_endpoint, signature_version=UNSIGNED
    )
    request: dict[str, Any] = {
        "RoleArn": config.role_arn,
        "RoleSessionName": config.role_session_name,
        "WebIdentityToken": token.reveal(),
    }
    if config.duration_seconds:
        request["DurationSeconds"] = config.duration_seconds
    try:
        answer = client.assume_role_with_web_identity(**request)
    except (ClientError, BotoCoreError) as err:
        raise _map_error(err, f"assume role {config.role_arn} with web identity") from err
    return _keys_from_sts(answer)


def _keys_from_sts(answer: dict[str, Any]) -> AwsKeys:
    from omnicloud.credentials._aws import AwsKeys

    found = answer["Credentials"]
    return AwsKeys(
        found["AccessKeyId"],
        Secret(found["SecretAccessKey"]),
        Secret(found["SessionToken"]),
        found["Expiration"],
    )


def _map_error(err: Exception, what: str) -> OmniCloudError:
    if isinstance(err, NoCredentialsError):
        return CredentialsNotFoundError(f"no base credentials to {what}", provider="aws")
    if isinstance(err, EndpointConnectionError):
        return TransientError(f"cannot reach STS to {what}", provider="aws")
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = f"STS refused to {what}: {code}"
        if code in ("Throttling", "ThrottlingException", "RequestLimitExceeded") or status >= 500:
            return TransientError(message, provider="aws")
        if code in ("AccessDenied", "AccessDeniedException"):
            return PermissionDeniedError(message, provider="aws")
        return AuthenticationError(message, provider="aws")
    return AuthenticationError(f"cannot {what}: {type(err).__name__}", provider="aws")
