"""The partner toolkit: a client of the remote PowerShell service that fans out across customer tenants.

    import aobo.toolkit as aobo

    credential = aobo.Credential.from_env()
    with aobo.connect("contoso.onmicrosoft.com", credential, uri="https://host:8443/powershell-liveid") as s:
        for mailbox in s.invoke("Get-Mailbox", ResultSize="Unlimited"):
            print(mailbox.Name, mailbox.PrimarySmtpAddress)

``transport="rest"`` uses Exchange Online's REST API with OAuth tokens instead (Microsoft's
endpoints unless ``uri=`` and ``authority=`` say otherwise).

The names below are imported on first use, so ``import aobo.toolkit`` stays cheap for the CLI.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Credential": "aobo.toolkit.credential",
    "DeviceCode": "aobo.toolkit.auth",
    "AppCredential": "aobo.toolkit.auth",
    "TokenProvider": "aobo.toolkit.auth",
    "connect": "aobo.toolkit.session",
    "open_session": "aobo.toolkit.session",
    "Session": "aobo.toolkit.session",
    "AsyncSession": "aobo.toolkit.session",
    "InvokeResult": "aobo.toolkit.session",
    "Record": "aobo.toolkit.records",
    "parse": "aobo.toolkit.grammar",
    "Command": "aobo.toolkit.grammar",
    "run_across": "aobo.toolkit.fanout",
    "run_across_sync": "aobo.toolkit.fanout",
    "run_command": "aobo.toolkit.fanout",
    "Account": "aobo.toolkit.fanout",
    "RetryPolicy": "aobo.toolkit.fanout",
    "TenantResult": "aobo.toolkit.fanout",
    "RunSummary": "aobo.toolkit.fanout",
    "list_customers": "aobo.toolkit.partner",
    "tenants_from": "aobo.toolkit.partner",
    "ToolkitError": "aobo.toolkit.errors",
    "ConnectError": "aobo.toolkit.errors",
    "AuthError": "aobo.toolkit.errors",
    "SessionLimitError": "aobo.toolkit.errors",
    "CommandError": "aobo.toolkit.errors",
    "TransientError": "aobo.toolkit.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aobo.toolkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
