"""Seeded Tenant configuration:
organisation and transport settings, remote domains, transport rules and the default protection policies."""

from __future__ import annotations

import random

from aobo.domain.models import Tenant
from aobo.domain.store import Store


def seed_config(store: Store, tenant: Tenant, rng: random.Random) -> None:
    """Add this part of a freshly seeded tenant's content (deterministic for a given ``rng``)."""
