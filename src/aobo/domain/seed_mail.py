"""Seeded Mailbox data:
statistics, CAS settings, automatic replies and inbox rules (some forwarding outside the organisation).

Statistics and rules go in with one bulk insert each; the few mailboxes whose client access or
automatic reply settings differ from Exchange's defaults are updated one by one.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, Final

from aobo.domain.inbox_rules import NewInboxRule
from aobo.domain.models import Tenant, utcnow
from aobo.domain.statistics import AUTO_REPLY_PROPS, CAS_PROPS, MailboxStatistics
from aobo.domain.store import Store

_MB: Final = 1 << 20
#: (smallest, largest) mailbox size in MB by kind; sizes are spread log-uniformly between them.
_SIZE_MB: Final = {
    "UserMailbox": (40, 30_000),
    "SharedMailbox": (5, 12_000),
    "RoomMailbox": (0.2, 40),
    "EquipmentMailbox": (0.1, 15),
}
_AVERAGE_ITEM_BYTES: Final = 75_000
_NEVER_LOGGED_ON: Final = 0.08
_RULE_SHARE: Final = 0.15
_EXTERNAL_FORWARDERS: Final = 3
_FREEMAIL: Final = ("gmail.com", "outlook.com", "proton.me", "yahoo.com", "gmx.net")


def seed_mail(store: Store, tenant: Tenant, rng: random.Random) -> None:
    """Add this part of a freshly seeded tenant's content (deterministic for a given ``rng``)."""
    mailboxes = list(store.iter_mailboxes(tenant.id))
    if not mailboxes:
        return
    now = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    store.statistics.add_many(tenant.id, {m.id: _statistics(m.recipient_type_details, rng, now) for m in mailboxes})
    users = [m for m in mailboxes if m.recipient_type_details == "UserMailbox"]
    if not users:
        return
    _seed_rules(store, tenant, users, rng)
    _seed_settings(store, tenant, users, rng, now)


def _statistics(kind: str, rng: random.Random, now: datetime) -> MailboxStatistics:
    low, high = _SIZE_MB[kind]
    size = int(low * _MB * (high / low) ** rng.random())
    deleted_size = int(size * rng.uniform(0.0, 0.08))
    if kind == "UserMailbox" and rng.random() < _NEVER_LOGGED_ON:
        logon = action = None
    else:
        logon = now - timedelta(days=rng.uniform(0, 60), minutes=rng.randrange(1440))
        action = logon - timedelta(minutes=rng.randrange(0, 600))
    return MailboxStatistics(
        item_count=max(0, size // _AVERAGE_ITEM_BYTES + rng.randrange(0, 50)),
        total_item_size=size,
        deleted_item_count=deleted_size // _AVERAGE_ITEM_BYTES,
        total_deleted_item_size=deleted_size,
        last_logon_time=logon,
        last_user_action_time=action,
        last_interaction_time=action,
    )


def _seed_rules(store: Store, tenant: Tenant, users: list[Any], rng: random.Random) -> None:
    chosen = [m for m in users if rng.random() < _RULE_SHARE]
    external = set(rng.sample(range(len(chosen)), min(_EXTERNAL_FORWARDERS, len(chosen))))
    rules: list[tuple[int, NewInboxRule]] = []
    for i, mailbox in enumerate(chosen):
        pick = rng.choice(users)
        colleague = _participant(pick.primary_smtp_address, pick.display_name)
        own = _ordinary_rules(rng, colleague)
        if i in external:
            own.append(_external_rule(rng, mailbox))
        for priority, (name, props) in enumerate(own, start=1):
            identity = rng.randrange(1 << 40, 1 << 62)
            rules.append((mailbox.id, NewInboxRule(name, props, priority=priority, rule_identity=identity)))
    store.inbox_rules.add_many(tenant.id, rules)


def _participant(address: str, display_name: str | None = None) -> dict[str, str]:
    """A rule's recipient as stored: what Outlook shows as ``"Name" [SMTP:address]``."""
    return {"DisplayName": display_name or address, "Address": address, "RoutingType": "SMTP"}


def _ordinary_rules(rng: random.Random, colleague: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    options: list[tuple[str, dict[str, Any]]] = [
        (
            "Newsletters",
            {
                "SubjectContainsWords": ["newsletter", "digest"],
                "MoveToFolder": "Newsletters",
                "StopProcessingRules": True,
            },
        ),
        ("Invoices to finance", {"SubjectContainsWords": ["invoice"], "ForwardTo": [colleague]}),
        (
            "Build notifications",
            {
                "From": [_participant("builds@notifications.example.com")],
                "MoveToFolder": "Builds",
                "MarkAsRead": True,
            },
        ),
        ("Clean up spam", {"SubjectContainsWords": ["unsubscribe"], "DeleteMessage": True}),
    ]
    return rng.sample(options, rng.randint(1, 2))


def _external_rule(rng: random.Random, mailbox: Any) -> tuple[str, dict[str, Any]]:
    """A rule an audit should find: mail leaving the organisation through an inbox rule."""
    address = f"{mailbox.alias.lower()}{rng.randrange(70, 99)}@{rng.choice(_FREEMAIL)}"
    action = rng.choice(("ForwardTo", "RedirectTo", "ForwardAsAttachmentTo"))
    props: dict[str, Any] = {action: [_participant(address)]}
    if rng.random() < 0.5:
        props["SubjectContainsWords"] = ["invoice", "payment", "wire"]
    return rng.choice((".", "..", "Sync", "Forward")), props


def _seed_settings(store: Store, tenant: Tenant, users: list[Any], rng: random.Random, now: datetime) -> None:
    """Three mailboxes differ from the defaults (one update each, to stay fast): two have client
    access cut back and an automatic reply (one scheduled), one allows SMTP AUTH explicitly."""
    picked = rng.sample(users, min(3, len(users)))
    settings: list[dict[str, Any]] = [
        {"ActiveSyncEnabled": False, "PopEnabled": False, "ImapEnabled": False},
        {"PopEnabled": False},
        {"SmtpClientAuthenticationDisabled": False},
    ]
    for n, mailbox in enumerate(picked):
        props: dict[str, Any] = {CAS_PROPS: settings[n]}
        if n < 2:
            props[AUTO_REPLY_PROPS] = _auto_reply(mailbox, n == 0, now)
        store.update_recipient(tenant.id, mailbox.id, props)


def _auto_reply(mailbox: Any, scheduled: bool, now: datetime) -> dict[str, Any]:
    message = f"{mailbox.display_name} is out of the office and will reply on return."
    reply: dict[str, Any] = {
        "AutoReplyState": "Scheduled" if scheduled else "Enabled",
        "InternalMessage": message,
        "ExternalMessage": message,
        "ExternalAudience": "Known",
    }
    if scheduled:
        reply["StartTime"] = (now - timedelta(days=2)).isoformat()
        reply["EndTime"] = (now + timedelta(days=12)).isoformat()
    return reply
