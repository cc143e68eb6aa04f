from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from aobo.domain import passwords
from aobo.domain.errors import AlreadyExists, NotFound, ProxyAddressConflict
from aobo.domain.models import MAILBOX_DEFAULT_PROPS, AuditEntry, NewMailbox, Tenant
from aobo.domain.schema import recipient_addresses, users
from aobo.domain.store import AUTH_FAILED_MESSAGE, DN_SUFFIX, REDACTED, Store
from aobo.errors import AuthenticationFailed

PASSWORD = "Correct-Horse-9!"


def _contoso(store: Store) -> Tenant:
    return store.create_tenant("contoso", accepted_domains=["Contoso.com", "contoso.co.uk"])


def _people(*aliases: str, **fields: object) -> list[NewMailbox]:
    return [NewMailbox(name=a, alias=a, display_name=f"{a} Person", **fields) for a in aliases]  # type: ignore[arg-type]


def _address_rows(store: Store, recipient_id: int | None = None) -> list[tuple[str, str]]:
    stmt = sa.select(recipient_addresses.c.prefix, recipient_addresses.c.address_lower)
    if recipient_id is not None:
        stmt = stmt.where(recipient_addresses.c.recipient_id == recipient_id)
    with store.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(stmt))


# -- tenants ---------------------------------------------------------------------------------------


def test_create_tenant_domains_and_default(store: Store) -> None:
    t = _contoso(store)
    assert t.name == "contoso"
    assert t.initial_domain == "contoso.onmicrosoft.com"
    assert t.domains == ("contoso.onmicrosoft.com", "contoso.com", "contoso.co.uk")
    assert t.default_domain == "contoso.com"
    assert store.get_tenant(t.id) == t
    bare = store.create_tenant("Fabrikam")
    assert bare.name == "fabrikam"
    assert bare.domains == ("fabrikam.onmicrosoft.com",)
    assert bare.default_domain == "fabrikam.onmicrosoft.com"
    assert [x.name for x in store.list_tenants()] == ["contoso", "fabrikam"]


@pytest.mark.parametrize(
    "ref",
    ["contoso.onmicrosoft.com", "CONTOSO.OnMicrosoft.com", "contoso.com", "Contoso.COM", " contoso.co.uk "],
)
def test_resolve_tenant_by_any_accepted_domain(store: Store, ref: str) -> None:
    t = _contoso(store)
    store.create_tenant("fabrikam")
    assert store.resolve_tenant(ref) == t


def test_resolve_tenant_by_guid(store: Store) -> None:
    guid = uuid.UUID("6babcaad-604b-40ac-a9d7-9fd97c0b779f")
    t = store.create_tenant("contoso", guid=guid)
    assert store.resolve_tenant(str(guid)) == t
    assert store.resolve_tenant(str(guid).upper()) == t
    assert store.resolve_tenant("{" + str(guid) + "}") == t


@pytest.mark.parametrize(
    "ref", ["nowhere.onmicrosoft.com", "contoso", "", str(uuid.uuid4()), "contoso.com.evil.example"]
)
def test_resolve_unknown_tenant(store: Store, ref: str) -> None:
    _contoso(store)
    assert store.resolve_tenant(ref) is None


def test_tenant_errors(store: Store) -> None:
    _contoso(store)
    with pytest.raises(AlreadyExists):
        store.create_tenant("contoso")
    with pytest.raises(AlreadyExists):
        store.create_tenant("other", accepted_domains=["CONTOSO.com"])
    with pytest.raises(ValueError):
        store.create_tenant("not a name")
    with pytest.raises(ValueError):
        store.create_tenant("other", accepted_domains=["no_dots"])
    with pytest.raises(NotFound):
        store.get_tenant(999)
    # The failed creations left nothing behind.
    assert [t.name for t in store.list_tenants()] == ["contoso"]


# -- users and authentication --------------------------------------------------------------------


def test_create_and_find_user(store: Store) -> None:
    t = _contoso(store)
    u = store.create_user(t.id, "Admin@Contoso.com", "Admin", PASSWORD, role_groups=["Organization Management"])
    assert u.user_principal_name == "Admin@Contoso.com"
    assert u.role_groups == frozenset({"Organization Management"})
    assert u.remote_powershell_enabled and not u.locked_out
    assert store.find_user("admin@contoso.COM") == u
    assert store.find_user("nobody@contoso.com") is None


