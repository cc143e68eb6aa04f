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
from aobo.frontends.oauth.bearer import BearerAuthenticator
from aobo.frontends.partner import (
    CustomersEndpoint,
    DelegatedAdminRelationshipsEndpoint,
    is_customers_path,
    is_relationships_path,
)
from aobo.frontends.psrp import clixml
from aobo.frontends.rest import RestEndpoint, RestService, is_adminapi_path
from aobo.frontends.wsman.asgi import WSManEndpoint, is_endpoint
from aobo.frontends.wsman.service import WSManService
from aobo.settings import Settings

log = logging.getLogger(__name__)


def create_app(store: Store, settings: Settings, registry: Registry | None = None) -> Starlette:
    registry = registry or default_registry()
    service = WSManService(store, registry, settings)
    verifier = CredentialVerifier(store, lockout_threshold=settings.lockout_threshold)
    keys = KeySet.for_settings(settings)
    bearer = BearerAuthenticator(store, keys, registry=registry)
    endpoint = WSManEndpoint(service, verifier, bearer)
    customers = CustomersEndpoint(store, verifier)
    relationships = DelegatedAdminRelationshipsEndpoint(store, verifier)
    identity = IdentityEndpoint(store, verifier, keys, settings)
    rest_service = RestService(store, registry, bearer)
    rest = RestEndpoint(rest_service, settings.max_request_size)

    async def route(request: Request) -> Response:
        # One catch-all route: the endpoint path is matched case-insensitively, as clients vary.
        if is_endpoint(request.url.path):
            return await endpoint(request)
        if is_adminapi_path(request.url.path):
            return await rest(request)
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
        rest_service.writer.prepare(MAILBOX_SHAPE)
        reaper = asyncio.create_task(_expire_idle(service, settings.idle_timeout))
        cursor_reaper = asyncio.create_task(_expire_cursors(rest_service))
        try:
            yield
        finally:
            reaper.cancel()
            cursor_reaper.cancel()
            service.shutdown()
            await asyncio.to_thread(rest_service.close)

    app = Starlette(
        routes=[Route("/{path:path}", route, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])],
        lifespan=lifespan,
    )
    app.state.wsman = service
    app.state.rest = rest_service
    return app


async def _expire_idle(service: WSManService, idle_timeout: float) -> None:
    interval = max(0.05, min(30.0, idle_timeout / 4))
    while True:
        await asyncio.sleep(interval)
        try:
            service.expire_idle()
        except Exception:
            log.exception("idle-session sweep failed")


async def _expire_cursors(rest: RestService) -> None:
    # Closing a held pipeline may touch the store: off the event loop.
    while True:
        await asyncio.sleep(10.0)
        try:
            await asyncio.to_thread(rest.cursors.expire)
        except Exception:
            log.exception("paging-cursor sweep failed")
