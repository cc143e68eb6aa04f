"""A fast CLIXML reader: the data of one PSRP message → :class:`~aobo.toolkit.records.Record` and values.

pypsrp's deserialiser spends about 1.6 ms on one 237-property mailbox; psrpcore's is in the same
range. Both build an ElementTree and then walk it with several Python calls per element. This
reader splits the text on ``<`` (C speed) and walks the pieces once, with every tag head it has
seen parsed once and cached (property names repeat from object to object), so the per-property
cost is a few dictionary operations.

That fast path only takes the canonical CLIXML that PowerShell and aobo write: no comments,
CDATA, processing instructions or declarations, attributes ``N`` and ``RefId`` only, no raw
``\\r``. Anything else (and every malformed input) goes to the reference path: defusedxml's
parser (no DTDs, no entities) and a walk of its tree with the same value rules, so what the
fast path accepts reads exactly as the reference path reads it, and what it refuses still reads
right or raises :class:`ClixmlError`.

Values:

* ``S``, ``URI``, ``XD``, ``SBK``, ``Version``, ``C`` → ``str`` (``_xHHHH_`` escapes decoded as
  .NET's ``XmlConvert.DecodeName`` does: ``_x``/``_X``, 4 or 8 hex digits, surrogate pairs joined);
  ``I16``..``U64``, ``By``, ``SB`` → ``int``; ``B`` → ``bool``; ``Db``, ``Sg`` → ``float``;
  ``D`` → ``Decimal``; ``DT`` → ``datetime`` (aware for ``Z`` and offsets, naive for .NET's
  Unspecified kind, microseconds truncated as psrpcore does); ``TS`` → ``timedelta`` (100 ns ticks
  floored to microseconds, as psrpcore does); ``G`` → ``UUID``; ``BA`` → ``bytes``; ``Nil`` → None;
  ``SS`` → :class:`~aobo.toolkit.records.SecureString`;
* ``<Obj>`` with ``LST``/``IE``/``STK``/``QUE`` → ``list``; with ``DCT`` → ``dict``; with a
  primitive child → that value, or an :class:`~aobo.toolkit.records.EnumValue` when its type names
  include ``System.Enum``; otherwise a :class:`~aobo.toolkit.records.Record`;
* ``<Ref RefId>`` → the very object read earlier under that id.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import operator
import re
import uuid
from collections.abc import Callable
from typing import Any, Final
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from aobo.toolkit.records import EnumValue, Record, SecureString

__all__ = ["MAX_DEPTH", "ClixmlError", "loads", "loads_reference"]

#: Deepest element nesting accepted (an Exchange object nests about 6 deep).
MAX_DEPTH: Final = 200


class ClixmlError(ValueError):
    """The data is not CLIXML this reader can trust: malformed XML, a DTD, an unknown element, ..."""


class _Fallback(Exception):
    """The fast path met something outside canonical CLIXML: read with the reference path."""


# ============================================================================ scalar values

# .NET XmlConvert.DecodeName: _xHHHH_ or _xHHHHHHHH_, x in either case.
_ESCAPE = re.compile(r"_[Xx]([0-9A-Fa-f]{8}|[0-9A-Fa-f]{4})_")
_SURROGATES = re.compile("[\ud800-\udfff]")
_ENTITY = re.compile(r"&(?:(amp|lt|gt|quot|apos)|#([0-9]+)|#x([0-9A-Fa-f]+));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _unescape_char(m: re.Match[str]) -> str:
    digits = m.group(1)
    code = int(digits, 16)
    if len(digits) == 8:
        if code > 0x10FFFF:
            return m.group(0)  # .NET leaves an out-of-range UCS-4 escape as it is
        return chr(code)
    return chr(code)


def decode_string(text: str) -> str:
    """PowerShell's string decoding: ``_xHHHH_`` escapes → characters (surrogate halves joined)."""
    if "_" not in text:
        return text
    out = _ESCAPE.sub(_unescape_char, text)
    if _SURROGATES.search(out):
        # Escaped UTF-16 halves: join the pairs; lone halves stay, as .NET strings may hold them.
        out = out.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return out


