"""One rule for Python names, the same over remote PowerShell and REST, checked against the names of
every Exchange Online cmdlet and parameter in the shared catalogue."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from aobo.toolkit import importer, names, rest
from aobo.toolkit.importer import CommandNamespace, CommandSpec, ParameterSpec
from aobo.toolkit.names import pascal_case, snake_case
from aobo.toolkit.rest import RestCommands

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = REPO.parent / "shared" / "reference" / "exchange-cmdlets" / "catalogue.json"


@pytest.fixture(scope="module")
def catalogue() -> list[dict[str, Any]]:
    if not CATALOGUE.is_file():
        pytest.skip(f"no cmdlet catalogue at {CATALOGUE}")
    cmdlets: list[dict[str, Any]] = json.loads(CATALOGUE.read_text(encoding="utf-8"))["cmdlets"]
    return cmdlets


# Real Exchange names (all in the catalogue) and what a partner types in Python.
TABLE = [
    ("Get-Mailbox", "get_mailbox"),
    ("Get-EXOMailbox", "get_exo_mailbox"),
    ("Get-MessageTraceV2", "get_message_trace_v2"),
    ("Get-MessageTraceDetailV2", "get_message_trace_detail_v2"),
    ("Get-SafeLinksPolicy", "get_safe_links_policy"),
    ("Get-DkimSigningConfig", "get_dkim_signing_config"),
    ("Get-ATPProtectionPolicyRule", "get_atp_protection_policy_rule"),
    ("Get-IPv6StatusForAcceptedDomain", "get_ipv6_status_for_accepted_domain"),
    ("Get-HybridMailflowDatacenterIPs", "get_hybrid_mailflow_datacenter_ips"),
    ("ResultSize", "result_size"),
    ("From", "from_"),
    ("DomainController", "domain_controller"),
    ("ExternalDirectoryObjectId", "external_directory_object_id"),
    ("UseDatabaseQuotaDefaults", "use_database_quota_defaults"),
    ("CustomAttribute15", "custom_attribute15"),
    ("ExtensionCustomAttribute1", "extension_custom_attribute1"),
    ("PasswordV2", "password_v2"),
    ("RemoveOMEv2", "remove_omev2"),
    ("ActiveSyncAllowedDeviceIDs", "active_sync_allowed_device_ids"),
    ("EFSkipIPs", "ef_skip_ips"),
    ("PSSessionOption", "ps_session_option"),
    ("OAuth2ClientProfileEnabled", "o_auth2_client_profile_enabled"),
    ("B2DumpsterArchiver", "b2_dumpster_archiver"),
    ("HiddenFromAddressListsEnabled", "hidden_from_address_lists_enabled"),
    ("IsVIP", "is_vip"),
    ("WhatIf", "what_if"),
    # Not in the catalogue, but spelled the Exchange way: a version, a digit-led word, a number.
    ("IPv6", "ipv6"),
    ("X500", "x500"),
    ("Office365Instance", "office365_instance"),
]


@pytest.mark.parametrize(("name", "python"), TABLE)
def test_the_rule(name: str, python: str) -> None:
    assert snake_case(name) == python
    assert pascal_case(python).lower() == name.replace("-", "").lower()


def test_both_transports_use_the_one_function() -> None:
    assert importer.snake_case is names.snake_case
    assert rest.snake_case is names.snake_case


def test_no_two_cmdlets_and_no_two_parameters_of_a_cmdlet_collide(catalogue: list[dict[str, Any]]) -> None:
    by_python: dict[str, list[str]] = defaultdict(list)
    for cmdlet in catalogue:
        by_python[snake_case(cmdlet["name"])].append(cmdlet["name"])
    assert [v for v in by_python.values() if len(v) > 1] == []
    for cmdlet in catalogue:
        parameters: dict[str, list[str]] = defaultdict(list)
        for p in cmdlet["parameters"]:
            parameters[snake_case(p["name"])].append(p["name"])
        assert [v for v in parameters.values() if len(v) > 1] == [], cmdlet["name"]


def test_every_name_is_a_usable_identifier_and_comes_back(catalogue: list[dict[str, Any]]) -> None:
    every = {c["name"] for c in catalogue} | {p["name"] for c in catalogue for p in c["parameters"]}
    assert len(every) > 3000
    for name in every:
        python = snake_case(name)
        assert python.isidentifier() and python == python.lower(), name
        # REST sends pascal_case(keyword); PowerShell binds names case-insensitively.
        assert pascal_case(python).lower() == name.replace("-", "").lower(), name


class _Recorder:
    """A session for RestCommands, and an invoke for CommandNamespace: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, command: str, /, **parameters: Any) -> None:
        self.sent.append((command, parameters))


def test_the_same_functions_and_keywords_over_both_transports(catalogue: list[dict[str, Any]]) -> None:
    specs = [
        CommandSpec(c["name"], tuple(ParameterSpec(p["name"], "System.String") for p in c["parameters"]))
        for c in catalogue
    ]
    psrp_sent, rest_sent = _Recorder(), _Recorder()
    over_psrp = CommandNamespace(specs, psrp_sent.invoke)
    over_rest = RestCommands(rest_sent, [c["name"] for c in catalogue])
    functions = set(dir(over_rest))
    assert functions == set(dir(over_psrp)) - {"cache_path", "from_cache", "spec"}
    assert len(functions) == len(catalogue)

    for spec in specs:
        keywords = {p.python_name: "x" for p in spec.parameters}
        getattr(over_psrp, spec.python_name)(**keywords)
        getattr(over_rest, spec.python_name)(**keywords)
    for (psrp_command, psrp_parameters), (rest_command, rest_parameters) in zip(
        psrp_sent.sent, rest_sent.sent, strict=True
    ):
        assert psrp_command == rest_command
        assert {k.lower() for k in psrp_parameters} == {k.lower() for k in rest_parameters}, psrp_command
