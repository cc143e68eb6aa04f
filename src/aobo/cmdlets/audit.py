"""Admin audit entries for pipelines, with secrets redacted before they reach the store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.parameters import ConversionError, IdentityType
from aobo.cmdlets.pipeline import CommandInvocation, redact_raw_parameters
from aobo.cmdlets.registry import CmdletDefinition, Registry
from aobo.domain.models import AuditEntry
from aobo.domain.store import REDACTED


def audit_entries(
    ctx: CmdletContext,
    invocations: Sequence[CommandInvocation],
    error: str | None,
    registry: Registry | None = None,
) -> list[AuditEntry]:
    """One entry per command of a finished pipeline, all with the pipeline's outcome. With the
    ``registry`` each parameter is redacted by what it binds to, not only by how it was spelled."""
    now = dt.datetime.now(dt.UTC)
    entries = []
    for inv in invocations:
        definition = registry.get(inv.name) if registry is not None else None
        parameters = redact_raw_parameters(inv.parameters, definition)
        entries.append(
            AuditEntry(
                run_date=now,
                caller=ctx.caller.user_principal_name,
                caller_tenant_id=ctx.caller_tenant.id,
                target_tenant_id=ctx.tenant.id,
                session_id=ctx.session_id,
                cmdlet=inv.name,
                parameters=parameters,
                succeeded=error is None,
                error=_scrub(error, inv, definition),
                object_id=object_id(inv),
            )
        )
    return entries


_IDENTITY = IdentityType()


def object_id(inv: CommandInvocation) -> str | None:
    """What the command acted on, as the caller named it: its -Identity, else its first positional
    argument (Identity is position 0 wherever a cmdlet has one); Search-AdminAuditLog -ObjectIds
    matches it."""
    named = [value for name, value in inv.parameters if name and name.lstrip("-").rstrip(":").lower() == "identity"]
    candidates = named or [value for name, value in inv.parameters if name is None]
    if not candidates or REDACTED in redact_raw_parameters([(None, candidates[0])]).values():
        return None
    try:
        ref = _IDENTITY.convert(candidates[0])
    except ConversionError:
        return None
    return (str(ref) or None) if ref is not None else None


def _scrub(error: str | None, inv: CommandInvocation, definition: CmdletDefinition | None) -> str | None:
    """Error texts may quote a rejected value ("Cannot convert value ..."): never a secret one."""
    if not error:
        return error
    for name, value in inv.parameters:
        redacted = redact_raw_parameters([(name, value)], definition)
        if isinstance(value, str) and value and REDACTED in redacted.values():
            error = error.replace(value, REDACTED)
    return error
