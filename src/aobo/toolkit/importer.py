"""Import-PSSession for Python: the server's commands as functions with real signatures.

:func:`import_commands` (sync :class:`~aobo.toolkit.session.Session`) and :func:`aimport_commands`
(:class:`~aobo.toolkit.session.AsyncSession`) send ONE GET_COMMAND_METADATA request (psrpcore's
``ClientGetCommandMetadata``; names may hold wildcards, as ``Import-PSSession -CommandName``) and
return a :class:`CommandNamespace`: ``ex.get_mailbox(identity=..., result_size=...)`` or
``ex["Get-Mailbox"](...)``.

GET_COMMAND_METADATA carries each parameter's name, type, aliases and whether it is a switch, but
not its parameter sets, position or whether it is mandatory (PowerShell serialises
``ParameterMetadata`` with those five properties only). Those come from one ``Get-Command -Syntax``
pipeline for the same names, whose lines (``Get-Mailbox [[-Identity] <MailboxIdParameter>] ...``)
are parsed here; if the server refuses it, every parameter is keyword-only and optional.

The metadata is cached as JSON per (endpoint without query, server's application private data,
account, DelegatedOrg, names): the server filters it by the caller's roles, which may differ per
customer. Entries older than :data:`MAX_AGE` are fetched again; ``refresh=True`` forces it.
Functions are built lazily, so a cached import costs a file read and a JSON parse.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

from aobo.toolkit.names import snake_case

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as RichProgress

    from aobo.toolkit.session import AsyncSession, Session

__all__ = [
    "MAX_AGE",
    "NOT_GIVEN",
    "CommandNamespace",
    "CommandSpec",
    "ParameterSpec",
    "aimport_commands",
    "cache_root",
    "import_commands",
    "parse_syntax",
    "snake_case",
]

#: Cache entries older than this are fetched again.
MAX_AGE: Final = 7 * 24 * 3600.0
CACHE_FORMAT: Final = 1

COMMON_PARAMETERS: Final = frozenset(
    {
        "Verbose",
        "Debug",
        "ErrorAction",
        "WarningAction",
        "InformationAction",
        "ErrorVariable",
        "WarningVariable",
        "InformationVariable",
        "OutVariable",
        "OutBuffer",
        "PipelineVariable",
        "WhatIf",
        "Confirm",
    }
)
_SWITCH = "System.Management.Automation.SwitchParameter"
_BOOL = "System.Boolean"
_INT_RANGES: Final = {
    "System.Byte": (0, 2**8 - 1),
    "System.SByte": (-(2**7), 2**7 - 1),
    "System.Int16": (-(2**15), 2**15 - 1),
    "System.UInt16": (0, 2**16 - 1),
    "System.Int32": (-(2**31), 2**31 - 1),
    "System.UInt32": (0, 2**32 - 1),
    "System.Int64": (-(2**63), 2**63 - 1),
    "System.UInt64": (0, 2**64 - 1),
}
#: Enums whose values every PowerShell knows (the server does not send enum values).
_KNOWN_ENUMS: Final = {
    "System.Management.Automation.ActionPreference": (
        "SilentlyContinue",
        "Stop",
        "Continue",
        "Inquire",
        "Ignore",
        "Suspend",
        "Break",
    ),
}
_PY_TYPES: Final = {
    "System.String": "str",
    "System.String[]": "str | list[str]",
    _BOOL: "bool",
    _SWITCH: "bool",
    "System.Int32": "int",
    "System.Int64": "int",
    "System.UInt32": "int",
    "System.Int32[]": "int | list[int]",
    "System.Object[]": "list[Any]",
    "System.Collections.Hashtable": "dict[str, Any]",
}


class _NotGiven:
    """Default of an optional parameter: distinct from None, which is sent as ``$null``."""

    _instance: _NotGiven | None = None

    def __new__(cls) -> _NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = _NotGiven()


def _short_type(dotnet: str) -> str:
    array = dotnet.endswith("[]")
    base = dotnet[:-2] if array else dotnet
    base = base.split("`", 1)[0].rsplit(".", 1)[-1]
    return base + ("[]" if array else "")


# ------------------------------------------------------------------------------------------------ specs


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    """One parameter as the metadata describes it."""

    name: str
    type: str
    aliases: tuple[str, ...] = ()
    switch: bool = False

    @property
    def common(self) -> bool:
        return self.name in COMMON_PARAMETERS

    @property
    def python_name(self) -> str:
        return snake_case(self.name)


@dataclass(frozen=True, slots=True)
class SetMember:
    """A parameter's role in one parameter set (one line of ``Get-Command -Syntax``)."""

    name: str
    mandatory: bool
    positional: bool


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command: its parameters (metadata) and parameter sets (syntax lines, possibly none)."""

    name: str
    parameters: tuple[ParameterSpec, ...]
    parameter_sets: tuple[tuple[SetMember, ...], ...] = ()
    syntax: str = ""
    help_uri: str = ""
    output_type: tuple[str, ...] = ()

    @property
    def python_name(self) -> str:
        return snake_case(self.name)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "help_uri": self.help_uri,
            "output_type": list(self.output_type),
            "syntax": self.syntax,
            "parameters": [[p.name, p.type, list(p.aliases), p.switch] for p in self.parameters],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CommandSpec:
        syntax = str(data.get("syntax") or "")
        return cls(
            name=str(data["name"]),
            parameters=tuple(ParameterSpec(str(n), str(t), tuple(a), bool(s)) for n, t, a, s in data["parameters"]),
            parameter_sets=parse_syntax(syntax),
            syntax=syntax,
            help_uri=str(data.get("help_uri") or ""),
            output_type=tuple(data.get("output_type") or ()),
        )


_SYNTAX_TOKEN = re.compile(
    r"\[\[-(?P<opt_pos>[\w-]+)\]\s+<[^>]*>\]"  # [[-Identity] <T>]   optional, positional
    r"|\[-(?P<man_pos>[\w-]+)\]\s+<[^>]*>"  # [-Identity] <T>     mandatory, positional
    r"|\[-(?P<opt_named>[\w-]+)\s+<[^>]*>\]"  # [-Filter <T>]       optional
    r"|-(?P<man_named>[\w-]+)\s+<[^>]*>"  # -Anr <T>            mandatory
    r"|\[-(?P<opt_switch>[\w-]+)\]"  # [-WhatIf]           optional switch
    r"|\[<CommonParameters>\]"
    r"|-(?P<man_switch>[\w-]+)"  # -Force              mandatory switch
)


def parse_syntax(text: str) -> tuple[tuple[SetMember, ...], ...]:
    """``Get-Command -Syntax`` text → one tuple of members per parameter set (line)."""
    sets = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        _, _, rest = line.partition(" ")
        members = []
        for m in _SYNTAX_TOKEN.finditer(rest):
            kind = m.lastgroup
            if kind is None:
                continue
            members.append(SetMember(m.group(kind), kind.startswith("man"), kind.endswith("pos")))
        sets.append(tuple(members))
    return tuple(sets)


def _spec_from_record(record: Any, syntax: str) -> CommandSpec:
    params = record.get("Parameters") or {}
    out = []
    for key, meta in params.items():
        out.append(
            ParameterSpec(
                str(meta.get("Name") or key),
                str(meta.get("ParameterType") or "System.Object"),
                tuple(str(a) for a in (meta.get("Aliases") or ())),
                bool(meta.get("SwitchParameter")),
            )
        )
    output = record.get("OutputType") or ()
    return CommandSpec(
        name=str(record["Name"]),
        parameters=tuple(out),
        parameter_sets=parse_syntax(syntax),
        syntax=syntax,
        help_uri=str(record.get("HelpUri") or ""),
        output_type=tuple(str(o) for o in output) if not isinstance(output, str) else (output,),
    )


# ------------------------------------------------------------------------------------------------ binding


class _Binder:
    """What one command accepts: Python keywords, positional order, sets; validates a call locally."""

    def __init__(self, spec: CommandSpec) -> None:
        self.spec = spec
        self.by_key: dict[str, ParameterSpec] = {}
        for p in spec.parameters:
            for key in (p.python_name, p.name.lower(), *(a.lower() for a in p.aliases)):
                self.by_key.setdefault(key, p)
        known = {p.name.lower() for p in spec.parameters}
        self.sets = [
            tuple(m for m in members if m.name.lower() in known and m.name not in COMMON_PARAMETERS)
            for members in spec.parameter_sets
        ]
        positional: list[str] = []
        for members in self.sets:
            for m in members:
                if m.positional and m.name not in positional:
                    positional.append(m.name)
        self.positional = [self._param(n) for n in positional]
        first = self.sets[0] if self.sets else ()
        self.always_mandatory = {m.name for m in first if all(_mandatory_in(m.name, s) for s in self.sets)}

    def _param(self, name: str) -> ParameterSpec:
        return self.by_key[name.lower()]

    def resolve(self, key: str) -> ParameterSpec:
        found = self.by_key.get(key) or self.by_key.get(key.lower())
        if found is None:
            raise TypeError(f"{self.spec.name} has no parameter {key!r}{self._suggest(key)}")
        return found

    def _suggest(self, key: str) -> str:
        choices = sorted({p.python_name for p in self.spec.parameters})
        close = difflib.get_close_matches(snake_case(key), choices, n=1, cutoff=0.5)
        return f"; did you mean {close[0]!r}?" if close else ""

    def bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Positional and keyword arguments → ``{PowerShellName: value}``, validated locally."""
        if len(args) > len(self.positional):
            raise TypeError(
                f"{self.spec.python_name}() takes {len(self.positional)} positional argument"
                f"{'s' if len(self.positional) != 1 else ''} but {len(args)} were given"
            )
        bound: dict[str, Any] = {}
        for p, value in zip(self.positional, args, strict=False):
            bound[p.name] = value
        for key, value in kwargs.items():
            p = self.resolve(key)
            if p.name in bound:
                raise TypeError(f"{self.spec.python_name}() got multiple values for parameter {p.python_name!r}")
            bound[p.name] = value
        bound = {k: v for k, v in bound.items() if v is not NOT_GIVEN}
        for name, value in bound.items():
            _check_type(self.spec.name, self._param(name), value)
        self._check_sets(bound)
        return bound

    def _check_sets(self, bound: Mapping[str, Any]) -> None:
        if not self.sets:
            return
        given = {n.lower() for n in bound if n not in COMMON_PARAMETERS}
        candidates = [s for s in self.sets if given <= {m.name.lower() for m in s}]
        if not candidates:
            raise TypeError(
                f"{self.spec.name}: the parameters {', '.join('-' + n for n in bound if n not in COMMON_PARAMETERS)} "
                "are not all in one parameter set:" + self._render_sets()
            )
        missing_per_set = [[m.name for m in s if m.mandatory and m.name.lower() not in given] for s in candidates]
        if all(missing_per_set):
            fewest = min(missing_per_set, key=len)
            names = ", ".join(snake_case(n) for n in fewest)
            raise TypeError(
                f"{self.spec.python_name}() is missing mandatory parameter(s): {names}" + self._render_sets()
            )

    def _render_sets(self) -> str:
        return "\n" + self.spec.syntax.strip() if self.spec.syntax else ""