def _xml_char_ok(code: int) -> bool:
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def _entity(m: re.Match[str]) -> str:
    name, dec, hexa = m.groups()
    if name:
        return _NAMED[name]
    code = int(dec) if dec else int(hexa, 16)
    if not _xml_char_ok(code):
        raise _Fallback
    return chr(code)


def _unentity(text: str) -> str:
    """XML character and entity references in fast-path text; anything odd → reference path."""
    out = _ENTITY.sub(_entity, text)
    if "&" in _ENTITY.sub("", text):
        raise _Fallback  # a bare '&' or an unknown entity: let the XML parser say what is wrong
    return out


def _string(text: str) -> str:
    return decode_string(text)


def _int(text: str) -> int:
    try:
        return int(text)  # as psrpcore: int() also takes surrounding whitespace
    except ValueError:
        raise ClixmlError(f"not an integer: {text!r}") from None


_BOOLS: Final = {"true": True, "false": False, "1": True, "0": False}


def _bool(text: str) -> bool:
    try:
        return _BOOLS[text.strip(" \t\n\r")]
    except KeyError:
        raise ClixmlError(f"not a boolean: {text!r}") from None


_FLOAT = re.compile(r"\s*(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[Ee][+-]?\d+)?|[+-]?INF|(?i:nan))\s*")


def _float(text: str) -> float:
    if not _FLOAT.fullmatch(text):
        raise ClixmlError(f"not a floating-point number: {text!r}")
    return float(text)


def _decimal(text: str) -> decimal.Decimal:
    try:
        return decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise ClixmlError(f"not a decimal: {text!r}") from None


_DT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,7})?(?:Z|[+-]\d\d:\d\d)?")


def _datetime(text: str) -> datetime.datetime:
    if not _DT.fullmatch(text):
        raise ClixmlError(f"not a DateTime: {text!r}")
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError as e:
        raise ClixmlError(f"not a DateTime: {text!r}") from e


_TS = re.compile(r"(-?)P(?=.)(?:(\d+)D)?(?:T(?=.)(?:(\d+)H)?(?:(\d+)M)?(?:(\d*)(?:\.(\d{1,7}))?S)?)?")


def _timespan(text: str) -> datetime.timedelta:
    m = _TS.fullmatch(text)
    if not m:
        raise ClixmlError(f"not a TimeSpan: {text!r}")
    sign, days, hours, minutes, seconds, fraction = m.groups()
    total = int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    ticks = total * 10_000_000 + int((fraction or "").ljust(7, "0"))
    if sign:
        ticks = -ticks
    try:
        return datetime.timedelta(microseconds=ticks // 10)
    except OverflowError as e:
        raise ClixmlError(f"TimeSpan out of range: {text!r}") from e


def _guid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ClixmlError(f"not a GUID: {text!r}") from None


def _bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError):
        raise ClixmlError("not base64 data") from None


def _char(text: str) -> str:
    code = _int(text)
    if not 0 <= code <= 0xFFFF:
        raise ClixmlError(f"not a UTF-16 code unit: {text!r}")
    return chr(code)


def _secure(text: str) -> SecureString:
    return SecureString()


def _raw(text: str) -> str:
    return text


#: Leaf element → converter of its (entity-decoded) text.
SCALARS: Final[dict[str, Callable[[str], Any]]] = {
    "S": _string,
    "URI": _string,
    "XD": _string,
    "SBK": _string,
    "Version": _raw,
    "B": _bool,
    "By": _int,
    "SB": _int,
    "I16": _int,
    "U16": _int,
    "I32": _int,
    "U32": _int,
    "I64": _int,
    "U64": _int,
    "Db": _float,
    "Sg": _float,
    "D": _decimal,
    "C": _char,
    "DT": _datetime,
    "TS": _timespan,
    "G": _guid,
    "BA": _bytes,
    "SS": _secure,
}
_LISTS: Final = frozenset({"LST", "IE", "STK", "QUE"})
_ENUM_BASES: Final = frozenset({"System.Enum", "Deserialized.System.Enum"})


# ============================================================================ objects


