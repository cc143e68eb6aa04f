"""aobo: Exchange Online "administer on behalf of" service and partner toolkit."""

__version__ = "0.1.0"

__all__ = ["__version__"]
