"""A small Exchange Online REST service for the toolkit's tests, following the contract of
``InvokeCommand`` (docs: exchange-online-behaviour §7): pages with ``@odata.nextLink`` answered to
the same body re-POSTed, warnings in ``@adminapi.warnings``, OData errors whose detail is
``<ErrorId>|<ExceptionType>|<Message>``, 401 for a token it does not accept, 429/503 with Retry-After.

It runs in-process through ``httpx.ASGITransport``; the end-to-end tests use the real server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BASE = "https://outlook.office365.com"
NOT_FOUND_ID = "Ex6F9304"
NOT_FOUND_TYPE = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"


def mailbox(i: int, domain: str) -> dict[str, Any]:
    return {
        "@odata.type": "#Exchange.Mailbox",
        "Identity": f"user{i:04d}",
        "Name": f"user{i:04d}",
        "DisplayName": f"User {i:04d}",
        "PrimarySmtpAddress": f"user{i:04d}@{domain}",
        "RecipientTypeDetails": "UserMailbox",
        "WhenCreated": "2024-01-02T03:04:05Z",
        "EmailAddresses": [f"SMTP:user{i:04d}@{domain}"],
    }


@dataclass
class Seen:
    """One request as the service saw it."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeExchange:
    """Tenants and their mailbox counts; the tokens it accepts; scripted failures."""

    tenants: dict[str, int] = field(default_factory=lambda: {"contoso.onmicrosoft.com": 40})
    accepted_tokens: set[str] = field(default_factory=lambda: {"token-1"})
    #: Answers to give before serving normally: (status, Retry-After or None).
    failures: list[tuple[int, str | None]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    next_link_host: str | None = None
    modified: list[str] = field(default_factory=list)
    #: Accept any bearer token of this audience (checked without its signature): tokens from the
    #: real identity endpoint, whose ``tid`` must then be the tenant of the URL.
    audience: str | None = None

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/adminapi/{version}/{tenant}/InvokeCommand", self.invoke, methods=["POST", "GET"]),
                Route("/adminapi/v1.0/{tenant}/EXOModuleFile", self.module_file, methods=["GET"]),
            ]
        )

    def _check(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not self._accepts(auth[7:], request.path_params.get("tenant", "")):
            return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm=""'})
        if self.failures:
            status, retry = self.failures.pop(0)
            return Response(status_code=status, headers={"Retry-After": retry} if retry else {})
        return None

    def _accepts(self, token: str, tenant: str) -> bool:
        if self.audience is None:
            return token in self.accepted_tokens
        import jwt

        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return False
        return claims.get("aud") == self.audience and bool(claims.get("tid"))

    async def module_file(self, request: Request) -> Response:
        self.seen.append(Seen("GET", str(request.url), dict(request.headers), None))
        refused = self._check(request)
        if refused is not None:
            return refused
        return JSONResponse({"value": {"exportedCmdlets": "Get-Mailbox,Set-Mailbox,Get-MailboxStatistics"}})

    async def invoke(self, request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        self.seen.append(Seen(request.method, str(request.url), dict(request.headers), body))
        refused = self._check(request)
        if refused is not None:
            return refused
        tenant = request.path_params["tenant"]
        if tenant not in self.tenants:
            return _error(403, "AuthZ", "CmdletAccessDeniedException", f"The user isn't allowed in {tenant}.")
        cmdlet = body["CmdletInput"]["CmdletName"]
        params = body["CmdletInput"].get("Parameters", {})
        if cmdlet == "Get-Mailbox":
            return self._get_mailbox(request, tenant, params)
        if cmdlet == "Set-Mailbox":
            self.modified.append(str(params.get("Identity")))
            return JSONResponse({"value": [], "@adminapi.warnings": []})
        return _error(
            400,
            "Ex7A21B3",
            "System.Management.Automation.CommandNotFoundException",
            f"The term '{cmdlet}' is not recognized as a name of a cmdlet.",
        )

    def _get_mailbox(self, request: Request, tenant: str, params: dict[str, Any]) -> Response:
        count = self.tenants[tenant]
        items = [mailbox(i, tenant) for i in range(count)]
        identity = params.get("Identity")
        if identity is not None:
            items = [m for m in items if identity in (m["Identity"], m["PrimarySmtpAddress"])]
            if not items:
                return _error(
                    404,
                    NOT_FOUND_ID,
                    NOT_FOUND_TYPE,
                    f"The operation couldn't be performed because object '{identity}' couldn't be found on "
                    "'EXHV-1242.EXHV-1242dom.extest.microsoft.com'.",
                )
        warnings: list[str] = []
        if params.get("ResultSize") != "Unlimited":
            limit = int(params.get("ResultSize") or 1000)
            if len(items) > limit:
                warnings.append(
                    "There are more results available than are currently displayed. To view them, increase the "
                    "value for the ResultSize parameter."
                )
                items = items[:limit]
        prefer = request.headers.get("prefer", "")
        size = int(prefer.partition("odata.maxpagesize=")[2] or 1000)
        skip = int(request.query_params.get("$skiptoken", "0"))
        page = items[skip : skip + size]
        payload: dict[str, Any] = {
            "@odata.context": f"{BASE}/adminapi/beta/{tenant}/$metadata#Collection(Exchange.GenericHashTable)",
            "adminapi.warnings@odata.type": "#Collection(String)",
            "@adminapi.warnings": warnings if skip == 0 else [],
            "value": page,
        }
        if skip + size < len(items):
            url = request.url.include_query_params(**{"$skiptoken": str(skip + size)})
            if self.next_link_host is not None:
                url = url.replace(hostname=self.next_link_host)
            payload["@odata.nextLink"] = str(url)
        return JSONResponse(payload)


def _error(status: int, error_id: str, exception_type: str, message: str) -> JSONResponse:
    detail = f"{error_id}|{exception_type}|{message}"
    return JSONResponse(
        {
            "error": {
                "code": "NotFound" if status == 404 else "BadRequest",
                "message": "Error executing cmdlet",
                "details": [{"code": "Client", "target": "", "message": detail}],
                "innererror": {"message": "Error executing cmdlet", "type": "ODataServiceException"},
            },
            "adminapi.warnings@odata.type": "#Collection(String)",
            "@adminapi.warnings": [],
        },
        status_code=status,
    )


class FakeTokens:
    """The TokenProvider surface the REST session uses, with counted refreshes."""

    def __init__(self, username: str | None = "admin@northwindit.onmicrosoft.com", first: str = "token-1") -> None:
        self.username = username
        self.home_tenant = username.rpartition("@")[2] if username else None
        self.display_name = username or "app"
        self.current = first
        self.forced = 0
        self.asked: list[str] = []

    async def token(self, tenant: str, *, force_refresh: bool = False) -> str:
        self.asked.append(tenant)
        if force_refresh:
            self.forced += 1
            self.current = f"token-{self.forced + 1}"
        return self.current

    def invalidate(self, tenant: str) -> None:
        pass

    def close(self) -> None:
        pass


class ServedFake:
    """The fake on a real socket (uvicorn in a thread, plain HTTP), for commands that open their own clients."""

    def __init__(self, fake: FakeExchange) -> None:
        import socket
        import threading

        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        config = uvicorn.Config(fake.app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServedFake:
        import time

        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake REST service did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
