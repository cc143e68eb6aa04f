"""Identity resolution for recipient cmdlets, with Exchange's not-found and ambiguous errors.

``-Identity`` accepts anything that names one recipient (name, alias, display name, DN, UPN, an
email or proxy address, GUID, ExchangeGuid, ExternalDirectoryObjectId); the store matches those.
A piped object carries its GUID, which is tried first because it cannot be ambiguous.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aobo.cmdlets import texts
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.parameters import IdentityRef
from aobo.cmdlets.results import CmdletError


def resolve_recipient(
    ctx: CmdletContext,
    identity: IdentityRef | str,
    cmdlet: str,
    *,
    recipient_type_details: Sequence[str] | None = None,
) -> Any:
    """The one recipient row ``identity`` names in the session's tenant.

    Raises a non-terminating :class:`CmdletError` (ManagementObjectNotFoundException or
    ManagementObjectAmbiguousException, as Exchange words them) otherwise; handlers yield its
    record and go on with the next input object.
    """
    ref = identity if isinstance(identity, IdentityRef) else IdentityRef(str(identity))
    store = ctx.store
    tenant_id = ctx.tenant.id
    rows: list[Any] = []
    if ref.guid is not None:
        # A piped object's own Guid: one index lookup; other GUIDs (ExchangeGuid...) below.
        found = store.recipient_by_guid(tenant_id, ref.guid, recipient_type_details=recipient_type_details)
        if found is not None:
            return found
        rows = store.find_recipients(tenant_id, str(ref.guid), recipient_type_details=recipient_type_details, limit=2)
    if not rows and ref.value:
        rows = store.find_recipients(tenant_id, ref.value, recipient_type_details=recipient_type_details, limit=2)
    if not rows:
        raise CmdletError(texts.object_not_found(str(ref), cmdlet), terminating=False)
    if len(rows) > 1:
        raise CmdletError(texts.object_ambiguous(str(ref), cmdlet), terminating=False)
    return rows[0]
