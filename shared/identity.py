"""Who a staff member is, as the OpenID Connect provider says: tokens verified against the provider's published
keys, and the claims turned into a ``Principal`` (roles, clinician id).

Passwords, one-time codes, lockout and resets are the provider's job (Keycloak by default, Entra ID, Google,
Okta by configuration); this module only checks signatures and claims, with joserfc doing the JOSE work.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import GuestProtocol, KeySet
from joserfc.jwt import JWTClaimsRegistry

from shared.config import CommonSettings

# Asymmetric algorithms only: a token signed with "none" or with HS256 keyed by a public key is refused.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
LEEWAY_SECONDS = 30
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
ROLE_PRECEDENCE = ("supervisor", "clinician", "admin", "frontdesk")  # which role a mixed account acts as


class InvalidToken(Exception):
    """The token is not one this service accepts (signature, issuer, audience, expiry or type)."""


class AccessRefused(Exception):
    """The person is authenticated but their account cannot use Attune as it is set up (said to them)."""


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    clinician_id: str | None = None

    @property
    def role(self) -> str:
        """The role an account with several acts in: clinical first, so an admin who also treats clients sees
        their own caseload (and no one else's)."""
        return next(r for r in ROLE_PRECEDENCE if r in self.roles)

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


class ProviderKeys:
    """The provider's discovery document and signing keys, cached. A token signed with a key id we have not
    seen makes us fetch the key set again (the provider rotated its keys), at most every ``min_refresh_s``."""

    def __init__(self, issuer: str, min_refresh_s: float = 30.0, timeout_s: float = 5.0):
        self.issuer = issuer.rstrip("/")
        self.min_refresh_s = min_refresh_s
        self.timeout_s = timeout_s
        self._metadata: dict | None = None
        self._keys = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def metadata(self) -> dict:
        if self._metadata is None:
            response = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=self.timeout_s)
            response.raise_for_status()
            self._metadata = response.json()
        return self._metadata

    def _refresh(self) -> None:
        response = requests.get(self.metadata()["jwks_uri"], timeout=self.timeout_s)
        response.raise_for_status()
        self._keys = KeySet.import_key_set(response.json())
        self._fetched_at = time.monotonic()

    def key_for(self, token: GuestProtocol):
        kid = token.headers().get("kid")
        with self._lock:
            if self._keys is None:
                self._refresh()
            key = self._find(kid)
            if key is None and time.monotonic() - self._fetched_at >= self.min_refresh_s:
                self._refresh()
                key = self._find(kid)
        if key is None:
            raise InvalidToken(f"no signing key {kid!r} at the provider")
        return key

    def _find(self, kid):
        try:
            return self._keys.get_by_kid(kid)
        except (ValueError, KeyError, JoseError):
            return None


class TokenVerifier:
    """Checks the three kinds of token a service meets: bearer access tokens (API), ID tokens (page sign-in,
    checked by Authlib's client) and back-channel logout tokens."""

    def __init__(self, settings: CommonSettings, keys: ProviderKeys | None = None):
        self.settings = settings
        self.keys = keys or ProviderKeys(settings.oidc_issuer)

    def _decode(self, token: str, options: dict) -> dict:
        try:
            claims = jwt.decode(token, self.keys.key_for, algorithms=ALGORITHMS).claims
            JWTClaimsRegistry(leeway=LEEWAY_SECONDS, **options).validate(claims)
        except (JoseError, ValueError) as exc:
            raise InvalidToken(type(exc).__name__) from exc
        except requests.RequestException as exc:
            raise InvalidToken("the identity provider could not be reached") from exc
        return dict(claims)

    def access_token(self, token: str) -> dict:
        issuer = self.settings.oidc_issuer
        return self._decode(
            token,
            {
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": self.settings.oidc_audience},
                "exp": {"essential": True},
                "sub": {"essential": True},
            },
        )

    def logout_token(self, token: str) -> dict:
        """OpenID Connect Back-Channel Logout 1.0, section 2.6: signed by the provider, for this client, an
        ``events`` claim naming the logout event, a ``sid`` or ``sub``, and never a ``nonce``."""
        claims = self._decode(
            token,
            {
                "iss": {"essential": True, "value": self.settings.oidc_issuer},
                "aud": {"essential": True, "value": self.settings.client_id},
                "iat": {"essential": True},
            },
        )
        if BACKCHANNEL_LOGOUT_EVENT not in (claims.get("events") or {}):
            raise InvalidToken("not a logout token")
        if "nonce" in claims or not (claims.get("sid") or claims.get("sub")):
            raise InvalidToken("malformed logout token")
        return claims


def claim_at(claims: dict, path: str):
    """``realm_access.roles`` -> claims["realm_access"]["roles"] (providers nest roles differently)."""
    value = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def principal_from_claims(claims: dict, settings: CommonSettings) -> Principal:
    """The Attune identity in a verified token. Refuses an account with no Attune role, and a clinician
    account that does not say which clinician it is (it could see no caseload, or the wrong one)."""
    raw = claim_at(claims, settings.oidc_roles_claim) or []
    if isinstance(raw, str):
        raw = [raw]
    roles = frozenset(settings.oidc_role_map[r] for r in raw if r in settings.oidc_role_map)
    if not roles:
        raise AccessRefused("Your account has no Attune role. Ask your practice admin to give you one.")
    clinician_id = claim_at(claims, settings.oidc_clinician_claim) or None
    if "clinician" in roles and not clinician_id:
        raise AccessRefused(
            "Your account has the clinician role but is not linked to a clinician in Attune. "
            "Ask your practice admin to set your clinician id."
        )
    return Principal(str(claims["sub"]), roles, str(clinician_id) if clinician_id else None)
