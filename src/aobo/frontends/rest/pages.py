"""Reading a running pipeline one page at a time, and the JSON body of a page.

A :class:`RunningCommand` holds the engine's output generator. Each :meth:`RunningCommand.next_page`
pulls objects up to the page size, then looks one object ahead so that a page announces more only
when more exist; warnings and ``What if:`` texts (REST has no host) are collected for the page's
``@adminapi.warnings``. The first error record written by the cmdlet, or a terminating error,
fails the call: one cmdlet per call, so its error is the call's answer. The engine's listings are
keyset-paginated, so a generator held between pages holds no database transaction.

Blocking (it runs the engine): call from worker threads; a command's lock serialises them.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections import deque
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

log = logging.getLogger(__name__)

_WARNINGS_MEMBERS: Final = (
    '"adminapi.warnings@odata.type":' + json.dumps(WARNINGS_TYPE) + ',"@adminapi.warnings":'
).encode()


@dataclass(slots=True)
class Page:
    objects: list[Any]
    warnings: list[str]
    more: bool
    #: The ``value`` array already rendered while reading ahead, for the same page size and $select.
    rendered: bytes | None = None


class RunningCommand:
    """One InvokeCommand's pipeline, read page by page; ``on_end`` is called once with the outcome
    (None, or the error text) when the pipeline ends, fails or is closed early.

    Objects are read into a buffer: :meth:`next_page` takes a page from it (reading more as needed,
    plus one object of look-ahead), and :meth:`prefetch`, run on another thread while the client
    reads the page just sent, fills it with the next page, so that the engine's work for page n+1
    overlaps the client's for page n. An error met while prefetching is kept and fails the next
    page, as it would have without prefetching. One lock serialises every use of the generator.
    """

    def __init__(self, cmdlet: str, items: Iterator[Any], on_end: Callable[[str | None], None]) -> None:
        self.cmdlet = cmdlet
        self.items = items
        self.on_end = on_end
        self._lock = threading.RLock()
        self._buffer: deque[Any] = deque()
        self._warnings: list[str] = []
        self._error: RestError | None = None
        self._exhausted = False
        self._ended = False
        self._rendered: tuple[int, tuple[str, ...] | None, bytes] | None = None

    def _fill(self, wanted: int) -> None:
        """Read until ``wanted`` objects are buffered, the pipeline ends or it fails. Lock held."""
        buffer, warnings = self._buffer, self._warnings
        if self._exhausted or self._error is not None or len(buffer) >= wanted:
            return
        try:
            for item in self.items:
                if isinstance(item, ErrorRecord):
                    raise CmdletError(item, terminating=False)
                if isinstance(item, WarningRecord | InformationalRecord):
                    warnings.append(item.message)
                    continue
                if type(item).__name__.endswith("Record"):
                    continue  # verbose and progress records: no place for them in a REST answer
                buffer.append(item)
                if len(buffer) >= wanted:
                    return
            self._exhausted = True
        except CmdletError as exc:
            self._error = from_record(exc.record)
            self.close(exc.record.message)
        except Exception as exc:
            # Kept like a cmdlet error: a failure met while prefetching must not look like the end.
            log.exception("the pipeline of %s failed", self.cmdlet)
            self._error = error_to_rest(exc)
            self.close(f"{type(exc).__name__}: {exc}")

    def next_page(self, size: int, names: Sequence[str] | None = None) -> Page:
        """Up to ``size`` objects; :class:`RestError` when the cmdlet fails (the command is then closed)."""
        with self._lock:
            self._fill(size + 1)  # one more: a page announces more only when more exist
            warnings, self._warnings = self._warnings, []
            rendered, self._rendered = self._rendered, None
            if self._error is not None:
                error, self._error = self._error, None
                self._buffer.clear()
                error.warnings = warnings
                raise error
            buffer = self._buffer
            objects = [buffer.popleft() for _ in range(min(size, len(buffer)))]
            more = bool(buffer)
            if not more:
                self.close(None)
            ready = rendered[2] if rendered is not None and rendered[:2] == (len(objects), _names_key(names)) else None
            return Page(objects, warnings, more, ready)

    def prefetch(self, size: int, names: Sequence[str] | None, writer: JsonWriter) -> None:
        """Read and render the next page ahead (on a worker thread, while the client reads the page
        just sent); failures are kept for :meth:`next_page`."""
        with self._lock:
            if self._ended:
                return
            self._fill(size + 1)
            if self._error is None and len(self._buffer) > size:  # a full page, as next_page will take
                objects = list(itertools.islice(self._buffer, size))
                self._rendered = (size, _names_key(names), render_objects(objects, writer, names))

    def close(self, error: str | None = "The command was not read to its end.") -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
            close = getattr(self.items, "close", None)
            try:
                if close is not None:
                    close()
            finally:
                self.on_end(error)


def _names_key(names: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if names is None else tuple(n.lower() for n in names)


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
        page.rendered if page.rendered is not None else render_objects(page.objects, writer, names),
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
