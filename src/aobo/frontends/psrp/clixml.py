"""Fast CLIXML writer for the values a cmdlet yields (:mod:`aobo.cmdlets.results`).

Serialising output is the hot path of the PSRP front end: building a psrpcore ``PSObject`` for a
mailbox and serialising it through ElementTree costs milliseconds, so Exchange objects are written
here as text from per-shape templates instead. :mod:`aobo.frontends.psrp.generic` is the reference
route the tests hold this writer to.

The output follows what PowerShell's ``InternalSerializer`` writes (serialization.cs, checked against
recordings of Windows hosts), which is what clients are known to read:

* strings are encoded as ``EncodeString`` does: C0/C1 controls, surrogates (each UTF-16 unit of a
  non-BMP character, and lone surrogates) become ``_xHHHH_``, and ``_`` followed by ``x``/``X``
  becomes ``_x005F_``; the same applies to ``N`` attributes, ``<T>`` type names and ``<ToString>``.
  U+FFFE/U+FFFF are escaped too: they are not XML characters, and PowerShell would fail on them.
* ``<Obj N="..." RefId="n">`` (name before RefId), then ``<TN>``/``<TNRef RefId="n" />``, then
  ``<ToString>``, then the value (enum number, ``<LST>``, ``<DCT>``, or the properties: ``<MS>``,
  or ``<Props>`` for shapes marked ``adapted``, or both for a ``MixedShape``). A shape without type
  names gets no ``<TN>``.
* ``DateTime`` as ``XmlConvert.ToString(dt, RoundtripKind)``: fraction in 100 ns ticks with trailing
  zeros dropped, ``Z`` for UTC (naive values are UTC), ``+hh:mm`` otherwise; ``TimeSpan`` as
  ``XsdDuration`` (``PT1H2M3.5S``, ``P1D``, ``PT0S``); ``Double`` as ``XmlConvert.ToString``
  (``INF``, ``-INF``, ``NaN``, ``-0``, otherwise shortest round-trip digits, ``1E+15`` style).
* empty strings as ``<S></S>``, empty collections as ``<LST />``/``<DCT />``, ``<Nil />``.

A message holds one top-level element without a byte-order mark; Windows prefixes each message's data
with :data:`UTF8_BOM`, which clients accept either way.
"""

from __future__ import annotations

import base64
import datetime
import enum
import math
import re
import uuid
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable
from itertools import accumulate
from typing import Any, Final

from aobo.cmdlets.results import Dictionary, EnumValue, ExchangeObject, Int64, MixedShape, MultiValued, ObjectShape

__all__ = ["UTF8_BOM", "ClixmlWriter", "dumps", "dumps_many"]

UTF8_BOM: Final = b"\xef\xbb\xbf"

_I32_MIN: Final = -(2**31)
_I32_MAX: Final = 2**31 - 1
_I64_MIN: Final = -(2**63)
_I64_MAX: Final = 2**63 - 1
_TICKS_PER_DAY: Final = 864_000_000_000
_MAX_OFFSET: Final = datetime.timedelta(hours=14)  # .NET's limit; beyond it the instant goes as UTC

_ARRAY_LIST: Final = ("System.Collections.ArrayList", "System.Object")
_HASHTABLE: Final = ("System.Collections.Hashtable", "System.Object")
_KEY: Final = ' N="Key"'
_VALUE: Final = ' N="Value"'


# --- escaping -------------------------------------------------------------------------------------

# Text content escapes &<> (">" too, as XmlWriter does); attributes also escape '"'.
_ENCODABLE = "\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\U00010000-\U0010ffff"
_TEXT_SPECIAL: Final = re.compile(f"[{_ENCODABLE}&<>]|_(?=[xX])")
_ATTR_SPECIAL: Final = re.compile(f'[{_ENCODABLE}&<>"]|_(?=[xX])')
_ENCODABLE_RE: Final = re.compile(f"[{_ENCODABLE}]")
_UNDERSCORE_X_RE: Final = re.compile("_[xX]")

_FIXED_ESCAPES: Final[dict[str, str]] = {
    chr(c): f"_x{c:04X}_" for c in (*range(0x20), *range(0x7F, 0xA0), 0xFFFE, 0xFFFF)
}
_FIXED_ESCAPES.update({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "_": "_x005F_"})


