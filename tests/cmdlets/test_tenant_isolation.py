"""Cross-tenant isolation: whatever a session on one tenant runs, with whatever identities of another
tenant it names, it neither reads nor changes anything of the other tenant.

For random pairs (A, B) of seeded tenants and every cmdlet in the registry, the command runs in A
with B's identifiers (names, addresses, GUIDs, DNs of B's recipients) for each identity-like
parameter and plausible values for the rest, as an Organization Management admin of A with
-Confirm:$false. Then: no output object or record mentions B (its DNs, its recipients' GUIDs,
addresses or its tenant GUID), and every row belonging to B is exactly as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aobo.cmdlets import roles
from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.parameters import (
    BoolType,
    DateTimeType,
    EnumType,
    IdentityType,
    IntegerType,
    MultiValuedUpdate,
    SmtpAddressType,
    StringArrayType,
    SwitchType,
    UnlimitedType,
)
from aobo.cmdlets.pipeline import CommandInvocation, PipelineStopped, run_pipeline
from aobo.cmdlets.registry import CmdletDefinition, Parameter
from aobo.cmdlets.results import CmdletError, ExchangeObject, MultiValued
from aobo.domain.schema import metadata

TENANTS = ("contoso", "fabrikam", "tailspintoys", "woodgrove")
REGISTRY = default_registry()
CMDLETS = [d for d in REGISTRY if d.area != roles.BUILTIN]


def _tenant_rows(store: Any, tenant_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that belongs to the tenant, table by table."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            column = table.c.get("tenant_id") if table.name != "tenants" else table.c.id
            if column is None:
                continue
            rows = conn.execute(sa.select(table).where(column == tenant_id)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def _markers(store: Any, tenant: Any) -> list[str]:
    """Strings that only the tenant's own data contains."""
    found = [f"OU={tenant.initial_domain}".lower(), str(tenant.guid)]
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT guid FROM recipients WHERE tenant_id = :t"), {"t": tenant.id}).all()
    found += [r.guid for r in rows]
    return found


def _identifiers(store: Any, tenant: Any) -> list[str]:
    """What a caller might type to name the tenant's recipients."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT name, alias, primary_smtp_address, guid, distinguished_name, recipient_type_details "
                "FROM recipients WHERE tenant_id = :t ORDER BY id"
            ),
            {"t": tenant.id},
        ).all()
    values: list[str] = []
    for r in rows[:: max(1, len(rows) // 12)]:
        values += [r.name, r.alias, r.primary_smtp_address, r.guid, r.distinguished_name]
    # Folder identities and every recipient kind the tenant has, at least once.
    kinds: dict[str, Any] = {}
    for r in rows:
        kinds.setdefault(r.recipient_type_details, r)
    values += [k.primary_smtp_address for k in kinds.values()]
    values += [f"{rows[0].alias}:\\Calendar"] if rows else []
    return values


def plausible_value(p: Parameter, identity: str) -> Any:
    """A plausible value of the parameter's type; identity-like ones name the other tenant."""
    t = p.type
    if isinstance(t, IdentityType):
        return identity
    if isinstance(t, MultiValuedUpdate):
        return {"Add": [identity]}
    if isinstance(t, SwitchType):
        return None
    if isinstance(t, BoolType):
        return True
    if isinstance(t, UnlimitedType):
        return 5
    if isinstance(t, IntegerType):
        return 1
    if isinstance(t, EnumType):
        return next(iter(t.values))
    if isinstance(t, DateTimeType):
        return datetime.now(UTC)
    if isinstance(t, SmtpAddressType):
        return identity if "@" in identity else f"{identity}@example.com"
    if isinstance(t, StringArrayType):
        return [identity]
    return identity


def _arguments(d: CmdletDefinition, identity: str) -> list[tuple[str, Any]]:
    chosen = d.default_parameter_set
    args: list[tuple[str, Any]] = []
    for p in d.parameters:
        if p.common:
            continue
        in_set = p.in_set(chosen) if chosen != "__AllParameterSets" else p.in_all_sets or p.ever_mandatory
        wanted = p.mandatory_in(chosen) or (in_set and (isinstance(p.type, IdentityType) or p.name == "Identity"))
        if wanted:
            args.append((p.name, plausible_value(p, identity)))
    if d.writes:
        args.append(("Confirm", False))
    return args


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, ExchangeObject):
        for v in value.values:
            yield from _texts(v)
    elif isinstance(value, MultiValued | list | tuple):
        for v in value:
            yield from _texts(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _texts(k)
            yield from _texts(v)
    elif value is not None:
        yield str(value)


def _run(ctx: CmdletContext, d: CmdletDefinition, args: list[tuple[str, Any]]) -> list[str]:
    out: list[str] = []
    try:
        for item in run_pipeline(ctx, REGISTRY, [CommandInvocation(d.name, args)]):
            if isinstance(item, ExchangeObject):
                out.extend(_texts(item))
            else:
                out.append(json.dumps(getattr(item, "__dict__", str(item)), default=str))
    except CmdletError as e:
        out.append(e.record.message)
    except PipelineStopped:
        pass
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, seeded_db: str) -> Iterator[Any]:
    import shutil

    from aobo.domain.store import Store

    path = tmp_path_factory.mktemp("isolation") / "store.db"
    shutil.copyfile(seeded_db, path)
    store = Store.open(f"sqlite:///{path}")
    yield store
    store.close()


def _admin_context(store: Any, name: str) -> CmdletContext:
    t = store.resolve_tenant(f"{name}.onmicrosoft.com")
    caller = store.find_user("admin@northwindit.onmicrosoft.com")
    return CmdletContext(
        store=store,
        caller=caller,
        caller_tenant=store.resolve_tenant("northwindit.onmicrosoft.com"),
        tenant=t,
        roles=frozenset({roles.ORGANIZATION_MANAGEMENT}),
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pair=st.permutations(TENANTS).map(lambda p: (p[0], p[1])), pick=st.integers(min_value=0, max_value=10_000))
def test_no_cmdlet_reads_or_writes_another_tenant(world: Any, pair: tuple[str, str], pick: int) -> None:
    a, b = pair
    ctx = _admin_context(world, a)
    other = world.resolve_tenant(f"{b}.onmicrosoft.com")
    markers = [m.lower() for m in _markers(world, other)]
    identifiers = _identifiers(world, other)
    before = _tenant_rows(world, other.id)

    def leaks(text: str, typed: str = "") -> list[str]:
        # The identifier the caller typed may be echoed (a not-found message), and A may hold B's
        # strings that earlier commands of this test wrote into A (a contact named after B's GUID);
        # anything else of B in A's output is a leak.
        low = text.lower()
        found = [m for m in markers if m in low and m not in typed]
        if found:
            own = repr(_tenant_rows(world, ctx.tenant.id)).lower()
            found = [m for m in found if m not in own]
        return found

    for i, d in enumerate(CMDLETS):
        identity = identifiers[(pick + i) % len(identifiers)]
        for text in _run(ctx, d, _arguments(d, identity)):
            assert not leaks(text, identity.lower()), (d.name, identity, text[:300])
        # Listing cmdlets with no identity at all: nothing of B either.
        plain = [(n, v) for n, v in _arguments(d, identity) if not isinstance(d.parameter(n).type, IdentityType)]
        if not any(p.ever_mandatory for p in d.parameters if not p.common):
            for text in _run(ctx, d, plain):
                assert not leaks(text), (d.name, text[:300])
    assert _tenant_rows(world, other.id) == before
