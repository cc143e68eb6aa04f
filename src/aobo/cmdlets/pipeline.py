"""Running a pipeline: the one entry point front ends call.

:func:`run_pipeline` is a generator. It yields output objects and stream records as they are
produced, never collecting a command's output first, and raises :class:`CmdletError` (terminating)
or :class:`PipelineStopped` to end the run. Within a statement, commands are chained lazily: each
command's handler is a generator that pulls its input from the command before it, so
``Get-Mailbox | Select-Object -First 5`` reads five rows and then closes the upstream generator
(and with it the database cursor).

Stream records never travel down the pipeline: records written by earlier commands are queued and
handed to the caller before the next thing the last command yields (PowerShell writes them to the
host at once; only the order relative to output matters to clients).
"""

from __future__ import annotations

import enum
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from aobo.cmdlets import roles, texts
from aobo.cmdlets.binding import (
    BoundParameters,
    ParameterSource,
    bind_arguments,
    bind_pipeline_object,
    finalize,
    finalize_pipeline_object,
    input_object_not_bound,
)
from aobo.cmdlets.confirm import Confirmation
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.parameters import UNLIMITED, IdentityRef, MultiValuedChange, SecureStringType
from aobo.cmdlets.registry import CmdletDefinition, Parameter, Registry
from aobo.cmdlets.results import (
    STREAM_RECORD_TYPES,
    CmdletError,
    Dictionary,
    EnumValue,
    ErrorRecord,
    ExchangeObject,
    MultiValued,
    VerboseRecord,
    WarningRecord,
)
from aobo.domain.store import REDACTED, is_secret_name

__all__ = [
    "AuditHook",
    "CommandInvocation",
    "Invocation",
    "PipelineStopped",
    "audit_parameters",
    "redact_raw_parameters",
    "run_pipeline",
]


@dataclass(frozen=True, slots=True)
class CommandInvocation:
    """One command as a front end received it (PSRP's Command, REST's CmdletInput).

    ``parameters`` are ``(name, value)`` pairs in the order sent; ``name`` is ``None`` for a
    positional argument and may carry a leading ``-`` and trailing ``:``. ``end_of_statement`` marks
    the last command of a statement (``;`` / ``AddStatement``).
    """

    name: str
    parameters: list[tuple[str | None, Any]] = field(default_factory=list)
    is_script: bool = False
    end_of_statement: bool = False


class PipelineStopped(Exception):
    """The caller asked to stop (``ctx.is_stopping()``); the front end reports the pipeline Stopped."""

    def __init__(self) -> None:
        super().__init__(texts.PIPELINE_STOPPED)


#: Called with each command's definition and bound parameters once its command line is bound,
#: before anything runs; front ends use it to write the audit log.
AuditHook = Callable[[CmdletDefinition, BoundParameters], None]

_QUIET: Final = frozenset({"SilentlyContinue", "Ignore"})


class Invocation:
    """What a cmdlet handler receives.

    * ``bound``: the command-line parameters; for the first command of a statement also finalized
      (parameter set chosen, defaults filled).
    * :meth:`each`: one :class:`BoundParameters` per pipeline input object, with the object bound to
      the parameters that take pipeline input, or just ``bound`` once when there is no input; this
      is PowerShell's ProcessRecord loop.
    * :meth:`objects`: the raw upstream objects, for cmdlets that take any object (Select-Object).
    * :meth:`stop_upstream`: close the commands before this one now (``Select-Object -First``).
    """

    __slots__ = ("_confirmation", "_engine", "_upstream", "bound", "ctx", "definition")

    def __init__(
        self,
        engine: _Engine,
        ctx: CmdletContext,
        definition: CmdletDefinition,
        bound: BoundParameters,
        upstream: Iterator[Any] | None,
    ) -> None:
        self._engine = engine
        self.ctx = ctx
        self.definition = definition
        self.bound = bound
        self._upstream = upstream
        self._confirmation: Confirmation | None = None

    @property
    def registry(self) -> Registry:
        return self._engine.registry

    @property
    def has_upstream(self) -> bool:
        return self._upstream is not None

    @property
    def whatif(self) -> bool:
        return bool(self.bound.get("WhatIf"))

    @property
    def verbose(self) -> bool:
        return bool(self.bound.get("Verbose"))

    def write(self, record: Any) -> None:
        """Write a stream record (a non-terminating error, a warning...) from inside a handler
        without yielding it; it reaches the client in order with the output."""
        self._engine.queue(self, record)

    def should_process(self, message: str) -> bool:
        """PowerShell's ShouldProcess for one change, described by Exchange's sentence for it
        (``Setting mailbox "x".``): False under -WhatIf (after writing ``What if: ...``) or when the
        user declines; see :mod:`aobo.cmdlets.confirm`."""
        confirmation = self._confirmation
        if confirmation is None:
            confirmation = self._confirmation = Confirmation(
                self.ctx,
                self.definition.name,
                self.definition.confirm_impact,
                self.bound,
                lambda record: self._engine.queue(self, record),
            )
        return confirmation.should_process(message)

    def objects(self) -> Iterator[Any]:
        upstream = self._upstream
        if upstream is None:
            return
        is_stopping = self.ctx.is_stopping
        for obj in upstream:
            if is_stopping():
                raise PipelineStopped()
            yield obj

    def each(self) -> Iterator[BoundParameters]:
        if self._upstream is None:
            yield self.bound
            return
        for obj in self.objects():
            with_input = bind_pipeline_object(self.bound, obj)
            if with_input is None:
                self._engine.queue(self, input_object_not_bound(self.definition, obj))
                continue
            try:
                finalized = finalize_pipeline_object(with_input)
            except CmdletError as e:
                if e.terminating:
                    raise
                self._engine.queue(self, e.record)
                continue
            yield finalized

    def stop_upstream(self) -> None:
        upstream = self._upstream
        if upstream is not None and hasattr(upstream, "close"):
            upstream.close()


