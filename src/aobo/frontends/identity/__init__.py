"""The identity endpoint: an Entra ID-shaped OpenID provider issuing the service's own tokens.

``keys`` holds the RSA signing keys in the data directory, ``tokens`` issues and validates the
JWTs, and ``endpoints`` serves the OpenID configuration, the JWKS and the token endpoint.
"""

from aobo.frontends.identity.endpoints import IdentityEndpoint, is_identity_path
from aobo.frontends.identity.keys import KeySet, rotate_keys
from aobo.frontends.identity.tokens import (
    AUDIENCE,
    InvalidToken,
    issue_access_token,
    issue_id_token,
    issue_refresh_token,
    validate_access_token,
    validate_refresh_token,
)

__all__ = [
    "AUDIENCE",
    "IdentityEndpoint",
    "InvalidToken",
    "KeySet",
    "is_identity_path",
    "issue_access_token",
    "issue_id_token",
    "issue_refresh_token",
    "rotate_keys",
    "validate_access_token",
    "validate_refresh_token",
]
