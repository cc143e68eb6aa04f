"""Every user-visible text the engine produces, worded as PowerShell and Exchange word them.

Kept in one place so later cmdlets reuse the same strings and tests can import them instead of
copying. Functions build the records; the message templates are module constants so a reviewer can
compare them with the reference at a glance.
"""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, datetime
from typing import Any, Final

from aobo.cmdlets.results import ErrorCategory, ErrorRecord

# --- PowerShell: parameter binding -------------------------------------------------------------

PARAMETER_BINDING_EXCEPTION: Final = "System.Management.Automation.ParameterBindingException"

NAMED_PARAMETER_NOT_FOUND: Final = "A parameter cannot be found that matches parameter name '{name}'."
POSITIONAL_PARAMETER_NOT_FOUND: Final = "A positional parameter cannot be found that accepts argument '{arg}'."
AMBIGUOUS_PARAMETER: Final = (
    "Parameter cannot be processed because the parameter name '{name}' is ambiguous. "
    "Possible matches include: {matches}."
)
AMBIGUOUS_PARAMETER_SET: Final = "Parameter set cannot be resolved using the specified named parameters."
PARAMETER_ALREADY_BOUND: Final = (
    "Cannot bind parameter because parameter '{name}' is specified more than once. To provide multiple "
    'values to parameters that can accept multiple values, use the array syntax. For example, "-parameter '
    'value1,value2,value3".'
)
MISSING_MANDATORY: Final = "Cannot process command because of one or more missing mandatory parameters:{names}."
MISSING_ARGUMENT: Final = (
    "Missing an argument for parameter '{name}'. Specify a parameter of type '{type}' and try again."
)
ARGUMENT_NULL: Final = "Cannot bind argument to parameter '{name}' because it is null."
ARGUMENT_EMPTY_STRING: Final = "Cannot bind argument to parameter '{name}' because it is an empty string."
CANNOT_BIND: Final = "Cannot bind parameter '{name}'. {reason}"
CANNOT_TRANSFORM: Final = "Cannot process argument transformation on parameter '{name}'. {reason}"
CANNOT_CONVERT: Final = 'Cannot convert value "{value}" to type "{type}". Error: "{error}"'
INPUT_OBJECT_MISSING_MANDATORY: Final = (
    "The input object cannot be bound because it did not contain the information required to bind all "
    "mandatory parameters:{names}"
)
INPUT_OBJECT_NOT_BOUND: Final = (
    "The input object cannot be bound to any parameters for the command either because the command does "
    "not take pipeline input or the input and its properties do not match any of the parameters that take "
    "pipeline input."
)


def binding_error(
    message: str, error_id: str, cmdlet: str, *, category: ErrorCategory = ErrorCategory.InvalidArgument
) -> ErrorRecord:
    return ErrorRecord(
        message=message,
        exception_type=PARAMETER_BINDING_EXCEPTION,
        fully_qualified_error_id=f"{error_id},{cmdlet}",
        category=category,
        activity=cmdlet,
        reason="ParameterBindingException",
    )


# --- PowerShell: runspace and command lookup ---------------------------------------------------

SCRIPTS_NOT_ALLOWED: Final = (
    "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode."
)
COMMAND_NOT_FOUND: Final = (
    "The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable "
    "program. Check the spelling of the name, or if a path was included, verify that the path is correct "
    "and try again."
)
PIPELINE_STOPPED: Final = "The pipeline has been stopped."
ACTION_PREFERENCE_STOP: Final = (
    'The running command stopped because the preference variable "{variable}" or common parameter is set '
    "to Stop: {message}"
)


def scripts_not_allowed(script: str) -> ErrorRecord:
    return ErrorRecord(
        message=SCRIPTS_NOT_ALLOWED,
        exception_type="System.Management.Automation.ParseException",
        fully_qualified_error_id="ScriptsNotAllowed",
        category=ErrorCategory.ParserError,
        reason="ParseException",
        target_name=script,
        target_type="String",
        target_object=script,
    )


