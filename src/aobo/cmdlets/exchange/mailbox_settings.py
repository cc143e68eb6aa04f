"""Per-mailbox settings and data: Get-MailboxStatistics, Get/Set-CASMailbox,
Get/Set-MailboxAutoReplyConfiguration and the InboxRule cmdlets.

Client access settings and automatic replies live in the mailbox's props (only what differs from
Exchange's defaults, under :data:`~aobo.domain.statistics.CAS_PROPS` / ``AUTO_REPLY_PROPS``);
statistics and inbox rules have tables of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aobo.cmdlets import roles, texts
from aobo.cmdlets.exchange import common
from aobo.cmdlets.exchange.mailbox_object import (
    STRING_COLLECTION,
    legacy_dn,
)
from aobo.cmdlets.parameters import (
    BoolType,
    DateTimeType,
    EnumType,
    IdentityRef,
    IdentityType,
    IntegerType,
    ParameterType,
    StringArrayType,
    StringType,
    UnlimitedType,
)
from aobo.cmdlets.pipeline import Invocation
from aobo.cmdlets.registry import CmdletDefinition, ConfirmImpact, Handler, Parameter, Registry
from aobo.cmdlets.results import CmdletError, EnumValue, ErrorCategory, ExchangeObject, MultiValued, ObjectShape
from aobo.domain.errors import NotFound
from aobo.domain.inbox_rules import InboxRuleRow, NewInboxRule
from aobo.domain.models import MAILBOX_TYPES, utcnow
from aobo.domain.sizes import GB, format_size
from aobo.domain.statistics import AUTO_REPLY_PROPS, CAS_PROPS

_MAILBOX_ID: Final = "Microsoft.Exchange.Configuration.Tasks.MailboxIdParameter"
_GENERAL_MAILBOX_ID: Final = "Microsoft.Exchange.Configuration.Tasks.GeneralMailboxOrMailUserIdParameter"
_CONFIGURABLE: Final = ("Microsoft.Exchange.Data.ConfigurableObject", "System.Object")


def _listed(inv: Invocation, make: Callable[[Any], ExchangeObject], shape: ObjectShape) -> Iterator[Any]:
    """Objects for each mailbox -Identity names, or for every mailbox (with -Filter and
    -ResultSize) when it names none."""
    for bound in inv.each():
        identity = bound.get("Identity")
        if identity is None:
            yield from common.list_recipients(inv, bound, make, MAILBOX_TYPES, shape=shape)
            continue
        row = common.resolve(inv, identity, MAILBOX_TYPES)
        if row is not None:
            yield make(row)


# --- Get-MailboxStatistics --------------------------------------------------------------------

_STATISTICS: Final = common.ObjectTemplate(
    (
        "Microsoft.Exchange.Management.MapiTasks.Presentation.MailboxStatistics",
        "Microsoft.Exchange.Management.MapiTasks.Presentation.StoreMailboxInformation",
        *_CONFIGURABLE,
    ),
    {
        "AssociatedItemCount": 0,
        "DeletedItemCount": 0,
        "DisconnectDate": None,
        "DisconnectReason": None,
        "DisplayName": "",
        "ItemCount": 0,
        "LastInteractionTime": None,
        "LastLoggedOnUserAccount": None,
        "LastLogoffTime": None,
        "LastLogonTime": None,
        "LastUserActionTime": None,
        "LegacyDN": "",
        "MailboxGuid": None,
        "MailboxType": "Private",
        "MailboxTypeDetail": "UserMailbox",
        "ObjectClass": "Mailbox",
        "StorageLimitStatus": None,
        "SystemMessageCount": 0,
        "SystemMessageSize": format_size(0),
        "SystemMessageSizeShutoffQuota": format_size(50 * GB),
        "SystemMessageSizeWarningQuota": format_size(45 * GB),
        "TotalDeletedItemSize": format_size(0),
        "TotalItemSize": format_size(0),
        "Database": "NAMPR01DG001-db001",
        "DatabaseName": "NAMPR01DG001-db001",
        "ServerName": texts.EXCHANGE_SERVER,
        "IsArchiveMailbox": False,
        "IsDatabaseCopyActive": True,
        "IsMoveDestination": False,
        "IsQuarantined": False,
        "IsHighDensityShard": False,
        "OwnerADGuid": None,
        "ExternalDirectoryOrganizationId": None,
        "Identity": None,
        "MapiIdentity": None,
        "OriginatingServer": texts.EXCHANGE_SERVER,
        "IsValid": True,
        "ObjectState": "Unchanged",
    },
)


def _statistics(inv: Invocation, row: Any) -> Any:
    st = inv.ctx.store.statistics.get(inv.ctx.tenant.id, row.id)
    mailbox_guid = uuid.UUID(row.exchange_guid)
    return _STATISTICS.make(
        {
            "DeletedItemCount": st.deleted_item_count,
            "DisplayName": row.display_name,
            "ItemCount": st.item_count,
            "LastInteractionTime": st.last_interaction_time,
            "LastLogonTime": st.last_logon_time,
            "LastLogoffTime": st.last_logon_time,
            "LastUserActionTime": st.last_user_action_time,
            "LegacyDN": legacy_dn(row.exchange_guid, row.alias),
            "MailboxGuid": mailbox_guid,
            "MailboxTypeDetail": row.recipient_type_details,
            "TotalDeletedItemSize": format_size(st.total_deleted_item_size),
            "TotalItemSize": format_size(st.total_item_size),
            "OwnerADGuid": uuid.UUID(row.guid),
            "ExternalDirectoryOrganizationId": inv.ctx.tenant.guid,
            "Identity": str(mailbox_guid),
            "MapiIdentity": str(mailbox_guid),
        },
        row.display_name,
    )


def _get_mailbox_statistics(inv: Invocation) -> Iterator[Any]:
    for _bound, row in common.resolve_each(inv, MAILBOX_TYPES):
        yield _statistics(inv, row)


GET_MAILBOX_STATISTICS: Final = CmdletDefinition(
    name="Get-MailboxStatistics",
    handler=_get_mailbox_statistics,
    parameters=(common.identity_parameter(_GENERAL_MAILBOX_ID, mandatory=True),),
    output_type=(_STATISTICS.type_name,),
    synopsis="Returns information about a mailbox: its size, number of items and last access.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-mailboxstatistics",
)

# --- Get/Set-CASMailbox -----------------------------------------------------------------------

#: Settable protocol switches and what a new Exchange Online mailbox has (POP and IMAP on).
CAS_DEFAULTS: Final[Mapping[str, Any]] = {
    "ActiveSyncEnabled": True,
    "OWAEnabled": True,
    "OWAforDevicesEnabled": True,
    "ECPEnabled": True,
    "PopEnabled": True,
    "ImapEnabled": True,
    "MAPIEnabled": True,
    "EwsEnabled": True,
    "UniversalOutlookEnabled": True,
    "OutlookMobileEnabled": True,
    "MacOutlookEnabled": True,
    "SmtpClientAuthenticationDisabled": None,
}

_CAS: Final = common.ObjectTemplate(
    ("Microsoft.Exchange.Data.Directory.Management.CASMailbox", *common.AD_PRESENTATION_BASES),
    {
        "EmailAddresses": (),
        "LegacyExchangeDN": "",
        "LinkedMasterAccount": "",
        "PrimarySmtpAddress": "",
        "SamAccountName": "",
        "ServerLegacyDN": "",
        "ServerName": texts.EXCHANGE_SERVER.lower(),
        "DisplayName": "",
        "ActiveSyncAllowedDeviceIDs": MultiValued((), STRING_COLLECTION),
        "ActiveSyncBlockedDeviceIDs": MultiValued((), STRING_COLLECTION),
        "ActiveSyncMailboxPolicy": "Default",
        "ActiveSyncMailboxPolicyIsDefaulted": True,
        "ActiveSyncDebugLogging": False,
        "ActiveSyncEnabled": True,
        "HasActiveSyncDevicePartnership": False,
        "ActiveSyncSuppressReadReceipt": False,
        "OwaMailboxPolicy": "OwaMailboxPolicy-Default",
        "OWAEnabled": True,
        "OWAforDevicesEnabled": True,
        "ECPEnabled": True,
        "PopEnabled": True,
        "PopUseProtocolDefaults": True,
        "PopMessagesRetrievalMimeFormat": "BestBodyFormat",
        "PopEnableExactRFC822Size": False,
        "PopSuppressReadReceipt": False,
        "PopForceICalForCalendarRetrievalOption": False,
        "ImapEnabled": True,
        "ImapUseProtocolDefaults": True,
        "ImapMessagesRetrievalMimeFormat": "BestBodyFormat",
        "ImapEnableExactRFC822Size": False,
        "ImapSuppressReadReceipt": False,
        "ImapForceICalForCalendarRetrievalOption": False,
        "MAPIEnabled": True,
        "MapiHttpEnabled": None,
        "UniversalOutlookEnabled": True,
        "OutlookMobileEnabled": True,
        "MacOutlookEnabled": True,
        "MAPIBlockOutlookNonCachedMode": False,
        "MAPIBlockOutlookVersions": "",
        "MAPIBlockOutlookRpcHttp": False,
        "MAPIBlockOutlookExternalConnectivity": False,
        "EwsEnabled": True,
        "EwsAllowOutlook": None,
        "EwsAllowMacOutlook": None,
        "EwsAllowEntourage": None,
        "EwsApplicationAccessPolicy": None,
        "EwsAllowList": None,
        "EwsBlockList": None,
        "ShowGalAsDefaultView": True,
        "SmtpClientAuthenticationDisabled": None,
        "IsOptimizedForAccessibility": False,
        "Name": "",
        "DistinguishedName": "",
        "Identity": "",
        "Guid": None,
        "ExchangeObjectId": None,
        "ExternalDirectoryObjectId": "",
        "OrganizationId": "",
        "Id": "",
        "ExchangeVersion": "0.20 (15.0.0.0)",
        "WhenChanged": None,
        "WhenCreated": None,
        "WhenChangedUTC": None,
        "WhenCreatedUTC": None,
        "OriginatingServer": texts.DOMAIN_CONTROLLER,
        "IsValid": True,
        "ObjectState": "Unchanged",
    },
)
_CAS_RECIPIENT_KEYS: Final = (
    "Name",
    "DistinguishedName",
    "Identity",
    "Guid",
    "ExchangeObjectId",
    "ExternalDirectoryObjectId",
    "OrganizationId",
    "Id",
    "WhenChanged",
    "WhenCreated",
    "WhenChangedUTC",
    "WhenCreatedUTC",
    "DisplayName",
    "PrimarySmtpAddress",
    "EmailAddresses",
)


def _cas_settings(row: Any) -> dict[str, Any]:
    return {**CAS_DEFAULTS, **common.row_props(row).get(CAS_PROPS, {})}


def _cas_mailbox(inv: Invocation, row: Any) -> Any:
    recipient = common.recipient_values(row, inv.ctx.tenant)
    values = {k: recipient[k] for k in _CAS_RECIPIENT_KEYS}
    hexguid = row.guid.replace("-", "").upper()
    values["SamAccountName"] = f"${hexguid[:6]}-{hexguid[6:18]}"
    values["LegacyExchangeDN"] = legacy_dn(row.exchange_guid, row.alias)
    values.update(_cas_settings(row))
    return _CAS.make(values, row.name)


def _get_cas_mailbox(inv: Invocation) -> Iterator[Any]:
    yield from _listed(inv, lambda row: _cas_mailbox(inv, row), _CAS.shape)


def _set_cas_mailbox(inv: Invocation) -> Iterator[Any]:
    for bound, row in common.resolve_each(inv, MAILBOX_TYPES):
        wanted = {name: bound[name] for name in CAS_DEFAULTS if bound.is_bound(name)}
        for name, value in wanted.items():
            if value is None and CAS_DEFAULTS[name] is not None:
                raise common.fail(inv, f"The {name} property can't be $null.", target=str(bound["Identity"]))

        def changes(current: Any, wanted: dict[str, Any] = wanted) -> dict[str, Any]:
            return _nested_change(current, CAS_PROPS, wanted, CAS_DEFAULTS)

        identity = str(bound["Identity"])
        common.update_recipient(inv, row, identity, changes, f'Setting Client Access server mailbox "{identity}".')
    yield from ()


def _nested_change(row: Any, key: str, wanted: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The props change that stores ``wanted`` under ``key`` (non-default values only); empty when
    nothing a client could see changes."""
    stored = dict(common.row_props(row).get(key, {}))
    effective = {**defaults, **stored}
    if all(not common.differs(effective.get(k), v) for k, v in wanted.items()):
        return {}
    for name, value in wanted.items():
        if name in defaults and not common.differs(defaults[name], value):
            stored.pop(name, None)
        else:
            stored[name] = value
    return {key: stored}


