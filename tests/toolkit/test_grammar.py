"""The command-line grammar: every form, every refusal (message and column), and two properties."""

from __future__ import annotations

import ast
import contextlib
import copy
import math
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aobo.toolkit import grammar
from aobo.toolkit.grammar import SWITCH, Command, GrammarError, format_command, format_value, parse


def one(text: str) -> Command:
    commands = parse(text)
    assert len(commands) == 1
    return commands[0]


def params(text: str) -> tuple[tuple[str | None, Any], ...]:
    return one(text).parameters


def value(argument: str) -> Any:
    """The value of one positional argument."""
    (name, result), *rest = params(f"Cmd {argument}")
    assert name is None and not rest
    return result


def same(a: Any, b: Any) -> bool:
    """Equality that tells True from 1, 1 from 1.0, -0.0 from 0.0, and keeps list/dict order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, Command):
        return a.name == b.name and same(a.parameters, b.parameters)
    return a == b


def refused(text: str) -> GrammarError:
    with pytest.raises(GrammarError) as caught:
        parse(text)
    return caught.value


# --- the partner's real command lines -------------------------------------------------------------


def test_pipeline_with_constant() -> None:
    assert parse("Get-Mailbox -ResultSize Unlimited | Set-Mailbox -HiddenFromAddressListsEnabled $true") == [
        Command("Get-Mailbox", (("ResultSize", "Unlimited"),)),
        Command("Set-Mailbox", (("HiddenFromAddressListsEnabled", True),)),
    ]


def test_positional_and_hashtable() -> None:
    assert parse('Set-Mailbox jdoe -EmailAddresses @{Add="smtp:j@contoso.com"}') == [
        Command("Set-Mailbox", ((None, "jdoe"), ("EmailAddresses", {"Add": "smtp:j@contoso.com"})))
    ]


def test_backtick_escaped_dollar_in_filter() -> None:
    assert params('Get-Mailbox -Filter "GrantSendOnBehalfTo -ne `$null"') == (
        ("Filter", "GrantSendOnBehalfTo -ne $null"),
    )


def test_script_block_filter_is_its_text() -> None:
    assert params("Get-Mailbox -Filter {RecipientTypeDetails -eq 'SharedMailbox'}") == (
        ("Filter", "RecipientTypeDetails -eq 'SharedMailbox'"),
    )


def test_inbox_rule_with_array_and_colon_switch() -> None:
    assert params("New-InboxRule -Name x -Mailbox a -From b,c -DeleteMessage:$true") == (
        ("Name", "x"),
        ("Mailbox", "a"),
        ("From", ["b", "c"]),
        ("DeleteMessage", True),
    )


def test_message_trace_date_and_number() -> None:
    assert same(
        params('Get-MessageTrace -StartDate "11/20/2026" -PageSize 5000'),
        (("StartDate", "11/20/2026"), ("PageSize", 5000)),
    )


# --- commands and parameters ----------------------------------------------------------------------


def test_bare_command_words() -> None:
    assert parse("fl") == [Command("fl")]
    assert parse("  Get-Mailbox  ") == [Command("Get-Mailbox")]
    assert parse(r".\script.ps1") == [Command(r".\script.ps1")]
    assert [c.name for c in parse("Get-Mailbox|Select-Object Name|fl")] == ["Get-Mailbox", "Select-Object", "fl"]


def test_switches() -> None:
    assert params("Remove-Mailbox x -Confirm -Force") == ((None, "x"), ("Confirm", SWITCH), ("Force", SWITCH))
    assert parse("Get-Mailbox -Arbitration | fl")[0].parameters == (("Arbitration", SWITCH),)
    assert params("Get-Mailbox -Arbitration -ResultSize 5") == (("Arbitration", SWITCH), ("ResultSize", 5))
    assert params("Get-Mailbox -Arbitration   # a comment") == (("Arbitration", SWITCH),)
    assert params("Get-Mailbox -Arbitration\n") == (("Arbitration", SWITCH),)


def test_switch_followed_by_a_word_takes_it_as_value() -> None:
    # Without metadata the grammar cannot know -Confirm is a switch; documented.
    assert params("Remove-Mailbox -Confirm x") == (("Confirm", "x"),)


def test_colon_forms() -> None:
    assert params("Set-X -Enabled:$false -Confirm:$FALSE -Name:x -Size: 5 -To:a,b") == (
        ("Enabled", False),
        ("Confirm", False),
        ("Name", "x"),
        ("Size", 5),
        ("To", ["a", "b"]),
    )
    assert params("Set-X -N:'a b' -M:-5") == (("N", "a b"), ("M", -5))


def test_parameter_value_that_is_a_negative_number() -> None:
    assert same(params("Set-X -Offset -5 -Scale -1.5"), (("Offset", -5), ("Scale", -1.5)))


def test_word_dashes_as_powershell_accepts() -> None:
    assert params("Get-Mailbox \u2013ResultSize Unlimited \u2014Force") == (
        ("ResultSize", "Unlimited"),
        ("Force", SWITCH),
    )
    assert value("\u20135") == -5


def test_command_str_and_repr_of_switch() -> None:
    assert str(Command("Get-Mailbox", (("ResultSize", "Unlimited"), ("Force", SWITCH)))) == (
        "Get-Mailbox -ResultSize Unlimited -Force"
    )
    assert repr(SWITCH) == "SWITCH"


def test_switch_is_a_singleton() -> None:
    assert copy.copy(SWITCH) is SWITCH
    assert copy.deepcopy(SWITCH) is SWITCH
    assert pickle.loads(pickle.dumps(SWITCH)) is SWITCH
    assert type(SWITCH)() is SWITCH


# --- strings --------------------------------------------------------------------------------------


def test_single_quoted() -> None:
    assert value("'O''Brien'") == "O'Brien"
    assert value("''") == ""
    assert value("'a `n $x \"b\"'") == 'a `n $x "b"'
    assert value("'line1\nline2'") == "line1\nline2"
    assert value("\u2018curly\u2019") == "curly"
    assert value("'it\u2019\u2019s'") == "it\u2019s"


def test_double_quoted_escapes() -> None:
    assert value('"a`nb`tc`rd`0e"') == "a\nb\tc\rd\0e"
    assert value('"`a`b`e`f`v"') == "\a\b\x1b\f\v"
    assert value('"say `"hi`" and ""bye"""') == 'say "hi" and "bye"'
    assert value('"tick `` dollar `$x"') == "tick ` dollar $x"
    assert value('"`u{263A}"') == "\u263a"
    assert value('"`q"') == "q"  # any other escaped character stands for itself
    assert value('"cost: 5 $"') == "cost: 5 $"  # a lone dollar is text
    assert value("\u201ccurly\u201d") == "curly"
    assert value('""') == ""


