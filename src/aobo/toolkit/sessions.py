"""The account's open sessions on the server: list them (WS-Man Enumerate) and close them (Delete).

Only three sessions may be open per account, and a forgotten one blocks the account until it
expires. The server answers an Enumerate of the shell resource with the caller's own shells only
and refuses (as "not found") a Delete of another account's shell, so these functions cannot see
or touch anyone else's sessions.

The Enumerate request is built here (not in :mod:`aobo.toolkit.wsman`, which has no Enumerate
builder): an optimised enumeration (``w:OptimizeEnumeration``, as pypsrp and Windows send it),
followed by Pulls while the server keeps an enumeration context.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from aobo.toolkit import wsman
from aobo.toolkit.errors import ConnectError, WSManFault
from aobo.toolkit.session import endpoint_url, run_sync
from aobo.toolkit.transport import CredentialLike, Transport

__all__ = ["SHELL_RESOURCE", "ShellInfo", "aclose_sessions", "alist_sessions", "close_sessions", "list_sessions"]

log = logging.getLogger(__name__)
T = TypeVar("T")

SHELL_RESOURCE: Final = wsman.SHELL
ENUMERATION: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
ACTION_ENUMERATE: Final = f"{ENUMERATION}/Enumerate"
ACTION_PULL: Final = f"{ENUMERATION}/Pull"
MAX_ELEMENTS: Final = 32000
#: Pulls before giving up on a server that never ends the sequence.
_MAX_PULLS: Final = 100


@dataclass(frozen=True, slots=True)
class ShellInfo:
    """One open session as the server describes it (``rsp:Shell``)."""

    shell_id: str
    resource_uri: str
    owner: str
    client_ip: str
    state: str
    idle_timeout: float
    run_time: float
    inactivity: float

    @property
    def configuration(self) -> str:
        """``Microsoft.Exchange`` for ``http://schemas.microsoft.com/powershell/Microsoft.Exchange``."""
        return self.resource_uri.rstrip("/").rsplit("/", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "configuration": self.configuration}


# ------------------------------------------------------------------------------------------------ sans-IO


def enumerate_request(to: str, *, max_elements: int = MAX_ELEMENTS, operation_timeout: float = 20.0) -> wsman.Request:
    body = (
        f'<wsen:Enumerate xmlns:wsen="{ENUMERATION}"><wsman:OptimizeEnumeration/>'
        f"<wsman:MaxElements>{int(max_elements)}</wsman:MaxElements></wsen:Enumerate>"
    )
    return wsman.envelope(
        ACTION_ENUMERATE, to=to, resource_uri=SHELL_RESOURCE, body=body, operation_timeout=operation_timeout
    )


def pull_request(to: str, context: str, *, max_elements: int = MAX_ELEMENTS) -> wsman.Request:
    from xml.sax.saxutils import escape

    body = (
        f'<wsen:Pull xmlns:wsen="{ENUMERATION}"><wsen:EnumerationContext>{escape(context)}</wsen:EnumerationContext>'
        f"<wsen:MaxElements>{int(max_elements)}</wsen:MaxElements></wsen:Pull>"
    )
    return wsman.envelope(ACTION_PULL, to=to, resource_uri=SHELL_RESOURCE, body=body)


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float:
    """An xs:duration without years or months (``P0DT1H2M3S``, ``PT900.000S``) in seconds; 0 if unreadable."""
    m = _DURATION.match(text.strip())
    if m is None:
        return 0.0
    parts = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def _shell(element: Any) -> ShellInfo:
    def text(name: str) -> str:
        return (element.findtext(f"{{{wsman.SHELL}}}{name}") or "").strip()

    return ShellInfo(
        shell_id=text("ShellId"),
        resource_uri=text("ResourceUri"),
        owner=text("Owner"),
        client_ip=text("ClientIP"),
        state=text("State"),
        idle_timeout=parse_duration(text("IdleTimeOut")),
        run_time=parse_duration(text("ShellRunTime")),
        inactivity=parse_duration(text("ShellInactivity")),
    )


