"""Exchange Online's OData error bodies for the REST front end.

Clients read an error's text from three places (CIPP in this order): ``error.details[0].message``
(``<ErrorId>|<ExceptionType>|<Message>``), ``error.innererror.internalexception.message`` and
``error.message``; every body here fills all three. The ErrorId is ``Ex`` and six hex digits
derived from the error's FullyQualifiedErrorId, so one kind of error always carries the same id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Final

from aobo.cmdlets.results import ErrorCategory, ErrorRecord

ODATA_EXCEPTION: Final = "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"
CMDLET_EXCEPTION: Final = "Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException"
#: error.message of a cmdlet's own error, as Exchange words it; the cmdlet's text is in the details.
CMDLET_FAILED: Final = "Error executing cmdlet"
WARNINGS_TYPE: Final = "#Collection(String)"


def error_id(fully_qualified_error_id: str) -> str:
    """A short stable id like Exchange's ``Ex6F9304``."""
    return "Ex" + hashlib.sha256(fully_qualified_error_id.encode()).hexdigest()[:6].upper()


@dataclass(eq=False)
class RestError(Exception):
    """A failed request: the HTTP status, the OData code and message, and the exception behind it."""

    status: int
    code: str
    message: str
    exception_type: str = "System.ArgumentException"
    fully_qualified_error_id: str = ""
    summary: str = ""  # error.message when it differs from the detailed message
    headers: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # written by the cmdlet before it failed

    def __str__(self) -> str:
        return self.message


def bad_request(message: str, error: str = "InvalidRequest") -> RestError:
    return RestError(400, "BadRequest", message, "System.ArgumentException", error)


def not_found(message: str, error: str = "NotFound") -> RestError:
    return RestError(404, "NotFound", message, "System.Collections.Generic.KeyNotFoundException", error)


_CATEGORY_CODES: Final = {
    ErrorCategory.ObjectNotFound: "NotFound",
    ErrorCategory.PermissionDenied: "Forbidden",
    ErrorCategory.ResourceExists: "Conflict",
}


def from_record(record: ErrorRecord) -> RestError:
    """A cmdlet's error record (binder, engine or cmdlet) as the call's failure: 403 when the caller's
    roles do not allow the cmdlet, 400 otherwise (one cmdlet per call: its error fails the call)."""
    denied = record.exception_type.endswith("CmdletAccessDeniedException")
    code = _CATEGORY_CODES.get(record.category, "BadRequest")
    if record.exception_type.endswith("NotFoundException"):
        code = "NotFound"
    return RestError(
        403 if denied else 400,
        code,
        record.message,
        record.exception_type or "System.Exception",
        record.fully_qualified_error_id,
        summary=CMDLET_FAILED,
    )


def error_body(error: RestError, warnings: list[str] | None = None) -> dict[str, Any]:
    eid = error_id(error.fully_qualified_error_id or error.code)
    return {
        "error": {
            "code": error.code,
            "message": error.summary or error.message,
            "details": [{"code": "Client", "target": "", "message": f"{eid}|{error.exception_type}|{error.message}"}],
            "innererror": {
                "message": error.summary or error.message,
                "type": ODATA_EXCEPTION,
                "stacktrace": "",
                "internalexception": {
                    "message": error.message,
                    "type": error.exception_type,
                    "stacktrace": "",
                },
            },
        },
        "adminapi.warnings@odata.type": WARNINGS_TYPE,
        "@adminapi.warnings": [*error.warnings, *(warnings or [])],
    }