class _Engine:
    """State of one run: the queue of records written by commands other than the last."""

    def __init__(self, ctx: CmdletContext, registry: Registry, audit: AuditHook | None) -> None:
        self.ctx = ctx
        self.registry = registry
        self.audit = audit
        self.records: deque[Any] = deque()

    def route(self, inv: Invocation, record: Any) -> Any | None:
        """Apply the command's -ErrorAction/-WarningAction/-Verbose to a record; return it if it
        should be shown, ``None`` if dropped. Raises when the preference is Stop."""
        bound = inv.bound
        if isinstance(record, ErrorRecord):
            action = bound.get("ErrorAction")
            if action == "Stop":
                raise CmdletError(record, terminating=True)
            if action in _QUIET:
                return None
        elif isinstance(record, WarningRecord):
            action = bound.get("WarningAction")
            if action == "Stop":
                raise CmdletError(
                    texts.action_preference_stop("WarningPreference", record.message, inv.definition.name)
                )
            if action in _QUIET:
                return None
        elif isinstance(record, VerboseRecord) and not bound.get("Verbose"):
            return None
        return record

    def queue(self, inv: Invocation, record: Any) -> None:
        shown = self.route(inv, record)
        if shown is not None:
            self.records.append(shown)

    def stage(self, inv: Invocation, *, last: bool) -> Iterator[Any]:
        """Run one command's handler; objects go on, records go to the caller."""
        out = iter(inv.definition.handler(inv))
        try:
            for item in out:
                if isinstance(item, STREAM_RECORD_TYPES):
                    if last:
                        shown = self.route(inv, item)
                        if shown is not None:
                            yield shown
                    else:
                        self.queue(inv, item)
                    continue
                yield item
        except CmdletError as e:
            if e.terminating:
                raise
            if last:
                shown = self.route(inv, e.record)
                if shown is not None:
                    yield shown
            else:
                self.queue(inv, e.record)
        finally:
            close = getattr(out, "close", None)
            if close is not None:
                close()
            inv.stop_upstream()

    def resolve(self, command: CommandInvocation) -> CmdletDefinition:
        definition = self.registry.get(command.name)
        if definition is None:
            raise CmdletError(texts.command_not_found(command.name), terminating=True)
        if not roles.allowed(definition, self.ctx.roles):
            user = f"{self.ctx.caller_tenant.initial_domain}\\{self.ctx.caller.user_principal_name}"
            raise CmdletError(texts.cmdlet_access_denied(user, definition.name), terminating=True)
        return definition

    def statement(self, commands: Sequence[CommandInvocation], input: Iterable[Any] | None) -> Iterator[Any]:
        # PowerShell resolves and binds the whole statement before the first command runs.
        definitions = [self.resolve(c) for c in commands]
        invocations: list[Invocation] = []
        upstream: Iterator[Any] | None = iter(input) if input is not None else None
        bound_all: list[tuple[CmdletDefinition, BoundParameters, bool]] = []
        for i, (command, definition) in enumerate(zip(commands, definitions, strict=True)):
            has_upstream = i > 0 or input is not None
            bound = bind_arguments(definition, command.parameters)
            finalize(bound, input_pending=has_upstream)
            bound_all.append((definition, bound, has_upstream))
            if self.audit is not None:
                self.audit(definition, bound)
        stages: list[Iterator[Any]] = []
        for i, (definition, bound, _) in enumerate(bound_all):
            inv = Invocation(self, self.ctx, definition, bound, upstream)
            invocations.append(inv)
            upstream = self.stage(inv, last=i == len(bound_all) - 1)
            stages.append(upstream)
        assert upstream is not None
        is_stopping = self.ctx.is_stopping
        records = self.records
        try:
            for item in upstream:
                while records:
                    yield records.popleft()
                if isinstance(item, STREAM_RECORD_TYPES):
                    yield item
                    continue
                if is_stopping():
                    raise PipelineStopped()
                yield item
            while records:
                yield records.popleft()
        finally:
            for s in reversed(stages):
                close = getattr(s, "close", None)
                if close is not None:
                    close()


