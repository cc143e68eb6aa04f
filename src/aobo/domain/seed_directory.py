"""Seeded Directory objects and permissions:
mail contacts, mail users, mailbox permissions (FullAccess), SendAs and folder permissions."""

from __future__ import annotations

import random

from aobo.domain.models import Tenant
from aobo.domain.store import Store


def seed_directory(store: Store, tenant: Tenant, rng: random.Random) -> None:
    """Add this part of a freshly seeded tenant's content (deterministic for a given ``rng``)."""
