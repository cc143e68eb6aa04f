"""The REST admin API's protocol logic: one parsed request in, one reply out, no HTTP.

``InvokeCommand`` runs one cmdlet (a page at a time, see :mod:`~aobo.frontends.rest.pages` and
:mod:`~aobo.frontends.rest.cursors`), ``$batch`` runs several through the same path, and
``EXOModuleFile`` lists the cmdlets the caller's roles allow. Every request is authenticated by its
Bearer token for the organization its URL names (:mod:`aobo.frontends.oauth.bearer`), which takes
the access decision from the store again. :meth:`RestService.handle` blocks (engine and store):
:mod:`~aobo.frontends.rest.asgi` calls it on a worker thread. It never raises: every failure is a
reply in Exchange Online's OData error shape, and an unexpected one is logged and answered 500
without internals.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from aobo.cmdlets import roles, texts
from aobo.cmdlets.access import SessionScope
from aobo.cmdlets.audit import audit_entries
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.registry import Registry
from aobo.domain.store import Store
from aobo.errors import AccessDenied
from aobo.frontends.oauth.bearer import BearerAuthenticator, BearerRejected, TenantCache, parse_bearer
from aobo.frontends.rest import requests as rq
from aobo.frontends.rest.cursors import CursorTable
from aobo.frontends.rest.errors import RestError, bad_request, error_body, from_record
from aobo.frontends.rest.pages import RunningCommand, error_to_rest, render_page
from aobo.frontends.rest.values import JsonWriter

log = logging.getLogger(__name__)

JSON_TYPE: Final = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
MAX_BATCH: Final = 20
#: Listings are read a page ahead only while the cursor table holds at most this many (memory bound).
MAX_PREFETCHED: Final = 8
_GENERIC_CONTEXT: Final = "$metadata#Collection(Exchange.GenericHashTable)"


@dataclass(frozen=True, slots=True)
class Call:
    """One request as the service needs it. ``headers`` have lower-case names; ``body`` is the raw
    body, or ``payload`` its already parsed JSON (a ``$batch`` item)."""

    method: str
    path: str
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, str]
    base_url: str
    body: bytes = b""
    payload: Any = None
    in_batch: bool = False

    def query_value(self, name: str) -> str | None:
        for key, value in self.query:
            if key.lower() == name.lower():
                return value
        return None


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def error_reply(error: RestError, warnings: list[str] | None = None) -> Reply:
    body = json.dumps(error_body(error, warnings)).encode("ascii")
    return Reply(error.status, body, {"Content-Type": JSON_TYPE, **error.headers})


def _unauthorized(exc: BearerRejected) -> Reply:
    error = RestError(401, "Unauthorized", exc.description, "System.UnauthorizedAccessException", "InvalidToken")
    error.headers["WWW-Authenticate"] = exc.www_authenticate
    return error_reply(error)


def _forbidden(exc: AccessDenied) -> Reply:
    return error_reply(RestError(403, "Forbidden", str(exc), "System.UnauthorizedAccessException", "AccessDenied"))


class RestService:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        bearer: BearerAuthenticator,
        *,
        cursors: CursorTable | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.bearer = bearer
        self.cursors = cursors or CursorTable()
        self.writer = JsonWriter()
        self.tenants = TenantCache(store)
        # Reads the next page of held listings while their clients read the current one.
        self._prefetcher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="aobo-rest-prefetch")

    def close(self) -> None:
        """Stop prefetching and close every held listing (service shutdown)."""
        self._prefetcher.shutdown(wait=True, cancel_futures=True)
        self.cursors.close_all()

    def handle(self, call: Call) -> Reply:
        try:
            return self._handle(call)
        except RestError as exc:
            return error_reply(exc)
        except BearerRejected as exc:
            return _unauthorized(exc)
        except AccessDenied as exc:
            return _forbidden(exc)
        except Exception as exc:
            log.exception("unexpected error while serving %s %s", call.method, call.path)
            return error_reply(error_to_rest(exc))

    def _handle(self, call: Call) -> Reply:
        route = rq.parse_route(call.path)
        allowed = {rq.INVOKE: ("POST", "GET"), rq.BATCH: ("POST",), rq.MODULE_FILE: ("GET",)}[route.action]
        if call.method not in allowed:
            error = RestError(
                405, "MethodNotAllowed", f"{call.method} is not supported here; use {' or '.join(allowed)}."
            )
            error.headers["Allow"] = ", ".join(allowed)
            raise error
        token = parse_bearer(call.headers.get("authorization"))
        if token is None:
            raise BearerRejected("missing")
        # An unknown organization is answered as a known one would be for this token (see
        # BearerAuthenticator.scope): nobody without a valid token can probe which tenants exist.
        tenant = self.tenants.named(route.tenant)
        scope = self.bearer.scope(token, tenant)
        if route.action == rq.MODULE_FILE:
            return self._module_file(call, route, scope)
        if route.action == rq.BATCH:
            return self._batch(call, route, scope)
        return self._invoke(call, route, scope)

    # ----------------------------------------------------------------- InvokeCommand

    def _invoke(self, call: Call, route: rq.Route, scope: SessionScope) -> Reply:
        size, applied = rq.page_size(call.headers.get("prefer"))
        names = rq.parse_select(call.query_value("$select"))
        owner = (scope.caller.id, scope.tenant.id)
        skiptoken = call.query_value("$skiptoken")
        if skiptoken:
            command = self.cursors.take(owner, skiptoken)
            definition = self.registry.get(command.cmdlet)
            if definition is None or not roles.allowed(definition, scope.roles):
                # The caller's roles changed since the first page: no more of it.
                command.close("The caller may no longer run the command.")
                user = f"{scope.caller_tenant.initial_domain}\\{scope.caller.user_principal_name}"
                raise from_record(texts.cmdlet_access_denied(user, command.cmdlet))
            try:
                follows = self._optional_invocation(call)
            except BaseException:
                command.close("The next page was asked for with a body that could not be read.")
                raise
            if follows is not None and follows.name.lower() != command.cmdlet.lower():
                command.close("The next page was asked for with another command.")
                raise bad_request(
                    f"The page token belongs to {command.cmdlet}, not {follows.name}: send the same body as for "
                    "the first page, or none.",
                    "InvalidSkipToken",
                )
        else:
            if call.method != "POST":
                raise RestError(405, "MethodNotAllowed", "GET is only for @odata.nextLink; run a command with POST.")
            invocation = rq.parse_invocation(self._payload(call))
            rq.check_anchor(call.headers.get("x-anchormailbox"), scope.tenant, scope.caller_tenant)
            command = self._start(call, scope, invocation)
        page = command.next_page(size, names)
        next_link = None
        if page.more:
            next_link = self._next_link(call, self.cursors.put(owner, command))
            if len(self.cursors) <= MAX_PREFETCHED:
                with contextlib.suppress(RuntimeError):  # shutting down: no prefetch
                    self._prefetcher.submit(command.prefetch, size, names, self.writer)
        headers = {"Content-Type": JSON_TYPE}
        if applied:
            headers["Preference-Applied"] = f"odata.maxpagesize={size}"
        context = f"{call.base_url}/adminapi/{route.version}/{_GENERIC_CONTEXT}"
        return Reply(200, render_page(context, page, self.writer, names, next_link), headers)

    def _payload(self, call: Call) -> Any:
        return call.payload if call.payload is not None else rq.parse_json(call.body)

    def _optional_invocation(self, call: Call) -> CommandInvocation | None:
        if call.payload is None and not call.body.strip():
            return None
        return rq.parse_invocation(self._payload(call))

    def _start(self, call: Call, scope: SessionScope, invocation: CommandInvocation) -> RunningCommand:
        session_id = (call.headers.get("connection-id") or "")[:64] or f"rest-{uuid.uuid4()}"
        # Exchange Online's REST endpoint has no host and never prompts: Remove-* and other
        # ConfirmImpact High cmdlets run without -Confirm:$false (see docs/differences.md).
        ctx = CmdletContext(
            self.store, scope.caller, scope.caller_tenant, scope.tenant, scope.roles, session_id, never_prompts=True
        )
        store, registry = self.store, self.registry

        def audit(error: str | None) -> None:
            try:
                for entry in audit_entries(ctx, [invocation], error, registry):
                    store.write_audit(entry)
            except Exception:
                log.exception("could not write the audit log")

        items = run_pipeline(ctx, registry, [invocation])
        return RunningCommand(invocation.name, items, audit)

    @staticmethod
    def _next_link(call: Call, token: str) -> str:
        query = [(k, v) for k, v in call.query if k.lower() != "$skiptoken"]
        query.append(("$skiptoken", token))
        return f"{call.base_url}{call.path}?{urlencode(query, safe='$,')}"

    # ----------------------------------------------------------------- EXOModuleFile

    def _module_file(self, call: Call, route: rq.Route, scope: SessionScope) -> Reply:
        names = ",".join(d.name for d in self.registry.find(None, scope.roles))
        body = {
            "@odata.context": f"{call.base_url}/adminapi/{route.version}/$metadata#EXOModuleFile",
            "value": [{"exportedCmdlets": names, "version": call.query_value("Version") or ""}],
        }
        return Reply(200, json.dumps(body).encode("ascii"), {"Content-Type": JSON_TYPE})

    # ----------------------------------------------------------------- $batch

    def _batch(self, call: Call, route: rq.Route, scope: SessionScope) -> Reply:
        if call.in_batch:
            raise bad_request("A $batch request cannot hold another $batch.", "NestedBatch")
        payload = self._payload(call)
        requests = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(requests, list) or not requests:
            raise bad_request(
                'A $batch body is {"requests": [{"id": "1", "method": "POST", "url": ".../InvokeCommand", '
                '"body": {"CmdletInput": {...}}}, ...]} with at least one request.',
                "InvalidBatch",
            )
        if len(requests) > MAX_BATCH:
            raise bad_request(
                f"A $batch holds at most {MAX_BATCH} requests; this one has {len(requests)}.", "BatchTooLarge"
            )
        ids = [str(r.get("id", "")) if isinstance(r, dict) else "" for r in requests]
        if any(not i for i in ids) or len(set(ids)) != len(ids):
            raise bad_request("Every request of a $batch needs an id, unique within the batch.", "InvalidBatch")
        go_on = rq.continue_on_error(call.headers.get("prefer"))
        parts: list[bytes] = []
        failed = False
        for item_id, item in zip(ids, requests, strict=True):
            if failed and not go_on:
                reply = error_reply(
                    RestError(
                        424,
                        "FailedDependency",
                        "The request was not run because an earlier request of the batch failed "
                        "(send Prefer: odata.continue-on-error to run every request).",
                        "System.InvalidOperationException",
                        "FailedDependency",
                    )
                )
            else:
                reply = self._batch_item(call, item)
            failed = failed or reply.status >= 400
            headers = {k: v for k, v in reply.headers.items() if k.lower() != "www-authenticate"} | {
                "Content-Type": reply.headers.get("Content-Type", JSON_TYPE)
            }
            head = f'{{"id":{json.dumps(item_id)},"status":{reply.status},"headers":{json.dumps(headers)},"body":'
            parts.append(head.encode() + reply.body + b"}")
        return Reply(200, b'{"responses":[' + b",".join(parts) + b"]}", {"Content-Type": JSON_TYPE})

    def _batch_item(self, call: Call, item: dict[str, Any]) -> Reply:
        """One item's reply: whatever is wrong with it fails that item only, not the batch (earlier
        items may already have changed something)."""
        try:
            return self._batch_item_reply(call, item)
        except RestError as exc:
            return error_reply(exc)
        except ValueError as exc:
            return error_reply(bad_request(f"The batch request's url cannot be read: {exc}.", "InvalidBatch"))

    def _batch_item_reply(self, call: Call, item: dict[str, Any]) -> Reply:
        url = item.get("url")
        method = str(item.get("method") or "POST").upper()
        if not isinstance(url, str) or not url:
            return error_reply(bad_request("The batch request has no url.", "InvalidBatch"))
        parts = urlsplit(url)
        item_headers = item.get("headers") if isinstance(item.get("headers"), dict) else {}
        headers = dict(call.headers) | {str(k).lower(): str(v) for k, v in item_headers.items()}
        body = item.get("body")
        if isinstance(body, str):
            body = rq.parse_json(body.encode())
        sub = Call(
            method=method,
            path=parts.path if parts.path.startswith("/") else "/" + parts.path,
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers=headers,
            base_url=call.base_url,
            payload=body,
            in_batch=True,
        )
        return self.handle(sub)


__all__ = ["Call", "Reply", "RestService"]