def _escape_match(m: re.Match[str]) -> str:
    c = m.group()
    fixed = _FIXED_ESCAPES.get(c)
    if fixed is not None:
        return fixed
    o = ord(c)
    if o < 0x10000:  # a lone surrogate: .NET strings carry them, so do we
        return f"_x{o:04X}_"
    o -= 0x10000  # .NET sees a non-BMP character as two UTF-16 units and escapes each
    return f"_x{0xD800 | (o >> 10):04X}__x{0xDC00 | (o & 0x3FF):04X}_"


_text_search = _TEXT_SPECIAL.search
_text_sub = _TEXT_SPECIAL.sub


def _text(s: str) -> str:
    """``s`` as element content: PowerShell's EncodeString plus XML escaping."""
    return s if _text_search(s) is None else _text_sub(_escape_match, s)


def _attr(s: str) -> str:
    """``s`` as an attribute value (property names)."""
    return _ATTR_SPECIAL.sub(_escape_match, s)


# The regex costs ~4 ns a character, so the strings of an object are checked together, with
# operations that cost a fraction of that: ``in`` for &<>_, and bytes.translate over the UTF-8 for
# the rest. The suspect bytes are the ASCII controls and the lead bytes of every non-ASCII range
# holding an escapable character (C2: C1 controls; EF: U+F000-U+FFFF, holding U+FFFE/U+FFFF;
# F0-F4: non-BMP). A lead byte is only a suspicion, which the regex then settles.
_SUSPECT_BYTES: Final = bytes([*range(0x20), 0x7F, 0xC2, 0xEF, 0xF0, 0xF1, 0xF2, 0xF3, 0xF4])
# Each suspect byte maps to another byte, every other byte to itself: bytes.translate returns its
# input object when it changed nothing, and without deletions it runs its fastest loop.
_SUSPECT_TABLE: Final = bytes((i ^ 1 if i in _SUSPECT_BYTES else i) for i in range(256))


def _needs_encoding(s: str) -> bool:
    """Whether ``s`` holds a character EncodeString escapes, other than ``_``."""
    try:
        b = s.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return True
    return b.translate(_SUSPECT_TABLE) is not b and _ENCODABLE_RE.search(s) is not None


def _plain(s: str) -> bool:
    """Whether ``s`` can go into element content as it is."""
    if "&" in s or "<" in s or ">" in s or ("_" in s and _UNDERSCORE_X_RE.search(s) is not None):
        return False
    return not _needs_encoding(s)


def _dirty(texts: list[str], joined: str) -> set[int]:
    """Indices into ``texts`` (of which ``joined`` is the concatenation) that may need escaping."""
    ends = list(accumulate(map(len, texts)))
    found: set[int] = set()
    for c in "&<>":
        pos = joined.find(c)
        while pos >= 0:
            found.add(bisect_right(ends, pos))
            pos = joined.find(c, pos + 1)
    # A match may straddle two texts; the first then gets escaped for nothing, which changes nothing.
    patterns = [_UNDERSCORE_X_RE] if "_" in joined else []  # a regex scan costs ~4 ns a character
    if _needs_encoding(joined):
        patterns.append(_ENCODABLE_RE)
    for pattern in patterns:
        found.update(bisect_right(ends, m.start()) for m in pattern.finditer(joined))
    return found


def _type_names_body(type_names: tuple[str, ...]) -> str:
    """Everything of a ``<TN>`` element after its start tag."""
    return "".join(f"<T>{_text(t)}</T>" for t in type_names) + "</TN>"


# --- primitive values -----------------------------------------------------------------------------


def _zone_suffix(off: datetime.timedelta) -> str | None:
    """``+hh:mm`` for a UTC offset .NET can carry (whole minutes within 14 h), else None."""
    if off.microseconds or off.seconds % 60 or abs(off) > _MAX_OFFSET:
        return None
    return datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone(off)).isoformat()[-6:]


# Suffixes of the fixed-offset zones seen so far, which never change; None: write as UTC.
# Equality, not identity, makes timezone(timedelta(0)) UTC too (psrpcore draws the same line).
_FIXED_ZONES: dict[datetime.tzinfo, str | None] = {datetime.UTC: "Z"}


