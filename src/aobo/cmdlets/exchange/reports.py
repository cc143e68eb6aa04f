"""Reports and audit: Get-MessageTrace, Get-MessageTraceV2 and Search-AdminAuditLog.

The trace cmdlets read ``store.message_trace`` (one tenant, a received window, newest first then by
recipient). Get-MessageTrace pages with -Page/-PageSize over the last 10 days; Get-MessageTraceV2
looks back 90 days, 10 days per query, and continues with -EndDate/-StartingRecipientAddress set to
the last row's Received/RecipientAddress, which its "more results" warning spells out.
Search-AdminAuditLog reads the service's own audit log of the session's tenant.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aobo.cmdlets import roles, texts
from aobo.cmdlets.binding import BoundParameters
from aobo.cmdlets.exchange.common import ObjectTemplate
from aobo.cmdlets.parameters import (
    BoolType,
    DateTimeType,
    IntegerType,
    ParameterType,
    StringArrayType,
    StringType,
    cannot_convert,
)
from aobo.cmdlets.pipeline import Invocation
from aobo.cmdlets.registry import CmdletDefinition, Parameter, Registry
from aobo.cmdlets.results import CmdletError, ErrorCategory, ExchangeObject, MultiValued, WarningRecord
from aobo.domain.message_trace import STATUSES, SUBJECT_FILTERS, TraceFilter, has_wildcard
from aobo.domain.models import AuditEntry

# --- texts -------------------------------------------------------------------------------------

#: Verbatim from Exchange Online (MicrosoftDocs/office-docs-powershell PR #5929).
START_DATE_TOO_OLD: Final = "Invalid StartDate value. The StartDate can't be older than {days} days from today."
END_DATE_BEFORE_START: Final = "Invalid EndDate value. The EndDate can't be earlier than the StartDate."
START_DATE_REQUIRED: Final = "Invalid StartDate value. The StartDate is required when the EndDate is specified."
END_DATE_REQUIRED: Final = "Invalid EndDate value. The EndDate is required when the StartDate is specified."
RANGE_TOO_LONG: Final = (
    "Invalid date range. The date range between StartDate and EndDate can't be more than {days} days."
)
INVALID_STATUS: Final = 'Invalid Status value "{value}". Valid values are: {valid}.'
INVALID_SUBJECT_FILTER: Final = 'Invalid SubjectFilterType value "{value}". Valid values are: {valid}.'
WILDCARD_WITH_OTHERS: Final = (
    "Invalid {parameter} value. When you use a wildcard in the {parameter} parameter, you can't specify other values."
)
#: Get-MessageTraceV2's continuation hint (verbatim form, from Microsoft's Japan support blog).
MORE_RESULTS: Final = "There are more results, use the following command to get more. {command}"
AUDIT_START_AFTER_END: Final = "The StartDate ({start}) is later than the EndDate ({end})."
AUDIT_PARAMETERS_WITHOUT_CMDLETS: Final = (
    "The Parameters parameter can only be used together with the Cmdlets parameter."
)
#: PowerShell's ValidateRange texts.
RANGE_TOO_HIGH: Final = (
    "Cannot validate argument on parameter '{name}'. The {value} argument is greater than the maximum allowed "
    "range of {high}. Supply an argument that is less than or equal to {high} and then try the command again."
)
RANGE_TOO_LOW: Final = (
    "Cannot validate argument on parameter '{name}'. The {value} argument is less than the minimum allowed range "
    "of {low}. Supply an argument that is greater than or equal to {low} and then try the command again."
)

INVALID_EXPRESSION: Final = "Microsoft.Exchange.Management.ReportingTask.InvalidExpressionException"
_ARGUMENT: Final = "System.ArgumentException"
_MULTI_STRING: Final = "Microsoft.Exchange.Data.MultiValuedProperty`1[System.String]"

TRACE_DEFAULT_WINDOW: Final = timedelta(hours=48)
V1_MAX_AGE_DAYS: Final = 10
V2_MAX_AGE_DAYS: Final = 90
V2_MAX_SPAN_DAYS: Final = 10
DEFAULT_PAGE_SIZE: Final = 1000
MAX_PAGE_SIZE: Final = 5000
MAX_PAGE: Final = 1000
AUDIT_DEFAULT_WINDOW: Final = timedelta(days=15)
AUDIT_DEFAULT_RESULT_SIZE: Final = 1000
AUDIT_MAX_RESULT_SIZE: Final = 250_000
#: Exchange's admin audit log leaves out cmdlets that only read.
UNAUDITED_VERBS: Final = ("Get", "Search", "Test")
ORIGINATING_SERVER: Final = f"{texts.EXCHANGE_SERVER} (15.20.8857.016)"


class GuidType(ParameterType):
    """``System.Guid``: the forms .NET parses (with or without dashes or braces)."""

    dotnet_name = "System.Guid"

    def convert(self, value: Any) -> Any:
        if value is None or isinstance(value, uuid.UUID):
            return value
        try:
            return uuid.UUID(str(value).strip())
        except ValueError:
            raise cannot_convert(
                value,
                self.dotnet_name,
                "Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).",
            ) from None


# --- shared checks -----------------------------------------------------------------------------


def _in_range(inv: Invocation, bound: BoundParameters, name: str, low: int, high: int, default: int) -> int:
    """An Int32 parameter with PowerShell's [ValidateRange(low, high)] behaviour."""
    if not bound.is_bound(name):
        return default
    value = int(bound[name])
    if low <= value <= high:
        return value
    template = RANGE_TOO_HIGH if value > high else RANGE_TOO_LOW
    record = texts.binding_error(
        template.format(name=name, value=value, low=low, high=high),
        "ParameterArgumentValidationError",
        inv.definition.name,
        category=ErrorCategory.InvalidData,
    )
    raise CmdletError(
        dataclasses.replace(
            record,
            exception_type="System.Management.Automation.ParameterBindingValidationException",
            reason="ParameterBindingValidationException",
        )
    )