def _mandatory_in(name: str, members: Iterable[SetMember]) -> bool:
    return any(m.name == name and m.mandatory for m in members)


def _check_type(command: str, p: ParameterSpec, value: Any) -> None:
    """Refuse values PowerShell could never convert, for the types whose rules are known."""
    if value is None:
        return
    dotnet = p.type
    array = dotnet.endswith("[]")
    base = dotnet[:-2] if array else dotnet
    items = list(value) if array and isinstance(value, list | tuple) else [value]
    for item in items:
        problem = _type_problem(base, p.switch, item)
        if problem:
            raise TypeError(f"{command} -{p.name} ({snake_case(p.name)}): {problem}, got {item!r}")


def _type_problem(base: str, switch: bool, item: Any) -> str | None:
    if switch or base == _SWITCH:
        return None if isinstance(item, bool) else "a switch takes True or False"
    if base == _BOOL:
        return None if isinstance(item, bool | int) else "a Boolean takes True or False"
    if base in _INT_RANGES:
        low, high = _INT_RANGES[base]
        if isinstance(item, bool) or not isinstance(item, int | str):
            return f"{_short_type(base)} takes an integer"
        if isinstance(item, str):
            try:
                item = int(item.strip(), 0)
            except ValueError:
                return f"{_short_type(base)} takes an integer"
        if not low <= item <= high:
            return f"{_short_type(base)} takes an integer from {low} to {high}"
        return None
    values = _KNOWN_ENUMS.get(base)
    if values is not None:
        if isinstance(item, str) and item.lower() in {v.lower() for v in values}:
            return None
        if isinstance(item, int) and not isinstance(item, bool):
            return None
        return f"{_short_type(base)} takes one of {', '.join(values)}"
    return None


