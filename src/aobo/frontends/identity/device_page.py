"""The device-code verification page, ``/devicelogin``: plain HTML forms, no JavaScript.

Step one takes the code shown on the device and the account's name and password (checked like any
sign-in, lock-out included); step two asks the person to confirm (Continue / Cancel). Each form
carries an anti-CSRF token signed for that form, and every response forbids framing and any
script or outside resource.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from html import escape

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from aobo.domain.models import Tenant, User
from aobo.domain.store import Store
from aobo.errors import AuthenticationFailed
from aobo.frontends.bodies import BodyTooLarge
from aobo.frontends.credentials import BasicCredentials, CredentialVerifier
from aobo.frontends.identity.device_flow import DeviceFlows, DeviceGrant
from aobo.frontends.identity.errors import EntraError
from aobo.frontends.identity.forms import read_form

PATH = "/devicelogin"
MAX_FORM = 16 * 1024
CSRF_LIFETIME = 900
#: Well-known public clients, named as Entra names them on its consent screen.
KNOWN_CLIENTS = {
    "fb78d390-0c51-40cd-8e17-fdbfab77341b": "Microsoft Exchange REST API Based Powershell",
    "a0c73c16-a7e3-4564-9a95-2bdf47383716": "Microsoft Exchange Online Remote PowerShell",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STYLE = """