def _datetime_text(v: datetime.datetime) -> str:
    # isoformat is the fastest route to "YYYY-MM-DDTHH:MM:SS[.ffffff][+HH:MM]" and, unlike
    # strftime("%Y") on glibc, always pads the year to four digits.
    tz = v.tzinfo
    suffix = "Z"
    if tz is None:
        text = v.isoformat()
    else:
        fixed = type(tz) is datetime.timezone  # other zones may change offset, or not hash
        zone = _FIXED_ZONES.get(tz, "") if fixed else ""
        if zone == "":
            off = v.utcoffset()
            zone = "Z" if off is None else _zone_suffix(off)  # no offset known: as naive, so UTC
            if fixed and len(_FIXED_ZONES) < 1024:
                _FIXED_ZONES[tz] = zone
        if zone is None:
            # .NET cannot carry this offset; keep the instant rather than the offset.
            v = v.astimezone(datetime.UTC)
        else:
            suffix = zone
        # Without the offset, and faster than isoformat(), which asks the zone for it again.
        text = f"{v.date().isoformat()}T{v.time().isoformat()}"
    us = v.microsecond
    if us and not us % 10:
        # .NET writes 100 ns ticks without trailing zeros (isoformat writes six digits).
        text = text.rstrip("0")
    return text + suffix


def _timespan_text(v: datetime.timedelta) -> str:
    ticks = ((v.days * 86400 + v.seconds) * 1_000_000 + v.microseconds) * 10
    if not _I64_MIN <= ticks <= _I64_MAX:
        raise ValueError(f"timedelta {v!r} is outside the range of System.TimeSpan")
    sign = ""
    if ticks < 0:
        sign = "-"
        ticks = -ticks
    days, ticks = divmod(ticks, _TICKS_PER_DAY)
    hours, ticks = divmod(ticks, 36_000_000_000)
    minutes, ticks = divmod(ticks, 600_000_000)
    seconds, fraction = divmod(ticks, 10_000_000)
    text = f"{sign}P{days}D" if days else f"{sign}P"
    if hours or minutes or seconds or fraction:
        text += "T"
        if hours:
            text += f"{hours}H"
        if minutes:
            text += f"{minutes}M"
        if fraction:
            text += f"{seconds}.{fraction:07d}".rstrip("0") + "S"
        elif seconds:
            text += f"{seconds}S"
    elif not days:
        text += "T0S"
    return text


def _double_text(v: float) -> str:
    if v != v:
        return "NaN"
    if v == 0.0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    if v in (math.inf, -math.inf):
        return "INF" if v > 0 else "-INF"
    r = repr(v)
    if "e" in r:
        return r.replace("e", "E")  # Python's "1e-05"/"1.5e+16" is .NET's "1E-05"/"1.5E+16"
    if r.endswith(".0"):
        r = r[:-2]
    if abs(v) >= 1e15:
        # .NET switches to exponent notation one decade before Python does.
        sign = "-" if v < 0 else ""
        whole, _, fraction = r.lstrip("-").partition(".")
        digits = (whole + fraction).rstrip("0")
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}E+{len(whole) - 1:02d}"
    return r


def _guid_text(v: uuid.UUID) -> str:
    h = "%032x" % v.int  # noqa: UP031  # twice as fast as f"{v.int:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# --- per-shape templates --------------------------------------------------------------------------

_Other = Callable[[Any, str, "_Message"], str]
_Renderer = Callable[[tuple[Any, ...], "_Message", list[str], _Other], list[str]]


