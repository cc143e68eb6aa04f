"""Exchange's ``ByteQuantifiedSize`` as text: the one formatter and the one parser of byte sizes.

Every size Exchange shows (mailbox statistics, mailbox quotas, transport and organization limits)
is a ``Microsoft.Exchange.Data.ByteQuantifiedSize`` printed by its ``ToString()``, which is
``ToString("A")``, ``ToLargestAppropriateUnitFormatString``:

* the unit is the largest of TB, GB, MB, KB whose whole count is above zero (``bytes >> 40``,
  ``>> 30``, ... > 0), else B;
* the amount is ``bytes / unit`` as a double formatted ``{0:G4}`` (four significant digits,
  trailing zeros dropped) and the byte count ``{2:N0}``, both in the invariant culture:
  ``"{0:G4} {1} ({2:N0} bytes)"``.

So ``152.1 MB (159,449,088 bytes)``, ``49.5 GB (53,150,220,288 bytes)``, ``1.999 GB (2,146,435,072
bytes)``, ``1024 KB (1,048,575 bytes)``: never three decimals after three integer digits
(``152.062 MB``). Source: Microsoft.Exchange.Data.Common's ``ByteQuantifiedSize`` (decompiled
copies of ``ToLargestAppropriateUnitFormatString`` and ``LargestAppropriateUnitFormatPattern``), and
real output such as ``TotalItemSize : 1.243 GB (1,334,578,302 bytes)``.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

__all__ = [
    "FORMAT_NOT_CORRECT",
    "GB",
    "KB",
    "MAX_BYTES",
    "MB",
    "TB",
    "VALUE_OVERFLOW",
    "format_size",
    "parse_size",
]

KB: Final = 1 << 10
MB: Final = 1 << 20
GB: Final = 1 << 30
TB: Final = 1 << 40
MAX_BYTES: Final = 2**64 - 1  # a ulong
_UNITS: Final = (("TB", TB), ("GB", GB), ("MB", MB), ("KB", KB))
_MULTIPLIERS: Final = {"": 1, "B": 1, **dict(_UNITS)}
#: ByteQuantifiedSize.LargestAppropriateUnitFormatPattern.
_PATTERN: Final = re.compile(
    r"^(?P<short>\S{0,14}\d)( ?(?P<unit>[KMGT]?B)( \((?P<long>\S+) bytes\))?)?$", re.IGNORECASE
)
#: DataStrings.ExceptionFormatNotCorrect.
FORMAT_NOT_CORRECT: Final = (
    "The string '{0}' isn't correctly formatted. It can contain a number with an optional unit specifier or the "
    'long ByteQuantifiedSize format. Examples include "12345", "104 MB", and "1 KB". Using the short format limits '
    "the string to 15 digits. However, the long format supports strings up to the maximum ByteQuantifiedSize value."
)
#: DataStrings.ExceptionValueOverflow.
VALUE_OVERFLOW: Final = (
    "The input value '{2}' is outside the valid range of values that can be represented by ByteQuantifiedSize. "
    "The valid range of ByteQuantifiedSize is [{0}, {1}]."
)


def _g4(value: Decimal) -> str:
    """.NET Framework's ``{0:G4}`` of a double: four significant digits, trailing zeros dropped."""
    if value == 0:
        return "0"
    # .NET Framework rounds the double to 15 digits first, then half away from zero.
    value = Decimal(format(value, ".15g"))
    exponent = value.adjusted()
    rounded = value.quantize(Decimal(1).scaleb(exponent - 3), rounding=ROUND_HALF_UP)
    exponent = rounded.adjusted()  # 9999.5 rounds up to 1.000E+04
    if exponent >= 4:
        # G switches to scientific notation when the exponent reaches the precision (only past
        # 9,999 TB here): 1.678E+07, the exponent with at least two digits.
        mantissa = format(rounded.scaleb(-exponent), "f").rstrip("0").rstrip(".")
        return f"{mantissa}E+{exponent:02d}"
    text = format(rounded, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_size(size: int) -> str:
    """``ByteQuantifiedSize.ToString()``: ``152.1 MB (159,449,088 bytes)``, ``0 B (0 bytes)``."""
    for unit, factor in _UNITS:
        if size >= factor:
            return f"{_g4(Decimal(size) / factor)} {unit} ({size:,} bytes)"
    return f"{size} B ({size:,} bytes)"


def parse_size(text: str) -> int:
    """Bytes of a ByteQuantifiedSize text (``50GB``, ``49.5 GB``, ``12345``, or the long form
    :func:`format_size` writes); ValueError with Exchange's text otherwise."""
    expression = text.strip()
    match = _PATTERN.match(expression)
    if match is None:
        raise ValueError(FORMAT_NOT_CORRECT.format(expression))
    unit = (match["unit"] or "").upper()
    if match["long"] is not None:
        digits = match["long"].replace(",", "")
        if not digits.isdigit() or int(digits) > MAX_BYTES:
            raise ValueError(FORMAT_NOT_CORRECT.format(expression))
        return int(digits)
    try:
        number = Decimal(match["short"].replace(",", ""))
    except ArithmeticError:
        raise ValueError(FORMAT_NOT_CORRECT.format(expression)) from None
    if not number.is_finite():
        raise ValueError(FORMAT_NOT_CORRECT.format(expression))
    factor = _MULTIPLIERS[unit]
    # Compared before multiplying: 1E9999999 * 2**40 overflows Decimal's context.
    if number < 0 or number > Decimal(MAX_BYTES) / factor:
        low, high = f"0 {unit or 'B'}", f"{MAX_BYTES // factor:,} {unit or 'B'}"
        raise ValueError(VALUE_OVERFLOW.format(low, high, expression))
    return int(number * factor)
