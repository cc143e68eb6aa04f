"""Remote PowerShell sessions on behalf of a customer: open, invoke, stream, close, never leak.

:func:`open_session` (async) and :func:`connect` (sync) open a runspace pool with the configuration
``Microsoft.Exchange`` at ``<uri>?DelegatedOrg=<org>``: WS-Man Create with the pool's PSRP messages,
then Receives until psrpcore's client pool says Opened. A pipeline is a Command carrying the
CREATE_PIPELINE fragments, Receives (long-polls, retried on ``TimedOut``) until the CommandState is
Done, and a Signal terminate that releases it on the server.

Output objects skip psrpcore's generic deserialiser: fragments are reassembled here and each
PIPELINE_OUTPUT payload goes to :func:`_decode` (the toolkit's fast CLIXML reader); every other
message (state, warnings, errors, progress) goes through psrpcore's state machine.

Sessions cannot leak: ``close()`` is idempotent (terminate running pipelines, then Delete), both
classes are context managers, Ctrl-C during a sync call stops the pipeline and closes the session,
and every open session is in a registry that is closed when the interpreter exits.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import contextlib
import logging
import os
import struct
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psrpcore
from psrpcore.types import PSInvocationState, PSRPMessageType, RunspacePoolState

from aobo.toolkit import wsman
from aobo.toolkit.errors import CommandError, ConnectError, ToolkitError, TransientError, WSManFault
from aobo.toolkit.transport import READ_MARGIN, CredentialLike, Transport

__all__ = [
    "AsyncSession",
    "InvokeResult",
    "PipelineStream",
    "Progress",
    "Session",
    "SyncPipelineStream",
    "connect",
    "endpoint_url",
    "open_session",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_OPERATION_TIMEOUT = 20.0
CONFIGURATION = "Microsoft.Exchange"
_FINAL_STATES = frozenset({PSInvocationState.Completed, PSInvocationState.Failed, PSInvocationState.Stopped})
_FRAGMENT = struct.Struct(">QQBI")
_PIPELINE_OUTPUT = PSRPMessageType.PipelineOutput.value
_CLOSE_TIMEOUT = 15.0


# ------------------------------------------------------------------------------------------------ decoding


def _psrpcore_loads(data: bytes) -> Any:
    """psrpcore's generic deserialiser: the fallback while the toolkit's own reader is missing."""
    from defusedxml.ElementTree import fromstring
    from psrpcore.types import deserialize

    return deserialize(fromstring(data), None)  # type: ignore[arg-type]  # no SecureStrings expected


try:
    from aobo.toolkit.clixml import loads as _loads
except ImportError:  # pragma: no cover - the reader lands separately
    _loads = _psrpcore_loads


def _decode(data: bytes) -> Any:
    """One PIPELINE_OUTPUT payload (CLIXML) as a record."""
    return _loads(data)


class _Defragmenter:
    """PSRP fragments ([MS-PSRP] 2.2.4) → whole messages, kept apart per object id."""

    def __init__(self) -> None:
        self._pending: dict[int, list[bytes]] = {}

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        offset, size = 0, len(data)
        while offset < size:
            if size - offset < _FRAGMENT.size:
                raise ConnectError("The server sent a truncated PSRP fragment header.")
            object_id, fragment_id, flags, length = _FRAGMENT.unpack_from(data, offset)
            start = offset + _FRAGMENT.size
            offset = start + length
            if offset > size:
                raise ConnectError("The server sent a PSRP fragment that is cut short.")
            blob = data[start:offset]
            if flags == 3 and object_id not in self._pending:  # the usual case: a whole message
                out.append((object_id, blob))
                continue
            parts = self._pending.setdefault(object_id, [])
            if fragment_id != len(parts):
                raise ConnectError(f"PSRP fragment {fragment_id} of object {object_id} arrived out of order.")
            parts.append(blob)
            if flags & 2:
                out.append((object_id, b"".join(self._pending.pop(object_id))))
        return out


# ------------------------------------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress record (Write-Progress)."""

    activity: str
    status: str
    percent_complete: int
    seconds_remaining: int = -1


