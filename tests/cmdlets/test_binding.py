"""Parameter binding: names, prefixes, aliases, positions, switches, sets, pipeline, and every
binding error with PowerShell's exact words."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from psrpcore.types import PSDict, PSInt, PSList, PSString

from aobo.cmdlets.binding import ParameterSource, bind, normalise_name
from aobo.cmdlets.builtin import GET_FORMAT_DATA
from aobo.cmdlets.exchange.mailbox import GET_MAILBOX, SET_MAILBOX
from aobo.cmdlets.parameters import (
    ACTION_PREFERENCE,
    RECIPIENT_TYPE_DETAILS,
    UNLIMITED,
    BoolType,
    ConversionError,
    DateTimeType,
    IdentityRef,
    IdentityType,
    IntegerType,
    MultiValuedChange,
    MultiValuedUpdate,
    SmtpAddressType,
    StringArrayType,
    StringType,
    SwitchType,
    UnlimitedType,
)
from aobo.cmdlets.results import CmdletError, ErrorCategory, ObjectShape

PBE = "System.Management.Automation.ParameterBindingException"


def error(defn: Any, raw: list[tuple[str | None, Any]], pipeline: Any = None) -> CmdletError:
    with pytest.raises(CmdletError) as info:
        bind(defn, raw, pipeline)
    return info.value


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Identity", "identity", "-Identity", "-Identity:", "IDENTITY:"])
def test_named_forms(name: str) -> None:
    bound = bind(GET_MAILBOX, [(name, "alice")])
    assert bound["Identity"] == IdentityRef("alice")
    assert bound.source("Identity") is ParameterSource.NAMED
    assert bound.parameter_set == "Identity"


def test_normalise_name() -> None:
    assert normalise_name("-DomainName:") == "DomainName"
    assert normalise_name("DomainName") == "DomainName"


def test_unique_prefix_and_alias() -> None:
    bound = bind(GET_MAILBOX, [("-Res", "5"), ("ea", "SilentlyContinue"), ("-wa:", "stop"), ("Recip", "usermailbox")])
    assert bound["ResultSize"] == 5
    assert bound["ErrorAction"] == "SilentlyContinue"
    assert bound["WarningAction"] == "Stop"
    assert bound["RecipientTypeDetails"] == ("UserMailbox",)
    # lookups accept aliases and any case
    assert bound["EA"] == "SilentlyContinue"
    assert "resultsize" in bound


def test_named_parameter_not_found() -> None:
    e = error(GET_MAILBOX, [("-Foo", 1)])
    r = e.record
    assert e.terminating
    assert r.message == "A parameter cannot be found that matches parameter name 'Foo'."
    assert r.fully_qualified_error_id == "NamedParameterNotFound,Get-Mailbox"
    assert r.exception_type == PBE
    assert r.category is ErrorCategory.InvalidArgument
    assert r.activity == "Get-Mailbox"


def test_ambiguous_parameter() -> None:
    r = error(GET_MAILBOX, [("R", 1)]).record
    assert r.message == (
        "Parameter cannot be processed because the parameter name 'R' is ambiguous. "
        "Possible matches include: -RecipientTypeDetails -ResultSize."
    )
    assert r.fully_qualified_error_id == "AmbiguousParameter,Get-Mailbox"
    assert r.exception_type == PBE
    assert r.category is ErrorCategory.InvalidArgument


def test_exact_name_wins_over_longer_prefix_matches() -> None:
    # "Debug" is a full name even though nothing else starts with it; "De" is not ambiguous either.
    assert bind(GET_MAILBOX, [("Debug", None)])["Debug"] is True
    assert bind(GET_MAILBOX, [("De", None)])["Debug"] is True


def test_parameter_already_bound() -> None:
    r = error(GET_MAILBOX, [("Identity", "a"), ("-identity:", "b")]).record
    assert r.message == (
        "Cannot bind parameter because parameter 'Identity' is specified more than once. "
        "To provide multiple values to parameters that can accept multiple values, use the array syntax. "
        'For example, "-parameter value1,value2,value3".'
    )
    assert r.fully_qualified_error_id == "ParameterAlreadyBound,Get-Mailbox"
    # the same parameter reached through an alias counts too
    assert error(GET_MAILBOX, [("ErrorAction", "Stop"), ("ea", "Stop")]).record.fully_qualified_error_id == (
        "ParameterAlreadyBound,Get-Mailbox"
    )


# --- positions ---------------------------------------------------------------------------------


def test_positional_binding() -> None:
    bound = bind(GET_MAILBOX, [(None, "alice"), ("ResultSize", 10)])
    assert bound["Identity"] == IdentityRef("alice")
    assert bound.source("Identity") is ParameterSource.POSITIONAL
    assert bound.source("ResultSize") is ParameterSource.NAMED


def test_positional_parameter_not_found() -> None:
    r = error(GET_MAILBOX, [(None, "alice"), (None, "x")]).record
    assert r.message == "A positional parameter cannot be found that accepts argument 'x'."
    assert r.fully_qualified_error_id == "PositionalParameterNotFound,Get-Mailbox"
    assert r.exception_type == PBE


def test_positional_respects_parameter_sets() -> None:
    # -Anr puts Get-Mailbox in AnrSet, where Identity (and so position 0) does not exist.
    r = error(GET_MAILBOX, [("Anr", "al"), (None, "x")]).record
    assert r.fully_qualified_error_id == "PositionalParameterNotFound,Get-Mailbox"


# --- switches ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [(None, True), (True, True), (False, False), (0, False), ("true", True)]
)
def test_switch_values(value: Any, expected: bool) -> None:
    assert bind(SET_MAILBOX, [("Identity", "a"), ("WhatIf", value)])["WhatIf"] is expected


def test_switch_from_is_present_object() -> None:
    assert bind(SET_MAILBOX, [("Identity", "a"), ("-Confirm:", {"IsPresent": False})])["Confirm"] is False


# --- mandatory, null, empty --------------------------------------------------------------------


def test_missing_mandatory() -> None:
    r = error(SET_MAILBOX, [("DisplayName", "x")]).record
    assert r.message == "Cannot process command because of one or more missing mandatory parameters: Identity."
    assert r.fully_qualified_error_id == "MissingMandatoryParameter,Set-Mailbox"
    assert r.category is ErrorCategory.InvalidArgument
    assert r.exception_type == PBE


def test_null_to_mandatory() -> None:
    r = error(SET_MAILBOX, [("Identity", None)]).record
    assert r.message == "Cannot bind argument to parameter 'Identity' because it is null."
    assert r.fully_qualified_error_id == "ParameterArgumentValidationErrorNullNotAllowed,Set-Mailbox"
    assert r.exception_type == PBE


def test_empty_string_to_mandatory() -> None:
    r = error(SET_MAILBOX, [(None, "")]).record
    assert r.message == "Cannot bind argument to parameter 'Identity' because it is an empty string."


def test_null_to_optional_binds_null() -> None:
    bound = bind(SET_MAILBOX, [("Identity", "a"), ("ForwardingSmtpAddress", None)])
    assert bound.is_bound("ForwardingSmtpAddress")
    assert bound["ForwardingSmtpAddress"] is None


# --- conversion errors -------------------------------------------------------------------------


def test_transformation_error() -> None:
    r = error(GET_MAILBOX, [("ResultSize", "abc")]).record
    assert r.message.startswith(
        "Cannot process argument transformation on parameter 'ResultSize'. "
        'Cannot convert value "abc" to type "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]". Error: '
    )
    assert r.fully_qualified_error_id == "ParameterArgumentTransformationError,Get-Mailbox"
    assert r.exception_type == "System.Management.Automation.ParameterBindingArgumentTransformationException"
    assert r.category is ErrorCategory.InvalidData


def test_cannot_convert_error() -> None:
    r = error(GET_MAILBOX, [("OutBuffer", "abc")]).record
    assert r.message == (
        'Cannot bind parameter \'OutBuffer\'. Cannot convert value "abc" to type "System.Int32". '
        'Error: "Input string was not in a correct format."'
    )
    assert r.fully_qualified_error_id == "CannotConvertArgumentNoMessage,Get-Mailbox"
    assert r.exception_type == PBE
    assert r.category is ErrorCategory.InvalidArgument


def test_bool_parameter_rejects_words() -> None:
    r = error(SET_MAILBOX, [("Identity", "a"), ("HiddenFromAddressListsEnabled", "maybe")]).record
    assert r.message == (
        "Cannot process argument transformation on parameter 'HiddenFromAddressListsEnabled'. Cannot convert "
        'value "System.String" to type "System.Boolean". Boolean parameters accept only Boolean values and '
        "numbers, such as $True, $False, 1 or 0."
    )


def test_enum_error_lists_names() -> None:
    r = error(GET_MAILBOX, [("RecipientTypeDetails", "Bogus")]).record
    assert r.message.startswith(
        "Cannot bind parameter 'RecipientTypeDetails'. Cannot convert value \"Bogus\" to type "
        '"Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails[]". Error: "Unable to match the '
        "identifier name Bogus to a valid enumerator name. Specify one of the following enumerator names and "
        "try again:\nNone, UserMailbox, LinkedMailbox, SharedMailbox"
    )


# --- parameter sets ----------------------------------------------------------------------------


def test_default_parameter_set_and_defaults() -> None:
    bound = bind(GET_MAILBOX, [])
    assert bound.parameter_set == "Identity"
    assert bound["ResultSize"] == 1000
    assert bound.source("ResultSize") is ParameterSource.DEFAULT
    assert not bound.is_bound("ResultSize")


def test_named_parameter_chooses_set() -> None:
    assert bind(GET_MAILBOX, [("Anr", "al")]).parameter_set == "AnrSet"


def test_ambiguous_parameter_set() -> None:
    r = error(GET_MAILBOX, [("Identity", "a"), ("Anr", "b")]).record
    assert r.message == "Parameter set cannot be resolved using the specified named parameters."
    assert r.fully_qualified_error_id == "AmbiguousParameterSet,Get-Mailbox"
    assert r.exception_type == PBE


# --- pipeline input ----------------------------------------------------------------------------

_SHAPE = ObjectShape(("Microsoft.Exchange.Data.Directory.Management.Mailbox", "System.Object"), ("Identity", "Guid"))


def test_value_from_pipeline() -> None:
    bound = bind(GET_MAILBOX, [], "alice")
    assert bound["Identity"] == IdentityRef("alice")
    assert bound.source("Identity") is ParameterSource.PIPELINE


def test_pipeline_object_carries_guid() -> None:
    guid = uuid.uuid4()
    bound = bind(SET_MAILBOX, [("DisplayName", "x")], _SHAPE.make(("alice", guid)))
    assert bound["Identity"] == IdentityRef("alice", guid)
    assert bound["DisplayName"] == "x"


def test_value_from_pipeline_by_property_name() -> None:
    # A dict (a PSCustomObject from the client) binds through its Identity property.
    bound = bind(SET_MAILBOX, [], PSDict({"identity": PSString("bob")}))
    assert bound["Identity"] == IdentityRef("bob")


def test_input_object_not_bound_is_not_terminating() -> None:
    e = error(GET_FORMAT_DATA, [], "anything")
    assert not e.terminating
    assert e.record.fully_qualified_error_id == "InputObjectNotBound,Get-FormatData"
    assert e.record.message.startswith("The input object cannot be bound to any parameters for the command")


# --- parameter types ---------------------------------------------------------------------------


def test_psrpcore_subclasses_convert_to_plain_values() -> None:
    bound = bind(
        GET_MAILBOX,
        [
            (PSString("Identity"), PSString("alice")),
            ("ResultSize", PSInt(5)),
            ("RecipientTypeDetails", PSList([PSString("roommailbox")])),
        ],
    )
    assert type(bound["Identity"].value) is str
    assert bound["ResultSize"] == 5 and type(bound["ResultSize"]) is int
    assert bound["RecipientTypeDetails"] == ("RoomMailbox",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Unlimited", UNLIMITED), ("unlimited", UNLIMITED), (5, 5), ("5", 5), (PSInt(7), 7)],
)
def test_unlimited(value: Any, expected: Any) -> None:
    assert UnlimitedType().convert(value) == expected


@pytest.mark.parametrize("value", ["abc", 0, -1, "1.5x", [1, 2]])
def test_unlimited_rejects(value: Any) -> None:
    with pytest.raises(ConversionError) as info:
        UnlimitedType().convert(value)
    assert info.value.transform


def test_recipient_type_details_multi() -> None:
    assert RECIPIENT_TYPE_DETAILS.convert("sharedmailbox,RoomMailbox") == ("SharedMailbox", "RoomMailbox")
    assert RECIPIENT_TYPE_DETAILS.convert(["UserMailbox", "usermailbox", 4]) == (
        "UserMailbox",
        "SharedMailbox",
    )
    assert ACTION_PREFERENCE.convert("silentlycontinue") == "SilentlyContinue"
    assert ACTION_PREFERENCE.convert(1) == "Stop"


def test_integer_type() -> None:
    t = IntegerType()
    assert t.convert("0x10") == 16
    assert t.convert(2.5) == 2  # .NET rounds half to even
    assert t.convert(True) == 1
    with pytest.raises(ConversionError, match="too large or too small for an Int32"):
        t.convert(2**31)
    with pytest.raises(ConversionError, match="Input string was not in a correct format"):
        t.convert("1_000")


def test_string_types() -> None:
    assert StringType().convert(5) == "5"
    assert StringType().convert(True) == "True"
    assert StringType().convert(["a", "b"]) == "a b"
    assert StringArrayType().convert("a") == ("a",)
    assert StringArrayType().convert(PSList(["a", 1])) == ("a", "1")


def test_bool_and_switch_types() -> None:
    assert BoolType().convert(PSInt(1)) is True
    assert BoolType().convert("$false") is False
    assert SwitchType().convert(None) is True
    with pytest.raises(ConversionError):
        BoolType().convert("yes please")


def test_identity_type() -> None:
    guid = uuid.uuid4()
    t = IdentityType()
    assert t.convert("  alice ") == IdentityRef("alice")
    assert t.convert(guid) == IdentityRef(str(guid), guid)
    assert t.convert({"Guid": str(guid), "Name": "Bob"}) == IdentityRef("Bob", guid)
    assert t.convert({"Identity": "x"}) == IdentityRef("x")
    assert str(t.convert(_SHAPE.make(("alice", guid)))) == "alice"
    with pytest.raises(ConversionError):
        t.convert(42.5)


def test_multi_valued_update() -> None:
    t = MultiValuedUpdate()
    assert t.convert(["a", "b"]) == MultiValuedChange(replace=("a", "b"))
    assert t.convert("a") == MultiValuedChange(replace=("a",))
    change = t.convert(PSDict({"add": ["x", "y"], "Remove": "a"}))
    assert change == MultiValuedChange(add=("x", "y"), remove=("a",))
    assert change.apply(("A", "b")) == ("b", "x", "y")
    with pytest.raises(ConversionError, match="Add and Remove"):
        t.convert({"Replace": "x"})


def test_smtp_address_type() -> None:
    assert SmtpAddressType().convert("x@contoso.com") == "smtp:x@contoso.com"
    assert SmtpAddressType().convert("SMTP:x@contoso.com") == "smtp:x@contoso.com"
    with pytest.raises(ConversionError, match="isn't a valid SMTP address"):
        SmtpAddressType().convert("not an address")


def test_datetime_type() -> None:
    t = DateTimeType()
    assert t.convert("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    assert t.convert("5/1/2024 1:02:03 PM") == datetime(2024, 5, 1, 13, 2, 3, tzinfo=UTC)
    with pytest.raises(ConversionError, match="String was not recognized as a valid DateTime"):
        t.convert("yesterday")
