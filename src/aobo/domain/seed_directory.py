"""Seeded Directory objects and permissions:
mail contacts, mail users, mailbox permissions (FullAccess), SendAs and folder permissions."""

from __future__ import annotations

import random
import uuid
from typing import Any, Final

from aobo.domain.models import NewRecipient, Tenant
from aobo.domain.permissions import FolderGrant, Grant
from aobo.domain.store import Store

# Own namespace: seed.stable_guid cannot be imported here (seed imports this module).
_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "aobo/seed_directory")

#: (display name, external address local part, external domain): partners and vendors.
_CONTACTS: Final = (
    ("Jordan Reyes", "jordan.reyes", "litware-partners.com"),
    ("Priya Natarajan", "priya.n", "adventure-works.com"),
    ("Tom Kessler", "tkessler", "proseware.net"),
    ("Mina Okafor", "mina.okafor", "wideworldimporters.com"),
    ("Lukas Berger", "lukas.berger", "fourthcoffee.com"),
    ("Ana Ribeiro", "ana.ribeiro", "margiestravel.com"),
    ("Grace Liu", "grace", "lucernepublishing.com"),
    ("Samir Haddad", "s.haddad", "trey-research.net"),
)
#: (display name, alias, external domain): consultants with an account here and mail elsewhere.
_MAIL_USERS: Final = (
    ("Chris Doyle (Consultant)", "ext.cdoyle", "bluefin-consulting.com"),
    ("Nora Vance (Contractor)", "ext.nvance", "graphicdesigninstitute.com"),
    ("Ravi Menon (Auditor)", "ext.rmenon", "northwind-audit.com"),
)
_DELEGATE_RIGHTS: Final = ("Reviewer", "Editor", "Reviewer", "LimitedDetails")


def _guid(tenant: Tenant, *parts: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, "/".join((tenant.initial_domain, *parts)).lower())


def _recipient(tenant: Tenant, **fields: Any) -> NewRecipient:
    key = fields["alias"]
    return NewRecipient(
        **fields,
        guid=_guid(tenant, key, "guid"),
        exchange_guid=_guid(tenant, key, "exchange"),
        external_directory_object_id=_guid(tenant, key, "directory"),
    )


def _directory_objects(tenant: Tenant, rng: random.Random) -> list[NewRecipient]:
    contacts = rng.sample(_CONTACTS, 3)
    users = rng.sample(_MAIL_USERS, 2)
    out = []
    for display, local, domain in contacts:
        first, _, last = display.partition(" ")
        alias = "".join(c for c in display if c.isalnum())
        out.append(
            _recipient(
                tenant,
                name=display,
                alias=alias,
                display_name=display,
                first_name=first,
                last_name=last,
                recipient_type_details="MailContact",
                primary_smtp_address=f"{local}@{domain}",
            )
        )
    for display, alias, domain in users:
        first, _, rest = display.partition(" ")
        out.append(
            _recipient(
                tenant,
                name=display,
                alias=alias,
                display_name=display,
                first_name=first,
                last_name=rest.partition(" ")[0],
                recipient_type_details="MailUser",
                props={"ExternalEmailAddress": f"SMTP:{alias.removeprefix('ext.')}@{domain}"},
            )
        )
    return out


def _shared_access(rng: random.Random, shared: list[Any], people: list[Any]) -> list[Grant]:
    """FullAccess (with AutoMapping) to 1-3 people on each shared mailbox; SendAs for about half of them."""
    grants = []
    for mailbox in shared:
        for person in rng.sample(people, min(len(people), rng.randint(1, 3))):
            grants.append(Grant(mailbox.id, "mailbox", person.id, "FullAccess", automapping=True))
            if rng.random() < 0.5:
                grants.append(Grant(mailbox.id, "recipient", person.id, "SendAs"))
    return grants


def _shared_calendars(rng: random.Random, people: list[Any]) -> list[FolderGrant]:
    """A few calendar delegates (Reviewer/Editor...) and a couple of Default=Reviewer overrides."""
    owners = rng.sample(people, min(len(people), 4))
    entries = []
    for owner in owners:
        delegate = rng.choice([p for p in people if p.id != owner.id])
        rights = rng.choice(_DELEGATE_RIGHTS)
        flags = ("Delegate",) if rights == "Editor" else ()
        entries.append(FolderGrant(owner.id, "Calendar", delegate.id, (rights,), flags))
    entries += [FolderGrant(owner.id, "Calendar", "Default", ("Reviewer",)) for owner in owners[:2]]
    return entries


def seed_directory(store: Store, tenant: Tenant, rng: random.Random) -> None:
    """Add this part of a freshly seeded tenant's content (deterministic for a given ``rng``)."""
    store.add_mailboxes(tenant.id, _directory_objects(tenant, rng))
    mailboxes = list(store.iter_recipients(tenant.id, recipient_type_details=("UserMailbox", "SharedMailbox")))
    people = [m for m in mailboxes if m.recipient_type_details == "UserMailbox"]
    shared = [m for m in mailboxes if m.recipient_type_details == "SharedMailbox"]
    if len(people) < 2:
        return
    store.permissions.import_entries(tenant.id, _shared_access(rng, shared, people), _shared_calendars(rng, people))
