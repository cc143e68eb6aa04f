"""Per-mailbox statistics (``mailbox_statistics``): item counts, sizes, last logon; and Exchange's
``ByteQuantifiedSize`` text form, which both sizes and mailbox quotas are shown in.

A mailbox without a statistics row is a new, empty one: zero items, never logged on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

import sqlalchemy as sa

from aobo.domain.repository import Repository
from aobo.domain.schema import mailbox_statistics, recipients

_UNITS: Final = (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10))
_MULTIPLIERS: Final = {"": 1, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
MAX_BYTES: Final = 2**64 - 1
#: Keys of a mailbox's props holding its client access settings and its automatic replies (only
#: the values that differ from Exchange's defaults), read by Get-CASMailbox and
#: Get-MailboxAutoReplyConfiguration.
CAS_PROPS: Final = "CASMailbox"
AUTO_REPLY_PROPS: Final = "MailboxAutoReplyConfiguration"
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
    """.NET's ``{0:G4}`` of a double: four significant digits, trailing zeros dropped."""
    if value == 0:
        return "0"
    # .NET Framework rounds the double to 15 digits first, then half away from zero.
    value = Decimal(format(value, ".15g"))
    exponent = value.adjusted()
    rounded = value.quantize(Decimal(1).scaleb(exponent - 3), rounding=ROUND_HALF_UP)
    text = format(rounded, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_size(size: int) -> str:
    """``ByteQuantifiedSize.ToString()``: ``152.1 MB (159,449,088 bytes)``, ``0 B (0 bytes)``."""
    for unit, factor in _UNITS:
        if size >= factor:
            return f"{_g4(Decimal(size) / factor)} {unit} ({size:,} bytes)"
    return f"{size} B ({size:,} bytes)"


def parse_size(text: str) -> int:
    """Bytes of a ByteQuantifiedSize text (``50GB``, ``49.5 GB``, ``12345``, or the long form Exchange
    shows); ValueError with Exchange's text otherwise."""
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
    if number < 0 or number * factor > MAX_BYTES:
        low, high = f"0 {unit or 'B'}", f"{MAX_BYTES // factor:,} {unit or 'B'}"
        raise ValueError(VALUE_OVERFLOW.format(low, high, expression))
    return int(number * factor)


@dataclass(frozen=True, slots=True)
class MailboxStatistics:
    """What Get-MailboxStatistics reports from the store for one mailbox."""

    item_count: int = 0
    total_item_size: int = 0
    deleted_item_count: int = 0
    total_deleted_item_size: int = 0
    last_logon_time: datetime | None = None
    last_user_action_time: datetime | None = None
    last_interaction_time: datetime | None = None


_COLUMNS: Final = (
    "item_count",
    "total_item_size",
    "deleted_item_count",
    "total_deleted_item_size",
    "last_logon_time",
    "last_user_action_time",
    "last_interaction_time",
)


class MailboxStatisticsStore(Repository):
    __slots__ = ()

    def get(self, tenant_id: int, recipient_id: int) -> MailboxStatistics:
        """The mailbox's statistics; an empty mailbox's when none were recorded."""
        s = mailbox_statistics.c
        stmt = sa.select(*(s[c] for c in _COLUMNS)).where(s.tenant_id == tenant_id, s.recipient_id == recipient_id)
        with self.reading() as conn:
            row = conn.execute(stmt).one_or_none()
        return MailboxStatistics() if row is None else MailboxStatistics(*row)

    def add_many(self, tenant_id: int, stats: Mapping[int, MailboxStatistics]) -> None:
        """Record statistics for recipients of the tenant that have none yet (recipient id →
        statistics), in one insert. Ids of other tenants' recipients are ignored."""
        if not stats:
            return
        with self.writing() as conn:
            own = set(
                conn.execute(
                    sa.select(recipients.c.id).where(
                        recipients.c.tenant_id == tenant_id, recipients.c.id.in_(list(stats))
                    )
                ).scalars()
            )
            ids = [i for i in stats if i in own]
            if not ids:
                return
            conn.execute(mailbox_statistics.insert(), list(_rows(tenant_id, ((i, stats[i]) for i in ids))))


def _rows(tenant_id: int, stats: Iterable[tuple[int, MailboxStatistics]]) -> Iterable[dict[str, Any]]:
    for recipient_id, st in stats:
        yield {
            "recipient_id": recipient_id,
            "tenant_id": tenant_id,
            **{c: getattr(st, c) for c in _COLUMNS},
        }