def _name(value: Any) -> str:
    return str(getattr(value, "name", value) or "")


def _type_name(obj: Any) -> str:
    names = getattr(getattr(obj, "PSObject", None), "type_names", None) or []
    return names[0].removeprefix("Deserialized.") if names else ""


def _command_error(record: Any, *, terminating: bool = False) -> CommandError:
    """A psrpcore ErrorRecord as Exchange's error: message, FullyQualifiedErrorId, category, type."""
    info = getattr(record, "CategoryInfo", None)
    exception = getattr(record, "Exception", None)
    target = getattr(record, "TargetObject", None)
    return CommandError(
        str(record),
        fully_qualified_error_id=str(getattr(record, "FullyQualifiedErrorId", "") or ""),
        category=_name(getattr(info, "Category", None)) or "NotSpecified",
        exception_type=_type_name(exception),
        target_object=target,
        reason=str(getattr(info, "Reason", "") or ""),
        activity=str(getattr(info, "Activity", "") or ""),
        terminating=terminating,
    )


class InvokeResult(Sequence[Any]):
    """The output records of one pipeline, plus what it wrote to the other streams."""

    def __init__(self, output: list[Any], stream: BatchStream) -> None:
        self.output = output
        self.warnings: list[str] = stream.warnings
        self.errors: list[CommandError] = stream.errors
        self.information: list[str] = stream.information
        self.verbose: list[str] = stream.verbose
        self.progress: list[Progress] = stream.progress
        self.state: str = stream.state

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self.output[index]

    def __len__(self) -> int:
        return len(self.output)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.output)

    @property
    def had_errors(self) -> bool:
        return bool(self.errors)

    def raise_for_errors(self) -> InvokeResult:
        """Raise the first non-terminating error, for callers who want every error to stop them."""
        if self.errors:
            raise self.errors[0]
        return self

    def __repr__(self) -> str:
        return f"<InvokeResult {len(self.output)} objects, {len(self.warnings)} warnings, {len(self.errors)} errors>"


# ------------------------------------------------------------------------------------------------ commands

_NO_SWITCH = object()


def _switch_marker() -> object:
    """``grammar.SWITCH`` when the grammar module is there (imported late: it is optional here)."""
    try:
        from aobo.toolkit import grammar
    except ImportError:
        return _NO_SWITCH
    return getattr(grammar, "SWITCH", _NO_SWITCH)


_Spec = tuple[str, list[tuple[str | None, Any]]]


def _is_bare_name(text: str) -> bool:
    return bool(text) and not any(c.isspace() or c in "|;'\"`$@(){}," for c in text)


def _parse_line(text: str) -> list[Any]:
    try:
        from aobo.toolkit import grammar
    except ImportError:
        raise ValueError(f"{text!r} is a command line, and the grammar module is not available") from None
    return list(grammar.parse(text))


def _command_specs(command: Any, parameters: dict[str, Any]) -> list[_Spec]:
    """A name, a command line, a Command or a pipeline of Commands → (name, parameters) per command.

    Keyword parameters go to the last command of the pipeline, as PowerShell binds them.
    """
    if isinstance(command, str):
        commands: list[Any] = [command] if _is_bare_name(command) else _parse_line(command)
    elif hasattr(command, "name") and hasattr(command, "parameters"):
        commands = [command]
    elif isinstance(command, Iterable):
        commands = list(command)
    else:
        raise TypeError(f"cannot invoke {type(command).__name__}: pass a cmdlet name, a Command or a list of them")
    if not commands:
        raise ValueError("an empty pipeline cannot be invoked")
    switch = _switch_marker()
    specs: list[_Spec] = []
    for item in commands:
        if isinstance(item, str):
            specs.append((item, []))
        else:
            pairs = [(n, True if v is switch else v) for n, v in item.parameters]
            specs.append((str(item.name), pairs))
    specs[-1][1].extend(parameters.items())
    return specs