def _invalid(inv: Invocation, message: str, exception: str = INVALID_EXPRESSION) -> CmdletError:
    """A validation failure of the running task: written, and the command produces nothing."""
    record = texts.task_error(
        message, exception, inv.definition.name, "Validation", category=ErrorCategory.InvalidArgument
    )
    return CmdletError(record, terminating=False)


def _addresses(inv: Invocation, bound: BoundParameters, name: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in bound.get(name) or () if v and v.strip())
    if len(values) > 1 and any(has_wildcard(v) for v in values):
        raise _invalid(inv, WILDCARD_WITH_OTHERS.format(parameter=name))
    return values


def _statuses(inv: Invocation, bound: BoundParameters) -> tuple[str, ...]:
    by_lower = {s.lower(): s for s in STATUSES}
    out: list[str] = []
    for value in bound.get("Status") or ():
        for part in str(value).split(","):
            name = by_lower.get(part.strip().lower())
            if name is None:
                raise _invalid(inv, INVALID_STATUS.format(value=part.strip(), valid=", ".join(STATUSES)))
            if name not in out:
                out.append(name)
    return tuple(out)


def _message_ids(bound: BoundParameters) -> tuple[str, ...]:
    """Exchange wraps a Message-ID given without its angle brackets."""
    out = []
    for value in bound.get("MessageId") or ():
        text = str(value).strip()
        if text:
            out.append(text if text.startswith("<") or text.endswith(">") else f"<{text}>")
    return tuple(out)


def _trace_filter(inv: Invocation, bound: BoundParameters, **extra: Any) -> TraceFilter:
    return TraceFilter(
        senders=_addresses(inv, bound, "SenderAddress"),
        recipients=_addresses(inv, bound, "RecipientAddress"),
        statuses=_statuses(inv, bound),
        message_ids=_message_ids(bound),
        message_trace_id=bound.get("MessageTraceId"),
        from_ip=bound.get("FromIP") or None,
        to_ip=bound.get("ToIP") or None,
        **extra,
    )


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# --- MessageTrace objects ----------------------------------------------------------------------

