"""The HTTP side of the remote PowerShell endpoint: the only module here that does I/O.

Routes ``/powershell-liveid``, ``/PowerShell-LiveID`` and ``/powershell`` in any letter case,
authenticates Basic credentials, caps the request size, and turns faults into HTTP 500 SOAP
bodies (401 only for authentication, as WinRM does).
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from aobo.domain.models import User
from aobo.errors import AuthenticationFailed
from aobo.frontends.bodies import BodyTooLarge, read_body
from aobo.frontends.credentials import CredentialVerifier, parse_basic
from aobo.frontends.oauth.bearer import BearerAuthenticator, BearerRejected, bearer_in_password, unverified_tenant
from aobo.frontends.wsman.envelope import parse_request
from aobo.frontends.wsman.faults import FaultCode, WSManFault, render_fault
from aobo.frontends.wsman.query import connection_query
from aobo.frontends.wsman.service import Caller, WSManService

log = logging.getLogger(__name__)

ENDPOINT_PATHS = frozenset({"/powershell-liveid", "/powershell"})
SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"


def is_endpoint(path: str) -> bool:
    return path.rstrip("/").lower() in ENDPOINT_PATHS


def unauthorized() -> Response:
    return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="WSMAN"', "Content-Length": "0"})


def fault_response(fault: WSManFault, relates_to: str | None) -> Response:
    return Response(render_fault(fault, relates_to), status_code=500, media_type=SOAP_CONTENT_TYPE)


class WSManEndpoint:
    def __init__(
        self, service: WSManService, verifier: CredentialVerifier, bearer: BearerAuthenticator | None = None
    ) -> None:
        self.service = service
        self.verifier = verifier
        self.bearer = bearer
        self.settings = service.settings

    async def __call__(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(status_code=405, headers={"Allow": "POST"})
        creds = parse_basic(request.headers.get("authorization"))
        if creds is None:
            return unauthorized()
        query = connection_query(request.url.query)
        token = bearer_in_password(creds.password) if query.oauth_conversion else None
        if token is not None and self.bearer is not None:
            try:
                user = await run_in_threadpool(self._token_user, token, query.delegated_org)
            except BearerRejected as exc:
                log.info("bearer token refused: %s", exc.reason)
                return unauthorized()
        else:
            cached = self.verifier.cached(creds)
            if cached is None:
                try:
                    cached = await run_in_threadpool(self.verifier.verify, creds)
                except AuthenticationFailed:
                    return unauthorized()
            user = cached

        try:
            body = await read_body(request, self.settings.max_request_size)
        except BodyTooLarge:
            fault = WSManFault(
                FaultCode.ENVELOPE_TOO_LARGE,
                f"The WS-Management service cannot process the request because the envelope is larger than "
                f"{self.settings.max_request_size} bytes.",
                subcode="w:EncodingLimit",
            )
            response = fault_response(fault, None)
            response.headers["Connection"] = "close"
            return response
        message_id = None
        try:
            if len(body) > self.settings.max_envelope_size:
                raise WSManFault(
                    FaultCode.ENCODING_LIMIT,
                    f"The WS-Management service cannot process the request because the request envelope "
                    f"({len(body)} bytes) exceeds the maximum envelope size of {self.settings.max_envelope_size}.",
                    subcode="w:EncodingLimit",
                )
            parsed = parse_request(body)
            message_id = parsed.message_id
            caller = Caller(
                user=user,
                client_ip=request.client.host if request.client else "",
                delegated_org=query.delegated_org,
                address=str(request.url),
                ps_version=query.ps_version,
            )
            payload = await self.service.handle(parsed, caller)
        except WSManFault as fault:
            if fault.code != FaultCode.OPERATION_TIMED_OUT:
                log.info("fault %s: %s", fault.subcode, fault.reason.split("\r\n", 1)[0])
            return fault_response(fault, message_id or fault.relates_to)
        except Exception:
            log.exception("unexpected error while serving a WS-Man request")
            fault = WSManFault(
                FaultCode.INVALID_SOAP_BODY,
                "The WS-Management service could not process the request because of an internal error.",
                subcode="w:InternalError",
                sender=False,
            )
            return fault_response(fault, message_id)
        return Response(payload, media_type=SOAP_CONTENT_TYPE)

    def _token_user(self, token: str, delegated_org: str | None) -> User:
        """BasicAuthToOAuthConversion: the Basic password is ``Bearer <token>`` (the user name, often
        ``OAuthUser@<tenant id>``, is not used). The token must be for the DelegatedOrg's tenant, or
        the caller's own one when there is none; the session's access decision is taken as for Basic."""
        assert self.bearer is not None
        store = self.service.store
        org = (delegated_org or "").strip()
        tenant_ref = org or unverified_tenant(token)
        tenant = store.resolve_tenant(tenant_ref) if tenant_ref else None
        if tenant is None:
            raise BearerRejected("tenant")
        user = self.bearer.user(token, tenant)
        if not org and user.tenant_id != tenant.id:
            raise BearerRejected("tenant", "The access token is for another organization; name it with DelegatedOrg.")
        return user
