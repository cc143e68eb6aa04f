"""Reading an ``application/x-www-form-urlencoded`` body without holding more than a cap in memory."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request

from aobo.frontends.bodies import read_body


async def read_form(request: Request, limit: int) -> dict[str, str]:
    """The form's fields (the first value of each); ``BodyTooLarge`` past ``limit`` bytes."""
    text = (await read_body(request, limit)).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True, max_num_fields=100).items()}