_CAS_PARAMETERS: Final = tuple(Parameter(name, BoolType()) for name in CAS_DEFAULTS)

GET_CAS_MAILBOX: Final = CmdletDefinition(
    name="Get-CASMailbox",
    handler=_get_cas_mailbox,
    parameters=(
        common.identity_parameter(_MAILBOX_ID),
        Parameter("Filter", StringType()),
        Parameter("ResultSize", UnlimitedType(), default=common.DEFAULT_RESULT_SIZE),
    ),
    output_type=(_CAS.type_name,),
    synopsis="Views the Client Access settings that are configured on mailboxes.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-casmailbox",
)
SET_CAS_MAILBOX: Final = CmdletDefinition(
    name="Set-CASMailbox",
    handler=_set_cas_mailbox,
    parameters=(common.identity_parameter(_MAILBOX_ID, mandatory=True), *_CAS_PARAMETERS),
    writes=True,
    synopsis="Configures client access settings on a mailbox.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/set-casmailbox",
)

# --- Get/Set-MailboxAutoReplyConfiguration ----------------------------------------------------

_OOF_NAMESPACE: Final = "Microsoft.Exchange.InfoWorker.Common.OOF"
_OOF_STATES: Final = {"Disabled": 0, "Enabled": 1, "Scheduled": 2}
_AUDIENCES: Final = {"None": 0, "Known": 1, "All": 2}
_OOF_STATE: Final = EnumType(f"{_OOF_NAMESPACE}.OofState", _OOF_STATES)
_AUDIENCE: Final = EnumType(f"{_OOF_NAMESPACE}.ExternalAudience", _AUDIENCES)
#: Storage.Management.MailboxAutoReplyConfiguration.ValidateWrite's texts.
END_BEFORE_START: Final = (
    "The end time that you entered occurs before the start time. The start time must occur before the end time."
)
END_BEFORE_NOW: Final = "The end time that you entered occurs before the current time."