body{font-family:"Segoe UI",system-ui,sans-serif;background:#f2f2f2;color:#1b1b1b;margin:0}
main{background:#fff;max-width:28rem;margin:3rem auto;padding:2rem 2.5rem;box-shadow:0 2px 6px rgba(0,0,0,.2)}
h1{font-size:1.5rem;font-weight:600;margin:0 0 1rem}
label{display:block;margin:1rem 0 .25rem;font-weight:600}
input[type=text],input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;
 font-size:1rem;border:1px solid #666}
button{margin:1.5rem .5rem 0 0;padding:.5rem 1.5rem;font-size:1rem;border:1px solid #0067b8;
 background:#0067b8;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#0067b8}
:focus-visible{outline:3px solid #1b1b1b;outline-offset:2px}
[role=alert]{color:#a80000;border-left:4px solid #a80000;padding:.25rem .75rem;margin:1rem 0}
"""

TargetCheck = Callable[[User, Tenant | None], object]


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{escape(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _alert(message: str | None) -> str:
    return f'<p role="alert" id="error">{escape(message)}</p>\n' if message else ""


class DevicePage:
    def __init__(self, store: Store, verifier: CredentialVerifier, flows: DeviceFlows, target: TargetCheck) -> None:
        self.store = store
        self.verifier = verifier
        self.flows = flows
        self.target = target
        self._key = os.urandom(32)

    # -- anti-CSRF tokens: "<expiry>.<nonce>.<hmac(form, expiry, nonce)>" ---------------------------

    def _csrf(self, form: str) -> str:
        expiry = str(int(time.time()) + CSRF_LIFETIME)
        nonce = secrets.token_urlsafe(16)
        mac = hmac.new(self._key, f"{form}|{expiry}|{nonce}".encode(), hashlib.sha256).hexdigest()
        return f"{expiry}.{nonce}.{mac}"

    def _csrf_ok(self, form: str, token: str) -> bool:
        expiry, _, rest = token.partition(".")
        nonce, _, mac = rest.partition(".")
        if not expiry.isdigit() or int(expiry) < time.time():
            return False
        wanted = hmac.new(self._key, f"{form}|{expiry}|{nonce}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(wanted, mac)

    # -- pages ------------------------------------------------------------------------------------

    def _sign_in_form(
        self, error: str | None = None, code: str = "", username: str = "", status: int = 200
    ) -> Response:
        described = ' aria-describedby="error"' if error else ""
        body = (
            "<p>Enter the code displayed on your app or device, then sign in with your work account.</p>\n"
            + _alert(error)
            + f'<form method="post" action="{PATH}">\n'
            f'<input type="hidden" name="csrf" value="{self._csrf("signin")}">\n'
            '<input type="hidden" name="step" value="signin">\n'
            '<label for="otc">Code</label>\n'
            f'<input type="text" id="otc" name="otc" value="{escape(code)}" autocomplete="one-time-code" '
            f'autocapitalize="characters" spellcheck="false" required{described}>\n'
            '<label for="username">Email or user name</label>\n'
            f'<input type="email" id="username" name="username" value="{escape(username)}" autocomplete="username" '
            f"required{described}>\n"
            '<label for="password">Password</label>\n'
            '<input type="password" id="password" name="password" autocomplete="current-password" '
            f"required{described}>\n"
            '<button type="submit">Next</button>\n</form>'
        )
        return _page("Enter code", body, status)

    def _consent_form(self, grant: DeviceGrant, user: User, ticket: str) -> Response:
        name = self._client_name(grant.client_id)
        body = (
            f"<p>Are you trying to sign in to {escape(name)} as {escape(user.user_principal_name)}?</p>\n"
            "<p>Only continue if you downloaded the app from a store or website that you trust.</p>\n"
            f'<form method="post" action="{PATH}">\n'
            f'<input type="hidden" name="csrf" value="{self._csrf("consent|" + ticket)}">\n'
            '<input type="hidden" name="step" value="consent">\n'
            f'<input type="hidden" name="ticket" value="{escape(ticket)}">\n'
            '<button type="submit" name="action" value="continue">Continue</button>\n'
            '<button type="submit" name="action" value="cancel" class="secondary">Cancel</button>\n</form>'
        )
        return _page("Are you trying to sign in?", body)

    def _client_name(self, client_id: str) -> str:
        known = KNOWN_CLIENTS.get(client_id.lower())
        if known:
            return known
        app = self.store.apps.get(client_id)
        return app.display_name if app is not None else client_id

    async def __call__(self, request: Request) -> Response:
        if request.method == "GET":
            code = request.query_params.get("otc", "")[:64]
            return self._sign_in_form(code=code)
        if request.method != "POST":
            return _page("Method not allowed", "<p>Use the form on this page.</p>", 405)
        try:
            form = await read_form(request, MAX_FORM)
        except BodyTooLarge:
            return _page("Request too large", '<p role="alert">The form sent was too large.</p>', 413)
        if form.get("step") == "consent":
            return await run_in_threadpool(self._consent, form)
        return await run_in_threadpool(self._sign_in, form)

    def _sign_in(self, form: dict[str, str]) -> Response:
        code, username = form.get("otc", "")[:64], form.get("username", "")[:320]
        if not self._csrf_ok("signin", form.get("csrf", "")):
            return self._sign_in_form("Your session on this page has timed out. Please try again.", code, username, 400)
        grant = self.flows.by_user_code(code)
        if grant is None or grant.state != "pending":
            return self._sign_in_form("That code didn't work. Check the code and try again.", "", username, 400)
        if grant.expired:
            return self._sign_in_form(
                "The code you entered has expired. Get a new code from the device you're trying to sign in to and "
                "try again.",
                "",
                username,
                400,
            )
        try:
            user = self.verifier.verify(BasicCredentials(username, form.get("password", "")))
        except AuthenticationFailed:
            return self._sign_in_form(
                "Your account or password is incorrect. If you don't remember your password, reset it now.",
                code,
                username,
                400,
            )
        try:
            self.target(user, grant.url_tenant)
        except EntraError as err:
            return self._sign_in_form(f"AADSTS{err.code}: {err.message}", "", username, 403)
        return self._consent_form(grant, user, self.flows.offer_consent(grant, user))

    def _consent(self, form: dict[str, str]) -> Response:
        ticket = form.get("ticket", "")
        grant = self.flows.by_ticket(ticket) if ticket else None
        if grant is None or not self._csrf_ok("consent|" + ticket, form.get("csrf", "")):
            return self._sign_in_form("That sign-in is no longer waiting. Enter the code again.", status=400)
        approve = form.get("action") == "continue"
        if not self.flows.decide(grant, approve=approve):
            return self._sign_in_form("That sign-in is no longer waiting. Enter the code again.", status=400)
        if approve:
            name = escape(self._client_name(grant.client_id))
            return _page(
                "You're signed in",
                f"<p>You have signed in to the {name} application on your device. You may now close this window.</p>",
            )
        return _page("Sign-in cancelled", "<p>You cancelled the sign-in. You may now close this window.</p>")
