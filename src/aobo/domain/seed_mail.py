"""Seeded Mailbox data:
statistics, CAS settings, automatic replies and inbox rules (some forwarding outside the organisation)."""

from __future__ import annotations

import random

from aobo.domain.models import Tenant
from aobo.domain.store import Store


def seed_mail(store: Store, tenant: Tenant, rng: random.Random) -> None:
    """Add this part of a freshly seeded tenant's content (deterministic for a given ``rng``)."""