_AUTO_REPLY: Final = common.ObjectTemplate(
    (
        "Microsoft.Exchange.Data.Storage.Management.MailboxAutoReplyConfiguration",
        "Microsoft.Exchange.Data.Storage.Management.XsoMailboxConfigurationObject",
        *_CONFIGURABLE,
    ),
    {
        "AutoDeclineFutureRequestsWhenOOF": False,
        "AutoReplyState": None,
        "CreateOOFEvent": False,
        "DeclineAllEventsForScheduledOOF": False,
        "DeclineEventsForScheduledOOF": False,
        "DeclineMeetingMessage": None,
        "EndTime": None,
        "EventsToDeleteIDs": None,
        "ExternalAudience": None,
        "ExternalMessage": "",
        "InternalMessage": "",
        "OOFEventSubject": None,
        "StartTime": None,
        "MailboxOwnerId": "",
        "Identity": "",
        "IsValid": True,
        "ObjectState": "Unchanged",
    },
)


def _enum(kind: EnumType, name: str) -> EnumValue:
    return EnumValue((kind.enum_name, "System.Enum", "System.ValueType", "System.Object"), name, kind.values[name])


def _default_window() -> dict[str, Any]:
    """What Exchange reports for a mailbox that never scheduled a reply: the next day from this hour."""
    start = utcnow().replace(minute=0, second=0, microsecond=0)
    return {"StartTime": start, "EndTime": start + timedelta(days=1)}


