"""Seeded Distribution groups, security groups and Microsoft 365 groups with their members."""

from __future__ import annotations

import random

from aobo.domain.models import Tenant
from aobo.domain.store import Store


def seed_groups(store: Store, tenant: Tenant, rng: random.Random) -> None:
    """Add this part of a freshly seeded tenant's content (deterministic for a given ``rng``)."""