_TRACE_FIELDS: Final = {
    "Organization": "",
    "MessageId": "",
    "Received": None,
    "SenderAddress": "",
    "RecipientAddress": "",
    "Subject": "",
    "Status": "",
    "ToIP": None,
    "FromIP": None,
    "Size": 0,
    "MessageTraceId": None,
    "StartDate": None,
    "EndDate": None,
}
_REPORT_BASES: Final = (
    "Microsoft.Exchange.Management.FfoReporting.Common.MtrtObject",
    "Microsoft.Exchange.Management.FfoReporting.Common.FfoReportObject",
    "System.Object",
)
MESSAGE_TRACE: Final = ObjectTemplate(
    ("Microsoft.Exchange.Management.FfoReporting.MessageTrace", *_REPORT_BASES), {**_TRACE_FIELDS, "Index": 0}
)
MESSAGE_TRACE_V2: Final = ObjectTemplate(
    ("Microsoft.Exchange.Management.FfoReporting.MessageTraceV2", *_REPORT_BASES), _TRACE_FIELDS
)


def _trace_values(row: Any, organization: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "Organization": organization,
        "MessageId": row.message_id,
        "Received": row.received,
        "SenderAddress": row.sender_address,
        "RecipientAddress": row.recipient_address,
        "Subject": row.subject,
        "Status": row.status,
        "ToIP": row.to_ip,
        "FromIP": row.from_ip,
        "Size": row.size,
        "MessageTraceId": uuid.UUID(row.message_trace_id),
        "StartDate": start,
        "EndDate": end,
    }


# --- Get-MessageTrace --------------------------------------------------------------------------


def _v1_window(inv: Invocation, bound: BoundParameters, now: datetime) -> tuple[datetime, datetime]:
    """Both dates or neither (the last 48 hours); the start no more than 10 whole days back."""
    start, end = bound.get("StartDate"), bound.get("EndDate")
    if start is None and end is None:
        return now - TRACE_DEFAULT_WINDOW, now
    if start is None:
        raise _invalid(inv, START_DATE_REQUIRED)
    if end is None:
        raise _invalid(inv, END_DATE_REQUIRED)
    start, end = _utc(start), _utc(end)
    if end < start:
        raise _invalid(inv, END_DATE_BEFORE_START)
    if (now - start).days > V1_MAX_AGE_DAYS:
        raise _invalid(inv, START_DATE_TOO_OLD.format(days=V1_MAX_AGE_DAYS))
    return start, end