def test_password_is_stored_as_argon2id_only(store: Store) -> None:
    t = _contoso(store)
    store.create_user(t.id, "admin@contoso.com", "Admin", PASSWORD)
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(users)).one()
    assert row.password_hash.startswith("$argon2id$")
    assert all(PASSWORD not in str(value) for value in row)


def test_user_errors(store: Store) -> None:
    t = _contoso(store)
    store.create_user(t.id, "admin@contoso.com", "Admin", PASSWORD)
    with pytest.raises(AlreadyExists):
        store.create_user(t.id, "ADMIN@contoso.com", "Admin again", PASSWORD)
    with pytest.raises(ValueError):
        store.create_user(t.id, "admin@fabrikam.com", "Not our domain")
    with pytest.raises(ValueError):
        store.create_user(t.id, "x@contoso.com", "Both", PASSWORD, password_hash="$argon2id$...")
    with pytest.raises(NotFound):
        store.set_remote_powershell_enabled(999, False)
    with pytest.raises(NotFound):
        store.unlock_user(999)


def test_create_user_with_ready_hash(store: Store) -> None:
    t = _contoso(store)
    store.create_user(t.id, "a@contoso.com", "A", password_hash=passwords.hash_password(PASSWORD))
    assert store.authenticate("a@contoso.com", PASSWORD).user_principal_name == "a@contoso.com"


def test_authenticate_success_and_failures_share_one_message(store: Store) -> None:
    t = _contoso(store)
    u = store.create_user(t.id, "admin@contoso.com", "Admin", PASSWORD, role_groups=["Help Desk"])
    store.create_user(t.id, "nopass@contoso.com", "No password")
    assert store.authenticate("ADMIN@contoso.com", PASSWORD) == u
    messages = set()
    for upn, password in [
        ("admin@contoso.com", "wrong"),
        ("nobody@contoso.com", PASSWORD),
        ("nopass@contoso.com", ""),
        ("admin@contoso.com", ""),
    ]:
        with pytest.raises(AuthenticationFailed) as info:
            store.authenticate(upn, password)
        messages.add(str(info.value))
    assert messages == {AUTH_FAILED_MESSAGE}


def test_unknown_user_still_costs_a_verify(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = passwords.verify_password

    def spy(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", spy)
    with pytest.raises(AuthenticationFailed):
        store.authenticate("ghost@nowhere.com", PASSWORD)
    assert calls == [passwords.dummy_hash()]


def test_lockout_after_threshold(store: Store) -> None:
    t = _contoso(store)
    u = store.create_user(t.id, "admin@contoso.com", "Admin", PASSWORD)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            store.authenticate("admin@contoso.com", "wrong", lockout_threshold=3)
    found = store.find_user("admin@contoso.com")
    assert found is not None and found.locked_out
    # The right password no longer helps, and the text does not give the lock away.
    with pytest.raises(AuthenticationFailed, match=f"^{AUTH_FAILED_MESSAGE}$"):
        store.authenticate("admin@contoso.com", PASSWORD, lockout_threshold=3)
    store.unlock_user(u.id)
    assert not store.authenticate("admin@contoso.com", PASSWORD, lockout_threshold=3).locked_out


def test_lockout_ends_after_its_duration(store: Store) -> None:
    t = _contoso(store)
    store.create_user(t.id, "admin@contoso.com", "Admin", PASSWORD)
    window = dt.timedelta(seconds=1)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            store.authenticate("admin@contoso.com", "wrong", lockout_threshold=3, lockout_duration=window)
    with pytest.raises(AuthenticationFailed):
        store.authenticate("admin@contoso.com", PASSWORD, lockout_threshold=3, lockout_duration=window)
    time.sleep(1.2)
    found = store.find_user("admin@contoso.com")
    assert found is not None and not found.locked_out
    # After the window a wrong password counts from one again: two more do not lock.
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            store.authenticate("admin@contoso.com", "wrong", lockout_threshold=3, lockout_duration=window)
    user = store.authenticate("admin@contoso.com", PASSWORD, lockout_threshold=3, lockout_duration=window)
    assert not user.locked_out
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(users.c.failed_logins, users.c.locked_until, users.c.locked_out)).one()
    assert (row.failed_logins, row.locked_until, row.locked_out) == (0, None, False)


def test_success_resets_failure_count(store: Store) -> None:
    t = _contoso(store)
    store.create_user(t.id, "admin@contoso.com", "Admin", PASSWORD)
    for _ in range(2):
        for _ in range(2):
            with pytest.raises(AuthenticationFailed):
                store.authenticate("admin@contoso.com", "wrong", lockout_threshold=3)
        store.authenticate("admin@contoso.com", PASSWORD, lockout_threshold=3)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(users.c.failed_logins)).scalar_one() == 0


