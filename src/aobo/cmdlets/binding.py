"""Parameter binding, as PowerShell does it for a command pipeline.

Pure functions over a :class:`~aobo.cmdlets.registry.CmdletDefinition`: no context, no I/O. The
steps mirror PowerShell's binder:

1. :func:`bind_arguments` binds what the client sent: named parameters (``Identity``, ``-Identity``,
   ``-Identity:``; exact name or alias, else a unique prefix), then positional arguments in
   position order;
2. :func:`bind_pipeline_object` binds one piped object to ValueFromPipeline parameters, then to
   ValueFromPipelineByPropertyName ones;
3. :func:`finalize` picks the parameter set, checks mandatory parameters and fills defaults.

:func:`bind` runs all three. Every failure is a terminating :class:`CmdletError` carrying the error
record PowerShell would produce, except per-object pipeline failures, which are not terminating.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from aobo.cmdlets import texts
from aobo.cmdlets.parameters import ConversionError, display, property_of
from aobo.cmdlets.registry import CmdletDefinition, Parameter
from aobo.cmdlets.results import CmdletError, ErrorCategory, ErrorRecord


class ParameterSource(enum.Enum):
    """Where a bound value came from (click's ParameterSource, for cmdlets)."""

    NAMED = "named"
    POSITIONAL = "positional"
    PIPELINE = "pipeline"
    PIPELINE_BY_PROPERTY_NAME = "pipeline_by_property_name"
    DEFAULT = "default"


class BoundParameters(Mapping[str, Any]):
    """Bound values by canonical parameter name; lookups accept any case and aliases.

    ``parameter_set`` is decided by :func:`finalize`; before that it is ``None``.
    ``candidate_sets`` are the sets still possible given what is bound.
    """

    __slots__ = ("candidate_sets", "definition", "parameter_set", "sources", "values")

    def __init__(self, definition: CmdletDefinition) -> None:
        self.definition = definition
        self.values: dict[str, Any] = {}
        self.sources: dict[str, ParameterSource] = {}
        self.candidate_sets: tuple[str, ...] = definition.parameter_sets
        self.parameter_set: str | None = None

    def _key(self, name: str) -> str:
        p = self.definition.parameter(name)
        return p.name if p is not None else name

    def __getitem__(self, name: str) -> Any:
        return self.values[self._key(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(self._key(name), default)

    def source(self, name: str) -> ParameterSource | None:
        return self.sources.get(self._key(name))

    def is_bound(self, name: str) -> bool:
        """Given by the caller or the pipeline (not a default)."""
        src = self.source(name)
        return src is not None and src is not ParameterSource.DEFAULT

    def copy(self) -> BoundParameters:
        other = BoundParameters.__new__(BoundParameters)
        other.definition = self.definition
        other.values = dict(self.values)
        other.sources = dict(self.sources)
        other.candidate_sets = self.candidate_sets
        other.parameter_set = self.parameter_set
        return other

    def __repr__(self) -> str:
        return f"<BoundParameters {self.definition.name} {self.values!r} set={self.parameter_set}>"

    def _set(self, p: Parameter, value: Any, source: ParameterSource) -> None:
        self.values[p.name] = value
        self.sources[p.name] = source
        if not p.in_all_sets:
            self.candidate_sets = tuple(s for s in self.candidate_sets if s in p.parameter_sets)


def _fail(defn: CmdletDefinition, message: str, error_id: str, **kw: Any) -> CmdletError:
    return CmdletError(texts.binding_error(message, error_id, defn.name, **kw), terminating=True)


def normalise_name(name: str) -> str:
    """``-Name:`` / ``-Name`` / ``Name`` → ``Name`` (Exchange clients send the first form)."""
    if name.startswith("-"):
        name = name[1:]
    if name.endswith(":"):
        name = name[:-1]
    return name


def _resolve_name(defn: CmdletDefinition, given: str) -> Parameter:
    found = defn.match_parameter(given) if given else []
    if not found:
        raise _fail(defn, texts.NAMED_PARAMETER_NOT_FOUND.format(name=given), "NamedParameterNotFound")
    if len(found) > 1:
        names = " ".join(f"-{p.name}" for p in found)
        raise _fail(defn, texts.AMBIGUOUS_PARAMETER.format(name=given, matches=names), "AmbiguousParameter")
    return found[0]


def _convert(defn: CmdletDefinition, p: Parameter, value: Any) -> Any:
    """Validate and convert one argument, with PowerShell's errors."""
    if value is None and not p.switch and p.ever_mandatory:
        raise _fail(
            defn,
            texts.ARGUMENT_NULL.format(name=p.name),
            "ParameterArgumentValidationErrorNullNotAllowed",
            category=ErrorCategory.InvalidData,
        )
    if isinstance(value, str) and value == "" and p.ever_mandatory:
        raise _fail(
            defn,
            texts.ARGUMENT_EMPTY_STRING.format(name=p.name),
            "ParameterArgumentValidationErrorEmptyStringNotAllowed",
            category=ErrorCategory.InvalidData,
        )
    try:
        return p.type.convert(value)
    except ConversionError as e:
        if e.transform:
            record = texts.binding_error(
                texts.CANNOT_TRANSFORM.format(name=p.name, reason=e.reason),
                "ParameterArgumentTransformationError",
                defn.name,
                category=ErrorCategory.InvalidData,
            )
            record = _with_exception(record, "ParameterBindingArgumentTransformationException")
        else:
            record = texts.binding_error(
                texts.CANNOT_BIND.format(name=p.name, reason=e.reason),
                "CannotConvertArgumentNoMessage",
                defn.name,
            )
        raise CmdletError(record, terminating=True) from None


def _with_exception(record: ErrorRecord, short: str) -> ErrorRecord:
    return replace(record, exception_type=f"System.Management.Automation.{short}", reason=short)


def bind_arguments(defn: CmdletDefinition, raw: Sequence[tuple[str | None, Any]]) -> BoundParameters:
    """Bind the command line: named parameters first, then positional arguments."""
    bound = BoundParameters(defn)
    positional: list[Any] = []
    for name, value in raw:
        if name is None:
            positional.append(value)
            continue
        p = _resolve_name(defn, normalise_name(str(name)))
        if p.name in bound.values:
            raise _fail(defn, texts.PARAMETER_ALREADY_BOUND.format(name=p.name), "ParameterAlreadyBound")
        bound._set(p, _convert(defn, p, value), ParameterSource.NAMED)
        if not bound.candidate_sets:
            raise _fail(defn, texts.AMBIGUOUS_PARAMETER_SET, "AmbiguousParameterSet")
    if positional:
        _bind_positional(defn, bound, positional)
    return bound


def _bind_positional(defn: CmdletDefinition, bound: BoundParameters, args: list[Any]) -> None:
    def slots() -> list[Parameter]:
        return sorted(
            (
                p
                for p in defn.all_parameters
                if p.position is not None
                and p.name not in bound.values
                and any(p.in_set(s) for s in bound.candidate_sets)
            ),
            key=lambda p: p.position if p.position is not None else 0,
        )

    for arg in args:
        free = slots()
        if not free:
            raise _fail(
                defn,
                texts.POSITIONAL_PARAMETER_NOT_FOUND.format(arg=display(arg)),
                "PositionalParameterNotFound",
            )
        p = free[0]
        bound._set(p, _convert(defn, p, arg), ParameterSource.POSITIONAL)
        if not bound.candidate_sets:
            raise _fail(defn, texts.AMBIGUOUS_PARAMETER_SET, "AmbiguousParameterSet")


def bind_pipeline_object(bound: BoundParameters, obj: Any) -> BoundParameters | None:
    """A copy of ``bound`` with ``obj`` bound to the parameters that take pipeline input, or
    ``None`` when it binds to none of them (the caller reports InputObjectNotBound)."""
    defn = bound.definition
    result = bound.copy()
    bound_any = False

    def open_for(p: Parameter) -> bool:
        return p.name not in result.values and any(p.in_set(s) for s in result.candidate_sets)

    for p in defn.all_parameters:
        if p.value_from_pipeline and obj is not None and open_for(p):
            try:
                value = p.type.convert(obj)
            except ConversionError:
                continue
            result._set(p, value, ParameterSource.PIPELINE)
            bound_any = True
    for p in defn.all_parameters:
        if not (p.value_from_pipeline_by_property_name and open_for(p)):
            continue
        for key in (p.name, *p.aliases):
            found, value = property_of(obj, key)
            if found and value is not None:
                try:
                    converted = p.type.convert(value)
                except ConversionError:
                    break
                result._set(p, converted, ParameterSource.PIPELINE_BY_PROPERTY_NAME)
                bound_any = True
                break
    if not bound_any or not result.candidate_sets:
        return None
    return result


def _choose_set(bound: BoundParameters) -> str | None:
    defn = bound.definition
    candidates = bound.candidate_sets
    if len(candidates) == 1:
        return candidates[0]
    if defn.default_parameter_set in candidates:
        return defn.default_parameter_set
    satisfied = [s for s in candidates if all(p.name in bound.values for p in defn.all_parameters if p.mandatory_in(s))]
    if len(satisfied) == 1:
        return satisfied[0]
    return None


def finalize(bound: BoundParameters, *, input_pending: bool = False) -> BoundParameters:
    """Decide the parameter set, check mandatory parameters, fill defaults (in place).

    With ``input_pending`` (a command that will receive pipeline objects), only what the pipeline
    cannot supply is checked; the rest is checked per object.
    """
    defn = bound.definition
    chosen = _choose_set(bound)
    if chosen is None:
        if input_pending:
            return bound
        raise _fail(defn, texts.AMBIGUOUS_PARAMETER_SET, "AmbiguousParameterSet")
    missing = [
        p.name
        for p in defn.all_parameters
        if p.mandatory_in(chosen) and p.name not in bound.values and not (input_pending and p.takes_pipeline_input)
    ]
    if missing:
        names = "".join(f" {n}" for n in missing)
        raise _fail(defn, texts.MISSING_MANDATORY.format(names=names), "MissingMandatoryParameter")
    if input_pending:
        return bound
    bound.parameter_set = chosen
    for p in defn.all_parameters:
        if p.default is not None and p.name not in bound.values and p.in_set(chosen):
            bound.values[p.name] = p.default
            bound.sources[p.name] = ParameterSource.DEFAULT
    return bound


def finalize_pipeline_object(bound: BoundParameters) -> BoundParameters:
    """:func:`finalize` for one piped object: failures are not terminating, as in PowerShell."""
    defn = bound.definition
    chosen = _choose_set(bound)
    if chosen is None:
        raise CmdletError(
            texts.binding_error(texts.AMBIGUOUS_PARAMETER_SET, "AmbiguousParameterSet", defn.name),
            terminating=False,
        )
    missing = [p.name for p in defn.all_parameters if p.mandatory_in(chosen) and p.name not in bound.values]
    if missing:
        record = texts.binding_error(
            texts.INPUT_OBJECT_MISSING_MANDATORY.format(names="".join(f" {n}" for n in missing)),
            "InputObjectMissingMandatory",
            defn.name,
        )
        raise CmdletError(record, terminating=False)
    return finalize(bound)


def input_object_not_bound(defn: CmdletDefinition, obj: Any) -> ErrorRecord:
    record = texts.binding_error(texts.INPUT_OBJECT_NOT_BOUND, "InputObjectNotBound", defn.name)
    return replace(record, target_object=obj)


def bind(
    defn: CmdletDefinition,
    raw: Sequence[tuple[str | None, Any]],
    pipeline_input_object: Any = None,
) -> BoundParameters:
    """Bind a command line and, when given, one pipeline object; then finalize.

    ``pipeline_input_object=None`` means no pipeline input. A piped object that binds to nothing
    raises a non-terminating InputObjectNotBound error.
    """
    bound = bind_arguments(defn, raw)
    if pipeline_input_object is None:
        return finalize(bound)
    finalize(bound, input_pending=True)
    with_input = bind_pipeline_object(bound, pipeline_input_object)
    if with_input is None:
        raise CmdletError(input_object_not_bound(defn, pipeline_input_object), terminating=False)
    return finalize_pipeline_object(with_input)