def _auto_reply_settings(row: Any) -> dict[str, Any]:
    stored = dict(common.row_props(row).get(AUTO_REPLY_PROPS, {}))
    for key in ("StartTime", "EndTime"):
        if isinstance(stored.get(key), str):
            stored[key] = datetime.fromisoformat(stored[key])
    return {
        "AutoReplyState": "Disabled",
        "ExternalAudience": "All",
        "ExternalMessage": "",
        "InternalMessage": "",
        **_default_window(),
        **stored,
    }


def _auto_reply(row: Any) -> Any:
    settings = _auto_reply_settings(row)
    return _AUTO_REPLY.make(
        {
            **settings,
            "AutoReplyState": _enum(_OOF_STATE, settings["AutoReplyState"]),
            "ExternalAudience": _enum(_AUDIENCE, settings["ExternalAudience"]),
            "MailboxOwnerId": row.name,
            "Identity": row.name,
        },
        row.name,
    )


def _get_auto_reply(inv: Invocation) -> Iterator[Any]:
    yield from _listed(inv, _auto_reply, _AUTO_REPLY.shape)


_AUTO_REPLY_SETTABLE: Final = (
    "AutoReplyState",
    "StartTime",
    "EndTime",
    "InternalMessage",
    "ExternalMessage",
    "ExternalAudience",
)


def _auto_reply_changes(inv: Invocation, identity: str, wanted: Mapping[str, Any]) -> Any:
    """The changes function for one mailbox: validates the schedule against the stored settings."""

    def changes(row: Any) -> dict[str, Any]:
        settings = {**_auto_reply_settings(row), **wanted}
        if settings["AutoReplyState"] == "Scheduled":
            if settings["EndTime"] <= settings["StartTime"]:
                raise common.fail(inv, END_BEFORE_START, target=identity)
            if settings["EndTime"] < datetime.now(UTC):
                raise common.fail(inv, END_BEFORE_NOW, target=identity)
        stored = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in wanted.items()}
        defaults = {
            "AutoReplyState": "Disabled",
            "ExternalAudience": "All",
            "ExternalMessage": "",
            "InternalMessage": "",
        }
        return _nested_change(row, AUTO_REPLY_PROPS, stored, defaults)

    return changes


def _set_auto_reply(inv: Invocation) -> Iterator[Any]:
    for bound, row in common.resolve_each(inv, MAILBOX_TYPES):
        identity = str(bound["Identity"])
        wanted = {k: ("" if bound[k] is None else bound[k]) for k in _AUTO_REPLY_SETTABLE if bound.is_bound(k)}
        for key in ("AutoReplyState", "ExternalAudience", "StartTime", "EndTime"):
            if key in wanted and wanted[key] == "":
                raise common.fail(inv, f"The {key} property can't be $null.", target=identity)
        common.update_recipient(
            inv,
            row,
            identity,
            _auto_reply_changes(inv, identity, wanted),
            f'Setting the automatic reply configuration for mailbox "{identity}".',
        )
    yield from ()


GET_AUTO_REPLY: Final = CmdletDefinition(
    name="Get-MailboxAutoReplyConfiguration",
    handler=_get_auto_reply,
    parameters=(
        common.identity_parameter(_MAILBOX_ID),
        Parameter("ResultSize", UnlimitedType(), default=common.DEFAULT_RESULT_SIZE),
    ),
    output_type=(_AUTO_REPLY.type_name,),
    synopsis="Views the Automatic Replies (OOF) settings of a mailbox.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-mailboxautoreplyconfiguration",
)
SET_AUTO_REPLY: Final = CmdletDefinition(
    name="Set-MailboxAutoReplyConfiguration",
    handler=_set_auto_reply,
    parameters=(
        common.identity_parameter(_MAILBOX_ID, mandatory=True),
        Parameter("AutoReplyState", _OOF_STATE),
        Parameter("StartTime", DateTimeType()),
        Parameter("EndTime", DateTimeType()),
        Parameter("InternalMessage", StringType()),
        Parameter("ExternalMessage", StringType()),
        Parameter("ExternalAudience", _AUDIENCE),
    ),
    writes=True,
    synopsis="Configures the Automatic Replies (OOF) of a mailbox.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/set-mailboxautoreplyconfiguration",
)

# --- InboxRule cmdlets ------------------------------------------------------------------------