def command_not_found(name: str) -> ErrorRecord:
    return ErrorRecord(
        message=COMMAND_NOT_FOUND.format(name=name),
        exception_type="System.Management.Automation.CommandNotFoundException",
        fully_qualified_error_id="CommandNotFoundException",
        category=ErrorCategory.ObjectNotFound,
        reason="CommandNotFoundException",
        target_name=name,
        target_type="String",
        target_object=name,
    )


def action_preference_stop(variable: str, message: str, cmdlet: str) -> ErrorRecord:
    return ErrorRecord(
        message=ACTION_PREFERENCE_STOP.format(variable=variable, message=message),
        exception_type="System.Management.Automation.ActionPreferenceStopException",
        fully_qualified_error_id=f"ActionPreferenceStop,{cmdlet}",
        category=ErrorCategory.OperationStopped,
        activity=cmdlet,
        reason="ActionPreferenceStopException",
    )


# --- Exchange: authorisation -------------------------------------------------------------------

CMDLET_ACCESS_DENIED: Final = (
    '[FailureCategory=AuthZ-CmdletAccessDeniedException] The user "{user}" isn\'t assigned to any '
    'management roles that allow running "{cmdlet}".'
)


def cmdlet_access_denied(user: str, cmdlet: str) -> ErrorRecord:
    return ErrorRecord(
        message=CMDLET_ACCESS_DENIED.format(user=user, cmdlet=cmdlet),
        exception_type="Microsoft.Exchange.Configuration.Tasks.CmdletAccessDeniedException",
        fully_qualified_error_id=f"CmdletAccessDeniedException,{cmdlet}",
        category=ErrorCategory.PermissionDenied,
        activity=cmdlet,
        reason="CmdletAccessDeniedException",
    )


# --- Exchange: task errors ---------------------------------------------------------------------

#: The mailbox server named in ``[Server=...]`` prefixes, and the DC named in not-found texts.
#: Fixed values shaped like Exchange Online's (§6.5); nothing parses them.
EXCHANGE_SERVER: Final = "DM6PR01MB4001"
DOMAIN_CONTROLLER: Final = "NAMPR01A001DC01.NAMPR01A001.PROD.OUTLOOK.COM"

#: Cmdlet → (.NET task class, 8-hex throw-site codes by failure). Exchange's codes are per throw
#: site and not public for these paths (§10 item 8); these are fixed so clients can match on them.
TASK_CLASSES: Final[dict[str, str]] = {
    "Get-Mailbox": "Microsoft.Exchange.Management.RecipientTasks.GetMailbox",
    "Set-Mailbox": "Microsoft.Exchange.Management.RecipientTasks.SetMailbox",
}
THROW_SITES: Final[dict[tuple[str, str], str]] = {
    ("Get-Mailbox", "NotFound"): "B9F5C63F",
    ("Get-Mailbox", "Ambiguous"): "7BDF8A54",
    ("Set-Mailbox", "NotFound"): "1D3E8C27",
    ("Set-Mailbox", "Ambiguous"): "4A92F0D1",
    # Exchange Online's own code for Get-MessageTrace's date validation.
    ("Get-MessageTrace", "Validation"): "A9FC7A86",
}

#: Task namespaces by noun, for the FQID's class name; recipient tasks are the default.
_TASK_NAMESPACES: Final = {
    **dict.fromkeys(
        (
            "OrganizationConfig",
            "AcceptedDomain",
            "RemoteDomain",
            "TransportConfig",
            "AdminAuditLog",
        ),
        "Microsoft.Exchange.Management.SystemConfigurationTasks",
    ),
    **dict.fromkeys(
        (
            "HostedContentFilterPolicy",
            "HostedOutboundSpamFilterPolicy",
            "MalwareFilterPolicy",
            "AntiPhishPolicy",
        ),
        "Microsoft.Exchange.Management.Hygiene",
    ),
    **dict.fromkeys(("MessageTrace", "MessageTraceV2"), "Microsoft.Exchange.Management.FfoReporting"),
    "TransportRule": "Microsoft.Exchange.MessagingPolicies.Rules.Tasks",
    **dict.fromkeys(
        ("InboxRule", "MailboxFolderPermission", "MailboxAutoReplyConfiguration"),
        "Microsoft.Exchange.Management.StoreTasks",
    ),
    "MailboxStatistics": "Microsoft.Exchange.Management.MapiTasks",
}