def _get_message_trace(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    organization = ctx.tenant.initial_domain
    for bound in inv.each():
        try:
            page = _in_range(inv, bound, "Page", 1, MAX_PAGE, 1)
            size = _in_range(inv, bound, "PageSize", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE)
            start, end = _v1_window(inv, bound, datetime.now(UTC))
            trace_filter = _trace_filter(inv, bound)
        except CmdletError as e:
            if e.terminating:
                raise
            yield e.record
            continue
        offset = (page - 1) * size
        rows = ctx.store.message_trace.query(ctx.tenant.id, start, end, trace_filter, limit=size, offset=offset)
        for i, row in enumerate(rows):
            values = _trace_values(row, organization, start, end)
            yield MESSAGE_TRACE.make({**values, "Index": offset + i})


_PIPED: Final = {"value_from_pipeline_by_property_name": True}
_TRACE_FILTER_PARAMETERS: Final = (
    Parameter("EndDate", DateTimeType(), **_PIPED),
    Parameter("FromIP", StringType(), **_PIPED),
    Parameter("MessageId", StringArrayType(_MULTI_STRING), **_PIPED),
    Parameter("MessageTraceId", GuidType(), **_PIPED),
    Parameter("RecipientAddress", StringArrayType(_MULTI_STRING), **_PIPED),
    Parameter("SenderAddress", StringArrayType(_MULTI_STRING), **_PIPED),
    Parameter("StartDate", DateTimeType(), **_PIPED),
    Parameter("Status", StringArrayType(_MULTI_STRING)),
    Parameter("ToIP", StringType(), **_PIPED),
)


def _named(name: str) -> Parameter:
    return next(p for p in _TRACE_FILTER_PARAMETERS if p.name == name)


GET_MESSAGE_TRACE: Final = CmdletDefinition(
    name="Get-MessageTrace",
    handler=_get_message_trace,
    parameters=(
        *(_named(n) for n in ("EndDate", "FromIP", "MessageId", "MessageTraceId")),
        Parameter("Page", IntegerType(), help="Page number, 1 to 1000 (default 1)."),
        Parameter("PageSize", IntegerType(), help="Entries per page, 1 to 5000 (default 1000)."),
        Parameter("ProbeTag", StringType(), help="Reserved for internal Microsoft use."),
        *(_named(n) for n in ("RecipientAddress", "SenderAddress", "StartDate", "Status", "ToIP")),
    ),
    output_type=(MESSAGE_TRACE.type_name,),
    synopsis="Traces messages as they pass through the cloud-based organization (the last 10 days).",
    area=roles.MESSAGE_TRACKING,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-messagetrace",
)

# --- Get-MessageTraceV2 ------------------------------------------------------------------------


def _v2_window(inv: Invocation, bound: BoundParameters, now: datetime) -> tuple[datetime, datetime]:
    """The last 48 hours by default; at most 10 days, within the last 90."""
    end = _utc(bound["EndDate"]) if bound.get("EndDate") is not None else now
    start = _utc(bound["StartDate"]) if bound.get("StartDate") is not None else end - TRACE_DEFAULT_WINDOW
    if end < start:
        raise _invalid(inv, END_DATE_BEFORE_START)
    if (now - start).days > V2_MAX_AGE_DAYS:
        raise _invalid(inv, START_DATE_TOO_OLD.format(days=V2_MAX_AGE_DAYS))
    if end - start > timedelta(days=V2_MAX_SPAN_DAYS):
        raise _invalid(inv, RANGE_TOO_LONG.format(days=V2_MAX_SPAN_DAYS))
    return start, end


def _subject_filter(inv: Invocation, bound: BoundParameters) -> str:
    given = bound.get("SubjectFilterType")
    if not given:
        return "Contains"
    match = next((f for f in SUBJECT_FILTERS if f.lower() == given.strip().lower()), None)
    if match is None:
        raise _invalid(inv, INVALID_SUBJECT_FILTER.format(value=given, valid=", ".join(SUBJECT_FILTERS)))
    return match


def _iso(value: datetime) -> str:
    """A UTC instant as .NET's round-trip ("O") form: ``2025-06-12T03:01:53.7240000Z``."""
    value = _utc(value)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond:06d}0Z"


def _quoted(value: Any) -> str:
    items = value if isinstance(value, list | tuple) else (value,)
    return ",".join('"' + str(v).replace('"', '`"') + '"' for v in items)


_CONTINUATION_CARRIES: Final = (
    "FromIP",
    "MessageId",
    "MessageTraceId",
    "RecipientAddress",
    "SenderAddress",
    "Status",
    "Subject",
    "SubjectFilterType",
    "ToIP",
)


def _more_results(bound: BoundParameters, start: datetime, last: Any, size: int) -> WarningRecord:
    """The command that fetches the next page: same query, ending at the last row."""
    command = (
        f"Get-MessageTraceV2 -StartDate {_quoted(_iso(start))} -EndDate {_quoted(_iso(last.received))} "
        f"-StartingRecipientAddress {_quoted(last.recipient_address)} -ResultSize {size}"
    )
    for name in _CONTINUATION_CARRIES:
        if bound.is_bound(name) and bound[name] not in (None, "", ()):
            command += f" -{name} {_quoted(bound[name])}"
    return WarningRecord(MORE_RESULTS.format(command=command))


