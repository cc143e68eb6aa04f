"""Cmdlet definitions and the registry that holds them.

A :class:`CmdletDefinition` is data: its parameters (with PowerShell's parameter-set, position and
pipeline attributes), what it outputs, whether it writes, and the handler that runs it. The common
parameters every cmdlet has (``-Verbose``, ``-ErrorAction``, ... and ``-WhatIf``/``-Confirm`` on
writing cmdlets) are added automatically: Import-PSSession only builds a cmdlet proxy for a command
whose metadata lists all of them.

Cmdlets are registered explicitly (:meth:`Registry.register`); nothing is discovered by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, Literal

from aobo.cmdlets import roles as _roles
from aobo.cmdlets.parameters import (
    ACTION_PREFERENCE,
    IntegerType,
    ParameterType,
    StringType,
    SwitchType,
)

if TYPE_CHECKING:
    from aobo.cmdlets.pipeline import Invocation

ALL_PARAMETER_SETS: Final = "__AllParameterSets"

#: A cmdlet's body. It gets the invocation (context, bound parameters, upstream input) and yields
#: output objects and stream records; see :class:`aobo.cmdlets.pipeline.Invocation`.
Handler = Callable[["Invocation"], Iterable[Any]]

ConfirmImpact = Literal["None", "Low", "Medium", "High"]

_NAME_RE: Final = re.compile(r"^[A-Za-z]+-[A-Za-z0-9]+$")


@dataclass(frozen=True, slots=True)
class Parameter:
    """One cmdlet parameter.

    ``mandatory`` applies in every set the parameter belongs to, unless ``mandatory_sets`` names the
    sets where it is mandatory. ``position`` is the same in every set (true of every cmdlet aobo
    serves). A parameter whose type is a switch is never positional.
    """

    name: str
    type: ParameterType
    mandatory: bool = False
    position: int | None = None
    aliases: tuple[str, ...] = ()
    parameter_sets: tuple[str, ...] = (ALL_PARAMETER_SETS,)
    value_from_pipeline: bool = False
    value_from_pipeline_by_property_name: bool = False
    help: str = ""
    mandatory_sets: frozenset[str] | None = None
    #: Value bound when the caller gives none (recorded with source DEFAULT); ``None`` for no default.
    default: Any = None
    common: bool = False

    @property
    def switch(self) -> bool:
        return self.type.is_switch

    @property
    def in_all_sets(self) -> bool:
        return ALL_PARAMETER_SETS in self.parameter_sets

    def in_set(self, set_name: str) -> bool:
        return self.in_all_sets or set_name in self.parameter_sets

    def mandatory_in(self, set_name: str) -> bool:
        if self.mandatory_sets is not None:
            return set_name in self.mandatory_sets
        return self.mandatory and self.in_set(set_name)

    @property
    def ever_mandatory(self) -> bool:
        return bool(self.mandatory_sets) if self.mandatory_sets is not None else self.mandatory

    @property
    def takes_pipeline_input(self) -> bool:
        return self.value_from_pipeline or self.value_from_pipeline_by_property_name


def _common(name: str, type_: ParameterType, alias: str) -> Parameter:
    return Parameter(name, type_, aliases=(alias,), common=True)


_STRING = StringType()

#: PowerShell's common parameters in the order Windows reports them.
COMMON_PARAMETERS: Final[tuple[Parameter, ...]] = (
    _common("Verbose", SwitchType(), "vb"),
    _common("Debug", SwitchType(), "db"),
    _common("ErrorAction", ACTION_PREFERENCE, "ea"),
    _common("WarningAction", ACTION_PREFERENCE, "wa"),
    _common("InformationAction", ACTION_PREFERENCE, "infa"),
    _common("ErrorVariable", _STRING, "ev"),
    _common("WarningVariable", _STRING, "wv"),
    _common("InformationVariable", _STRING, "iv"),
    _common("OutVariable", _STRING, "ov"),
    _common("OutBuffer", IntegerType("System.Int32"), "ob"),
    _common("PipelineVariable", _STRING, "pv"),
)
#: Added to cmdlets that change something (SupportsShouldProcess).
SHOULD_PROCESS_PARAMETERS: Final[tuple[Parameter, ...]] = (
    _common("WhatIf", SwitchType(), "wi"),
    _common("Confirm", SwitchType(), "cf"),
)


@dataclass(frozen=True, eq=False)
class CmdletDefinition:
    """Everything aobo knows about one cmdlet.

    ``area`` is what the role table (:mod:`aobo.cmdlets.roles`) grants access by: ``builtin``
    (utility cmdlets every caller may run), ``recipient`` (mailboxes, users, groups, contacts) or
    ``organization`` (tenant-wide configuration). ``module`` is reported as the command's
    Namespace/ModuleName and matched by ``Get-Command -Module``.
    """

    name: str
    handler: Handler
    parameters: tuple[Parameter, ...] = ()
    default_parameter_set: str = ALL_PARAMETER_SETS
    output_type: tuple[str, ...] = ()
    writes: bool = False
    confirm_impact: ConfirmImpact = "Medium"
    synopsis: str = ""
    area: str = "organization"
    module: str = ""
    help_uri: str = ""
    #: Declared parameters followed by the common ones.
    all_parameters: tuple[Parameter, ...] = field(init=False)
    #: Named parameter sets in declaration order (``__AllParameterSets`` when there are none).
    parameter_sets: tuple[str, ...] = field(init=False)
    _lookup: dict[str, Parameter] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"cmdlet name {self.name!r} is not Verb-Noun")
        common = COMMON_PARAMETERS + (SHOULD_PROCESS_PARAMETERS if self.writes else ())
        params = tuple(self.parameters) + common
        lookup: dict[str, Parameter] = {}
        for p in params:
            for key in (p.name, *p.aliases):
                if key.lower() in lookup:
                    raise ValueError(f"{self.name}: parameter name or alias {key!r} is used twice")
                lookup[key.lower()] = p
            if p.switch and p.position is not None:
                raise ValueError(f"{self.name}: switch -{p.name} cannot be positional")
        sets: list[str] = []
        for p in self.parameters:
            for s in p.parameter_sets:
                if s != ALL_PARAMETER_SETS and s not in sets:
                    sets.append(s)
        if self.default_parameter_set != ALL_PARAMETER_SETS and self.default_parameter_set not in sets:
            raise ValueError(f"{self.name}: default parameter set {self.default_parameter_set!r} is unknown")
        object.__setattr__(self, "all_parameters", params)
        object.__setattr__(self, "parameter_sets", tuple(sets) or (ALL_PARAMETER_SETS,))
        object.__setattr__(self, "_lookup", lookup)

    @property
    def verb(self) -> str:
        return self.name.split("-", 1)[0]

    @property
    def noun(self) -> str:
        return self.name.split("-", 1)[1]

    def parameter(self, name: str) -> Parameter | None:
        """The parameter with this exact name or alias (any case); no prefix matching."""
        return self._lookup.get(name.lower())

    def match_parameter(self, name: str) -> list[Parameter]:
        """Parameters ``name`` may mean: the exact name or alias, else every unique prefix match."""
        exact = self._lookup.get(name.lower())
        if exact is not None:
            return [exact]
        lowered = name.lower()
        found: list[Parameter] = []
        for key, p in self._lookup.items():
            if key.startswith(lowered) and p not in found:
                found.append(p)
        # Report in declaration order, as PowerShell does.
        order = {id(p): i for i, p in enumerate(self.all_parameters)}
        return sorted(found, key=lambda p: order[id(p)])


# --- wildcards ---------------------------------------------------------------------------------

_WILDCARD_CHARS: Final = frozenset("*?[")


def has_wildcards(pattern: str) -> bool:
    return any(c in _WILDCARD_CHARS for c in pattern)


_STAR: Final = object()  # any run of characters
_ANY: Final = object()  # any one character


class Wildcard:
    """PowerShell's WildcardPattern (``*``, ``?``, ``[abc]``, ``[a-z]``, backtick escapes),
    case-insensitive, anchored at both ends.

    Matched by a two-pointer walk that only ever backs up to the last ``*``: linear for one ``*``,
    at most ``len(pattern) * len(text)`` steps whatever the pattern. A regular expression would
    backtrack exponentially on ``*?*?*?*?*x`` and hold the interpreter lock meanwhile, and the
    pattern comes from the caller (``-Name``, ``-TypeName``, ``-Identity``).
    """

    __slots__ = ("_tokens",)
    _tokens: list[object]

    def __init__(self, pattern: str) -> None:
        # A token is _STAR, _ANY, a one-character literal (an escaped ` * ` is a literal), or a [class].
        tokens: list[object] = []
        i = 0
        while i < len(pattern):
            c = pattern[i]
            if c == "`" and i + 1 < len(pattern):
                tokens.append(pattern[i + 1].lower())
                i += 2
                continue
            if c == "[" and (end := pattern.find("]", i + 1)) != -1:
                tokens.append(_CharClass(pattern[i + 1 : end]))
                i = end + 1
                continue
            if c == "*" and tokens and tokens[-1] is _STAR:
                i += 1  # ** is *
                continue
            tokens.append(_STAR if c == "*" else _ANY if c == "?" else c.lower())
            i += 1
        self._tokens = tokens

    def match(self, text: str) -> bool:
        tokens, text = self._tokens, text.lower()
        t = p = 0
        star = -1  # the token index after the last "*" seen, and where in the text it began
        resume = 0
        while t < len(text):
            token = tokens[p] if p < len(tokens) else None
            if token is _STAR:
                star, resume = p + 1, t
                p += 1
            elif token is not None and (
                token is _ANY or (token.has(text[t]) if isinstance(token, _CharClass) else token == text[t])
            ):
                t += 1
                p += 1
            elif star != -1:
                resume += 1  # let the last "*" take one more character
                t, p = resume, star
            else:
                return False
        return all(token is _STAR for token in tokens[p:])


class _CharClass(tuple[tuple[str, str], ...]):
    """``[abc]`` or ``[a-z]`` (ranges and single characters mixed) as (low, high) pairs, lower-cased;
    a reversed range matches nothing, as in PowerShell."""

    def __new__(cls, body: str) -> _CharClass:
        pairs: list[tuple[str, str]] = []
        i = 0
        while i < len(body):
            if i + 2 < len(body) and body[i + 1] == "-":
                pairs.append((body[i].lower(), body[i + 2].lower()))
                i += 3
            else:
                pairs.append((body[i].lower(), body[i].lower()))
                i += 1
        return super().__new__(cls, pairs)

    def has(self, char: str) -> bool:
        return any(low <= char <= high for low, high in self)


@lru_cache(maxsize=512)
def wildcard(pattern: str) -> Wildcard:
    return Wildcard(pattern)


def matches(pattern: str, name: str) -> bool:
    if not has_wildcards(pattern):
        return pattern.replace("`", "").lower() == name.lower()
    return wildcard(pattern).match(name)


# --- registry ----------------------------------------------------------------------------------


class Registry:
    """The cmdlets a runspace offers, by case-insensitive name."""

    def __init__(self, definitions: Iterable[CmdletDefinition] = ()) -> None:
        self._by_name: dict[str, CmdletDefinition] = {}
        for d in definitions:
            self.register(d)

    def register(self, definition: CmdletDefinition) -> CmdletDefinition:
        key = definition.name.lower()
        if key in self._by_name:
            raise ValueError(f"cmdlet {definition.name} is already registered")
        self._by_name[key] = definition
        return definition

    def get(self, name: str) -> CmdletDefinition | None:
        return self._by_name.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def __iter__(self) -> Iterator[CmdletDefinition]:
        return iter(sorted(self._by_name.values(), key=lambda d: d.name.lower()))

    def __len__(self) -> int:
        return len(self._by_name)

    def find(self, patterns: Sequence[str] | None, roles: frozenset[str]) -> list[CmdletDefinition]:
        """Cmdlets whose name matches any of ``patterns`` (all when ``None`` or empty) and that
        ``roles`` may run, sorted by name. This is the surface Get-Command and Import-PSSession see."""
        found = []
        for d in self:
            if patterns and not any(matches(p, d.name) for p in patterns):
                continue
            if _roles.allowed(d, roles):
                found.append(d)
        return found
