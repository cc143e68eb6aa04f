"""PowerShell names as Python names: the one rule both transports (and the demo) use.

``ex.get_mailbox(result_size=5)`` must name the same thing whether ``ex`` came from remote
PowerShell (:mod:`aobo.toolkit.importer`) or from REST (:class:`aobo.toolkit.rest.RestCommands`),
so both call :func:`snake_case` and nothing else.

The rule, word by word (a word never spans a hyphen or any other character that is not a letter or
a digit):

* a run of capitals is one word; its last capital starts the next word when a lowercase letter
  follows it: ``EXOMailbox`` → ``exo_mailbox``, ``PSVersion`` → ``ps_version``;
* digits stay with the word before them: ``Get-MessageTraceV2`` → ``get_message_trace_v2``,
  ``CustomAttribute15`` → ``custom_attribute15``, ``X500`` → ``x500``, ``Office365Instance`` →
  ``office365_instance``;
* two spellings Exchange uses for acronyms stay one word: a version (``IPv6`` → ``ipv6``,
  ``OMEv2`` → ``omev2``) and a plural (``DeviceIDs`` → ``device_ids``, ``EFSkipIPs`` →
  ``ef_skip_ips``), not ``i_pv6`` and ``device_i_ds``;
* the words are lowercased and joined with ``_``; a name that would start with a digit gets a
  leading ``_``, and a Python keyword a trailing one (``From`` → ``from_``).

Over the 941 cmdlets and 9,246 parameters of Exchange Online's catalogue the rule is injective:
no two cmdlets, and no two parameters of one cmdlet, get the same Python name (tests/toolkit
checks this against the catalogue). :func:`pascal_case` goes back, up to letter case, which is
enough because PowerShell binds parameter names case-insensitively.
"""

from __future__ import annotations

import keyword
import re
from typing import Final

__all__ = ["pascal_case", "snake_case"]

_WORD: Final = re.compile(
    r"[A-Z]+v\d+(?![a-z])"  # IPv6, OMEv2: an acronym with its version
    r"|[A-Z]{2,}s(?![a-z])"  # IDs, IPs, MDBs: a plural acronym
    r"|[A-Z]+\d*(?![a-z])"  # EXO, SMTP, V2, X500: capitals not starting a lowercase word
    r"|[A-Z]?[a-z]+\d*"  # Mailbox, Attribute15, Office365
    r"|\d+"  # digits with no word before them
)


def snake_case(name: str) -> str:
    """``Get-MessageTraceV2`` → ``get_message_trace_v2``, ``ResultSize`` → ``result_size``, ``From`` → ``from_``."""
    text = "_".join(word.lower() for word in _WORD.findall(name))
    if not text[:1].isalpha():
        text = "_" + text  # a digit first (or nothing at all) is not an identifier
    return text + "_" if keyword.iskeyword(text) or keyword.issoftkeyword(text) else text


def pascal_case(name: str) -> str:
    """``result_size`` → ``ResultSize``: the PowerShell name :func:`snake_case` came from, up to case."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))
