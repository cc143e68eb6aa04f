"""The PowerShell utility cmdlets an Exchange runspace offers: Get-Command, Get-FormatData,
Measure-Object and Select-Object.

Import-PSSession needs the first three (metadata on protocol 2.0 clients, format data, and
``Get-FormatData | Measure-Object`` to count it); Exchange's own guidance pipes to Select-Object
inside ``Invoke-Command``. Every caller may run them (area ``builtin``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from aobo.cmdlets import texts
from aobo.cmdlets.formats import extended_type_definitions
from aobo.cmdlets.metadata import cmdlet_info, find_commands, syntax
from aobo.cmdlets.parameters import (
    COMMAND_TYPES,
    ArrayType,
    IntegerType,
    ObjectArrayType,
    ObjectType,
    StringArrayType,
    StringType,
    SwitchType,
    VersionType,
    display,
    property_of,
)
from aobo.cmdlets.pipeline import Invocation
from aobo.cmdlets.registry import CmdletDefinition, Parameter, Registry, has_wildcards, matches
from aobo.cmdlets.results import (
    CmdletError,
    EnumValue,
    ErrorCategory,
    ErrorRecord,
    ExchangeObject,
    MultiValued,
    ObjectShape,
)

CORE: Final = "Microsoft.PowerShell.Core"
UTILITY: Final = "Microsoft.PowerShell.Utility"

# --- Get-Command -------------------------------------------------------------------------------


def _get_command(inv: Invocation) -> Iterator[Any]:
    for bound in inv.each():
        names = bound.get("Name")
        verbs, nouns = bound.get("Verb"), bound.get("Noun")
        total = bound.get("TotalCount")
        found = find_commands(inv.registry, names, bound.get("CommandType"), inv.ctx.roles, bound.get("Module"))
        if verbs:
            found = [d for d in found if any(matches(v, d.verb) for v in verbs)]
        if nouns:
            found = [d for d in found if any(matches(n, d.noun) for n in nouns)]
        if total is not None and total >= 0:
            found = found[:total]
        for d in found:
            yield syntax(d) if bound.get("Syntax") else cmdlet_info(d)
        # A literal name that matched nothing is an error, as in PowerShell; patterns are not.
        for name in names or ():
            if not has_wildcards(name) and not any(matches(name, d.name) for d in found):
                record = texts.command_not_found(name)
                yield _with_fqid(record, "CommandNotFoundException,Get-Command")


def _with_fqid(record: ErrorRecord, fqid: str) -> ErrorRecord:
    return replace(record, fully_qualified_error_id=fqid, activity=fqid.split(",", 1)[1])


GET_COMMAND: Final = CmdletDefinition(
    name="Get-Command",
    handler=_get_command,
    parameters=(
        Parameter(
            "Name",
            StringArrayType(),
            position=0,
            parameter_sets=("AllCommandSet",),
            value_from_pipeline_by_property_name=True,
        ),
        Parameter(
            "Verb",
            StringArrayType(),
            parameter_sets=("CmdletSet",),
            value_from_pipeline_by_property_name=True,
        ),
        Parameter(
            "Noun",
            StringArrayType(),
            parameter_sets=("CmdletSet",),
            value_from_pipeline_by_property_name=True,
        ),
        Parameter("Module", StringArrayType(), aliases=("PSSnapin",), value_from_pipeline_by_property_name=True),
        Parameter(
            "FullyQualifiedModule",
            ObjectArrayType("Microsoft.PowerShell.Commands.ModuleSpecification[]"),
            value_from_pipeline_by_property_name=True,
        ),
        Parameter(
            "CommandType",
            COMMAND_TYPES,
            aliases=("Type",),
            parameter_sets=("AllCommandSet",),
            value_from_pipeline_by_property_name=True,
        ),
        Parameter("TotalCount", IntegerType(), value_from_pipeline_by_property_name=True),
        Parameter("Syntax", SwitchType(), value_from_pipeline_by_property_name=True),
        Parameter("ShowCommandInfo", SwitchType()),
        Parameter("ArgumentList", ObjectArrayType(), position=1, aliases=("Args",)),
        Parameter("All", SwitchType(), value_from_pipeline_by_property_name=True),
        Parameter("ListImported", SwitchType(), value_from_pipeline_by_property_name=True),
        Parameter("ParameterName", StringArrayType()),
        Parameter("ParameterType", ObjectArrayType("System.Management.Automation.PSTypeName[]")),
    ),
    default_parameter_set="CmdletSet",
    output_type=(
        "System.Management.Automation.AliasInfo",
        "System.Management.Automation.ApplicationInfo",
        "System.Management.Automation.FunctionInfo",
        "System.Management.Automation.CmdletInfo",
        "System.Management.Automation.ExternalScriptInfo",
        "System.Management.Automation.FilterInfo",
        "System.Management.Automation.WorkflowInfo",
        "System.String",
        "System.Management.Automation.PSObject",
    ),
    synopsis="Gets all commands.",
    area="builtin",
    module=CORE,
    help_uri="https://go.microsoft.com/fwlink/?LinkID=113309",
)

# --- Get-FormatData ----------------------------------------------------------------------------


def _get_format_data(inv: Invocation) -> Iterator[Any]:
    # Exchange Online's default table views (aobo.cmdlets.formats), so that after Import-PSSession
    # Windows PowerShell prints Get-Mailbox as Exchange's table rather than every property.
    for bound in inv.each():
        yield from extended_type_definitions(bound.get("TypeName"))


GET_FORMAT_DATA: Final = CmdletDefinition(
    name="Get-FormatData",
    handler=_get_format_data,
    parameters=(
        Parameter("TypeName", StringArrayType(), position=0),
        Parameter("PowerShellVersion", VersionType()),
    ),
    output_type=("System.Management.Automation.ExtendedTypeDefinition",),
    synopsis="Gets the formatting data in the current session.",
    area="builtin",
    module=UTILITY,
    help_uri="https://go.microsoft.com/fwlink/?LinkID=144303",
)

# --- Measure-Object ----------------------------------------------------------------------------

GENERIC_MEASURE_INFO: Final = ObjectShape(
    (
        "Microsoft.PowerShell.Commands.GenericMeasureInfo",
        "Microsoft.PowerShell.Commands.MeasureInfo",
        "System.Object",
    ),
    ("Count", "Average", "Sum", "Maximum", "Minimum", "Property"),
)


class _Stats:
    __slots__ = ("count", "found", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.minimum: float | None = None
        self.maximum: float | None = None
        self.found = False


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, EnumValue):
        return float(value.value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _measure_error(message: str, error_id: str, target: Any = None) -> ErrorRecord:
    return ErrorRecord(
        message=message,
        exception_type="System.Management.Automation.PSInvalidOperationException",
        fully_qualified_error_id=f"{error_id},Measure-Object",
        category=ErrorCategory.InvalidArgument,
        activity="Measure-Object",
        reason="PSInvalidOperationException",
        target_object=target,
    )


def _measure_object(inv: Invocation) -> Iterator[Any]:
    b = inv.bound
    properties: Sequence[str] = b.get("Property") or ()
    want = {k: bool(b.get(k)) for k in ("Sum", "Average", "Minimum", "Maximum")}
    numeric = any(want.values())
    keys: list[str | None] = list(properties) or [None]
    stats = {k: _Stats() for k in keys}
    source: Iterator[Any] = inv.objects() if inv.has_upstream else iter(_explicit_input(inv))
    for obj in source:
        for key in keys:
            if key is None:
                value, present = obj, True
            else:
                present, value = property_of(obj, key)
            if not present:
                continue
            st = stats[key]
            st.found = True
            if value is None and key is not None:
                continue
            if numeric:
                number = _number(value)
                if number is None:
                    yield _measure_error(
                        f'Input object "{display(value)}" is not numeric.', "NonNumericInputObject", value
                    )
                    continue
                st.total += number
                st.minimum = number if st.minimum is None else min(st.minimum, number)
                st.maximum = number if st.maximum is None else max(st.maximum, number)
            st.count += 1
    for key in keys:
        st = stats[key]
        if key is not None and not st.found:
            yield _measure_error(
                f'The property "{key}" cannot be found in the input for any objects.',
                "GenericMeasurePropertyNotFound",
            )
            continue
        average = st.total / st.count if want["Average"] and st.count else None
        yield GENERIC_MEASURE_INFO.make(
            (
                st.count,
                average if want["Average"] else None,
                st.total if want["Sum"] else None,
                st.maximum if want["Maximum"] else None,
                st.minimum if want["Minimum"] else None,
                key,
            )
        )


def _explicit_input(inv: Invocation) -> list[Any]:
    """``-InputObject`` given on the command line counts as one object, as in PowerShell."""
    return [inv.bound["InputObject"]] if inv.bound.is_bound("InputObject") else []


MEASURE_OBJECT: Final = CmdletDefinition(
    name="Measure-Object",
    handler=_measure_object,
    parameters=(
        Parameter("InputObject", ObjectType(), value_from_pipeline=True),
        Parameter("Property", StringArrayType(), position=0),
        Parameter("Sum", SwitchType(), parameter_sets=("GenericMeasure",)),
        Parameter("Average", SwitchType(), parameter_sets=("GenericMeasure",)),
        Parameter("Maximum", SwitchType(), parameter_sets=("GenericMeasure",)),
        Parameter("Minimum", SwitchType(), parameter_sets=("GenericMeasure",)),
    ),
    default_parameter_set="GenericMeasure",
    output_type=("Microsoft.PowerShell.Commands.GenericMeasureInfo",),
    synopsis="Calculates the numeric properties of objects.",
    area="builtin",
    module=UTILITY,
    help_uri="https://go.microsoft.com/fwlink/?LinkID=113349",
)

# --- Select-Object -----------------------------------------------------------------------------

_PSCUSTOMOBJECT: Final = "System.Management.Automation.PSCustomObject"


def _type_name(obj: Any) -> str:
    if isinstance(obj, ExchangeObject):
        return obj.type_names[0]
    if isinstance(obj, Mapping):
        # Front ends hand client-side PSCustomObjects over as plain mappings.
        return _PSCUSTOMOBJECT
    if isinstance(obj, str):
        return "System.String"
    if isinstance(obj, bool):
        return "System.Boolean"
    if isinstance(obj, int):
        return "System.Int32"
    if isinstance(obj, float):
        return "System.Double"
    return "System.Object"


def _property_names(obj: Any) -> list[str]:
    if isinstance(obj, ExchangeObject):
        return list(obj.shape.property_names)
    if isinstance(obj, Mapping):
        return [str(k) for k in obj]
    return []


def _unsupported(message: str) -> CmdletError:
    return CmdletError(texts.not_supported(message, "Select-Object"), terminating=True)


def _property_specs(raw: Sequence[Any]) -> list[tuple[str, str]]:
    """``-Property`` items as (output name, source name or pattern). Calculated properties are only
    possible with a property name as Expression: script blocks cannot reach a no-language runspace."""
    specs: list[tuple[str, str]] = []
    for item in raw:
        if isinstance(item, Mapping):
            keys = {str(k).lower(): v for k, v in item.items()}
            expression = keys.get("expression", keys.get("e"))
            label = keys.get("name", keys.get("n", keys.get("label", keys.get("l"))))
            if not isinstance(expression, str):
                raise _unsupported("Calculated properties need a property name as Expression in this runspace.")
            specs.append((str(label) if label is not None else expression, expression))
        else:
            specs.append((display(item), display(item)))
    return specs


class _Selector:
    """Builds ``Selected.<type>`` objects, reusing one shape per input type and property list."""

    def __init__(self, specs: list[tuple[str, str]], exclude: Sequence[str]) -> None:
        self.specs = specs
        self.exclude = exclude
        self.shapes: dict[tuple[str, tuple[str, ...]], ObjectShape] = {}

    def columns(self, obj: Any) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        names = None
        for label, source in self.specs:
            if has_wildcards(source):
                names = names if names is not None else _property_names(obj)
                expanded = [(n, n) for n in names if matches(source, n)]
            else:
                expanded = [(label, source)]
            for column in expanded:
                if column[0].lower() not in seen and not any(matches(x, column[0]) for x in self.exclude):
                    seen.add(column[0].lower())
                    out.append(column)
        return out

    def select(self, obj: Any, extra: Sequence[tuple[str, Any]] = ()) -> ExchangeObject:
        columns = self.columns(obj)
        values = [property_of(obj, source)[1] for _, source in columns]
        labels = [label for label, _ in columns]
        for label, value in extra:
            if label.lower() not in {x.lower() for x in labels}:
                labels.append(label)
                values.append(value)
        key = (_type_name(obj), tuple(labels))
        shape = self.shapes.get(key)
        if shape is None:
            shape = ObjectShape((f"Selected.{key[0]}", _PSCUSTOMOBJECT, "System.Object"), key[1])
            if len(self.shapes) < 256:
                self.shapes[key] = shape
        return ExchangeObject(shape, tuple(values))


def _hashable(value: Any) -> Any:
    if isinstance(value, ExchangeObject):
        return (value.type_names[0], tuple(_hashable(v) for v in value.values))
    if isinstance(value, Mapping):
        return tuple((str(k), _hashable(v)) for k, v in value.items())
    if isinstance(value, list | tuple | MultiValued):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, str):
        return value.lower()  # -Unique compares strings case-insensitively in Windows PowerShell
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _expand(obj: Any, name: str, selector: _Selector | None) -> Iterator[Any]:
    found, value = property_of(obj, name)
    if not found:
        raise CmdletError(
            ErrorRecord(
                message=f'Property "{name}" cannot be found.',
                exception_type="System.Management.Automation.PSArgumentException",
                fully_qualified_error_id="ExpandPropertyNotFound,Select-Object",
                category=ErrorCategory.InvalidArgument,
                activity="Select-Object",
                reason="PSArgumentException",
                target_object=obj,
            ),
            terminating=False,
        )
    items = list(value) if isinstance(value, list | tuple | MultiValued) else [] if value is None else [value]
    for item in items:
        if selector is None:
            yield item
            continue
        # PowerShell attaches the selected properties to each expanded value as note properties.
        extra = [(label, property_of(obj, source)[1]) for label, source in selector.columns(obj)]
        if isinstance(item, ExchangeObject):
            shape = ObjectShape(item.type_names, (*item.shape.property_names, *(k for k, _ in extra)))
            yield ExchangeObject(shape, (*item.values, *(v for _, v in extra)), item.to_string)
        else:
            shape = ObjectShape((_type_name(item), "System.Object"), tuple(k for k, _ in extra))
            yield ExchangeObject(shape, tuple(v for _, v in extra), display(item))


def _select_object(inv: Invocation) -> Iterator[Any]:
    b = inv.bound
    first, last, skip = b.get("First"), b.get("Last"), b.get("Skip") or 0
    index = b.get("Index")
    unique = bool(b.get("Unique"))
    expand = b.get("ExpandProperty")
    specs = _property_specs(b.get("Property") or ())
    selector = _Selector(specs, b.get("ExcludeProperty") or ()) if specs else None
    if first is not None and first <= 0 and last is None:
        inv.stop_upstream()
        return
    wanted = sorted(set(index)) if index else None
    tail: deque[Any] | None = deque(maxlen=last + skip) if last is not None else None
    seen: set[Any] = set()
    emitted = 0
    position = -1
    source = inv.objects() if inv.has_upstream else iter(_explicit_input(inv))

    def transform(obj: Any) -> Iterator[Any]:
        if expand is not None:
            try:
                yield from _expand(obj, expand, selector)
            except CmdletError as e:
                yield e.record
        elif selector is not None:
            yield selector.select(obj)
        else:
            yield obj

    for obj in source:
        position += 1
        if wanted is not None:
            if position > wanted[-1]:
                inv.stop_upstream()
                break
            if position not in wanted:
                continue
        elif tail is None and position < skip:
            continue
        for out in transform(obj):
            if isinstance(out, ErrorRecord):
                yield out
                continue
            if unique:
                key = _hashable(out)
                if key in seen:
                    continue
                seen.add(key)
            if first is not None and emitted < first:
                emitted += 1
                if emitted == first and tail is None:
                    inv.stop_upstream()
                yield out
            elif tail is not None:
                tail.append(out)
            elif first is None:
                yield out
        if first is not None and emitted >= first and tail is None:
            break
    if tail is not None:
        kept = list(tail)[: max(0, len(tail) - skip)]
        yield from kept[-last:] if last else []


SELECT_OBJECT: Final = CmdletDefinition(
    name="Select-Object",
    handler=_select_object,
    parameters=(
        Parameter("InputObject", ObjectType(), value_from_pipeline=True),
        Parameter("Property", ObjectArrayType(), position=0, parameter_sets=("DefaultParameter",)),
        Parameter("ExcludeProperty", StringArrayType(), parameter_sets=("DefaultParameter",)),
        Parameter("ExpandProperty", StringType(), parameter_sets=("DefaultParameter",)),
        Parameter("Unique", SwitchType()),
        Parameter("Last", IntegerType(), parameter_sets=("DefaultParameter",)),
        Parameter("First", IntegerType(), parameter_sets=("DefaultParameter",)),
        Parameter("Skip", IntegerType(), parameter_sets=("DefaultParameter",)),
        Parameter("Wait", SwitchType(), parameter_sets=("DefaultParameter", "IndexParameter")),
        Parameter("Index", ArrayType(IntegerType()), parameter_sets=("IndexParameter",)),
    ),
    default_parameter_set="DefaultParameter",
    synopsis="Selects objects or object properties.",
    area="builtin",
    module=UTILITY,
    help_uri="https://go.microsoft.com/fwlink/?LinkID=113387",
)

BUILTINS: Final = (GET_COMMAND, GET_FORMAT_DATA, MEASURE_OBJECT, SELECT_OBJECT)


def register_builtins(registry: Registry) -> None:
    for definition in BUILTINS:
        registry.register(definition)