class _Obj:
    """An ``<Obj>`` being read."""

    __slots__ = ("kind", "ms", "props", "record", "ref_id", "to_string", "type_names", "value")

    def __init__(self, ref_id: str | None) -> None:
        self.record = Record.__new__(Record)
        self.ref_id = ref_id
        self.type_names: tuple[str, ...] = ()
        self.to_string: str | None = None
        self.ms: dict[str, Any] | None = None
        self.props: dict[str, Any] | None = None
        self.value: Any = None
        self.kind = 0  # 0 record, 1 container (list/dict), 2 primitive


def _finish(obj: _Obj, refs: dict[str, Any]) -> Any:
    """The value an ``<Obj>`` stands for, once all its children are read."""
    if obj.kind == 1:
        return obj.value
    if obj.kind == 2:
        value = obj.value
        if isinstance(value, int) and not isinstance(value, bool) and not _ENUM_BASES.isdisjoint(obj.type_names):
            value = EnumValue(value, obj.to_string if obj.to_string is not None else str(value), obj.type_names)
        if obj.ref_id is not None:
            refs[obj.ref_id] = value
        return value
    rec = obj.record
    ms, props = obj.ms, obj.props
    adapted: frozenset[str] = frozenset()
    if props:
        adapted = frozenset(props)
        if ms:
            merged = dict(ms)
            for k, v in props.items():
                merged.setdefault(k, v)
            ms = merged
        else:
            ms = props
    rec._props = ms if ms is not None else {}
    rec._lower = None
    rec.type_names = obj.type_names
    rec.to_string = obj.to_string
    rec.adapted_names = adapted
    return rec


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, dict):
        raise ClixmlError("a Hashtable key is itself a Hashtable")
    return key


# ============================================================================ fast path

_HEAD = re.compile(
    r'(/?)([A-Za-z][A-Za-z0-9]*)(?: N="([^"<&\t\n\r]*)")?(?: RefId="([0-9]+)")?(?: N="([^"<&\t\n\r]*)")?[ \t\n]*(/?)'
)
# Op codes of a tag head.
_LEAF, _EMPTY, _START, _END = 0, 1, 2, 3
_HEADS: dict[str, tuple[Any, ...]] = {}
_HEADS_MAX: Final = 100_000
_BAD_BYTES = bytes([*range(9), 11, 12, *range(13, 32)])
_OK_BYTES = bytes(b for b in range(256) if b not in _BAD_BYTES)


def _parse_head(head: str) -> tuple[Any, ...]:
    """(op, tag, name, ref id, closing text) of one tag head, or :class:`_Fallback`."""
    m = _HEAD.fullmatch(head)
    if m is None:
        raise _Fallback
    close, tag, n1, ref, n2, empty = m.groups()
    if n1 is not None and n2 is not None:
        raise _Fallback
    name = n1 if n1 is not None else n2
    if name is not None and "_" in name:
        name = decode_string(name)
    if close:
        if empty or name is not None or ref is not None:
            raise _Fallback
        op: tuple[Any, ...] = (_END, tag, None, None, None)
    elif empty:
        op = (_EMPTY, tag, name, ref, None)
    elif tag in SCALARS or tag in ("T", "ToString"):
        op = (_LEAF, tag, name, ref, f"/{tag}>")
    else:
        op = (_START, tag, name, ref, None)
    if len(_HEADS) >= _HEADS_MAX:
        _HEADS.clear()
    _HEADS[head] = op
    return op


