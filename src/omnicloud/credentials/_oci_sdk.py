"""oci SDK adapters for OCI credentials; imported only when an adapter is called."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import oci
from oci.auth.signers import (
    EphemeralResourcePrincipalSigner,
    InstancePrincipalsSecurityTokenSigner,
    SecurityTokenSigner,
    get_resource_principals_signer,
)

from omnicloud.credentials._secret import REDACTED
from omnicloud.errors import AuthenticationError, ConfigError, TransientError

if TYPE_CHECKING:
    from omnicloud.credentials._base import Credentials
    from omnicloud.credentials._oci import (
        OciInstancePrincipal,
        OciResourcePrincipal,
        OciSecurityToken,
        OciUserPrincipal,
    )


def _require_region(credentials: Credentials, what: str) -> str:
    if not credentials.region:
        raise ConfigError(
            f"{what} needs a region",
            provider="oci",
            hint="use oci://NAMESPACE@REGION/BUCKET/KEY, pass region=..., or set OCI_CLI_REGION",
        )
    return credentials.region


def user_principal(config: OciUserPrincipal, credentials: Credentials) -> tuple[dict[str, Any], Any]:
    region = _require_region(credentials, "an OCI user principal")
    settings: dict[str, Any] = {
        "user": config.user,
        "tenancy": config.tenancy,
        "fingerprint": config.fingerprint,
        "region": region,
    }
    if config.key_file:
        settings["key_file"] = config.key_file
    checked = dict(settings)
    if config.key_content is not None:
        checked["key_content"] = config.key_content.reveal()
        # The signer carries the key, so the config handed back holds a placeholder: it is safe to
        # log, and SDK clients (which check only that a key is named when given a signer) accept it.
        settings.setdefault("key_content", REDACTED)
    try:
        oci.config.validate_config(checked)
        signer = oci.signer.Signer(
            tenancy=config.tenancy,
            user=config.user,
            fingerprint=config.fingerprint,
            private_key_file_location=config.key_file,
            pass_phrase=config.pass_phrase.reveal() if config.pass_phrase is not None else None,
            private_key_content=config.key_content.reveal() if config.key_content is not None else None,
        )
    except oci.exceptions.InvalidConfig as err:
        # InvalidConfig lists offending keys by name only; keep just that.
        raise ConfigError(
            f"the OCI user principal config is invalid: {sorted(err.errors)}", provider="oci"
        ) from None
    except (OSError, ValueError, TypeError) as err:
        raise ConfigError(
            f"cannot load the OCI API signing key ({type(err).__name__})", provider="oci"
        ) from err
    return settings, signer


def security_token(config: OciSecurityToken, credentials: Credentials) -> tuple[dict[str, Any], Any]:
    region = _require_region(credentials, "an OCI session token")
    try:
        token = Path(config.token_file).read_text(encoding="utf-8").strip()
        private_key = oci.signer.load_private_key_from_file(
            config.key_file, config.pass_phrase.reveal() if config.pass_phrase is not None else None
        )
    except OSError as err:
        raise ConfigError(
            f"cannot read the OCI session token or key: {err.strerror}", provider="oci"
        ) from err
    except (ValueError, TypeError) as err:
        raise ConfigError(f"cannot load the OCI session key ({type(err).__name__})", provider="oci") from err
    settings: dict[str, Any] = {"region": region}
    if config.tenancy:
        settings["tenancy"] = config.tenancy
    return settings, SecurityTokenSigner(token, private_key)


def instance_principal(config: OciInstancePrincipal, credentials: Credentials) -> tuple[dict[str, Any], Any]:
    options: dict[str, Any] = {}
    if config.federation_endpoint:
        options["federation_endpoint"] = config.federation_endpoint
    try:
        signer = InstancePrincipalsSecurityTokenSigner(**options)
    except oci.exceptions.ServiceError as err:
        raise AuthenticationError(
            f"the OCI auth service refused the instance principal ({err.status})", provider="oci"
        ) from err
    except Exception as err:
        # The signer raises requests' and its own errors for an unreachable metadata or auth service.
        raise TransientError(
            f"cannot get an instance principal token ({type(err).__name__})", provider="oci"
        ) from err
    settings: dict[str, Any] = {"region": credentials.region or signer.region, "tenancy": signer.tenancy_id}
    return settings, signer


def resource_principal(config: OciResourcePrincipal, credentials: Credentials) -> tuple[dict[str, Any], Any]:
    try:
        if config.version == "2.2" and config.rpst is not None and config.private_pem is not None:
            region = _require_region(credentials, "an OCI resource principal")
            signer = EphemeralResourcePrincipalSigner(
                session_token=config.rpst.reveal(),
                private_key=config.private_pem.reveal(),
                private_key_passphrase=(
                    config.private_pem_passphrase.reveal()
                    if config.private_pem_passphrase is not None
                    else None
                ),
                region=region,
            )
        else:
            signer = get_resource_principals_signer()
    except (OSError, ValueError, TypeError) as err:
        raise ConfigError(
            f"cannot build the OCI resource principal signer ({type(err).__name__})", provider="oci"
        ) from err
    settings: dict[str, Any] = {"region": credentials.region or signer.region}
    tenancy = getattr(signer, "tenancy_id", None)
    if tenancy:
        settings["tenancy"] = tenancy
    return settings, signer