def test_bare_words_in_argument_mode() -> None:
    assert value(r"contoso\user") == r"contoso\user"
    assert value("a@b.com") == "a@b.com"
    assert value("smtp:j@contoso.com") == "smtp:j@contoso.com"
    assert value(r"C:\temp\out.csv") == r"C:\temp\out.csv"
    assert value("11/20/2026") == "11/20/2026"
    assert value("2026-11-20") == "2026-11-20"
    assert value("1.2.3.4") == "1.2.3.4"
    assert value("5abc") == "5abc"
    assert value("a=b") == "a=b"
    assert value("a#b") == "a#b"
    assert value("j*") == "j*"
    assert value("true") == "true"
    assert value("a`,b") == "a,b"  # an escaped comma is text
    assert value("`5") == "5"  # an escaped digit makes a word, not a number
    assert value("US$") == "US$"
    assert value("0xg") == "0xg"  # not a number after all
    assert value("1e") == "1e"
    assert value("1e+") == "1e+"


# --- numbers and constants ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("5000", 5000),
        ("-5", -5),
        ("1.5", 1.5),
        ("-1.5", -1.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("1e+16", 1e16),
        ("0x1F", 31),
        ("0XfF", 255),
        ("-0x10", -16),
        ("1KB", 1024),
        ("2mb", 2 * 1024**2),
        ("50MB", 50 * 1024**2),
        ("1GB", 1024**3),
        ("1Tb", 1024**4),
        ("1PB", 1024**5),
        ("1.5GB", 1.5 * 1024**3),
        ("-2KB", -2048),
        ("0x10KB", 16 * 1024),
        ("123456789012345678901234567890", 123456789012345678901234567890),
    ],
)
def test_numbers(text: str, expected: int | float) -> None:
    assert same(value(text), expected)


