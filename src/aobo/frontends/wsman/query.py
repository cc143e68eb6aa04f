"""The connection URI's query string, as remote PowerShell clients write it (sans-IO).

Windows PowerShell appends ``PSVersion=<version>`` to every connection URI; when the URI already
has a query it joins it with a **semicolon** (``WSManClientSessionTransportManager.Initialize``:
``"{0};PSVersion={1}"``), so the seed's ``...?DelegatedOrg=contoso.onmicrosoft.com`` reaches the
server as ``?DelegatedOrg=contoso.onmicrosoft.com;PSVersion=5.1.19041.4522`` on every request of
the session. Exchange's own URLs use ``;`` between values too
(``?serializationLevel=Full;ExchClientVer=...;PSVersion=...``). Python's ``parse_qsl`` splits on
``&`` only (since 3.9.2), so this module has its own small parser: values separated by ``&`` or
``;``, keys matched case-insensitively (clients write ``DelegatedOrg`` and ``delegatedorg``),
keys and values percent-decoded, the first occurrence of a key winning. No tenant domain, GUID or
boolean contains ``;``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

_SEPARATORS = re.compile(r"[&;]")
_VERSION = re.compile(r"\d{1,10}(\.\d{1,10}){0,3}")
#: A query longer than this is not a client's connection URI; the rest is ignored.
MAX_QUERY_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class ConnectionQuery:
    """What the connection URI's query tells the endpoint."""

    #: The customer organisation to act in (``DelegatedOrg``), or None for the caller's own.
    delegated_org: str | None = None
    #: ``BasicAuthToOAuthConversion=true``: the Basic password is ``Bearer <token>``.
    oauth_conversion: bool = False
    #: The client's ``PSVersion`` (Windows PowerShell adds it); kept for the log only.
    ps_version: str | None = None


def parse_query(query: str) -> dict[str, str]:
    """``a=1;B=2&c`` → ``{"a": "1", "b": "2", "c": ""}``: lower-case keys, first value wins."""
    values: dict[str, str] = {}
    for part in _SEPARATORS.split(query[:MAX_QUERY_LENGTH]):
        if not part:
            continue
        key, _, value = part.partition("=")
        name = unquote_plus(key).strip().lower()
        if name and name not in values:
            values[name] = unquote_plus(value).strip()
    return values


def connection_query(query: str) -> ConnectionQuery:
    values = parse_query(query)
    return ConnectionQuery(
        delegated_org=values.get("delegatedorg") or None,
        oauth_conversion=values.get("basicauthtooauthconversion", "").lower() in ("true", "1", "yes"),
        # Only a version goes to the log: anything else (a line break, say) is dropped.
        ps_version=version if _VERSION.fullmatch(version := values.get("psversion", "")) else None,
    )