def _statements(commands: Sequence[CommandInvocation]) -> list[list[CommandInvocation]]:
    statements: list[list[CommandInvocation]] = [[]]
    for c in commands:
        statements[-1].append(c)
        if c.end_of_statement:
            statements.append([])
    return [s for s in statements if s]


def run_pipeline(
    ctx: CmdletContext,
    registry: Registry,
    commands: Sequence[CommandInvocation],
    input: Iterable[Any] | None = None,
    *,
    audit: AuditHook | None = None,
) -> Iterator[Any]:
    """Run ``commands`` for ``ctx``; yield output objects and stream records as they come.

    Statements (split at ``end_of_statement``) run one after another; ``input`` (PSRP pipeline
    input) feeds the first command of the first statement. A terminating error raises
    :class:`CmdletError` and ends the run, later statements included. Script text is refused before
    anything runs: the endpoint is in no-language mode.
    """
    for command in commands:
        if command.is_script:
            raise CmdletError(texts.scripts_not_allowed(command.name), terminating=True)
    if ctx.is_stopping():
        raise PipelineStopped()
    engine = _Engine(ctx, registry, audit)
    for i, statement in enumerate(_statements(commands)):
        yield from engine.statement(statement, input if i == 0 else None)


# --- audit -------------------------------------------------------------------------------------

_SECRET_TYPE_PARTS: Final = ("securestring", "pscredential")


def _is_secret(value: Any) -> bool:
    if type(value).__name__.lower() in ("pssecurestring", "securestring", "pscredential"):
        return True
    if isinstance(value, ExchangeObject):
        return any(part in t.lower() for t in value.type_names for part in _SECRET_TYPE_PARTS)
    return False


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if value is UNLIMITED:
        return "Unlimited"
    if isinstance(value, IdentityRef | uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, MultiValuedChange):
        if value.replace is not None:
            return [_jsonable(v) for v in value.replace]
        return {"Add": [_jsonable(v) for v in value.add], "Remove": [_jsonable(v) for v in value.remove]}
    if isinstance(value, ExchangeObject):
        return value.to_string or str(value.get("Identity") or value.type_names[0])
    if isinstance(value, Dictionary):
        return {str(k): _jsonable(v) for k, v in value.entries}
    if isinstance(value, Mapping):
        return {str(k): REDACTED if _is_secret(v) else _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | MultiValued | set | frozenset):
        return [REDACTED if _is_secret(v) else _jsonable(v) for v in value]
    return str(value)


def redact_raw_parameters(
    parameters: Sequence[tuple[str | None, Any]], definition: CmdletDefinition | None = None
) -> dict[str, Any]:
    """Parameters as the client sent them (before binding, so a refused command is audited too), as
    JSON-able values with the same redaction as :func:`audit_parameters`; positional ones are keyed
    ``$args[i]``. With the cmdlet's ``definition`` a name is also judged by every parameter it may
    bind to, so an abbreviation (``-Pass``) of a secret parameter is redacted too."""
    out: dict[str, Any] = {}
    for i, (name, value) in enumerate(parameters):
        key = name.lstrip("-").rstrip(":") if name else f"$args[{i}]"
        secret = is_secret_name(key) or _is_secret(value)
        if not secret and name and definition is not None:
            secret = any(_secret_parameter(p) for p in definition.match_parameter(key))
        out[key] = REDACTED if secret else _jsonable(value)
    return out


def _secret_parameter(p: Parameter) -> bool:
    return is_secret_name(p.name) or isinstance(p.type, SecureStringType)


def audit_parameters(bound: BoundParameters) -> dict[str, Any]:
    """The parameters the caller gave (named, positional or piped; not defaults) as JSON-able
    values, with secrets replaced by ``******``: SecureString and PSCredential values, SecureString
    parameters, and any parameter whose name mentions a password, secret, token or credential."""
    out: dict[str, Any] = {}
    for name, value in bound.values.items():
        if bound.sources.get(name) is ParameterSource.DEFAULT:
            continue
        p = bound.definition.parameter(name)
        secret = _is_secret(value) or (_secret_parameter(p) if p is not None else is_secret_name(name))
        out[name] = REDACTED if secret else _jsonable(value)
    return out