@pytest.mark.parametrize(("text", "expected"), [("$true", True), ("$TRUE", True), ("$False", False), ("$null", None)])
def test_constants(text: str, expected: bool | None) -> None:
    assert same(value(text), expected)


# --- arrays and hashtables ------------------------------------------------------------------------


def test_comma_arrays() -> None:
    assert value("a,b,c") == ["a", "b", "c"]
    assert value("a , b ,c") == ["a", "b", "c"]
    assert value("a,\n  b") == ["a", "b"]
    assert same(value("1,'two',$null,$true"), [1, "two", None, True])
    assert value(",a") == ["a"]  # the unary comma: an array of one
    assert value(",a,b") == [["a"], "b"]  # binds tighter than the binary comma, as in PowerShell
    assert value("@(1,2),3") == [[1, 2], 3]


def test_array_subexpressions() -> None:
    assert value("@()") == []
    assert value("@(1)") == [1]
    assert value("@('a','b')") == ["a", "b"]
    assert value("@(1,2; 3)") == [1, 2, 3]
    assert value("@(\n  'a'\n  'b'\n)") == ["a", "b"]
    assert value("@(;;'a';;)") == ["a"]
    assert value("@(@(1,2))") == [1, 2]  # unrolled, as in PowerShell
    assert value("@(,@(1,2))") == [[1, 2]]
    assert value("@(@{a=1})") == [{"a": 1}]
    assert value("@( 'a' # comment\n 'b' )") == ["a", "b"]
    assert value("@(bare, words)") == ["bare", "words"]  # lenient: PowerShell would run a command


def test_hashtables() -> None:
    assert value("@{}") == {}
    assert value("@{Add='x'; Remove='y','z'}") == {"Add": "x", "Remove": ["y", "z"]}
    assert value('@{Add="x"}') == {"Add": "x"}
    assert value("@{'Display Name'='a'; \"b c\"=1}") == {"Display Name": "a", "b c": 1}
    assert value("@{\n  A = 1\n  B = @(2)\n  C = @{D = $null}\n}") == {"A": 1, "B": [2], "C": {"D": None}}
    assert value("@{a=1;}") == {"a": 1}
    assert value("@{a-b=1}") == {"a-b": 1}
    assert list(value("@{z=1; a=2; m=3}")) == ["z", "a", "m"]  # insertion order


# --- the filter exception -------------------------------------------------------------------------


def test_filter_blocks() -> None:
    assert params("Get-Mailbox -Filter {Name -like 'a*'}") == (("Filter", "Name -like 'a*'"),)
    assert params("Get-Mailbox -Filter:{ ForwardingAddress -ne $null }") == (
        ("Filter", " ForwardingAddress -ne $null "),
    )
    assert params("Get-Recipient -RecipientFilter {(A -eq 'x') -and {nested}}") == (
        ("RecipientFilter", "(A -eq 'x') -and {nested}"),
    )
    assert parse("Get-X -ContentFilter {Name -eq '}'} | fl")[0].parameters == (("ContentFilter", "Name -eq '}'"),)
    assert params('Get-X -Filter {Name -eq "`"}"}') == (("Filter", 'Name -eq "`"}"'),)
    assert params("Get-X -Filter {}") == (("Filter", ""),)
    assert params("Get-X -Filter {Name -eq 'O''Brien'}") == (("Filter", "Name -eq 'O''Brien'"),)
    assert params("Get-X -Filter {a `} b}") == (("Filter", "a `} b"),)