def _build_powershell(specs: list[_Spec]) -> Callable[[psrpcore.ClientRunspacePool], psrpcore.ClientPowerShell]:
    def build(pool: psrpcore.ClientRunspacePool) -> psrpcore.ClientPowerShell:
        ps = psrpcore.ClientPowerShell(pool, no_input=True)
        for name, pairs in specs:
            ps.add_command(name)
            for pname, value in pairs:
                ps.add_parameter(pname, value)
        return ps

    return build


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end from synchronous code, also from code already inside an event loop
    (a notebook), where ``asyncio.run`` would refuse."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def endpoint_url(uri: str, org: str | None) -> str:
    """``uri`` with ``DelegatedOrg=<org>`` (replacing any, keeping the other query parameters)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConnectError(f"{uri!r} is not an http(s) endpoint such as https://host/powershell-liveid")
    if parts.username is not None or parts.password is not None:
        # It would end up in the WS-Man To header, error messages and the metadata cache.
        raise ConnectError("the endpoint URI must not carry a user name or password; use a credential")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "delegatedorg"]
    if org:
        query.append(("DelegatedOrg", org))
    return urlunsplit(parts._replace(query=urlencode(query)))


# ------------------------------------------------------------------------------------------------ streams


class BatchStream:
    """Output records of one command as they arrive (``async for``), and its other streams so far.

    The transport fills ``_batches``: an async generator yielding lists of records (a PSRP Receive,
    a REST page), which writes the other streams on this object as it goes. Leaving the loop early
    (``break``, an exception) closes the generator, which releases the command on the server.
    """

    _batches: AsyncIterator[list[Any]]

    def __init__(self, state: str) -> None:
        self.warnings: list[str] = []
        self.errors: list[CommandError] = []
        self.information: list[str] = []
        self.verbose: list[str] = []
        self.progress: list[Progress] = []
        self.state = state
        self.failure: CommandError | None = None
        self._buffer: collections.deque[Any] = collections.deque()

    def __aiter__(self) -> BatchStream:
        return self

    async def __anext__(self) -> Any:
        while not self._buffer:
            self._buffer.extend(await self._batches.__anext__())
        return self._buffer.popleft()

    async def next_batch(self) -> list[Any] | None:
        """The records of the next batch, or None at the end (for the sync facade: one hop per batch)."""
        if self._buffer:
            batch = list(self._buffer)
            self._buffer.clear()
            return batch
        try:
            return await self._batches.__anext__()
        except StopAsyncIteration:
            return None

    async def collect(self) -> InvokeResult:
        output: list[Any] = list(self._buffer)
        self._buffer.clear()
        async for batch in self._batches:
            output.extend(batch)
        return InvokeResult(output, self)

    async def aclose(self) -> None:
        await self._batches.aclose()  # type: ignore[attr-defined]  # an async generator

    async def __aenter__(self) -> BatchStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class PipelineStream(BatchStream):
    """One PSRP pipeline's output, a Receive at a time."""

    def __init__(self, session: AsyncSession, build: Callable[[psrpcore.ClientRunspacePool], Any]) -> None:
        super().__init__(PSInvocationState.NotStarted.name)
        self._batches = session._run(build, self)

    def _on_event(self, event: psrpcore.PSRPEvent) -> None:
        if isinstance(event, psrpcore.WarningRecordEvent):
            self.warnings.append(str(event.record.Message))
        elif isinstance(event, psrpcore.ErrorRecordEvent):
            self.errors.append(_command_error(event.record))
        elif isinstance(event, psrpcore.InformationRecordEvent):
            self.information.append(str(event.record.MessageData))
        elif isinstance(event, psrpcore.VerboseRecordEvent):
            self.verbose.append(str(event.record.Message))
        elif isinstance(event, psrpcore.ProgressRecordEvent):
            rec = event.record
            self.progress.append(
                Progress(
                    str(rec.Activity or ""),
                    str(rec.StatusDescription or ""),
                    int(rec.PercentComplete),
                    int(rec.SecondsRemaining),
                )
            )
        elif isinstance(event, psrpcore.PipelineStateEvent):
            self.state = event.state.name
            if event.state == PSInvocationState.Failed:
                reason = event.reason
                self.failure = (
                    _command_error(reason, terminating=True)
                    if reason is not None
                    else CommandError("The pipeline failed.", terminating=True)
                )
        elif isinstance(event, psrpcore.PipelineHostCallEvent):
            log.warning("ignoring host call %s: this client has no interactive host", event.method_identifier)