def _get_message_trace_v2(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    organization = ctx.tenant.initial_domain
    for bound in inv.each():
        try:
            size = _in_range(inv, bound, "ResultSize", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE)
            start, end = _v2_window(inv, bound, datetime.now(UTC))
            starting = (bound.get("StartingRecipientAddress") or "").strip()
            trace_filter = _trace_filter(
                inv,
                bound,
                subject=bound.get("Subject") or None,
                subject_filter=_subject_filter(inv, bound),
                after=(end, starting) if starting else None,
            )
        except CmdletError as e:
            if e.terminating:
                raise
            yield e.record
            continue
        rows = ctx.store.message_trace.query(ctx.tenant.id, start, end, trace_filter, limit=size + 1)
        for row in rows[:size]:
            yield MESSAGE_TRACE_V2.make(_trace_values(row, organization, start, end))
        if len(rows) > size:
            yield _more_results(bound, start, rows[size - 1], size)


GET_MESSAGE_TRACE_V2: Final = CmdletDefinition(
    name="Get-MessageTraceV2",
    handler=_get_message_trace_v2,
    parameters=(
        *(
            dataclasses.replace(_named(n), position=i)
            for i, n in enumerate(("EndDate", "FromIP", "MessageId", "MessageTraceId", "RecipientAddress"))
        ),
        Parameter("ResultSize", IntegerType(), position=5, help="1 to 5000 (default 1000).", **_PIPED),
        dataclasses.replace(_named("SenderAddress"), position=6),
        dataclasses.replace(_named("StartDate"), position=7),
        Parameter("StartingRecipientAddress", StringType(), position=8, **_PIPED),
        dataclasses.replace(_named("Status"), position=9),
        Parameter("SubjectFilterType", StringType(), position=10, help="Contains, EndsWith or StartsWith.", **_PIPED),
        Parameter("Subject", StringType(), position=11, **_PIPED),
        dataclasses.replace(_named("ToIP"), position=12),
    ),
    output_type=(MESSAGE_TRACE_V2.type_name,),
    synopsis="Traces messages as they pass through the cloud-based organization (the last 90 days).",
    area=roles.MESSAGE_TRACKING,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-messagetracev2",
)

# --- Search-AdminAuditLog ----------------------------------------------------------------------

ADMIN_AUDIT_LOG_EVENT: Final = ObjectTemplate(
    (
        "Microsoft.Exchange.Management.SystemConfigurationTasks.AdminAuditLogEvent",
        "Microsoft.Exchange.Data.ConfigurableObject",
        "System.Object",
    ),
    {
        "ObjectModified": None,
        "CmdletName": "",
        "CmdletParameters": None,
        "ModifiedProperties": None,
        "Caller": "",
        "ExternalAccess": False,
        "Succeeded": True,
        "Error": None,
        "RunDate": None,
        "OriginatingServer": ORIGINATING_SERVER,
        "Identity": "",
        "IsValid": True,
        "ObjectState": "Unchanged",
    },
)
CMDLET_PARAMETER: Final = ObjectTemplate(
    ("Microsoft.Exchange.Data.AdminAuditLogCmdletParameter", "System.Object"), {"Name": "", "Value": ""}
)
_PARAMETER_LIST: Final = (
    "Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.AdminAuditLogCmdletParameter, "
    "Microsoft.Exchange.Data, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
    "Microsoft.Exchange.Data.MultiValuedPropertyBase",
    "System.Object",
)
_MODIFIED_LIST: Final = (
    "Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.AdminAuditLogModifiedProperty, "
    "Microsoft.Exchange.Data, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
    "Microsoft.Exchange.Data.MultiValuedPropertyBase",
    "System.Object",
)


def _parameter_text(value: Any) -> str:
    """How the audit log writes a parameter value: lists joined with commas, switches as True."""
    if value is None:
        return "True"
    if isinstance(value, list | tuple):
        return ",".join(_parameter_text(v) for v in value)
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _audit_event(entry: AuditEntry, tenant_guid: uuid.UUID) -> ExchangeObject:
    parameters = tuple(
        CMDLET_PARAMETER.make({"Name": name, "Value": _parameter_text(value)}, to_string=name)
        for name, value in entry.parameters.items()
    )
    return ADMIN_AUDIT_LOG_EVENT.make(
        {
            "ObjectModified": entry.object_id,
            "CmdletName": entry.cmdlet,
            "CmdletParameters": MultiValued(parameters, _PARAMETER_LIST),
            "ModifiedProperties": MultiValued((), _MODIFIED_LIST),
            "Caller": entry.caller,
            "ExternalAccess": entry.caller_tenant_id != entry.target_tenant_id,
            "Succeeded": entry.succeeded,
            "Error": entry.error,
            "RunDate": entry.run_date,
            "Identity": f"{tenant_guid}\\AdminAuditLogEvent\\{entry.id}",
        }
    )


def _audit_window(inv: Invocation, bound: BoundParameters) -> tuple[datetime, datetime]:
    """Neither date: the last 15 days; one of them: 15 days from or to it."""
    start, end = bound.get("StartDate"), bound.get("EndDate")
    if start is None and end is None:
        end = datetime.now(UTC)
    if end is None:
        end = _utc(start) + AUDIT_DEFAULT_WINDOW
    if start is None:
        start = _utc(end) - AUDIT_DEFAULT_WINDOW
    start, end = _utc(start), _utc(end)
    if start > end:
        raise _invalid(inv, AUDIT_START_AFTER_END.format(start=_shown(start), end=_shown(end)), _ARGUMENT)
    return start, end


def _shown(value: datetime) -> str:
    """A date as .NET's invariant ToString shows it: ``6/18/2020 2:24:03 PM``."""
    return texts.exchange_timestamp(value)


def _names(bound: BoundParameters, name: str) -> Sequence[str]:
    return tuple(str(v).strip() for v in bound.get(name) or () if str(v).strip())


def _search_admin_audit_log(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound in inv.each():
        try:
            limit = _in_range(inv, bound, "ResultSize", 1, AUDIT_MAX_RESULT_SIZE, AUDIT_DEFAULT_RESULT_SIZE)
            offset = _in_range(inv, bound, "StartIndex", 0, AUDIT_MAX_RESULT_SIZE, 0)
            start, end = _audit_window(inv, bound)
            if _names(bound, "Parameters") and not _names(bound, "Cmdlets"):
                raise _invalid(inv, AUDIT_PARAMETERS_WITHOUT_CMDLETS, _ARGUMENT)
        except CmdletError as e:
            if e.terminating:
                raise
            yield e.record
            continue
        entries = ctx.store.search_audit(
            ctx.tenant.id,
            start=start,
            end=end,
            cmdlets=_names(bound, "Cmdlets"),
            callers=_names(bound, "UserIds"),
            object_ids=_names(bound, "ObjectIds"),
            parameters=_names(bound, "Parameters"),
            succeeded=bound.get("IsSuccess"),
            external=bound.get("ExternalAccess"),
            exclude_verbs=UNAUDITED_VERBS,
            offset=offset,
            limit=limit,
        )
        for entry in entries:
            yield _audit_event(entry, ctx.tenant.guid)


SEARCH_ADMIN_AUDIT_LOG: Final = CmdletDefinition(
    name="Search-AdminAuditLog",
    handler=_search_admin_audit_log,
    parameters=(
        Parameter("Cmdlets", StringArrayType(_MULTI_STRING), value_from_pipeline=True, **_PIPED),
        Parameter("EndDate", DateTimeType()),
        Parameter("ExternalAccess", BoolType()),
        Parameter("IsSuccess", BoolType()),
        Parameter("ObjectIds", StringArrayType(_MULTI_STRING)),
        Parameter("Parameters", StringArrayType(_MULTI_STRING)),
        Parameter("ResultSize", IntegerType(), help="1 to 250000 (default 1000)."),
        Parameter("StartDate", DateTimeType()),
        Parameter("StartIndex", IntegerType()),
        Parameter(
            "UserIds",
            StringArrayType(
                "Microsoft.Exchange.Data.MultiValuedProperty`1[Microsoft.Exchange.Configuration.Tasks."
                "SecurityPrincipalIdParameter]"
            ),
        ),
    ),
    output_type=(ADMIN_AUDIT_LOG_EVENT.type_name,),
    synopsis="Searches the contents of the administrator audit log.",
    area=roles.AUDIT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/search-adminauditlog",
)


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
    for definition in (GET_MESSAGE_TRACE, GET_MESSAGE_TRACE_V2, SEARCH_ADMIN_AUDIT_LOG):
        registry.register(definition)
