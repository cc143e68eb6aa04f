"""The identity endpoint: an Entra ID-shaped OpenID provider issuing the service's own tokens.

``endpoints`` serves the OpenID configuration, the JWKS and the token endpoint; ``app_grant`` is
the client-credentials grant, ``device_flow`` and ``device_page`` the device-code grant and its
verification page. The keys and the tokens themselves live in :mod:`aobo.frontends.oauth`, shared
with the front ends that accept them.
"""

from aobo.frontends.identity.endpoints import IdentityEndpoint, is_identity_path

__all__ = ["IdentityEndpoint", "is_identity_path"]