def test_concurrent_failures_are_all_counted(store: Store) -> None:
    t = _contoso(store)
    store.create_user(t.id, "admin@contoso.com", "Admin", PASSWORD)
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            store.authenticate("admin@contoso.com", "wrong", lockout_threshold=100)
        except AuthenticationFailed:
            pass
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(users.c.failed_logins)).scalar_one() == 8


def test_rehash_of_weaker_hash_on_login(store: Store) -> None:
    from argon2 import PasswordHasher

    t = _contoso(store)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    store.create_user(t.id, "a@contoso.com", "A", password_hash=weak)
    store.authenticate("a@contoso.com", PASSWORD)
    with store.engine.connect() as conn:
        new_hash = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert new_hash != weak and not passwords.needs_rehash(new_hash)
    assert store.authenticate("a@contoso.com", PASSWORD)


def test_remote_powershell_flag(store: Store) -> None:
    t = _contoso(store)
    u = store.create_user(t.id, "a@contoso.com", "A", PASSWORD, remote_powershell_enabled=False)
    assert not u.remote_powershell_enabled
    store.set_remote_powershell_enabled(u.id, True)
    found = store.find_user("a@contoso.com")
    assert found is not None and found.remote_powershell_enabled


# -- partner relationships -------------------------------------------------------------------------


def test_relationship_lifecycle(store: Store) -> None:
    partner = store.create_tenant("northwindit")
    contoso = _contoso(store)
    fabrikam = store.create_tenant("fabrikam")
    assert store.relationship(partner.id, contoso.id) is None

    rel = store.create_relationship(partner.id, contoso.id)
    assert (rel.kind, rel.state, rel.removed) == ("DAP", "active", None)
    assert rel.created.tzinfo is not None
    assert store.create_relationship(partner.id, contoso.id) == rel  # idempotent
    assert store.relationship(partner.id, contoso.id) == rel
    assert store.relationship(contoso.id, partner.id) is None  # direction matters
    store.create_relationship(partner.id, fabrikam.id)
    assert [t.name for t, _ in store.customers_of(partner.id)] == ["contoso", "fabrikam"]

    store.remove_relationship(rel.id)
    assert store.relationship(partner.id, contoso.id) is None
    assert [t.name for t, _ in store.customers_of(partner.id)] == ["fabrikam"]

    again = store.create_relationship(partner.id, contoso.id)
    assert again.id == rel.id and again.state == "active" and again.removed is None
    assert store.customers_of(contoso.id) == []


def test_relationship_errors(store: Store) -> None:
    partner = store.create_tenant("northwindit")
    with pytest.raises(ValueError):
        store.create_relationship(partner.id, partner.id)
    with pytest.raises(ValueError):
        store.create_relationship(partner.id, 999, kind="GDAP")
    with pytest.raises(NotFound):
        store.create_relationship(partner.id, 999)
    with pytest.raises(NotFound):
        store.remove_relationship(999)


# -- mailboxes: adding and listing ---------------------------------------------------------------


