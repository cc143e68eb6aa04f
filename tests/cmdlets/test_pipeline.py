"""run_pipeline: statements, lazy chaining, stream records, preferences, refusals, stopping, audit."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from aobo.cmdlets import texts
from aobo.cmdlets.binding import bind
from aobo.cmdlets.builtin import register_builtins
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.parameters import IntegerType, ObjectType, SecureStringType, StringType, SwitchType
from aobo.cmdlets.pipeline import (
    CommandInvocation,
    Invocation,
    PipelineStopped,
    audit_parameters,
    redact_raw_parameters,
    run_pipeline,
)
from aobo.cmdlets.registry import CmdletDefinition, Parameter, Registry
from aobo.cmdlets.results import (
    CmdletError,
    ErrorCategory,
    ErrorRecord,
    ExchangeObject,
    VerboseRecord,
    WarningRecord,
)
from aobo.domain.store import REDACTED


def cmd(name: str, *params: tuple[str | None, Any], script: bool = False, end: bool = False) -> CommandInvocation:
    return CommandInvocation(name, list(params), is_script=script, end_of_statement=end)


def objects(items: list[Any]) -> list[Any]:
    return [i for i in items if not isinstance(i, ErrorRecord | WarningRecord | VerboseRecord)]


@dataclass
class Probe:
    """What the fake cmdlets did: how far the producer got and whether it was closed."""

    started: bool = False
    produced: int = 0
    closed: bool = False
    finished: bool = False


def error_record(n: int) -> ErrorRecord:
    return ErrorRecord(f"bad {n}", "System.Exception", "Bad,Get-Number", activity="Get-Number")


def make_registry(probe: Probe) -> Registry:
    def get_number(inv: Invocation) -> Iterator[Any]:
        probe.started = True
        b = inv.bound
        every = b.get("ErrorEvery")
        try:
            for n in range(1, b["Count"] + 1):
                if b.get("Warn"):
                    yield WarningRecord(f"careful {n}")
                yield VerboseRecord(f"number {n}")
                if every and n % every == 0:
                    yield error_record(n)
                    continue
                probe.produced += 1
                yield n
            if b.get("Fail"):
                raise CmdletError(ErrorRecord("it broke", "System.Exception", "Broke,Get-Number"))
            probe.finished = True
        finally:
            probe.closed = True

    def get_forever(inv: Invocation) -> Iterator[Any]:
        probe.started = True
        try:
            for n in itertools.count():
                probe.produced += 1
                yield n
        finally:
            probe.closed = True

    def get_person(inv: Invocation) -> Iterator[Any]:
        yield {"Name": "Ann", "Age": 31, "Tags": ["a", "b"]}
        yield {"Name": "Bob", "Age": 45, "Tags": []}
        yield {"Name": "ann", "Age": 31, "Tags": ["c"]}

    def show_name(inv: Invocation) -> Iterator[Any]:
        for bound in inv.each():
            yield f"hello {bound['Name']}"

    def echo(inv: Invocation) -> Iterator[Any]:
        for bound in inv.each():
            yield bound["Value"]

    def soft_fail(inv: Invocation) -> Iterator[Any]:
        yield "before"
        raise CmdletError(ErrorRecord("soft", "System.Exception", "Soft,Get-Soft"), terminating=False)

    def set_thing(inv: Invocation) -> Iterator[Any]:
        yield "set"

    registry = Registry()
    register_builtins(registry)
    for d in (
        CmdletDefinition(
            "Get-Number",
            get_number,
            (
                Parameter("Count", IntegerType(), default=3),
                Parameter("ErrorEvery", IntegerType()),
                Parameter("Warn", SwitchType()),
                Parameter("Fail", SwitchType()),
            ),
            area="recipient",
        ),
        CmdletDefinition("Get-Forever", get_forever, area="recipient"),
        CmdletDefinition("Get-Person", get_person, area="recipient"),
        CmdletDefinition(
            "Show-Name",
            show_name,
            (Parameter("Name", StringType(), mandatory=True, value_from_pipeline_by_property_name=True),),
            area="recipient",
        ),
        CmdletDefinition(
            "Write-Value",
            echo,
            (Parameter("Value", ObjectType(), position=0, value_from_pipeline=True),),
            area="recipient",
        ),
        CmdletDefinition("Get-Soft", soft_fail, area="recipient"),
        CmdletDefinition("Set-Thing", set_thing, writes=True, area="recipient"),
    ):
        registry.register(d)
    return registry


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def reg(probe: Probe) -> Registry:
    return make_registry(probe)


@pytest.fixture
def ctx(fake_ctx: Callable[..., CmdletContext]) -> CmdletContext:
    return fake_ctx()


def run(ctx: CmdletContext, registry: Registry, *commands: CommandInvocation, input: Any = None) -> list[Any]:
    return list(run_pipeline(ctx, registry, list(commands), input))


def failure(ctx: CmdletContext, registry: Registry, *commands: CommandInvocation) -> CmdletError:
    with pytest.raises(CmdletError) as info:
        run(ctx, registry, *commands)
    return info.value


# --- refusals ----------------------------------------------------------------------------------


def test_no_language_refuses_script_before_anything_runs(ctx: CmdletContext, reg: Registry, probe: Probe) -> None:
    e = failure(ctx, reg, cmd("Get-Number", end=True), cmd("Get-Process | Stop-Process", script=True))
    r = e.record
    assert e.terminating
    assert r.message == (
        "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode."
    )
    assert r.category is ErrorCategory.ParserError
    assert r.exception_type == "System.Management.Automation.ParseException"
    assert r.fully_qualified_error_id == "ScriptsNotAllowed"
    assert not probe.started


def test_unknown_command(ctx: CmdletContext, reg: Registry) -> None:
    r = failure(ctx, reg, cmd("Foo-Bar")).record
    assert r.message == (
        "The term 'Foo-Bar' is not recognized as the name of a cmdlet, function, script file, or operable "
        "program. Check the spelling of the name, or if a path was included, verify that the path is correct "
        "and try again."
    )
    assert r.exception_type == "System.Management.Automation.CommandNotFoundException"
    assert r.category is ErrorCategory.ObjectNotFound
    assert r.fully_qualified_error_id == "CommandNotFoundException"


def test_role_denial(fake_ctx: Callable[..., CmdletContext], reg: Registry) -> None:
    ctx = fake_ctx(roles=("Help Desk",))
    assert run(ctx, reg, cmd("Get-Number")) == [1, 2, 3]
    r = failure(ctx, reg, cmd("Set-Thing")).record
    assert r.message == (
        '[FailureCategory=AuthZ-CmdletAccessDeniedException] The user "northwindit.onmicrosoft.com\\'
        "admin@northwindit.onmicrosoft.com\" isn't assigned to any management roles that allow running "
        '"Set-Thing".'
    )
    assert r.exception_type == "Microsoft.Exchange.Configuration.Tasks.CmdletAccessDeniedException"
    assert r.category is ErrorCategory.PermissionDenied


def test_a_statement_is_bound_before_it_runs(ctx: CmdletContext, reg: Registry, probe: Probe) -> None:
    e = failure(ctx, reg, cmd("Get-Number"), cmd("Select-Object", ("Bogus", 1)))
    assert e.record.fully_qualified_error_id == "NamedParameterNotFound,Select-Object"
    assert not probe.started


# --- statements and chaining -------------------------------------------------------------------


def test_statements_run_in_order(ctx: CmdletContext, reg: Registry) -> None:
    out = run(ctx, reg, cmd("Get-Number", ("Count", 2), end=True), cmd("Get-Person"), cmd("Show-Name"))
    assert out == [1, 2, "hello Ann", "hello Bob", "hello ann"]


def test_later_statement_failure_after_earlier_output(ctx: CmdletContext, reg: Registry) -> None:
    got: list[Any] = []
    with pytest.raises(CmdletError) as info:
        for item in run_pipeline(ctx, reg, [cmd("Get-Number", ("Count", 2), end=True), cmd("No-Such")]):
            got.append(item)
    assert got == [1, 2]
    assert info.value.record.fully_qualified_error_id == "CommandNotFoundException"


def test_terminating_error_from_handler(ctx: CmdletContext, reg: Registry) -> None:
    got: list[Any] = []
    with pytest.raises(CmdletError, match="it broke"):
        for item in run_pipeline(ctx, reg, [cmd("Get-Number", ("Fail", None))]):
            got.append(item)
    assert got == [1, 2, 3]


def test_non_terminating_error_raised_by_handler_becomes_a_record(ctx: CmdletContext, reg: Registry) -> None:
    out = run(ctx, reg, cmd("Get-Soft"))
    assert out[0] == "before"
    assert isinstance(out[1], ErrorRecord) and out[1].message == "soft"


def test_pipeline_by_property_name(ctx: CmdletContext, reg: Registry) -> None:
    assert run(ctx, reg, cmd("Get-Person"), cmd("Show-Name")) == ["hello Ann", "hello Bob", "hello ann"]


def test_input_object_not_bound(ctx: CmdletContext, reg: Registry) -> None:
    out = run(ctx, reg, cmd("Get-Number", ("Count", 2)), cmd("Show-Name"))
    assert [r.fully_qualified_error_id for r in out] == ["InputObjectNotBound,Show-Name"] * 2


def test_external_input_feeds_first_command(ctx: CmdletContext, reg: Registry) -> None:
    assert run(ctx, reg, cmd("Write-Value"), input=["a", "b"]) == ["a", "b"]
    assert run(ctx, reg, cmd("Write-Value"), input=[]) == []


def test_streaming_is_lazy(ctx: CmdletContext, reg: Registry, probe: Probe) -> None:
    gen = run_pipeline(ctx, reg, [cmd("Get-Forever"), cmd("Write-Value")])
    assert list(itertools.islice(gen, 3)) == [0, 1, 2]
    assert probe.produced == 3
    gen.close()
    assert probe.closed


def test_select_first_closes_upstream(ctx: CmdletContext, reg: Registry, probe: Probe) -> None:
    gen = run_pipeline(ctx, reg, [cmd("Get-Forever"), cmd("Select-Object", ("First", 3))])
    assert next(gen) == 0
    assert next(gen) == 1
    assert not probe.closed
    assert next(gen) == 2
    # Closed before the last selected object is even handed over, as PowerShell stops upstream.
    assert probe.closed
    assert probe.produced == 3
    assert list(gen) == []


def test_stopping(fake_ctx: Callable[..., CmdletContext], reg: Registry, probe: Probe) -> None:
    # Measure-Object never yields until its input ends: the check between input objects stops it.
    calls = itertools.count()
    ctx = fake_ctx(is_stopping=lambda: next(calls) > 5)
    with pytest.raises(PipelineStopped):
        run(ctx, reg, cmd("Get-Forever"), cmd("Measure-Object"))
    assert probe.closed
    assert 1 <= probe.produced <= 6
    # A stop requested before the run starts runs nothing.
    probe.started = False
    with pytest.raises(PipelineStopped):
        run(fake_ctx(is_stopping=lambda: True), reg, cmd("Get-Forever"))
    assert not probe.started


# --- stream records and preferences ------------------------------------------------------------


def test_records_from_upstream_keep_their_order(ctx: CmdletContext, reg: Registry) -> None:
    out = run(ctx, reg, cmd("Get-Number", ("Count", 2), ("Warn", None)), cmd("Write-Value"))
    assert out == [WarningRecord("careful 1"), 1, WarningRecord("careful 2"), 2]


def test_verbose_only_with_verbose(ctx: CmdletContext, reg: Registry) -> None:
    assert run(ctx, reg, cmd("Get-Number", ("Count", 1))) == [1]
    assert run(ctx, reg, cmd("Get-Number", ("Count", 1), ("Verbose", None))) == [VerboseRecord("number 1"), 1]


def test_error_action(ctx: CmdletContext, reg: Registry) -> None:
    out = run(ctx, reg, cmd("Get-Number", ("Count", 4), ("ErrorEvery", 2)))
    assert out == [1, error_record(2), 3, error_record(4)]
    for quiet in ("SilentlyContinue", "Ignore"):
        assert run(ctx, reg, cmd("Get-Number", ("Count", 4), ("ErrorEvery", 2), ("-ErrorAction:", quiet))) == [1, 3]
    got: list[Any] = []
    with pytest.raises(CmdletError) as info:
        for item in run_pipeline(ctx, reg, [cmd("Get-Number", ("Count", 4), ("ErrorEvery", 2), ("ea", "Stop"))]):
            got.append(item)
    assert got == [1]
    assert info.value.terminating and info.value.record == error_record(2)


def test_error_action_applies_to_the_command_that_wrote(ctx: CmdletContext, reg: Registry) -> None:
    out = run(
        ctx,
        reg,
        cmd("Get-Number", ("Count", 2), ("ErrorEvery", 2)),
        cmd("Write-Value", ("ErrorAction", "SilentlyContinue")),
    )
    assert out == [1, error_record(2)]


def test_warning_action(ctx: CmdletContext, reg: Registry) -> None:
    out = run(ctx, reg, cmd("Get-Number", ("Count", 1), ("Warn", None), ("WarningAction", "SilentlyContinue")))
    assert out == [1]
    r = failure(ctx, reg, cmd("Get-Number", ("Count", 1), ("Warn", None), ("WarningAction", "Stop"))).record
    assert r.message == (
        'The running command stopped because the preference variable "WarningPreference" or common parameter '
        "is set to Stop: careful 1"
    )


# --- utility cmdlets in pipelines ---------------------------------------------------------------


def test_measure_object(ctx: CmdletContext, reg: Registry) -> None:
    (m,) = run(
        ctx,
        reg,
        cmd("Get-Number", ("Count", 4)),
        cmd("Measure-Object", ("Sum", None), ("Average", None), ("Maximum", None), ("Minimum", None)),
    )
    assert isinstance(m, ExchangeObject)
    assert m.type_names[0] == "Microsoft.PowerShell.Commands.GenericMeasureInfo"
    assert m.as_dict() == {
        "Count": 4,
        "Average": 2.5,
        "Sum": 10.0,
        "Maximum": 4.0,
        "Minimum": 1.0,
        "Property": None,
    }
    (plain,) = run(ctx, reg, cmd("Get-Number", ("Count", 0)), cmd("Measure-Object"))
    assert plain.as_dict() == {
        "Count": 0,
        "Average": None,
        "Sum": None,
        "Maximum": None,
        "Minimum": None,
        "Property": None,
    }


def test_measure_object_property(ctx: CmdletContext, reg: Registry) -> None:
    out = run(ctx, reg, cmd("Get-Person"), cmd("Measure-Object", (None, ["Age", "Height"]), ("Sum", None)))
    age, missing = out
    assert age["Count"] == 3 and age["Sum"] == 107.0 and age["Property"] == "Age"
    assert isinstance(missing, ErrorRecord)
    assert missing.message == 'The property "Height" cannot be found in the input for any objects.'
    bad = run(ctx, reg, cmd("Get-Person"), cmd("Measure-Object", ("Property", "Name"), ("Sum", None)))
    assert bad[0].message == 'Input object "Ann" is not numeric.'


def test_select_object_properties(ctx: CmdletContext, reg: Registry) -> None:
    out = run(ctx, reg, cmd("Get-Person"), cmd("Select-Object", (None, ["Name", "Nope"]), ("First", 2)))
    assert [o.as_dict() for o in out] == [{"Name": "Ann", "Nope": None}, {"Name": "Bob", "Nope": None}]
    assert out[0].type_names == (
        "Selected.System.Management.Automation.PSCustomObject",
        "System.Management.Automation.PSCustomObject",
        "System.Object",
    )
    assert out[0].shape is out[1].shape
    star = run(ctx, reg, cmd("Get-Person"), cmd("Select-Object", ("Property", "*"), ("ExcludeProperty", "T*")))
    assert star[0].as_dict() == {"Name": "Ann", "Age": 31}
    renamed = run(ctx, reg, cmd("Get-Person"), cmd("Select-Object", ("Property", [{"n": "Who", "e": "Name"}])))
    assert renamed[1].as_dict() == {"Who": "Bob"}


def test_select_object_expand_unique_last_skip_index(ctx: CmdletContext, reg: Registry) -> None:
    assert run(ctx, reg, cmd("Get-Person"), cmd("Select-Object", ("ExpandProperty", "Tags"))) == [
        "a",
        "b",
        "c",
    ]
    expanded = run(ctx, reg, cmd("Get-Person"), cmd("Select-Object", ("ExpandProperty", "Tags"), ("Property", "Name")))
    assert [(e.to_string, e["Name"]) for e in expanded] == [("a", "Ann"), ("b", "Ann"), ("c", "ann")]
    missing = run(ctx, reg, cmd("Get-Person"), cmd("Select-Object", ("ExpandProperty", "Nope")))
    assert missing[0].fully_qualified_error_id == "ExpandPropertyNotFound,Select-Object"
    unique = run(ctx, reg, cmd("Get-Person"), cmd("Select-Object", ("Property", "Name"), ("Unique", None)))
    assert [u["Name"] for u in unique] == ["Ann", "Bob"]
    nums = [cmd("Get-Number", ("Count", 10))]
    assert run(ctx, reg, *nums, cmd("Select-Object", ("Last", 3))) == [8, 9, 10]
    assert run(ctx, reg, *nums, cmd("Select-Object", ("Skip", 7))) == [8, 9, 10]
    assert run(ctx, reg, *nums, cmd("Select-Object", ("Skip", 2), ("First", 2))) == [3, 4]
    assert run(ctx, reg, *nums, cmd("Select-Object", ("Last", 2), ("Skip", 1))) == [8, 9]
    assert run(ctx, reg, *nums, cmd("Select-Object", ("First", 2), ("Last", 2))) == [1, 2, 9, 10]
    assert run(ctx, reg, *nums, cmd("Select-Object", ("Index", [0, 4]))) == [1, 5]
    assert run(ctx, reg, *nums, cmd("Select-Object", ("First", 0))) == []


def test_select_object_index_stops_upstream(ctx: CmdletContext, reg: Registry, probe: Probe) -> None:
    assert run(ctx, reg, cmd("Get-Forever"), cmd("Select-Object", ("Index", [2]))) == [2]
    assert probe.closed and probe.produced == 4


def test_get_format_data_is_counted_by_measure_object(ctx: CmdletContext, reg: Registry) -> None:
    # The definitions themselves are tested in tests/cmdlets/test_format_data.py.
    found = run(ctx, reg, cmd("Get-FormatData", ("TypeName", "*"), ("PowerShellVersion", "5.1")))
    (count,) = run(ctx, reg, cmd("Get-FormatData", ("TypeName", "*")), cmd("Measure-Object"))
    assert count["Count"] == len(found) > 0


# --- audit -------------------------------------------------------------------------------------


class PSSecureString(str):
    """Stands in for psrpcore's SecureString (only the class name is looked at)."""


