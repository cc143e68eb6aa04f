"""The WinRS actions for PowerShell shells: Create, Command, Send, Receive, Signal, Delete, Get, and
Enumerate / Pull / Release of the caller's own shells and commands.

Everything here is protocol logic over parsed requests; :mod:`aobo.frontends.wsman.asgi` is the
HTTP side. Each action returns the response envelope or raises :class:`WSManFault`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from psrpcore.types import PSVersion

from aobo.cmdlets.access import NoManagementRoles, SessionScope, open_scope
from aobo.cmdlets.audit import audit_entries
from aobo.cmdlets.context import CmdletContext, Host
from aobo.cmdlets.metadata import command_metadata
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.registry import Registry
from aobo.cmdlets.roles import roles_for_dap
from aobo.domain.models import User
from aobo.domain.store import Store
from aobo.errors import AccessDenied, SessionLimitExceeded
from aobo.frontends.psrp.runspace import Runspace, RunspaceError, SessionEngine
from aobo.frontends.wsman import faults, responses, xpress
from aobo.frontends.wsman import namespaces as ns
from aobo.frontends.wsman.envelope import WSManRequest, decode_base64
from aobo.frontends.wsman.faults import FaultCode, WSManFault
from aobo.frontends.wsman.shells import Shell, ShellTable
from aobo.settings import Settings

log = logging.getLogger(__name__)

SHELL_RESOURCE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CONFIG_RESOURCE = "http://schemas.microsoft.com/wbem/wsman/1/config"
SUPPORTED_CONFIGURATIONS = frozenset({ns.EXCHANGE_RESOURCE_URI.lower()})
COMMAND_RESOURCE = SHELL_RESOURCE + "/Command"
ACTION_PULL = f"{ns.ENUMERATION}/Pull"
ACTION_RELEASE = f"{ns.ENUMERATION}/Release"
SELECTOR_FILTER = "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter"
#: An enumeration context not pulled to its end is forgotten after this many seconds.
ENUMERATION_TTL = 60.0
#: Open enumeration contexts kept per account; a further Enumerate drops that account's oldest.
MAX_ENUMERATIONS_PER_OWNER = 8
#: Decompressed bytes one Send may carry, all its streams together, in MaxEnvelopeSizes.
XPRESS_EXPANSION = 4


def application_private_data() -> dict[str, Any]:
    """What a Windows PowerShell 5.1 server publishes; clients read PSVersion from it."""
    return {
        "PSVersionTable": {
            "PSVersion": PSVersion("5.1.17763.6414"),
            "PSEdition": "Desktop",
            "PSCompatibleVersions": [PSVersion(v) for v in ("1.0", "2.0", "3.0", "4.0", "5.0", "5.1.17763.6414")],
            "BuildVersion": PSVersion("10.0.17763.6414"),
            "CLRVersion": PSVersion("4.0.30319.42000"),
            "WSManStackVersion": PSVersion("3.0"),
            "PSRemotingProtocolVersion": PSVersion("2.3"),
            "SerializationVersion": PSVersion("1.1.0.1"),
        }
    }


def _log_failure(future: Future[None]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("background task failed", exc_info=exc)


@dataclass(slots=True)
class _Enumeration:
    """Items of a WS-Enumeration not yet pulled, and whose they are."""

    owner_id: int
    items: list[str]
    expires: float


@dataclass(frozen=True, slots=True)
class Caller:
    user: User
    client_ip: str
    delegated_org: str | None
    address: str  # the URL the client used, echoed in ResourceCreated
    ps_version: str | None = None  # what Windows PowerShell appends to the URL; for the log


class WSManService:
    def __init__(self, store: Store, registry: Registry, settings: Settings) -> None:
        self.store = store
        self.registry = registry
        self.settings = settings
        self.shells = ShellTable(settings.max_sessions_per_user)
        # Requests and pipelines get separate threads: pipelines paused for back-pressure must never
        # keep another tenant's Create, Command or Delete waiting.
        self.executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="aobo-request")
        self.pipeline_executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="aobo-pipeline")
        self.loop: asyncio.AbstractEventLoop | None = None
        self._shell_actions = self._action_table()
        # Actions that act on the caller's shells as a set, not on one shell (no ShellId selector).
        self._caller_actions: dict[str, Callable[[WSManRequest, Caller], bytes]] = {
            ns.ACTION_ENUMERATE: self.enumerate,
            ACTION_PULL: self.pull,
            ACTION_RELEASE: self.release,
        }
        self._enumerations: dict[str, _Enumeration] = {}  # touched on the event loop only
        self.receives_answered = 0  # ReceiveResponses that carried data or Done (for tests and stats)

    # ----------------------------------------------------------------- dispatch

    async def handle(self, request: WSManRequest, caller: Caller) -> bytes:
        action = request.action
        if action == ns.ACTION_CREATE:
            return await self.create(request, caller)
        if (on_caller := self._caller_actions.get(action)) is not None:
            return on_caller(request, caller)
        run_on_shell = self._shell_actions.get(action)
        if run_on_shell is None or (action == ns.ACTION_GET and request.resource_uri.lower() == CONFIG_RESOURCE):
            raise faults.action_not_supported(action)
        shell = self._shell_for(request, caller)
        shell.active_requests += 1
        shell.touch()
        try:
            return await run_on_shell(request, shell)
        finally:
            shell.active_requests -= 1
            shell.touch()

    def _action_table(self) -> dict[str, Callable[[WSManRequest, Shell], Awaitable[bytes]]]:
        # Receive waits on the event loop; the others touch psrpcore or the store, so run on a thread.
        return {
            ns.ACTION_RECEIVE: self.receive,
            ns.ACTION_COMMAND: lambda r, sh: self._in_thread(self.command, r, sh),
            ns.ACTION_SEND: lambda r, sh: self._in_thread(self.send, r, sh),
            ns.ACTION_SIGNAL: lambda r, sh: self._in_thread(self.signal, r, sh),
            ns.ACTION_DELETE: self._delete,
            ns.ACTION_GET: self._get,
        }

    async def _delete(self, request: WSManRequest, shell: Shell) -> bytes:
        await self._in_thread(self.close_shell, shell)
        return responses.delete_response(request)

    async def _get(self, request: WSManRequest, shell: Shell) -> bytes:
        return responses.get_shell_response(request, self._info(shell))

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _shell_for(self, request: WSManRequest, caller: Caller) -> Shell:
        shell_id = request.shell_id or ""
        shell = self.shells.get(shell_id) if shell_id else None
        # Another account's shell looks exactly like a missing one.
        if shell is None or shell.scope.caller.id != caller.user.id:
            raise faults.unknown_shell(shell_id)
        return shell

    # ----------------------------------------------------------------- Create

    async def create(self, request: WSManRequest, caller: Caller) -> bytes:
        resource = request.resource_uri
        if not resource.lower().startswith(ns.POWERSHELL_RESOURCE_PREFIX.lower()):
            raise WSManFault(
                FaultCode.INVALID_RESOURCE_URI,
                f"The WS-Management service cannot process the request. The resource URI {resource} is not supported.",
                subcode="w:DestinationUnreachable",
            )
        if resource.lower() not in SUPPORTED_CONFIGURATIONS:
            name = resource[len(ns.POWERSHELL_RESOURCE_PREFIX) :]
            raise WSManFault(
                FaultCode.INVALID_RESOURCE_URI,
                f"The WS-Management service cannot process the request. Cannot find the {name} session "
                "configuration in the WSMan: drive on the aobo computer.",
                subcode="w:InvalidResourceURI",
            )
        version = request.options.get("protocolversion", "")
        if not version.split(".")[0] == "2":
            raise WSManFault(
                FaultCode.INVALID_OPTIONS,
                "The WS-Management service cannot process the request because the protocolversion "
                f"option is missing or not supported ('{version}'); PowerShell remoting needs 2.x.",
                subcode="w:InvalidOptions",
            )
        compression = (request.compression or "").lower()
        if compression not in ("", "none", "xpress"):
            raise WSManFault(
                FaultCode.INVALID_OPTIONS,
                f"The WS-Management service does not support '{request.compression}' stream compression; "
                "it supports xpress.",
                subcode="w:InvalidOptions",
            )
        shell_el = request.first(ns.SHELL, "Shell")
        if shell_el is None:
            raise faults.invalid_message("Create needs a rsp:Shell element.")
        creation = shell_el.find(f"{{{ns.POWERSHELL}}}creationXml")
        if creation is None:
            raise faults.invalid_message("Create needs creationXml with the PSRP session messages.")
        creation_bytes = decode_base64(creation.text, "creationXml")
        shell_id = (shell_el.get("ShellId") or str(uuid.uuid4())).upper()
        try:
            uuid.UUID(shell_id)
        except ValueError:
            raise faults.invalid_message(f"ShellId '{shell_id}' is not a GUID.") from None

        # creationXml is never compressed, even when the client asks for xpress (MS-WSMV <134>).
        shell = await self._in_thread(self._open, request, caller, shell_id, creation_bytes, compression == "xpress")
        return responses.create_response(request, caller.address, self._info(shell))

    def _open(self, request: WSManRequest, caller: Caller, shell_id: str, creation: bytes, compressed: bool) -> Shell:
        """Reserve a session slot and open the shell, on one thread: a client that hangs up mid-Create
        cannot make the slot count and the shell table disagree."""
        owner_key = caller.user.user_principal_name.lower()
        try:
            self.shells.reserve(owner_key)
        except SessionLimitExceeded as exc:
            raise WSManFault(FaultCode.QUOTA_MAX_SHELLS, str(exc), subcode="w:QuotaLimit") from None
        try:
            return self._open_reserved(request, caller, shell_id, creation, owner_key, compressed)
        except BaseException:
            self.shells.release(owner_key)
            raise

    def _open_reserved(
        self, request: WSManRequest, caller: Caller, shell_id: str, creation: bytes, owner_key: str, compressed: bool
    ) -> Shell:
        # Re-read the account: RemotePowerShellEnabled or lock-out may have changed since it was cached.
        user = self.store.find_user(caller.user.user_principal_name)
        if user is None or user.locked_out:
            raise faults.access_denied()
        try:
            scope = open_scope(self.store, user, caller.delegated_org)
        except AccessDenied as exc:
            raise faults.access_denied(str(exc)) from None
        shell: Shell | None = None
        # The engine reads the shell's scope at each pipeline: _recheck_scope may replace it.
        engine = self._engine(lambda: shell.scope if shell is not None else scope, shell_id)
        runspace = Runspace(engine, application_private_data(), self.loop, self._submit)
        try:
            runspace.open(creation)
        except RunspaceError as exc:
            raise faults.invalid_message(str(exc)) from None
        shell = Shell(
            shell_id,
            owner_key,
            scope,
            runspace,
            request.resource_uri,
            caller.client_ip,
            self.settings.idle_timeout,
            compressed=compressed,
        )
        try:
            self.shells.add(shell)
        except KeyError:
            runspace.close()
            # Same words whoever owns the other shell: a ShellId tells nothing about other accounts.
            raise faults.invalid_message(f"ShellId {shell_id} cannot be used for a new shell.") from None
        log.info(
            "session %s opened by %s for %s (PSVersion %s, %s)",
            shell_id,
            user.user_principal_name,
            scope.tenant.initial_domain,
            caller.ps_version or "not given",
            "xpress" if shell.compressed else "no compression",
        )
        return shell

    def _submit(self, fn: Callable[[], None]) -> None:
        self.pipeline_executor.submit(fn).add_done_callback(_log_failure)

    def _engine(self, current: Callable[[], SessionScope], session_id: str) -> SessionEngine:
        store, registry = self.store, self.registry

        def context(is_stopping: Callable[[], bool], host: Host | None = None) -> CmdletContext:
            scope = current()
            return CmdletContext(
                store, scope.caller, scope.caller_tenant, scope.tenant, scope.roles, session_id, is_stopping, host
            )

        def run_with_host(
            invocations: list[CommandInvocation],
            input: list[Any] | None,
            is_stopping: Callable[[], bool],
            host: Host | None,
        ) -> Any:
            # ``host`` is the client's interactive host (PSRP host calls), None when it has no UI.
            return run_pipeline(context(is_stopping, host), registry, invocations, input)

        def run(invocations: list[CommandInvocation], input: list[Any] | None, is_stopping: Callable[[], bool]) -> Any:
            return run_with_host(invocations, input, is_stopping, None)

        def metadata(names: list[str] | None, command_type: int) -> list[Any]:
            return command_metadata(registry, names, command_type, current().roles)

        def audit(invocations: list[CommandInvocation], error: str | None) -> None:
            for entry in audit_entries(context(lambda: False), invocations, error, registry):
                store.write_audit(entry)

        return SessionEngine(run=run, metadata=metadata, audit=audit, run_with_host=run_with_host)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop that serves Receives; pipeline workers wake it when output is ready."""
        self.loop = loop

    def _info(self, shell: Shell) -> responses.ShellInfo:
        now = time.monotonic()
        return responses.ShellInfo(
            shell_id=shell.shell_id,
            resource_uri=shell.resource_uri,
            owner=shell.scope.caller.user_principal_name,
            client_ip=shell.client_ip,
            idle_timeout=shell.idle_timeout,
            run_time=now - shell.created,
            inactivity=now - shell.last_used,
            compressed=shell.compressed,
        )

    # ----------------------------------------------------------------- Command / Send / Signal

    def command(self, request: WSManRequest, shell: Shell) -> bytes:
        line = request.first(ns.SHELL, "CommandLine")
        if line is None:
            raise faults.invalid_message("Command needs a rsp:CommandLine element.")
        command_id = (line.get("CommandId") or str(uuid.uuid4())).upper()
        arguments = decode_base64(line.findtext(f"{{{ns.SHELL}}}Arguments"), "command Arguments")
        self._recheck_scope(shell)
        if not shell.claim(command_id):  # of two concurrent Commands with one CommandId, one proceeds
            raise faults.invalid_message(f"A command with CommandId {command_id} already exists.")
        try:
            pid = shell.runspace.create_pipeline(arguments)
        except RunspaceError as exc:
            del shell.commands[command_id]
            raise faults.invalid_message(str(exc)) from None
        shell.commands[command_id] = pid
        return responses.command_response(request, command_id)

    def _recheck_scope(self, shell: Shell) -> None:
        """A removed DAP relationship, an expired or terminated GDAP one, a deleted access
        assignment, a disabled account or a lock-out takes effect on the next command of an open
        session, not at the next session; so does a change in the roles held, both ways."""
        scope = shell.scope
        user = self.store.find_user(scope.caller.user_principal_name)
        if user is None or user.locked_out or not user.remote_powershell_enabled:
            raise faults.access_denied()
        if scope.tenant.id == scope.caller_tenant.id:
            return
        dap = roles_for_dap(user.role_groups)
        if dap and dap == scope.roles and self.store.relationship(scope.caller_tenant.id, scope.tenant.id):
            return  # the session's roles are all DAP's and DAP still holds: the common case, two indexed reads
        try:
            fresh = open_scope(self.store, user, str(scope.tenant.guid))
        except AccessDenied as exc:
            if isinstance(exc, NoManagementRoles):
                raise faults.access_denied(str(exc)) from None
            raise faults.access_denied(
                f'Access is denied. The relationship that let "{user.user_principal_name}" act on behalf of '
                f"'{scope.tenant.initial_domain}' is no longer active."
            ) from None
        if fresh.roles != scope.roles or fresh.entra_roles != scope.entra_roles:
            shell.scope = fresh

    def send(self, request: WSManRequest, shell: Shell) -> bytes:
        send = request.first(ns.SHELL, "Send")
        if send is None:
            raise faults.invalid_message("Send needs a rsp:Send element.")
        # Every stream is read and decoded before any reaches the runspace: a Send refused for one
        # of them leaves nothing half-fed. One budget for all of them: a client cuts its PSRP data
        # to fit the envelope before WinRM compresses it, so a Send never decodes to more than a
        # few envelopes' worth.
        room = XPRESS_EXPANSION * self.settings.max_envelope_size
        inputs: list[tuple[bytes, str, uuid.UUID | None]] = []
        for stream in send.findall(f"{{{ns.SHELL}}}Stream"):
            name = stream.get("Name", "stdin")
            if name not in ("stdin", "pr"):
                raise faults.invalid_message(f"Unknown input stream '{name}'.")
            data = decode_base64(stream.text, "stream data")
            if shell.compressed:
                data = _decompress(data, room)
                room -= len(data)
            command_id = stream.get("CommandId")
            inputs.append((data, name, self._pipeline_for(shell, command_id) if command_id else None))
        for data, name, pid in inputs:
            if data:
                try:
                    shell.runspace.send(data, name, pid)
                except RunspaceError as exc:
                    raise faults.invalid_message(str(exc)) from None
        return responses.send_response(request)

    def signal(self, request: WSManRequest, shell: Shell) -> bytes:
        signal = request.first(ns.SHELL, "Signal")
        if signal is None:
            raise faults.invalid_message("Signal needs a rsp:Signal element.")
        code = (signal.findtext(f"{{{ns.SHELL}}}Code") or "").strip()
        command_id = (signal.get("CommandId") or "").upper()
        if code not in ns.SIGNAL_CTRL_C and code.lower() != ns.SIGNAL_TERMINATE:
            raise faults.invalid_message(f"Unknown signal code '{code}'.")
        pid = self._pipeline_or_retired(shell, command_id)
        if pid is None:  # finished and read: nothing left to stop or close
            if code.lower() == ns.SIGNAL_TERMINATE:
                shell.forget(command_id)  # released: the client may use the CommandId again
            return responses.signal_response(request)
        if code in ns.SIGNAL_CTRL_C:
            shell.runspace.stop(pid)
        elif code.lower() == ns.SIGNAL_TERMINATE:
            shell.runspace.close_pipeline(pid)
            shell.commands.pop(command_id, None)
        return responses.signal_response(request)

    def _pipeline_for(self, shell: Shell, command_id: str) -> uuid.UUID:
        pid = shell.commands.get(command_id.upper())
        if pid is None:
            raise faults.unknown_command(command_id)
        return pid

    def _pipeline_or_retired(self, shell: Shell, command_id: str) -> uuid.UUID | None:
        """The command's pipeline, or None when it finished and was read (a tombstone). The live
        table is read first: ``Shell.retire`` tombstones a command before it leaves the table."""
        pid = shell.commands.get(command_id)
        if pid is None and not shell.is_retired(command_id):
            raise faults.unknown_command(command_id)
        return pid

    # ----------------------------------------------------------------- Receive

    async def receive(self, request: WSManRequest, shell: Shell) -> bytes:
        receive = request.first(ns.SHELL, "Receive")
        if receive is None:
            raise faults.invalid_message("Receive needs a rsp:Receive element.")
        desired = receive.find(f"{{{ns.SHELL}}}DesiredStream")
        command_id = (desired.get("CommandId") or "").upper() if desired is not None else ""
        pid = self._pipeline_or_retired(shell, command_id) if command_id else None
        if command_id and pid is None:  # finished and read before: Done again, with nothing
            return responses.receive_response(request, [], command_id, True, compressed=shell.compressed)
        timeout = self.settings.default_operation_timeout
        if request.operation_timeout is not None:  # PT0S means "answer at once", not "use the default"
            timeout = request.operation_timeout
        timeout = min(timeout, self.settings.max_operation_timeout)
        max_env = min(request.max_envelope_size or self.settings.max_envelope_size, self.settings.max_envelope_size)
        budget = responses.receive_budget(max_env, compressed=shell.compressed)
        shell.runspace.fit_fragments(budget)
        try:
            result = await shell.runspace.receive(pid, budget, timeout)
        except KeyError:
            if not shell.is_retired(command_id):  # closed meanwhile (Signal terminate, retirement)
                raise faults.unknown_command(command_id) from None
            return responses.receive_response(request, [], command_id, True, compressed=shell.compressed)
        if result is None:
            if shell.runspace.closed:
                raise faults.unknown_shell(shell.shell_id)
            raise faults.timed_out()
        chunks, done = result
        self.receives_answered += 1
        if done and pid is not None:
            # Its output is all read: only a tombstone stays, so a pool whose pipelines are never
            # closed keeps serving with flat memory. The tombstone comes first, at once, so the
            # Signal terminate Windows sends next finds it; the pipeline is closed off the loop,
            # and only if it is still this one (a client may reuse the id once it has terminated it).
            run = shell.runspace.pipelines.get(pid)
            shell.retire(command_id)
            with contextlib.suppress(RuntimeError):  # the service is shutting down: close() does it
                self.executor.submit(shell.runspace.close_pipeline, pid, run).add_done_callback(_log_failure)
        return responses.receive_response(request, chunks, command_id or None, done, compressed=shell.compressed)

    # ----------------------------------------------------------------- Enumerate / Pull / Release

    def enumerate(self, request: WSManRequest, caller: Caller) -> bytes:
        """The caller's own shells (or the commands of one of them); never another account's.

        Optimized requests (pypsrp, Windows' PSRP client) get the items at once, up to MaxElements;
        others get a context to Pull them with (Get-WSManInstance -Enumerate).
        """
        body = request.first(ns.ENUMERATION, "Enumerate")
        if body is None:
            raise faults.invalid_message("Enumerate needs a wsen:Enumerate element.")
        items = self._enumeration_items(request, body, caller)
        optimized = body.find(f"{{{ns.WSMAN}}}OptimizeEnumeration") is not None
        if not optimized:
            return responses.enumerate_response(request, None, self._keep_enumeration(caller, items))
        limit = _max_elements(body.findtext(f"{{{ns.WSMAN}}}MaxElements"))
        now_items, rest = items[:limit], items[limit:]
        context = self._keep_enumeration(caller, rest) if rest else None
        return responses.enumerate_response(request, now_items, context)

    def pull(self, request: WSManRequest, caller: Caller) -> bytes:
        body = request.first(ns.ENUMERATION, "Pull")
        if body is None:
            raise faults.invalid_message("Pull needs a wsen:Pull element.")
        context = (body.findtext(f"{{{ns.ENUMERATION}}}EnumerationContext") or "").strip()
        state = self._enumeration_of(context, caller)
        limit = _max_elements(body.findtext(f"{{{ns.ENUMERATION}}}MaxElements"))
        items, state.items = state.items[:limit], state.items[limit:]
        if not state.items:
            del self._enumerations[context]
            return responses.pull_response(request, items, None)
        state.expires = time.monotonic() + ENUMERATION_TTL
        return responses.pull_response(request, items, context)

    def release(self, request: WSManRequest, caller: Caller) -> bytes:
        body = request.first(ns.ENUMERATION, "Release")
        context = (body.findtext(f"{{{ns.ENUMERATION}}}EnumerationContext") or "").strip() if body is not None else ""
        self._enumeration_of(context, caller)
        del self._enumerations[context]
        return responses.release_response(request)

    def _enumeration_items(self, request: WSManRequest, body: Any, caller: Caller) -> list[str]:
        resource = request.resource_uri.strip().rstrip("/").lower()
        own = sorted((s for s in self.shells.all() if s.scope.caller.id == caller.user.id), key=lambda s: s.created)
        if resource == SHELL_RESOURCE.lower():
            return [responses.shell_item(self._info(s)) for s in own]
        if resource.startswith(ns.POWERSHELL_RESOURCE_PREFIX.lower()):
            return [responses.shell_item(self._info(s)) for s in own if s.resource_uri.lower() == resource]
        if resource == COMMAND_RESOURCE.lower():
            wanted = _filter_shell_id(body)
            shells = [s for s in own if wanted is None or s.shell_id == wanted]
            return [responses.command_item(cid) for s in shells for cid in list(s.commands)]
        raise WSManFault(
            FaultCode.INVALID_RESOURCE_URI,
            f"The WS-Management service cannot process the request. The resource URI {request.resource_uri} "
            "cannot be enumerated.",
            subcode="w:DestinationUnreachable",
        )

    def _keep_enumeration(self, caller: Caller, items: list[str]) -> str:
        now = time.monotonic()
        for key in [k for k, e in self._enumerations.items() if e.expires <= now]:
            del self._enumerations[key]
        mine = [k for k, e in self._enumerations.items() if e.owner_id == caller.user.id]
        for key in mine[: max(0, len(mine) - MAX_ENUMERATIONS_PER_OWNER + 1)]:
            del self._enumerations[key]
        context = f"uuid:{str(uuid.uuid4()).upper()}"
        self._enumerations[context] = _Enumeration(caller.user.id, items, now + ENUMERATION_TTL)
        return context

    def _enumeration_of(self, context: str, caller: Caller) -> _Enumeration:
        state = self._enumerations.get(context)
        if state is not None and state.expires <= time.monotonic():
            del self._enumerations[context]
            state = None
        # Another account's context looks exactly like an expired one.
        if state is None or state.owner_id != caller.user.id:
            raise faults.invalid_message(
                f"The enumeration context {context or '(none)'} is not valid: it has expired, was released or "
                "was pulled to its end. Enumerate again."
            )
        return state

    # ----------------------------------------------------------------- Delete and expiry

    def close_shell(self, shell: Shell) -> None:
        if self.shells.remove(shell.shell_id) is not None:
            shell.runspace.close()
            log.info("session %s closed", shell.shell_id)

    def expire_idle(self) -> int:
        expired = self.shells.expired()
        for shell in expired:
            log.info("session %s expired after %.0f s idle", shell.shell_id, self.settings.idle_timeout)
            self.close_shell(shell)
        return len(expired)

    def shutdown(self) -> None:
        for shell in self.shells.all():
            self.close_shell(shell)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.pipeline_executor.shutdown(wait=False, cancel_futures=True)


