"""Exchange Online's REST ``InvokeCommand`` on the wire, without I/O: URLs, headers, bodies, pages, errors.

::

    POST https://outlook.office365.com/adminapi/beta/<tenant>/InvokeCommand
    {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": "Unlimited"}}}
    → {"@odata.context": ..., "value": [...], "@odata.nextLink": ..., "@adminapi.warnings": [...]}

An error is an OData error whose ``error.details[].message`` is ``<ErrorId>|<ExceptionType>|<Message>``.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, urljoin, urlsplit

from aobo.toolkit.errors import CommandError, ConnectError
from aobo.toolkit.records import Record

__all__ = [
    "DEFAULT_REST_URI",
    "SYSTEM_MAILBOX",
    "Page",
    "anchor_mailbox",
    "command_error",
    "invoke_url",
    "module_file_url",
    "parse_page",
    "request_body",
    "request_headers",
    "rest_base",
    "same_origin",
]

DEFAULT_REST_URI: Final = "https://outlook.office365.com"
#: The arbitration mailbox every organisation has; the anchor for app-only and GDAP partner calls.
SYSTEM_MAILBOX: Final = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}"
DEFAULT_API_VERSION: Final = "beta"
CLIENT_APPLICATION: Final = "ExoManagementModule"
PAGE_SIZE: Final = 1000
MODULE_VERSION: Final = "3.7.0"
_RPS_PATH = re.compile(r"/powershell(-liveid)?/?$", re.IGNORECASE)
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})?$")


def rest_base(uri: str | None) -> str:
    """The REST service root: ``uri`` without a trailing ``/powershell-liveid`` (a profile written for
    remote PowerShell works), or Microsoft's ``https://outlook.office365.com``."""
    if not uri:
        return DEFAULT_REST_URI
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectError(f"{uri!r} is not an http(s) URL such as {DEFAULT_REST_URI}")
    if parts.username is not None or parts.password is not None:
        raise ConnectError("the endpoint URI must not carry a user name or password")
    path = _RPS_PATH.sub("", parts.path).rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}"


def invoke_url(base: str, tenant: str, version: str = DEFAULT_API_VERSION) -> str:
    """``<base>/adminapi/<version>/<tenant>/InvokeCommand``."""
    return f"{base.rstrip('/')}/adminapi/{version}/{quote(tenant, safe='@.-_')}/InvokeCommand"


def module_file_url(base: str, tenant: str, version: str = MODULE_VERSION) -> str:
    """The connect-time bootstrap: its ``value.exportedCmdlets`` lists the cmdlets."""
    return f"{base.rstrip('/')}/adminapi/v1.0/{quote(tenant, safe='@.-_')}/EXOModuleFile?Version={version}"


def same_origin(url: str, base: str) -> bool:
    """A next link must stay on the service the token was meant for."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def absolute(link: str, current: str) -> str:
    return urljoin(current, link)


def anchor_mailbox(tenant: str, *, username: str | None, home_tenant: str | None) -> str:
    """``UPN:<user>`` for a user in their own tenant; the organisation's system mailbox otherwise
    (app-only, and a partner acting in a customer, who has no mailbox there)."""
    if username and home_tenant and tenant.casefold() == home_tenant.casefold():
        return f"UPN:{username}"
    return f"APP:{SYSTEM_MAILBOX}@{tenant}"


def request_headers(*, cmdlet: str, anchor: str, connection_id: str) -> dict[str, str]:
    """Every header but ``Authorization``, which the session's auth adds as the request leaves."""
    return {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Prefer": f"odata.maxpagesize={PAGE_SIZE}",
        "X-AnchorMailbox": anchor,
        "X-CmdletName": cmdlet,
        "X-ClientApplication": CLIENT_APPLICATION,
        "X-ResponseFormat": "json",
        "connection-id": connection_id,
        "client-request-id": str(uuid.uuid4()),
    }


# ------------------------------------------------------------------------------------------------ requests


def json_value(value: Any) -> Any:
    """A parameter value as JSON: switches are true, hashtables objects, arrays lists."""
    from aobo.toolkit.grammar import SWITCH

    if value is SWITCH:
        return True
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Record):
        # A piped-in object stands for itself by its identity, as PowerShell binds -Identity.
        for key in ("Guid", "ExchangeGuid", "Identity", "DistinguishedName", "Name"):
            if key in value and value[key] not in (None, ""):
                return str(value[key])
    return str(value)


