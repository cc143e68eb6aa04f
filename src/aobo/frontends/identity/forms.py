"""Reading an ``application/x-www-form-urlencoded`` body without holding more than a cap in memory."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request


class FormTooLarge(Exception):
    """The body is larger than the cap (by its Content-Length, or as it arrived)."""


async def read_form(request: Request, limit: int) -> dict[str, str]:
    """The form's fields (the first value of each); raises :class:`FormTooLarge` past ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FormTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FormTooLarge
    text = bytes(body).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True, max_num_fields=100).items()}
