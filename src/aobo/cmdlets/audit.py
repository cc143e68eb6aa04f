"""Admin audit entries for pipelines, with secrets redacted before they reach the store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.pipeline import CommandInvocation, redact_raw_parameters
from aobo.domain.models import AuditEntry


def audit_entries(ctx: CmdletContext, invocations: Sequence[CommandInvocation], error: str | None) -> list[AuditEntry]:
    """One entry per command of a finished pipeline, all with the pipeline's outcome."""
    now = dt.datetime.now(dt.UTC)
    return [
        AuditEntry(
            run_date=now,
            caller=ctx.caller.user_principal_name,
            caller_tenant_id=ctx.caller_tenant.id,
            target_tenant_id=ctx.tenant.id,
            session_id=ctx.session_id,
            cmdlet=inv.name,
            parameters=redact_raw_parameters(inv.parameters),
            succeeded=error is None,
            error=error,
        )
        for inv in invocations
    ]
