"""Entra's error responses: ``error``, ``error_description`` starting ``AADSTS<code>:``, the codes,
trace and correlation ids and a timestamp, as every grant of the identity endpoint returns them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from starlette.responses import JSONResponse

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class EntraError(Exception):
    def __init__(
        self, status: int, error: str, code: int, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.code, self.message = status, error, code, message
        self.headers = headers or {}


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
        headers={**NO_STORE, **err.headers},
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


def app_not_found(client_id: str, tenant_name: str) -> EntraError:
    if len(client_id) > 64:  # not an application id: not echoed in full
        client_id = client_id[:64] + "..."
    return EntraError(
        400,
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory '{tenant_name}'. This can "
        "happen if the application has not been installed by the administrator of the tenant or consented to by "
        "any user in the tenant. You may have sent your authentication request to the wrong tenant.",
    )
