"""The partner API: what a CSP partner's tools ask before they connect (its customers)."""

from aobo.frontends.partner.api import CUSTOMERS_PATH, CustomersEndpoint, is_customers_path

__all__ = ["CUSTOMERS_PATH", "CustomersEndpoint", "is_customers_path"]