def test_add_mailbox_derives_exchange_fields(store: Store) -> None:
    t = _contoso(store)
    before = datetime.now(UTC)
    count = store.add_mailboxes(
        t.id,
        [
            NewMailbox(
                name="Smith, Jo",
                alias="jsmith",
                display_name="Jo Smith",
                first_name="Jo",
                last_name="Smith",
                extra_addresses=[
                    "jo.smith@contoso.co.uk",
                    "SIP:jsmith@contoso.com",
                    "smtp:JSMITH@contoso.onmicrosoft.com",
                ],
                props={"Office": "12/1101", "RecipientLimits": 500, "GrantSendOnBehalfTo": []},
            )
        ],
    )
    assert count == 1
    (row,) = store.iter_mailboxes(t.id)
    assert row.recipient_type == "UserMailbox" and row.recipient_type_details == "UserMailbox"
    assert row.user_principal_name == "jsmith@contoso.onmicrosoft.com"
    assert row.primary_smtp_address == "jsmith@contoso.com"
    assert json.loads(row.email_addresses) == [
        "SMTP:jsmith@contoso.com",
        "smtp:jsmith@contoso.onmicrosoft.com",
        "smtp:jo.smith@contoso.co.uk",
        "SIP:jsmith@contoso.com",
    ]
    assert row.distinguished_name == f"CN=Smith\\, Jo,OU=contoso.onmicrosoft.com,{DN_SUFFIX}"
    props = json.loads(row.props)
    # Values equal to the defaults are not stored.
    assert set(props) == {"Office", "WhenMailboxCreated"}
    assert datetime.fromisoformat(props["WhenMailboxCreated"]) == row.when_created
    for value in (row.guid, row.exchange_guid, row.external_directory_object_id):
        assert str(uuid.UUID(value)) == value
    assert row.when_created.tzinfo is not None and row.when_created >= before - timedelta(seconds=1)
    assert _address_rows(store, row.id) == [
        ("sip", "jsmith@contoso.com"),
        ("smtp", "jo.smith@contoso.co.uk"),
        ("smtp", "jsmith@contoso.com"),
        ("smtp", "jsmith@contoso.onmicrosoft.com"),
    ]


def test_mailbox_defaults_are_read_only() -> None:
    assert MAILBOX_DEFAULT_PROPS["ProhibitSendQuota"] == "99 GB (106,300,440,576 bytes)"
    assert MAILBOX_DEFAULT_PROPS["UseDatabaseQuotaDefaults"] is False
    assert MAILBOX_DEFAULT_PROPS["CustomAttribute15"] == ""
    with pytest.raises(TypeError):
        MAILBOX_DEFAULT_PROPS["RecipientLimits"] = 1  # type: ignore[index]


def test_resource_mailboxes(store: Store) -> None:
    t = _contoso(store)
    store.add_mailboxes(
        t.id,
        [
            NewMailbox("Room 1", "room1", "Room 1", recipient_type_details="RoomMailbox"),
            NewMailbox("Car", "car", "Car", recipient_type_details="EquipmentMailbox"),
        ],
    )
    room, car = store.iter_mailboxes(t.id)
    assert room.recipient_type == car.recipient_type == "UserMailbox"
    assert json.loads(room.props)["ResourceType"] == "Room"
    assert json.loads(car.props)["ResourceType"] == "Equipment"


@pytest.mark.parametrize(
    "bad",
    [
        NewMailbox("x", "has space", "x"),
        NewMailbox("x", "a@b", "x"),
        NewMailbox("", "x", "x"),
        NewMailbox("x", "x", "x", recipient_type_details="LinkedMailbox"),
        NewMailbox("x", "x", "x", recipient_type_details="MailContact"),
        NewMailbox("x", "x", "x", primary_smtp_address="no-at-sign"),
        NewMailbox("x", "x", "x", extra_addresses=["SMTP:second-primary@contoso.com"]),
        NewMailbox("x", "x", "x", props={"DisplayName": "belongs in its column"}),
    ],
)
def test_add_mailboxes_rejects_bad_input_and_writes_nothing(store: Store, bad: NewMailbox) -> None:
    t = _contoso(store)
    with pytest.raises(ValueError):
        store.add_mailboxes(t.id, [*_people("ok1", "ok2"), bad])
    assert store.count_mailboxes(t.id) == 0


@pytest.fixture
def listing(store: Store) -> tuple[Store, Tenant]:
    t = _contoso(store)
    other = store.create_tenant("fabrikam")
    kinds = ["UserMailbox", "SharedMailbox", "RoomMailbox", "UserMailbox", "EquipmentMailbox"]
    store.add_mailboxes(
        t.id,
        [NewMailbox(f"m{i:02d}", f"m{i:02d}", f"M {i}", recipient_type_details=kinds[i % 5]) for i in range(23)],
    )
    store.add_mailboxes(other.id, _people("m00", "m01"))  # same aliases, other tenant
    return store, t