# ------------------------------------------------------------------------------------------------ async session


class AsyncSession:
    """One open runspace pool on the service, acting in ``org``. Use ``async with``."""

    def __init__(
        self,
        url: str,
        org: str | None,
        credential: CredentialLike,
        *,
        ca_file: str | Path | None = None,
        insecure: bool = False,
        operation_timeout: float = DEFAULT_OPERATION_TIMEOUT,
        max_envelope_size: int = wsman.MAX_ENVELOPE_SIZE,
        connect_timeout: float = 15.0,
        configuration: str = CONFIGURATION,
    ) -> None:
        self.url = url
        self.org = org
        self.operation_timeout = operation_timeout
        self.max_envelope_size = max_envelope_size
        self.resource_uri = f"http://schemas.microsoft.com/powershell/{configuration}"
        self.shell_id = str(uuid.uuid4()).upper()
        self._credential = credential
        self._transport_options: dict[str, Any] = {
            "ca_file": ca_file,
            "insecure": insecure,
            "connect_timeout": connect_timeout,
        }
        self._transport = Transport(url, credential, **self._transport_options)
        self._pool = psrpcore.ClientRunspacePool()
        self._lock = asyncio.Lock()
        self._running: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._created: bool | None = None  # None: a Create may have reached the server
        self._closed = False

    # --- public surface

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def application_private_data(self) -> dict[str, Any]:
        """What the server published when the pool opened (``PSVersionTable`` for Exchange)."""
        return self._pool.application_private_data

    def stream(self, command: Any, /, **parameters: Any) -> PipelineStream:
        """Run a command or pipeline; ``async for record in session.stream("Get-Mailbox", ResultSize="Unlimited")``."""
        return PipelineStream(self, _build_powershell(_command_specs(command, parameters)))

    async def invoke(self, command: Any, /, **parameters: Any) -> InvokeResult:
        """Run a command or pipeline to its end; raise :class:`CommandError` if it fails (terminating error).

        ``command`` is a cmdlet name (``"Get-Mailbox"``), a command line (parsed by the toolkit's grammar),
        a ``grammar.Command`` or a list of them (a pipeline). Keyword arguments are parameters of the last
        command, named as in PowerShell; ``True`` turns a switch on.
        """
        return await self.stream(command, **parameters).collect()

    def stream_pipeline(self, build: Callable[[psrpcore.ClientRunspacePool], Any]) -> PipelineStream:
        """Run any psrpcore client pipeline (e.g. ``ClientGetCommandMetadata``) that ``build`` makes on the pool."""
        return PipelineStream(self, build)

    @property
    def username(self) -> str:
        """The account the session signed in with (never its password)."""
        return str(self._credential.username)

    async def import_commands(self, names: Any = None, **options: Any) -> Any:
        """Import-PSSession for Python: see :func:`aobo.toolkit.importer.aimport_commands`."""
        from aobo.toolkit.importer import aimport_commands

        return await aimport_commands(self, names, **options)

    async def close(self) -> None:
        """Terminate running pipelines, then remove the session on the server (WS-Man Delete). Idempotent;
        network failures are logged, not raised (the server expires the session after its idle timeout)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._close_on_server()
        finally:
            _unregister(self)

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<AsyncSession {self.org or '(own tenant)'} shell={self.shell_id} {state}>"

    # --- opening

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        _register(self)
        try:
            self._pool.open()
            creation = self._outgoing()
            request = wsman.create(
                self.url,
                creation,
                shell_id=self.shell_id,
                resource_uri=self.resource_uri,
                operation_timeout=self.operation_timeout,
                max_envelope_size=self.max_envelope_size,
            )
            try:
                root = wsman.check(await self._transport.post(request))
            except TransientError:
                raise  # the Create may have reached the server: close() deletes the ShellId we chose
            except ToolkitError:
                self._created = False  # a fault, 401 or TLS refusal: definitely no shell
                raise
            self._created = True
            self.shell_id = wsman.shell_id_of(root)
            await self._receive_until_opened()
        except BaseException:
            await self.close()
            raise

    async def _receive_until_opened(self) -> None:
        while self._pool.state not in (RunspacePoolState.Opened, RunspacePoolState.Broken, RunspacePoolState.Closed):
            received = await self._receive(None)
            if received is None:
                continue
            for object_id, blob in _Defragmenter().feed(received.data_for(None)):
                for event in self._feed_psrpcore(object_id, blob, None):
                    if isinstance(event, psrpcore.RunspacePoolStateEvent) and event.reason is not None:
                        raise ConnectError(f"The runspace pool could not be opened: {event.reason}")
        if self._pool.state != RunspacePoolState.Opened:
            raise ConnectError(f"The runspace pool could not be opened (state {self._pool.state.name}).")

    # --- pipelines

    async def _run(
        self, build: Callable[[psrpcore.ClientRunspacePool], Any], sink: PipelineStream
    ) -> AsyncIterator[list[Any]]:
        """Start a pipeline and yield its output record batches (one per Receive) until it ends."""
        if self._closed:
            raise ConnectError("The session is closed.")
        async with self._lock:
            ps = build(self._pool)
            command_id = str(ps.pipeline_id).upper()
            ps.start()
            self._running[command_id] = ps
            pending: asyncio.Future[wsman.Received | None] | None = None
            try:
                await self._start_command(command_id)
                defrag = _Defragmenter()
                pending = asyncio.ensure_future(self._receive(command_id))
                while True:
                    received = await pending
                    pending = None
                    if received is None:  # TimedOut: the pipeline is still working
                        pending = asyncio.ensure_future(self._receive(command_id))
                        continue
                    if not received.done:  # ask for more while this batch is decoded and consumed
                        pending = asyncio.ensure_future(self._receive(command_id))
                    batch = self._process(defrag, received.data_for(command_id), ps, sink)
                    if batch:
                        yield batch
                    if received.done or ps.state in _FINAL_STATES:
                        break
            finally:
                if pending is not None and not pending.done():
                    pending.cancel()
                    with contextlib.suppress(BaseException):
                        await pending
                await self._release(command_id, ps)
        if sink.failure is not None:
            raise sink.failure
        if ps.state == PSInvocationState.Stopped:
            raise CommandError(
                "The pipeline has been stopped.", fully_qualified_error_id="PipelineStopped", terminating=True
            )

    async def _start_command(self, command_id: str) -> None:
        budget = wsman.receive_budget(self.max_envelope_size)
        first = self._pool.data_to_send(budget)
        if first is None:
            raise ConnectError("psrpcore produced no CREATE_PIPELINE message.")
        root = wsman.check(
            await self._transport.post(
                wsman.command(
                    self.url,
                    self.shell_id,
                    command_id,
                    first.data,
                    resource_uri=self.resource_uri,
                    operation_timeout=self.operation_timeout,
                    max_envelope_size=self.max_envelope_size,
                )
            )
        )
        wsman.command_id_of(root)
        while (more := self._pool.data_to_send(budget)) is not None:  # a CREATE_PIPELINE larger than one envelope
            request = wsman.send(
                self.url, self.shell_id, more.data, command_id=command_id, resource_uri=self.resource_uri
            )
            wsman.check(await self._transport.post(request))

    def _process(self, defrag: _Defragmenter, data: bytes, ps: Any, sink: PipelineStream) -> list[Any]:
        """Decode one Receive's data: output records are returned, other messages go to psrpcore."""
        out: list[Any] = []
        for object_id, blob in defrag.feed(data):
            if int.from_bytes(blob[4:8], "little") == _PIPELINE_OUTPUT:
                payload = blob[40:]
                out.append(_decode(payload) if payload else None)
                continue
            for event in self._feed_psrpcore(object_id, blob, ps.pipeline_id):
                sink._on_event(event)
        return out

    def _feed_psrpcore(self, object_id: int, blob: bytes, pipeline_id: uuid.UUID | None) -> list[psrpcore.PSRPEvent]:
        fragment = _FRAGMENT.pack(object_id, 0, 3, len(blob)) + blob
        self._pool.receive_data(psrpcore.PSRPPayload(fragment, psrpcore.StreamType.default, pipeline_id))
        events = []
        while (event := self._pool.next_event()) is not None:
            events.append(event)
        return events

    async def _release(self, command_id: str, ps: Any) -> None:
        """Signal terminate (frees the pipeline on the server) and forget it locally."""
        try:
            if not self._closed and command_id in self._running:
                await self._signal(self._transport, command_id)
        finally:
            self._running.pop(command_id, None)
            self._pool.pipeline_table.pop(ps.pipeline_id, None)

    async def _signal(self, transport: Transport, command_id: str) -> None:
        request = wsman.signal(self.url, self.shell_id, command_id, resource_uri=self.resource_uri)
        try:
            await transport.post(request, read_timeout=_CLOSE_TIMEOUT)
        except ToolkitError as exc:  # already gone (closed, expired): nothing left to free
            log.debug("terminate of command %s: %s", command_id, exc)

    async def _receive(self, command_id: str | None) -> wsman.Received | None:
        request = wsman.receive(
            self.url,
            self.shell_id,
            command_id,
            resource_uri=self.resource_uri,
            operation_timeout=self.operation_timeout,
            max_envelope_size=self.max_envelope_size,
        )
        try:
            data = await self._transport.post(request, read_timeout=self.operation_timeout + READ_MARGIN)
        except WSManFault as fault:
            if fault.timed_out:
                return None
            raise
        return wsman.parse_receive(data)

    def _outgoing(self) -> bytes:
        data = b""
        while (payload := self._pool.data_to_send()) is not None:
            data += payload.data
        return data

    # --- closing

    async def _close_on_server(self) -> None:
        own_loop = self._loop is None or self._loop is asyncio.get_running_loop()
        # The session's client belongs to the loop that opened it; from another loop (at exit, after
        # asyncio.run ended) a fresh client does the closing.
        transport = self._transport if own_loop else Transport(self.url, self._credential, **self._transport_options)
        try:
            for command_id in list(self._running):
                await self._signal(transport, command_id)
            if self._created is not False:
                await self._delete(transport)
        finally:
            self._running.clear()
            with contextlib.suppress(Exception):
                await transport.aclose()

    async def _delete(self, transport: Transport) -> None:
        request = wsman.delete(self.url, self.shell_id, resource_uri=self.resource_uri)
        try:
            await transport.post(request, read_timeout=_CLOSE_TIMEOUT)
        except WSManFault as fault:  # the shell is already gone (expired, never created)
            log.debug("delete of session %s: %s", self.shell_id, fault)
        except ToolkitError as exc:
            log.warning("could not remove session %s on %s: %s", self.shell_id, self.org or "own tenant", exc)