def parse_enumeration(data: bytes) -> tuple[list[ShellInfo], str | None]:
    """An EnumerateResponse or PullResponse: its shells, and the context to Pull with (None at the end)."""
    body = wsman.body_of(wsman.check(data))
    shells = [_shell(el) for el in body.iter(f"{{{wsman.SHELL}}}Shell")]
    response = body.find(f"{{{ENUMERATION}}}EnumerateResponse")
    if response is None:
        response = body.find(f"{{{ENUMERATION}}}PullResponse")
    if response is None:
        raise ConnectError("The server's answer to Enumerate has no EnumerateResponse or PullResponse.")
    ended = any(el.tag.endswith("}EndOfSequence") for el in response)
    context = (response.findtext(f"{{{ENUMERATION}}}EnumerationContext") or "").strip()
    return shells, None if ended or not context else context


# ------------------------------------------------------------------------------------------------ async


def _service_url(uri: str) -> str:
    """The endpoint acting in the account's own tenant (no DelegatedOrg): shells are per account."""
    return endpoint_url(uri, None)


async def alist_sessions(
    uri: str, credential: CredentialLike, *, ca_file: str | Path | None = None, insecure: bool = False
) -> list[ShellInfo]:
    """The account's open sessions on the server at ``uri`` (oldest first)."""
    url = _service_url(uri)
    transport = Transport(url, credential, ca_file=ca_file, insecure=insecure)
    try:
        return await _enumerate(transport, url)
    finally:
        await transport.aclose()


async def _enumerate(transport: Transport, url: str) -> list[ShellInfo]:
    shells, context = parse_enumeration(await transport.post(enumerate_request(url)))
    pulls = 0
    while context is not None:
        pulls += 1
        if pulls > _MAX_PULLS:
            raise ConnectError("The server's enumeration of sessions does not end.")
        more, context = parse_enumeration(await transport.post(pull_request(url, context)))
        shells.extend(more)
    return shells


async def aclose_sessions(
    uri: str,
    credential: CredentialLike,
    shell_ids: Iterable[str] | None = None,
    *,
    ca_file: str | Path | None = None,
    insecure: bool = False,
) -> int:
    """Close the account's sessions (all of them, or those in ``shell_ids``); how many were closed.

    A shell id the server does not know for this account (gone, or someone else's) is skipped.
    """
    url = _service_url(uri)
    transport = Transport(url, credential, ca_file=ca_file, insecure=insecure)
    try:
        if shell_ids is None:
            targets = [(s.shell_id, s.resource_uri) for s in await _enumerate(transport, url)]
        else:
            targets = [(sid.upper(), wsman.EXCHANGE_RESOURCE_URI) for sid in shell_ids]
        closed = 0
        for shell_id, resource_uri in targets:
            try:
                await transport.post(wsman.delete(url, shell_id, resource_uri=resource_uri or SHELL_RESOURCE))
            except WSManFault as fault:
                log.info("session %s was not closed: %s", shell_id, fault)
                continue
            closed += 1
        return closed
    finally:
        await transport.aclose()


# ------------------------------------------------------------------------------------------------ sync


def list_sessions(
    uri: str, credential: CredentialLike, *, ca_file: str | Path | None = None, insecure: bool = False
) -> list[ShellInfo]:
    """See :func:`alist_sessions`."""
    return run_sync(alist_sessions(uri, credential, ca_file=ca_file, insecure=insecure))


def close_sessions(
    uri: str,
    credential: CredentialLike,
    shell_ids: Iterable[str] | None = None,
    *,
    ca_file: str | Path | None = None,
    insecure: bool = False,
) -> int:
    """See :func:`aclose_sessions`."""
    ids = None if shell_ids is None else list(shell_ids)
    return run_sync(aclose_sessions(uri, credential, ids, ca_file=ca_file, insecure=insecure))
