"""What a REST request asks for, parsed without I/O: the route, the cmdlet, the page size, the anchor.

``POST /adminapi/{beta|v1.0}/{tenant}/InvokeCommand`` with
``{"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": "x"}}}`` becomes a
:class:`~aobo.cmdlets.pipeline.CommandInvocation` whose parameters are the JSON members in the
order sent, bound by the engine's binder exactly like parameters arriving over PSRP: a switch is
``true``, ``{"Add": [...], "Remove": [...]}`` (keys in any case) is PowerShell's hashtable for
multi-valued changes. OData annotations anywhere in ``Parameters`` (``"@odata.type":
"#Exchange.GenericHashTable"`` inside that hashtable, ``"EmailAddresses@odata.type"`` beside a
parameter) describe the JSON, not the command, and are dropped before binding.
Every refusal is a :class:`~aobo.frontends.rest.errors.RestError` with a message saying what to fix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

from aobo.cmdlets.pipeline import CommandInvocation
from aobo.domain.models import Tenant
from aobo.frontends.rest.errors import RestError, bad_request

ADMINAPI_PREFIX: Final = "/adminapi/"
VERSIONS: Final = frozenset({"beta", "v1.0"})
INVOKE: Final = "invokecommand"
BATCH: Final = "$batch"
MODULE_FILE: Final = "exomodulefile"
ACTIONS: Final = frozenset({INVOKE, BATCH, MODULE_FILE})
DEFAULT_PAGE_SIZE: Final = 1000
MAX_PAGE_SIZE: Final = 10_000
#: The SystemMailbox every organisation has; CIPP anchors organisation-wide calls on it.
SYSTEM_MAILBOX: Final = "systemmailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}"
_CMDLET_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9]+$")
_MAX_PAGE_PREFERENCE: Final = re.compile(r"(?:^|[,;\s])odata\.maxpagesize\s*=\s*(\S+?)\s*(?:[,;]|$)", re.I)


@dataclass(frozen=True, slots=True)
class Route:
    """``/adminapi/<version>/<tenant>/<action>``: ``action`` in lower case (``$batch`` as is)."""

    version: str
    tenant: str
    action: str


def is_adminapi_path(path: str) -> bool:
    return path.lower().startswith(ADMINAPI_PREFIX)


def parse_route(path: str) -> Route:
    parts = [p for p in path.split("/") if p]
    if len(parts) != 4 or parts[0].lower() != "adminapi":
        raise RestError(404, "NotFound", f"The resource '{path}' does not exist.", "System.ArgumentException")
    version, tenant, action = parts[1].lower(), unquote(parts[2]).strip(), unquote(parts[3]).lower()
    if version not in VERSIONS:
        raise RestError(404, "NotFound", f"API version '{parts[1]}' is not supported; use beta or v1.0.")
    if action not in ACTIONS:
        raise RestError(404, "NotFound", f"The resource '{parts[3]}' does not exist; use InvokeCommand or $batch.")
    if not tenant:
        raise RestError(404, "NotFound", "The request names no organization.")
    return Route(version, tenant, action)


#: JSON nested deeper than this is refused: no cmdlet parameter needs more, and the engine (the
#: binder, the audit log) walks values recursively.
MAX_DEPTH: Final = 32


def _too_deep(value: Any) -> bool:
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH):
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
        if not level:
            return False
    return any(isinstance(node, dict | list) for node in level)


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise bad_request("The request body is empty; send a JSON object with CmdletInput.", "EmptyBody")
    try:
        value = json.loads(body)
    except UnicodeDecodeError:
        raise bad_request("The request body is not UTF-8 text.", "InvalidJson") from None
    except json.JSONDecodeError as exc:
        raise bad_request(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.", "InvalidJson"
        ) from None
    except RecursionError:
        too_deep = True
    else:
        too_deep = _too_deep(value)
    if too_deep:
        raise bad_request(f"The request body nests deeper than {MAX_DEPTH} levels.", "InvalidJson")
    return value


#: ``<name>@odata.<term>``: an OData property annotation (``EmailAddresses@odata.type``). Only the
#: OData vocabulary's terms: a hashtable key may be an address (``user@contoso.com``, even
#: ``user@odata.com``), never an annotation.
_PROPERTY_ANNOTATION: Final = re.compile(
    r"[^@]+@odata\.(type|bind|id|etag|context|count|nextLink|deltaLink|readLink|editLink|navigationLink"
    r"|associationLink|mediaReadLink|mediaEditLink|mediaContentType|mediaEtag)",
    re.I,
)


def is_annotation(key: str) -> bool:
    """Is this JSON member an OData annotation rather than a parameter or hashtable key? Instance
    annotations start with ``@`` (``@odata.type``, ``@odata.context``, ``@adminapi.x``); property
    annotations name the member they describe."""
    return key.startswith("@") or _PROPERTY_ANNOTATION.fullmatch(key) is not None


def without_annotations(value: Any) -> Any:
    """``value`` with every OData annotation removed, at any depth (objects inside arrays too):
    CIPP sends ``{"@odata.type": "#Exchange.GenericHashTable", "add": [...]}`` for ``@{Add=...}``."""
    if isinstance(value, dict):
        return {k: without_annotations(v) for k, v in value.items() if not is_annotation(k)}
    if isinstance(value, list):
        return [without_annotations(v) for v in value]
    return value


def _member(obj: dict[str, Any], name: str) -> Any:
    # Member names are matched case-insensitively, as Exchange's OData reader does.
    for key, value in obj.items():
        if key.lower() == name.lower():
            return value
    return None


def parse_invocation(payload: Any) -> CommandInvocation:
    """``{"CmdletInput": {"CmdletName": ..., "Parameters": {...}}}`` → the command to run."""
    if not isinstance(payload, dict):
        raise bad_request("The request body must be a JSON object with a CmdletInput member.", "InvalidCmdletInput")
    cmdlet_input = _member(payload, "CmdletInput")
    if not isinstance(cmdlet_input, dict):
        raise bad_request(
            'The request body has no CmdletInput object: send {"CmdletInput": {"CmdletName": "...", '
            '"Parameters": {...}}}.',
            "InvalidCmdletInput",
        )
    name = _member(cmdlet_input, "CmdletName")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("CmdletInput has no CmdletName: name the cmdlet to run, e.g. Get-Mailbox.", "NoCmdletName")
    name = name.strip()
    if not _CMDLET_NAME.match(name):
        raise bad_request(f"CmdletName '{name}' is not a cmdlet name (Verb-Noun).", "InvalidCmdletName")
    parameters = _member(cmdlet_input, "Parameters")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise bad_request(
            "CmdletInput.Parameters must be a JSON object of parameter names and values.", "InvalidParameters"
        )
    return CommandInvocation(name=name, parameters=list(without_annotations(parameters).items()))


def page_size(prefer: str | None) -> tuple[int, bool]:
    """The page size of ``Prefer: odata.maxpagesize=N`` and whether the preference was applied."""
    if prefer:
        m = _MAX_PAGE_PREFERENCE.search(prefer)
        if m is not None:
            text = m.group(1).strip('"')
            if not text.isdigit() or int(text) < 1:
                raise bad_request(
                    f"odata.maxpagesize must be a positive whole number, not '{text}'.", "InvalidPreference"
                )
            return min(int(text), MAX_PAGE_SIZE), True
    return DEFAULT_PAGE_SIZE, False


def continue_on_error(prefer: str | None) -> bool:
    return bool(prefer) and "odata.continue-on-error" in prefer.lower()


def parse_select(query: str | None) -> tuple[str, ...] | None:
    """``$select=Name,Alias`` → the names; None without ``$select``."""
    if query is None:
        return None
    names = tuple(n.strip() for n in query.split(",") if n.strip())
    if not names:
        raise bad_request("$select names no property.", "InvalidSelect")
    return names


def check_anchor(header: str | None, tenant: Tenant, caller_tenant: Tenant) -> None:
    """``X-AnchorMailbox``: ``UPN:<upn>``, ``SMTP:<address>``, ``APP:SystemMailbox{...}@<tenant>``,
    ``APP:<client id>@<tenant>``, ``OID:``/``SID:`` ids, or a bare address or identity. Routing needs
    none of them here (one back end);
    an anchor naming another organization is refused, as it would send the call to another tenant
    (a UPN may also be in the caller's own organization: a partner anchors on itself)."""
    if header is None or not header.strip():
        return
    value = header.strip()
    kind, sep, rest = value.partition(":")
    if sep and kind.lower() in ("upn", "smtp", "app", "oid", "puid", "sid"):
        value = rest.strip()
        kind = kind.lower()
    else:
        kind = "smtp"
    if kind in ("oid", "puid", "sid"):
        return  # an object id carries no organization to check
    local, at, domain = value.rpartition("@")
    if not at and kind == "smtp":
        return  # a bare identity (CIPP anchors on the cmdlet's -Identity): no organization named
    if not at or not local or not domain:
        raise bad_request(
            f"X-AnchorMailbox '{header.strip()}' is not valid: use UPN:<user>, SMTP:<address> or "
            f"APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@<organization>.",
            "InvalidAnchorMailbox",
        )
    domain = domain.lower()
    if kind == "app" or local.lower() == SYSTEM_MAILBOX:
        if domain == str(tenant.guid).lower() or domain in tenant.domains:
            return
    elif kind == "upn":
        # A delegated partner anchors on its own UPN, in its own tenant.
        if domain in tenant.domains or domain in caller_tenant.domains:
            return
    elif domain in tenant.domains:
        return
    raise bad_request(
        f"X-AnchorMailbox '{header.strip()}' names another organization than '{tenant.initial_domain}', "
        "the one this request is for.",
        "AnchorMailboxMismatch",
    )