def _fast(text: str) -> Any:
    """Read canonical CLIXML; raise :class:`_Fallback` at anything else."""
    parts = text.split("<")
    if parts[0].strip(" \t\n"):
        raise _Fallback
    heads = _HEADS
    scalars = SCALARS
    refs: dict[str, Any] = {}
    tn_refs: dict[str, tuple[str, ...]] = {}
    # Frames: [kind, container, obj, name]; kinds: 0 Obj, 1 MS/Props, 2 list, 3 DCT, 4 En, 5 TN.
    stack: list[list[Any]] = []
    kind = -1
    target: Any = None  # the dict (MS/Props), list (LST, TN) or _Obj the next value goes to
    result: Any = None
    done = False
    it = iter(parts)
    next(it)
    for part in it:
        head, _, body = part.partition(">")
        op = heads.get(head)
        if op is None:
            op = _parse_head(head)
        code = op[0]
        if done:
            raise _Fallback
        if code == _LEAF:
            if next(it, None) != op[4]:
                raise _Fallback  # mixed content, an end tag with spaces, a mismatch: let expat judge
            if "&" in body:
                body = _unentity(body)
            tag = op[1]
            if tag == "S":
                value = body if "_" not in body else decode_string(body)
            elif tag in ("T", "ToString"):
                value = decode_string(body)
                if kind == 5 and tag == "T":
                    target.append(value)
                    continue
                if kind == 0 and tag == "ToString":
                    target.to_string = value
                    continue
                raise _Fallback
            else:
                value = scalars[tag](body)
            name = op[2]
        else:
            if body and body.strip(" \t\n"):
                raise _Fallback  # text beside elements
            tag = op[1]
            name = op[2]
            if code == _EMPTY:
                if tag == "Nil":
                    value = None
                elif tag == "Ref":
                    try:
                        value = refs[op[3]]
                    except KeyError:
                        raise ClixmlError(f"reference to unknown object {op[3]}") from None
                elif tag == "TNRef":
                    if kind != 0:
                        raise _Fallback
                    try:
                        target.type_names = tn_refs[op[3]]
                    except KeyError:
                        raise ClixmlError(f"reference to unknown type names {op[3]}") from None
                    continue
                elif tag in scalars or tag in ("T", "ToString"):
                    # <S /> is the empty string, <B /> is as invalid as <B></B>
                    if tag in ("T", "ToString"):
                        if kind == 5 and tag == "T":
                            target.append("")
                            continue
                        if kind == 0 and tag == "ToString":
                            target.to_string = ""
                            continue
                        raise _Fallback
                    value = scalars[tag]("")
                else:
                    # An empty container: open it and close it at once.
                    if tag == "Obj":
                        obj = _Obj(op[3])
                        if op[3] is not None:
                            refs[op[3]] = obj.record
                        value = _finish(obj, refs)
                    elif tag in ("MS", "Props") and kind == 0:
                        if tag == "MS":
                            target.ms = target.ms or {}
                        else:
                            target.props = target.props or {}
                        continue
                    elif tag in _LISTS and kind == 0:
                        target.kind, target.value = 1, []
                        if target.ref_id is not None:
                            refs[target.ref_id] = target.value
                        continue
                    elif tag == "DCT" and kind == 0:
                        target.kind, target.value = 1, {}
                        if target.ref_id is not None:
                            refs[target.ref_id] = target.value
                        continue
                    elif tag == "TN" and kind == 0:
                        target.type_names = ()
                        if op[3] is not None:
                            tn_refs[op[3]] = ()
                        continue
                    else:
                        raise _Fallback
            elif code == _START:
                if len(stack) >= MAX_DEPTH:
                    raise ClixmlError(f"nested deeper than {MAX_DEPTH} elements")
                if tag == "Obj":
                    obj = _Obj(op[3])
                    if op[3] is not None:
                        refs[op[3]] = obj.record
                    stack.append([kind, target, name])
                    kind, target = 0, obj
                elif kind == 0:
                    obj = target
                    if tag == "MS" or tag == "Props":
                        d: dict[str, Any] = {}
                        if tag == "MS":
                            if obj.ms is not None:
                                raise _Fallback
                            obj.ms = d
                        else:
                            if obj.props is not None:
                                raise _Fallback
                            obj.props = d
                        stack.append([kind, target, tag])
                        kind, target = 1, d
                    elif tag in _LISTS:
                        items: list[Any] = []
                        obj.kind, obj.value = 1, items
                        if obj.ref_id is not None:
                            refs[obj.ref_id] = items
                        stack.append([kind, target, tag])
                        kind, target = 2, items
                    elif tag == "DCT":
                        table: dict[Any, Any] = {}
                        obj.kind, obj.value = 1, table
                        if obj.ref_id is not None:
                            refs[obj.ref_id] = table
                        stack.append([kind, target, tag])
                        kind, target = 3, table
                    elif tag == "TN":
                        stack.append([kind, target, op[3]])
                        kind, target = 5, []
                    else:
                        raise _Fallback
                elif kind == 3 and tag == "En":
                    stack.append([kind, target, tag])
                    kind, target = 4, {}
                else:
                    raise _Fallback
                continue
            else:  # _END
                if not stack:
                    raise _Fallback
                frame = stack.pop()
                if kind == 0:
                    if tag != "Obj":
                        raise _Fallback
                    value = _finish(target, refs)
                    kind, target, name = frame
                elif kind == 1 or kind == 2 or kind == 3:
                    if tag != frame[2]:
                        raise _Fallback
                    kind, target = frame[0], frame[1]
                    continue
                elif kind == 4:
                    if tag != "En" or "Key" not in target or "Value" not in target:
                        raise _Fallback
                    entry = target
                    kind, target = frame[0], frame[1]
                    target[_hashable(entry["Key"])] = entry["Value"]
                    continue
                else:  # kind 5: TN
                    if tag != "TN":
                        raise _Fallback
                    names = tuple(target)
                    kind, target = frame[0], frame[1]
                    target.type_names = names
                    if frame[2] is not None:
                        tn_refs[frame[2]] = names
                    continue
        # A value is complete: deliver it to where it belongs.
        if kind == 1:
            if name is None:
                raise _Fallback
            target[name] = value
        elif kind == 2:
            target.append(value)
        elif kind == -1:
            result, done = value, True
        elif kind == 4:
            if name not in ("Key", "Value") or name in target:
                raise _Fallback
            target[name] = value
        elif kind == 0:
            if target.kind != 0 or target.ms is not None or target.props is not None:
                raise _Fallback
            target.kind, target.value = 2, value
        else:
            raise _Fallback
    if not done:
        raise _Fallback
    return result


