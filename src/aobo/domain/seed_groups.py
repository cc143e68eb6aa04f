"""Seeded Distribution groups, security groups and Microsoft 365 groups with their members.

Per tenant: "All Staff" (every user mailbox), one list per large department, a partners list
holding the tenant's mail contacts, two mail-enabled security groups, a room list of the room
mailboxes and three Microsoft 365 groups. Groups go in with one ``add_mailboxes`` call and the
memberships with one bulk insert, so a tenant costs a few milliseconds.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aobo.domain.models import GROUP_TYPES, NewRecipient, Tenant
from aobo.domain.store import Store

_EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)
_DEPARTMENT_LISTS: Final = 4
_PEOPLE_KINDS: Final = ("UserMailbox", "RoomMailbox", "MailContact")


@dataclass(frozen=True, slots=True)
class _Group:
    name: str
    alias: str
    kind: str
    members: Sequence[Any]
    owners: Sequence[Any]
    props: dict[str, Any] = field(default_factory=dict)


def seed_groups(store: Store, tenant: Tenant, rng: random.Random) -> None:
    """Add this part of a freshly seeded tenant's content (deterministic for a given ``rng``)."""
    from aobo.domain.seed import stable_guid  # seed imports this module

    rows = list(store.iter_recipients(tenant.id, recipient_type_details=_PEOPLE_KINDS))
    users = [r for r in rows if r.recipient_type_details == "UserMailbox"]
    groups = _plan(users, rows, rng)
    domain = tenant.initial_domain
    store.add_mailboxes(
        tenant.id,
        [
            NewRecipient(
                name=g.name,
                alias=g.alias,
                display_name=g.name,
                recipient_type_details=g.kind,
                props={**g.props, "ManagedBy": [o.name for o in g.owners]},
                guid=stable_guid(domain, g.alias, "guid"),
                exchange_guid=stable_guid(domain, g.alias, "exchange"),
                external_directory_object_id=stable_guid(domain, g.alias, "directory"),
                when_created=_EPOCH - timedelta(days=rng.randrange(30, 3 * 365), seconds=rng.randrange(86_400)),
            )
            for g in groups
        ],
    )
    ids = {r.alias.lower(): r.id for r in store.iter_recipients(tenant.id, recipient_type_details=GROUP_TYPES)}
    pairs = [(ids[g.alias.lower()], m.id) for g in groups for m in g.members]
    store.groups.bulk_add(tenant.id, pairs)


def _plan(users: list[Any], rows: list[Any], rng: random.Random) -> list[_Group]:
    """The groups of one tenant and who is in them."""
    rooms = [r for r in rows if r.recipient_type_details == "RoomMailbox"]
    contacts = [r for r in rows if r.recipient_type_details == "MailContact"]
    departments: dict[str, list[Any]] = {}
    for user in users:
        department = json.loads(user.props or "{}").get("Department")
        if department:
            departments.setdefault(department, []).append(user)
    owner = [users[0]] if users else []
    distribution = {"RequireSenderAuthenticationEnabled": True, "MemberJoinRestriction": "Closed"}
    security = {**distribution, "MemberDepartRestriction": "Closed"}
    largest = [d for d, _ in Counter({d: len(m) for d, m in departments.items()}).most_common(_DEPARTMENT_LISTS)]
    groups = [_Group("All Staff", "AllStaff", "MailUniversalDistributionGroup", users, owner, distribution)]
    for department in sorted(largest):
        members = departments[department]
        groups.append(
            _Group(
                f"{department} Department",
                f"{_alias(department)}Dept",
                "MailUniversalDistributionGroup",
                members,
                members[:1],
                {**distribution, "MemberJoinRestriction": "ApprovalRequired"},
            )
        )
    groups += [
        _Group(
            "External Partners",
            "ExternalPartners",
            "MailUniversalDistributionGroup",
            contacts + users[:1],
            owner,
            distribution,
        ),
        _Group(
            "IT Admins",
            "ITAdmins",
            "MailUniversalSecurityGroup",
            _sample(rng, departments.get("IT") or users, 4),
            owner,
            security,
        ),
        _Group(
            "Finance Approvers",
            "FinanceApprovers",
            "MailUniversalSecurityGroup",
            _sample(rng, users, 3),
            owner,
            security,
        ),
        _Group("All Rooms", "AllRooms", "RoomList", rooms, owner, distribution),
    ]
    for name, access in (("Project Phoenix", "Private"), ("Marketing Hub", "Public"), ("Social Club", "Public")):
        members = _sample(rng, users, 6)
        props = {"RequireSenderAuthenticationEnabled": True, "AccessType": access}
        groups.append(_Group(name, _alias(name), "GroupMailbox", members, members[:2], props))
    return groups


def _sample(rng: random.Random, items: list[Any], k: int) -> list[Any]:
    return rng.sample(items, min(k, len(items)))


def _alias(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)
