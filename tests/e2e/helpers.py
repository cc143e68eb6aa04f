"""Shared pieces of the end-to-end tests: accounts, texts, and a pypsrp-driven endpoint."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pypsrp.complex_objects import GenericComplexObject
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.serializer import Serializer
from pypsrp.wsman import WSMan

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


def run(pool: RunspacePool, cmdlet: str, *params: tuple[str, object], input: Any = None) -> PowerShell:
    """Run one command; a ``(name, None)`` parameter is a switch."""
    ps = PowerShell(pool)
    ps.add_cmdlet(cmdlet)
    for name, value in params:
        if value is None:
            ps.add_parameter(name)
        else:
            ps.add_parameter(name, value)
    ps.invoke(input=input)
    return ps


def invoke(pool: RunspacePool, cmdlet: str, /, **params: Any) -> PowerShell:
    """``invoke(pool, "Set-Mailbox", Identity="x", HiddenFromAddressListsEnabled=True)``; a value of
    ``None`` is a switch."""
    return run(pool, cmdlet, *params.items())


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
    """A running aobo server and the way tests reach it with pypsrp."""

    server: Any  # aobo.server.BackgroundServer
    password: str

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

    @contextlib.contextmanager
    def pool(self, user: str, org: str | None, **kwargs: Any) -> Iterator[RunspacePool]:
        pool = self.open_pool(user, org, **kwargs)
        try:
            yield pool
        finally:
            pool.close()

    def open_sessions(self, user: str) -> int:
        return self.server.app.state.wsman.shells.count(user.lower())

    def receive_count(self) -> int:
        return self.server.app.state.wsman.receives_answered
