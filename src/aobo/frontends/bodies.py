"""Request bodies read with a cap, shared by every front end: a client can never make the service
hold more than the cap in memory, whatever its Content-Length says or omits."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The body is larger than the cap (by its Content-Length, or as it arrived)."""


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or :class:`BodyTooLarge` as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)
