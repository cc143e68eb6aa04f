"""Shared pieces of the end-to-end tests: accounts, texts, and a pypsrp-driven endpoint."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import httpx
from pypsrp.complex_objects import GenericComplexObject
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.serializer import Serializer
from pypsrp.wsman import WSMan

from tests.e2e.rest_client import RestPool, TokenCache

PARTNER_ADMIN = "admin@northwindit.onmicrosoft.com"
PARTNER_HELPDESK = "helpdesk@northwindit.onmicrosoft.com"
PARTNER_NORPS = "norps@northwindit.onmicrosoft.com"

WARNING_1000 = (
    "By default, only the first 1000 items are returned. Use the ResultSize parameter to specify the number of "
    'items returned. To return all items, specify "-ResultSize Unlimited". Be aware that, depending on the actual '
    "number of items, returning all items can take a long time and consume a large amount of memory. Also, we "
    "don't recommend storing the results in a variable. Instead, pipe the results to another task or script to "
    "perform batch changes."
)


def _raw_collection(xml: str) -> Any:
    kind = "System.Collections.Hashtable" if xml.startswith("<DCT") else "System.Collections.ArrayList"
    return Serializer().deserialize(f"<Obj RefId='0'><TN RefId='0'><T>{kind}</T></TN>{xml}</Obj>")


def plain(value: Any) -> Any:
    """A pypsrp-deserialised value as plain Python: enums become their names, objects dicts."""
    if isinstance(value, GenericComplexObject):
        if value.extended_properties or value.adapted_properties:
            return {**value.adapted_properties, **value.extended_properties}
        # Lists and hashtables arrive as the object's only "property set" (pypsrp leaves the <LST> of an
        # unknown collection type as raw XML); enums as ToString + I32.
        collections = [_raw_collection(v) if isinstance(v, str) else v for v in value.property_sets]
        collections = [v for v in collections if isinstance(v, list | dict)]
        if collections:
            return plain(collections[0])
        if value.to_string is not None:
            return str(value.to_string)
        return value
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def run(pool: RunspacePool | RestPool, cmdlet: str, *params: tuple[str, object], input: Any = None) -> Any:
    """Run one command; a ``(name, None)`` parameter is a switch. Over REST a call is one
    InvokeCommand, which takes no pipeline input."""
    if isinstance(pool, RestPool):
        if input is not None:
            raise ValueError("REST InvokeCommand runs one cmdlet without pipeline input")
        # None is what pypsrp sends for a bare switch (a null value), and JSON says null too.
        return pool.run(cmdlet, {name: _json_value(value) for name, value in params})
    ps = PowerShell(pool)
    ps.add_cmdlet(cmdlet)
    for name, value in params:
        if value is None:
            ps.add_parameter(name)
        else:
            ps.add_parameter(name, value)
    ps.invoke(input=input)
    return ps


def invoke(pool: RunspacePool | RestPool, cmdlet: str, /, **params: Any) -> Any:
    """``invoke(pool, "Set-Mailbox", Identity="x", HiddenFromAddressListsEnabled=True)``; a value of
    ``None`` is a switch."""
    return run(pool, cmdlet, *params.items())


def is_rest(ps_or_pool: Any) -> bool:
    return isinstance(ps_or_pool, RestPool) or not isinstance(ps_or_pool, PowerShell | RunspacePool)


def is_type(ps: Any, type_name: str) -> bool:
    """Is the first output object of that .NET type? Over REST always true: its JSON has no type
    names (they are a CLIXML notion), so only remote PowerShell can be held to them."""
    return is_rest(ps) or str(ps.output[0].types[0]).endswith(type_name)


def visible_cmdlets(pool: RunspacePool | RestPool) -> set[str]:
    """The cmdlets a caller is shown: Get-Command metadata over PSRP, EXOModuleFile over REST."""
    if isinstance(pool, RestPool):
        return pool.exported_cmdlets()
    return {m.name for m in pool.get_command_metadata(["*"])}


def errors_of(ps: PowerShell) -> list[str]:
    """The text of each error record the command wrote."""
    return [str(e) for e in ps.streams.error]


def objects_of(ps: PowerShell) -> list[dict[str, Any]]:
    out = []
    for obj in ps.output:
        props = plain(obj)
        out.append({k: plain(v) for k, v in props.items()} if isinstance(props, dict) else props)
    return out


@dataclass
class Endpoint:
    """A running aobo server and the way tests reach it: with pypsrp, or (``frontend="rest"``)
    with REST InvokeCommand and tokens from the server's identity endpoint."""

    server: Any  # aobo.server.BackgroundServer
    password: str
    frontend: str = "psrp"
    _tokens: TokenCache | None = field(default=None, repr=False)
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def store(self) -> Any:
        return self.server.store

    def wsman(self, user: str, org: str | None, *, password: str | None = None, **kwargs: Any) -> WSMan:
        s = self.server.settings
        path = "powershell-liveid" + (f"?DelegatedOrg={org}" if org else "")
        tls = not s.insecure_http
        return WSMan(
            s.host,
            port=s.port,
            path=path,
            ssl=tls,
            auth="basic",
            encryption="never" if not tls else "auto",
            cert_validation=str(self.server.ca_file) if tls else False,
            username=user,
            password=self.password if password is None else password,
            operation_timeout=kwargs.pop("operation_timeout", 5),
            read_timeout=kwargs.pop("read_timeout", 15),
            **kwargs,
        )

    def open_pool(self, user: str, org: str | None, *, password: str | None = None, **kwargs: Any) -> RunspacePool:
        pool = RunspacePool(self.wsman(user, org, password=password, **kwargs), configuration_name="Microsoft.Exchange")
        pool.open()
        return pool

    def verify(self) -> Any:
        if self.server.settings.insecure_http:
            return False
        return ssl.create_default_context(cafile=str(self.server.ca_file))

    def token(self, user: str, org: str | None, *, password: str | None = None) -> str:
        if self._tokens is None:
            self._tokens = TokenCache(self.server.base_url, self.password, str(self.server.ca_file))
        return self._tokens.token(user, org or user.rpartition("@")[2], password)

    def rest_pool(self, user: str, org: str | None, *, password: str | None = None) -> RestPool:
        if self._http is None:
            self._http = httpx.Client(verify=self.verify(), timeout=30)
        tenant = org or user.rpartition("@")[2]
        return RestPool(self._http, self.server.base_url, tenant, self.token(user, org, password=password), user)

    def close(self) -> None:
        if self._tokens is not None:
            self._tokens.close()
        if self._http is not None:
            self._http.close()

    @contextlib.contextmanager
    def pool(self, user: str, org: str | None, **kwargs: Any) -> Iterator[Any]:
        """A runspace pool, or over REST a :class:`RestPool` (which keeps no session)."""
        if self.frontend == "rest":
            yield self.rest_pool(user, org, password=kwargs.get("password"))
            return
        pool = self.open_pool(user, org, **kwargs)
        try:
            yield pool
        finally:
            pool.close()

    def open_sessions(self, user: str) -> int:
        return self.server.app.state.wsman.shells.count(user.lower())

    def receive_count(self) -> int:
        return self.server.app.state.wsman.receives_answered