# ============================================================================ reference path


def _tree(data: bytes) -> Element:
    try:
        return safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise ClixmlError(f"refused: {e}") from None
    except SyntaxError as e:  # ElementTree.ParseError
        raise ClixmlError(f"not well-formed XML: {e}") from None


class _TreeReader:
    """The reference reader: a walk over an ElementTree with the same value rules."""

    def __init__(self) -> None:
        self.refs: dict[str, Any] = {}
        self.tn_refs: dict[str, tuple[str, ...]] = {}

    def read(self, el: Element, depth: int = 0) -> Any:
        if depth >= MAX_DEPTH:
            raise ClixmlError(f"nested deeper than {MAX_DEPTH} elements")
        tag = el.tag
        conv = SCALARS.get(tag)
        if conv is not None:
            if len(el):
                raise ClixmlError(f"<{tag}> has child elements")
            return conv(el.text or "")
        if tag == "Nil":
            return None
        if tag == "Ref":
            try:
                return self.refs[el.attrib["RefId"]]
            except KeyError:
                raise ClixmlError("reference to an unknown object") from None
        if tag != "Obj":
            raise ClixmlError(f"unknown element <{tag}>")
        return self.read_obj(el, depth)

    def read_obj(self, el: Element, depth: int) -> Any:
        obj = _Obj(el.get("RefId"))
        if obj.ref_id is not None:
            self.refs[obj.ref_id] = obj.record
        for child in el:
            tag = child.tag
            if tag == "TN":
                names = tuple(decode_string(t.text or "") for t in child if self._is("T", t))
                obj.type_names = names
                if "RefId" in child.attrib:
                    self.tn_refs[child.attrib["RefId"]] = names
            elif tag == "TNRef":
                try:
                    obj.type_names = self.tn_refs[child.attrib["RefId"]]
                except KeyError:
                    raise ClixmlError("reference to unknown type names") from None
            elif tag == "ToString":
                obj.to_string = decode_string(child.text or "")
            elif tag in ("MS", "Props"):
                if (obj.ms if tag == "MS" else obj.props) is not None:
                    raise ClixmlError(f"two <{tag}> in one object")
                d = self.read_members(child, depth + 1)
                if tag == "MS":
                    obj.ms = d
                else:
                    obj.props = d
            elif tag in _LISTS:
                items: list[Any] = []
                obj.kind, obj.value = 1, items
                if obj.ref_id is not None:
                    self.refs[obj.ref_id] = items
                items.extend(self.read(i, depth + 2) for i in child)
            elif tag == "DCT":
                table: dict[Any, Any] = {}
                obj.kind, obj.value = 1, table
                if obj.ref_id is not None:
                    self.refs[obj.ref_id] = table
                for entry in child:
                    if entry.tag != "En":
                        raise ClixmlError(f"<{entry.tag}> in a <DCT>")
                    kv = self.read_members(entry, depth + 2)
                    if set(kv) != {"Key", "Value"} or len(entry) != 2:
                        raise ClixmlError("a dictionary entry needs one Key and one Value")
                    table[_hashable(kv["Key"])] = kv["Value"]
            else:
                if obj.kind != 0 or obj.ms is not None or obj.props is not None:
                    raise ClixmlError(f"unexpected <{tag}> in an object")
                obj.kind, obj.value = 2, self.read(child, depth + 1)
        return _finish(obj, self.refs)

    def read_members(self, el: Element, depth: int) -> dict[str, Any]:
        members: dict[str, Any] = {}
        for child in el:
            name = child.get("N")
            if name is None:
                raise ClixmlError(f"<{child.tag}> without a name in <{el.tag}>")
            members[decode_string(name)] = self.read(child, depth + 1)
        return members

    @staticmethod
    def _is(tag: str, el: Element) -> bool:
        if el.tag != tag:
            raise ClixmlError(f"<{el.tag}> in <TN>")
        return True


