import importlib.util
import os
import re
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("aobo.frontends.app") is None,
        reason="aobo demo needs the WS-Man front end (aobo.frontends.app), which is not importable",
    ),
]

CUSTOMERS = ("contoso", "fabrikam", "tailspintoys")
PARTNER_ADMIN = "admin@northwindit.onmicrosoft.com"
# Runs `aobo demo` as if aobo.toolkit.importer were not installed.
WITHOUT_IMPORTER = "import sys; sys.modules['aobo.toolkit.importer'] = None; from aobo.cli.app import main; main()"


def _demo(*python_args: str) -> tuple[str, list[str]]:
    """Run the demo in 80 columns; the output with whitespace collapsed (rich wraps) and its raw lines."""
    result = subprocess.run(
        [sys.executable, *python_args, "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80", "TERM": "dumb"},
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    assert "Unexpected" not in output
    return " ".join(output.split()), result.stdout.splitlines()


def test_aobo_demo_plays_the_partner_flow_with_the_toolkit() -> None:
    output, lines = _demo("-m", "aobo")
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    # Discovery through the partner API.
    assert "list_customers(uri, credential)" in output
    assert "3 customers" in output
    # One session per customer, opened with connect() and left at the end of the with block.
    for customer in CUSTOMERS:
        assert f'with connect("{customer}.onmicrosoft.com", credential, uri=...) as session:' in output
        assert f"DelegatedOrg={customer}.onmicrosoft.com" in output
    assert output.count("Session opened, used and removed (end of the with block)") == 3
    # Import-PSSession when the importer is installed.
    if importlib.util.find_spec("aobo.toolkit.importer") is not None:
        assert "ex = import_commands(session)" in output
        assert re.search(r"# \d+ commands in [\d.]+ s: one request", output)
        assert "ex.get_mailbox()" in output
    # fabrikam: Exchange's 1000-item warning, then -ResultSize Unlimited.
    assert "WARNING: By default, only the first 1000 items are returned." in output
    assert "got 1000; as the warning advises:" in output
    assert 'ResultSize="Unlimited")' in output
    assert "fabrikam.onmicrosoft.com: 1500 mailboxes" in output
    # The two refusals.
    assert "woodgrove.onmicrosoft.com is not a customer" in output
    assert "The client got AuthError: Access is denied." in output
    assert (
        "session 4 refused (SessionLimitError): Fail to create a runspace because you have exceeded the maximum "
        "number of connections allowed : 3 for the policy party : MaxConcurrency." in output
    )
    # The fan-out across every customer, its summary and the report from its CSV.
    assert 'run_command([parse("Get-Mailbox -ResultSize Unlimited")], customers, credential' in output
    assert "Fan-out summary" in output
    for customer, count in (("contoso", "40"), ("fabrikam", "1,500"), ("tailspintoys", "10")):
        assert re.search(rf"{customer}\.onmicrosoft\.com ok {count} \d+\.\d\d", output), customer
    assert "3 tenants succeeded, 0 failed: 1,550 mailboxes in" in output
    assert "1,550 rows in mailboxes.csv, each with its Tenant column." in output
    assert "fabrikam.onmicrosoft.com 1,354 80 42 24 1,500" in output
    # Nothing left open, on the server or in the client.
    assert f"Sessions of {PARTNER_ADMIN} still open: 0 on the server, 0 in this client." in output
    # Today's path: REST with an OAuth token, as a GDAP partner; the roles of each group decide.
    assert 's = connect("litware.onmicrosoft.com", credential, transport="rest")' in output
    assert output.count('s.invoke("Get-Mailbox", ResultSize="Unlimited"): 10 mailboxes') == 2
    admin_part, reader_part = output.split("gdapreader@northwindit.onmicrosoft.com (Exchange Readers):")
    assert 's.invoke("Set-Mailbox", ...): changed' in admin_part.rsplit("(Exchange Admins):", 1)[1]
    assert (
        's.invoke("Set-Mailbox", ...): refused: The user '
        '"northwindit.onmicrosoft.com\\gdapreader@northwindit.onmicrosoft.com" isn\'t assigned to any management roles'
        in reader_part
    )
    assert "Demo finished" in output


def test_aobo_demo_skips_the_import_without_the_importer() -> None:
    output, _ = _demo("-c", WITHOUT_IMPORTER)
    assert "Import-PSSession skipped: this build has no aobo.toolkit.importer" in output
    assert "import_commands(session)" not in output
    assert 'session.invoke("Get-Mailbox")' in output
    assert "3 tenants succeeded, 0 failed: 1,550 mailboxes in" in output
    assert f"Sessions of {PARTNER_ADMIN} still open: 0 on the server, 0 in this client." in output
