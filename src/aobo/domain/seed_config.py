"""Seeded Tenant configuration:
organisation and transport settings, remote domains, transport rules and the default protection policies."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Final

from aobo.domain.configuration import NewConfigObject, default_guid
from aobo.domain.models import Tenant
from aobo.domain.store import Store

#: The objects every Exchange Online tenant has from the start (kind → name).
BUILT_IN: Final = (
    ("RemoteDomain", "Default"),
    ("HostedContentFilterPolicy", "Default"),
    ("HostedOutboundSpamFilterPolicy", "Default"),
    ("MalwareFilterPolicy", "Default"),
    ("AntiPhishPolicy", "Office365 AntiPhish Default"),
)

#: Demo customers whose baselines differ from the defaults, as partners find them in the field.
_DEMO_BASELINES: Final[dict[str, dict[str, dict[str, Any]]]] = {
    "fabrikam": {"HostedOutboundSpamFilterPolicy": {"AutoForwardingMode": "On"}},
    "tailspintoys": {
        "HostedContentFilterPolicy": {"BulkThreshold": 9, "AllowedSenderDomains": ["newsletters.example.com"]},
        "RemoteDomain": {"AutoForwardEnabled": False},
    },
}

_DISCLAIMER: Final = (
    "<p style='font-size:8pt'>This message is confidential and intended only for its recipients. Contoso Ltd.</p>"
)
#: Contoso's mail flow rules, in priority order: (name, stored properties).
_CONTOSO_RULES: Final[tuple[tuple[str, dict[str, Any]], ...]] = (
    (
        "Block executable attachments",
        {
            "AttachmentExtensionMatchesWords": ["exe", "js", "vbs", "scr"],
            "RejectMessageReasonText": "Executable attachments aren't allowed at Contoso.",
            "StopRuleProcessing": True,
            "Comments": "Security baseline: reject executables by extension.",
        },
    ),
    (
        "External sender warning",
        {
            "FromScope": "NotInOrganization",
            "SentToScope": "InOrganization",
            "PrependSubject": "[EXTERNAL]",
        },
    ),
    (
        "Outbound disclaimer",
        {
            "FromScope": "InOrganization",
            "SentToScope": "NotInOrganization",
            "ApplyHtmlDisclaimerText": _DISCLAIMER,
            "ApplyHtmlDisclaimerLocation": "Append",
            "ApplyHtmlDisclaimerFallbackAction": "Wrap",
        },
    ),
)


def _generated_baseline(rng: random.Random) -> dict[str, dict[str, Any]]:
    """Now and then a generated tenant drifted from the defaults."""
    baseline: dict[str, dict[str, Any]] = {}
    if rng.random() < 0.1:
        baseline["HostedOutboundSpamFilterPolicy"] = {"AutoForwardingMode": rng.choice(("On", "Off"))}
    if rng.random() < 0.1:
        baseline["HostedContentFilterPolicy"] = {"BulkThreshold": rng.choice((4, 5, 8, 9))}
    return baseline


def seed_config(store: Store, tenant: Tenant, rng: random.Random) -> None:
    """Add this part of a freshly seeded tenant's content (deterministic for a given ``rng``)."""
    created = store.config.tenant_created(tenant.id)
    baseline: Mapping[str, dict[str, Any]] = _DEMO_BASELINES.get(tenant.name) or _generated_baseline(rng)
    objects = [
        NewConfigObject(kind, name, default_guid(tenant.guid, kind, name), created, baseline.get(kind, {}))
        for kind, name in BUILT_IN
    ]
    if tenant.name == "contoso":
        objects += [
            NewConfigObject(
                "TransportRule",
                name,
                default_guid(tenant.guid, "TransportRule", name),
                created,
                props,
                priority=priority,
            )
            for priority, (name, props) in enumerate(_CONTOSO_RULES)
        ]
    store.config.create_many(tenant.id, objects)