# --- refusals: message and column ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("Get-Mailbox $x", "Variables are not supported: $x", 13),
        ("Get-Mailbox -Identity $user", "Variables are not supported: $user", 23),
        ("Get-Mailbox $env:USER", "Variables are not supported: $env:USER", 13),
        ("Get-Mailbox ${a b}", "Variables are not supported: ${a b}", 13),
        ("Get-Mailbox $_", "Variables are not supported: $_", 13),
        ("Get-Mailbox $?", "Variables are not supported: $?", 13),
        ("Get-Mailbox $trueish", "Variables are not supported: $trueish", 13),
        ("Get-Mailbox a$b", "Variables are not supported: $b", 14),
        ("Get-Mailbox $", "A '$' must begin $true, $false or $null: put it in quotes to pass it as text.", 13),
        ("Get-Mailbox $(Get-User)", "Subexpressions $(...) are not supported.", 13),
        (
            "Get-Mailbox -Identity {x}",
            "Script blocks {...} are not supported (only a -Filter takes {...}, as text).",
            23,
        ),
        ("Get-Mailbox {x}", "Script blocks {...} are not supported (only a -Filter takes {...}, as text).", 13),
        ("Get-Mailbox (Get-User)", "Parenthesised expressions (...) are not supported.", 13),
        ("Get-Mailbox a(1)", "Parenthesised expressions (...) are not supported.", 14),
        (
            "Get-Mailbox; Get-User",
            "Statement separators (;) are not supported: a command line holds one pipeline.",
            12,
        ),
        ("Get-Mailbox > out.txt", "Redirection (>) is not supported.", 13),
        ("Get-Mailbox >> out.txt", "Redirection (>) is not supported.", 13),
        ("Get-Mailbox 2>&1", "Redirection (>) is not supported.", 14),
        ("Get-Mailbox < in.txt", "The '<' operator is reserved for future use.", 13),
        ("& Get-Mailbox", "The call operator (&) is not supported: write the command name itself.", 1),
        ("& 'Get-Mailbox'", "The call operator (&) is not supported: write the command name itself.", 1),
        ("Get-Mailbox && Get-User", "Pipeline chain operators (&& and ||) are not supported.", 13),
        ("Get-Mailbox || Get-User", "Pipeline chain operators (&& and ||) are not supported.", 13),
        (
            "Get-Mailbox a&b",
            "The ampersand (&) is not supported: wrap it in quotation marks ('&') to pass it as text.",
            14,
        ),
        (". .\\x.ps1", "Dot-sourcing (.) is not supported: write the command name itself.", 1),
        (". 'x.ps1'", "Dot-sourcing (.) is not supported: write the command name itself.", 1),
        ("Get-Mailbox 'abc", "The string is missing the terminator: '.", 13),
        ('Get-Mailbox -Filter "abc', 'The string is missing the terminator: ".', 21),
        ('Get-Mailbox "abc`"', 'The string is missing the terminator: ".', 13),
        ("Get-Mailbox @(1,2", "Missing closing ')' in the array expression @(...).", 13),
        ("Get-Mailbox -X @{a=1", "Missing closing '}' in hash literal.", 16),
        ("Get-Mailbox -Filter {Name -eq 'x'", "Missing closing '}' in statement block or type definition.", 21),
        ("Get-Mailbox -Filter {Name -eq '}", "Missing closing '}' in statement block or type definition.", 21),
        ("Get-Mailbox |", "An empty pipe element is not allowed.", 13),
        ("Get-Mailbox | ", "An empty pipe element is not allowed.", 13),
        ("| Get-Mailbox", "An empty pipe element is not allowed.", 1),
        ("Get-Mailbox | | fl", "An empty pipe element is not allowed.", 15),
        ("", "The command line is empty.", 1),
        ("   \n  ", "The command line is empty.", 1),
        ("# just a comment", "The command line is empty.", 1),
        ("Get-Mailbox --% a b", "The stop-parsing token (--%) is not supported.", 13),
        ("Get-Mailbox -Name:", "Missing value after '-Name:'.", 13),
        ("Get-Mailbox -Name: | fl", "Missing value after '-Name:'.", 13),
        (
            "Get-Mailbox -x-y",
            "Unexpected character '-' in the parameter name -x.",
            15,
        ),
        ("Get-Mailbox a,", "Missing expression after ','.", 14),
        ("Get-Mailbox a, | fl", "Missing expression after ','.", 14),
        ("Get-Mailbox -From b,c,", "Missing expression after ','.", 22),
        (
            "Get-Mailbox -5x",
            "A value that starts with '-' must be a number: put it in quotes to pass it as text.",
            13,
        ),
        (
            "Get-Mailbox -",
            "A value that starts with '-' must be a number: put it in quotes to pass it as text.",
            13,
        ),
        (
            "Get-Mailbox -Name:-x",
            "A value that starts with '-' must be a number: put it in quotes to pass it as text.",
            19,
        ),
        ("Get-Mailbox a'b'", "A quote inside a bare word is not supported: put the whole value in quotes.", 14),
        ("Get-Mailbox 'a'b", "Unexpected character 'b': put the whole value in quotes.", 16),
        ("Get-Mailbox 'a'\"b\"", "Unexpected string: put the whole value in quotes.", 16),
        ('Get-Mailbox "a`', 'The string is missing the terminator: ".', 13),
        ("Get-Mailbox -Filter {a},b", "Unexpected token ',' in expression or statement.", 24),
        ("Get-Mailbox,Get-User", "Unexpected token ',' in expression or statement.", 12),
        ("(Get-Mailbox)", "Parenthesised expressions (...) are not supported.", 1),
        ("; Get-Mailbox", "Statement separators (;) are not supported: a command line holds one pipeline.", 1),
        ("Get-Mailbox -X @(}", "Unexpected token '}' in expression or statement.", 18),
        ("Get-Mailbox $true.x", "Unexpected character '.': put the whole value in quotes.", 18),
        ("Get-Mailbox @a", "Splatting (@a) is not supported.", 13),
        ("Get-Mailbox @'\nx\n'@", "Here-strings (@'...'@) are not supported.", 13),
        ("Get-Mailbox @", "Expected @(...) or @{...} after '@'.", 13),
        ("Get-Mailbox -X @{a=1; A=2}", "Duplicate keys 'A' are not allowed in hash literals.", 23),
        ("Get-Mailbox -X @{a}", "Missing '=' operator after key in hash literal.", 19),
        ("Get-Mailbox -X @{=1}", "Missing key before '=' in hash literal.", 18),
        ("Get-Mailbox -X @{a=}", "Missing statement after '=' in hash literal.", 20),
        ("Get-Mailbox -X @{a=1 b=2}", "Unexpected 'b' inside @{...}: separate entries with ';' or a line break.", 22),
        ("Get-Mailbox -X @{$k=1}", "Expected a key (a name or a quoted string) in hash literal.", 18),
        (
            "Get-Mailbox -X @(1 2)",
            "Unexpected '2' inside @(...): separate entries with ';' or a line break, elements with ','.",
            20,
        ),
        ("Get-Mailbox -X @(1 | fl)", "Pipelines are not supported inside @(...).", 20),
        ("Get-Mailbox -X @(-not 1)", "Operators are not supported inside @(...).", 18),
        ("Get-Mailbox )", "Unexpected token ')' in expression or statement.", 13),
        ("Get-Mailbox }", "Unexpected token '}' in expression or statement.", 13),
        ("Get-Mailbox -X @(1}", "Unexpected token '}' in expression or statement.", 19),
        ("-Identity x", "Expected a command name such as Get-Mailbox.", 1),
        ("'Get-Mailbox'", "Expected a command name such as Get-Mailbox.", 1),
        ("5 | fl", "Expected a command name such as Get-Mailbox, found a number.", 1),
        ("$true", "Expected a command name such as Get-Mailbox, found a value.", 1),
        ("$x | fl", "Variables are not supported: $x", 1),
        ('Get-X "`u{110000}"', "Invalid Unicode escape: write `u{XXXX} with 1 to 6 hexadecimal digits.", 8),
        ("Get-X a`", "Missing character after the escape character (`).", 8),
        ("Get-X ,", "Missing expression after ','.", 7),
    ],
)
def test_refusals(text: str, message: str, column: int) -> None:
    error = refused(text)
    assert (error.message, error.column) == (message, column)