@pytest.mark.parametrize("batch_size", [1, 2, 5, 22, 23, 24, 1000])
def test_iter_mailboxes_in_id_order_across_batches(listing: tuple[Store, Tenant], batch_size: int) -> None:
    store, t = listing
    rows = list(store.iter_mailboxes(t.id, batch_size=batch_size))
    assert [r.alias for r in rows] == [f"m{i:02d}" for i in range(23)]
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert {r.tenant_id for r in rows} == {t.id}


@pytest.mark.parametrize(("limit", "batch_size"), [(0, 5), (1, 5), (5, 5), (10, 5), (7, 3), (30, 4)])
def test_iter_mailboxes_limit(listing: tuple[Store, Tenant], limit: int, batch_size: int) -> None:
    store, t = listing
    rows = list(store.iter_mailboxes(t.id, limit=limit, batch_size=batch_size))
    assert [r.alias for r in rows] == [f"m{i:02d}" for i in range(min(limit, 23))]


def test_iter_mailboxes_type_filter(listing: tuple[Store, Tenant]) -> None:
    store, t = listing
    users_ = list(store.iter_mailboxes(t.id, recipient_type_details=["UserMailbox"], batch_size=2))
    assert [r.alias for r in users_] == [f"m{i:02d}" for i in range(23) if i % 5 in (0, 3)]
    rooms_and_shared = list(store.iter_mailboxes(t.id, recipient_type_details=["RoomMailbox", "SharedMailbox"]))
    assert {r.recipient_type_details for r in rooms_and_shared} == {"RoomMailbox", "SharedMailbox"}
    assert len(rooms_and_shared) == 10
    assert list(store.iter_mailboxes(t.id, recipient_type_details=[])) == []
    assert store.count_mailboxes(t.id) == 23
    assert store.count_mailboxes(t.id, recipient_type_details=["UserMailbox"]) == len(users_)
    assert store.count_mailboxes(t.id, recipient_type_details=["EquipmentMailbox"]) == 4


def test_iter_mailboxes_holds_no_connection_between_batches(listing: tuple[Store, Tenant]) -> None:
    store, t = listing
    it = store.iter_mailboxes(t.id, batch_size=5)
    next(it)
    assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert len(list(it)) == 22


def test_iter_mailboxes_argument_checks(store: Store) -> None:
    with pytest.raises(ValueError):
        store.iter_mailboxes(1, batch_size=0)
    with pytest.raises(ValueError):
        store.iter_mailboxes(1, limit=-1)


# -- find_recipients -------------------------------------------------------------------------------


@pytest.fixture
def directory(store: Store) -> tuple[Store, Tenant]:
    t = _contoso(store)
    store.add_mailboxes(
        t.id,
        [
            NewMailbox(
                "AlexW",
                "AlexW",
                "Alex Wilber",
                "Alex",
                "Wilber",
                extra_addresses=[
                    "smtp:alex.wilber@contoso.co.uk",
                    "SIP:alexw@contoso.com",
                    "X500:/o=Contoso/cn=AlexW",
                ],
            ),
            NewMailbox("AWilber", "AWilber", "Alex Wilber", "Alex", "Wilber", user_principal_name="aw@contoso.com"),
            NewMailbox("Sales Team", "sales", "Sales", recipient_type_details="SharedMailbox"),
        ],
    )
    other = store.create_tenant("fabrikam")
    store.add_mailboxes(other.id, [NewMailbox("AlexW", "AlexW", "Alex Wilber")])
    return store, t


def _find(store: Store, t: Tenant, identity: str, **kw: object) -> list[str]:
    return [r.alias for r in store.find_recipients(t.id, identity, **kw)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "identity",
    [
        "AlexW",  # name and alias
        "alexw",
        "alexw@contoso.com",  # primary SMTP
        "SMTP:AlexW@contoso.com",
        "smtp:alexw@contoso.onmicrosoft.com",  # secondary, prefixed
        "alexw@contoso.onmicrosoft.com",  # UPN and secondary, bare
        "alex.wilber@contoso.co.uk",
        "smtp:Alex.Wilber@Contoso.co.uk",
        "sip:alexw@contoso.com",
        "X500:/o=Contoso/cn=AlexW",
        "/o=contoso/cn=alexw",
        f"CN=AlexW,OU=contoso.onmicrosoft.com,{DN_SUFFIX}".lower(),
        "  AlexW  ",
    ],
)
def test_find_recipient_by_identity_forms(directory: tuple[Store, Tenant], identity: str) -> None:
    store, t = directory
    assert _find(store, t, identity) == ["AlexW"]


