"""Microsoft Entra built-in roles by role template id (the same in every tenant).

These are the roles a GDAP relationship grants a partner's security groups and an app registration
may be assigned in a tenant. What each lets a caller run in Exchange is the engine's business
(``aobo.cmdlets.roles.ENTRA_ROLE_GROUPS``).
"""

from __future__ import annotations

from typing import Final

GLOBAL_ADMINISTRATOR: Final = "62e90394-69f5-4237-9190-012177145e10"
EXCHANGE_ADMINISTRATOR: Final = "29232cdf-9323-42fd-ade2-1d097af3e4de"
EXCHANGE_RECIPIENT_ADMINISTRATOR: Final = "31392ffb-586c-42d1-9346-e59415a2cc4e"
GLOBAL_READER: Final = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
HELPDESK_ADMINISTRATOR: Final = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
SECURITY_READER: Final = "5d6b6bb7-de71-4623-b4af-96380a352509"

#: Template id → display name.
ENTRA_ROLES: Final[dict[str, str]] = {
    GLOBAL_ADMINISTRATOR: "Global Administrator",
    EXCHANGE_ADMINISTRATOR: "Exchange Administrator",
    EXCHANGE_RECIPIENT_ADMINISTRATOR: "Exchange Recipient Administrator",
    GLOBAL_READER: "Global Reader",
    HELPDESK_ADMINISTRATOR: "Helpdesk Administrator",
    SECURITY_READER: "Security Reader",
}

_BY_NAME: Final = {name.lower(): template for template, name in ENTRA_ROLES.items()}


def entra_role_id(name_or_id: str) -> str | None:
    """The template id of an Entra role given by display name (any case) or id; ``None`` if unknown."""
    text = name_or_id.strip().lower()
    if text in ENTRA_ROLES:
        return text
    return _BY_NAME.get(text)
