"""The service's OAuth tokens, shared by every front end that issues or accepts them.

``keys`` holds the RSA signing keys in the data directory; ``tokens`` issues and validates the
RS256 JWTs. The identity endpoint issues them; the REST front end and the remote PowerShell
endpoint (``BasicAuthToOAuthConversion``) accept them. Like ``frontends/credentials.py`` this
package knows no front end.
"""

from aobo.frontends.oauth.keys import KeySet, keys_dir, rotate_keys
from aobo.frontends.oauth.tokens import (
    ACCESS_LIFETIME,
    AUDIENCE,
    MANAGE_AS_APP,
    InvalidToken,
    TokenKind,
    issue_access_token,
    issue_app_token,
    issue_id_token,
    issue_refresh_token,
    issuer_for,
    token_kind,
    validate_access_token,
    validate_refresh_token,
)

__all__ = [
    "ACCESS_LIFETIME",
    "AUDIENCE",
    "MANAGE_AS_APP",
    "InvalidToken",
    "KeySet",
    "TokenKind",
    "issue_access_token",
    "issue_app_token",
    "issue_id_token",
    "issue_refresh_token",
    "issuer_for",
    "keys_dir",
    "rotate_keys",
    "token_kind",
    "validate_access_token",
    "validate_refresh_token",
]
