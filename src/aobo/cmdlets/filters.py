"""The OPATH ``-Filter`` engine: parse a filter, bind it to a cmdlet's filterable properties, and
compile it to a SQL condition plus a Python residual.

Grammar, tokens and errors follow Exchange's own parser (``Microsoft.Exchange.Data.QueryParser``, a
gppg LALR grammar; read in the decompiled Exchange 2013 sources, PiratesRE/exchange_diff):

* precedence: ``-not`` binds tightest, then ``-and``, then ``-or``, each left-associative (the
  parser's tables shift ``-and`` after ``a -or b`` and reduce ``-not a`` before either). PowerShell
  itself gives ``-and``/``-or`` equal precedence; OPATH does not.
* tokens: a property is ``[A-Za-z][A-Za-z0-9_]*``; operators are ``-eq -ne -lt -gt -le -ge -like
  -notlike -and -or -not`` in any case; values are ``'...'`` (``''`` is a quote), ``"..."`` (a
  backtick before a quote escapes it), numbers, and ``$name``/``${name}`` variables. Any other
  ``-word``, or a run of ``! & < = > |``, is an unsupported operator. Characters that start no token
  (``{ } ; , . : * @``, non-ASCII, ...) are skipped, which is why the ``{ ... }`` form works.
* variables: ``$true``/``$false``/``$null``; Exchange evaluates any other name in the session,
  where it is undefined, so it is ``$null`` here too.
* positions are 1-based columns of the offending token within its line. An unexpected end of the
  filter is reported "at position 1": the scanner reads a virtual newline there, which resets the
  column. An unterminated quote (or ``${``) ends the filter where it starts, so ``Name -eq 'a``
  fails at the quote and ``Name -eq 'a' 'b`` is accepted.
* a filter with no tokens at all (``"  "``, ``"{}"``) is accepted and matches everything; an empty
  string never reaches the parser (``[ValidateNotNullOrEmpty]``).

Checked against a port of that parser's generated tables: they agreed on 600,000 random filters
(leaving aside ``${`` oddities and type conversion, which the port did not model).

One extension: after an operator, a word starting with a letter, digit or ``*`` runs to the next
space, parenthesis, brace or quote and is a string value (``RecipientTypeDetails -eq UserMailbox``,
``Alias -like j*``). Exchange 2013's grammar rejects it, but Exchange Online scripts use it
(``-Filter {RecipientTypeDetails -eq UserMailbox}``, which PowerShell sends as that text).

Semantics are Exchange's (``Parser.CreateRelationalExpression``): ``-eq $null`` tests for no value and
every other operator with ``$null`` for a value; ``-like '*'`` means "has a value"; ``-notlike`` is
the negation of ``-like``; ``-like`` compares the value's text, the other operators convert the
literal to the property's type first (failing like Exchange does). In the directory an empty string
is no value, so ``''``, ``[]`` and ``None`` all count as null. Strings compare case-insensitively.
Like Exchange Online, ``*`` is a wildcard anywhere in a ``-like`` pattern; nothing else is.

SQL follows the same rules so that a row the SQL condition selects is exactly a row ``matches``
accepts. Known limits: SQLite's ``lower()`` folds ASCII only, and ``-lt``/``-gt`` on strings follow
the database collation, so the two agree exactly for ASCII text on SQLite.
"""

from __future__ import annotations

import operator
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from typing import Any, Final

from sqlalchemy import Boolean, and_, false, func, literal, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

from aobo.cmdlets import texts
from aobo.cmdlets.parameters import property_of
from aobo.cmdlets.results import EnumValue, ErrorCategory, ErrorRecord, MultiValued

# --- texts ---------------------------------------------------------------------------------------
# Exchange's resource strings (DataStrings: ExceptionParseError, ExceptionInvalidFilterOperator,
# ExceptionParseNonFilterablePropertyErrorWithList, ExceptionInvalidFormat). The "\n\r" is in the
# resources as written. Exchange Online lists the valid names (Microsoft Q&A 179546).

