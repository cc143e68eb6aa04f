"""Admin audit entries for pipelines, with secrets redacted before they reach the store."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from typing import Any

from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.pipeline import CommandInvocation
from aobo.cmdlets.results import ExchangeObject
from aobo.domain.models import AuditEntry

REDACTED = "******"
_SECRET_NAME = re.compile(r"password|secret|token|credential", re.IGNORECASE)
_SECRET_TYPES = ("SecureString", "PSCredential")


def _json_value(value: Any) -> Any:
    if type(value).__name__.endswith(_SECRET_TYPES):
        return REDACTED
    if value is None or isinstance(value, bool | int | float | str):
        return value if not isinstance(value, str) else str(value)
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, ExchangeObject):
        return str(value.get("Identity") or value.get("Name") or value.type_names[0])
    if isinstance(value, dt.datetime | uuid.UUID):
        return str(value)
    return str(value)


def redact_parameters(parameters: Sequence[tuple[str | None, Any]]) -> dict[str, Any]:
    """Raw ``(name, value)`` parameters as JSON-able data; positional ones are keyed ``$args[i]``."""
    out: dict[str, Any] = {}
    for i, (name, value) in enumerate(parameters):
        key = name.lstrip("-").rstrip(":") if name else f"$args[{i}]"
        out[key] = REDACTED if name and _SECRET_NAME.search(key) else _json_value(value)
    return out


def audit_entries(ctx: CmdletContext, invocations: Sequence[CommandInvocation], error: str | None) -> list[AuditEntry]:
    now = dt.datetime.now(dt.UTC)
    return [
        AuditEntry(
            run_date=now,
            caller=ctx.caller.user_principal_name,
            caller_tenant_id=ctx.caller_tenant.id,
            target_tenant_id=ctx.tenant.id,
            session_id=ctx.session_id,
            cmdlet=inv.name,
            parameters=redact_parameters(inv.parameters),
            succeeded=error is None,
            error=error,
        )
        for inv in invocations
    ]