async def open_session(
    uri: str,
    credential: CredentialLike,
    org: str | None,
    *,
    ca_file: str | Path | None = None,
    insecure: bool = False,
    operation_timeout: float = DEFAULT_OPERATION_TIMEOUT,
    max_envelope_size: int = wsman.MAX_ENVELOPE_SIZE,
    connect_timeout: float = 15.0,
    configuration: str = CONFIGURATION,
) -> AsyncSession:
    """Open a session at ``<uri>?DelegatedOrg=<org>`` (``org`` None: the account's own tenant).

    Raises :class:`AuthError` (wrong password, not a customer), :class:`SessionLimitError` (three sessions
    already open), :class:`ConnectError` (TLS, protocol) or :class:`TransientError` (network).
    """
    session = AsyncSession(
        endpoint_url(uri, org),
        org,
        credential,
        ca_file=ca_file,
        insecure=insecure,
        operation_timeout=operation_timeout,
        max_envelope_size=max_envelope_size,
        connect_timeout=connect_timeout,
        configuration=configuration,
    )
    await session._open()
    return session


# ------------------------------------------------------------------------------------------------ registry

_OPEN: set[AsyncSession] = set()
_OPEN_LOCK = threading.Lock()


def _register(session: AsyncSession) -> None:
    with _OPEN_LOCK:
        _OPEN.add(session)