def test_audit_parameters_redacts() -> None:
    d = CmdletDefinition(
        "Set-Secret",
        lambda inv: [],
        (
            Parameter("Identity", StringType()),
            Parameter("Password", ObjectType()),
            Parameter("NewKey", SecureStringType()),
            Parameter("Note", ObjectType()),
            Parameter("Size", IntegerType(), default=5),
        ),
        writes=True,
    )
    bound = bind(
        d,
        [
            ("Identity", "x"),
            ("Password", "hunter2"),
            ("NewKey", "abc"),
            ("Note", {"a": [1, PSSecureString("s")]}),
            ("WhatIf", None),
        ],
    )
    assert audit_parameters(bound) == {
        "Identity": "x",
        "Password": "******",
        "NewKey": "******",
        "Note": {"a": [1, "******"]},
        "WhatIf": True,
    }


def test_audit_hook_sees_every_command(ctx: CmdletContext, reg: Registry) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    list(
        run_pipeline(
            ctx,
            reg,
            [cmd("Get-Number", ("Count", 1)), cmd("Select-Object", ("First", 1))],
            audit=lambda d, b: seen.append((d.name, audit_parameters(b))),
        )
    )
    assert seen == [("Get-Number", {"Count": 1}), ("Select-Object", {"First": 1})]


