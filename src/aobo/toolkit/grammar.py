"""PowerShell command lines without a script language: one pipeline of cmdlet calls.

The CLI and the shell send real commands typed as PowerShell would have them, but the service only
runs cmdlets, so this module reads the part of PowerShell's syntax a command line needs and refuses
the rest locally, pointing at the column, instead of letting the server fail obscurely.

What it reads (``parse``)::

    Get-Mailbox -ResultSize Unlimited | Set-Mailbox -HiddenFromAddressListsEnabled $true
    Set-Mailbox jdoe -EmailAddresses @{Add="smtp:j@contoso.com"; Remove='a@x','b@x'}
    Get-Mailbox -Filter {RecipientTypeDetails -eq 'SharedMailbox'}
    New-InboxRule -Name x -Mailbox a -From b,c -DeleteMessage:$true

- a command is a bare word (``Get-Mailbox``, any command word); ``|`` separates commands;
- ``-Name value``, ``-Name:value`` (``-Name: value``), and switches: a ``-Name`` followed by another
  ``-Name``, ``|`` or the end is ``(name, SWITCH)``; anything else after it is its value (without the
  cmdlet metadata a parser cannot know that ``-Confirm x`` means a switch and a positional ``x``);
- other arguments are positional: ``(None, value)``;
- values: ``'single'`` (``''`` is a quote), ``"double"`` (backtick escapes `` `n `t `r `0 `a `b `e `f
  `v `u{263A} ``, any other escaped character stands for itself, ``""`` is a quote; a ``$variable``
  inside is refused, as PowerShell would expand it), numbers (``5``, ``-5``, ``1.5``, ``1e3``,
  ``0x1F``, ``50MB`` = 50 * 1024**2; hex keeps its mathematical value), ``$true``, ``$false``,
  ``$null`` (any case), arrays ``a,b,c`` / ``@(a; b)`` / ``,a`` (one element), hashtables
  ``@{Key=value; 'Other Key'=a,b}`` (keys are case-insensitive, as in PowerShell), and bare words as
  strings in PowerShell's argument mode (``contoso\\user``, ``a@b.com``, ``C:\\x``, ``11/20/2026``);
- ``{...}`` only as the value of a parameter whose name ends in ``Filter`` (``-Filter``,
  ``-RecipientFilter``, ``-ContentFilter``): the text between the braces, verbatim, as Exchange
  scripts write OPATH filters that way;
- ``#`` comments, a backtick at the end of a line (continuation), line breaks after ``|`` and ``,``
  and inside ``@(...)``/``@{...}``; Word's curly quotes and en/em dashes, which PowerShell accepts.

Inside ``@(...)`` and ``@{...}`` PowerShell is in expression mode, where a bare word would run a
command; this parser still reads it as a string, and ``format_command`` always quotes there.
``@(...)`` unrolls arrays as PowerShell does: ``@(@(1,2))`` is ``[1, 2]``, ``@(,@(1,2))`` is
``[[1, 2]]``.

Everything else is a ``GrammarError`` with the column: variables, ``$(...)``, script blocks,
``(...)``, ``;`` and line breaks between statements, redirections, ``&``, ``&&``/``||``, dot-sourcing,
splatting, here-strings, ``--%``, empty pipe elements, unterminated strings, arrays and hashtables.

Speed: a typical line (``Get-Mailbox -ResultSize Unlimited | Set-Mailbox -HiddenFromAddressListsEnabled
$true``) parses in about 20 µs (CPython 3.11, development machine), the six partner lines of the
tests in 9-21 µs each, and a 160,000-character line in about 50 ms: linear, no backtracking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["SWITCH", "Command", "GrammarError", "format_command", "format_value", "parse"]


class _Switch:
    """The type of ``SWITCH``: one instance, kept across copy and pickle."""

    __slots__ = ()
    _instance: _Switch | None = None

    def __new__(cls) -> _Switch:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "SWITCH"

    def __reduce__(self) -> str:
        return "SWITCH"

    def __copy__(self) -> _Switch:
        return self

    def __deepcopy__(self, memo: object) -> _Switch:
        return self


SWITCH: Final = _Switch()
"""The value of a switch parameter given without a value (``-Force``): it means present."""


@dataclass(frozen=True, slots=True)
class Command:
    """One command of a pipeline: its name and its parameters in the order written."""

    name: str
    parameters: tuple[tuple[str | None, Any], ...] = ()

    def __str__(self) -> str:
        return format_command([self])


class GrammarError(ValueError):
    """A command line outside the grammar; ``column`` (1-based) and ``line`` point at the fault."""

    def __init__(self, message: str, column: int, *, line: int = 1, source_line: str = "") -> None:
        super().__init__(message, column)
        self.message = message
        self.column = column
        self.line = line
        self.source_line = source_line

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.line > 1 else f"column {self.column}"
        head = f"{self.message} ({where})"
        if not self.source_line and self.column <= 1:
            return head
        shown, caret = _window(self.source_line, self.column)
        return f"{head}\n{shown}\n{caret}^"


def _window(line: str, column: int, width: int = 100) -> tuple[str, str]:
    """The part of a long line around the column, and the indentation of the caret under it."""
    index = column - 1
    start = max(0, index - width // 2) if len(line) > width else 0
    end = min(len(line), start + width)
    prefix = "…" if start else ""
    shown = prefix + line[start:end] + ("…" if end < len(line) else "")
    shown = "".join(ch if ch == "\t" or ch.isprintable() else " " for ch in shown)
    pad = prefix + line[start:index]
    return shown, "".join("\t" if ch == "\t" else " " for ch in pad)


# --- characters ----------------------------------------------------------------------------------

# Sets, not strings: '"" in "abc"' is true, and the scanner peeks "" at the end of the text.
_DASHES: Final = frozenset("-\u2013\u2014\u2015")  # PowerShell takes en dash, em dash, horizontal bar
_SQ: Final = frozenset("'\u2018\u2019\u201a\u201b")  # single quotes, curly ones included
_DQ: Final = frozenset('"\u201c\u201d\u201e')  # double quotes
_QUOTES: Final = _SQ | _DQ
_NEWLINES: Final = frozenset("\r\n")
_STOP: Final = frozenset("|;,(){}&<>\r\n")  # end a bare word (as does whitespace)
_AFTER_VALUE_OK: Final = frozenset(",|;)}#\r\n")
_ESCAPES: Final = {"0": "\0", "a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_SIZES: Final = {"kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}
_CONSTANTS: Final = {"true": True, "false": False, "null": None}
_MAX_DEPTH: Final = 64
_MAX_DIGITS: Final = 4000  # below CPython's int/str conversion limit
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_DIGITS: Final = frozenset("0123456789")
_BARE_SAFE: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:/\\@*?+")


def _ident_start(ch: str) -> bool:
    return ch.isalpha() or ch == "_"


def _ident(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _is_filter(name: str | None) -> bool:
    """Parameters that take an OPATH filter, which Exchange scripts write as ``{...}``."""
    return name is not None and name.casefold().endswith("filter")


def _number(token: str) -> int | float | None:
    """The number a bare token spells in PowerShell's argument mode, or None when it is a word."""
    body = token
    sign = 1
    if body[:1] and body[0] in _DASHES:
        sign, body = -1, body[1:]
    multiplier = _SIZES.get(body[-2:].lower(), 1) if len(body) > 2 else 1
    if multiplier != 1:
        body = body[:-2]
    if len(body) > _MAX_DIGITS:
        return None
    if body[:2] in ("0x", "0X"):
        digits = body[2:]
        if not digits or not all(ch in _HEX for ch in digits):
            return None
        return sign * int(digits, 16) * multiplier
    value = _decimal(body)
    if value is None:
        return None
    return sign * value * multiplier


