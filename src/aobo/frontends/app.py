"""Compose the ASGI application from the front ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.exchange.mailbox_object import MAILBOX_SHAPE
from aobo.cmdlets.registry import Registry
from aobo.domain.store import Store
from aobo.frontends.credentials import CredentialVerifier
from aobo.frontends.identity import IdentityEndpoint, is_identity_path
from aobo.frontends.oauth import KeySet
from aobo.frontends.partner import (
    CustomersEndpoint,
    DelegatedAdminRelationshipsEndpoint,
    is_customers_path,
    is_relationships_path,
)
from aobo.frontends.psrp import clixml
from aobo.frontends.wsman.asgi import WSManEndpoint, is_endpoint
from aobo.frontends.wsman.service import WSManService
from aobo.settings import Settings

log = logging.getLogger(__name__)


def create_app(store: Store, settings: Settings, registry: Registry | None = None) -> Starlette:
    service = WSManService(store, registry or default_registry(), settings)
    verifier = CredentialVerifier(store, lockout_threshold=settings.lockout_threshold)
    endpoint = WSManEndpoint(service, verifier)
    customers = CustomersEndpoint(store, verifier)
    relationships = DelegatedAdminRelationshipsEndpoint(store, verifier)
    identity = IdentityEndpoint(store, verifier, KeySet.for_settings(settings), settings)

    async def route(request: Request) -> Response:
        # One catch-all route: the endpoint path is matched case-insensitively, as clients vary.
        if is_endpoint(request.url.path):
            return await endpoint(request)
        if is_customers_path(request.url.path):
            return await customers(request)
        if is_relationships_path(request.url.path):
            return await relationships(request)
        if is_identity_path(request.url.path):
            return await identity(request)
        return PlainTextResponse("Not Found", status_code=404)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.bind_loop(asyncio.get_running_loop())
        # Compiling the mailbox renderer takes tens of milliseconds: do it before the first request.
        clixml.prepare(MAILBOX_SHAPE)
        reaper = asyncio.create_task(_expire_idle(service, settings.idle_timeout))
        try:
            yield
        finally:
            reaper.cancel()
            service.shutdown()

    app = Starlette(
        routes=[Route("/{path:path}", route, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])],
        lifespan=lifespan,
    )
    app.state.wsman = service
    return app


async def _expire_idle(service: WSManService, idle_timeout: float) -> None:
    interval = max(0.05, min(30.0, idle_timeout / 4))
    while True:
        await asyncio.sleep(interval)
        try:
            service.expire_idle()
        except Exception:
            log.exception("idle-session sweep failed")