SYNTAX_ERROR: Final = (
    "Invalid filter syntax. For a description of the filter parameter syntax see the command help.\n\r"
    '"{filter}" at position {position}.'
)
INVALID_OPERATOR: Final = (
    '"{operator}" is not a valid operator. For a list of supported operators see the command help.\n\r'
    '"{filter}" at position {position}.'
)
UNKNOWN_PROPERTY: Final = (
    '"{name}" is not a recognized filterable property. Valid property names are: {names}.\n\r'
    '"{filter}" at position {position}.'
)
INVALID_VALUE: Final = 'The value "{value}" could not be converted to type {type}.'
#: ``(string)value`` on a ``$true``/``$false`` compared with a property that is not a Boolean.
INVALID_CAST: Final = "Unable to cast object of type 'System.Boolean' to type 'System.String'."
#: PowerShell's ValidateNotNullOrEmpty text, for ``-Filter ''``.
EMPTY_FILTER: Final = (
    "The argument is null or empty. Provide an argument that is not null or empty, and then try the command again."
)
#: PowerShell's wrapper for an exception thrown by a parameter's setter (ParameterBindingFailed).
BINDING_FAILED: Final = (
    'Cannot bind parameter \'{parameter}\' to the target. Exception setting "{parameter}": "{message}"'
)
VALIDATION_FAILED: Final = "Cannot validate argument on parameter '{parameter}'. {message}"

_DOTNET_TYPES: Final[dict[str, str]] = {
    "string": "System.String",
    "bool": "System.Boolean",
    "int": "System.Int32",
    "datetime": "System.Nullable`1[System.DateTime]",
    "guid": "System.Guid",
    "enum": "System.Enum",
    "multi": "System.String",
}
_MAX_DEPTH: Final = 100  # nested parentheses/-not; keeps the recursive parser far from Python's limit


class FilterError(Exception):
    """A filter Exchange would reject. ``message`` is Exchange's text (the part inside ``Exception
    setting "Filter": "..."``); ``position`` the 1-based column it reports, 0 when it reports none.
    ``kind`` is "syntax", "operator", "property", "value" or "empty" (an empty string)."""

    def __init__(self, message: str, position: int, kind: str = "syntax") -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.kind = kind


def filter_error_record(err: FilterError, cmdlet: str, parameter: str = "Filter") -> ErrorRecord:
    """The terminating record PowerShell reports when the Filter setter throws (or, for an empty
    string, when ValidateNotNullOrEmpty fails). Exchange shows it as ``WriteError`` (Q&A 222168)."""
    if err.kind == "empty":
        record = texts.binding_error(
            VALIDATION_FAILED.format(parameter=parameter, message=err.message),
            "ParameterArgumentValidationError",
            cmdlet,
            category=ErrorCategory.InvalidData,
        )
        short = "ParameterBindingValidationException"
        return replace(record, exception_type=f"System.Management.Automation.{short}", reason=short)
    return texts.binding_error(
        BINDING_FAILED.format(parameter=parameter, message=err.message),
        "ParameterBindingFailed",
        cmdlet,
        category=ErrorCategory.WriteError,
    )


# --- the tree ------------------------------------------------------------------------------------

OPERATORS: Final = frozenset({"eq", "ne", "lt", "gt", "le", "ge", "like", "notlike"})
Value = str | bool | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """``Property -op Value``. ``value`` is the literal as written (quotes removed): a string, or
    True/False/None from ``$true``/``$false``/``$null``. ``source`` is the whole filter, for errors."""

    name: str
    op: str
    value: Value
    position: int
    value_position: int
    source: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


@dataclass(frozen=True, slots=True)
class MatchAll:
    """A filter with no tokens, which Exchange accepts as "no filter"."""


Node = Comparison | And | Or | Not | MatchAll


