"""What a seeded tenant holds besides its mailboxes: directory objects, permissions, mailbox data,
configuration and message trace. Each part has its own module; this one runs them in order
(later parts use what earlier ones created) from one seed, so a tenant's content is reproducible.
"""

from __future__ import annotations

import random

from aobo.domain.models import Tenant
from aobo.domain.seed_config import seed_config
from aobo.domain.seed_directory import seed_directory
from aobo.domain.seed_groups import seed_groups
from aobo.domain.seed_mail import seed_mail
from aobo.domain.seed_trace import seed_trace
from aobo.domain.store import Store


def seed_content(store: Store, tenant: Tenant, seed: str) -> None:
    """Fill a tenant whose mailboxes were just added; call it once per tenant."""
    for part in (seed_directory, seed_groups, seed_mail, seed_config, seed_trace):
        part(store, tenant, random.Random(f"{seed}:{part.__name__}"))