_RULE_ID: Final = "Microsoft.Exchange.Configuration.Tasks.InboxRuleIdParameter"
INBOX_RULE_TYPE_NAMES: Final = (
    "Microsoft.Exchange.Management.Common.InboxRule",
    "Microsoft.Exchange.Data.Storage.Management.XsoMailboxConfigurationObject",
    *_CONFIGURABLE,
)
_RECIPIENTS_TYPE: Final = "Microsoft.Exchange.Configuration.Tasks.RecipientIdParameter[]"
_WORDS_TYPE: Final = "Microsoft.Exchange.Data.MultiValuedProperty`1[System.String]"
_FOLDER_TYPE: Final = "Microsoft.Exchange.Configuration.Tasks.MailboxFolderIdParameter"
#: The parameters aobo stores, by kind, in Exchange's order of conditions, exceptions and actions.
_WORD_CONDITIONS: Final = (
    "BodyContainsWords",
    "FromAddressContainsWords",
    "SubjectContainsWords",
    "SubjectOrBodyContainsWords",
    "ExceptIfSubjectContainsWords",
)
INBOX_RULE_RECIPIENT_PARAMETERS: Final = frozenset(
    {"From", "ExceptIfFrom", "SentTo", "ForwardAsAttachmentTo", "ForwardTo", "RedirectTo"}
)
_FOLDER_PARAMETERS: Final = frozenset({"CopyToFolder", "MoveToFolder"})
INBOX_RULE_ACTIONS: Final = (
    "CopyToFolder",
    "DeleteMessage",
    "ForwardAsAttachmentTo",
    "ForwardTo",
    "MarkAsRead",
    "MoveToFolder",
    "RedirectTo",
    "StopProcessingRules",
)
#: RulesTasksStrings: (description template, delimiter between several values) per parameter, in
#: InboxRuleDataProvider's order; ``None`` for flags that take no value.
_CONDITION_TEXTS: Final = {
    "BodyContainsWords": ("the body of the message contains the words {0}", "or"),
    "From": ("the message was received from {0}", "or"),
    "FromAddressContainsWords": ("the sender's address contains these words: {0}", "or"),
    "HasAttachment": ("the message has an attachment", None),
    "SentTo": ("the message was sent to {0}", "or"),
    "SubjectContainsWords": ("the message includes specific words in the subject {0}", "or"),
    "SubjectOrBodyContainsWords": ("the message includes specific words in the subject or body {0}", "or"),
}
_EXCEPTION_TEXTS: Final = {
    "ExceptIfFrom": _CONDITION_TEXTS["From"],
    "ExceptIfSubjectContainsWords": _CONDITION_TEXTS["SubjectContainsWords"],
}
_ACTION_TEXTS: Final = {
    "CopyToFolder": ("copy the message to the following folder: '{0}'", None),
    "DeleteMessage": ("delete the message", None),
    "ForwardAsAttachmentTo": ("forward the message to {0} as an attachment", "and"),
    "ForwardTo": ("forward the message to {0}", "and"),
    "MarkAsRead": ("mark the message as Read", None),
    "MoveToFolder": ("move the message to folder '{0}'", None),
    "RedirectTo": ("redirect the message to {0}", "and"),
    "StopProcessingRules": ("stop processing more rules on this message", None),
}
_MAX_DESCRIPTION: Final = 200


def inbox_rule_parameters() -> dict[str, ParameterType]:
    """The condition, exception and action parameters of New-/Set-InboxRule and their types."""
    kinds: dict[str, ParameterType] = {}
    for name in (*_CONDITION_TEXTS, *_EXCEPTION_TEXTS, *_ACTION_TEXTS):
        if name in INBOX_RULE_RECIPIENT_PARAMETERS:
            kinds[name] = StringArrayType(_RECIPIENTS_TYPE)
        elif name in _WORD_CONDITIONS:
            kinds[name] = StringArrayType(_WORDS_TYPE)
        elif name in _FOLDER_PARAMETERS:
            kinds[name] = StringType(_FOLDER_TYPE)
        else:
            kinds[name] = BoolType()
    return kinds


_RULE_FLAGS: Final = ("HasAttachment", "DeleteMessage", "MarkAsRead", "StopProcessingRules")
_INBOX_RULE: Final = common.ObjectTemplate(
    INBOX_RULE_TYPE_NAMES,
    {
        "Description": "",
        "Enabled": True,
        "Identity": "",
        "InError": False,
        "ErrorType": "None",
        "Name": "",
        "Priority": 0,
        "RuleIdentity": None,
        "SupportedByTask": True,
        "Legacy": False,
        "BodyContainsWords": None,
        "ExceptIfBodyContainsWords": None,
        "FlaggedForAction": None,
        "ExceptIfFlaggedForAction": None,
        "FromAddressContainsWords": None,
        "ExceptIfFromAddressContainsWords": None,
        "From": None,
        "ExceptIfFrom": None,
        "HasAttachment": False,
        "ExceptIfHasAttachment": False,
        "HasClassification": None,
        "ExceptIfHasClassification": None,
        "HeaderContainsWords": None,
        "ExceptIfHeaderContainsWords": None,
        "MessageTypeMatches": None,
        "ExceptIfMessageTypeMatches": None,
        "MyNameInCcBox": False,
        "ExceptIfMyNameInCcBox": False,
        "MyNameInToBox": False,
        "ExceptIfMyNameInToBox": False,
        "MyNameInToOrCcBox": False,
        "ExceptIfMyNameInToOrCcBox": False,
        "MyNameNotInToBox": False,
        "ExceptIfMyNameNotInToBox": False,
        "ReceivedAfterDate": None,
        "ExceptIfReceivedAfterDate": None,
        "ReceivedBeforeDate": None,
        "ExceptIfReceivedBeforeDate": None,
        "RecipientAddressContainsWords": None,
        "ExceptIfRecipientAddressContainsWords": None,
        "SentOnlyToMe": False,
        "ExceptIfSentOnlyToMe": False,
        "SentTo": None,
        "ExceptIfSentTo": None,
        "SubjectContainsWords": None,
        "ExceptIfSubjectContainsWords": None,
        "SubjectOrBodyContainsWords": None,
        "ExceptIfSubjectOrBodyContainsWords": None,
        "WithImportance": None,
        "ExceptIfWithImportance": None,
        "WithinSizeRangeMaximum": None,
        "ExceptIfWithinSizeRangeMaximum": None,
        "WithinSizeRangeMinimum": None,
        "ExceptIfWithinSizeRangeMinimum": None,
        "WithSensitivity": None,
        "ExceptIfWithSensitivity": None,
        "ApplyCategory": None,
        "ApplySystemCategory": None,
        "CopyToFolder": None,
        "DeleteMessage": False,
        "DeleteSystemCategory": None,
        "ForwardAsAttachmentTo": None,
        "ForwardTo": None,
        "MarkAsRead": False,
        "MarkImportance": None,
        "MoveToFolder": None,
        "PinMessage": False,
        "RedirectTo": None,
        "SendTextMessageNotificationTo": None,
        "SoftDeleteMessage": False,
        "StopProcessingRules": False,
        "MailboxOwnerId": "",
        "IsValid": True,
        "ObjectState": "Unchanged",
    },
)