def test_variable_in_double_quotes_is_explained() -> None:
    error = refused('Get-Mailbox -Filter "GrantSendOnBehalfTo -ne $null"')
    assert error.message == (
        "Variables are not supported: $null (PowerShell expands it inside double quotes:"
        " write `$ for a dollar sign, or use single quotes)"
    )
    assert error.column == 46
    error = refused('Get-X "a $(b) c"')
    assert error.message.startswith("Subexpressions $(...) are not supported (PowerShell expands it")
    assert error.column == 10


def test_line_breaks_between_statements() -> None:
    error = refused("Get-Mailbox\n  Get-User")
    assert error.message.startswith("Line breaks separate statements")
    assert (error.line, error.column, error.source_line) == (2, 3, "  Get-User")


def test_continuations_are_not_statements() -> None:
    assert [c.name for c in parse("Get-Mailbox |\n  Set-Mailbox -X 1")] == ["Get-Mailbox", "Set-Mailbox"]
    assert params("Get-Mailbox `\n  -ResultSize 5") == (("ResultSize", 5),)
    assert params("Get-Mailbox `\r\n  -ResultSize 5\r\n") == (("ResultSize", 5),)
    assert params("Get-Mailbox -Force`\n -ResultSize 5") == (("Force", SWITCH), ("ResultSize", 5))
    assert params("Get-Mailbox a`\n -ResultSize 5") == ((None, "a"), ("ResultSize", 5))
    assert params("Get-Mailbox 'a'`\n -ResultSize 5") == ((None, "a"), ("ResultSize", 5))


