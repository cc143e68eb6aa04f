"""The partner API: what a CSP partner's tools ask before they connect (its customers), and its
GDAP relationships shaped like Microsoft Graph's."""

from aobo.frontends.partner.api import CUSTOMERS_PATH, CustomersEndpoint, is_customers_path
from aobo.frontends.partner.relationships import (
    RELATIONSHIPS_PATH,
    DelegatedAdminRelationshipsEndpoint,
    is_relationships_path,
)

__all__ = [
    "CUSTOMERS_PATH",
    "RELATIONSHIPS_PATH",
    "CustomersEndpoint",
    "DelegatedAdminRelationshipsEndpoint",
    "is_customers_path",
    "is_relationships_path",
]
