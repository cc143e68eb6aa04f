"""Reading a running pipeline one page at a time, and the JSON body of a page.

A :class:`RunningCommand` holds the engine's output generator. Each :meth:`RunningCommand.next_page`
pulls objects up to the page size, then looks one object ahead so that a page announces more only
when more exist; warnings and ``What if:`` texts (REST has no host) are collected for the page's
``@adminapi.warnings``. The first error record written by the cmdlet, or a terminating error,
fails the call: one cmdlet per call, so its error is the call's answer. The engine's listings are
keyset-paginated, so a generator held between pages holds no database transaction.

Blocking (it runs the engine): call from a worker thread, one page at a time per command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aobo.cmdlets.results import (
    CmdletError,
    ErrorRecord,
    ExchangeObject,
    InformationalRecord,
    WarningRecord,
)
from aobo.frontends.rest.errors import WARNINGS_TYPE, RestError, from_record
from aobo.frontends.rest.values import JsonWriter, plain, select

_NOTHING: Final = object()
_WARNINGS_MEMBERS: Final = (
    '"adminapi.warnings@odata.type":' + json.dumps(WARNINGS_TYPE) + ',"@adminapi.warnings":'
).encode()


@dataclass(slots=True)
class Page:
    objects: list[Any]
    warnings: list[str]
    more: bool


@dataclass(slots=True)
class RunningCommand:
    """One InvokeCommand's pipeline, read page by page; ``on_end`` is called once with the outcome
    (None, or the error text) when the pipeline ends, fails or is closed early."""

    cmdlet: str
    items: Iterator[Any]
    on_end: Callable[[str | None], None]
    _pending: Any = _NOTHING
    _ended: bool = False

    def next_page(self, size: int) -> Page:
        """Up to ``size`` objects; :class:`RestError` when the cmdlet fails (the command is then closed)."""
        objects: list[Any] = []
        warnings: list[str] = []
        if self._pending is not _NOTHING:
            objects.append(self._pending)
            self._pending = _NOTHING
        try:
            for item in self.items:
                if isinstance(item, ErrorRecord):
                    raise CmdletError(item, terminating=False)
                if isinstance(item, WarningRecord | InformationalRecord):
                    warnings.append(item.message)
                    continue
                if type(item).__name__.endswith("Record"):
                    continue  # verbose and progress records: no place for them in a REST answer
                if len(objects) == size:
                    self._pending = item
                    return Page(objects, warnings, more=True)
                objects.append(item)
        except CmdletError as exc:
            self.close(exc.record.message)
            error = from_record(exc.record)
            error.warnings = warnings
            raise error from None
        except Exception as exc:
            self.close(f"{type(exc).__name__}: {exc}")
            raise
        self.close(None)
        return Page(objects, warnings, more=False)

    def close(self, error: str | None = "The command was not read to its end.") -> None:
        if self._ended:
            return
        self._ended = True
        close = getattr(self.items, "close", None)
        try:
            if close is not None:
                close()
        finally:
            self.on_end(error)


def render_objects(objects: Sequence[Any], writer: JsonWriter, names: Sequence[str] | None) -> bytes:
    """The ``value`` array's JSON."""
    if names is None:
        return writer.dumps(list(objects))  # one encoder call for the page
    return writer.dumps([select(o, names) if isinstance(o, ExchangeObject) else plain(o) for o in objects])


def render_page(
    context: str, page: Page, writer: JsonWriter, names: Sequence[str] | None, next_link: str | None
) -> bytes:
    """The response body of one page (UTF-8)."""
    parts = [
        b'{"@odata.context":',
        json.dumps(context).encode(),
        b",",
        _WARNINGS_MEMBERS,
        json.dumps(page.warnings).encode(),
        b',"value":',
        render_objects(page.objects, writer, names),
    ]
    if next_link is not None:
        parts += [b',"@odata.nextLink":', json.dumps(next_link).encode()]
    parts.append(b"}")
    return b"".join(parts)


def error_to_rest(exc: BaseException) -> RestError:
    """An unexpected failure: 500 with no detail of the internals (they are logged)."""
    return RestError(
        500,
        "InternalServerError",
        f"The command failed because of an internal error in the service ({type(exc).__name__}).",
        "System.InvalidOperationException",
        "InternalError",
    )
