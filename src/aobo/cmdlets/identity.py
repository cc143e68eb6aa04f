"""Identity resolution for recipient cmdlets, with Exchange's not-found and ambiguous errors.

``-Identity`` accepts anything that names one recipient (name, alias, display name, DN, UPN, an
email or proxy address, GUID, ExchangeGuid, ExternalDirectoryObjectId); the store matches those.
A piped object carries its GUID, which is tried first because it cannot be ambiguous. Folder
identities (``mailbox:\\Calendar``) are split here too; the mailbox part then resolves as above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

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


# --- folder identities (mailbox:\\Folder) ---------------------------------------------------------

#: Top-level folders every mailbox has, by their English names (any case in; this casing out).
WELL_KNOWN_FOLDERS: Final = (
    "Calendar",
    "Contacts",
    "Deleted Items",
    "Drafts",
    "Inbox",
    "Journal",
    "Junk Email",
    "Notes",
    "Outbox",
    "Sent Items",
    "Tasks",
    "Archive",
    "Conversation History",
)
_WELL_KNOWN_LOWER: Final = {f.lower(): f for f in WELL_KNOWN_FOLDERS}
ROOT_FOLDER_NAME: Final = "Top of Information Store"


@dataclass(frozen=True, slots=True)
class FolderIdentity:
    """``mailbox:\\folder\\sub`` split: the mailbox as given and the folder path ("" for the root)."""

    mailbox: str
    folder: str

    def __str__(self) -> str:
        return format_folder_identity(self.mailbox, self.folder)

    @property
    def is_calendar(self) -> bool:
        return self.folder.lower() == "calendar"

    @property
    def folder_name(self) -> str:
        """The FolderName Exchange shows: the last path segment, or the root's name."""
        return self.folder.rsplit("\\", 1)[-1] if self.folder else ROOT_FOLDER_NAME


def parse_folder_identity(text: str) -> FolderIdentity:
    """``alice@contoso.com:\\Calendar``, ``alice:\\Inbox\\Reports``, ``alice:\\`` (the root) or just
    ``alice`` (the root too). Well-known top-level folder names take their canonical casing."""
    mailbox, sep, path = text.strip().partition(":\\")
    if not sep:
        return FolderIdentity(mailbox, "")
    segments = [s for s in path.split("\\") if s]
    if segments:
        segments[0] = _WELL_KNOWN_LOWER.get(segments[0].lower(), segments[0])
    return FolderIdentity(mailbox, "\\".join(segments))


def format_folder_identity(mailbox: str, folder: str) -> str:
    return f"{mailbox}:\\{folder}"