def _quoted_list(values: list[str], delimiter: str) -> str:
    """RuleDescription.BuildDescriptionStringFromStringArray: ``'a' or 'b'``, cut after 200 characters."""
    out = ""
    for value in values:
        if len(out) > _MAX_DESCRIPTION:
            return f"{out}{delimiter}..."
        out += f"'{value}'" if not out else f" {delimiter} '{value}'"
    return out


def _describe(props: Mapping[str, Any], texts_by_name: Mapping[str, tuple[str, str | None]]) -> list[str]:
    lines = []
    for name, (template, delimiter) in texts_by_name.items():
        value = props.get(name)
        if not value:
            continue
        if name in INBOX_RULE_RECIPIENT_PARAMETERS:
            value = [entry["DisplayName"] for entry in value]
        if delimiter is not None:
            lines.append(template.format(_quoted_list(list(value), delimiter)))
        elif name in _FOLDER_PARAMETERS:
            lines.append(template.format(str(value).rpartition("\\")[2]))
        else:
            lines.append(template)
    return lines


def rule_description(props: Mapping[str, Any]) -> str:
    """RuleDescription.ToString(): the text Get-InboxRule shows as Description."""
    out = []
    for heading, lines, delimiter in (
        ("If the message:", _describe(props, _CONDITION_TEXTS), "and"),
        ("Take the following actions:", _describe(props, _ACTION_TEXTS), "and"),
        ("Except if the message:", _describe(props, _EXCEPTION_TEXTS), "or"),
    ):
        if lines:
            out.append(f"{heading}\r\n")
            out.extend(f"\t{line}\r\n" if i == 0 else f"\t{delimiter} {line}\r\n" for i, line in enumerate(lines))
    return "".join(out)


def _participant(entry: Mapping[str, str]) -> str:
    """ADRecipientOrAddress.ToString(): Outlook's ``"Name" [TYPE:address]``."""
    return f'"{entry["DisplayName"]}" [{entry["RoutingType"]}:{entry["Address"]}]'


def make_inbox_rule(mailbox: Any, rule: InboxRuleRow) -> ExchangeObject:
    """The InboxRule object of one stored rule."""
    identity = f"{mailbox.name}\\{rule.rule_identity}"
    values: dict[str, Any] = {
        "Description": rule_description(rule.props),
        "Enabled": rule.enabled,
        "Identity": identity,
        "Name": rule.name,
        "Priority": rule.priority,
        "RuleIdentity": rule.rule_identity,
        "MailboxOwnerId": mailbox.name,
    }
    for name, value in rule.props.items():
        if name in INBOX_RULE_RECIPIENT_PARAMETERS:
            values[name] = [_participant(e) for e in value]
        elif name in _WORD_CONDITIONS:
            values[name] = MultiValued(tuple(value), STRING_COLLECTION)
        elif name in _FOLDER_PARAMETERS:
            values[name] = f"{mailbox.name}:\\{value}"
        elif name in _RULE_FLAGS:
            values[name] = bool(value)
    return _INBOX_RULE.make(values, identity)


#: ManageInboxRule's text for a recipient that is neither in the directory nor an SMTP address.
USER_INVALID: Final = (
    'The specified user "{0}" wasn\'t found or is invalid. Please make sure you have typed the name correctly.'
)
#: InboxRule.ValidateWrite: a rule needs an action.
NO_ACTION: Final = "To be valid, an Inbox rule has to include at least one action."


def _rule_mailbox(inv: Invocation, bound: Any) -> tuple[Any, str | None] | None:
    """The mailbox a rule command is about and the rule part of -Identity (None: every rule).
    Writes the not-found error and returns None when the mailbox is unknown."""
    identity: IdentityRef | None = bound.get("Identity")
    rule_part: str | None = None
    mailbox: IdentityRef | None = bound.get("Mailbox")
    if identity is not None:
        head, sep, tail = identity.value.rpartition("\\")
        rule_part = tail if sep else identity.value
        if sep and mailbox is None:
            mailbox = IdentityRef(head)
    if mailbox is None:
        # Without -Mailbox Exchange means the caller's own mailbox; an administrator has none here.
        missing = identity.value if identity is not None else inv.ctx.caller.user_principal_name
        inv.write(texts.object_not_found(missing, inv.definition.name))
        return None
    row = common.resolve(inv, mailbox, MAILBOX_TYPES)
    return None if row is None else (row, rule_part)


