"""Organisation and transport: OrganizationConfig, AcceptedDomain, RemoteDomain, TransportConfig and transport rules.

Also the plumbing every tenant-configuration cmdlet shares (:class:`ConfigKind`, :func:`set_config`...),
used by :mod:`.protection` too. A configuration object stores only the properties that differ from its
kind's defaults; the objects every tenant has from the start (OrganizationConfig, the Default remote
domain, the default policies) are shown from the defaults until the first change creates their row,
so reading never writes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from aobo.cmdlets import texts
from aobo.cmdlets.binding import BoundParameters
from aobo.cmdlets.exchange.common import (
    AD_CONFIGURATION_BASES,
    AD_PRESENTATION_BASES,
    ALREADY_EXISTS,
    DEFAULT_RESULT_SIZE,
    ObjectTemplate,
    apply_filter,
    differs,
    fail,
    identity_parameter,
    limited,
    nothing_modified,
    task_error,
    write_guarded,
)
from aobo.cmdlets.exchange.mailbox_object import STRING_COLLECTION, organization_id
from aobo.cmdlets.parameters import (
    UNLIMITED,
    BoolType,
    ConversionError,
    EnumType,
    IdentityRef,
    IntegerType,
    MultiValuedChange,
    ParameterType,
    StringArrayType,
    StringType,
    SwitchType,
    UnlimitedSizeType,
    UnlimitedType,
    cannot_convert,
    size_text,
    size_value,
)
from aobo.cmdlets.pipeline import Invocation
from aobo.cmdlets.registry import CmdletDefinition, Parameter, Registry, has_wildcards, matches
from aobo.cmdlets.results import CmdletError, ExchangeObject, MultiValued
from aobo.cmdlets.roles import ORGANIZATION
from aobo.cmdlets.texts import DOMAIN_CONTROLLER
from aobo.domain.configuration import UNSET, ConfigObject, default_guid
from aobo.domain.errors import AlreadyExists
from aobo.domain.models import Tenant
from aobo.domain.sizes import MB

_FOREST: Final = DOMAIN_CONTROLLER.split(".", 1)[1]
_DC_SUFFIX: Final = ",".join(f"DC={part}" for part in _FOREST.split("."))
EXCHANGE_VERSION: Final = "0.20 (15.0.0.0)"
_HELP: Final = "https://learn.microsoft.com/powershell/module/exchange/"

# --- configuration objects: shared plumbing ----------------------------------------------------------


@dataclass(frozen=True)
class ConfigKind:
    """One kind of tenant configuration object: how it is stored and shown.

    ``defaults`` are the stored properties' values when nothing was changed (JSON values: lists for
    multi-valued properties); ``template`` is the whole output object. ``default_name`` names the
    object every tenant has without creating it.
    """

    kind: str
    template: ObjectTemplate
    defaults: Mapping[str, Any]
    container: str
    category: str
    object_class: tuple[str, ...]
    default_name: str | None = None
    #: Properties computed per object (beyond the stored ones), e.g. IsDefault.
    extra: Callable[[ConfigObject, Tenant], Mapping[str, Any]] | None = None


def template(
    type_name: str, properties: Mapping[str, Any], *, bases: Sequence[str] = AD_CONFIGURATION_BASES
) -> ObjectTemplate:
    """An object type whose own properties come first, then the directory properties every
    configuration object ends with, in Exchange's order."""
    trailer = dict.fromkeys(
        (
            "AdminDisplayName",
            "ExchangeVersion",
            "Name",
            "DistinguishedName",
            "Identity",
            "Id",
            "IsValid",
            "ObjectCategory",
            "ObjectClass",
            "WhenChanged",
            "WhenCreated",
            "WhenChangedUTC",
            "WhenCreatedUTC",
            "ExchangeObjectId",
            "OrganizationalUnitRoot",
            "OrganizationId",
            "Guid",
            "OriginatingServer",
            "ObjectState",
        )
    )
    trailer.update(AdminDisplayName="", ExchangeVersion=EXCHANGE_VERSION, IsValid=True)
    trailer.update(OriginatingServer=DOMAIN_CONTROLLER, ObjectState="Unchanged")
    own = {k: v for k, v in properties.items() if k not in trailer}
    return ObjectTemplate((type_name, *bases), {**own, **trailer})


def shown(value: Any) -> Any:
    """A stored (JSON) value as the client sees it: lists are multi-valued properties."""
    if isinstance(value, list | tuple):
        return MultiValued(tuple(value), STRING_COLLECTION)
    return value


def effective(spec: ConfigKind, obj: ConfigObject) -> dict[str, Any]:
    """The object's stored properties, defaults filled in."""
    return {**spec.defaults, **obj.props}


def make_config(spec: ConfigKind, obj: ConfigObject, tenant: Tenant) -> ExchangeObject:
    """The Exchange object for a stored or default configuration object."""
    domain = tenant.initial_domain
    values: dict[str, Any] = {k: shown(v) for k, v in effective(spec, obj).items()}
    dn_name = obj.name.replace(",", "\\,")
    values.update(
        Name=obj.name,
        Identity=obj.name,
        Id=obj.name,
        DistinguishedName=f"CN={dn_name},CN={spec.container},CN=Configuration,CN={domain},CN=ConfigurationUnits,{_DC_SUFFIX}",
        ObjectCategory=f"{_FOREST}/Configuration/Schema/{spec.category}",
        ObjectClass=MultiValued(spec.object_class, STRING_COLLECTION),
        WhenChanged=obj.when_changed,
        WhenCreated=obj.when_created,
        WhenChangedUTC=obj.when_changed,
        WhenCreatedUTC=obj.when_created,
        ExchangeObjectId=obj.guid,
        OrganizationalUnitRoot=domain,
        OrganizationId=organization_id(tenant),
        Guid=obj.guid,
    )
    if spec.extra is not None:
        values.update(spec.extra(obj, tenant))
    return spec.template.make(values, obj.name, strict=False)


def default_object(inv: Invocation, spec: ConfigKind) -> ConfigObject:
    """The kind's built-in object as it is before anything changed it (not stored: id 0)."""
    name = spec.default_name or spec.kind
    tenant = inv.ctx.tenant
    created = inv.ctx.store.config.tenant_created(tenant.id)
    return ConfigObject(
        0, tenant.id, spec.kind, default_guid(tenant.guid, spec.kind, name), name, None, {}, created, created
    )


def stored_or_default(inv: Invocation, spec: ConfigKind) -> ConfigObject:
    """The kind's built-in object: its row when it has one, else its defaults."""
    name = spec.default_name or spec.kind
    found = inv.ctx.store.config.find(inv.ctx.tenant.id, spec.kind, name)
    return found[0] if found else default_object(inv, spec)


def all_objects(inv: Invocation, spec: ConfigKind) -> list[ConfigObject]:
    """Every object of the kind, the built-in one included whether stored or not."""
    rows = inv.ctx.store.config.list(inv.ctx.tenant.id, spec.kind)
    if spec.default_name is not None and not any(r.name.lower() == spec.default_name.lower() for r in rows):
        rows.insert(0, default_object(inv, spec))
    return rows


def find_objects(inv: Invocation, spec: ConfigKind, identity: IdentityRef | str) -> list[ConfigObject]:
    """The objects ``identity`` names: by name (wildcards allowed) or GUID."""
    text = str(identity).strip()
    guid = identity.guid if isinstance(identity, IdentityRef) else None
    found = []
    for obj in all_objects(inv, spec):
        if guid is not None and obj.guid == guid:
            return [obj]
        if matches(text, obj.name) or text.lower() == str(obj.guid):
            found.append(obj)
    return found