def test_error_rendering_has_a_caret_under_the_column() -> None:
    error = refused("Get-Mailbox -Identity $user")
    assert str(error) == (
        "Variables are not supported: $user (column 23)\nGet-Mailbox -Identity $user\n                      ^"
    )
    error = refused("Get-X @(\n\t1 2)")
    lines = str(error).splitlines()
    assert lines[0].endswith("(line 2, column 4)")
    assert lines[1:] == ["\t1 2)", "\t  ^"]  # tabs kept so the caret lines up
    error = refused("")
    assert str(error) == "The command line is empty. (column 1)"


def test_error_rendering_of_a_long_line_shows_a_window() -> None:
    text = "Get-X " + "a," * 400 + "$x"
    error = refused(text)
    rendered = str(error).splitlines()
    assert error.column == len(text) - 1
    assert len(rendered[1]) < 110 and rendered[1].startswith("…")
    assert rendered[1][len(rendered[2]) - 1 : len(rendered[2]) + 1] == "$x"


def test_grammar_error_is_a_value_error_and_pickles() -> None:
    error = refused("Get-X $y")
    assert isinstance(error, ValueError)
    again = pickle.loads(pickle.dumps(error))
    assert (again.message, again.column, again.line, again.source_line) == (
        "Variables are not supported: $y",
        7,
        1,
        "Get-X $y",
    )