def _find_rule(inv: Invocation, mailbox: Any, rule_part: str, shown: str) -> InboxRuleRow | None:
    rules = inv.ctx.store.inbox_rules.list(inv.ctx.tenant.id, mailbox.id)
    found = [r for r in rules if str(r.rule_identity) == rule_part] or [
        r for r in rules if r.name.lower() == rule_part.lower()
    ]
    if len(found) == 1:
        return found[0]
    inv.write(
        texts.object_not_found(shown, inv.definition.name)
        if not found
        else texts.object_ambiguous(shown, inv.definition.name)
    )
    return None


def _rules_of(inv: Invocation) -> Iterator[tuple[Any, Any, InboxRuleRow]]:
    """(bound, mailbox, rule) for each rule the command names."""
    for bound in inv.each():
        target = _rule_mailbox(inv, bound)
        if target is None:
            continue
        mailbox, rule_part = target
        if rule_part is None:
            for rule in inv.ctx.store.inbox_rules.list(inv.ctx.tenant.id, mailbox.id):
                yield bound, mailbox, rule
            continue
        rule = _find_rule(inv, mailbox, rule_part, str(bound["Identity"]))
        if rule is not None:
            yield bound, mailbox, rule


def _get_inbox_rule(inv: Invocation) -> Iterator[Any]:
    for _bound, mailbox, rule in _rules_of(inv):
        yield make_inbox_rule(mailbox, rule)


def _recipient_entry(inv: Invocation, text: str) -> dict[str, str]:
    """A rule's recipient: a recipient of the tenant (shown by its LegacyExchangeDN) or an
    external SMTP address; anything else ends the command as Exchange does."""
    rows = inv.ctx.store.find_recipients(inv.ctx.tenant.id, text)
    if len(rows) == 1:
        row = rows[0]
        return {
            "DisplayName": row.display_name,
            "Address": legacy_dn(row.exchange_guid, row.alias),
            "RoutingType": "EX",
        }
    address = text[5:] if text.lower().startswith("smtp:") else text
    local, at, domain = address.partition("@")
    if not rows and at and local and "." in domain and " " not in address:
        return {"DisplayName": address, "Address": address, "RoutingType": "SMTP"}
    record = common.task_error(
        inv,
        USER_INVALID.format(text),
        "Microsoft.Exchange.Data.Common.LocalizedException",
        category=ErrorCategory.InvalidArgument,
        site="UserInvalid",
    )
    raise CmdletError(record, terminating=True)