def _unregister(session: AsyncSession) -> None:
    with _OPEN_LOCK:
        _OPEN.discard(session)


def open_sessions() -> list[AsyncSession]:
    """Sessions of this process that are not closed yet."""
    with _OPEN_LOCK:
        return list(_OPEN)


def _close_blocking(session: AsyncSession, timeout: float = _CLOSE_TIMEOUT) -> None:
    """Close from outside any running loop: on the session's loop if it still runs, else a fresh one."""
    loop = session._loop
    if loop is not None and loop.is_running():
        asyncio.run_coroutine_threadsafe(session.close(), loop).result(timeout)
    elif loop is not None and not loop.is_closed():
        loop.run_until_complete(asyncio.wait_for(session.close(), timeout))
    else:
        asyncio.run(asyncio.wait_for(session.close(), timeout))


def close_all_sessions() -> None:
    """Close every session still open (run at interpreter exit)."""
    for session in open_sessions():
        try:
            _close_blocking(session)
        except BaseException as exc:
            log.warning("could not close session %s: %s", session.shell_id, exc)


def _install_exit_hook() -> None:
    # threading's exit hooks run before concurrent.futures refuses new work (which asyncio needs for DNS)
    # and while the sync facade's loop thread still runs; atexit is the fallback.
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        with contextlib.suppress(RuntimeError):
            register(close_all_sessions)
    atexit.register(close_all_sessions)