def _as_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError:
            raise ClixmlError("text holds lone surrogates") from None
    return bytes(data)


def loads_reference(data: bytes | bytearray | memoryview | str) -> Any:
    """The reference reading of ``data`` (parsed by defusedxml, then walked): slow, simple, exact."""
    raw = _as_bytes(data)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return _TreeReader().read(_tree(raw))
    except RecursionError:
        raise ClixmlError("nested too deeply") from None


# ============================================================================ compiled plans
#
# Objects of one kind from one server share their skeleton: the sequence of tag heads (element,
# property name, RefId), with only the texts between them varying. The second time a skeleton is
# seen, it is compiled into a Python function that builds the value straight from the list of
# texts, with no per-element dispatch at all.

_PLANS: dict[str, Any] = {}
_SEEN: dict[str, int] = {}
_PLANS_MAX: Final = 512
_NO_PLAN: Final = object()
# Bytes kept by the structure check: the tag delimiters and every byte XML does not allow raw.
_STRUCTURE_BYTES = bytes(b for b in range(256) if b not in (*_BAD_BYTES, 0x3C, 0x3E))
_STRING_TAGS: Final = frozenset({"S", "URI", "XD", "SBK", "T", "ToString"})


class _NoPlan(Exception):
    """The skeleton uses something plans do not cover (references, dictionaries, ...)."""


def _record(props: dict[str, Any], type_names: tuple[str, ...], to_string: str | None) -> Record:
    rec = Record.__new__(Record)
    rec._props = props
    rec._lower = None
    rec.type_names = type_names
    rec.to_string = to_string
    rec.adapted_names = frozenset()
    return rec


def _record2(ms: dict[str, Any], props: dict[str, Any], type_names: tuple[str, ...], to_string: str | None) -> Any:
    obj = _Obj(None)
    obj.ms, obj.props, obj.type_names, obj.to_string = ms, props, type_names, to_string
    return _finish(obj, {})


def _primitive(value: Any, type_names: tuple[str, ...], to_string: str | None) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not _ENUM_BASES.isdisjoint(type_names):
        return EnumValue(value, to_string if to_string is not None else str(value), type_names)
    return value


