"""Namespace, action and resource URIs of WS-Management and WinRS ([MS-WSMV] 2.2.1)."""

from __future__ import annotations

SOAP = "http://www.w3.org/2003/05/soap-envelope"
ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
WSMV = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
ENUMERATION = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
WSMANFAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
POWERSHELL = "http://schemas.microsoft.com/powershell"
XML = "http://www.w3.org/XML/1998/namespace"

ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

ACTION_CREATE = f"{TRANSFER}/Create"
ACTION_DELETE = f"{TRANSFER}/Delete"
ACTION_GET = f"{TRANSFER}/Get"
ACTION_PUT = f"{TRANSFER}/Put"
ACTION_COMMAND = f"{SHELL}/Command"
ACTION_SEND = f"{SHELL}/Send"
ACTION_RECEIVE = f"{SHELL}/Receive"
ACTION_SIGNAL = f"{SHELL}/Signal"
ACTION_ENUMERATE = f"{ENUMERATION}/Enumerate"
ACTION_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

POWERSHELL_RESOURCE_PREFIX = "http://schemas.microsoft.com/powershell/"
EXCHANGE_RESOURCE_URI = POWERSHELL_RESOURCE_PREFIX + "Microsoft.Exchange"

# Both spellings are in use: "crtl_c" in [MS-PSRP] and PowerShell, "ctrl_c" in pypsrp.
SIGNAL_CTRL_C = frozenset(
    {
        "powershell/signal/crtl_c",
        "powershell/signal/ctrl_c",
        f"{POWERSHELL}/signal/crtl_c",
        f"{POWERSHELL}/signal/ctrl_c",
    }
)
SIGNAL_TERMINATE = f"{SHELL}/signal/terminate"  # compared case-insensitively

COMMAND_STATE_DONE = f"{SHELL}/CommandState/Done"
COMMAND_STATE_RUNNING = f"{SHELL}/CommandState/Running"
