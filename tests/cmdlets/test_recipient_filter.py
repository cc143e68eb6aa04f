"""-Filter over recipients: the SQL the store runs selects exactly what the filter means."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.exchange import common
from aobo.cmdlets.exchange.mailbox_object import MAILBOX_SHAPE, mailbox_factory
from aobo.cmdlets.filters import compile_filter, parse_filter
from aobo.cmdlets.parameters import StringType, UnlimitedType
from aobo.cmdlets.pipeline import CommandInvocation, Invocation, run_pipeline
from aobo.cmdlets.registry import CmdletDefinition, Parameter, Registry
from aobo.cmdlets.results import CmdletError, ExchangeObject, WarningRecord
from aobo.domain.models import MAILBOX_TYPES
from aobo.domain.schema import recipients


def _list(inv: Invocation) -> Any:
    for bound in inv.each():
        yield from common.list_recipients(inv, bound, mailbox_factory(inv.ctx.tenant), MAILBOX_TYPES)


LIST_THINGS = CmdletDefinition(
    name="Get-Thing",
    handler=_list,
    parameters=(
        Parameter("Filter", StringType()),
        Parameter("ResultSize", UnlimitedType(), default=common.DEFAULT_RESULT_SIZE),
    ),
    area="recipient",
)


def _run(ctx: CmdletContext, *params: tuple[str, Any]) -> list[Any]:
    return list(run_pipeline(ctx, Registry([LIST_THINGS]), [CommandInvocation("Get-Thing", list(params))]))


@pytest.fixture
def contoso(seeded_store: Any, tenant_ctx: Callable[..., CmdletContext]) -> CmdletContext:
    return tenant_ctx(seeded_store, "contoso", {"Organization Management"})


def _everything(ctx: CmdletContext) -> list[ExchangeObject]:
    make = mailbox_factory(ctx.tenant)
    return [make(r) for r in ctx.store.iter_mailboxes(ctx.tenant.id)]


FILTERS = (
    "Name -like 'a*'",
    "RecipientTypeDetails -eq 'SharedMailbox'",
    "RecipientTypeDetails -ne 'UserMailbox' -and HiddenFromAddressListsEnabled -eq $false",
    "Department -eq 'Sales'",
    "-not (Office -eq $null)",
    "CustomAttribute1 -ne $null -or Alias -like '*e*'",
    "GrantSendOnBehalfTo -ne $null",
    "EmailAddresses -like 'smtp:a*'",
    "WhenCreated -gt '01/01/2024' -and DisplayName -notlike '*Room*'",
    "{ RecipientTypeDetails -eq RoomMailbox }",
)


@pytest.mark.parametrize("text", FILTERS)
def test_filtered_listing_equals_the_filter_evaluated_on_every_object(contoso: CmdletContext, text: str) -> None:
    got = [o["Guid"] for o in _run(contoso, ("Filter", text), ("ResultSize", "Unlimited"))]
    properties = common._filterable(MAILBOX_SHAPE, True)
    compiled = compile_filter(parse_filter(text, properties), properties)
    if "Department" in text:
        # Not a Mailbox property: only SQL can say. Check against the stored props instead.
        wanted = [
            o["Guid"]
            for o, r in zip(_everything(contoso), contoso.store.iter_mailboxes(contoso.tenant.id), strict=True)
            if '"Department":"Sales"' in r.props
        ]
    else:
        wanted = [o["Guid"] for o in _everything(contoso) if compiled.matches(o)]
    assert got == wanted
    assert 0 < len(got) < 40 or text.startswith("GrantSendOnBehalfTo")


def test_result_size_counts_filtered_objects_and_warns(contoso: CmdletContext) -> None:
    out = _run(contoso, ("Filter", "RecipientTypeDetails -eq 'UserMailbox'"), ("ResultSize", 3))
    assert len([o for o in out if isinstance(o, ExchangeObject)]) == 3
    assert isinstance(out[-1], WarningRecord) and out[-1].message.startswith("There are more results available")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Name -eq", "Invalid filter syntax"),
        ("Nmae -eq 'x'", '"Nmae" is not a recognized filterable property.'),
        ("Name -contains 'x'", '"-contains" is not a valid operator.'),
    ],
)
def test_bad_filters_get_exchanges_errors(contoso: CmdletContext, text: str, message: str) -> None:
    with pytest.raises(CmdletError) as caught:
        _run(contoso, ("Filter", text))
    record = caught.value.record
    assert record.message.startswith("Cannot bind parameter 'Filter' to the target. Exception setting \"Filter\":")
    assert message in record.message
    assert record.fully_qualified_error_id.startswith("ParameterBindingFailed,Get-Thing")


def test_an_address_filter_is_sql_and_uses_the_address_index(contoso: CmdletContext) -> None:
    properties = common._with_addresses(common._filterable(MAILBOX_SHAPE, True), contoso.tenant.id)
    compiled = compile_filter(parse_filter("EmailAddresses -like 'smtp:adele*'", properties), properties)
    assert compiled.residual is None and compiled.sql is not None
    statement = sa.select(recipients.c.id).where(recipients.c.tenant_id == contoso.tenant.id, compiled.sql)
    sql = str(statement.compile(contoso.store.engine, compile_kwargs={"literal_binds": True}))
    with contoso.store.engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "SEARCH recipient_addresses USING INDEX" in plan and "SCAN" not in plan, plan
    assert [o["Alias"] for o in _run(contoso, ("Filter", "EmailAddresses -like 'smtp:adele*'"))] == ["AdeleV"]


def test_a_filter_on_an_indexed_property_uses_its_index(seeded_store: Any) -> None:
    properties = common._filterable(MAILBOX_SHAPE, True)
    compiled = compile_filter(parse_filter("Name -like 'adele*'", properties), properties)
    assert compiled.residual is None and compiled.sql is not None
    statement = sa.select(recipients.c.id).where(recipients.c.tenant_id == 1, compiled.sql)
    sql = str(statement.compile(seeded_store.engine, compile_kwargs={"literal_binds": True}))
    with seeded_store.engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "USING INDEX ix_recipients_tenant_id_lower_name" in plan, plan


_WORDS = st.sampled_from(["a", "e", "room", "sales", "contoso", "", "x*", "*a*", "Sales"])
_COMPARISONS = st.one_of(
    st.builds(
        lambda p, op, v: f"{p} {op} '{v}'",
        st.sampled_from(["Name", "Alias", "DisplayName", "Office", "CustomAttribute1", "PrimarySmtpAddress"]),
        st.sampled_from(["-eq", "-ne", "-like", "-notlike", "-lt", "-ge"]),
        _WORDS,
    ),
    st.builds(
        lambda op, v: f"HiddenFromAddressListsEnabled {op} {v}",
        st.sampled_from(["-eq", "-ne"]),
        st.sampled_from(["$true", "$false", "$null"]),
    ),
    st.builds(
        lambda op, v: f"EmailAddresses {op} '{v}'",
        st.sampled_from(["-eq", "-ne", "-like", "-notlike"]),
        st.sampled_from(
            ["smtp:a*", "SMTP:*", "*@contoso.com", "a*", "sm*", "x500:*", "adelev@contoso.com", "smtp:*onmicrosoft*"]
        ),
    ),
    st.builds(
        lambda op, v: f"RecipientTypeDetails {op} '{v}'",
        st.sampled_from(["-eq", "-ne"]),
        st.sampled_from(MAILBOX_TYPES),
    ),
)
_FILTERS = st.recursive(
    _COMPARISONS,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) -and ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) -or ({b})", inner, inner),
        st.builds(lambda a: f"-not ({a})", inner),
    ),
    max_leaves=5,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_FILTERS)
def test_sql_and_python_agree_on_random_filters(contoso: CmdletContext, text: str) -> None:
    got = [o["Guid"] for o in _run(contoso, ("Filter", text), ("ResultSize", "Unlimited"))]
    properties = common._with_addresses(common._filterable(MAILBOX_SHAPE, True), contoso.tenant.id)
    compiled = compile_filter(parse_filter(text, properties), properties)
    assert got == [o["Guid"] for o in _everything(contoso) if compiled.matches(o)]