class _Compiler:
    def __init__(self, heads: list[str]) -> None:
        self.heads = heads
        self.k = 0
        self.strings: list[int] = []
        self.leaves: list[int] = []
        self.blank: list[int] = []
        self.type_lists: list[str] = []
        self.tn: dict[str, str] = {}
        self.depth = 0

    def op(self) -> tuple[Any, ...]:
        if self.k >= len(self.heads):
            raise _NoPlan
        try:
            return _HEADS.get(self.heads[self.k]) or _parse_head(self.heads[self.k])
        except _Fallback:
            raise _NoPlan from None

    def leaf(self, op: tuple[Any, ...]) -> str:
        k = self.k
        if k + 1 >= len(self.heads) or self.heads[k + 1] != op[4][:-1]:
            raise _NoPlan
        self.leaves.append(k)
        self.blank.append(k + 1)
        self.k += 2
        tag = op[1]
        if tag in _STRING_TAGS:
            self.strings.append(k)
        if tag in ("S", "URI", "XD", "SBK", "Version"):
            return f"b[{k}]"
        if tag == "B":
            return f"BOOL[b[{k}]]"
        if tag in ("T", "ToString"):
            raise _NoPlan
        return f"SCALARS[{tag!r}](b[{k}])"

    def value(self) -> str:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _NoPlan
        op = self.op()
        code, tag = op[0], op[1]
        if code == _LEAF:
            expr = self.leaf(op)
        elif code == _EMPTY:
            self.blank.append(self.k)
            self.k += 1
            if tag == "Nil":
                expr = "None"
            elif tag in ("S", "URI", "XD", "SBK", "Version"):
                expr = "''"
            else:
                raise _NoPlan
        elif code == _START and tag == "Obj":
            expr = self.obj()
        else:
            raise _NoPlan
        self.depth -= 1
        return expr

    def obj(self) -> str:
        self.blank.append(self.k)
        self.k += 1
        type_names, to_string = "()", "None"
        ms: str | None = None
        props: str | None = None
        items: str | None = None
        prim: str | None = None
        while True:
            op = self.op()
            code, tag = op[0], op[1]
            if code == _END and tag == "Obj":
                self.blank.append(self.k)
                self.k += 1
                break
            if code == _START and tag == "TN":
                type_names = self.type_list(op[3])
            elif code == _EMPTY and tag == "TNRef":
                if op[3] not in self.tn:
                    raise _NoPlan
                type_names = self.tn[op[3]]
                self.blank.append(self.k)
                self.k += 1
            elif code == _LEAF and tag == "ToString":
                if self.heads[self.k + 1 : self.k + 2] != ["/ToString"]:
                    raise _NoPlan
                self.strings.append(self.k)
                self.leaves.append(self.k)
                self.blank.append(self.k + 1)
                to_string = f"b[{self.k}]"
                self.k += 2
            elif code == _START and tag in ("MS", "Props") and (ms if tag == "MS" else props) is None:
                members = self.members(tag)
                if tag == "MS":
                    ms = members
                else:
                    props = members
            elif code == _START and tag in _LISTS and items is None:
                items = self.items(tag)
            elif code == _EMPTY and tag in _LISTS and items is None:
                self.blank.append(self.k)
                self.k += 1
                items = "[]"
            elif (code in (_LEAF, _EMPTY) and tag in SCALARS) or (code == _EMPTY and tag == "Nil"):
                if prim is not None:
                    raise _NoPlan
                prim = self.value()
            else:
                raise _NoPlan
        if items is not None:
            if ms is not None or props is not None or prim is not None:
                raise _NoPlan
            return items
        if prim is not None:
            if ms is not None or props is not None:
                raise _NoPlan
            return f"PRIM({prim}, {type_names}, {to_string})"
        if props is None:
            return f"RECORD({ms or '{}'}, {type_names}, {to_string})"
        return f"RECORD2({ms or '{}'}, {props}, {type_names}, {to_string})"

    def type_list(self, ref: str | None) -> str:
        self.blank.append(self.k)
        self.k += 1
        names: list[str] = []
        while True:
            op = self.op()
            if op[0] == _END and op[1] == "TN":
                self.blank.append(self.k)
                self.k += 1
                break
            if op[0] != _LEAF or op[1] != "T" or self.heads[self.k + 1 : self.k + 2] != ["/T"]:
                raise _NoPlan
            self.strings.append(self.k)
            self.leaves.append(self.k)
            self.blank.append(self.k + 1)
            names.append(f"b[{self.k}]")
            self.k += 2
        var = f"t{len(self.type_lists)}"
        self.type_lists.append(f"{var} = ({''.join(n + ', ' for n in names)})")
        if ref is not None:
            self.tn[ref] = var
        return var

    def members(self, tag: str) -> str:
        self.blank.append(self.k)
        self.k += 1
        entries: list[str] = []
        while True:
            op = self.op()
            if op[0] == _END:
                if op[1] != tag:
                    raise _NoPlan
                self.blank.append(self.k)
                self.k += 1
                break
            if op[2] is None:
                raise _NoPlan
            entries.append(f"{op[2]!r}: {self.value()}")
        return "{" + ", ".join(entries) + "}"

    def items(self, tag: str) -> str:
        self.blank.append(self.k)
        self.k += 1
        values: list[str] = []
        while True:
            op = self.op()
            if op[0] == _END:
                if op[1] != tag:
                    raise _NoPlan
                self.blank.append(self.k)
                self.k += 1
                break
            values.append(self.value())
        return "[" + ", ".join(values) + "]"


