"""The HTTP side of the REST admin API: the only module of the package that does I/O.

Reads the body up to the request size cap, hands the request to :class:`RestService` on a worker
thread (the engine and the store block) and writes its reply. Paths are matched case-insensitively.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from aobo.frontends.bodies import BodyTooLarge, read_body
from aobo.frontends.rest.errors import RestError
from aobo.frontends.rest.service import Call, RestService, error_reply


class RestEndpoint:
    def __init__(self, service: RestService, max_request_size: int) -> None:
        self.service = service
        self.max_request_size = max_request_size

    async def __call__(self, request: Request) -> Response:
        try:
            body = await read_body(request, self.max_request_size) if request.method == "POST" else b""
        except BodyTooLarge:
            reply = error_reply(
                RestError(
                    413,
                    "RequestEntityTooLarge",
                    f"The request body is larger than {self.max_request_size} bytes, the most this service accepts.",
                    "System.ArgumentException",
                    "RequestTooLarge",
                )
            )
            reply.headers["Connection"] = "close"  # the rest of the body was not read
            return Response(reply.body, reply.status, reply.headers)
        url = request.url
        call = Call(
            method=request.method,
            path=url.path,
            query=request.query_params.multi_items(),
            headers={k.lower(): v for k, v in request.headers.items()},
            base_url=f"{url.scheme}://{url.netloc}",
            body=body,
        )
        reply = await run_in_threadpool(self.service.handle, call)
        return Response(reply.body, reply.status, reply.headers)


__all__ = ["RestEndpoint"]