# ------------------------------------------------------------------------------------------------ functions


def _annotation(p: ParameterSpec) -> str:
    return "bool" if p.switch else _PY_TYPES.get(p.type, _short_type(p.type))


def _signature(binder: _Binder) -> Any:
    import inspect

    params: list[inspect.Parameter] = []
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    defaulted = False
    for p in binder.positional:
        required = p.name in binder.always_mandatory and not defaulted
        defaulted = defaulted or not required
        default = inspect.Parameter.empty if required else NOT_GIVEN
        params.append(inspect.Parameter(p.python_name, kind, default=default, annotation=_annotation(p)))
    seen = {p.python_name for p in binder.positional}
    for p in binder.spec.parameters:
        if p.python_name in seen:
            continue
        seen.add(p.python_name)
        default = False if p.switch else NOT_GIVEN
        params.append(
            inspect.Parameter(p.python_name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=_annotation(p))
        )
    return inspect.Signature(params, return_annotation="InvokeResult")


def _docstring(binder: _Binder) -> str:
    spec = binder.spec
    syntax = spec.syntax.strip() or _fallback_syntax(spec)
    lines = [spec.name, "", *syntax.splitlines(), "", "Parameters (Python keyword: PowerShell parameter <type>):"]
    for p in spec.parameters:
        if p.common:
            continue
        alias = f" (aliases: {', '.join(p.aliases)})" if p.aliases else ""
        lines.append(f"    {p.python_name}: -{p.name} <{_short_type(p.type)}>{alias}")
    lines.append("Common parameters: " + ", ".join(snake_case(p.name) for p in spec.parameters if p.common))
    if spec.help_uri:
        lines += ["", f"Online help: {spec.help_uri}"]
    return "\n".join(lines)