_install_exit_hook()


# ------------------------------------------------------------------------------------------------ sync facade


class _LoopThread:
    """One event loop in a daemon thread, shared by every sync session of the process."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @classmethod
    def loop(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None or cls._thread is None or not cls._thread.is_alive():
                cls._loop = asyncio.new_event_loop()
                cls._thread = threading.Thread(
                    target=cls._run, args=(cls._loop,), name="aobo-toolkit-loop", daemon=True
                )
                cls._thread.start()
            return cls._loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()


def _call(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], on_interrupt: Callable[[], None]) -> T:
    """Run ``coro`` on the loop thread and wait; Ctrl-C cancels it and runs ``on_interrupt``."""
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except KeyboardInterrupt:
        future.cancel()
        on_interrupt()
        raise


class SyncPipelineStream(Iterator[Any]):
    """:class:`PipelineStream` for synchronous code: one hop to the loop thread per Receive, not per record."""

    def __init__(self, session: Session, inner: BatchStream) -> None:
        self._session = session
        self._inner = inner
        self._buffer: collections.deque[Any] = collections.deque()
        self._done = False

    warnings = property(lambda self: self._inner.warnings)
    errors = property(lambda self: self._inner.errors)
    information = property(lambda self: self._inner.information)
    verbose = property(lambda self: self._inner.verbose)
    progress = property(lambda self: self._inner.progress)
    state = property(lambda self: self._inner.state)

    def __iter__(self) -> SyncPipelineStream:
        return self

    def __next__(self) -> Any:
        while not self._buffer:
            if self._done:
                raise StopIteration
            batch = self._session._call(self._inner.next_batch())
            if batch is None:
                self._done = True
                raise StopIteration
            self._buffer.extend(batch)
        return self._buffer.popleft()

    def close(self) -> None:
        """Release the pipeline on the server if the loop ended early."""
        if not self._done:
            self._done = True
            self._session._call(self._inner.aclose())

    def __enter__(self) -> SyncPipelineStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Session:
    """A synchronous session (the async core runs on a shared background loop). Use ``with``."""

    def __init__(self, inner: AsyncSession, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop

    @property
    def org(self) -> str | None:
        return self._inner.org

    @property
    def url(self) -> str:
        return self._inner.url

    @property
    def shell_id(self) -> str:
        return self._inner.shell_id

    @property
    def closed(self) -> bool:
        return self._inner.closed

    @property
    def application_private_data(self) -> dict[str, Any]:
        return self._inner.application_private_data

    @property
    def async_session(self) -> AsyncSession:
        return self._inner

    def invoke(self, command: Any, /, **parameters: Any) -> InvokeResult:
        """See :meth:`AsyncSession.invoke`."""
        return self._call(self._inner.invoke(command, **parameters))

    def stream(self, command: Any, /, **parameters: Any) -> SyncPipelineStream:
        """See :meth:`AsyncSession.stream`: ``for record in session.stream("Get-Mailbox")``."""
        return SyncPipelineStream(self, self._inner.stream(command, **parameters))

    def stream_pipeline(self, build: Callable[[psrpcore.ClientRunspacePool], Any]) -> SyncPipelineStream:
        return SyncPipelineStream(self, self._inner.stream_pipeline(build))

    @property
    def username(self) -> str:
        return self._inner.username

    def import_commands(self, names: Any = None, **options: Any) -> Any:
        """Import-PSSession for Python: ``ex = session.import_commands(); ex.get_mailbox(result_size=5)``.
        See :func:`aobo.toolkit.importer.import_commands`."""
        from aobo.toolkit.importer import import_commands

        return import_commands(self, names, **options)

    def close(self) -> None:
        if not self._inner.closed:
            self._call(self._inner.close())

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return _call(self._loop, coro, self._interrupted)

    def _interrupted(self) -> None:
        """Ctrl-C: the pipeline's task is cancelled (it signals terminate); remove the session too."""
        try:
            _close_blocking(self._inner)
        except Exception as exc:
            log.warning("could not close session %s after Ctrl-C: %s", self._inner.shell_id, exc)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._inner).replace("AsyncSession", "Session", 1)


