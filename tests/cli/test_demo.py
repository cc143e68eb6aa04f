import importlib.util
import os
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


def test_aobo_demo_plays_the_partner_flow() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aobo", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "250"},
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    output = " ".join(output.split())  # rich wraps long lines
    assert "Traceback" not in output
    for customer in ("contoso", "fabrikam", "tailspintoys"):
        assert f"{customer}.onmicrosoft.com: " in output
        assert f"DelegatedOrg={customer}.onmicrosoft.com" in output
    assert "By default, only the first 1000 items are returned." in output
    assert "fabrikam.onmicrosoft.com: 1500 mailboxes" in output
    assert "woodgrove.onmicrosoft.com is not a customer" in output
    assert "The client got: Access is denied." in output
    assert (
        "Fail to create a runspace because you have exceeded the maximum number of connections allowed : 3 "
        "for the policy party : MaxConcurrency." in output
    )
    assert "Unexpected" not in output
    assert "Demo finished" in output
