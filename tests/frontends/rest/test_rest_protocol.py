"""The REST front end's sans-IO parts: routes and bodies, Prefer and anchors, error bodies, pages and
the cursor table (with a fake clock)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from aobo.cmdlets.access import SessionScope
from aobo.cmdlets.registry import CmdletDefinition, Registry
from aobo.cmdlets.results import CmdletError, ErrorCategory, ErrorRecord, ObjectShape, WarningRecord
from aobo.domain.models import Tenant, User
from aobo.frontends.oauth.bearer import BearerRejected
from aobo.frontends.rest import requests as rq
from aobo.frontends.rest.cursors import CursorTable
from aobo.frontends.rest.errors import RestError, error_body, error_id, from_record
from aobo.frontends.rest.pages import RunningCommand, render_objects, render_page
from aobo.frontends.rest.service import Call, RestService
from aobo.frontends.rest.values import JsonWriter

CONTOSO = Tenant(
    2,
    uuid.UUID("11111111-2222-3333-4444-555555555555"),
    "Contoso",
    "contoso.onmicrosoft.com",
    ("contoso.onmicrosoft.com", "contoso.com"),
)
PARTNER = Tenant(1, uuid.uuid4(), "Northwind", "northwindit.onmicrosoft.com", ("northwindit.onmicrosoft.com",))


def test_routes() -> None:
    assert rq.parse_route("/AdminApi/BETA/contoso.com/invokecommand") == rq.Route(
        "beta", "contoso.com", "invokecommand"
    )
    assert rq.parse_route("/adminapi/v1.0/x/EXOModuleFile").action == "exomodulefile"
    assert rq.parse_route("/adminapi/beta/x/$batch").action == "$batch"
    assert rq.parse_route("/adminapi/beta/x/%24batch").action == "$batch"
    for bad in ("/adminapi/v3/x/InvokeCommand", "/adminapi/beta/x/Mailbox", "/adminapi/beta/InvokeCommand"):
        with pytest.raises(RestError) as info:
            rq.parse_route(bad)
        assert info.value.status == 404


def test_invocation_keeps_parameter_order_and_values() -> None:
    payload = json.loads(
        '{"cmdletinput": {"cmdletname": " Set-Mailbox ", "parameters": {"Identity": "x", "WhatIf": true, '
        '"EmailAddresses": {"Add": ["a@b"]}, "ResultSize": "Unlimited"}}}'
    )
    inv = rq.parse_invocation(payload)
    assert inv.name == "Set-Mailbox"
    assert inv.parameters == [
        ("Identity", "x"),
        ("WhatIf", True),
        ("EmailAddresses", {"Add": ["a@b"]}),
        ("ResultSize", "Unlimited"),
    ]
    assert rq.parse_invocation({"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": None}}).parameters == []


def test_deeply_nested_json_is_a_clear_400() -> None:
    with pytest.raises(RestError) as info:
        rq.parse_json(b"[" * 100_000 + b"]" * 100_000)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("prefer", "expected"),
    [
        (None, (1000, False)),
        ("odata.maxpagesize=50", (50, True)),
        ("odata.maxpagesize = 1000;odata.continue-on-error", (1000, True)),
        ("odata.continue-on-error, odata.maxpagesize=7", (7, True)),
        ("return=minimal", (1000, False)),
        ("odata.maxpagesize=999999", (rq.MAX_PAGE_SIZE, True)),
    ],
)
def test_page_size(prefer: str | None, expected: tuple[int, bool]) -> None:
    assert rq.page_size(prefer) == expected


@pytest.mark.parametrize("prefer", ["odata.maxpagesize=0", "odata.maxpagesize=-3", "odata.maxpagesize=ten"])
def test_bad_page_size(prefer: str) -> None:
    with pytest.raises(RestError, match=r"odata\.maxpagesize must be a positive whole number"):
        rq.page_size(prefer)


def test_continue_on_error() -> None:
    assert rq.continue_on_error("odata.maxpagesize = 1000;odata.continue-on-error")
    assert not rq.continue_on_error("odata.maxpagesize=10")
    assert not rq.continue_on_error(None)


@pytest.mark.parametrize(
    "anchor",
    [
        None,
        "",
        "UPN:bob@contoso.com",
        "UPN:admin@northwindit.onmicrosoft.com",
        "SMTP:bob@CONTOSO.COM",
        "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@11111111-2222-3333-4444-555555555555",
        "app:fb78d390-0c51-40cd-8e17-fdbfab77341b@contoso.onmicrosoft.com",
        "OID:6d1c8b9e-1111-2222-3333-444444444444",
        "bob",
        "bob@contoso.com",
    ],
)
def test_anchor_accepted(anchor: str | None) -> None:
    rq.check_anchor(anchor, CONTOSO, PARTNER)


@pytest.mark.parametrize(
    ("anchor", "text"),
    [
        ("APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@fabrikam.onmicrosoft.com", "another organization"),
        ("UPN:someone@fabrikam.com", "another organization"),
        ("bob@fabrikam.com", "another organization"),
        ("UPN:nobody", "is not valid"),
        ("APP:@contoso.com", "is not valid"),
    ],
)
def test_anchor_refused(anchor: str, text: str) -> None:
    with pytest.raises(RestError, match=text) as info:
        rq.check_anchor(anchor, CONTOSO, PARTNER)
    assert info.value.status == 400


def test_error_body_fills_the_three_places_cipp_reads() -> None:
    record = ErrorRecord(
        "The operation couldn't be performed because object 'x' couldn't be found on 'DC1'.",
        "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
        "F0E3B5A3,Microsoft.Exchange.Management.RecipientTasks.GetMailbox",
        ErrorCategory.NotSpecified,
    )
    error = from_record(record)
    assert error.status == 400 and error.code == "NotFound"
    body = error_body(error, ["careful"])
    eid = error_id(record.fully_qualified_error_id)
    assert len(eid) == 8 and eid.startswith("Ex") and int(eid[2:], 16) >= 0
    assert eid == error_id(record.fully_qualified_error_id)  # stable
    assert body["error"]["message"] == "Error executing cmdlet"
    assert body["error"]["details"] == [
        {"code": "Client", "target": "", "message": f"{eid}|{record.exception_type}|{record.message}"}
    ]
    inner = body["error"]["innererror"]
    assert inner["type"] == "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"
    assert inner["internalexception"] == {"message": record.message, "type": record.exception_type, "stacktrace": ""}
    assert body["adminapi.warnings@odata.type"] == "#Collection(String)" and body["@adminapi.warnings"] == ["careful"]
    denied = ErrorRecord("no", "Microsoft.Exchange.Configuration.Tasks.CmdletAccessDeniedException", "x,Set-X")
    assert from_record(denied).status == 403


SHAPE = ObjectShape(("T",), ("N",))


def _command(items: list[Any], ended: list[str | None]) -> RunningCommand:
    def gen() -> Iterator[Any]:
        yield from items

    return RunningCommand("Get-Thing", gen(), ended.append)


def test_pages_look_ahead_and_collect_warnings() -> None:
    ended: list[str | None] = []
    objs = [SHAPE.make((i,)) for i in range(5)]
    cmd = _command([objs[0], WarningRecord("w1"), objs[1], objs[2], objs[3], WarningRecord("w2"), objs[4]], ended)
    first = cmd.next_page(2)
    assert [o["N"] for o in first.objects] == [0, 1] and first.warnings == ["w1"] and first.more
    second = cmd.next_page(2)
    # A warning read while looking ahead belongs to the page being answered.
    assert [o["N"] for o in second.objects] == [2, 3] and second.warnings == ["w2"] and second.more and not ended
    third = cmd.next_page(2)
    assert [o["N"] for o in third.objects] == [4] and third.warnings == [] and not third.more
    assert ended == [None]
    exact = _command(objs[:2], ended := [])
    page = exact.next_page(2)
    assert len(page.objects) == 2 and not page.more and ended == [None]  # no empty last page


def test_error_record_fails_the_page_and_ends_the_command() -> None:
    ended: list[str | None] = []
    record = ErrorRecord("bad", "System.ArgumentException", "Bad,Get-Thing")
    cmd = _command([SHAPE.make((1,)), WarningRecord("first"), record, SHAPE.make((2,))], ended)
    with pytest.raises(RestError) as info:
        cmd.next_page(10)
    assert info.value.message == "bad" and ended == ["bad"]
    assert error_body(info.value)["@adminapi.warnings"] == ["first"]

    def terminating() -> Iterator[Any]:
        raise CmdletError(record)
        yield

    cmd = RunningCommand("Get-Thing", terminating(), ended.append)
    with pytest.raises(RestError):
        cmd.next_page(1)
    assert ended[-1] == "bad"


def test_prefetch_reads_ahead_without_changing_pages() -> None:
    ended: list[str | None] = []
    objs = [SHAPE.make((i,)) for i in range(7)]
    cmd = _command([objs[0], objs[1], objs[2], WarningRecord("w"), *objs[3:]], ended)
    first = cmd.next_page(3)
    cmd.prefetch(3, None, JsonWriter())
    cmd.prefetch(3, None, JsonWriter())  # idempotent: the next page is already buffered
    second = cmd.next_page(3)
    # Rendered ahead, and the same bytes as rendering now; another page size or $select renders anew.
    assert second.rendered is not None
    assert second.rendered == render_page_value(second)
    third = cmd.next_page(3)
    assert third.rendered is None
    assert [[o["N"] for o in p.objects] for p in (first, second, third)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert first.warnings == ["w"] and first.more and second.more and not third.more  # read in the look-ahead
    assert ended == [None]
    cmd.prefetch(3, None, JsonWriter())  # after the end: nothing happens
    assert ended == [None]


def render_page_value(page: Any) -> bytes:
    return render_objects(page.objects, JsonWriter(), None)


def test_read_ahead_rendering_is_used_only_for_the_same_page() -> None:
    objs = [SHAPE.make((i,)) for i in range(10)]
    cmd = _command(objs, [])
    cmd.next_page(2)
    cmd.prefetch(2, ["n"], JsonWriter())
    assert cmd.next_page(2, ["N"]).rendered == b'[{"N":2},{"N":3}]'
    cmd.prefetch(2, None, JsonWriter())
    assert cmd.next_page(3).rendered is None  # another size
    cmd.prefetch(2, None, JsonWriter())
    assert cmd.next_page(2, ["N"]).rendered is None  # another $select


def test_failures_met_while_prefetching_fail_the_next_page() -> None:
    ended: list[str | None] = []
    record = ErrorRecord("bad", "System.ArgumentException", "Bad,Get-Thing")
    cmd = _command([SHAPE.make((1,)), SHAPE.make((2,)), SHAPE.make((3,)), record], ended)
    assert len(cmd.next_page(1).objects) == 1
    cmd.prefetch(5, None, JsonWriter())
    with pytest.raises(RestError) as info:
        cmd.next_page(5)
    assert info.value.status == 400 and info.value.message == "bad" and ended == ["bad"]

    def broken() -> Iterator[Any]:
        yield SHAPE.make((1,))
        yield SHAPE.make((2,))
        raise RuntimeError("disk on fire")

    cmd = RunningCommand("Get-Thing", broken(), ended.append)
    assert cmd.next_page(1).more
    cmd.prefetch(1, None, JsonWriter())
    # The page already read is not offered as the last one: the failure is the answer.
    with pytest.raises(RestError) as info:
        cmd.next_page(5)
    assert info.value.status == 500 and "disk on fire" not in info.value.message
    assert ended[-1] == "RuntimeError: disk on fire"


def test_render_page() -> None:
    page = _command([SHAPE.make(("x",))], []).next_page(5)
    body = json.loads(render_page("ctx", page, JsonWriter(), None, "https://h/next"))
    assert body == {
        "@odata.context": "ctx",
        "adminapi.warnings@odata.type": "#Collection(String)",
        "@adminapi.warnings": [],
        "value": [{"N": "x"}],
        "@odata.nextLink": "https://h/next",
    }
    selected = json.loads(render_page("ctx", page, JsonWriter(), ["n", "other"], None))
    assert selected["value"] == [{"N": "x"}] and "@odata.nextLink" not in selected


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cursor_table_owner_ttl_and_caps() -> None:
    clock = Clock()
    table = CursorTable(ttl=10, per_owner=2, total=3, clock=clock)
    ended: list[str | None] = []
    alice, bob = (1, 2), (7, 2)
    t1 = table.put(alice, _command([], ended))
    with pytest.raises(RestError, match="is not known"):
        table.take(bob, t1)
    assert table.take(alice, t1) is not None
    with pytest.raises(RestError, match="already used"):
        table.take(alice, t1)
    # Expiry: the command is closed and the token is reported expired, not unknown.
    t2 = table.put(alice, _command([], ended))
    clock.now = 11
    with pytest.raises(RestError, match="has expired"):
        table.take(alice, t2)
    assert ended and ended[-1] == "The command's page token expired."
    t3 = table.put(alice, _command([], ended))
    clock.now = 30
    assert table.expire() == 1 and len(table) == 0
    with pytest.raises(RestError, match="has expired"):
        table.take(alice, t3)
    # Per-owner cap: the owner's oldest goes.
    a1, a2, a3 = (table.put(alice, _command([], ended)) for _ in range(3))
    with pytest.raises(RestError, match="has expired"):
        table.take(alice, a1)
    # A full table refuses the newcomer (503, its command closed) and keeps everyone else's.
    b1 = table.put(bob, _command([], ended))
    with pytest.raises(RestError, match="too many unread listings") as full:
        table.put((9, 2), _command([], ended))
    assert full.value.status == 503 and full.value.headers["Retry-After"] == "5"
    assert ended[-1] == "The service held too many unread listings."
    assert len(table) == 3
    assert table.take(alice, a2) and table.take(alice, a3) and table.take(bob, b1)
    # Per-caller cap across tenants: a caller's listings in many tenants evict its own oldest only.
    wide = CursorTable(ttl=10, per_owner=8, per_caller=2, total=10, clock=clock)
    other = wide.put(bob, _command([], ended))
    first, *_ = (wide.put((1, tenant), _command([], ended)) for tenant in range(3))
    with pytest.raises(RestError, match="has expired"):
        wide.take((1, 0), first)
    assert wide.take(bob, other)
    tokens = {table.put(alice, _command([], ended)) for _ in range(2)}
    assert all(len(t) >= 32 for t in tokens)
    table.close_all()
    assert len(table) == 0


def test_www_authenticate_is_header_safe() -> None:
    rejected = BearerRejected("tenant", "The organization 'a\"b\r\nX-Injected: 1' is not known.")
    header = rejected.www_authenticate
    assert "\r" not in header and "\n" not in header and header.count('"') == 6
    assert header.startswith('Bearer realm="", error="invalid_token", error_description="')


class _Store:
    """Just what RestService asks the store for: tenants by name, and the audit log."""

    def __init__(self) -> None:
        self.audit: list[Any] = []

    def resolve_tenant(self, name: str) -> Tenant | None:
        return CONTOSO if name.lower() in CONTOSO.domains else None

    def write_audit(self, entry: Any) -> None:
        self.audit.append(entry)


class _Bearer:
    def scope(self, token: str, tenant: Tenant) -> SessionScope:
        if token != "good":
            raise BearerRejected("signature")
        caller = User(
            5, PARTNER.id, uuid.uuid4(), "admin@northwindit.onmicrosoft.com", "Admin", True, frozenset(), False
        )
        return SessionScope(caller, PARTNER, tenant, frozenset({"Organization Management"}))


def _boom(inv: Any) -> Iterator[Any]:
    yield SHAPE.make(("first",))
    raise RuntimeError("secret internal detail /srv/aobo/db.py line 42")


def test_service_unexpected_failure_is_500_without_internals(caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry()
    registry.register(CmdletDefinition("Get-Boom", _boom, area="builtin"))
    store = _Store()
    service = RestService(store, registry, _Bearer())  # type: ignore[arg-type]
    call = Call(
        "POST",
        "/adminapi/beta/contoso.com/InvokeCommand",
        [],
        {"authorization": "Bearer good"},
        "https://h",
        body=b'{"CmdletInput": {"CmdletName": "Get-Boom"}}',
    )
    reply = service.handle(call)
    assert reply.status == 500
    text = reply.body.decode()
    assert "secret" not in text and "Traceback" not in text
    assert "internal error in the service (RuntimeError)" in json.loads(text)["error"]["message"]
    assert "secret internal detail" in caplog.text  # logged for the operator
    assert [e.cmdlet for e in store.audit] == ["Get-Boom"] and not store.audit[0].succeeded
    # The service keeps answering, and a bad token is a 401 in the same shape.
    bad = service.handle(Call("POST", call.path, [], {"authorization": "Bearer bad"}, "https://h", body=call.body))
    assert bad.status == 401 and "WWW-Authenticate" in bad.headers