def test_find_recipient_by_guids(directory: tuple[Store, Tenant]) -> None:
    store, t = directory
    row = store.find_recipients(t.id, "AWilber")[0]
    for value in (row.guid, row.exchange_guid, row.external_directory_object_id):
        assert _find(store, t, value.upper()) == ["AWilber"]
        assert _find(store, t, "{" + value + "}") == ["AWilber"]
    assert _find(store, t, "aw@CONTOSO.com") == ["AWilber"]  # UPN
    assert _find(store, t, str(uuid.uuid4())) == []


def test_find_recipient_ambiguity_type_filter_and_scope(directory: tuple[Store, Tenant]) -> None:
    store, t = directory
    assert _find(store, t, "alex wilber") == ["AlexW", "AWilber"]
    assert _find(store, t, "Alex Wilber", limit=1) == ["AlexW"]
    assert _find(store, t, "Sales") == ["sales"]
    assert _find(store, t, "sales team", recipient_type_details=["SharedMailbox"]) == ["sales"]
    assert _find(store, t, "sales team", recipient_type_details=["UserMailbox"]) == []
    assert _find(store, t, "nobody") == []
    assert _find(store, t, "") == []
    assert _find(store, t, "alex") == []  # exact match only
    fabrikam = store.resolve_tenant("fabrikam.onmicrosoft.com")
    assert fabrikam is not None
    assert [r.tenant_id for r in store.find_recipients(fabrikam.id, "alexw")] == [fabrikam.id]


# -- proxy-address uniqueness ----------------------------------------------------------------------


def test_proxy_address_conflict_with_existing_rolls_back(store: Store) -> None:
    t = _contoso(store)
    store.add_mailboxes(t.id, _people("alice", "bob"))
    addresses_before = _address_rows(store)
    clash = NewMailbox("carol", "carol", "Carol", extra_addresses=["smtp:BOB@contoso.com"])
    with pytest.raises(ProxyAddressConflict) as info:
        store.add_mailboxes(t.id, [*_people("dave", "erin"), clash])
    assert info.value.address.lower() == "smtp:bob@contoso.com"
    assert info.value.owner == "bob"
    assert "bob@contoso.com" in str(info.value)
    assert [r.alias for r in store.iter_mailboxes(t.id)] == ["alice", "bob"]
    assert _address_rows(store) == addresses_before


def test_proxy_address_conflict_within_one_batch(store: Store) -> None:
    t = _contoso(store)
    with pytest.raises(ProxyAddressConflict):
        store.add_mailboxes(
            t.id, [*_people("alice"), NewMailbox("a2", "a2", "A2", primary_smtp_address="Alice@contoso.com")]
        )
    assert store.count_mailboxes(t.id) == 0
    assert _address_rows(store) == []


def test_proxy_address_conflict_across_chunks(store: Store) -> None:
    t = _contoso(store)
    many = _people(*(f"u{i}" for i in range(1500)))
    many.append(NewMailbox("late", "late", "Late", extra_addresses=["u3@contoso.com"]))
    with pytest.raises(ProxyAddressConflict):
        store.add_mailboxes(t.id, many)
    assert store.count_mailboxes(t.id) == 0


def test_same_address_in_two_tenants_is_fine(store: Store) -> None:
    a = _contoso(store)
    b = store.create_tenant("fabrikam", accepted_domains=["contoso.org"])
    shared = NewMailbox("x", "x", "X", primary_smtp_address="x@shared.example")
    assert store.add_mailboxes(a.id, [shared]) == 1
    assert store.add_mailboxes(b.id, [shared]) == 1


# -- update_recipient ------------------------------------------------------------------------------


@pytest.fixture
def two(store: Store) -> tuple[Store, Tenant, int, int]:
    t = _contoso(store)
    store.add_mailboxes(t.id, _people("alice", "bob"))
    alice, bob = store.iter_mailboxes(t.id)
    return store, t, alice.id, bob.id