def task_class_of(cmdlet: str) -> str:
    """The .NET class of an Exchange task, as its error ids name it (``...RecipientTasks.SetMailbox``)."""
    known = TASK_CLASSES.get(cmdlet)
    if known is not None:
        return known
    verb, _, noun = cmdlet.partition("-")
    namespace = _TASK_NAMESPACES.get(noun, "Microsoft.Exchange.Management.RecipientTasks")
    return f"{namespace}.{verb}{noun}"


OBJECT_NOT_FOUND: Final = "The operation couldn't be performed because object '{id}' couldn't be found on '{dc}'."
OBJECT_AMBIGUOUS: Final = "The operation couldn't be performed because '{id}' matches multiple entries."
#: Strings.WarningDefaultResultSizeReached: a result cut at the default -ResultSize (the caller gave none).
RESULT_SIZE_WARNING: Final = (
    "By default, only the first {n} items are returned. Use the ResultSize parameter to specify the number "
    'of items returned. To return all items, specify "-ResultSize Unlimited". Be aware that, depending on '
    "the actual number of items, returning all items can take a long time and consume a large amount of "
    "memory. Also, we don't recommend storing the results in a variable. Instead, pipe the results to "
    "another task or script to perform batch changes."
)
#: Strings.WarningMoreResultsAvailable: a result cut at the caller's own -ResultSize.
MORE_RESULTS_AVAILABLE: Final = (
    "There are more results available than are currently displayed. To view them, increase the value for the "
    "ResultSize parameter."
)
NOTHING_MODIFIED: Final = "The command completed successfully but no settings of '{id}' have been modified."


def exchange_timestamp(when: datetime | None = None) -> str:
    """``M/d/yyyy h:mm:ss tt`` in UTC, the form Exchange puts in its ``[Server=...]`` prefix."""
    when = (when or datetime.now(UTC)).astimezone(UTC)
    hour = when.hour % 12 or 12
    ampm = "AM" if when.hour < 12 else "PM"
    return f"{when.month}/{when.day}/{when.year} {hour}:{when.minute:02d}:{when.second:02d} {ampm}"


def task_error(
    message: str,
    exception: str,
    cmdlet: str,
    site: str,
    *,
    category: ErrorCategory = ErrorCategory.NotSpecified,
    target: Any = None,
) -> ErrorRecord:
    """An error thrown by an Exchange task, with the ``[Server=...][FailureCategory=...]`` FQID."""
    short = exception.rsplit(".", 1)[-1]
    task_class = task_class_of(cmdlet)
    code = THROW_SITES.get((cmdlet, site)) or f"{zlib.crc32(f'{cmdlet}:{site}'.encode()):08X}"
    prefix = f"[Server={EXCHANGE_SERVER},RequestId={uuid.uuid4()},TimeStamp={exchange_timestamp()}]"
    return ErrorRecord(
        message=message,
        exception_type=exception,
        fully_qualified_error_id=f"{prefix} [FailureCategory=Cmdlet-{short}] {code},{task_class}",
        category=category,
        activity=cmdlet,
        reason=short,
        target_object=target,
    )


def object_not_found(identity: str, cmdlet: str) -> ErrorRecord:
    return task_error(
        OBJECT_NOT_FOUND.format(id=identity, dc=DOMAIN_CONTROLLER),
        "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
        cmdlet,
        "NotFound",
        target=identity,
    )


def object_ambiguous(identity: str, cmdlet: str) -> ErrorRecord:
    return task_error(
        OBJECT_AMBIGUOUS.format(id=identity),
        "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException",
        cmdlet,
        "Ambiguous",
        target=identity,
    )


def not_supported(message: str, cmdlet: str) -> ErrorRecord:
    return ErrorRecord(
        message=message,
        exception_type="System.NotSupportedException",
        fully_qualified_error_id=f"ParameterNotSupported,{cmdlet}",
        category=ErrorCategory.NotImplemented,
        activity=cmdlet,
        reason="NotSupportedException",
    )
