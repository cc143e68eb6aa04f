"""The REST front end seen the way the command-surface tests see remote PowerShell.

:class:`RestPool` stands where a pypsrp ``RunspacePool`` stands in ``tests/e2e/helpers.py``: the
same ``run``/``invoke`` helpers drive either, so one test body checks a cmdlet over both front
ends. Tokens come from the server's own identity endpoint through msal (the real client), one per
account and tenant. Each call is one ``InvokeCommand`` POST, following ``@odata.nextLink`` until
the last page, as CIPP does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
import msal
from pypsrp.powershell import PSInvocationState

from tests.identity_support import PortKeepingSession

EXCHANGE_MODULE = "fb78d390-0c51-40cd-8e17-fdbfab77341b"
SCOPES = ["https://outlook.office365.com/.default"]


@dataclass(frozen=True)
class RestError:
    """One error as the REST API reports it: the message part of ``<ErrorId>|<Exception>|<Message>``."""

    message: str
    error_id: str = ""
    exception_type: str = ""

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class RestWarning:
    message: str


@dataclass
class RestStreams:
    error: list[RestError] = field(default_factory=list)
    warning: list[RestWarning] = field(default_factory=list)


@dataclass
class RestResult:
    """What ``PowerShell`` offers the tests, for one REST call: output, streams, state."""

    output: list[dict[str, Any]]
    streams: RestStreams
    status: int
    body: dict[str, Any]

    @property
    def had_errors(self) -> bool:
        return bool(self.streams.error)

    @property
    def state(self) -> PSInvocationState:
        return PSInvocationState.FAILED if self.status >= 400 else PSInvocationState.COMPLETED


def parse_error(body: dict[str, Any]) -> RestError:
    error = body.get("error") or {}
    details = error.get("details") or []
    if details and details[0].get("message"):
        error_id, _, rest = str(details[0]["message"]).partition("|")
        exception_type, _, message = rest.partition("|")
        if message:
            return RestError(message, error_id, exception_type)
    inner = (error.get("innererror") or {}).get("internalexception") or {}
    return RestError(str(inner.get("message") or error.get("message") or body))


class TokenCache:
    """msal public clients per tenant, tokens per account and tenant (thread-safe)."""

    def __init__(self, base_url: str, password: str, ca_file: str) -> None:
        self.base_url = base_url
        self.password = password
        self._session = PortKeepingSession(base_url, ca_file)  # msal's HTTP client is requests-shaped
        self._apps: dict[str, msal.PublicClientApplication] = {}
        self._tokens: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def token(self, user: str, tenant: str, password: str | None = None) -> str:
        key = (user.lower(), tenant.lower())
        with self._lock:
            if password is None and key in self._tokens:
                return self._tokens[key]
            app = self._apps.get(tenant.lower())
            if app is None:
                app = self._apps[tenant.lower()] = msal.PublicClientApplication(
                    EXCHANGE_MODULE,
                    authority=f"{self.base_url}/{tenant}",
                    validate_authority=False,
                    instance_discovery=False,
                    http_client=self._session,
                )
            result = app.acquire_token_by_username_password(user, password or self.password, scopes=SCOPES)
            if "access_token" not in result:
                raise PermissionError(result.get("error_description", result))
            if password is None:
                self._tokens[key] = result["access_token"]
            return result["access_token"]

    def close(self) -> None:
        self._session.close()


class RestPool:
    """One account acting in one tenant over ``/adminapi/beta/<tenant>/InvokeCommand``."""

    def __init__(self, client: httpx.Client, base_url: str, tenant: str, token: str, user: str) -> None:
        self.client = client
        self.url = f"{base_url}/adminapi/beta/{tenant}/InvokeCommand"
        self.tenant = tenant
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "X-AnchorMailbox": f"UPN:{user}",
            "Prefer": "odata.maxpagesize=1000",
        }

    def run(self, cmdlet: str, parameters: dict[str, Any]) -> RestResult:
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}
        output: list[dict[str, Any]] = []
        streams = RestStreams()
        url: str | None = self.url
        status, payload = 200, {}
        while url:
            response = self.client.post(url, json=body, headers={**self.headers, "X-CmdletName": cmdlet})
            status, payload = response.status_code, response.json()
            streams.warning += [RestWarning(w) for w in payload.get("@adminapi.warnings") or []]
            if status >= 400:
                streams.error.append(parse_error(payload))
                break
            output += payload.get("value") or []
            url = payload.get("@odata.nextLink")
        return RestResult(output, streams, status, payload)

    def exported_cmdlets(self) -> set[str]:
        """The cmdlets ``EXOModuleFile`` lists for this caller (what the module would import)."""
        url = self.url.replace("/adminapi/beta/", "/adminapi/v1.0/").replace("/InvokeCommand", "/EXOModuleFile")
        response = self.client.get(url, params={"Version": "3.7.1"}, headers=self.headers)
        response.raise_for_status()
        return set(response.json()["value"][0]["exportedCmdlets"].split(","))

    def close(self) -> None:
        pass