def find_one(inv: Invocation, spec: ConfigKind, identity: IdentityRef | str) -> ConfigObject | None:
    """The one object ``identity`` names, or None after writing the not-found / ambiguous error."""
    found = find_objects(inv, spec, identity)
    if len(found) == 1:
        return found[0]
    name = inv.definition.name
    inv.write(texts.object_not_found(str(identity), name) if not found else texts.object_ambiguous(str(identity), name))
    return None


def get_objects(inv: Invocation, spec: ConfigKind, bound: BoundParameters) -> Iterator[Any]:
    """Get-X over a configuration kind: one object by -Identity, or all (wildcards, -Filter, -ResultSize)."""
    identity = bound.get("Identity")
    tenant = inv.ctx.tenant
    if identity is not None and not has_wildcards(str(identity)):
        obj = find_one(inv, spec, identity)
        if obj is not None:
            yield make_config(spec, obj, tenant)
        return
    rows = find_objects(inv, spec, identity) if identity is not None else all_objects(inv, spec)
    objects = apply_filter(inv, bound, (make_config(spec, r, tenant) for r in rows))
    yield from limited(iter(objects), bound)


def ensure_stored(inv: Invocation, spec: ConfigKind, obj: ConfigObject) -> ConfigObject:
    """The row of ``obj``, creating it (with its built-in GUID and creation time) on its first change."""
    if obj.id:
        return obj
    config = inv.ctx.store.config
    try:
        return config.create(obj.tenant_id, obj.kind, obj.name, guid=obj.guid, when_created=obj.when_created)
    except AlreadyExists:  # created meanwhile by a concurrent first change
        return config.find(obj.tenant_id, obj.kind, obj.name)[0]


#: New values of the properties a Set- changes, from the object's current (effective) values.
Changes = Callable[[Mapping[str, Any]], dict[str, Any]]


def set_config(
    inv: Invocation, spec: ConfigKind, obj: ConfigObject, changes: Changes, what_if: str, identity: str | None = None
) -> ConfigObject | None:
    """The Set- path of a configuration object: validate, ShouldProcess, write only what changes
    (a value equal to the default is dropped from the stored props), warn when nothing does.
    ``identity`` is how the warning names the object (its name unless given)."""
    try:
        wanted = changes(effective(spec, obj))
    except CmdletError as e:
        if e.terminating:
            raise
        inv.write(e.record)
        return None
    if not inv.should_process(what_if):
        return None
    if not wanted:
        inv.write(nothing_modified(identity or obj.name))
        return None
    row = ensure_stored(inv, spec, obj)

    def delta(current: ConfigObject) -> dict[str, Any]:
        new = changes(effective(spec, current))
        return {k: UNSET if k in spec.defaults and spec.defaults[k] == v else v for k, v in new.items()}

    try:
        return inv.ctx.store.config.update(inv.ctx.tenant.id, row.id, delta)
    except CmdletError as e:
        if e.terminating:
            raise
        inv.write(e.record)
    return None


@dataclass(frozen=True, slots=True)
class Setting:
    """A Set- parameter that writes the property of the same name; ``check`` returns Exchange's
    error text for a value the property refuses, ``convert`` turns the bound value into the stored one."""

    name: str
    type: ParameterType
    check: Callable[[Any], str | None] | None = None
    convert: Callable[[Any], Any] | None = None

    @property
    def parameter(self) -> Parameter:
        return Parameter(self.name, self.type)


def json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple | list) else value