@dataclass(frozen=True, slots=True)
class ElementRows:
    """Where a multi-valued property keeps its elements, one row each, so SQL can test them: the
    elements are ``prefix:value`` texts (proxy addresses), both parts stored in lower case and the
    value indexed. ``ids(condition)`` selects the ids of the filtered rows (``owner``) that have an
    element meeting ``condition``."""

    owner: ColumnElement[Any]
    prefix: ColumnElement[Any]
    value: ColumnElement[Any]
    ids: Callable[[ColumnElement[bool]], Any]


@dataclass(frozen=True, slots=True)
class FilterProperty:
    """One filterable property of a cmdlet.

    ``kind`` is "string", "bool", "int", "datetime", "multi", "enum" or "guid". ``column`` is the SQL
    expression holding it, if any (guids as lower-case text, datetimes as naive UTC, enums as their
    canonical names); multi-valued properties are always evaluated in Python. ``lower_indexed`` says
    the database indexes ``lower(column)``, so prefix patterns become a range on it. ``enum_names``
    are the valid names of an enum (literals are checked and canonicalised, and SQL then compares the
    column itself); ``dotnet_type`` names the type in conversion errors.
    """

    name: str
    kind: str
    column: ColumnElement[Any] | None = None
    lower_indexed: bool = False
    enum_names: tuple[str, ...] = ()
    dotnet_type: str = ""
    elements: ElementRows | None = None

    @property
    def type_name(self) -> str:
        return self.dotnet_type or _DOTNET_TYPES.get(self.kind, "System.String")


# --- lexer ---------------------------------------------------------------------------------------