_PLAN_GLOBALS: Final = {
    "BOOL": _BOOLS,
    "SCALARS": SCALARS,
    "RECORD": _record,
    "RECORD2": _record2,
    "PRIM": _primitive,
    "__builtins__": {},
}


def _compile(heads: list[str]) -> Any:
    """A plan for a skeleton: (build function, string positions, leaf positions, blank getter)."""
    c = _Compiler(heads)
    try:
        root = c.value()
    except (_NoPlan, RecursionError):
        return _NO_PLAN
    if c.k != len(heads):
        return _NO_PLAN
    body = "".join(f"    {line}\n" for line in c.type_lists)
    source = f"def plan(b):\n{body}    return {root}\n"
    namespace: dict[str, Any] = {}
    try:
        exec(compile(source, "<clixml plan>", "exec"), dict(_PLAN_GLOBALS), namespace)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return _NO_PLAN
    blank = operator.itemgetter(*c.blank, 0) if c.blank else None  # 0 is never blank: appended to get a tuple
    return namespace["plan"], tuple(c.strings), tuple(c.leaves), blank


def _planned(text: str, pieces: list[str]) -> Any:
    """Read with a compiled plan if the skeleton has one; :class:`_Fallback` if not (yet)."""
    heads = pieces[1::2]
    key = "\x00".join(heads)
    plan = _PLANS.get(key)
    if plan is None:
        seen = _SEEN.get(key, 0) + 1
        if seen < 2:
            if len(_SEEN) >= _PLANS_MAX * 4:
                _SEEN.clear()
            _SEEN[key] = seen
            raise _Fallback
        _SEEN.pop(key, None)
        plan = _compile(heads)
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        _PLANS[key] = plan
    if plan is _NO_PLAN:
        raise _Fallback
    build, strings, leaves, blank = plan
    bodies = pieces[2::2]
    if blank is not None:
        gaps = blank(bodies)
        if len(gaps[-1]) or "".join(gaps[:-1]).strip(" \t\n"):
            raise _Fallback
    if "&" in text:
        for k in leaves:
            if "&" in bodies[k]:
                bodies[k] = _unentity(bodies[k])
    if "_" in text:
        for k in strings:
            if "_" in bodies[k]:
                bodies[k] = decode_string(bodies[k])
    return build(bodies)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """The value one PSRP message's CLIXML (``<Obj RefId="0">...</Obj>``, or a bare primitive) stands for.

    Raises :class:`ClixmlError` for anything that is not well-formed, safe CLIXML.
    """
    raw = _as_bytes(data)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    structure = raw.translate(None, _STRUCTURE_BYTES)
    # Only '<' and '>', alternating: no raw control characters or CR, no '>' in text or attribute values.
    if structure == b"<>" * (len(structure) >> 1) and (
        raw.isascii() or (b"\xef\xbf\xbe" not in raw and b"\xef\xbf\xbf" not in raw)
    ):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ClixmlError("not UTF-8") from None
        pieces = text.replace(">", "<").split("<")
        if not pieces[0].strip(" \t\n"):
            try:
                return _planned(text, pieces)
            except (_Fallback, ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
                pass
        try:
            return _fast(text)
        except (_Fallback, ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError):
            # Outside canonical CLIXML, or a value the fast path cannot read: the reference path
            # reads it, or raises the ClixmlError that says what is wrong.
            pass
    return loads_reference(raw)