def _rule_props(inv: Invocation, bound: Any, current: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's stored conditions and actions after applying the bound parameters."""
    props = dict(current)
    for name in inbox_rule_parameters():
        if not bound.is_bound(name):
            continue
        value = bound[name]
        if value in (None, (), False, ""):
            props.pop(name, None)
        elif name in INBOX_RULE_RECIPIENT_PARAMETERS:
            props[name] = [_recipient_entry(inv, str(v)) for v in value]
        elif name in _FOLDER_PARAMETERS:
            props[name] = str(value).rpartition(":\\")[2]
        elif isinstance(value, tuple):
            props[name] = list(value)
        else:
            props[name] = value
    return props


def _has_action(props: Mapping[str, Any]) -> bool:
    return any(props.get(name) for name in INBOX_RULE_ACTIONS)


def _new_inbox_rule(inv: Invocation) -> Iterator[Any]:
    for bound in inv.each():
        mailbox_ref: IdentityRef | None = bound.get("Mailbox")
        if mailbox_ref is None:
            raise common.fail(inv, "The Mailbox parameter is required when an administrator creates an Inbox rule.")
        mailbox = common.resolve(inv, mailbox_ref, MAILBOX_TYPES)
        if mailbox is None:
            continue
        name = bound["Name"]
        props = _rule_props(inv, bound, {})
        if not _has_action(props):
            inv.write(common.task_error(inv, NO_ACTION, target=name))
            continue
        rule = NewInboxRule(name, props, priority=bound.get("Priority"))
        created = common.write_guarded(
            inv,
            name,
            f'Creating inbox rule "{name}" for mailbox "{mailbox.name}".',
            lambda rule=rule, mailbox=mailbox: inv.ctx.store.inbox_rules.create(inv.ctx.tenant.id, mailbox.id, rule),
        )
        if created is not None:
            yield make_inbox_rule(mailbox, created)


def _set_inbox_rule(inv: Invocation) -> Iterator[Any]:
    for bound, mailbox, rule in _rules_of(inv):
        shown = str(bound["Identity"])
        if not inv.should_process(f'Setting Inbox rule "{rule.name}" for mailbox "{mailbox.name}".'):
            continue

        def changes(current: InboxRuleRow, bound: Any = bound, shown: str = shown) -> dict[str, Any]:
            wanted: dict[str, Any] = {}
            props = _rule_props(inv, bound, current.props)
            if props != dict(current.props):
                if not _has_action(props):
                    raise common.fail(inv, NO_ACTION, target=shown)
                wanted["props"] = props
            if bound.is_bound("Name") and bound["Name"] != current.name:
                wanted["name"] = bound["Name"]
            if bound.is_bound("Priority") and bound["Priority"] != current.priority:
                wanted["priority"] = bound["Priority"]
            return wanted

        _update_rule(inv, rule, shown, changes)
    yield from ()


def _update_rule(inv: Invocation, rule: InboxRuleRow, shown: str, changes: Any) -> None:
    try:
        _new, changed = inv.ctx.store.inbox_rules.update(inv.ctx.tenant.id, rule.id, changes)
    except CmdletError as e:
        if e.terminating:
            raise
        inv.write(e.record)
        return
    except NotFound:
        inv.write(texts.object_not_found(shown, inv.definition.name))
        return
    if not changed:
        inv.write(common.nothing_modified(shown))


def _enabler(enabled: bool, sentence: str) -> Handler:
    """Enable-InboxRule / Disable-InboxRule."""

    def handler(inv: Invocation) -> Iterator[Any]:
        for bound, mailbox, rule in _rules_of(inv):
            if inv.should_process(sentence.format(rule.name, mailbox.name)):
                _update_rule(
                    inv,
                    rule,
                    str(bound["Identity"]),
                    lambda current: {} if current.enabled == enabled else {"enabled": enabled},
                )
        yield from ()

    return handler


def _remove_inbox_rule(inv: Invocation) -> Iterator[Any]:
    for bound, mailbox, rule in _rules_of(inv):
        common.write_guarded(
            inv,
            str(bound["Identity"]),
            f'Removing inbox rule "{rule.name}" from mailbox "{mailbox.name}".',
            lambda rule=rule: inv.ctx.store.inbox_rules.delete(inv.ctx.tenant.id, rule.id),
        )
    yield from ()


def _rule_identity(*, mandatory: bool) -> Parameter:
    return Parameter(
        "Identity",
        IdentityType(_RULE_ID),
        mandatory=mandatory,
        position=0,
        value_from_pipeline=True,
        value_from_pipeline_by_property_name=True,
    )


_MAILBOX_PARAMETER: Final = Parameter("Mailbox", IdentityType(_MAILBOX_ID))
_RULE_PARAMETERS: Final = tuple(Parameter(name, kind) for name, kind in inbox_rule_parameters().items())
_PRIORITY: Final = Parameter("Priority", IntegerType())


def _rule_write(name: str, handler: Handler, synopsis: str, *, impact: ConfirmImpact = "Medium") -> CmdletDefinition:
    return CmdletDefinition(
        name=name,
        handler=handler,
        parameters=(_rule_identity(mandatory=True), _MAILBOX_PARAMETER),
        writes=True,
        confirm_impact=impact,
        synopsis=synopsis,
        area=roles.RECIPIENT,
        help_uri=f"https://learn.microsoft.com/powershell/module/exchange/{name.lower()}",
    )


INBOX_RULE_CMDLETS: Final = (
    CmdletDefinition(
        name="Get-InboxRule",
        handler=_get_inbox_rule,
        parameters=(_rule_identity(mandatory=False), _MAILBOX_PARAMETER),
        output_type=(INBOX_RULE_TYPE_NAMES[0],),
        synopsis="Views the properties of Inbox rules.",
        area=roles.RECIPIENT,
        help_uri="https://learn.microsoft.com/powershell/module/exchange/get-inboxrule",
    ),
    CmdletDefinition(
        name="New-InboxRule",
        handler=_new_inbox_rule,
        parameters=(
            Parameter("Name", StringType(), mandatory=True, position=0),
            _MAILBOX_PARAMETER,
            _PRIORITY,
            *_RULE_PARAMETERS,
        ),
        output_type=(INBOX_RULE_TYPE_NAMES[0],),
        writes=True,
        synopsis="Creates Inbox rules in mailboxes.",
        area=roles.RECIPIENT,
        help_uri="https://learn.microsoft.com/powershell/module/exchange/new-inboxrule",
    ),
    CmdletDefinition(
        name="Set-InboxRule",
        handler=_set_inbox_rule,
        parameters=(
            _rule_identity(mandatory=True),
            _MAILBOX_PARAMETER,
            Parameter("Name", StringType()),
            _PRIORITY,
            *_RULE_PARAMETERS,
        ),
        writes=True,
        synopsis="Modifies existing Inbox rules in mailboxes.",
        area=roles.RECIPIENT,
        help_uri="https://learn.microsoft.com/powershell/module/exchange/set-inboxrule",
    ),
    _rule_write("Remove-InboxRule", _remove_inbox_rule, "Removes Inbox rules from mailboxes.", impact="High"),
    _rule_write(
        "Enable-InboxRule", _enabler(True, 'Enabling inbox rule "{0}" for mailbox "{1}".'), "Enables Inbox rules."
    ),
    _rule_write(
        "Disable-InboxRule", _enabler(False, 'Disabling inbox rule "{0}" for mailbox "{1}".'), "Disables Inbox rules."
    ),
)

MAILBOX_SETTINGS_CMDLETS: Final = (
    GET_MAILBOX_STATISTICS,
    GET_CAS_MAILBOX,
    SET_CAS_MAILBOX,
    GET_AUTO_REPLY,
    SET_AUTO_REPLY,
    *INBOX_RULE_CMDLETS,
)


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
    for definition in MAILBOX_SETTINGS_CMDLETS:
        registry.register(definition)