def test_deep_nesting_is_a_grammar_error() -> None:
    assert refused("Get-X " + "@(" * 5000).message.startswith("Values are nested more than")
    assert refused("Get-X " + "," * 5000 + "a").message.startswith("Values are nested more than")
    assert value("@(" * 60 + ")" * 60) == []


def test_huge_number_is_a_word() -> None:
    assert value("9" * 5000) == "9" * 5000
    assert math.isinf(value("1e999"))


# --- format_command -------------------------------------------------------------------------------


def test_format_quotes_where_needed() -> None:
    command = Command(
        "Set-Mailbox",
        (
            (None, "jdoe"),
            ("DisplayName", "O'Brien, J."),
            ("EmailAddresses", {"Add": "smtp:j@contoso.com", "Remove": ["a@x", "b@x"]}),
            ("Count", "5"),
            ("Hidden", True),
            ("Limit", 1.5),
            ("Empty", ""),
            ("Dash", "-x"),
            ("Force", SWITCH),
        ),
    )
    text = format_command([command])
    assert text == (
        "Set-Mailbox jdoe -DisplayName 'O''Brien, J.' -EmailAddresses @{Add='smtp:j@contoso.com'; "
        "Remove='a@x','b@x'} -Count '5' -Hidden:$true -Limit 1.5 -Empty '' -Dash '-x' -Force"
    )
    assert parse(text) == [command]


def test_format_values() -> None:
    assert format_value(["a", "b"]) == "a,b"
    assert format_value(["a"]) == "@('a')"
    assert format_value([]) == "@()"
    assert format_value([[1, 2]]) == "@(,@(1,2))"
    assert format_value([[1], 2]) == "@(1),2"
    assert format_value(None) == "$null"
    assert format_value({"odd key": 1, "": 2}) == "@{'odd key'=1; ''=2}"
    assert format_value("a\u2019b") == "'a\u2019\u2019b'"
    assert format_command([Command("Get-Mailbox"), Command("fl")]) == "Get-Mailbox | fl"
    assert format_command(Command("Get-Mailbox", (("Identity", "a b"),))) == "Get-Mailbox -Identity 'a b'"


def test_format_moves_a_switch_past_the_positional_that_follows_it() -> None:
    command = Command("Remove-X", (("Force", SWITCH), (None, "a"), (None, "b"), ("Confirm", False)))
    assert format_command([command]) == "Remove-X a b -Force -Confirm:$false"
    command = Command("Remove-X", (("S", SWITCH), (None, -5), ("T", SWITCH), (None, "a")))
    assert format_command([command]) == "Remove-X -5 a -S -T"
    assert parse("Remove-X -5 a -S -T") == [
        Command("Remove-X", ((None, -5), (None, "a"), ("S", SWITCH), ("T", SWITCH)))
    ]


@pytest.mark.parametrize(
    "command",
    [
        Command("Get Mailbox"),
        Command("5"),
        Command("X", (("bad name", 1),)),
        Command("X", (("", 1),)),
        Command("X", (("A", math.inf),)),
        Command("X", (("A", math.nan),)),
        Command("X", (("A", [SWITCH]),)),
        Command("X", ((None, SWITCH),)),
        Command("X", (("A", object()),)),
        Command("X", (("A", {"a": 1, "A": 2}),)),
        Command("X", (("A", {1: 2}),)),
    ],
)
def test_format_refuses_what_the_grammar_cannot_write(command: Command) -> None:
    with pytest.raises(ValueError):
        format_command([command])


# --- properties -----------------------------------------------------------------------------------

_names = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,8}(-[A-Za-z][A-Za-z0-9]{0,8})?", fullmatch=True)
_param_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
_scalars = (
    st.text(max_size=12)
    | st.sampled_from(["Unlimited", "contoso\\jdoe", "a@b.com", "smtp:x@y", "5", "-x", "$null", "1KB", "", " "])
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
)


def _unique_keys(table: dict[str, Any]) -> bool:
    return len({key.casefold() for key in table}) == len(table)


