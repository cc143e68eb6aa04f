"""Domain and store: tenants, directory, partner relationships, recipients, audit.

No I/O beyond the database. Everything goes through :class:`aobo.domain.store.Store`.
"""