def _fallback_syntax(spec: CommandSpec) -> str:
    parts = [spec.name]
    for p in spec.parameters:
        if p.common:
            continue
        parts.append(f"[-{p.name}]" if p.switch else f"[-{p.name} <{_short_type(p.type)}>]")
    return " ".join([*parts, "[<CommonParameters>]"])


def _make_function(spec: CommandSpec, invoke: Callable[..., Any]) -> Callable[..., Any]:
    binder = _Binder(spec)

    def command(*args: Any, **kwargs: Any) -> Any:
        return invoke(spec.name, **binder.bind(args, kwargs))

    command.__name__ = command.__qualname__ = spec.python_name
    command.__doc__ = _docstring(binder)
    command.__signature__ = _signature(binder)  # type: ignore[attr-defined]
    command.__wrapped_command__ = spec.name  # type: ignore[attr-defined]
    return command


class CommandNamespace:
    """The imported commands: ``ns.get_mailbox(...)``, ``ns["Get-Mailbox"](...)``, ``list(ns)`` (names).

    Functions are built on first use. With a sync session they return an InvokeResult; with an async
    one, an awaitable of it.
    """

    def __init__(
        self,
        specs: Iterable[CommandSpec],
        invoke: Callable[..., Any],
        *,
        cache_path: Path | None = None,
        from_cache: bool = False,
    ) -> None:
        self._specs: dict[str, CommandSpec] = {}
        self._by_python: dict[str, str] = {}
        for spec in specs:
            self._specs.setdefault(spec.name.lower(), spec)
            self._by_python.setdefault(spec.python_name, spec.name.lower())
        self._invoke = invoke
        self._functions: dict[str, Callable[..., Any]] = {}
        self.cache_path = cache_path
        self.from_cache = from_cache

    def _function(self, key: str) -> Callable[..., Any]:
        fn = self._functions.get(key)
        if fn is None:
            fn = self._functions[key] = _make_function(self._specs[key], self._invoke)
        return fn

    def __getattr__(self, name: str) -> Callable[..., Any]:
        key = self.__dict__.get("_by_python", {}).get(name)
        if key is None:
            if name.startswith("__"):
                raise AttributeError(name)
            close = difflib.get_close_matches(name, list(self.__dict__.get("_by_python", {})), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise AttributeError(f"no imported command {name!r}{hint}")
        return self._function(key)

    def __getitem__(self, name: str) -> Callable[..., Any]:
        key = name.lower()
        if key not in self._specs:
            raise KeyError(name)
        return self._function(key)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name.lower() in self._specs or name in self._by_python)

    def __iter__(self) -> Iterator[str]:
        return (spec.name for spec in self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __dir__(self) -> list[str]:
        return sorted({*self._by_python, "cache_path", "from_cache", "spec"})

    def spec(self, name: str) -> CommandSpec:
        """The metadata of a command (by its PowerShell or Python name)."""
        key = self._by_python.get(name, name.lower())
        return self._specs[key]

    def __repr__(self) -> str:
        where = " (cached)" if self.from_cache else ""
        return f"<CommandNamespace {len(self._specs)} commands{where}>"


# ------------------------------------------------------------------------------------------------ cache


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/aobo/metadata`` (``~/.cache/aobo/metadata`` by default)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "aobo" / "metadata"


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


def _cache_key(session: AsyncSession, names: Sequence[str] | None) -> dict[str, Any]:
    private = json.dumps(session.application_private_data, sort_keys=True, default=str)
    return {
        "format": CACHE_FORMAT,
        "endpoint": _endpoint(session.url),
        "server": hashlib.sha256(private.encode()).hexdigest(),
        "user": session.username.lower(),
        "org": (session.org or "").lower(),
        "names": sorted({n.lower() for n in names}) if names else ["*"],
    }


def _cache_file(root: Path, key: Mapping[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return root / f"{digest}.json"


def _read_cache(path: Path, key: Mapping[str, Any], max_age: float) -> list[CommandSpec] | None:
    try:
        if time.time() - path.stat().st_mtime > max_age:
            return None
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    try:
        return [CommandSpec.from_json(c) for c in data["commands"]]
    except (KeyError, TypeError, ValueError):
        return None


def _write_cache(path: Path, key: Mapping[str, Any], specs: Sequence[CommandSpec]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    payload = {"key": key, "created": time.time(), "commands": [s.to_json() for s in specs]}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------ fetching


@dataclass
class _Fetch:
    """The state of one metadata download, shared by the sync and async paths."""

    names: list[str]
    progress: Any
    records: list[Any] = field(default_factory=list)
    total: int | None = None
    _bar: RichProgress | None = None
    _task: Any = None

    def build(self, pool: Any) -> Any:
        import psrpcore

        return psrpcore.ClientGetCommandMetadata(pool, self.names)

    def __enter__(self) -> _Fetch:
        console = _progress_console(self.progress)
        if console is not None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("Importing commands"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("import", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def add(self, record: Any) -> None:
        if self.total is None and _is_count(record):
            self.total = int(record.get("Count") or 0)
            if self._bar is not None:
                self._bar.update(self._task, total=self.total)
            return
        self.records.append(record)
        if self._bar is not None:
            self._bar.advance(self._task)

    def specs(self, syntax_lines: Iterable[Any]) -> list[CommandSpec]:
        by_name: dict[str, str] = {}
        for text in syntax_lines:
            text = str(text)
            first = text.strip().split(" ", 1)[0].lower()
            if first:
                by_name[first] = by_name.get(first, "") + text
        return [_spec_from_record(r, by_name.get(str(r["Name"]).lower(), "")) for r in self.records]


def _is_count(record: Any) -> bool:
    names = getattr(record, "type_names", ()) or ()
    return bool(names) and "GenericMeasureInfo" in names[0]


def _progress_console(progress: bool | Console) -> Console | None:
    if progress is False or progress is None:
        return None
    from rich.console import Console

    if isinstance(progress, Console):
        return progress
    console = Console(stderr=True)
    return console if console.is_terminal else None


def _syntax_command(names: Sequence[str]) -> tuple[str, dict[str, Any]]:
    return "Get-Command", {"Name": list(names), "Syntax": True}


def _normalise_names(names: str | Iterable[str] | None) -> list[str]:
    if names is None:
        return ["*"]
    listed = [names] if isinstance(names, str) else [str(n) for n in names]
    return [n for n in listed if n] or ["*"]


def _prepare(
    session: AsyncSession, names: list[str], cache_dir: str | Path | None, refresh: bool, max_age: float
) -> tuple[Path, dict[str, Any], list[CommandSpec] | None]:
    key = _cache_key(session, None if names == ["*"] else names)
    path = _cache_file(Path(cache_dir) if cache_dir is not None else cache_root(), key)
    cached = None if refresh else _read_cache(path, key, max_age)
    return path, key, cached


def import_commands(
    session: Session,
    names: str | Iterable[str] | None = None,
    *,
    cache_dir: str | Path | None = None,
    progress: bool | Console = True,
    refresh: bool = False,
    max_age: float = MAX_AGE,
) -> CommandNamespace:
    """Import-PSSession: the session's commands (all, or those matching ``names``) as functions.

    One GET_COMMAND_METADATA request (plus one ``Get-Command -Syntax`` for parameter sets) on a
    cold cache; none on a warm one. ``progress`` shows a bar on a terminal (or on the given console).
    """
    wanted = _normalise_names(names)
    path, key, cached = _prepare(session.async_session, wanted, cache_dir, refresh, max_age)
    if cached is not None:
        return CommandNamespace(cached, session.invoke, cache_path=path, from_cache=True)
    with _Fetch(wanted, progress) as fetch:
        for record in session.stream_pipeline(fetch.build):
            fetch.add(record)
    syntax = _fetch_syntax_sync(session, fetch, wanted)
    specs = fetch.specs(syntax)
    _write_cache(path, key, specs)
    return CommandNamespace(specs, session.invoke, cache_path=path)


async def aimport_commands(
    session: AsyncSession,
    names: str | Iterable[str] | None = None,
    *,
    cache_dir: str | Path | None = None,
    progress: bool | Console = True,
    refresh: bool = False,
    max_age: float = MAX_AGE,
) -> CommandNamespace:
    """:func:`import_commands` for an :class:`AsyncSession`; the functions return awaitables."""
    wanted = _normalise_names(names)
    path, key, cached = _prepare(session, wanted, cache_dir, refresh, max_age)
    invoke: Callable[..., Awaitable[Any]] = session.invoke
    if cached is not None:
        return CommandNamespace(cached, invoke, cache_path=path, from_cache=True)
    with _Fetch(wanted, progress) as fetch:
        async for record in session.stream_pipeline(fetch.build):
            fetch.add(record)
    syntax: list[Any] = []
    if fetch.records:
        from aobo.toolkit.errors import CommandError

        command, params = _syntax_command(wanted)
        try:
            syntax = list(await session.invoke(command, **params))
        except CommandError:
            syntax = []
    specs = fetch.specs(syntax)
    _write_cache(path, key, specs)
    return CommandNamespace(specs, invoke, cache_path=path)


def _fetch_syntax_sync(session: Session, fetch: _Fetch, names: list[str]) -> list[Any]:
    """The parameter sets of the fetched commands; none if the server refuses Get-Command."""
    from aobo.toolkit.errors import CommandError

    if not fetch.records:
        return []
    command, params = _syntax_command(names)
    try:
        return list(session.invoke(command, **params))
    except CommandError:
        return []