def bound_changes(inv: Invocation, bound: BoundParameters, settings: Sequence[Setting]) -> Changes:
    """The :data:`Changes` a Set- cmdlet's bound ``settings`` ask for."""

    def compute(current: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in settings:
            if not bound.is_bound(s.name):
                continue
            value = bound[s.name]
            if isinstance(value, MultiValuedChange):
                value = list(value.apply(current.get(s.name) or ()))
            if s.check is not None and (problem := s.check(value)) is not None:
                raise fail(inv, problem)
            if s.convert is not None:
                value = s.convert(value)
            value = json_value(value)
            if differs(current.get(s.name), value):
                out[s.name] = value
        return out

    return compute


def out_of_range(name: str, low: Any, high: Any, value: Any) -> str:
    """Exchange's text for a property value outside its range (wording not verified against Exchange Online)."""
    return f"The value of property '{name}' must be between {low} and {high}, inclusive. The value entered was {value}."


def in_range(name: str, low: int, high: int) -> Callable[[Any], str | None]:
    """Exchange's range check on an integer property (text not verified against Exchange Online)."""

    def check(value: Any) -> str | None:
        if value is None or low <= int(value) <= high:
            return None
        return out_of_range(name, low, high, value)

    return check


def not_null(name: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return f"The {name} property can't be $null." if value is None else None

    return check


def booleans(*names: str) -> tuple[Setting, ...]:
    return tuple(Setting(n, BoolType(), not_null(n)) for n in names)


# --- ByteQuantifiedSize / EnhancedTimeSpan --------------------------------------------------------


def size_at_most(name: str, limit_mb: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        size = None if value is None else size_value(value)
        if size is None or size is UNLIMITED or size <= limit_mb * MB:
            return None
        return f"The value of property '{name}' must be less than or equal to {size_text(limit_mb * MB)}."

    return check


class TimeSpanType(ParameterType):
    """``EnhancedTimeSpan``: ``[d.]hh:mm[:ss]``, stored as ``hh:mm:ss``."""

    dotnet_name = "Microsoft.Exchange.Data.EnhancedTimeSpan"
    _RE: Final = re.compile(r"^\s*(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        found = self._RE.match(str(value))
        if found is None:
            raise ConversionError(
                f'Cannot convert value "{value}" to type "{self.dotnet_name}". Error: "String was not recognized '
                'as a valid TimeSpan."',
                transform=True,
            )
        days, hours, minutes, seconds = (int(g or 0) for g in found.groups())
        total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
        return timespan_text(total)


def timespan_text(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}.{text}" if days else text


def timespan_seconds(text: str) -> int:
    days, _, clock = text.rpartition(".")
    h, m, s = (int(p) for p in clock.split(":"))
    return int(days or 0) * 86_400 + h * 3600 + m * 60 + s


# --- Get/Set-OrganizationConfig ------------------------------------------------------------------

_ORG_SETTINGS: Final = (
    *booleans(
        "ActivityBasedAuthenticationTimeoutEnabled",
        "ActivityBasedAuthenticationTimeoutWithSingleSignOnEnabled",
        "AppsForOfficeEnabled",
        "AuditDisabled",
        "AutoEnableArchiveMailbox",
        "BookingsEnabled",
        "ConnectorsActionableMessagesEnabled",
        "ConnectorsEnabled",
        "DirectReportsGroupAutoCreationEnabled",
        "DisablePlusAddressInRecipients",
        "ElcProcessingDisabled",
        "FocusedInboxOn",
        "LinkPreviewEnabled",
        "MailTipsAllTipsEnabled",
        "MailTipsExternalRecipientsTipsEnabled",
        "MailTipsGroupMetricsEnabled",
        "MailTipsMailboxSourcedTipsEnabled",
        "MessageRecallEnabled",
        "OAuth2ClientProfileEnabled",
        "PostponeRoamingSignaturesUntilLater",
        "ReadTrackingEnabled",
        "RejectDirectSend",
        "SendFromAliasEnabled",
        "SmtpActionableMessagesEnabled",
        "WebPushNotificationsDisabled",
    ),
    Setting("EwsEnabled", BoolType()),
    Setting(
        "ActivityBasedAuthenticationTimeoutInterval",
        TimeSpanType(),
        lambda v: (
            None
            if v is not None and 300 <= timespan_seconds(v) <= 28_800
            else out_of_range("ActivityBasedAuthenticationTimeoutInterval", "00:05:00", "08:00:00", v)
        ),
    ),
    Setting(
        "MailTipsLargeAudienceThreshold",
        IntegerType("System.UInt32"),
        in_range("MailTipsLargeAudienceThreshold", 0, 1000),
    ),
)

_ORG_DEFAULTS: Final[dict[str, Any]] = {
    "DelayedDelicensingEnabled": False,
    "EndUserMailNotificationForDelayedDelicensingEnabled": False,
    "TenantAdminNotificationForDelayedDelicensingEnabled": False,
    "IsDehydrated": False,
    "ActivityBasedAuthenticationTimeoutEnabled": True,
    "ActivityBasedAuthenticationTimeoutInterval": "06:00:00",
    "ActivityBasedAuthenticationTimeoutWithSingleSignOnEnabled": True,
    "AppsForOfficeEnabled": True,
    "AuditDisabled": False,
    "AutoEnableArchiveMailbox": False,
    "AutoExpandingArchiveEnabled": False,
    "BookingsEnabled": False,
    "ConnectorsActionableMessagesEnabled": True,
    "ConnectorsEnabled": True,
    "CustomerLockboxEnabled": False,
    "DefaultPublicFolderMailbox": None,
    "DirectReportsGroupAutoCreationEnabled": False,
    "DisablePlusAddressInRecipients": False,
    "ElcProcessingDisabled": False,
    "EwsEnabled": None,
    "FocusedInboxOn": True,
    "LinkPreviewEnabled": True,
    "MailTipsAllTipsEnabled": True,
    "MailTipsExternalRecipientsTipsEnabled": False,
    "MailTipsGroupMetricsEnabled": True,
    "MailTipsLargeAudienceThreshold": 25,
    "MailTipsMailboxSourcedTipsEnabled": True,
    "MapiHttpEnabled": True,
    "MessageRecallEnabled": True,
    "OAuth2ClientProfileEnabled": True,
    "PostponeRoamingSignaturesUntilLater": False,
    "PublicFoldersEnabled": "Local",
    "ReadTrackingEnabled": False,
    "RejectDirectSend": False,
    "SendFromAliasEnabled": False,
    "SmtpActionableMessagesEnabled": True,
    "WebPushNotificationsDisabled": False,
}

ORGANIZATION_CONFIG: Final = ConfigKind(
    kind="OrganizationConfig",
    template=template(
        "Microsoft.Exchange.Data.Directory.Management.OrganizationConfig",
        {"DisplayName": "", **_ORG_DEFAULTS},
        bases=AD_PRESENTATION_BASES,
    ),
    defaults=_ORG_DEFAULTS,
    container="Microsoft Exchange",
    category="ms-Exch-Configuration-Unit-Container",
    object_class=("top", "organization", "msExchConfigurationUnitContainer"),
)


def _make_org(obj: ConfigObject, tenant: Tenant) -> ExchangeObject:
    """The OrganizationConfig object: named after the tenant's initial domain, as Exchange Online names it."""
    values = make_config(ORGANIZATION_CONFIG, replace(obj, name=tenant.initial_domain), tenant).as_dict()
    values["DisplayName"] = tenant.name.capitalize()
    values["DistinguishedName"] = f"CN=Configuration,CN={tenant.initial_domain},CN=ConfigurationUnits,{_DC_SUFFIX}"
    return ORGANIZATION_CONFIG.template.make(values, tenant.initial_domain)


def _get_organization_config(inv: Invocation) -> Iterator[Any]:
    for _ in inv.each():
        yield _make_org(stored_or_default(inv, ORGANIZATION_CONFIG), inv.ctx.tenant)


def _set_organization_config(inv: Invocation) -> Iterator[Any]:
    for bound in inv.each():
        obj = stored_or_default(inv, ORGANIZATION_CONFIG)
        base = bound_changes(inv, bound, _ORG_SETTINGS)

        def changes(current: Mapping[str, Any], base: Changes = base, bound: BoundParameters = bound) -> dict[str, Any]:
            out = base(current)
            if bound.get("AutoExpandingArchive") and not current.get("AutoExpandingArchiveEnabled"):
                out["AutoExpandingArchiveEnabled"] = True
            return out

        domain = inv.ctx.tenant.initial_domain
        set_config(inv, ORGANIZATION_CONFIG, obj, changes, f'Setting organization configuration "{domain}".', domain)
    yield from ()


_ORG_TYPE: Final = "Microsoft.Exchange.Data.Directory.Management.OrganizationConfig"

# --- Get-AcceptedDomain ---------------------------------------------------------------------------

ACCEPTED_DOMAIN_TEMPLATE: Final = template(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.AcceptedDomain",
    {
        "DomainName": "",
        "CatchAllRecipientID": None,
        "DomainType": "Authoritative",
        "MatchSubDomains": False,
        "AddressBookEnabled": True,
        "Default": False,
        "EmailOnly": False,
        "ExternallyManaged": False,
        "AuthenticationType": "Managed",
        "LiveIdInstanceType": "Business",
        "PendingRemoval": False,
        "PendingCompletion": False,
        "FederatedOrganizationLink": None,
        "MailFlowPartner": None,
        "OutboundOnly": False,
        "PendingFederatedAccountNamespace": False,
        "PendingFederatedDomain": False,
        "IsCoexistenceDomain": False,
        "PerimeterDuplicateDetected": False,
        "IsDefaultFederatedDomain": False,
        "EnableNego2Authentication": False,
        "InitialDomain": False,
    },
)


def _accepted_domain(tenant: Tenant, domain: str, created: Any) -> ExchangeObject:
    guid = default_guid(tenant.guid, "AcceptedDomain", domain)
    obj = ConfigObject(0, tenant.id, "AcceptedDomain", guid, domain, None, {}, created, created)
    spec = ConfigKind(
        "AcceptedDomain",
        ACCEPTED_DOMAIN_TEMPLATE,
        {
            "DomainName": domain,
            "Default": domain == tenant.default_domain,
            "InitialDomain": domain == tenant.initial_domain,
        },
        "Accepted Domains,CN=Transport Settings",
        "ms-Exch-Accepted-Domain",
        ("top", "msExchAcceptedDomain"),
    )
    return make_config(spec, obj, tenant)


def _get_accepted_domain(inv: Invocation) -> Iterator[Any]:
    tenant = inv.ctx.tenant
    created = inv.ctx.store.config.tenant_created(tenant.id)
    for bound in inv.each():
        identity = bound.get("Identity")
        domains = [d for d in tenant.domains if identity is None or matches(str(identity), d)]
        if identity is not None and not domains:
            yield texts.object_not_found(str(identity), inv.definition.name)
            continue
        objects = (_accepted_domain(tenant, d, created) for d in domains)
        yield from limited(objects, bound)


# --- Remote domains -------------------------------------------------------------------------------

_OOF_TYPES: Final = EnumType(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.AllowedOOFType",
    {"External": 0, "InternalLegacy": 1, "ExternalLegacy": 2, "None": 3},
)
_CONTENT_TYPES: Final = EnumType(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.ContentType",
    {"MimeHtmlText": 0, "MimeText": 1, "MimeHtml": 2},
)

_REMOTE_DEFAULTS: Final[dict[str, Any]] = {
    "DomainName": "*",
    "IsInternal": False,
    "TargetDeliveryDomain": False,
    "ByteEncoderTypeFor7BitCharsets": "Undefined",
    "CharacterSet": "iso-8859-1",
    "NonMimeCharacterSet": "iso-8859-1",
    "AllowedOOFType": "External",
    "AutoReplyEnabled": True,
    "AutoForwardEnabled": True,
    "DeliveryReportEnabled": True,
    "NDREnabled": True,
    "MeetingForwardNotificationEnabled": False,
    "ContentType": "MimeHtmlText",
    "DisplaySenderName": True,
    "PreferredInternetCodePageForShiftJis": "Undefined",
    "RequiredCharsetCoverage": None,
    "TNEFEnabled": None,
    "LineWrapSize": "Unlimited",
    "TrustedMailOutboundEnabled": False,
    "TrustedMailInboundEnabled": False,
    "UseSimpleDisplayName": False,
    "NDRDiagnosticInfoEnabled": True,
    "MessageCountThreshold": 2147483647,
    "IsCoexistenceDomain": False,
}

REMOTE_DOMAIN: Final = ConfigKind(
    kind="RemoteDomain",
    template=template("Microsoft.Exchange.Data.Directory.SystemConfiguration.DomainContentConfig", _REMOTE_DEFAULTS),
    defaults=_REMOTE_DEFAULTS,
    container="Internet Message Formats,CN=Global Settings",
    category="ms-Exch-Domain-Content-Config",
    object_class=("top", "msExchDomainContentConfig"),
    default_name="Default",
)

_REMOTE_SETTINGS: Final = (
    *booleans(
        "AutoForwardEnabled",
        "AutoReplyEnabled",
        "DeliveryReportEnabled",
        "DisplaySenderName",
        "IsInternal",
        "MeetingForwardNotificationEnabled",
        "NDRDiagnosticInfoEnabled",
        "NDREnabled",
        "TargetDeliveryDomain",
        "TrustedMailInboundEnabled",
        "TrustedMailOutboundEnabled",
        "UseSimpleDisplayName",
    ),
    Setting("TNEFEnabled", BoolType()),
    Setting("AllowedOOFType", _OOF_TYPES, not_null("AllowedOOFType")),
    Setting("ContentType", _CONTENT_TYPES, not_null("ContentType")),
    Setting("CharacterSet", StringType()),
    Setting("NonMimeCharacterSet", StringType()),
)

_DOMAIN_RE: Final = re.compile(r"^(\*|(\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)$")


class SmtpDomainWithSubdomainsType(ParameterType):
    """``SmtpDomainWithSubdomains``: ``contoso.com`` or ``*.contoso.com`` (or ``*``)."""

    dotnet_name = "Microsoft.Exchange.Data.SmtpDomainWithSubdomains"

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip().lower()
        if not _DOMAIN_RE.match(text):
            raise cannot_convert(
                value, self.dotnet_name, f'"{value}" isn\'t a valid SMTP domain with subdomains.', transform=True
            )
        return text


_REMOTE_ID: Final = "Microsoft.Exchange.Configuration.Tasks.RemoteDomainIdParameter"


def _get_remote_domain(inv: Invocation) -> Iterator[Any]:
    for bound in inv.each():
        yield from get_objects(inv, REMOTE_DOMAIN, bound)


def _set_remote_domain(inv: Invocation) -> Iterator[Any]:
    for bound in inv.each():
        obj = find_one(inv, REMOTE_DOMAIN, bound["Identity"])
        if obj is None:
            continue
        changes = bound_changes(inv, bound, _REMOTE_SETTINGS)
        set_config(inv, REMOTE_DOMAIN, obj, changes, f'Setting remote domain "{obj.name}".')
    yield from ()


def _new_remote_domain(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound in inv.each():
        name: str = bound["Name"]
        domain: str = bound["DomainName"]
        if any(effective(REMOTE_DOMAIN, o)["DomainName"] == domain for o in all_objects(inv, REMOTE_DOMAIN)):
            yield task_error(
                inv, f"A remote domain with the domain name {domain} already exists.", ALREADY_EXISTS, target=name
            )
            continue
        if len(name) > 64:
            yield task_error(
                inv,
                f"The length of the property is too long. The maximum length is 64 and the length of the value "
                f"provided is {len(name)}.",
                target=name,
            )
            continue
        created = write_guarded(
            inv,
            name,
            f'Creating remote domain "{name}" with domain name "{domain}".',
            lambda name=name, domain=domain: ctx.store.config.create(
                ctx.tenant.id, REMOTE_DOMAIN.kind, name, {"DomainName": domain}
            ),
        )
        if created is not None:
            yield make_config(REMOTE_DOMAIN, created, ctx.tenant)


def _remove_remote_domain(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound in inv.each():
        obj = find_one(inv, REMOTE_DOMAIN, bound["Identity"])
        if obj is None:
            continue
        if obj.name.lower() == "default":
            yield task_error(
                inv, "The default remote domain can't be removed.", "System.InvalidOperationException", target=obj.name
            )
            continue
        write_guarded(
            inv,
            obj.name,
            f'Removing remote domain "{obj.name}".',
            lambda obj=obj: ctx.store.config.delete(ctx.tenant.id, obj.id),
        )
    yield from ()


# --- Get/Set-TransportConfig ----------------------------------------------------------------------

_TRANSPORT_DEFAULTS: Final[dict[str, Any]] = {
    "AddressBookPolicyRoutingEnabled": False,
    "AllowLegacyTLSClients": False,
    "ClearCategories": True,
    "ConvertDisclaimerWrapperToEml": False,
    "DSNConversionMode": "PreserveDSNBody",
    "ExternalDelayDsnEnabled": True,
    "ExternalDsnDefaultLanguage": None,
    "ExternalDsnLanguageDetectionEnabled": True,
    "ExternalDsnReportingAuthority": None,
    "ExternalDsnSendHtml": True,
    "ExternalPostmasterAddress": None,
    "HeaderPromotionModeSetting": "NoCreate",
    "InternalDelayDsnEnabled": True,
    "InternalDsnDefaultLanguage": None,
    "InternalDsnLanguageDetectionEnabled": True,
    "InternalDsnReportingAuthority": None,
    "InternalDsnSendHtml": True,
    "InternalSMTPServers": [],
    "JournalingReportNdrTo": "<>",
    "JournalMessageExpirationDays": 0,
    "MaxRecipientEnvelopeLimit": "Unlimited",
    "MaxReceiveSize": size_text(36 * MB),
    "MaxSendSize": size_text(35 * MB),
    "MessageExpiration": "1.00:00:00",
    "ReplyAllStormProtectionEnabled": True,
    "ReplyAllStormDetectionMinimumRecipients": 2500,
    "ReplyAllStormDetectionMinimumReplies": 10,
    "ReplyAllStormBlockDurationHours": 6,
    "Rfc2231EncodingEnabled": False,
    "SmtpClientAuthenticationDisabled": True,
    "VoicemailJournalingEnabled": True,
}

TRANSPORT_CONFIG: Final = ConfigKind(
    kind="TransportConfig",
    template=template(
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.TransportConfigContainer", _TRANSPORT_DEFAULTS
    ),
    defaults=_TRANSPORT_DEFAULTS,
    container="Global Settings",
    category="ms-Exch-Transport-Settings",
    object_class=("top", "container", "msExchTransportSettings"),
    default_name="Transport Settings",
)


class RecipientLimitType(UnlimitedType):
    """``Unlimited<Int32>`` where 0 is allowed and the value is stored as a number or ``Unlimited``."""

    def convert(self, value: Any) -> Any:
        converted = super().convert(value)
        return "Unlimited" if str(converted) == "Unlimited" else converted


_TRANSPORT_SETTINGS: Final = (
    *booleans(
        "AddressBookPolicyRoutingEnabled",
        "AllowLegacyTLSClients",
        "ClearCategories",
        "ConvertDisclaimerWrapperToEml",
        "ExternalDelayDsnEnabled",
        "ExternalDsnLanguageDetectionEnabled",
        "ExternalDsnSendHtml",
        "InternalDelayDsnEnabled",
        "InternalDsnLanguageDetectionEnabled",
        "InternalDsnSendHtml",
        "ReplyAllStormProtectionEnabled",
        "Rfc2231EncodingEnabled",
        "SmtpClientAuthenticationDisabled",
        "VoicemailJournalingEnabled",
    ),
    Setting("MaxSendSize", UnlimitedSizeType(as_text=True), size_at_most("MaxSendSize", 150)),
    Setting("MaxReceiveSize", UnlimitedSizeType(as_text=True), size_at_most("MaxReceiveSize", 150)),
    Setting(
        "MaxRecipientEnvelopeLimit",
        RecipientLimitType("System.Int32"),
        lambda v: None if v == "Unlimited" or int(v) <= 1000 else out_of_range("MaxRecipientEnvelopeLimit", 0, 1000, v),
    ),
    Setting(
        "JournalMessageExpirationDays", IntegerType("System.Int32"), in_range("JournalMessageExpirationDays", 0, 7)
    ),
    Setting(
        "ReplyAllStormDetectionMinimumRecipients",
        IntegerType("System.Int32"),
        in_range("ReplyAllStormDetectionMinimumRecipients", 1000, 5000),
    ),
    Setting(
        "ReplyAllStormDetectionMinimumReplies",
        IntegerType("System.Int32"),
        in_range("ReplyAllStormDetectionMinimumReplies", 10, 20),
    ),
    Setting(
        "ReplyAllStormBlockDurationHours",
        IntegerType("System.Int32"),
        in_range("ReplyAllStormBlockDurationHours", 1, 12),
    ),
)


def _get_transport_config(inv: Invocation) -> Iterator[Any]:
    for _ in inv.each():
        yield make_config(TRANSPORT_CONFIG, stored_or_default(inv, TRANSPORT_CONFIG), inv.ctx.tenant)


def _set_transport_config(inv: Invocation) -> Iterator[Any]:
    for bound in inv.each():
        obj = stored_or_default(inv, TRANSPORT_CONFIG)
        set_config(
            inv,
            TRANSPORT_CONFIG,
            obj,
            bound_changes(inv, bound, _TRANSPORT_SETTINGS),
            'Setting transport configuration "Transport Settings".',
        )
    yield from ()


# --- registration ---------------------------------------------------------------------------------

RESULT_SIZE: Final = Parameter("ResultSize", UnlimitedType(), default=DEFAULT_RESULT_SIZE)
_FILTER: Final = Parameter("Filter", StringType())


def config_cmdlet(name: str, handler: Any, parameters: Sequence[Parameter], output: str, **kw: Any) -> CmdletDefinition:
    return CmdletDefinition(
        name=name,
        handler=handler,
        parameters=tuple(parameters),
        output_type=(output,),
        area=ORGANIZATION,
        help_uri=_HELP + name.lower(),
        **kw,
    )


# --- transport rules ------------------------------------------------------------------------------

RULE_KIND: Final = "TransportRule"
RULE_TYPE: Final = "Microsoft.Exchange.MessagingPolicies.Rules.Tasks.Rule"
_RULE_ID: Final = "Microsoft.Exchange.MessagingPolicies.Rules.Tasks.RuleIdParameter"
_RECIPIENT_ID: Final = "Microsoft.Exchange.Configuration.Tasks.RecipientIdParameter[]"
_WORDS: Final = StringArrayType("Microsoft.Exchange.Data.Word[]")
_PREDICATES: Final = "Microsoft.Exchange.MessagingPolicies.Rules.Tasks."

_FROM_SCOPE: Final = EnumType(
    "Microsoft.Exchange.MessagingPolicies.Rules.Tasks.FromUserScope", {"InOrganization": 0, "NotInOrganization": 1}
)
_TO_SCOPE: Final = EnumType(
    "Microsoft.Exchange.MessagingPolicies.Rules.Tasks.ToUserScope",
    {"InOrganization": 0, "NotInOrganization": 1, "ExternalPartner": 2, "ExternalNonPartner": 3},
)
_SCOPE_TEXT: Final = {
    "InOrganization": "Inside the organization",
    "NotInOrganization": "Outside the organization",
    "ExternalPartner": "Outside the organization (partner)",
    "ExternalNonPartner": "Outside the organization (non-partner)",
}
_RULE_MODE: Final = EnumType(
    "Microsoft.Exchange.MessagingPolicies.Rules.RuleMode", {"Audit": 0, "AuditAndNotify": 1, "Enforce": 2}
)
_RULE_STATE: Final = EnumType("Microsoft.Exchange.MessagingPolicies.Rules.RuleState", {"Enabled": 0, "Disabled": 1})
_DISCLAIMER_LOCATION: Final = EnumType(
    "Microsoft.Exchange.MessagingPolicies.Rules.Tasks.DisclaimerLocation", {"Append": 0, "Prepend": 1}
)
_DISCLAIMER_FALLBACK: Final = EnumType(
    "Microsoft.Exchange.MessagingPolicies.Rules.Tasks.DisclaimerFallbackAction", {"Wrap": 0, "Ignore": 1, "Reject": 2}
)
_ADDRESS_LOCATION: Final = EnumType(
    "Microsoft.Exchange.MessagingPolicies.Rules.Tasks.SenderAddressLocation",
    {"Header": 0, "Envelope": 1, "HeaderOrEnvelope": 2},
)
_ERROR_ACTION: Final = EnumType(
    "Microsoft.Exchange.MessagingPolicies.Rules.Tasks.RuleErrorAction", {"Ignore": 0, "Defer": 1}
)


def _quoted(values: Any) -> str:
    items = values if isinstance(values, list | tuple) else [values]
    return " or ".join(f"'{v}'" for v in items)


@dataclass(frozen=True, slots=True)
class RulePart:
    """A transport rule condition or action: its parameter (and property) name, type, the .NET class
    listed in the rule's Conditions/Actions, and the line it adds to the rule's Description."""

    name: str
    type: ParameterType
    predicate: str
    describe: Callable[[Any], str]
    recipients: bool = False


_CONDITIONS: Final = (
    RulePart("From", StringArrayType(_RECIPIENT_ID), "FromPredicate", lambda v: f"Is received from {_quoted(v)}", True),
    RulePart("SentTo", StringArrayType(_RECIPIENT_ID), "SentToPredicate", lambda v: f"Is sent to {_quoted(v)}", True),
    RulePart("FromScope", _FROM_SCOPE, "FromScopePredicate", lambda v: f"Is received from '{_SCOPE_TEXT[v]}'"),
    RulePart("SentToScope", _TO_SCOPE, "SentToScopePredicate", lambda v: f"Is sent to '{_SCOPE_TEXT[v]}'"),
    RulePart(
        "SubjectContainsWords",
        _WORDS,
        "SubjectContainsPredicate",
        lambda v: f"Includes these words in the message subject: {_quoted(v)}",
    ),
    RulePart(
        "SubjectOrBodyContainsWords",
        _WORDS,
        "SubjectOrBodyContainsPredicate",
        lambda v: f"Includes these words in the message subject or body: {_quoted(v)}",
    ),
    RulePart(
        "SenderDomainIs",
        _WORDS,
        "SenderDomainIsPredicate",
        lambda v: f"Sender's address domain portion belongs to any of these domains: {_quoted(v)}",
    ),
    RulePart(
        "RecipientDomainIs",
        _WORDS,
        "RecipientDomainIsPredicate",
        lambda v: f"Recipient's address domain portion belongs to any of these domains: {_quoted(v)}",
    ),
    RulePart(
        "AttachmentExtensionMatchesWords",
        _WORDS,
        "AttachmentExtensionMatchesWordsPredicate",
        lambda v: f"Attachment's file extension matches these words: {_quoted(v)}",
    ),
    RulePart(
        "AttachmentHasExecutableContent",
        BoolType(),
        "AttachmentHasExecutableContentPredicate",
        lambda v: "Any attachment has executable content",
    ),
)
_EXCEPTIONS: Final = tuple(replace(c, name=f"ExceptIf{c.name}") for c in _CONDITIONS)
_ACTIONS: Final = (
    RulePart("PrependSubject", StringType(), "PrependSubjectAction", lambda v: f"Prepend the subject with '{v}'"),
    RulePart(
        "ApplyHtmlDisclaimerText",
        StringType(),
        "ApplyHtmlDisclaimerAction",
        lambda v: (
            f"{v[1]} the disclaimer '{v[0]}' to the message. Fallback to action '{v[2]}' if the disclaimer "
            "can't be applied"
        ),
    ),
    RulePart(
        "SetSCL", IntegerType("System.Int32"), "SetSclAction", lambda v: f"Set the spam confidence level (SCL) to '{v}'"
    ),
    RulePart(
        "SetHeaderName",
        StringType(),
        "SetHeaderAction",
        lambda v: f"Set the message header '{v[0]}' with the value '{v[1]}'",
    ),
    RulePart(
        "AddToRecipients",
        StringArrayType(_RECIPIENT_ID),
        "AddToRecipientAction",
        lambda v: f"Add recipients to the 'To' box {_quoted(v)}",
        True,
    ),
    RulePart(
        "CopyTo",
        StringArrayType(_RECIPIENT_ID),
        "CopyToAction",
        lambda v: f"Carbon copy (Cc) the message to {_quoted(v)}",
        True,
    ),
    RulePart(
        "BlindCopyTo",
        StringArrayType(_RECIPIENT_ID),
        "BlindCopyToAction",
        lambda v: f"Blind carbon copy (Bcc) the message to {_quoted(v)}",
        True,
    ),
    RulePart(
        "RedirectMessageTo",
        StringArrayType(_RECIPIENT_ID),
        "RedirectMessageAction",
        lambda v: f"Redirect the message to {_quoted(v)}",
        True,
    ),
    RulePart(
        "RejectMessageReasonText",
        StringType(),
        "RejectMessageAction",
        lambda v: f"Reject the message with the explanation '{v[0]}' and the enhanced status code '{v[1]}'",
    ),
    RulePart(
        "DeleteMessage", BoolType(), "DeleteMessageAction", lambda v: "Delete the message without notifying anyone"
    ),
    RulePart("StopRuleProcessing", BoolType(), "StopRuleProcessingAction", lambda v: "Stop processing more rules"),
)
_PARTS: Final = {p.name: p for p in (*_CONDITIONS, *_EXCEPTIONS, *_ACTIONS)}

#: Parameters that complete an action rather than being one.
_ACTION_OPTIONS: Final = (
    Parameter("ApplyHtmlDisclaimerLocation", _DISCLAIMER_LOCATION),
    Parameter("ApplyHtmlDisclaimerFallbackAction", _DISCLAIMER_FALLBACK),
    Parameter("SetHeaderValue", StringType()),
    Parameter("RejectMessageEnhancedStatusCode", StringType()),
)
_RULE_OPTIONS: Final = (
    Parameter("Comments", StringType()),
    Parameter("Mode", _RULE_MODE),
    Parameter("SenderAddressLocation", _ADDRESS_LOCATION),
    Parameter("RuleErrorAction", _ERROR_ACTION),
)
_OPTION_DEFAULTS: Final[dict[str, Any]] = {
    "ApplyHtmlDisclaimerLocation": None,
    "ApplyHtmlDisclaimerFallbackAction": None,
    "SetHeaderValue": None,
    "RejectMessageEnhancedStatusCode": None,
}

_RULE_DEFAULTS: Final[dict[str, Any]] = {
    "Priority": 0,
    "DlpPolicy": "",
    "DlpPolicyId": uuid.UUID(int=0),
    "Comments": "",
    "ManuallyModified": False,
    "ActivationDate": None,
    "ExpiryDate": None,
    "Description": "",
    "RuleVersion": "15.0.2.0",
    "Conditions": None,
    "Exceptions": None,
    "Actions": None,
    "State": "Enabled",
    "Mode": "Enforce",
    "RuleErrorAction": "Ignore",
    "SenderAddressLocation": "Header",
    "RuleSubType": "None",
    "UseLegacyRegex": False,
    **{c.name: None for c in _CONDITIONS},
    **{a.name: None for a in _ACTIONS},
    **_OPTION_DEFAULTS,
    **{e.name: None for e in _EXCEPTIONS},
    "Identity": "",
    "DistinguishedName": "",
    "Guid": None,
    "ImmutableId": None,
    "OrganizationId": "",
    "Name": "",
    "IsValid": True,
    "WhenChanged": None,
    "ExchangeVersion": "0.1 (8.0.535.0)",
    "ObjectState": "Unchanged",
}
RULE_TEMPLATE: Final = ObjectTemplate(
    (
        RULE_TYPE,
        "Microsoft.Exchange.MessagingPolicies.Rules.Tasks.RulePresentationObjectBase",
        *AD_PRESENTATION_BASES,
    ),
    _RULE_DEFAULTS,
)
#: What a rule stores beyond its conditions, actions and exceptions, and their defaults.
_RULE_STORED_DEFAULTS: Final = {
    "State": "Enabled",
    "Mode": "Enforce",
    "Comments": "",
    "SenderAddressLocation": "Header",
    "RuleErrorAction": "Ignore",
}


def _description_value(name: str, props: Mapping[str, Any]) -> Any:
    """What a part's description line is built from (disclaimer, header and reject carry options)."""
    value = props[name]
    if name == "ApplyHtmlDisclaimerText":
        return (
            value,
            props.get("ApplyHtmlDisclaimerLocation") or "Append",
            props.get("ApplyHtmlDisclaimerFallbackAction") or "Wrap",
        )
    if name == "SetHeaderName":
        return (value, props.get("SetHeaderValue") or "")
    if name == "RejectMessageReasonText":
        return (value, props.get("RejectMessageEnhancedStatusCode") or "5.7.1")
    return value


def rule_description(props: Mapping[str, Any]) -> str:
    """Exchange's generated Description: the conditions, actions and exceptions in words."""
    blocks = []
    for heading, parts in (
        ("If the message:", _CONDITIONS),
        ("Take the following actions:", _ACTIONS),
        ("Except if the message:", _EXCEPTIONS),
    ):
        lines = [p.describe(_description_value(p.name, props)) for p in parts if props.get(p.name) not in (None, False)]
        if lines:
            blocks.append(heading + "\r\n\t" + "\r\n\tand ".join(lines) + "\r\n")
    return "".join(blocks)


def _classes(parts: Sequence[RulePart], props: Mapping[str, Any]) -> MultiValued | None:
    names = tuple(_PREDICATES + p.predicate for p in parts if props.get(p.name) not in (None, False))
    return MultiValued(names, STRING_COLLECTION) if names else None


def make_rule(obj: ConfigObject, tenant: Tenant) -> ExchangeObject:
    props = {**_RULE_STORED_DEFAULTS, **obj.props}
    values: dict[str, Any] = {k: shown(v) for k, v in props.items()}
    domain = tenant.initial_domain
    values.update(
        Priority=obj.priority or 0,
        Description=rule_description(props),
        Conditions=_classes(_CONDITIONS, props),
        Exceptions=_classes(_EXCEPTIONS, props),
        Actions=_classes(_ACTIONS, props),
        Identity=obj.name,
        Name=obj.name,
        DistinguishedName=f"CN={obj.name},CN=TransportVersioned,CN=Rules,CN=Transport Settings,CN=Configuration,"
        f"CN={domain},CN=ConfigurationUnits,{_DC_SUFFIX}",
        Guid=obj.guid,
        ImmutableId=obj.guid,
        OrganizationId=organization_id(tenant),
        WhenChanged=obj.when_changed,
    )
    return RULE_TEMPLATE.make(values, obj.name, strict=False)


def _rules(inv: Invocation) -> list[ConfigObject]:
    return inv.ctx.store.config.list(inv.ctx.tenant.id, RULE_KIND)


def _find_rule(inv: Invocation, identity: IdentityRef | str) -> ConfigObject | None:
    text = str(identity).strip()
    guid = identity.guid if isinstance(identity, IdentityRef) else None
    found = [r for r in _rules(inv) if r.guid == guid or r.name.lower() == text.lower() or str(r.guid) == text.lower()]
    if len(found) == 1:
        return found[0]
    name = inv.definition.name
    inv.write(texts.object_not_found(text, name) if not found else texts.object_ambiguous(text, name))
    return None


def _get_transport_rule(inv: Invocation) -> Iterator[Any]:
    tenant = inv.ctx.tenant
    for bound in inv.each():
        identity = bound.get("Identity")
        if identity is not None and not has_wildcards(str(identity)):
            rule = _find_rule(inv, identity)
            rows = [rule] if rule is not None else []
        else:
            rows = [r for r in _rules(inv) if identity is None or matches(str(identity), r.name)]
        state = bound.get("State")
        objects = (make_rule(r, tenant) for r in rows)
        objects = (o for o in objects if state is None or o["State"] == state)
        yield from limited(iter(apply_filter(inv, bound, objects)), bound)


def _recipient_address(inv: Invocation, text: str) -> str:
    """A recipient parameter value as the rule stores it: the recipient's primary SMTP address, or
    the address itself when it is outside the directory."""
    rows = inv.ctx.store.find_recipients(inv.ctx.tenant.id, text, limit=2)
    if len(rows) == 1:
        return str(rows[0].primary_smtp_address)
    if len(rows) > 1:
        raise CmdletError(texts.object_ambiguous(text, inv.definition.name), terminating=False)
    if _SMTP.match(text):
        return text.lower()
    raise CmdletError(texts.object_not_found(text, inv.definition.name), terminating=False)


_SMTP: Final = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _rule_changes(inv: Invocation, bound: BoundParameters) -> dict[str, Any]:
    """The stored properties the bound parameters set (None removes a condition or action)."""
    out: dict[str, Any] = {}
    for name, part in _PARTS.items():
        if not bound.is_bound(name):
            continue
        value = bound[name]
        if value is False and isinstance(part.type, BoolType):
            value = None
        if part.recipients and value is not None:
            value = [_recipient_address(inv, str(v)) for v in value]
        if name == "SetSCL" and value is not None and not -1 <= value <= 9:
            raise fail(inv, out_of_range("SetSCL", -1, 9, value))
        out[name] = json_value(value) if value not in ((), []) else None
    for p in (*_ACTION_OPTIONS, *_RULE_OPTIONS):
        if bound.is_bound(p.name):
            out[p.name] = bound[p.name]
    if bound.is_bound("Enabled"):
        out["State"] = "Enabled" if bound["Enabled"] else "Disabled"
    return out


def _check_rule(inv: Invocation, props: Mapping[str, Any]) -> None:
    """Exchange's whole-rule checks (texts not verified against Exchange Online)."""
    if not any(props.get(a.name) not in (None, False) for a in _ACTIONS):
        raise fail(inv, "A transport rule must have at least one action.")
    if bool(props.get("SetHeaderName")) != bool(props.get("SetHeaderValue")):
        raise fail(inv, "The SetHeaderName and SetHeaderValue parameters must be specified together.")


def _stored(props: Mapping[str, Any]) -> dict[str, Any]:
    """Props without the values that equal their defaults."""
    return {k: v for k, v in props.items() if v is not None and _RULE_STORED_DEFAULTS.get(k, None) != v}


def _priority_error(inv: Invocation, priority: int, highest: int) -> CmdletError:
    return fail(
        inv,
        f"The priority value {priority} is out of range. Specify a value between 0 and {highest}.",
        "System.ArgumentOutOfRangeException",
    )


def _new_transport_rule(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound in inv.each():
        name: str = bound["Name"]
        try:
            props = _stored(_rule_changes(inv, bound))
            _check_rule(inv, props)
            size = ctx.store.config.count(ctx.tenant.id, RULE_KIND)
            priority = bound.get("Priority")
            if priority is not None and not 0 <= priority <= size:
                raise _priority_error(inv, priority, size)
        except CmdletError as e:
            if e.terminating:
                raise
            yield e.record
            continue
        if ctx.store.config.find(ctx.tenant.id, RULE_KIND, name):
            yield task_error(
                inv, f"A transport rule with the name '{name}' already exists.", ALREADY_EXISTS, target=name
            )
            continue
        created = write_guarded(
            inv,
            name,
            f'Creating transport rule "{name}".',
            lambda name=name, props=props, priority=priority: ctx.store.config.insert_at(
                ctx.tenant.id, RULE_KIND, name, props, priority
            ),
        )
        if created is not None:
            yield make_rule(created, ctx.tenant)


def _set_transport_rule(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound in inv.each():
        rule = _find_rule(inv, bound["Identity"])
        if rule is None:
            continue
        try:
            changes = _rule_changes(inv, bound)
            merged = _stored({**_RULE_STORED_DEFAULTS, **rule.props, **changes})
            _check_rule(inv, merged)
            priority = bound.get("Priority")
            size = ctx.store.config.count(ctx.tenant.id, RULE_KIND)
            if priority is not None and not 0 <= priority < size:
                raise _priority_error(inv, priority, size - 1)
            new_name = bound.get("Name")
            if (
                new_name
                and new_name.lower() != rule.name.lower()
                and ctx.store.config.find(ctx.tenant.id, RULE_KIND, new_name)
            ):
                raise fail(inv, f"A transport rule with the name '{new_name}' already exists.", ALREADY_EXISTS)
        except CmdletError as e:
            if e.terminating:
                raise
            yield e.record
            continue
        unchanged = merged == dict(rule.props) and (new_name in (None, rule.name)) and priority in (None, rule.priority)
        if unchanged:
            yield nothing_modified(rule.name)
            continue

        def change(current: ConfigObject, changes: dict[str, Any] = changes) -> dict[str, Any]:
            # From the rule as it is inside the transaction: a concurrent Set of another
            # condition or action is kept, not overwritten by what was read before.
            new = _stored({**_RULE_STORED_DEFAULTS, **current.props, **changes})
            return {**{k: UNSET for k in current.props if k not in new}, **new}

        def write(rule: ConfigObject = rule, change: Any = change, name: Any = new_name, at: Any = priority) -> bool:
            with ctx.store.transaction() as tx:
                tx.config.update(ctx.tenant.id, rule.id, change, name=name or None)
                if at is not None:
                    tx.config.move_to(ctx.tenant.id, rule.id, at)
            return True

        write_guarded(inv, rule.name, f'Setting transport rule "{rule.name}".', write)


def _remove_transport_rule(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound in inv.each():
        rule = _find_rule(inv, bound["Identity"])
        if rule is None:
            continue
        write_guarded(
            inv,
            rule.name,
            f'Removing transport rule "{rule.name}".',
            lambda rule=rule: ctx.store.config.delete_ordered(ctx.tenant.id, rule.id),
        )
    yield from ()


def _state_handler(state: str, verb: str) -> Callable[[Invocation], Iterator[Any]]:
    def handler(inv: Invocation) -> Iterator[Any]:
        ctx = inv.ctx
        for bound in inv.each():
            rule = _find_rule(inv, bound["Identity"])
            if rule is None or not inv.should_process(f'{verb} transport rule "{rule.name}".'):
                continue
            if rule.props.get("State", "Enabled") == state:
                yield nothing_modified(rule.name)
                continue
            ctx.store.config.update(ctx.tenant.id, rule.id, {"State": UNSET if state == "Enabled" else state})

    return handler


def _rule_parameters(*, new: bool) -> tuple[Parameter, ...]:
    head: tuple[Parameter, ...]
    if new:
        head = (Parameter("Name", StringType(), mandatory=True, position=0), Parameter("Enabled", BoolType()))
    else:
        head = (identity_parameter(_RULE_ID, mandatory=True), Parameter("Name", StringType()))
    parts = tuple(Parameter(p.name, p.type) for p in _PARTS.values())
    return (*head, Parameter("Priority", IntegerType("System.Int32")), *_RULE_OPTIONS, *parts, *_ACTION_OPTIONS)


def _rule_definitions() -> list[CmdletDefinition]:
    identity = (identity_parameter(_RULE_ID, mandatory=True),)
    return [
        config_cmdlet(
            "Get-TransportRule",
            _get_transport_rule,
            (identity_parameter(_RULE_ID, mandatory=False), Parameter("State", _RULE_STATE), _FILTER, RESULT_SIZE),
            RULE_TYPE,
            synopsis="Views transport rules (mail flow rules) in your organization.",
        ),
        config_cmdlet(
            "New-TransportRule",
            _new_transport_rule,
            _rule_parameters(new=True),
            RULE_TYPE,
            writes=True,
            synopsis="Creates transport rules (mail flow rules) in your organization.",
        ),
        config_cmdlet(
            "Set-TransportRule",
            _set_transport_rule,
            _rule_parameters(new=False),
            RULE_TYPE,
            writes=True,
            synopsis="Modifies existing transport rules (mail flow rules) in your organization.",
        ),
        config_cmdlet(
            "Remove-TransportRule",
            _remove_transport_rule,
            identity,
            RULE_TYPE,
            writes=True,
            confirm_impact="High",
            synopsis="Removes transport rules (mail flow rules) from your organization.",
        ),
        config_cmdlet(
            "Enable-TransportRule",
            _state_handler("Enabled", "Enabling"),
            identity,
            RULE_TYPE,
            writes=True,
            synopsis="Enables transport rules (mail flow rules) in your organization.",
        ),
        config_cmdlet(
            "Disable-TransportRule",
            _state_handler("Disabled", "Disabling"),
            identity,
            RULE_TYPE,
            writes=True,
            synopsis="Disables transport rules (mail flow rules) in your organization.",
        ),
    ]


def _definitions() -> list[CmdletDefinition]:
    remote = REMOTE_DOMAIN.template.type_name
    return [
        config_cmdlet(
            "Get-OrganizationConfig",
            _get_organization_config,
            (),
            _ORG_TYPE,
            synopsis="Gets configuration data for an Exchange organization.",
        ),
        config_cmdlet(
            "Set-OrganizationConfig",
            _set_organization_config,
            (*(s.parameter for s in _ORG_SETTINGS), Parameter("AutoExpandingArchive", SwitchType())),
            _ORG_TYPE,
            writes=True,
            synopsis="Configures various settings of an Exchange organization.",
        ),
        config_cmdlet(
            "Get-AcceptedDomain",
            _get_accepted_domain,
            (
                identity_parameter("Microsoft.Exchange.Configuration.Tasks.AcceptedDomainIdParameter", mandatory=False),
                RESULT_SIZE,
            ),
            ACCEPTED_DOMAIN_TEMPLATE.type_name,
            synopsis="Views the configuration information for the accepted domains in your organization.",
        ),
        config_cmdlet(
            "Get-RemoteDomain",
            _get_remote_domain,
            (identity_parameter(_REMOTE_ID, mandatory=False), RESULT_SIZE),
            remote,
            synopsis="Views the configuration information for the remote domains configured in your organization.",
        ),
        config_cmdlet(
            "Set-RemoteDomain",
            _set_remote_domain,
            (identity_parameter(_REMOTE_ID, mandatory=True), *(s.parameter for s in _REMOTE_SETTINGS)),
            remote,
            writes=True,
            synopsis="Configures a managed connection for a remote domain.",
        ),
        config_cmdlet(
            "New-RemoteDomain",
            _new_remote_domain,
            (
                Parameter("Name", StringType(), mandatory=True, position=0),
                Parameter("DomainName", SmtpDomainWithSubdomainsType(), mandatory=True),
            ),
            remote,
            writes=True,
            synopsis="Creates a managed connection for a remote domain.",
        ),
        config_cmdlet(
            "Remove-RemoteDomain",
            _remove_remote_domain,
            (identity_parameter(_REMOTE_ID, mandatory=True),),
            remote,
            writes=True,
            confirm_impact="High",
            synopsis="Removes a managed connection for a remote domain.",
        ),
        config_cmdlet(
            "Get-TransportConfig",
            _get_transport_config,
            (),
            TRANSPORT_CONFIG.template.type_name,
            synopsis="Views organization-wide transport configuration settings.",
        ),
        config_cmdlet(
            "Set-TransportConfig",
            _set_transport_config,
            tuple(s.parameter for s in _TRANSPORT_SETTINGS),
            TRANSPORT_CONFIG.template.type_name,
            writes=True,
            synopsis="Modifies the transport configuration settings for the whole Exchange organization.",
        ),
    ]


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
    for definition in (*_definitions(), *_rule_definitions()):
        registry.register(definition)