def test_update_columns_and_props(two: tuple[Store, Tenant, int, int]) -> None:
    store, t, alice, _ = two
    before = store.get_recipient(t.id, alice)
    after = store.update_recipient(
        t.id,
        alice,
        {
            "DisplayName": "Alice Liddell",
            "hidden_from_address_lists_enabled": True,
            "CustomAttribute1": "CC-42",
            "Office": "",  # equal to the default: dropped from props
            "ProhibitSendQuota": "49 GB (52,613,349,376 bytes)",
        },
    )
    assert after.display_name == "Alice Liddell" and after.hidden_from_address_lists_enabled is True
    props = json.loads(after.props)
    assert props["CustomAttribute1"] == "CC-42"
    assert props["ProhibitSendQuota"] == "49 GB (52,613,349,376 bytes)"
    assert "Office" not in props and "WhenMailboxCreated" in props
    assert after.when_changed > before.when_changed and after.when_created == before.when_created
    reverted = store.update_recipient(t.id, alice, {"ProhibitSendQuota": MAILBOX_DEFAULT_PROPS["ProhibitSendQuota"]})
    assert "ProhibitSendQuota" not in json.loads(reverted.props)


def test_update_name_rewrites_dn(two: tuple[Store, Tenant, int, int]) -> None:
    store, t, alice, _ = two
    row = store.update_recipient(t.id, alice, {"Name": "Alice L"})
    assert row.distinguished_name.startswith("CN=Alice L,OU=contoso.onmicrosoft.com,")
    assert [r.alias for r in store.find_recipients(t.id, row.distinguished_name)] == ["alice"]


def test_update_primary_smtp_demotes_old_one(two: tuple[Store, Tenant, int, int]) -> None:
    store, t, alice, _ = two
    row = store.update_recipient(t.id, alice, {"PrimarySmtpAddress": "Alice.Liddell@contoso.com"})
    assert row.primary_smtp_address == "Alice.Liddell@contoso.com"
    assert json.loads(row.email_addresses) == [
        "SMTP:Alice.Liddell@contoso.com",
        "smtp:alice@contoso.com",
        "smtp:alice@contoso.onmicrosoft.com",
    ]
    assert _find(store, t, "alice.liddell@contoso.com") == ["alice"]
    assert _find(store, t, "smtp:alice@contoso.com") == ["alice"]
    # Promoting an existing secondary keeps one entry for it.
    row = store.update_recipient(t.id, alice, {"primary_smtp_address": "alice@contoso.onmicrosoft.com"})
    assert json.loads(row.email_addresses) == [
        "SMTP:alice@contoso.onmicrosoft.com",
        "smtp:Alice.Liddell@contoso.com",
        "smtp:alice@contoso.com",
    ]


def test_update_email_addresses_replaces_the_list(two: tuple[Store, Tenant, int, int]) -> None:
    store, t, alice, _ = two
    row = store.update_recipient(t.id, alice, {"EmailAddresses": ["smtp:a2@contoso.com", "SMTP:a1@contoso.com"]})
    assert json.loads(row.email_addresses) == ["SMTP:a1@contoso.com", "smtp:a2@contoso.com"]
    assert row.primary_smtp_address == "a1@contoso.com"
    assert _address_rows(store, alice) == [("smtp", "a1@contoso.com"), ("smtp", "a2@contoso.com")]
    assert _find(store, t, "alice@contoso.com") == []
    with pytest.raises(ValueError):
        store.update_recipient(t.id, alice, {"EmailAddresses": ["smtp:no-primary@contoso.com"]})


def test_update_address_conflict_rolls_back(two: tuple[Store, Tenant, int, int]) -> None:
    store, t, alice, _ = two
    before = store.get_recipient(t.id, alice)
    addresses = _address_rows(store)
    with pytest.raises(ProxyAddressConflict) as info:
        store.update_recipient(t.id, alice, {"DisplayName": "changed", "PrimarySmtpAddress": "bob@contoso.com"})
    assert info.value.owner == "bob"
    assert store.get_recipient(t.id, alice) == before
    assert _address_rows(store) == addresses


def test_update_rejects_read_only_and_bad_values(two: tuple[Store, Tenant, int, int]) -> None:
    store, t, alice, _ = two
    for changes in (
        {"Guid": str(uuid.uuid4())},
        {"distinguished_name": "CN=x"},
        {"props": "{}"},
        {"HiddenFromAddressListsEnabled": "yes"},
        {"RecipientTypeDetails": "MailUser"},
        {"Alias": "has space"},
    ):
        with pytest.raises(ValueError):
            store.update_recipient(t.id, alice, changes)
    other = store.create_tenant("fabrikam")
    with pytest.raises(NotFound):
        store.update_recipient(other.id, alice, {"DisplayName": "x"})  # not that tenant's recipient
    with pytest.raises(NotFound):
        store.get_recipient(other.id, alice)


