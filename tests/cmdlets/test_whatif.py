"""-WhatIf on every write: each writing cmdlet, run with valid arguments and -WhatIf, says what it
would do and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from aobo.cmdlets import roles
from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.parameters import IdentityType, MultiValuedUpdate
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.registry import CmdletDefinition
from aobo.cmdlets.results import CmdletError, InformationalRecord
from aobo.domain.schema import metadata
from tests.cmdlets.test_tenant_isolation import plausible_value

REGISTRY = default_registry()
WRITERS = [d for d in REGISTRY if d.writes]
TENANT = "contoso"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, seeded_db: str) -> Iterator[Any]:
    import shutil

    from aobo.domain.store import Store

    path = tmp_path_factory.mktemp("whatif") / "store.db"
    shutil.copyfile(seeded_db, path)
    store = Store.open(f"sqlite:///{path}")
    yield store
    store.close()


def _snapshot(store: Any) -> dict[str, list[Any]]:
    with store.engine.connect() as conn:
        return {
            t.name: sorted(map(tuple, conn.execute(sa.select(t)).all()), key=repr)
            for t in metadata.sorted_tables
            if t.name != "audit_log"
        }


def _names(store: Any, tenant_id: int) -> dict[str, str]:
    """An existing object of each kind in the tenant, by the noun of the cmdlets that act on it."""
    with store.engine.connect() as conn:

        def one(sql: str) -> str:
            return str(conn.execute(sa.text(sql), {"t": tenant_id}).scalar_one())

        mailbox = one(
            "SELECT alias FROM recipients r WHERE tenant_id = :t AND recipient_type_details = 'UserMailbox' "
            "AND EXISTS (SELECT 1 FROM inbox_rules i WHERE i.mailbox_id = r.id) ORDER BY id LIMIT 1"
        )
        rule = one(
            "SELECT m.alias || '\\' || i.rule_identity FROM inbox_rules i JOIN recipients m ON m.id = i.mailbox_id "
            "WHERE i.tenant_id = :t ORDER BY i.id LIMIT 1"
        )
        return {
            "mailbox": mailbox,
            "Mailbox": mailbox,
            "CASMailbox": mailbox,
            "MailboxAutoReplyConfiguration": mailbox,
            "MailboxPermission": mailbox,
            "RecipientPermission": mailbox,
            "User": mailbox,
            "MailboxFolderPermission": f"{mailbox}:\\Calendar",
            "InboxRule": rule,
            "MailContact": one(
                "SELECT name FROM recipients WHERE tenant_id = :t AND recipient_type_details = 'MailContact' LIMIT 1"
            ),
            "DistributionGroup": one(
                "SELECT name FROM recipients WHERE tenant_id = :t "
                "AND recipient_type_details = 'MailUniversalDistributionGroup' ORDER BY id LIMIT 1"
            ),
            "TransportRule": one(
                "SELECT name FROM config_objects WHERE tenant_id = :t AND kind = 'TransportRule' ORDER BY id LIMIT 1"
            ),
            "AntiPhishPolicy": "Office365 AntiPhish Default",
            "member": one(
                "SELECT r.alias FROM group_members g JOIN recipients r ON r.id = g.member_id "
                "WHERE g.group_id = (SELECT id FROM recipients WHERE tenant_id = :t "
                "AND recipient_type_details = 'MailUniversalDistributionGroup' ORDER BY id LIMIT 1) "
                "ORDER BY r.id LIMIT 1"
            ),
            "other": one(
                "SELECT alias FROM recipients WHERE tenant_id = :t AND recipient_type_details = 'UserMailbox' "
                "ORDER BY id DESC LIMIT 1"
            ),
        }


def _arguments(d: CmdletDefinition, names: dict[str, str]) -> list[tuple[str, Any]]:
    noun = d.noun.removesuffix("Member") if d.noun == "DistributionGroupMember" else d.noun
    identity = names.get(noun, "Default")
    args: list[tuple[str, Any]] = []
    for p in d.parameters:
        if p.common or (not p.mandatory_in(d.default_parameter_set) and p.name != "Identity"):
            continue
        if p.name == "Identity":
            if noun in ("OrganizationConfig", "TransportConfig"):
                continue
            args.append(("Identity", identity))
        elif p.name == "Mailbox":
            args.append((p.name, names["mailbox"]))
        elif p.name == "Name":
            args.append((p.name, f"WhatIf {d.noun}"))
        elif isinstance(p.type, IdentityType | MultiValuedUpdate):
            args.append((p.name, names["other"]))
        else:
            args.append((p.name, plausible_value(p, f"whatif-{d.noun.lower()}@example.com")))
    given = {n for n, _ in args}
    if d.parameter("Mailbox") is not None and "Mailbox" not in given:
        args.append(("Mailbox", names["mailbox"]))
    if d.parameter("Member") is not None and "Member" not in given:
        args.append(("Member", names["member"]))
    if d.parameter("BypassSecurityGroupManagerCheck") is not None:
        args.append(("BypassSecurityGroupManagerCheck", None))  # partners are no group's managers
    if d.name == "New-RemoteDomain":
        args = [(n, "whatif.example.com" if n == "DomainName" else v) for n, v in args]
    if d.name in ("New-TransportRule", "New-InboxRule"):
        args.append(("DeleteMessage", True))  # a rule needs an action
    if d.noun == "OrganizationConfig":
        args.append(("MailTipsAllTipsEnabled", False))
    elif d.verb == "Set" and len(args) <= 1:
        settable = [p for p in d.parameters if not p.common and p.name not in {"Identity", "Mailbox"}]
        p = settable[0]
        args.append((p.name, plausible_value(p, "whatif")))
    return [*args, ("WhatIf", None)]


def test_every_write_honours_whatif(world: Any) -> None:
    tenant = world.resolve_tenant(f"{TENANT}.onmicrosoft.com")
    ctx = CmdletContext(
        store=world,
        caller=world.find_user("admin@northwindit.onmicrosoft.com"),
        caller_tenant=world.resolve_tenant("northwindit.onmicrosoft.com"),
        tenant=tenant,
        roles=frozenset({roles.ORGANIZATION_MANAGEMENT}),
    )
    names = _names(world, tenant.id)
    before = _snapshot(world)
    said: dict[str, str] = {}
    refused: dict[str, str] = {}
    for d in WRITERS:
        args = _arguments(d, names)
        try:
            out = list(run_pipeline(ctx, REGISTRY, [CommandInvocation(d.name, args)]))
        except CmdletError as e:
            refused[d.name] = e.record.message
            continue
        what_if = [r.message for r in out if isinstance(r, InformationalRecord) and r.message.startswith("What if: ")]
        if what_if:
            said[d.name] = what_if[0]
        else:
            refused[d.name] = repr(out)[:200]
        assert _snapshot(world) == before, (d.name, args)
    # Every writer got valid arguments from the table above, so all of them spoke, except the one
    # refusal that comes before ShouldProcess in Exchange too.
    assert set(refused) == {"Remove-RemoteDomain"}, refused