def test_texts_are_the_ones_raised() -> None:
    # The module of texts is the single source: spot-check two against the reference wording.
    assert texts.SCRIPTS_NOT_ALLOWED.endswith("no-language mode.")
    assert texts.RESULT_SIZE_WARNING.format(n=1000).startswith("By default, only the first 1000 items are returned.")


def test_an_abbreviated_secret_parameter_is_redacted_too(registry: Registry) -> None:
    new_mailbox = registry.get("New-Mailbox")
    raw = [("-Name", "Ann"), ("-Pass", "clear-text-1"), ("-Passw:", "clear-text-2")]
    assert redact_raw_parameters(raw, new_mailbox) == {"Name": "Ann", "Pass": REDACTED, "Passw": REDACTED}
    # Without the definition only the spelling can tell; the service always passes it.
    assert redact_raw_parameters(raw)["Pass"] == "clear-text-1"


def test_redact_raw_parameters_hides_secrets_by_name_and_type() -> None:
    from psrpcore.types import PSSecureString

    raw = [
        ("-Identity:", "alice"),
        ("Password", "hunter2"),
        ("NewValue", PSSecureString("s3cret")),
        (None, "positional"),
        ("ResultSize", 5),
    ]
    assert redact_raw_parameters(raw) == {
        "Identity": "alice",
        "Password": "******",
        "NewValue": "******",
        "$args[3]": "positional",
        "ResultSize": 5,
    }


def test_audit_error_text_never_quotes_a_secret() -> None:
    from types import SimpleNamespace

    from aobo.cmdlets.audit import audit_entries

    ctx = SimpleNamespace(
        caller=SimpleNamespace(user_principal_name="a@b.c"),
        caller_tenant=SimpleNamespace(id=1),
        tenant=SimpleNamespace(id=2),
        session_id="S",
    )
    inv = CommandInvocation("Set-Thing", [("Password", "hunter2"), ("Password", "again"), ("Name", "x")])
    [entry] = audit_entries(ctx, [inv], 'Cannot convert value "hunter2" to type "System.Int32".')  # type: ignore[arg-type]
    assert "hunter2" not in (entry.error or "") and entry.parameters["Password"] == "******"