class _Template:
    """What every object of one shape writes the same way."""

    __slots__ = (
        "close",
        "falses",
        "head0",
        "names",
        "nils",
        "open",
        "renderer",
        "shape",
        "split",
        "tn_body",
        "trues",
        "type_names",
        "uses",
    )

    def __init__(self, shape: ObjectShape) -> None:
        self.shape = shape  # kept so the id() it is cached under stays this shape's
        self.type_names = shape.type_names
        self.tn_body = _type_names_body(shape.type_names) if shape.type_names else ""
        self.head0 = f'<Obj RefId="0"><TN RefId="0">{self.tn_body}' if shape.type_names else '<Obj RefId="0">'
        self.names = tuple(f' N="{_attr(n)}"' for n in shape.property_names)
        self.nils = tuple(f"<Nil{n} />" for n in self.names)
        self.trues = tuple(f"<B{n}>true</B>" for n in self.names)
        self.falses = tuple(f"<B{n}>false</B>" for n in self.names)
        # PowerShell writes a .NET object's own properties as adapted <Props>, added ones as <MS>.
        self.open = "<Props>" if shape.adapted else "<MS>"
        self.close = "</Props></Obj>" if shape.adapted else "</MS></Obj>"
        # A MixedShape has both: <Props> for the first adapted_count properties, then <MS>.
        self.split = shape.adapted_count if isinstance(shape, MixedShape) else None
        if self.split is not None:
            self.open, self.close = "<Props>", "</MS></Obj>"
        self.uses = 0
        self.renderer: _Renderer | None = None

    def generate(self, helpers: dict[str, Any]) -> _Renderer:
        """A function writing this shape's properties, one part each, unrolled.

        The loop in ClixmlWriter._properties_loop spends most of its time on the loop itself and
        on list.append; unrolled into one list display, a property costs a few comparisons and a
        constant or an f-string. The source holds variable names and repr() literals only: the
        property name fragments are globals ``n0``, ``n1``, ..., their ``<S`` start tags ``s0``, ...
        """
        namespace: dict[str, Any] = dict(helpers)
        lines = [
            "def render(values, msg, texts, other):",
            f"    ({''.join(f'v{i}, ' for i in range(len(self.names)))}) = values",
            "    return [",
        ]
        for i, name in enumerate(self.names):
            namespace[f"n{i}"] = name
            namespace[f"s{i}"] = f"<S{name}>"
            v, n = f"v{i}", f"n{i}"
            lines.append(
                f"        {self.nils[i]!r} if {v} is None"
                f" else {self.trues[i]!r} if {v} is True"
                f" else {self.falses[i]!r} if {v} is False"
                f" else (texts.append({v}) or f'{{s{i}}}{{{v}}}</S>') if (c := {v}.__class__) is str"
                f" else f'<I32{{{n}}}>{{{v}}}</I32>' if c is int and {_I32_MIN} <= {v} <= {_I32_MAX}"
                f" else f'<G{{{n}}}>{{guid({v})}}</G>' if c is UUID"
                f" else f'<DT{{{n}}}>{{dt({v})}}</DT>' if c is DateTime"
                f" else enum({v}, {n}, msg) if c is EnumValue"
                f" else mv({v}, {n}, msg) if c is MultiValued"
                f" else other({v}, {n}, msg),"
            )
        lines.append("    ]")
        exec(compile("\n".join(lines), f"<clixml {self.type_names[:1]}>", "exec"), namespace)
        renderer: _Renderer = namespace["render"]
        return renderer


class _Message:
    """Reference ids of one message: they restart with every top-level element."""

    __slots__ = ("ref", "tn")

    def __init__(self, ref: int, tn: dict[tuple[str, ...], int]) -> None:
        self.ref = ref
        self.tn = tn


_ValueWriter = Callable[[Any, str, _Message], str]


