"""WS-Management faults ([MS-WSMV] 3.1.4.1.5; DSP0226 section 14).

A fault is raised as :class:`WSManFault` anywhere in the front end and rendered once by
:func:`render_fault`. Faults travel as HTTP 500 with a SOAP body, like Windows' WinRM service.
Clients read the numeric ``WSManFault/@Code``; the names below are Windows' ``ERROR_WSMAN_*``.
"""

from __future__ import annotations

import enum
import uuid
from xml.sax.saxutils import escape

from aobo.frontends.wsman import namespaces as ns

MACHINE = "aobo"


class FaultCode(enum.IntEnum):
    ACCESS_DENIED = 5
    OPERATION_TIMED_OUT = 0x80338029
    UNEXPECTED_SELECTORS = 0x8033805B
    ACTION_NOT_SUPPORTED = 0x80338013
    ENCODING_LIMIT = 0x80338035
    ENVELOPE_TOO_LARGE = 0x80338026
    INVALID_OPTIONS = 0x80338039
    INVALID_RESOURCE_URI = 0x8033803B
    INVALID_SOAP_BODY = 0x80338027
    INVALID_XML = 0x80338043
    INVALID_HEADER = 0x8033811B
    QUOTA_MAX_SHELLS = 0x803381A5


class WSManFault(Exception):
    """A fault to send back instead of the normal response."""

    def __init__(
        self,
        code: FaultCode,
        reason: str,
        *,
        subcode: str = "w:InternalError",
        sender: bool = True,
        detail_uri: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.subcode = subcode
        self.sender = sender
        self.detail_uri = detail_uri
        #: The MessageID of the request the fault answers, when the request got that far.
        self.relates_to: str | None = None


def timed_out() -> WSManFault:
    return WSManFault(
        FaultCode.OPERATION_TIMED_OUT,
        "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
        subcode="w:TimedOut",
        sender=False,
    )


def unknown_shell(shell_id: str) -> WSManFault:
    return WSManFault(
        FaultCode.UNEXPECTED_SELECTORS,
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not found "
        "on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on "
        "the server. Provide the correct ShellId or create a new shell and retry the operation.",
        subcode="w:InvalidSelectors",
        detail_uri="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
    )


def unknown_command(command_id: str) -> WSManFault:
    return WSManFault(
        FaultCode.UNEXPECTED_SELECTORS,
        f"The request for the Windows Remote Shell command with CommandId {command_id} failed because the command "
        "was not found on the server.",
        subcode="w:InvalidSelectors",
        detail_uri="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
    )


def access_denied(message: str = "Access is denied.") -> WSManFault:
    return WSManFault(FaultCode.ACCESS_DENIED, message, subcode="w:AccessDenied")


def invalid_message(message: str) -> WSManFault:
    return WSManFault(FaultCode.INVALID_SOAP_BODY, message, subcode="w:SchemaValidationError")


def action_not_supported(action: str) -> WSManFault:
    return WSManFault(
        FaultCode.ACTION_NOT_SUPPORTED,
        f"The action is not supported by the service: {action}",
        subcode="a:ActionNotSupported",
    )


def render_fault(fault: WSManFault, relates_to: str | None) -> bytes:
    """The SOAP envelope for a fault, ready to send with HTTP 500."""
    relates = f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>" if relates_to else ""
    value = "s:Sender" if fault.sender else "s:Receiver"
    detail_uri = f"<w:FaultDetail>{escape(fault.detail_uri)}</w:FaultDetail>" if fault.detail_uri else ""
    reason = escape(fault.reason)
    return (
        f'<s:Envelope xml:lang="en-US" xmlns:s="{ns.SOAP}" xmlns:a="{ns.ADDRESSING}" '
        f'xmlns:x="{ns.TRANSFER}" xmlns:w="{ns.WSMAN}" xmlns:p="{ns.WSMV}">'
        f"<s:Header><a:Action>{ns.ACTION_FAULT}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        f"<a:To>{ns.ANONYMOUS}</a:To>{relates}</s:Header>"
        f"<s:Body><s:Fault><s:Code><s:Value>{value}</s:Value>"
        f"<s:Subcode><s:Value>{fault.subcode}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">{reason}</s:Text></s:Reason>'
        f"<s:Detail>{detail_uri}"
        f'<f:WSManFault xmlns:f="{ns.WSMANFAULT}" Code="{int(fault.code)}" Machine="{MACHINE}">'
        f"<f:Message>{reason}</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>"
    ).encode()
