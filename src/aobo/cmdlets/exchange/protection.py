"""Protection baselines: anti-spam (inbound and outbound), anti-malware and anti-phishing policies.

Every tenant has each kind's default policy (``Default``, or ``Office365 AntiPhish Default``) from the
start; it is shown from Exchange Online's defaults until a Set- changes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from aobo.cmdlets.exchange.common import identity_parameter
from aobo.cmdlets.exchange.organization import (
    ConfigKind,
    Setting,
    SmtpDomainWithSubdomainsType,
    booleans,
    bound_changes,
    config_cmdlet,
    find_one,
    get_objects,
    in_range,
    not_null,
    set_config,
    template,
)
from aobo.cmdlets.parameters import (
    EnumType,
    IntegerType,
    MultiValuedUpdate,
    ParameterType,
    StringArrayType,
    StringType,
    cannot_convert,
)
from aobo.cmdlets.pipeline import Invocation
from aobo.cmdlets.registry import CmdletDefinition, Registry
from aobo.domain.configuration import ConfigObject
from aobo.domain.models import Tenant

_NS: Final = "Microsoft.Exchange.Data.Directory.SystemConfiguration."
_TASKS: Final = "Microsoft.Exchange.Configuration.Tasks."
_SMTP_RE: Final = re.compile(r"^[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")


class SmtpAddressItemType(ParameterType):
    """``SmtpAddress``: a plain address (``user@contoso.com``), kept as given."""

    dotnet_name = "Microsoft.Exchange.Data.SmtpAddress"

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip()
        if not _SMTP_RE.match(text):
            raise cannot_convert(value, self.dotnet_name, f'"{text}" isn\'t a valid SMTP address.', transform=True)
        return text


_ADDRESSES: Final = MultiValuedUpdate(SmtpAddressItemType())
_DOMAINS: Final = MultiValuedUpdate(SmtpDomainWithSubdomainsType())
_STRINGS: Final = MultiValuedUpdate(StringType())


def _enum(name: str, *values: str) -> EnumType:
    return EnumType(name, {v: i for i, v in enumerate(values)})


def _is_default(default_name: str) -> Callable[[ConfigObject, Tenant], Mapping[str, Any]]:
    return lambda obj, _tenant: {"IsDefault": obj.name.lower() == default_name.lower()}


def _kind(kind: str, defaults: Mapping[str, Any], container: str, category: str, default_name: str) -> ConfigKind:
    stored = {k: v for k, v in defaults.items() if k != "IsDefault"}
    return ConfigKind(
        kind=kind,
        template=template(_NS + kind, defaults),
        defaults=stored,
        container=container,
        category=category,
        object_class=("top", f"msExch{kind}"),
        default_name=default_name,
        extra=_is_default(default_name),
    )


# --- HostedContentFilterPolicy (inbound anti-spam) ----------------------------------------------------

_SPAM_ACTION: Final = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.SpamFilteringAction",
    "MoveToJmf",
    "AddXHeader",
    "ModifySubject",
    "Redirect",
    "Delete",
    "Quarantine",
    "NoAction",
)
_PHISH_ACTION: Final = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.PhishFilteringAction",
    "MoveToJmf",
    "AddXHeader",
    "ModifySubject",
    "Redirect",
    "Delete",
    "Quarantine",
)
_SPAM_OPTION: Final = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.SpamFilteringOption", "Off", "On", "Test"
)
_TEST_MODE: Final = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.SpamFilteringTestModeAction",
    "None",
    "AddXHeader",
    "BccMessage",
)
_INTRA_ORG: Final = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.IntraOrgFilterState",
    "Default",
    "HighConfidencePhish",
    "Phish",
    "HighConfidenceSpam",
    "Spam",
    "Disabled",
)
_ASF: Final = (
    "IncreaseScoreWithImageLinks",
    "IncreaseScoreWithNumericIps",
    "IncreaseScoreWithRedirectToOtherPort",
    "IncreaseScoreWithBizOrInfoUrls",
    "MarkAsSpamEmptyMessages",
    "MarkAsSpamJavaScriptInHtml",
    "MarkAsSpamFramesInHtml",
    "MarkAsSpamObjectTagsInHtml",
    "MarkAsSpamEmbedTagsInHtml",
    "MarkAsSpamFormTagsInHtml",
    "MarkAsSpamWebBugsInHtml",
    "MarkAsSpamSensitiveWordList",
    "MarkAsSpamSpfRecordHardFail",
    "MarkAsSpamFromAddressAuthFail",
    "MarkAsSpamBulkMail",
    "MarkAsSpamNdrBackscatter",
)
_FULL_ACCESS: Final = "DefaultFullAccessPolicy"
_ADMIN_ONLY: Final = "AdminOnlyAccessPolicy"

CONTENT_FILTER: Final = _kind(
    "HostedContentFilterPolicy",
    {
        "AddXHeaderValue": "",
        "ModifySubjectValue": "",
        "RedirectToRecipients": [],
        "TestModeBccToRecipients": [],
        "FalsePositiveAdditionalRecipients": [],
        "QuarantineRetentionPeriod": 15,
        "EndUserSpamNotificationFrequency": 3,
        "TestModeAction": "None",
        **{name: "On" if name == "MarkAsSpamBulkMail" else "Off" for name in _ASF},
        "IsDefault": True,
        "LanguageBlockList": [],
        "RegionBlockList": [],
        "HighConfidenceSpamAction": "MoveToJmf",
        "SpamAction": "MoveToJmf",
        "EnableEndUserSpamNotifications": False,
        "DownloadLink": False,
        "EnableRegionBlockList": False,
        "EnableLanguageBlockList": False,
        "EndUserSpamNotificationCustomFromAddress": None,
        "EndUserSpamNotificationCustomFromName": "",
        "EndUserSpamNotificationCustomSubject": "",
        "EndUserSpamNotificationLanguage": "Default",
        "EndUserSpamNotificationLimit": 0,
        "BulkThreshold": 7,
        "AllowedSenders": [],
        "AllowedSenderDomains": [],
        "BlockedSenders": [],
        "BlockedSenderDomains": [],
        "ZapEnabled": True,
        "InlineSafetyTipsEnabled": True,
        "BulkSpamAction": "MoveToJmf",
        "PhishSpamAction": "Quarantine",
        "SpamZapEnabled": True,
        "PhishZapEnabled": True,
        "ApplyPhishActionToIntraOrg": False,
        "IntraOrgFilterState": "Default",
        "HighConfidencePhishAction": "Quarantine",
        "RecommendedPolicyType": "Custom",
        "SpamQuarantineTag": _FULL_ACCESS,
        "HighConfidenceSpamQuarantineTag": _FULL_ACCESS,
        "PhishQuarantineTag": _FULL_ACCESS,
        "HighConfidencePhishQuarantineTag": _ADMIN_ONLY,
        "BulkQuarantineTag": _FULL_ACCESS,
    },
    "Hosted Content Filter Policies,CN=Transport Settings",
    "ms-Exch-Hosted-Content-Filter-Config",
    "Default",
)

_CONTENT_SETTINGS: Final = (
    Setting("AdminDisplayName", StringType()),
    Setting("AddXHeaderValue", StringType()),
    Setting("ModifySubjectValue", StringType()),
    Setting("BulkThreshold", IntegerType(), in_range("BulkThreshold", 1, 9)),
    Setting("QuarantineRetentionPeriod", IntegerType(), in_range("QuarantineRetentionPeriod", 1, 30)),
    Setting("EndUserSpamNotificationFrequency", IntegerType(), in_range("EndUserSpamNotificationFrequency", 1, 15)),
    *(
        Setting(n, _SPAM_ACTION, not_null(n))
        for n in ("SpamAction", "HighConfidenceSpamAction", "BulkSpamAction", "PhishSpamAction")
    ),
    Setting("HighConfidencePhishAction", _PHISH_ACTION, not_null("HighConfidencePhishAction")),
    Setting("TestModeAction", _TEST_MODE, not_null("TestModeAction")),
    Setting("IntraOrgFilterState", _INTRA_ORG, not_null("IntraOrgFilterState")),
    *(Setting(n, _SPAM_OPTION, not_null(n)) for n in _ASF),
    *booleans(
        "DownloadLink",
        "EnableEndUserSpamNotifications",
        "EnableLanguageBlockList",
        "EnableRegionBlockList",
        "InlineSafetyTipsEnabled",
        "PhishZapEnabled",
        "SpamZapEnabled",
    ),
    *(
        Setting(n, _ADDRESSES)
        for n in ("AllowedSenders", "BlockedSenders", "RedirectToRecipients", "TestModeBccToRecipients")
    ),
    *(Setting(n, _DOMAINS) for n in ("AllowedSenderDomains", "BlockedSenderDomains")),
    *(Setting(n, _STRINGS) for n in ("LanguageBlockList", "RegionBlockList")),
    *(
        Setting(n, StringType())
        for n in (
            "SpamQuarantineTag",
            "HighConfidenceSpamQuarantineTag",
            "PhishQuarantineTag",
            "HighConfidencePhishQuarantineTag",
            "BulkQuarantineTag",
        )
    ),
)

# --- HostedOutboundSpamFilterPolicy -----------------------------------------------------------------

OUTBOUND_SPAM: Final = _kind(
    "HostedOutboundSpamFilterPolicy",
    {
        "NotifyOutboundSpamRecipients": [],
        "BccSuspiciousOutboundAdditionalRecipients": [],
        "BccSuspiciousOutboundMail": False,
        "NotifyOutboundSpam": False,
        "IsDefault": True,
        "Enabled": True,
        "RecommendedPolicyType": "Custom",
        "RecipientLimitExternalPerHour": 0,
        "RecipientLimitInternalPerHour": 0,
        "RecipientLimitPerDay": 0,
        "ActionWhenThresholdReached": "BlockUserForToday",
        "AutoForwardingMode": "Automatic",
    },
    "Hosted Outbound Spam Filter Policies,CN=Transport Settings",
    "ms-Exch-Hosted-Outbound-Spam-Filter-Config",
    "Default",
)
_OUTBOUND_SETTINGS: Final = (
    Setting("AdminDisplayName", StringType()),
    *(
        Setting(n, IntegerType("System.UInt32"), in_range(n, 0, 10000))
        for n in ("RecipientLimitExternalPerHour", "RecipientLimitInternalPerHour", "RecipientLimitPerDay")
    ),
    Setting(
        "ActionWhenThresholdReached",
        _enum(
            "Microsoft.Exchange.Data.Directory.SystemConfiguration.OutboundRecipientLimitsExceededAction",
            "Alert",
            "BlockUserForToday",
            "BlockUser",
        ),
        not_null("ActionWhenThresholdReached"),
    ),
    Setting(
        "AutoForwardingMode",
        _enum("Microsoft.Exchange.Data.Directory.SystemConfiguration.AutoForwardingMode", "Automatic", "Off", "On"),
        not_null("AutoForwardingMode"),
    ),
    *booleans("BccSuspiciousOutboundMail", "NotifyOutboundSpam"),
    Setting("BccSuspiciousOutboundAdditionalRecipients", _ADDRESSES),
    Setting("NotifyOutboundSpamRecipients", _ADDRESSES),
)

# --- MalwareFilterPolicy ----------------------------------------------------------------------------

#: The common attachments filter's file types in a new (or the default) policy.
DEFAULT_FILE_TYPES: Final = (
    "ace",
    "ani",
    "apk",
    "app",
    "appx",
    "arj",
    "bat",
    "cab",
    "cmd",
    "com",
    "deb",
    "dex",
    "dll",
    "docm",
    "elf",
    "exe",
    "hta",
    "img",
    "iso",
    "jar",
    "jnlp",
    "kext",
    "lha",
    "lib",
    "library",
    "lnk",
    "lzh",
    "macho",
    "msc",
    "msi",
    "msix",
    "msp",
    "mst",
    "pif",
    "ppa",
    "ppam",
    "reg",
    "rev",
    "scf",
    "scr",
    "sct",
    "sys",
    "uif",
    "vb",
    "vbe",
    "vbs",
    "vxd",
    "wsc",
    "wsf",
    "wsh",
    "xll",
    "xz",
    "z",
)

MALWARE_FILTER: Final = _kind(
    "MalwareFilterPolicy",
    {
        "CustomAlertText": None,
        "CustomInternalSubject": None,
        "CustomInternalBody": None,
        "CustomExternalSubject": None,
        "CustomExternalBody": None,
        "CustomFromName": None,
        "CustomFromAddress": None,
        "InternalSenderAdminAddress": None,
        "ExternalSenderAdminAddress": None,
        "BypassInboundMessages": False,
        "BypassOutboundMessages": False,
        "Action": "DeleteMessage",
        "IsDefault": True,
        "CustomNotifications": False,
        "EnableInternalSenderNotifications": False,
        "EnableExternalSenderNotifications": False,
        "EnableInternalSenderAdminNotifications": False,
        "EnableExternalSenderAdminNotifications": False,
        "EnableFileFilter": True,
        "FileTypes": list(DEFAULT_FILE_TYPES),
        "FileTypeAction": "Reject",
        "ZapEnabled": True,
        "QuarantineTag": _ADMIN_ONLY,
        "RecommendedPolicyType": "Custom",
    },
    "Malware Filter,CN=Transport Settings",
    "ms-Exch-Malware-Filter-Config",
    "Default",
)
_MALWARE_SETTINGS: Final = (
    Setting("AdminDisplayName", StringType()),
    *booleans(
        "CustomNotifications",
        "EnableExternalSenderAdminNotifications",
        "EnableFileFilter",
        "EnableInternalSenderAdminNotifications",
        "ZapEnabled",
    ),
    Setting("FileTypes", StringArrayType(), convert=lambda v: [t.strip().lstrip(".").lower() for t in v or ()]),
    Setting(
        "FileTypeAction",
        _enum("Microsoft.Exchange.Data.Directory.SystemConfiguration.FileTypeFilteringAction", "Reject", "Quarantine"),
        not_null("FileTypeAction"),
    ),
    Setting("InternalSenderAdminAddress", SmtpAddressItemType()),
    Setting("ExternalSenderAdminAddress", SmtpAddressItemType()),
    Setting("QuarantineTag", StringType()),
)

# --- AntiPhishPolicy --------------------------------------------------------------------------------

ANTI_PHISH: Final = _kind(
    "AntiPhishPolicy",
    {
        "ImpersonationProtectionState": "Automatic",
        "EnableTargetedUserProtection": False,
        "EnableMailboxIntelligenceProtection": False,
        "EnableTargetedDomainsProtection": False,
        "EnableOrganizationDomainsProtection": False,
        "EnableMailboxIntelligence": True,
        "EnableFirstContactSafetyTips": False,
        "EnableSimilarUsersSafetyTips": False,
        "EnableSimilarDomainsSafetyTips": False,
        "EnableUnusualCharactersSafetyTips": False,
        "TargetedUserProtectionAction": "NoAction",
        "TargetedUserQuarantineTag": _FULL_ACCESS,
        "MailboxIntelligenceProtectionAction": "NoAction",
        "MailboxIntelligenceQuarantineTag": _FULL_ACCESS,
        "TargetedDomainProtectionAction": "NoAction",
        "TargetedDomainQuarantineTag": _FULL_ACCESS,
        "AuthenticationFailAction": "MoveToJmf",
        "SpoofQuarantineTag": _FULL_ACCESS,
        "EnableSpoofIntelligence": True,
        "DmarcQuarantineAction": "Quarantine",
        "DmarcRejectAction": "Reject",
        "HonorDmarcPolicy": True,
        "EnableUnauthenticatedSender": True,
        "EnableViaTag": True,
        "ExcludedDomains": [],
        "ExcludedSenders": [],
        "TargetedUsersToProtect": [],
        "TargetedUserActionRecipients": [],
        "TargetedDomainsToProtect": [],
        "TargetedDomainActionRecipients": [],
        "MailboxIntelligenceProtectionActionRecipients": [],
        "PhishThresholdLevel": 1,
        "Enabled": True,
        "IsDefault": True,
        "RecommendedPolicyType": "Custom",
    },
    "Phishing Protection Policies,CN=Transport Settings",
    "ms-Exch-Anti-Phish-Policy",
    "Office365 AntiPhish Default",
)
_ANTI_PHISH_SETTINGS: Final = (
    Setting("AdminDisplayName", StringType()),
    *booleans(
        "Enabled",
        "EnableFirstContactSafetyTips",
        "EnableMailboxIntelligence",
        "EnableMailboxIntelligenceProtection",
        "EnableOrganizationDomainsProtection",
        "EnableSimilarDomainsSafetyTips",
        "EnableSimilarUsersSafetyTips",
        "EnableSpoofIntelligence",
        "EnableTargetedDomainsProtection",
        "EnableTargetedUserProtection",
        "EnableUnauthenticatedSender",
        "EnableUnusualCharactersSafetyTips",
        "EnableViaTag",
        "HonorDmarcPolicy",
    ),
    Setting("PhishThresholdLevel", IntegerType(), in_range("PhishThresholdLevel", 1, 4)),
    Setting(
        "ImpersonationProtectionState",
        _enum(
            "Microsoft.Exchange.Data.Directory.SystemConfiguration.ImpersonationProtectionState",
            "Automatic",
            "Manual",
            "Off",
        ),
        not_null("ImpersonationProtectionState"),
    ),
    Setting(
        "AuthenticationFailAction",
        _enum(
            "Microsoft.Exchange.Data.Directory.SystemConfiguration.SpoofAuthenticationFailAction",
            "MoveToJmf",
            "Quarantine",
        ),
        not_null("AuthenticationFailAction"),
    ),
    Setting(
        "DmarcQuarantineAction",
        _enum(
            "Microsoft.Exchange.Data.Directory.SystemConfiguration.SpoofDmarcQuarantineAction",
            "MoveToJmf",
            "Quarantine",
        ),
        not_null("DmarcQuarantineAction"),
    ),
    Setting(
        "DmarcRejectAction",
        _enum("Microsoft.Exchange.Data.Directory.SystemConfiguration.SpoofDmarcRejectAction", "Quarantine", "Reject"),
        not_null("DmarcRejectAction"),
    ),
    Setting("ExcludedDomains", _DOMAINS),
    Setting("ExcludedSenders", _ADDRESSES),
    Setting("TargetedDomainsToProtect", _DOMAINS),
    Setting("TargetedUsersToProtect", _STRINGS),
)

# --- cmdlets ----------------------------------------------------------------------------------------

_POLICIES: Final[tuple[tuple[ConfigKind, Sequence[Setting], str, str], ...]] = (
    (CONTENT_FILTER, _CONTENT_SETTINGS, "anti-spam (content filter) policies", "HostedContentFilterPolicy"),
    (OUTBOUND_SPAM, _OUTBOUND_SETTINGS, "outbound spam filter policies", "HostedOutboundSpamFilterPolicy"),
    (MALWARE_FILTER, _MALWARE_SETTINGS, "anti-malware policies", "MalwareFilterPolicy"),
    (ANTI_PHISH, _ANTI_PHISH_SETTINGS, "antiphish policies", "AntiPhishPolicy"),
)


def _getter(spec: ConfigKind) -> Callable[[Invocation], Iterator[Any]]:
    def handler(inv: Invocation) -> Iterator[Any]:
        for bound in inv.each():
            yield from get_objects(inv, spec, bound)

    return handler


def _setter(spec: ConfigKind, settings: Sequence[Setting]) -> Callable[[Invocation], Iterator[Any]]:
    def handler(inv: Invocation) -> Iterator[Any]:
        for bound in inv.each():
            obj = find_one(inv, spec, bound["Identity"])
            if obj is not None:
                what_if = f'Setting {spec.kind} "{obj.name}".'
                set_config(inv, spec, obj, bound_changes(inv, bound, settings), what_if)
        yield from ()

    return handler


def _definitions() -> list[CmdletDefinition]:
    found: list[CmdletDefinition] = []
    for spec, settings, what, noun in _POLICIES:
        id_type = f"{_TASKS}{noun}IdParameter"
        output = spec.template.type_name
        found.append(
            config_cmdlet(
                f"Get-{noun}",
                _getter(spec),
                (identity_parameter(id_type, mandatory=False),),
                output,
                synopsis=f"Views {what}.",
            )
        )
        found.append(
            config_cmdlet(
                f"Set-{noun}",
                _setter(spec, settings),
                (identity_parameter(id_type, mandatory=True), *(s.parameter for s in settings)),
                output,
                writes=True,
                synopsis=f"Modifies {what}.",
            )
        )
    return found


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
    for definition in _definitions():
        registry.register(definition)
