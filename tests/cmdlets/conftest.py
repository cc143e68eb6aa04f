"""Shared fixtures: contexts (engine-only and on a seeded SQLite store) and the default registry.

Context builders are handed out as fixtures (``fake_ctx``, ``partner_ctx``, ``tenant_ctx``) rather
than imported, since test directories are not packages.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.registry import Registry
from aobo.cmdlets.roles import roles_for_dap
from aobo.domain.models import Tenant, User

PARTNER = "northwindit.onmicrosoft.com"


def tenant(name: str, tenant_id: int = 1) -> Tenant:
    domain = f"{name}.onmicrosoft.com"
    return Tenant(
        id=tenant_id,
        guid=uuid.uuid5(uuid.NAMESPACE_DNS, domain),
        name=name,
        initial_domain=domain,
        domains=(domain,),
    )


def user(upn: str, tenant_id: int, *groups: str) -> User:
    return User(
        id=1,
        tenant_id=tenant_id,
        guid=uuid.uuid5(uuid.NAMESPACE_DNS, upn),
        user_principal_name=upn,
        display_name=upn,
        remote_powershell_enabled=True,
        role_groups=frozenset(groups),
        locked_out=False,
    )


def fake_context(
    roles: Iterable[str] = ("Organization Management",),
    *,
    store: Any = None,
    is_stopping: Callable[[], bool] = lambda: False,
) -> CmdletContext:
    """A delegated context (partner admin acting in contoso) with no store, for engine tests."""
    partner = tenant("northwindit", 2)
    return CmdletContext(
        store=store,
        caller=user(f"admin@{PARTNER}", 2, "AdminAgents"),
        caller_tenant=partner,
        tenant=tenant("contoso", 1),
        roles=frozenset(roles),
        is_stopping=is_stopping,
    )


@pytest.fixture
def registry() -> Registry:
    return default_registry()


# --- the real store ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A demo world on SQLite, seeded once. Tests that write use ``store`` (a fresh copy)."""
    from aobo.domain.seed import seed_demo
    from aobo.domain.store import Store

    path = tmp_path_factory.mktemp("store") / "seeded.db"
    store = Store.open(f"sqlite:///{path}")
    store.migrate()
    seed_demo(store)
    store.close()
    return str(path)


@pytest.fixture(scope="session")
def seeded_store(seeded_db: str) -> Iterator[Any]:
    """Read-only use: shared by every test of the session."""
    from aobo.domain.store import Store

    store = Store.open(f"sqlite:///{seeded_db}")
    yield store
    store.close()


@pytest.fixture
def store(seeded_db: str, tmp_path: Path) -> Iterator[Any]:
    """A private copy of the seeded database, for tests that write."""
    import shutil

    from aobo.domain.store import Store

    copy = tmp_path / "store.db"
    shutil.copyfile(seeded_db, copy)
    s = Store.open(f"sqlite:///{copy}")
    yield s
    s.close()


def partner_context(store: Any, agent: str, customer: str, **kw: Any) -> CmdletContext:
    """A partner agent (``admin`` / ``helpdesk``) acting in ``customer`` through DAP."""
    caller = store.find_user(f"{agent}@{PARTNER}")
    partner = store.resolve_tenant(PARTNER)
    return CmdletContext(
        store=store,
        caller=caller,
        caller_tenant=partner,
        tenant=store.resolve_tenant(f"{customer}.onmicrosoft.com"),
        roles=roles_for_dap(caller.role_groups),
        **kw,
    )


def tenant_context(store: Any, customer: str, roles: Iterable[str]) -> CmdletContext:
    """The customer's own admin with the given role groups."""
    t = store.resolve_tenant(f"{customer}.onmicrosoft.com")
    return CmdletContext(
        store=store,
        caller=store.find_user(f"admin@{t.initial_domain}"),
        caller_tenant=t,
        tenant=t,
        roles=frozenset(roles),
    )


@pytest.fixture
def fake_ctx() -> Callable[..., CmdletContext]:
    return fake_context


@pytest.fixture
def partner_ctx() -> Callable[..., CmdletContext]:
    return partner_context


@pytest.fixture
def tenant_ctx() -> Callable[..., CmdletContext]:
    return tenant_context