def _decimal(body: str) -> int | float | None:
    """``12``, ``1.5``, ``.5``, ``1e-3`` (digits only, validated here so ``float`` sees no 'inf')."""
    n = len(body)
    i = 0
    while i < n and body[i] in _DIGITS:
        i += 1
    mantissa = i
    is_float = False
    if i < n and body[i] == ".":
        is_float = True
        i += 1
        while i < n and body[i] in _DIGITS:
            i += 1
        mantissa = i - 1
    if mantissa == 0:
        return None
    if i < n and body[i] in "eE":
        is_float = True
        i += 1
        if i < n and body[i] in "+-":
            i += 1
        start = i
        while i < n and body[i] in _DIGITS:
            i += 1
        if i == start:
            return None
    if i != n:
        return None
    return float(body) if is_float else int(body)


# --- parser --------------------------------------------------------------------------------------


class _Parser:
    """A hand-written scanner and recursive descent over one command line."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.depth = 0

    # errors

    def error(self, message: str, offset: int | None = None) -> GrammarError:
        offset = self.pos if offset is None else max(0, min(offset, self.n))
        line, column, source_line = _locate(self.text, offset)
        return GrammarError(message, column, line=line, source_line=source_line)

    def unexpected(self, offset: int | None = None, *, where: str = "") -> GrammarError:
        """The PowerShell-like refusal for whatever starts at ``offset``."""
        at = self.pos if offset is None else offset
        text = self.text
        ch = text[at] if at < self.n else ""
        nxt = text[at + 1] if at + 1 < self.n else ""
        if ch == "":
            return self.error("Unexpected end of the command line.", at)
        if ch == ";":
            return self.error("Statement separators (;) are not supported: a command line holds one pipeline.", at)
        if ch in _NEWLINES:
            return self.error("Line breaks separate statements: a command line holds one pipeline.", at)
        if ch in ")}":
            return self.error(f"Unexpected token '{ch}' in expression or statement.", at)
        if ch == "(":
            return self.error("Parenthesised expressions (...) are not supported.", at)
        if ch == "{":
            return self.error("Script blocks {...} are not supported (only a -Filter takes {...}, as text).", at)
        if ch == ">" or (ch in "0123456789*" and nxt == ">"):
            return self.error("Redirection (>) is not supported.", at)
        if ch == "<":
            return self.error("The '<' operator is reserved for future use.", at)
        if (ch == "&" and nxt == "&") or (ch == "|" and nxt == "|"):
            return self.error("Pipeline chain operators (&& and ||) are not supported.", at)
        if ch == "&":
            return self.error(
                "The ampersand (&) is not supported: wrap it in quotation marks ('&') to pass it as text.", at
            )
        if ch == "|":
            if where:
                return self.error(f"Pipelines are not supported inside {where}.", at)
            return self.error("An empty pipe element is not allowed.", at)
        if ch == ",":  # after a command name or a -Filter {...}, which cannot start an array
            return self.error("Unexpected token ',' in expression or statement.", at)
        if ch in _QUOTES:
            return self.error("Unexpected string: put the whole value in quotes.", at)
        return self.error(f"Unexpected character '{ch}': put the whole value in quotes.", at)

    # whitespace

    def peek(self, ahead: int = 0) -> str:
        at = self.pos + ahead
        return self.text[at] if at < self.n else ""

    def skip(self, newlines: bool) -> None:
        """Skip spaces, comments and line continuations; line breaks only where they are allowed."""
        text, n = self.text, self.n
        pos = self.pos
        while pos < n:
            ch = text[pos]
            if ch in _NEWLINES:
                if not newlines:
                    break
                pos += 1
            elif ch.isspace():
                pos += 1
            elif ch == "`" and pos + 1 < n and text[pos + 1] in _NEWLINES:
                pos += 3 if text.startswith("\r\n", pos + 1) else 2
            elif ch == "#":
                while pos < n and text[pos] not in _NEWLINES:
                    pos += 1
            else:
                break
        self.pos = pos

    def at_end_of_command(self) -> bool:
        ch = self.peek()
        return ch == "" or ch == "|" or ch in _NEWLINES

    def after_value(self, *, comma: bool = True) -> None:
        """A value must be followed by a separator: ``'a'b`` or ``$true.x`` are refused here."""
        ch = self.peek()
        if ch == "" or ch.isspace() or (ch in _AFTER_VALUE_OK and (comma or ch != ",")):
            return
        if ch == "`" and self.peek(1) in _NEWLINES:
            return
        raise self.unexpected()

    def descend(self, at: int) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(f"Values are nested more than {_MAX_DEPTH} levels deep.", at)

    # pipeline and commands

    def pipeline(self) -> list[Command]:
        self.skip(newlines=True)
        if self.pos >= self.n:
            raise self.error("The command line is empty.", 0)
        commands: list[Command] = []
        while True:
            if self.peek() == "|":
                raise self.unexpected()
            commands.append(self.command())
            if self.pos >= self.n:
                return commands
            bar = self.pos  # command() stops only at the end or at '|'
            if self.peek(1) == "|":
                raise self.unexpected(bar)
            self.pos += 1
            self.skip(newlines=True)
            if self.pos >= self.n:
                raise self.error("An empty pipe element is not allowed.", bar)

    def command(self) -> Command:
        name = self.command_name()
        parameters: list[tuple[str | None, Any]] = []
        while True:
            self.skip(newlines=False)
            ch = self.peek()
            if ch == "" or ch == "|":
                break
            if ch in _NEWLINES:
                self.skip(newlines=True)
                if self.pos >= self.n:
                    break
                raise self.error(
                    "Line breaks separate statements: a command line holds one pipeline"
                    " (end a line with ` or | to continue it)."
                )
            if ch in _DASHES and _ident_start(self.peek(1)):
                parameters.append(self.parameter())
            else:
                parameters.append((None, self.argument(None)))
        return Command(name, tuple(parameters))

    def command_name(self) -> str:
        start = self.pos
        ch, nxt = self.peek(), self.peek(1)
        if ch == "&" and nxt != "&":
            raise self.error("The call operator (&) is not supported: write the command name itself.")
        if ch == "." and (nxt == "" or nxt.isspace() or nxt in _QUOTES or nxt in "$({@&"):
            raise self.error("Dot-sourcing (.) is not supported: write the command name itself.")
        if ch == "$":
            self.dollar()  # raises for variables and subexpressions
            raise self.error("Expected a command name such as Get-Mailbox, found a value.", start)
        if ch in _DASHES or ch in _QUOTES or ch in ",@":
            raise self.error("Expected a command name such as Get-Mailbox.")
        if ch in _STOP:
            raise self.unexpected()
        name, escaped = self.bare()
        if not escaped and _number(name) is not None:
            raise self.error("Expected a command name such as Get-Mailbox, found a number.", start)
        self.after_value(comma=False)
        return name

    def parameter(self) -> tuple[str, Any]:
        start = self.pos
        self.pos += 1
        name_start = self.pos
        while self.pos < self.n and _ident(self.text[self.pos]):
            self.pos += 1
        name = self.text[name_start : self.pos]
        ch = self.peek()
        if ch == ":":
            self.pos += 1
            self.skip(newlines=False)
            if self.at_end_of_command():
                raise self.error(f"Missing value after '-{name}:'.", start)
            return name, self.argument(name)
        if not (ch == "" or ch.isspace() or ch in "|;" or (ch == "`" and self.peek(1) in _NEWLINES)):
            raise self.error(f"Unexpected character '{ch}' in the parameter name -{name}.")
        self.skip(newlines=False)
        ch = self.peek()
        if self.at_end_of_command() or (ch in _DASHES and _ident_start(self.peek(1))):
            return name, SWITCH
        return name, self.argument(name)

    # values

    def argument(self, parameter: str | None) -> Any:
        """A value in argument mode: one element or a comma list (``a,b``)."""
        if self.peek() == "{" and _is_filter(parameter):
            text = self.braces()
            self.after_value(comma=False)
            return text
        return self.value(where="")

    def value(self, where: str) -> Any:
        """An element, or elements joined by ``,`` (a line break may follow a comma)."""
        first = self.element(where)
        self.skip(newlines=False)
        if self.peek() != ",":
            return first
        items = [first]
        while self.peek() == ",":
            comma = self.pos
            self.pos += 1
            self.skip(newlines=True)
            if self.at_value_end(where):
                raise self.error("Missing expression after ','.", comma)
            items.append(self.element(where))
            self.skip(newlines=False)
        return items

    def at_value_end(self, where: str) -> bool:
        ch = self.peek()
        return ch == "" or ch in "|;" or (where != "" and ch in ")}")

    def element(self, where: str) -> Any:
        """One value: string, number, constant, array, hashtable or bare word."""
        ch = self.peek()
        start = self.pos
        if ch in _SQ:
            result: Any = self.single_quoted()
        elif ch in _DQ:
            result = self.double_quoted()
        elif ch == "$":
            result = self.dollar()
        elif ch == "@":
            result = self.at_sign(where)
        elif ch == ",":
            self.descend(start)
            self.pos += 1
            self.skip(newlines=False)
            if self.at_value_end(where) or self.peek() in _NEWLINES:
                raise self.error("Missing expression after ','.", start)
            result = [self.element(where)]
            self.depth -= 1
            return result
        elif ch in _DASHES:
            result = self.dashed(where)
        elif ch == "" or ch in _STOP:
            raise self.unexpected(where=where)
        else:
            word, escaped = self.bare()
            number = None if escaped else _number(word)
            result = word if number is None else number
        self.after_value()
        return result

    def dashed(self, where: str) -> int | float:
        """A value that starts with a dash, which must be a number."""
        start = self.pos
        if self.peek(1) in _DASHES and self.peek(2) == "%":
            raise self.error("The stop-parsing token (--%) is not supported.")
        if where and _ident_start(self.peek(1)):
            raise self.error(f"Operators are not supported inside {where}.")
        word, escaped = self.bare()
        number = None if escaped else _number(word)
        if number is None:
            raise self.error(
                "A value that starts with '-' must be a number: put it in quotes to pass it as text.", start
            )
        return number

    def bare(self) -> tuple[str, bool]:
        """A bare word up to whitespace or a special character; backtick escapes apply."""
        text, n = self.text, self.n
        pos = self.pos
        parts: list[str] = []
        escaped = False
        segment = pos
        while pos < n:
            ch = text[pos]
            if ch in _STOP or ch.isspace():
                break
            if ch == "`":
                nxt = text[pos + 1] if pos + 1 < n else ""
                if nxt in _NEWLINES:
                    break
                parts.append(text[segment:pos])
                self.pos = pos
                parts.append(self.escape())
                pos = segment = self.pos
                escaped = True
                continue
            if ch in _QUOTES:
                raise self.error("A quote inside a bare word is not supported: put the whole value in quotes.", pos)
            if ch == "$":
                self.check_dollar_in_text(pos, quoted=False)
            pos += 1
        parts.append(text[segment:pos])
        self.pos = pos
        return "".join(parts), escaped

    def escape(self) -> str:
        """The character a backtick escape stands for; ``self.pos`` is at the backtick."""
        at = self.pos
        if at + 1 >= self.n:
            raise self.error("Missing character after the escape character (`).", at)
        ch = self.text[at + 1]
        if ch == "u" and self.peek(2) == "{":
            close = self.text.find("}", at + 3, at + 11)
            digits = self.text[at + 3 : close] if close != -1 else ""
            if not digits or len(digits) > 6 or not all(d in _HEX for d in digits) or int(digits, 16) > 0x10FFFF:
                raise self.error("Invalid Unicode escape: write `u{XXXX} with 1 to 6 hexadecimal digits.", at)
            self.pos = close + 1
            return chr(int(digits, 16))
        self.pos = at + 2
        return _ESCAPES.get(ch, ch)

    def single_quoted(self) -> str:
        return self.quoted(_SQ, "'", expandable=False)

    def double_quoted(self) -> str:
        return self.quoted(_DQ, '"', expandable=True)

    def quoted(self, quotes: frozenset[str], terminator: str, *, expandable: bool) -> str:
        """A string literal: a doubled quote is one quote; in an expandable (double-quoted) string
        backticks escape and ``$`` would expand, so variables are refused there."""
        start = self.pos
        text, n = self.text, self.n
        missing = f"The string is missing the terminator: {terminator}."
        pos = start + 1
        parts: list[str] = []
        segment = pos
        while True:
            if pos >= n:
                raise self.error(missing, start)
            ch = text[pos]
            if ch in quotes:
                parts.append(text[segment:pos])
                if pos + 1 < n and text[pos + 1] in quotes:
                    parts.append(text[pos + 1])
                    pos += 2
                    segment = pos
                    continue
                self.pos = pos + 1
                return "".join(parts)
            if expandable and ch == "`":
                parts.append(text[segment:pos])
                if pos + 1 >= n:
                    raise self.error(missing, start)
                self.pos = pos
                parts.append(self.escape())
                pos = segment = self.pos
                continue
            if expandable and ch == "$":
                self.check_dollar_in_text(pos, quoted=True)
            pos += 1

    def check_dollar_in_text(self, at: int, *, quoted: bool) -> None:
        """A ``$`` that PowerShell would expand (``$x``, ``${x}``, ``$(...)``) is refused; a lone one is text."""
        nxt = self.text[at + 1] if at + 1 < self.n else ""
        if not (nxt and (_ident(nxt) or nxt in "{(?^$")):
            return
        hint = " (PowerShell expands it inside double quotes: write `$ for a dollar sign, or use single quotes)"
        saved = self.pos
        self.pos = at
        try:
            self.dollar()
        except GrammarError as error:
            if quoted:
                raise self.error(error.message.rstrip(".") + hint, at) from None
            raise
        self.pos = saved
        name = self.text[at : at + 1 + len(_ident_run(self.text, at + 1))]
        raise self.error(f"Variables are not supported: {name}" + (hint if quoted else ""), at)

    def dollar(self) -> bool | None:
        """``$true``, ``$false``, ``$null``; every other ``$`` form is refused with its name."""
        start = self.pos
        nxt = self.peek(1)
        if nxt == "(":
            raise self.error("Subexpressions $(...) are not supported.")
        if nxt == "{":
            close = self.text.find("}", start)
            name = self.text[start : close + 1] if close != -1 else "${"
            raise self.error(f"Variables are not supported: {name}")
        if nxt and nxt in "?^$":
            raise self.error(f"Variables are not supported: ${nxt}")
        name = _ident_run(self.text, start + 1)
        end = start + 1 + len(name)
        if name and end < self.n and self.text[end] == ":":
            scoped = _ident_run(self.text, end + 1)
            raise self.error(f"Variables are not supported: ${name}:{scoped}")
        if not name:
            raise self.error("A '$' must begin $true, $false or $null: put it in quotes to pass it as text.")
        key = name.casefold()
        if key not in _CONSTANTS:
            raise self.error(f"Variables are not supported: ${name}")
        self.pos = end
        return _CONSTANTS[key]

    def at_sign(self, where: str) -> Any:
        nxt = self.peek(1)
        if nxt == "(":
            return self.array()
        if nxt == "{":
            return self.hashtable()
        if nxt in _QUOTES:
            raise self.error("Here-strings (@'...'@) are not supported.")
        if nxt and _ident(nxt):
            raise self.error(f"Splatting (@{_ident_run(self.text, self.pos + 1)}) is not supported.")
        raise self.error("Expected @(...) or @{...} after '@'.")

    def array(self) -> list[Any]:
        """``@(...)``: statements separated by ``;`` or line breaks; arrays among them are unrolled."""
        start = self.pos
        self.descend(start)
        self.pos += 2
        items: list[Any] = []
        where = "@(...)"
        while True:
            self.skip_separators()
            ch = self.peek()
            if ch == ")":
                self.pos += 1
                break
            if ch == "":
                raise self.error("Missing closing ')' in the array expression @(...).", start)
            if ch == "}":
                raise self.unexpected()
            statement = self.value(where)
            if isinstance(statement, list):
                items.extend(statement)
            else:
                items.append(statement)
            self.end_of_entry(where, ")")
        self.depth -= 1
        return items

    def hashtable(self) -> dict[str, Any]:
        """``@{Key=value; ...}``: keys bare or quoted, case-insensitive and unique, as in PowerShell."""
        start = self.pos
        self.descend(start)
        self.pos += 2
        table: dict[str, Any] = {}
        seen: set[str] = set()
        where = "@{...}"
        while True:
            self.skip_separators()
            ch = self.peek()
            if ch == "}":
                self.pos += 1
                break
            if ch == "":
                raise self.error("Missing closing '}' in hash literal.", start)
            key_at = self.pos
            key = self.hash_key()
            self.skip(newlines=False)
            if self.peek() != "=":
                raise self.error("Missing '=' operator after key in hash literal.")
            self.pos += 1
            self.skip(newlines=True)
            if self.at_value_end(where):
                raise self.error("Missing statement after '=' in hash literal.")
            value = self.value(where)
            folded = key.casefold()
            if folded in seen:
                raise self.error(f"Duplicate keys '{key}' are not allowed in hash literals.", key_at)
            seen.add(folded)
            table[key] = value
            self.end_of_entry(where, "}")
        self.depth -= 1
        return table

    def hash_key(self) -> str:
        ch = self.peek()
        if ch in _SQ:
            key = self.single_quoted()
        elif ch in _DQ:
            key = self.double_quoted()
        else:
            start = self.pos
            while self.pos < self.n and (_ident(self.text[self.pos]) or self.text[self.pos] == "-"):
                self.pos += 1
            key = self.text[start : self.pos]
            if not key:
                if ch == "=":
                    raise self.error("Missing key before '=' in hash literal.")
                raise self.error("Expected a key (a name or a quoted string) in hash literal.")
        return key

    def skip_separators(self) -> None:
        self.skip(newlines=True)
        while self.peek() == ";":
            self.pos += 1
            self.skip(newlines=True)

    def end_of_entry(self, where: str, close: str) -> None:
        """After an entry of ``@(...)``/``@{...}``: the closer, ``;``, a line break or the end (reported later)."""
        self.skip(newlines=False)
        ch = self.peek()
        if ch == "" or ch == close or ch == ";" or ch in _NEWLINES:
            return
        if ch in _STOP:
            raise self.unexpected(where=where)
        what = "entries with ';' or a line break" + (", elements with ','" if close == ")" else "")
        raise self.error(f"Unexpected '{ch}' inside {where}: separate {what}.")

    def braces(self) -> str:
        """The text of ``{...}`` for a filter, balanced, skipping quoted strings and escapes inside."""
        start = self.pos
        text, n = self.text, self.n
        depth = 0
        pos = start
        while pos < n:
            ch = text[pos]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    self.pos = pos + 1
                    return text[start + 1 : pos]
            elif ch in _QUOTES:
                pos = self.skip_string(pos, start)
                continue
            elif ch == "`":
                pos += 1
            pos += 1
        raise self.error("Missing closing '}' in statement block or type definition.", start)

    def skip_string(self, pos: int, block: int) -> int:
        """The position after the quoted string at ``pos`` inside a filter block."""
        text, n = self.text, self.n
        quotes = _SQ if text[pos] in _SQ else _DQ
        pos += 1
        while pos < n:
            ch = text[pos]
            if ch == "`" and quotes is _DQ:
                pos += 2
                continue
            if ch in quotes:
                if pos + 1 < n and text[pos + 1] in quotes:
                    pos += 2
                    continue
                return pos + 1
            pos += 1
        raise self.error("Missing closing '}' in statement block or type definition.", block)


def _locate(text: str, offset: int) -> tuple[int, int, str]:
    """Line (1-based), column (1-based) and the text of the line of an offset; CR, LF and CRLF end lines."""
    line_start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    ends = [found for found in (text.find("\n", offset), text.find("\r", offset)) if found != -1]
    line_end = min(ends) if ends else len(text)
    before = text[:line_start]
    line = before.count("\n") + before.count("\r") - before.count("\r\n") + 1
    return line, offset - line_start + 1, text[line_start:line_end]


def _ident_run(text: str, start: int) -> str:
    end = start
    while end < len(text) and _ident(text[end]):
        end += 1
    return text[start:end]


def parse(text: str) -> list[Command]:
    """The commands of one pipeline; ``GrammarError`` (with the column) for anything beyond the grammar."""
    return _Parser(text).pipeline()


# --- formatter -----------------------------------------------------------------------------------


def format_command(commands: list[Command] | tuple[Command, ...] | Command) -> str:
    """A command line that ``parse`` reads back to the same commands, quoting where needed.

    A switch followed by a positional argument, directly or through other switches (``-Force x``
    would read as ``-Force`` with the value ``x``), is written later: before the next named
    parameter, or at the end. PowerShell binds named parameters by name, so the meaning is the same.
    Raises ``ValueError`` for what the grammar cannot write: a command or parameter name that is not
    a plain word, a non-finite float, ``SWITCH`` nested in a value, a value of another type, or
    hashtable keys that differ only in case.
    """
    if isinstance(commands, Command):
        commands = [commands]
    return " | ".join(_format_one(command) for command in commands)


def _format_one(command: Command) -> str:
    if not _bare_ok(command.name):
        raise ValueError(f"not a command name this grammar can write: {command.name!r}")
    out = [command.name]
    held: list[str] = []  # switches that would swallow the positional after them; written before a named one
    params = command.parameters
    for (name, value), hold in zip(params, _switches_to_hold(params), strict=True):
        if name is None:
            out.append(_format_value(value, bare=True))
            continue
        if not name or not _ident_start(name[0]) or not all(_ident(ch) for ch in name):
            raise ValueError(f"not a parameter name this grammar can write: {name!r}")
        if hold:
            held.append(f"-{name}")
            continue
        out.extend(held)
        held.clear()
        if value is SWITCH:
            out.append(f"-{name}")
        elif isinstance(value, bool):
            out.append(f"-{name}:{_format_value(value, bare=True)}")
        else:
            out.append(f"-{name} {_format_value(value, bare=True)}")
    out.extend(held)
    return " ".join(out)


def _switches_to_hold(params: tuple[tuple[str | None, Any], ...]) -> list[bool]:
    """Switches whose next non-switch item is positional (directly or through other switches)."""
    hold = [False] * len(params)
    positional_next = False
    for i in range(len(params) - 1, -1, -1):
        name, value = params[i]
        if name is None:
            positional_next = True
        elif value is SWITCH:
            hold[i] = positional_next
        else:
            positional_next = False
    return hold


def format_value(value: Any) -> str:
    """One argument as the command line writes it (``a,b``, ``'it''s'``, ``$null``, ``@{A=1}``)."""
    return _format_value(value, bare=True)


def _format_value(value: Any, *, bare: bool) -> str:
    if isinstance(value, list) and len(value) >= 2:
        return ",".join(_format_element(item, bare=bare) for item in value)
    return _format_element(value, bare=bare)


def _format_element(value: Any, *, bare: bool) -> str:
    if value is None:
        return "$null"
    if value is True:
        return "$true"
    if value is False:
        return "$false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"PowerShell has no literal for {value!r}")
        return repr(value)
    if isinstance(value, str):
        return value if bare and _bare_ok(value) else _quote(value)
    if isinstance(value, list):
        if len(value) == 1 and isinstance(value[0], list):
            return "@(," + _format_element(value[0], bare=False) + ")"
        return "@(" + ",".join(_format_element(item, bare=False) for item in value) + ")"
    if isinstance(value, dict):
        return _format_hashtable(value)
    if value is SWITCH:
        raise ValueError("SWITCH is only the value of a parameter")
    raise ValueError(f"no command-line form for a {type(value).__name__}")


def _format_hashtable(table: dict[Any, Any]) -> str:
    folded = set()
    entries = []
    for key, item in table.items():
        if not isinstance(key, str):
            raise ValueError(f"hashtable keys are strings, not {type(key).__name__}")
        if key.casefold() in folded:
            raise ValueError(f"hashtable keys differ only in case: {key!r}")
        folded.add(key.casefold())
        plain = key.isascii() and key.isidentifier()
        entries.append(f"{key if plain else _quote(key)}={_format_value(item, bare=False)}")
    return "@{" + "; ".join(entries) + "}"


def _bare_ok(word: str) -> bool:
    """Written without quotes: starts with a letter, only characters no shell or PowerShell reads specially."""
    return bool(word) and word[0].isascii() and word[0].isalpha() and all(ch in _BARE_SAFE for ch in word)


def _quote(text: str) -> str:
    """Single quotes, in which only quote characters (curly ones too) need doubling."""
    if not any(ch in _SQ for ch in text):
        return f"'{text}'"
    return "'" + "".join(ch + ch if ch in _SQ else ch for ch in text) + "'"