_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3).filter(_unique_keys)
    ),
    max_leaves=12,
)
_parameter = st.tuples(st.none(), _values) | st.tuples(_param_names, _values | st.just(SWITCH))
_commands = st.builds(Command, _names, st.lists(_parameter, max_size=5).map(tuple))


def _expected(command: Command) -> Command:
    """What ``format_command`` promises: switches that would swallow a positional move to the next named one."""
    items = command.parameters
    out: list[tuple[str | None, Any]] = []
    held: list[tuple[str | None, Any]] = []
    for i, (name, item) in enumerate(items):
        rest = [n for n, v in items[i + 1 :] if not (n is not None and v is SWITCH)]
        if name is not None and item is SWITCH and rest and rest[0] is None:
            held.append((name, item))
            continue
        if name is not None:
            out.extend(held)
            held.clear()
        out.append((name, item))
    return Command(command.name, tuple(out + held))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_commands, min_size=1, max_size=3))
@example([Command("X", (("A", [[1, 2]]), ("B", [[]]), ("C", -0.0), ("D", 1e16), ("E", "it\u2018s\u201c")))])
@example([Command("X", (("S", SWITCH), (None, -5), ("T", SWITCH), (None, "a")))])
@example([Command("A", (("A", SWITCH), ("A", SWITCH), (None, None)))])
@example([Command("X", (("S", SWITCH), (None, "a"), ("N", 1), ("T", SWITCH), (None, "b"), (None, "c")))])
def test_round_trip(commands: list[Command]) -> None:
    text = format_command(commands)
    parsed = parse(text)
    expected = [_expected(command) for command in commands]
    assert same(parsed, expected), text
    assert format_command(parsed) == text


_grammar_alphabet = "-\u2013$@(){}[]'\"\u2018\u201c`,;|&><.#:=+ \t\n\rabeEnux0159kKbBtrufalsFLSnN%?"


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=_grammar_alphabet, max_size=40) | st.text(max_size=40))
@example("Get-X `")
@example("Get-X @{")
@example('Get-X "`u{')
@example("\r\n\r")
def test_random_text_raises_only_grammar_errors(text: str) -> None:
    try:
        commands = parse(text)
    except GrammarError as error:
        assert error.column >= 1 and error.line >= 1
        str(error)
        return
    assert commands and all(isinstance(c, Command) and c.name for c in commands)


@settings(max_examples=500, deadline=None)
@given(st.lists(_commands, min_size=1, max_size=2), st.data())
def test_mutated_lines_raise_only_grammar_errors(commands: list[Command], data: st.DataObject) -> None:
    text = format_command(commands)
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 3))
    insert = data.draw(st.text(alphabet=_grammar_alphabet, max_size=3))
    mutated = text[:at] + insert + text[at + cut :]
    with contextlib.suppress(GrammarError):
        parse(mutated)


# --- the module itself ----------------------------------------------------------------------------


def test_module_imports_nothing_from_the_service() -> None:
    tree = ast.parse(Path(grammar.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "math", "dataclasses", "typing"}, imported


def test_a_typical_line_parses_in_well_under_a_millisecond() -> None:
    line = "Get-Mailbox -ResultSize Unlimited | Set-Mailbox -HiddenFromAddressListsEnabled $true"
    rounds = 2000
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            parse(line)
        best = min(best, (time.perf_counter() - start) / rounds)
    print(f"parse: {best * 1e6:.1f} µs per typical line")
    assert best < 1e-3  # about 20 µs uninstrumented; the margin is for coverage tracers


def test_long_lines_parse_in_linear_time() -> None:
    start = time.perf_counter()
    assert len(value(",".join(["a@b.com"] * 20000))) == 20000
    assert len(parse(" | ".join(["Get-Mailbox -ResultSize Unlimited"] * 2000))) == 2000
    assert len(value("'" + "x''" * 50000 + "'")) == 100000
    assert time.perf_counter() - start < 2.0