def connect(
    org: str | None,
    credential: Any,
    uri: str | None = None,
    *,
    ca_file: str | Path | None = None,
    insecure: bool = False,
    operation_timeout: float = DEFAULT_OPERATION_TIMEOUT,
    max_envelope_size: int = wsman.MAX_ENVELOPE_SIZE,
    connect_timeout: float = 15.0,
    transport: str = "rps",
    authority: str | None = None,
    client_id: str | None = None,
    token_cache: str | Path | None = None,
) -> Session:
    """Open a session in ``org`` (a customer's domain or tenant id; None: the account's own tenant).

    ``transport="rps"`` (remote PowerShell): ``uri`` is the endpoint, e.g.
    ``https://host:8443/powershell-liveid`` (default: ``$AOBO_URI``), and ``credential`` a user name
    and password. ``transport="rest"``: Exchange Online's REST API with an OAuth token from
    ``authority`` (default Microsoft's); ``uri`` defaults to ``https://outlook.office365.com`` and
    ``credential`` is a :class:`Credential`, an :class:`aobo.toolkit.auth.DeviceCode`, an
    :class:`aobo.toolkit.auth.AppCredential` or a :class:`aobo.toolkit.auth.TokenProvider`.
    """
    if transport == "rest":
        from aobo.toolkit.rest import connect_rest

        return connect_rest(
            org,
            credential,
            uri=uri,
            authority=authority,
            client_id=client_id,
            ca_file=ca_file,
            insecure=insecure,
            token_cache=token_cache,
        )
    if transport != "rps":
        raise ValueError(f"transport must be 'rps' or 'rest', not {transport!r}")
    uri = uri or os.environ.get("AOBO_URI")
    if not uri:
        raise ConnectError("No endpoint: pass uri= (e.g. https://host:8443/powershell-liveid) or set AOBO_URI.")
    loop = _LoopThread.loop()
    coro = open_session(
        uri,
        credential,
        org,
        ca_file=ca_file,
        insecure=insecure,
        operation_timeout=operation_timeout,
        max_envelope_size=max_envelope_size,
        connect_timeout=connect_timeout,
    )
    return Session(_call(loop, coro, lambda: None), loop)
