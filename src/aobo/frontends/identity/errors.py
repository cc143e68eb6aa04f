"""Entra's error responses: ``error``, ``error_description`` starting ``AADSTS<code>:``, the codes,
trace and correlation ids and a timestamp, as every grant of the identity endpoint returns them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from starlette.responses import JSONResponse

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class EntraError(Exception):
    def __init__(self, status: int, error: str, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.code, self.message = status, error, code, message


def entra_error_response(err: EntraError) -> JSONResponse:
    now = datetime.now(UTC)
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    timestamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    description = (
        f"AADSTS{err.code}: {err.message} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"
    )
    return JSONResponse(
        {
            "error": err.error,
            "error_description": description,
            "error_codes": [err.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": "https://login.microsoftonline.com/error?code=" + str(err.code),
        },
        status_code=err.status,
        headers=NO_STORE,
    )


def tenant_not_found(name: str) -> EntraError:
    return EntraError(
        400,
        "invalid_request",
        90002,
        f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are signing into "
        "the correct cloud. Check with your subscription administrator, this may happen if there are no "
        "active subscriptions for the tenant.",
    )


def missing_parameter(name: str) -> EntraError:
    return EntraError(
        400, "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."
    )
