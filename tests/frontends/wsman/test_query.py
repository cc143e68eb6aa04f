"""The connection URI's query as Windows PowerShell, pypsrp and Exchange's own URLs write it."""

from __future__ import annotations

import pytest

from aobo.frontends.wsman.query import ConnectionQuery, connection_query, parse_query


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Windows PowerShell appends PSVersion with ';' after an existing query.
        (
            "DelegatedOrg=contoso.onmicrosoft.com;PSVersion=5.1.19041.4522",
            ConnectionQuery("contoso.onmicrosoft.com", False, "5.1.19041.4522"),
        ),
        # ... and with '?' when there is none: the caller's own organisation.
        ("PSVersion=5.1.17763.771", ConnectionQuery(None, False, "5.1.17763.771")),
        (
            "DelegatedOrg=contoso.onmicrosoft.com&BasicAuthToOAuthConversion=true;PSVersion=5.1.19041.906",
            ConnectionQuery("contoso.onmicrosoft.com", True, "5.1.19041.906"),
        ),
        ("BasicAuthToOAuthConversion=true;PSVersion=5.1.19041.906", ConnectionQuery(None, True, "5.1.19041.906")),
        # Keys in any case, values percent-decoded, the first of a repeated key wins.
        ("delegatedorg=contoso%2Eonmicrosoft.com", ConnectionQuery("contoso.onmicrosoft.com")),
        ("DELEGATEDORG=a.onmicrosoft.com&DelegatedOrg=b.onmicrosoft.com", ConnectionQuery("a.onmicrosoft.com")),
        ("basicauthtooauthconversion=TRUE", ConnectionQuery(None, True)),
        # Only a version is kept for the log: not a forged log line.
        ("PSVersion=5.1%0Aforged entry", ConnectionQuery()),
        ("BasicAuthToOAuthConversion=false;PSVersion=3.0", ConnectionQuery(None, False, "3.0")),
        # Empty parts and values, unknown keys: nothing breaks.
        ("", ConnectionQuery()),
        ("&;;DelegatedOrg=&x", ConnectionQuery()),
        (
            "serializationLevel=Full;ExchClientVer=15.2.922.7;TargetServer=;PSVersion=5.1",
            ConnectionQuery(None, False, "5.1"),
        ),
    ],
)
def test_connection_query(query: str, expected: ConnectionQuery) -> None:
    assert connection_query(query) == expected


def test_parse_query_lowers_keys_and_keeps_values() -> None:
    assert parse_query("A=1;b=Two%20words&c") == {"a": "1", "b": "Two words", "c": ""}


def test_an_overlong_query_is_cut_not_refused() -> None:
    assert connection_query("DelegatedOrg=contoso.onmicrosoft.com;" + "x" * 100_000).delegated_org == (
        "contoso.onmicrosoft.com"
    )