_WORD: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_NUMBER: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BAD_OPERATOR: Final = re.compile(r"[!&<=>|]+")
_VARIABLE: Final = re.compile(r"\$(?:\{[^{}]*\}|[A-Za-z0-9_]+)")
_BARE: Final = re.compile(r"[^\s(){}'\"]+")
_KEYWORDS: Final = OPERATORS | {"and", "or", "not"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # prop, op, and, or, not, badop, (, ), value, eof
    text: str
    start: int
    value: Value = None


def _column(text: str, offset: int) -> int:
    """Exchange's position: the 1-based column in the line."""
    return offset - (text.rfind("\n", 0, offset) + 1) + 1


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _is_letter(c: str) -> bool:
    return c.isascii() and c.isalpha()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def syntax_error(self, token: _Token) -> FilterError:
        """Exchange reports the end of the filter at position 1 (see the module docstring)."""
        position = 1 if token.start == len(self.text) else _column(self.text, token.start)
        return FilterError(SYNTAX_ERROR.format(filter=self.text, position=position), position)

    def scan(self, value_mode: bool = False) -> _Token:
        """The next token; ``value_mode`` (after an operator) also reads bare words."""
        n = len(self.text)
        pos = self.pos
        while pos < n:
            token = self._token_at(pos, value_mode)
            if token is not None:
                self.pos = n if token.kind == "eof" else pos + len(token.text)
                return token
            pos += 1
        self.pos = n
        return _Token("eof", "", n)

    def _token_at(self, pos: int, value_mode: bool) -> _Token | None:
        text = self.text
        c = text[pos]
        following = text[pos + 1 : pos + 2]
        if c == "'":
            return self._single_quoted(pos)
        if c == '"':
            return self._double_quoted(pos)
        if c == "$":
            m = _VARIABLE.match(text, pos)
            if m is None:
                return _Token("eof", text[pos:], pos) if following == "{" else None
            name = m.group()[2:-1] if following == "{" else m.group()[1:]
            return _Token("value", m.group(), pos, _variable(name))
        if c in "()":
            return _Token(c, c, pos)
        if c in "!&<=>|":
            m = _BAD_OPERATOR.match(text, pos)
            assert m is not None
            return _Token("badop", m.group(), pos)
        if c == "-" and _is_digit(following):
            m = _NUMBER.match(text, pos)
            assert m is not None
            return _Token("value", m.group(), pos, m.group())
        if c == "-" and _is_letter(following):
            m = _WORD.match(text, pos + 1)
            assert m is not None
            word = m.group().lower()
            kind = ("op" if word in OPERATORS else word) if word in _KEYWORDS else "badop"
            return _Token(kind, "-" + m.group(), pos)
        if value_mode and (c.isalnum() or c == "*"):
            m = _BARE.match(text, pos)
            assert m is not None
            return _Token("value", m.group(), pos, m.group())
        if _is_letter(c):
            m = _WORD.match(text, pos)
            assert m is not None
            return _Token("prop", m.group(), pos)
        if _is_digit(c):
            m = _NUMBER.match(text, pos)
            assert m is not None
            return _Token("value", m.group(), pos, m.group())
        return None

    def _single_quoted(self, pos: int) -> _Token:
        text = self.text
        i = pos + 1
        while True:
            end = text.find("'", i)
            if end == -1:
                return _Token("eof", text[pos:], pos)
            if text[end + 1 : end + 2] == "'":
                i = end + 2
                continue
            raw = text[pos : end + 1]
            return _Token("value", raw, pos, raw[1:-1].replace("''", "'"))

    def _double_quoted(self, pos: int) -> _Token:
        text = self.text
        i = pos + 1
        while i < len(text):
            if text[i] == "`" and text[i + 1 : i + 2] == '"':
                i += 2
            elif text[i] == '"':
                raw = text[pos : i + 1]
                return _Token("value", raw, pos, raw[1:-1].replace("`'", "'").replace('`"', '"'))
            else:
                i += 1
        return _Token("eof", text[pos:], pos)


def _variable(name: str) -> Value:
    """``$true``/``$false``; anything else is undefined in the session, hence null."""
    lowered = name.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


# --- parser --------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over Exchange's grammar, raising its errors at its positions."""

    def __init__(self, text: str, properties: Mapping[str, FilterProperty] | None) -> None:
        self.lexer = _Lexer(text)
        self.text = text
        self.properties = properties
        self.depth = 0
        self.token = self.lexer.scan()

    def advance(self, value_mode: bool = False) -> None:
        self.token = self.lexer.scan(value_mode)

    def unexpected(self) -> FilterError:
        return self.lexer.syntax_error(self.token)

    def parse(self) -> Node:
        if self.token.kind == "eof":
            return MatchAll()
        node = self.disjunction()
        if self.token.kind != "eof":
            raise self.unexpected()
        return node

    def disjunction(self) -> Node:
        items = [self.conjunction()]
        while self.token.kind == "or":
            self.advance()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> Node:
        items = [self.unary()]
        while self.token.kind == "and":
            self.advance()
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        kind = self.token.kind
        if kind in ("not", "("):
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise self.unexpected()
            self.advance()
            if kind == "not":
                node: Node = Not(self.unary())
            else:
                node = self.disjunction()
                if self.token.kind != ")":
                    raise self.unexpected()
                self.advance()
            self.depth -= 1
        elif kind == "prop":
            node = self.comparison()
        else:
            raise self.unexpected()
        if self.token.kind == "badop":
            raise self.invalid_operator()
        return node

    def invalid_operator(self) -> FilterError:
        position = _column(self.text, self.token.start)
        message = INVALID_OPERATOR.format(operator=self.token.text, filter=self.text, position=position)
        return FilterError(message, position, "operator")

    def comparison(self) -> Comparison:
        name = self.token
        position = _column(self.text, name.start)
        if self.properties is not None:
            _lookup(self.properties, name.text, self.text, position)
        self.advance()
        if self.token.kind == "badop":
            raise self.invalid_operator()
        if self.token.kind != "op":
            raise self.unexpected()
        op = self.token.text[1:].lower()
        self.advance(value_mode=True)
        if self.token.kind != "value":
            raise self.unexpected()
        node = Comparison(
            name.text, op, self.token.value, position, _column(self.text, self.token.start), source=self.text
        )
        if self.properties is not None:
            _test(node, self.properties)  # Exchange converts values as it parses: errors come in text order
        self.advance()
        return node


def parse_filter(text: str, properties: Mapping[str, FilterProperty] | None = None) -> Node:
    """Parse an OPATH filter. With ``properties`` (keyed by lower-case name), unknown properties and
    unconvertible values are reported where Exchange reports them, in the order it meets them."""
    if text == "":
        raise FilterError(EMPTY_FILTER, 0, "empty")
    return _Parser(text, properties).parse()


# --- binding: a comparison becomes a test on a property ------------------------------------------

_PROXY_PREFIX: Final = re.compile(r"[A-Za-z0-9]{1,9}:")


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A ``-like`` pattern (lower-cased). Without wildcards it is a literal text comparison."""

    text: str
    wildcards: bool
    regex: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def make(cls, text: str, wildcards: bool) -> _Pattern:
        text = text.lower()
        regex = re.compile(".*".join(re.escape(part) for part in text.split("*")), re.DOTALL) if wildcards else None
        return cls(text, wildcards, regex)

    def matches(self, value: str) -> bool:
        value = value.lower()
        return self.regex.fullmatch(value) is not None if self.regex is not None else value == self.text

    @property
    def matches_empty(self) -> bool:
        return self.text.strip("*") == "" if self.wildcards else self.text == ""

    def sql(self, column: ColumnElement[Any], indexed: bool, *, folded: bool = False) -> ColumnElement[bool]:
        # A column already stored in lower case is compared as it is, so its own index serves.
        lowered = column if folded else func.lower(column)
        if not self.wildcards:
            return lowered == self.text
        like = "%".join(_escape_like(part) for part in self.text.split("*"))
        conditions = [lowered.like(like, escape="\\")]
        prefix = self.text.split("*", 1)[0]
        if indexed and prefix and ord(prefix[-1]) < 0x10FFFF:
            # The range lets the database use its index on lower(column); LIKE stays for exactness
            # under collations that do not sort by code point.
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            conditions[:0] = [lowered >= prefix, lowered < upper]
        if self.matches_empty:
            conditions.append(column != "")
        return and_(*conditions)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class _Test:
    """A bound comparison: "null", "exists", "like", "notlike" (``pattern``) or "compare" (``op``
    against ``value``, already of the property's type; lower-cased for text)."""

    prop: FilterProperty
    kind: str
    op: str = ""
    value: Any = None
    pattern: _Pattern | None = None


def _lookup(properties: Mapping[str, FilterProperty], name: str, source: str, position: int) -> FilterProperty:
    prop = properties.get(name.lower())
    if prop is None:
        names = ", ".join(sorted((p.name for p in properties.values()), key=lambda n: (n.lower(), n)))
        message = UNKNOWN_PROPERTY.format(name=name, names=names, filter=source, position=position)
        raise FilterError(message, position, "property")
    return prop


def _value_error(node: Comparison, prop: FilterProperty) -> FilterError:
    return FilterError(INVALID_VALUE.format(value=node.value, type=prop.type_name), node.value_position, "value")


def _test(node: Comparison, properties: Mapping[str, FilterProperty]) -> _Test:
    """Exchange's CreateRelationalExpression, in the same order of special cases."""
    prop = _lookup(properties, node.name, node.source, node.position)
    value, op = node.value, node.op
    if value is None:
        return _Test(prop, "null" if op == "eq" else "exists")
    if value in ("*", "**"):
        if op == "like":
            return _Test(prop, "exists")
        if op in ("eq", "notlike"):  # compared as text, without wildcards
            return _Test(prop, "like" if op == "eq" else "notlike", pattern=_Pattern.make("*", False))
        return _Test(prop, "null")
    if op in ("like", "notlike"):
        return _Test(prop, op, pattern=_Pattern.make(_text(value), True))
    if isinstance(value, bool):
        if prop.kind != "bool":
            raise FilterError(INVALID_CAST, node.value_position, "value")
        return _Test(prop, "compare", op, value)
    converted = _convert(value, prop)
    if converted is _INVALID:
        raise _value_error(node, prop)
    if converted is None:  # 'null' for a nullable type: as $null
        return _Test(prop, "null" if op == "eq" else "exists")
    if converted == "":
        # The directory holds no empty strings: '' is no value, which every value is greater than.
        if op in ("eq", "ne"):
            return _Test(prop, "null" if op == "eq" else "exists")
        return _Test(prop, "exists") if op in ("gt", "ge") else _Test(prop, "compare", op, "")
    return _Test(prop, "compare", op, converted)


_INVALID: Final = object()
_US_DATE: Final = re.compile(
    r"\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])[Mm])?)?\s*"
)


def _convert(value: str, prop: FilterProperty) -> Any:
    """The literal as the property's type (LanguagePrimitives.ConvertTo), or ``_INVALID``."""
    kind = prop.kind
    if kind in ("string", "multi"):
        return value.lower()
    if kind == "enum":
        if not prop.enum_names:
            return value.lower()
        for name in prop.enum_names:
            if name.lower() == value.strip().lower():
                return name
        return _INVALID
    if kind == "bool":
        lowered = value.strip().lower()
        return {"true": True, "false": False}.get(lowered, _INVALID)
    if kind == "int":
        return _parse_int(value)
    if kind == "datetime":
        if value.strip().lower() in ("null", "$null"):  # Nullable<DateTime> reads these as null
            return None
        parsed = _parse_datetime(value)
        return _INVALID if parsed is None else parsed
    if kind == "guid":
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            return _INVALID
    return value


def _parse_int(value: str) -> Any:
    text = value.strip()
    try:
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
            return int(text, 16)
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return _INVALID
    if number != number or number in (float("inf"), float("-inf")):
        return _INVALID
    return round(number)  # .NET rounds to even, as Python does


def _parse_datetime(value: str) -> datetime | None:
    """US ``M/d/yyyy [h:mm[:ss] [AM|PM]]`` (PowerShell's invariant culture) or ISO 8601, as UTC."""
    m = _US_DATE.fullmatch(value)
    if m is not None:
        month, day, year, hour, minute, second, half = m.groups()
        h = int(hour or 0)
        if half is not None:
            if not 1 <= h <= 12:
                return None
            h = h % 12 + (12 if half.lower() == "p" else 0)
        try:
            return datetime(int(year), int(month), int(day), h, int(minute or 0), int(second or 0), tzinfo=UTC)
        except ValueError:
            return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# --- reading values from objects -----------------------------------------------------------------


def _text(value: Any) -> str:
    """A value's text as .NET's ToString gives it, which ``-like`` compares."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, datetime):
        return texts.exchange_timestamp(_utc(value))
    return str(value)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _elements(raw: Any) -> list[str]:
    """The non-empty texts of a multi-valued property."""
    if raw is None:
        return []
    if isinstance(raw, MultiValued):
        items: Any = raw.items
    elif isinstance(raw, list | tuple | set | frozenset):
        items = raw
    elif isinstance(getattr(raw, "items", None), list | tuple):
        items = raw.items
    else:
        items = (raw,)
    return [t for t in (_text(i) for i in items if i is not None) if t]


def _scalar(kind: str, raw: Any) -> Any:
    """The value as compared (text lower-cased, datetimes aware UTC), or None for no value."""
    if raw is None:
        return None
    if kind in ("string", "enum", "guid"):
        return _text(raw).lower() or None
    if kind == "bool":
        if isinstance(raw, str):
            return {"true": True, "false": False}.get(raw.strip().lower())
        return bool(raw)
    if kind == "int":
        if isinstance(raw, str):
            parsed = _parse_int(raw) if raw.strip() else None
            return None if parsed is _INVALID else parsed
        try:
            return int(raw)
        except (TypeError, ValueError, OverflowError):
            return None
    if kind == "datetime":
        if isinstance(raw, datetime):
            return _utc(raw)
        if isinstance(raw, date):
            return datetime.combine(raw, time(), UTC)
        return _parse_datetime(raw) if isinstance(raw, str) else None
    return raw


def _is_null(kind: str, raw: Any) -> bool:
    if kind == "multi":
        return not _elements(raw)
    return _scalar(kind, raw) is None


def _address(element: str) -> str | None:
    """``smtp:a@b`` → ``a@b``; None when the element has no proxy prefix."""
    m = _PROXY_PREFIX.match(element)
    return element[m.end() :] if m is not None else None


_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "gt": operator.gt,
    "le": operator.le,
    "ge": operator.ge,
}


def _test_python(test: _Test) -> Callable[[Any], bool]:
    prop = test.prop
    name, kind = prop.name, prop.kind

    def raw(obj: Any) -> Any:
        return property_of(obj, name)[1]

    if test.kind == "null":
        return lambda obj: _is_null(kind, raw(obj))
    if test.kind == "exists":
        return lambda obj: not _is_null(kind, raw(obj))
    if test.kind in ("like", "notlike"):
        pattern = test.pattern
        assert pattern is not None
        by_address = _PROXY_PREFIX.match(pattern.text) is None

        def like(obj: Any) -> bool:
            value = raw(obj)
            if kind == "multi":
                return any(
                    pattern.matches(e) or (by_address and (a := _address(e)) is not None and pattern.matches(a))
                    for e in _elements(value)
                )
            return value is not None and (text := _text(value)) != "" and pattern.matches(text)

        return like if test.kind == "like" else (lambda obj: not like(obj))
    compare = _ORDER[test.op]
    wanted = test.value.lower() if isinstance(test.value, str) else test.value
    if kind == "multi":
        by_address = _PROXY_PREFIX.match(wanted) is None

        def equals(element: str) -> bool:
            lowered = element.lower()
            return lowered == wanted or (by_address and _address(lowered) == wanted)

        if test.op == "eq":
            return lambda obj: any(equals(e) for e in _elements(raw(obj)))
        if test.op == "ne":
            return lambda obj: not any(equals(e) for e in _elements(raw(obj)))
        return lambda obj: any(compare(e.lower(), wanted) for e in _elements(raw(obj)))
    if test.op == "ne":
        return lambda obj: (value := _scalar(kind, raw(obj))) is None or value != wanted
    return lambda obj: (value := _scalar(kind, raw(obj))) is not None and compare(value, wanted)


def _test_sql(test: _Test) -> ColumnElement[bool] | None:
    """The test as SQL, or None when it cannot be pushed down. Never NULL where Python says True."""
    prop = test.prop
    if prop.elements is not None:
        return _elements_sql(test, prop.elements)
    column = prop.column
    if column is None or prop.kind == "multi":
        return None
    textual = prop.kind in ("string", "enum")
    if test.kind == "null":
        return or_(column.is_(None), column == "") if textual else column.is_(None)
    if test.kind == "exists":
        return and_(column.is_not(None), column != "") if textual else column.is_not(None)
    if test.kind in ("like", "notlike"):
        if not textual:
            return None  # -like on numbers and dates compares their text, which SQL renders differently
        assert test.pattern is not None
        matched = test.pattern.sql(column, prop.lower_indexed)
        return matched if test.kind == "like" else not_(func.coalesce(matched, false()))
    value: Any = test.value
    left: ColumnElement[Any] = column
    if textual and not (prop.enum_names and test.op in ("eq", "ne")):
        left, value = func.lower(column), value.lower()  # canonical enum names are compared as stored
    elif prop.kind == "bool":
        value = literal(value, Boolean())  # a bound value: SQLAlchemy refuses -lt/-gt against true()
    elif prop.kind == "datetime":
        value = value.astimezone(UTC).replace(tzinfo=None)
    if test.op == "ne":
        return or_(column.is_(None), left != value)
    compared = _ORDER[test.op](left, value)
    # '' is no value, but SQL would find it less than any other string.
    return and_(column != "", compared) if textual and test.op in ("lt", "le") else compared


def _elements_sql(test: _Test, rows: ElementRows) -> ColumnElement[bool] | None:
    """A test on a multi-valued property held one element per row: "has an element that ..." as
    ``owner IN (ids of rows with such an element)``, negations as ``NOT IN``, matching the Python
    rules (an element matches as a whole, or by its value when the literal has no prefix)."""
    if test.kind in ("null", "exists"):
        having = rows.owner.in_(rows.ids(true()))
        return having if test.kind == "exists" else not_(having)
    if test.kind in ("like", "notlike"):
        assert test.pattern is not None
        condition = _element_like(test.pattern, rows)
    elif test.op in ("eq", "ne"):
        condition = _element_like(_Pattern.make(str(test.value), False), rows)
    else:
        return None  # -lt/-gt on elements: rare, left to Python
    having = rows.owner.in_(rows.ids(condition))
    return having if test.kind == "like" or test.op == "eq" else not_(having)


def _element_like(pattern: _Pattern, rows: ElementRows) -> ColumnElement[bool]:
    prefixed = _PROXY_PREFIX.match(pattern.text)
    if prefixed is not None:
        rest = _Pattern.make(pattern.text[prefixed.end() :], pattern.wildcards)
        return and_(rows.prefix == prefixed.group()[:-1], rest.sql(rows.value, True, folded=True))
    whole = rows.prefix.concat(":").concat(rows.value)
    return or_(pattern.sql(rows.value, True, folded=True), pattern.sql(whole, False, folded=True))


# --- compilation ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """``sql``: the top-level AND-conjuncts expressible in SQL (None: no condition). ``residual``: the
    other conjuncts, for the rows SQL returns (None: nothing left). ``matches`` evaluates the whole
    filter in Python, which is what tests compare the SQL with."""

    sql: ColumnElement[bool] | None
    residual: Callable[[Any], bool] | None
    evaluate: Callable[[Any], bool] = field(repr=False)

    def matches(self, obj: Any) -> bool:
        return self.evaluate(obj)


def _python(node: Node, properties: Mapping[str, FilterProperty]) -> Callable[[Any], bool]:
    if isinstance(node, Comparison):
        return _test_python(_test(node, properties))
    if isinstance(node, And):
        parts = [_python(i, properties) for i in node.items]
        return lambda obj: all(p(obj) for p in parts)
    if isinstance(node, Or):
        parts = [_python(i, properties) for i in node.items]
        return lambda obj: any(p(obj) for p in parts)
    if isinstance(node, Not):
        inner = _python(node.item, properties)
        return lambda obj: not inner(obj)
    return lambda obj: True


def _sql(node: Node, properties: Mapping[str, FilterProperty]) -> ColumnElement[bool] | None:
    if isinstance(node, Comparison):
        return _test_sql(_test(node, properties))
    if isinstance(node, And | Or):
        parts = [_sql(i, properties) for i in node.items]
        pushed = [p for p in parts if p is not None]
        if len(pushed) != len(parts):
            return None
        return and_(*pushed) if isinstance(node, And) else or_(*pushed)
    if isinstance(node, Not):
        inner = _sql(node.item, properties)
        # NULL (unknown) counts as false at the top; under NOT it must stay false, hence coalesce.
        return None if inner is None else not_(func.coalesce(inner, false()))
    return true()


def _conjuncts(node: Node) -> list[Node]:
    if isinstance(node, And):
        return [c for item in node.items for c in _conjuncts(item)]
    return [] if isinstance(node, MatchAll) else [node]


def compile_filter(node: Node, properties: Mapping[str, FilterProperty]) -> CompiledFilter:
    """Bind ``node`` to ``properties`` (keyed by lower-case name; unknown names raise FilterError)
    and split it into what SQL can do and what Python must."""
    evaluate = _python(node, properties)
    pushed: list[ColumnElement[bool]] = []
    rest: list[Callable[[Any], bool]] = []
    for conjunct in _conjuncts(node):
        condition = _sql(conjunct, properties)
        if condition is None:
            rest.append(_python(conjunct, properties))
        else:
            pushed.append(condition)
    sql = None if not pushed else pushed[0] if len(pushed) == 1 else and_(*pushed)
    residual: Callable[[Any], bool] | None = None
    if len(rest) == 1:
        residual = rest[0]
    elif rest:

        def residual(obj: Any) -> bool:
            return all(p(obj) for p in rest)

    return CompiledFilter(sql, residual, evaluate)