class ClixmlWriter:
    """Writes :mod:`aobo.cmdlets.results` values as CLIXML, one top-level element per call.

    Unsupported values raise :class:`TypeError` naming their type (the caller then falls back to
    :func:`aobo.frontends.psrp.generic.to_psobject`); values out of .NET's range raise
    :class:`ValueError`. Instances cache templates and are safe to share between threads.
    """

    def __init__(self, *, max_cached: int = 4096, generate_after: int | None = 16) -> None:
        """``generate_after``: objects of a shape written before a renderer is generated for it
        (None: never). Generating one takes a few ms, which a shape made for a single request
        (Select-Object) should not pay."""
        self._max_cached = max_cached
        self._generate_after = generate_after
        # Keyed by id(): hashing an ObjectShape hashes its ~150 property names on every lookup.
        # Templates keep their shape alive, so an id is not reused while its entry exists.
        self._templates: dict[int, _Template] = {}
        self._enum_tails: dict[tuple[str, int, tuple[str, ...]], str] = {}
        self._tn_bodies: dict[tuple[str, ...], str] = {}
        # Every writer returns the whole element as one string: an object's properties then map
        # one to one onto its parts, which the escaping fix-up in _properties relies on.
        self._writers: dict[type, _ValueWriter] = {
            str: self._write_str,
            type(None): self._write_nil,
            bool: self._write_bool,
            int: self._write_int,
            Int64: self._write_int64,
            float: self._write_double,
            datetime.datetime: self._write_datetime,
            datetime.timedelta: self._write_timespan,
            uuid.UUID: self._write_guid,
            bytes: self._write_bytes,
            EnumValue: self._write_enum,
            MultiValued: self._write_multivalued,
            Dictionary: self._write_dictionary,
            ExchangeObject: self._write_object,
            list: self._write_list,
            tuple: self._write_list,
            dict: self._write_dict,
        }
        # What generated renderers call (see _Template.generate).
        self._helpers: dict[str, Any] = {
            "UUID": uuid.UUID,
            "DateTime": datetime.datetime,
            "EnumValue": EnumValue,
            "guid": _guid_text,
            "dt": _datetime_text,
            "enum": self._write_enum,
            "MultiValued": MultiValued,
            "mv": self._write_multivalued,
        }
        # Subclasses, most specific first; found once per type and then cached in _writers.
        self._fallbacks: tuple[tuple[type, _ValueWriter], ...] = (
            (ExchangeObject, self._write_object),
            (EnumValue, self._write_enum),
            (MultiValued, self._write_multivalued),
            (Dictionary, self._write_dictionary),
            (Int64, self._write_int64),
            (int, self._write_int),
            (str, lambda v, n, msg: self._write_str(str.__str__(v), n, msg)),
            (float, lambda v, n, msg: self._write_double(float(v), n, msg)),
            (datetime.datetime, self._write_datetime),
            (datetime.timedelta, self._write_timespan),
            (uuid.UUID, self._write_guid),
            (bytes, self._write_bytes),
            (list, self._write_list),
            (tuple, self._write_list),
            (dict, self._write_dict),
        )

    # -- public API --------------------------------------------------------------------------------

    def dumps(self, value: Any) -> bytes:
        """The UTF-8 CLIXML of ``value`` as one PIPELINE_OUTPUT message carries it."""
        if type(value) is ExchangeObject:
            # The usual output: RefId 0 and TN 0 are known, so the head is precomputed.
            tpl = self._template(value.shape)
            msg = _Message(1, {tpl.type_names: 0} if tpl.type_names else {})
            return self._object(value, tpl, tpl.head0, msg).encode()
        return self._write(value, "", _Message(0, {})).encode()

    def prepare(self, shape: ObjectShape) -> None:
        """Build the shape's template and renderer now, so no request pays their one-off cost."""
        tpl = self._template(shape)
        if tpl.renderer is None and self._generate_after is not None:
            tpl.renderer = tpl.generate(self._helpers)

    def dumps_many(self, values: Iterable[Any]) -> list[bytes]:
        """:meth:`dumps` for each value: one message each, so RefIds restart for every value."""
        dumps = self.dumps
        return [dumps(v) for v in values]

    # -- dispatch ----------------------------------------------------------------------------------

    def _write(self, v: Any, n: str, msg: _Message) -> str:
        writer = self._writers.get(type(v))
        if writer is None:
            writer = self._resolve(type(v))
        return writer(v, n, msg)

    def _resolve(self, t: type) -> _ValueWriter:
        # Enums and psrpcore's own types subclass int/str/... but mean more than the number or text.
        if not issubclass(t, enum.Enum) and not hasattr(t, "PSObject"):
            for base, writer in self._fallbacks:
                if issubclass(t, base):
                    self._writers[t] = writer
                    return writer
        raise TypeError(f"ClixmlWriter cannot serialise {t.__module__}.{t.__qualname__}")

    def _template(self, shape: ObjectShape) -> _Template:
        tpl = self._templates.get(id(shape))
        if tpl is None or tpl.shape is not shape:
            if len(self._templates) >= self._max_cached:
                self._templates.clear()  # shapes made per request (Select-Object) must not pile up
            tpl = self._templates[id(shape)] = _Template(shape)
        return tpl

    def _obj_start(self, type_names: tuple[str, ...], n: str, msg: _Message) -> str:
        """``<Obj ... RefId>`` and its TN/TNRef, taking the next reference ids."""
        ref = msg.ref
        msg.ref = ref + 1
        if not type_names:
            return f'<Obj{n} RefId="{ref}">'
        tn = msg.tn.get(type_names)
        if tn is not None:
            return f'<Obj{n} RefId="{ref}"><TNRef RefId="{tn}" />'
        tn = msg.tn[type_names] = len(msg.tn)
        body = self._tn_bodies.get(type_names)
        if body is None:
            if len(self._tn_bodies) >= self._max_cached:
                self._tn_bodies.clear()
            body = self._tn_bodies[type_names] = _type_names_body(type_names)
        return f'<Obj{n} RefId="{ref}"><TN RefId="{tn}">{body}'

    # -- objects -----------------------------------------------------------------------------------

    def _write_object(self, v: ExchangeObject, n: str, msg: _Message) -> str:
        tpl = self._template(v.shape)
        return self._object(v, tpl, self._obj_start(tpl.type_names, n, msg), msg)

    def _object(self, v: ExchangeObject, tpl: _Template, head: str, msg: _Message) -> str:
        to_string = v.to_string
        if to_string:  # psrpcore leaves an empty ToString out too
            head = f"{head}<ToString>{_text(to_string)}</ToString>"
        if not tpl.names:
            return head + "</Obj>"
        parts = self._properties(v.values, tpl, msg)
        if tpl.split is not None:
            parts.insert(tpl.split, "</Props><MS>")
        parts.append(tpl.close)
        parts.insert(0, head + tpl.open)  # one join copies the text once
        return "".join(parts)

    def _properties(self, values: tuple[Any, ...], tpl: _Template, msg: _Message) -> list[str]:
        """One part per property. Strings go in unescaped: checking them all at once afterwards
        costs a fraction of a regex search per string."""
        if len(values) != len(tpl.names):
            raise ValueError(f"{tpl.type_names[:1]} object has {len(values)} values for {len(tpl.names)} names")
        texts: list[str] = []
        renderer = tpl.renderer
        if renderer is None:
            after = self._generate_after
            if after is not None and tpl.uses >= after:
                renderer = tpl.renderer = tpl.generate(self._helpers)
            tpl.uses += 1
        if renderer is None:
            parts = self._properties_loop(values, tpl, msg, texts)
        else:
            parts = renderer(values, msg, texts, self._write)
        if texts:
            joined = "".join(texts)
            if not _plain(joined):
                # Rewrite the few strings that need escaping; the k-th text is the k-th string.
                str_indices = [i for i, value in enumerate(values) if type(value) is str]
                for k in _dirty(texts, joined):
                    i = str_indices[k]
                    escaped = _text(values[i])
                    if escaped is not values[i]:
                        parts[i] = f"<S{tpl.names[i]}>{escaped}</S>"
        return parts

    def _properties_loop(self, values: tuple[Any, ...], tpl: _Template, msg: _Message, texts: list[str]) -> list[str]:
        """What the generated renderer does, for shapes without one yet."""
        names = tpl.names
        nils = tpl.nils
        trues = tpl.trues
        falses = tpl.falses
        write = self._write
        parts: list[str] = []
        # parts.append(x) rather than a saved parts.append: 3.11 specialises list.append calls.
        for i, value in enumerate(values):
            if value is None:
                parts.append(nils[i])
            elif value is True:
                parts.append(trues[i])
            elif value is False:
                parts.append(falses[i])
            elif type(value) is str:
                texts.append(value)
                parts.append(f"<S{names[i]}>{value}</S>")
            else:
                parts.append(write(value, names[i], msg))
        return parts

    def _write_enum(self, v: EnumValue, n: str, msg: _Message) -> str:
        head = self._obj_start(v.type_names, n, msg)
        # By value: cmdlets tend to make a new EnumValue for every object.
        key = (v.name, v.value, v.type_names)
        tail = self._enum_tails.get(key)
        if tail is None:
            number = int(v.value)
            if _I32_MIN <= number <= _I32_MAX:
                tail = f"<I32>{number}</I32></Obj>"
            elif _I64_MIN <= number <= _I64_MAX:
                tail = f"<I64>{number}</I64></Obj>"
            else:
                raise ValueError(f"enum value {number} is outside the range of System.Int64")
            if v.name:  # psrpcore leaves an empty ToString out
                tail = f"<ToString>{_text(v.name)}</ToString>{tail}"
            if len(self._enum_tails) >= self._max_cached:
                self._enum_tails.clear()
            self._enum_tails[key] = tail
        return head + tail

    def _write_multivalued(self, v: MultiValued, n: str, msg: _Message) -> str:
        if not v.items:
            # Most multi-valued properties of a mailbox are empty: one f-string, no helper calls.
            tn = msg.tn.get(v.type_names)
            if tn is not None:
                ref = msg.ref
                msg.ref = ref + 1
                return f'<Obj{n} RefId="{ref}"><TNRef RefId="{tn}" /><LST /></Obj>'
        return self._list(self._obj_start(v.type_names, n, msg), v.items, msg)

    def _write_list(self, v: list[Any] | tuple[Any, ...], n: str, msg: _Message) -> str:
        return self._list(self._obj_start(_ARRAY_LIST, n, msg), v, msg)

    def _list(self, head: str, items: list[Any] | tuple[Any, ...], msg: _Message) -> str:
        if not items:
            return head + "<LST /></Obj>"
        try:
            # Multi-valued properties mostly hold strings: then one join writes them all.
            plain = _plain("".join(items))
        except TypeError:  # not all strings
            pass
        else:
            if plain:
                return f"{head}<LST><S>{'</S><S>'.join(items)}</S></LST></Obj>"
        write = self._write
        return f"{head}<LST>{''.join([write(item, '', msg) for item in items])}</LST></Obj>"

    def _write_dict(self, v: dict[Any, Any], n: str, msg: _Message) -> str:
        return self._dict(self._obj_start(_HASHTABLE, n, msg), v.items(), msg)

    def _write_dictionary(self, v: Dictionary, n: str, msg: _Message) -> str:
        return self._dict(self._obj_start(v.type_names, n, msg), v.entries, msg)

    def _dict(self, head: str, entries: Collection[tuple[Any, Any]], msg: _Message) -> str:
        if not entries:
            return head + "<DCT /></Obj>"
        write = self._write
        # Key before value: both may take reference ids, in this order.
        body = "".join([f"<En>{write(key, _KEY, msg)}{write(value, _VALUE, msg)}</En>" for key, value in entries])
        return f"{head}<DCT>{body}</DCT></Obj>"

    # -- primitives --------------------------------------------------------------------------------

    def _write_str(self, v: str, n: str, msg: _Message) -> str:
        return f"<S{n}>{_text(v)}</S>"

    def _write_nil(self, v: None, n: str, msg: _Message) -> str:
        return f"<Nil{n} />"

    def _write_bool(self, v: bool, n: str, msg: _Message) -> str:
        return f"<B{n}>true</B>" if v else f"<B{n}>false</B>"

    def _write_int(self, v: int, n: str, msg: _Message) -> str:
        v = int(v)
        if _I32_MIN <= v <= _I32_MAX:
            return f"<I32{n}>{v}</I32>"
        if _I64_MIN <= v <= _I64_MAX:
            return f"<I64{n}>{v}</I64>"
        raise ValueError(f"integer {v} is outside the range of System.Int64")

    def _write_int64(self, v: int, n: str, msg: _Message) -> str:
        v = int(v)
        if not _I64_MIN <= v <= _I64_MAX:
            raise ValueError(f"integer {v} is outside the range of System.Int64")
        return f"<I64{n}>{v}</I64>"

    def _write_double(self, v: float, n: str, msg: _Message) -> str:
        return f"<Db{n}>{_double_text(v)}</Db>"

    def _write_datetime(self, v: datetime.datetime, n: str, msg: _Message) -> str:
        return f"<DT{n}>{_datetime_text(v)}</DT>"

    def _write_timespan(self, v: datetime.timedelta, n: str, msg: _Message) -> str:
        return f"<TS{n}>{_timespan_text(v)}</TS>"

    def _write_guid(self, v: uuid.UUID, n: str, msg: _Message) -> str:
        return f"<G{n}>{_guid_text(v)}</G>"

    def _write_bytes(self, v: bytes, n: str, msg: _Message) -> str:
        return f"<BA{n}>{base64.b64encode(v).decode('ascii')}</BA>"


_default = ClixmlWriter()

#: :meth:`ClixmlWriter.dumps` of a shared module-level writer.
dumps = _default.dumps
#: :meth:`ClixmlWriter.dumps_many` of a shared module-level writer.
dumps_many = _default.dumps_many
prepare = _default.prepare