def request_body(cmdlet: str, parameters: list[tuple[str | None, Any]]) -> dict[str, Any]:
    """``{"CmdletInput": {"CmdletName": ..., "Parameters": {...}}}``; a positional value is -Identity,
    the first positional parameter of every Exchange cmdlet that has one."""
    params: dict[str, Any] = {}
    for name, value in parameters:
        key = name if name is not None else "Identity"
        if key in params and name is None:
            raise ValueError(f"{cmdlet}: only one positional value (the Identity) can be sent over REST")
        params[key] = json_value(value)
    return {"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}}


# ------------------------------------------------------------------------------------------------ responses


@dataclass(slots=True)
class Page:
    records: list[Record] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    next_link: str | None = None


def noun_of(cmdlet: str) -> str:
    """``Get-MailboxStatistics`` → ``MailboxStatistics``: the type name when the JSON names none."""
    return cmdlet.partition("-")[2] or cmdlet


def _text(value: str) -> Any:
    """A string, or a ``datetime`` when it is exactly an ISO 8601 date-time (the cheap test first:
    most strings are not)."""
    if len(value) >= 19 and value[10] == "T" and value[4] == "-" and _ISO_DATETIME.match(value):
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value


def _value(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind is list:
        # Inlined for the common case, lists of plain strings (proxy addresses): no call per item
        # unless an item could be a date-time or is itself a list or an object.
        return [
            (_text(v) if len(v) >= 19 and v[10] == "T" else v)
            if type(v) is str
            else (_value(v) if type(v) is list or type(v) is dict else v)
            for v in value
        ]
    if kind is dict:
        return {k: _value(v) for k, v in value.items() if "@" not in k}
    return value


def to_record(obj: Any, default_type: str) -> Any:
    """One JSON object as a :class:`Record` (wire order, OData annotations such as ``@odata.type``
    and ``Prop@odata.type`` dropped; Exchange's property names have no ``@``); scalars stay."""
    if type(obj) is not dict:
        return _value(obj)
    odata_type = obj.get("@odata.type")
    type_name = str(odata_type).lstrip("#") if isinstance(odata_type, str) and odata_type else default_type
    # orjson hands out a fresh dict: converted in place, only where a value needs it.
    props: dict[str, Any] = obj
    annotations: list[str] = []
    for key, value in obj.items():
        kind = type(value)
        if kind is str:
            # The cheap part of _text's test inline: most of a mailbox's strings are not dates.
            if len(value) >= 19 and value[10] == "T":
                props[key] = _text(value)
        elif kind is list:
            if value:  # most multi-valued properties are empty
                props[key] = _value(value)
        elif kind is dict:
            props[key] = _value(value)
        if "@" in key:
            annotations.append(key)
    for key in annotations:
        del props[key]
    identity = props.get("Identity")
    return Record(props, (type_name,), to_string=str(identity) if identity is not None else None)


def parse_page(payload: Any, cmdlet: str) -> Page:
    if not isinstance(payload, dict):
        raise ConnectError("The service answered with JSON that is not an object.")
    values = payload.get("value", [])
    if not isinstance(values, list):
        values = [values]
    noun = noun_of(cmdlet)
    warnings = payload.get("@adminapi.warnings") or []
    link = payload.get("@odata.nextLink")
    return Page(
        [to_record(v, noun) for v in values],
        [str(w) for w in warnings] if isinstance(warnings, list) else [str(warnings)],
        str(link) if link else None,
    )


def _error_text(error: Mapping[str, Any]) -> str:
    details = error.get("details")
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, Mapping) and detail.get("message"):
                return str(detail["message"])
    inner = error.get("innererror")
    if isinstance(inner, Mapping):
        internal = inner.get("internalexception") or inner.get("internalException")
        if isinstance(internal, Mapping) and internal.get("message"):
            return str(internal["message"])
    return str(error.get("message") or "")


def command_error(payload: Any, *, status: int, cmdlet: str, reason: str = "") -> CommandError:
    """An OData error as Exchange's error record: ``Ex6F9304|...ManagementObjectNotFoundException|The
    operation couldn't be performed...`` gives the id, the exception type and the message."""
    error = payload.get("error") if isinstance(payload, Mapping) else None
    if not isinstance(error, Mapping):
        return CommandError(f"{cmdlet} failed: HTTP {status} {reason}".rstrip(), activity=cmdlet, terminating=True)
    text = _error_text(error)
    error_id, exception_type, message = "", "", text
    parts = text.split("|", 2)
    if len(parts) == 3:
        error_id, exception_type, message = parts
    short = exception_type.rsplit(".", 1)[-1]
    fqid = f"{error_id},{exception_type}" if error_id and exception_type else error_id
    return CommandError(
        message or str(error.get("message") or f"HTTP {status}"),
        fully_qualified_error_id=fqid,
        category=_category(short),
        exception_type=exception_type,
        reason=short,
        activity=cmdlet,
        terminating=True,
    )


_CATEGORIES: Final = {
    "ManagementObjectNotFoundException": "NotSpecified",
    "ParameterBindingException": "InvalidArgument",
    "ValidationException": "InvalidData",
    "DataValidationException": "InvalidData",
    "CmdletAccessDeniedException": "PermissionDenied",
    "CommandNotFoundException": "ObjectNotFound",
}


def _category(exception: str) -> str:
    return _CATEGORIES.get(exception, "NotSpecified")