def _decompress(data: bytes, room: int) -> bytes:
    try:
        return xpress.decode_stream(data, room)
    except xpress.XpressError as exc:
        raise faults.invalid_message(f"The stream data is not valid xpress-compressed data: {exc}") from None


def _max_elements(text: str | None) -> int:
    """MaxElements of an Enumerate or Pull; absent means everything (a client that never Pulls
    must not miss a shell it would close)."""
    if text is None or not text.strip():
        return 2**31
    try:
        value = int(text.strip())
    except ValueError:
        raise faults.invalid_message(f"MaxElements '{text.strip()}' is not a number.") from None
    if value < 1:
        raise faults.invalid_message(f"MaxElements must be at least 1, not {value}.")
    return value


def _filter_shell_id(body: Any) -> str | None:
    """The ShellId of a SelectorFilter (Enumerate of a shell's commands), upper case, or None."""
    filt = body.find(f"{{{ns.WSMAN}}}Filter")
    if filt is None:
        return None
    dialect = filt.get("Dialect")
    if dialect and dialect != SELECTOR_FILTER:
        raise WSManFault(
            FaultCode.INVALID_OPTIONS,
            f"The WS-Management service does not support the filter dialect {dialect}.",
            subcode="w:FilterDialectRequestedUnavailable",
        )
    for selector in filt.iter(f"{{{ns.WSMAN}}}Selector"):
        if selector.get("Name") == "ShellId":
            return (selector.text or "").strip().upper()
    return None