def test_update_type_to_room_sets_resource_props(two: tuple[Store, Tenant, int, int]) -> None:
    store, t, alice, _ = two
    row = store.update_recipient(t.id, alice, {"RecipientTypeDetails": "RoomMailbox"})
    assert row.recipient_type_details == "RoomMailbox" and row.recipient_type == "UserMailbox"
    assert json.loads(row.props)["ResourceType"] == "Room"
    row = store.update_recipient(t.id, alice, {"RecipientTypeDetails": "SharedMailbox"})
    assert "ResourceType" not in json.loads(row.props)


# -- transactions ----------------------------------------------------------------------------------


def test_transaction_commits_or_rolls_back_as_a_whole(store: Store) -> None:
    with store.transaction() as tx:
        t = tx.create_tenant("contoso")
        tx.add_mailboxes(t.id, _people("alice"))
        assert tx.count_mailboxes(t.id) == 1
    assert store.count_mailboxes(t.id) == 1

    with pytest.raises(RuntimeError), store.transaction() as tx:
        f = tx.create_tenant("fabrikam")
        tx.add_mailboxes(f.id, _people("bob"))
        raise RuntimeError("boom")
    assert store.resolve_tenant("fabrikam.onmicrosoft.com") is None


def test_failed_call_inside_transaction_undoes_only_itself(store: Store) -> None:
    with store.transaction() as tx:
        t = tx.create_tenant("contoso")
        tx.add_mailboxes(t.id, _people("alice"))
        with pytest.raises(ProxyAddressConflict):
            tx.add_mailboxes(t.id, _people("bob", "alice"))
        tx.add_mailboxes(t.id, _people("carol"))
    assert [r.alias for r in store.iter_mailboxes(t.id)] == ["alice", "carol"]


# -- audit -----------------------------------------------------------------------------------------


def test_audit_write_and_read_with_redaction(store: Store) -> None:
    t = _contoso(store)
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for i in range(3):
        store.write_audit(
            AuditEntry(
                caller="admin@northwindit.onmicrosoft.com",
                caller_tenant_id=99,
                target_tenant_id=t.id if i < 2 else None,
                session_id=f"s{i}",
                cmdlet="Set-Mailbox",
                parameters={
                    "Identity": "alice",
                    "Password": "hunter2",
                    "nested": {"ClientSecret": "s3cret", "list": [{"AccessToken": "tok"}, "plain"]},
                    "Credential": {"UserName": "x"},
                    "DisplayName": "Alice",
                },
                succeeded=i != 1,
                error="It failed." if i == 1 else None,
                run_date=start + timedelta(minutes=i),
            )
        )
    entries = store.audit_entries(target_tenant_id=t.id)
    assert [e.session_id for e in entries] == ["s1", "s0"]  # newest first
    first = entries[1]
    assert first.run_date == start and first.id is not None
    assert first.parameters == {
        "Identity": "alice",
        "Password": REDACTED,
        "nested": {"ClientSecret": REDACTED, "list": [{"AccessToken": REDACTED}, "plain"]},
        "Credential": REDACTED,
        "DisplayName": "Alice",
    }
    assert (entries[0].succeeded, entries[0].error) == (False, "It failed.")
    assert len(store.audit_entries()) == 3
    assert [e.session_id for e in store.audit_entries(limit=1)] == ["s2"]
    with store.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT parameters FROM audit_log").scalars().all()
    assert not any(secret in text for text in raw for secret in ("hunter2", "s3cret", 'tok"'))


def test_datetimes_are_utc_aware_whatever_goes_in(store: Store) -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2026, 3, 1, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    store.write_audit(AuditEntry("a@b.c", None, None, "", "Get-Mailbox", {}, True, run_date=local))
    (entry,) = store.audit_entries()
    assert entry.run_date == local and entry.run_date.tzinfo == UTC
    assert entry.run_date.hour == 13


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/deep/er/aobo.db")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        store.close()
