"""Engine values as JSON: the fast writer (orjson) against the reference (``json.dumps`` of a plain
conversion), value for value after ``json.loads``, on generated values and on every object the seeded
world's listings return."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aobo.cmdlets.access import open_scope
from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.results import Dictionary, EnumValue, ExchangeObject, Int64, MultiValued, ObjectShape
from aobo.domain.seed import seed_demo
from aobo.domain.store import Store
from aobo.frontends.rest.values import JsonWriter, dumps_plain, plain, select, timespan_text

SHAPE = ObjectShape(("Test.Object", "System.Object"), ("Name", "Size", "When", "Tags", "Nested"))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(Int64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),  # lone surrogates and controls included
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    st.timedeltas(),
    st.uuids(),
    st.binary(max_size=40),
    st.builds(EnumValue, st.just(("Test.Kind", "System.Enum")), st.text(min_size=1, max_size=10), st.integers(0, 9)),
)


def _values(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.lists(children, max_size=4).map(lambda xs: MultiValued(tuple(xs))),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
        st.lists(st.tuples(st.text(max_size=8), children), max_size=4).map(lambda e: Dictionary(tuple(e))),
        st.lists(children, min_size=5, max_size=5).map(lambda vs: SHAPE.make(vs, to_string="x")),
    )


values = st.recursive(scalars, _values, max_leaves=20)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_fast_writer_equals_the_reference_value_for_value(value: Any) -> None:
    data = JsonWriter().dumps(value)
    assert json.loads(data) == json.loads(dumps_plain(value))


def test_value_forms() -> None:
    when = dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    guid = uuid.UUID("0b6b5d9c-3b49-4a3e-9d1a-6e1e2f3a4b5c")
    obj = SHAPE.make(["a\u00e9", Int64(2**40), when, MultiValued(("x", "y")), {"k": EnumValue(("E",), "Enabled", 1)}])
    assert plain(obj) == {
        "Name": "a\u00e9",
        "Size": 2**40,
        "When": "2024-05-01T06:30:00Z",
        "Tags": ["x", "y"],
        "Nested": {"k": "Enabled"},
    }
    assert plain(guid) == str(guid)
    assert plain(b"\x00\x01") == "AAE="
    assert plain(dt.datetime(2024, 1, 2, 3, 4, 5, 600)) == "2024-01-02T03:04:05.000600Z"
    assert plain(float("inf")) is None and plain(float("nan")) is None
    assert select(obj, ["tags", "name", "missing"]) == {"Tags": ["x", "y"], "Name": "a\u00e9"}


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (dt.timedelta(days=14), "14.00:00:00"),
        (dt.timedelta(hours=1, minutes=2, seconds=3), "01:02:03"),
        (dt.timedelta(seconds=1.5), "00:00:01.5000000"),
        (dt.timedelta(seconds=-1.5), "-00:00:01.5000000"),
        (dt.timedelta(days=-1), "-1.00:00:00"),
        (dt.timedelta(0), "00:00:00"),
        (dt.timedelta(days=30, microseconds=1), "30.00:00:00.0000010"),
    ],
)
def test_timespan_is_dotnet_text(delta: dt.timedelta, text: str) -> None:
    assert timespan_text(delta) == text


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("rest-values") / "aobo.db"
    s = Store.open(f"sqlite:///{path}")
    s.migrate()
    seed_demo(s)
    yield s
    s.close()


@pytest.mark.parametrize(
    "cmdlet",
    [
        "Get-Mailbox",
        "Get-Recipient",
        "Get-User",
        "Get-CASMailbox",
        "Get-DistributionGroup",
        "Get-OrganizationConfig",
        "Get-AcceptedDomain",
        "Get-MailboxStatistics",
        "Get-Command",
    ],
)
def test_fast_writer_on_real_objects(store: Store, cmdlet: str) -> None:
    user = store.find_user("admin@northwindit.onmicrosoft.com")
    assert user is not None
    scope = open_scope(store, user, "contoso.onmicrosoft.com")
    ctx = CmdletContext(store, scope.caller, scope.caller_tenant, scope.tenant, scope.roles)
    parameters: list[tuple[str | None, Any]] = [("ResultSize", "Unlimited")] if cmdlet != "Get-Command" else []
    if cmdlet == "Get-MailboxStatistics":
        parameters = [("Identity", next(iter_mailboxes(store, ctx)))]
    if cmdlet in ("Get-OrganizationConfig",):
        parameters = []
    objects = [
        o
        for o in run_pipeline(ctx, default_registry(), [CommandInvocation(cmdlet, parameters)])
        if isinstance(o, ExchangeObject)
    ]
    assert objects, cmdlet
    writer = JsonWriter()
    for obj in objects:
        assert json.loads(writer.dumps(obj)) == json.loads(dumps_plain(obj))


def iter_mailboxes(store: Store, ctx: CmdletContext) -> Iterator[str]:
    for o in run_pipeline(ctx, default_registry(), [CommandInvocation("Get-Mailbox", [("ResultSize", 1)])]):
        if isinstance(o, ExchangeObject):
            yield str(o["PrimarySmtpAddress"])
