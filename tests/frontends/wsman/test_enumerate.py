"""WS-Enumeration of shells: an account sees its own sessions only (as ``aobo sessions`` and
pypsrp's ``RunspacePool.get_runspace_pools`` ask), and cannot delete another account's."""

from __future__ import annotations

import contextlib
import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import SelectorSet, WSMan

from aobo.domain.seed import seed_demo
from aobo.domain.store import Store
from aobo.server import BackgroundServer
from aobo.settings import Settings

# This directory is not a package (no tests.e2e imports when run alone): a world of its own.
PASSWORD = "Enumerate-Test-1!"
ADMIN = "admin@northwindit.onmicrosoft.com"
HELPDESK = "helpdesk@northwindit.onmicrosoft.com"
CONTOSO_ADMIN = "admin@contoso.onmicrosoft.com"

SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
COMMAND_URI = SHELL_URI + "/Command"
NS = {
    "wsen": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": SHELL_URI,
}
WSEN, WSMAN_NS = NS["wsen"], NS["wsman"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    data: Path = tmp_path_factory.mktemp("enumerate")
    store = Store.open(f"sqlite:///{data / 'aobo.db'}")
    store.migrate()
    seed_demo(store, PASSWORD)
    settings = dataclasses.replace(Settings(data_dir=data, insecure_http=True), max_sessions_per_user=3)
    with BackgroundServer(settings, store) as running:
        yield running
    store.close()


def wsman(server: BackgroundServer, user: str, org: str | None = None) -> WSMan:
    s = server.settings
    return WSMan(
        s.host,
        port=s.port,
        path="powershell-liveid" + (f"?DelegatedOrg={org}" if org else ""),
        ssl=False,
        auth="basic",
        encryption="never",
        username=user,
        password=PASSWORD,
        operation_timeout=5,
        read_timeout=15,
    )


@contextlib.contextmanager
def pools(server: BackgroundServer, *opens: tuple[str, str | None]) -> Iterator[list[RunspacePool]]:
    opened: list[RunspacePool] = []
    try:
        for user, org in opens:
            pool = RunspacePool(wsman(server, user, org), configuration_name="Microsoft.Exchange")
            pool.open()
            opened.append(pool)
        yield opened
    finally:
        for pool in opened:
            with contextlib.suppress(Exception):
                pool.close()


def enumerate_body(
    *, optimize: bool = True, max_elements: int | None = 32000, shell_id: str | None = None
) -> ET.Element:
    """The Enumerate body pypsrp and Windows' PSRP client send (optimized, MaxElements 32000)."""
    body = ET.Element(f"{{{WSEN}}}Enumerate")
    if optimize:
        ET.SubElement(body, f"{{{WSMAN_NS}}}OptimizeEnumeration")
    if max_elements is not None:
        ET.SubElement(body, f"{{{WSMAN_NS}}}MaxElements").text = str(max_elements)
    if shell_id is not None:
        filt = ET.SubElement(
            body, f"{{{WSMAN_NS}}}Filter", Dialect="http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter"
        )
        selectors = ET.SubElement(filt, f"{{{WSMAN_NS}}}SelectorSet")
        ET.SubElement(selectors, f"{{{WSMAN_NS}}}Selector", Name="ShellId").text = shell_id
    return body


def pull_body(context: str, max_elements: int | None = None) -> ET.Element:
    body = ET.Element(f"{{{WSEN}}}Pull")
    ET.SubElement(body, f"{{{WSEN}}}EnumerationContext").text = context
    if max_elements is not None:
        ET.SubElement(body, f"{{{WSEN}}}MaxElements").text = str(max_elements)
    return body


def shells_of(response_body: ET.Element) -> list[dict[str, str]]:
    found = response_body.findall("wsen:EnumerateResponse/wsman:Items/rsp:Shell", NS)
    found += response_body.findall("wsen:PullResponse/wsen:Items/rsp:Shell", NS)
    return [{child.tag.split("}")[1]: child.text or "" for child in shell} for shell in found]


def context_of(response_body: ET.Element) -> str | None:
    el = response_body.find("wsen:EnumerateResponse/wsen:EnumerationContext", NS)
    if el is None:
        el = response_body.find("wsen:PullResponse/wsen:EnumerationContext", NS)
    return (el.text or "") if el is not None else None


def own_shells(server: BackgroundServer, user: str) -> list[dict[str, str]]:
    return shells_of(wsman(server, user).enumerate(SHELL_URI, enumerate_body()))


def test_each_account_sees_only_its_own_shells(server: BackgroundServer) -> None:
    with pools(server, (ADMIN, "contoso.onmicrosoft.com"), (ADMIN, "fabrikam.onmicrosoft.com"), (HELPDESK, None)) as (
        a1,
        a2,
        h1,
    ):
        admin = own_shells(server, ADMIN)
        assert [s["ShellId"] for s in admin] == [a1.shell.id.upper(), a2.shell.id.upper()]
        for shell in admin:
            assert shell["Owner"] == ADMIN
            assert shell["ResourceUri"] == "http://schemas.microsoft.com/powershell/Microsoft.Exchange"
            assert shell["ClientIP"] == "127.0.0.1"
            assert shell["State"] == "Connected"
            assert shell["ShellRunTime"].startswith("P0DT0H")
            assert shell["ShellInactivity"].startswith("P0DT0H")
            assert shell["IdleTimeOut"].startswith("PT")
        helpdesk = own_shells(server, HELPDESK)
        assert [s["ShellId"] for s in helpdesk] == [h1.shell.id.upper()]
        assert own_shells(server, CONTOSO_ADMIN) == []
    assert own_shells(server, ADMIN) == []


def test_an_optimized_enumeration_ends_the_sequence_like_windows(server: BackgroundServer) -> None:
    with pools(server, (ADMIN, None)):
        body = wsman(server, ADMIN).enumerate(SHELL_URI, enumerate_body())
    assert context_of(body) == ""
    assert body.find("wsen:EnumerateResponse/wsman:EndOfSequence", NS) is not None


def test_pypsrp_get_runspace_pools_lists_own_pools_with_their_commands(server: BackgroundServer) -> None:
    with pools(server, (ADMIN, "contoso.onmicrosoft.com"), (HELPDESK, None)) as (mine, theirs):
        ps = PowerShell(mine)
        ps.add_cmdlet("Get-AcceptedDomain")
        ps.begin_invoke()  # a command the shell knows until it is closed
        try:
            found = RunspacePool.get_runspace_pools(wsman(server, ADMIN))
            assert [p.id.upper() for p in found] == [mine.shell.id.upper()]
            assert [cid.upper() for cid in found[0].pipelines] == [ps.id.upper()]
            # The commands of another account's shell are not listed, whatever the filter says.
            other = wsman(server, ADMIN).enumerate(COMMAND_URI, enumerate_body(shell_id=theirs.shell.id))
            assert other.findall("wsen:EnumerateResponse/wsman:Items/rsp:Command", NS) == []
        finally:
            ps.end_invoke()


def test_a_plain_enumeration_is_pulled_page_by_page(server: BackgroundServer) -> None:
    with pools(server, (ADMIN, "contoso.onmicrosoft.com"), (ADMIN, "fabrikam.onmicrosoft.com"), (ADMIN, None)) as p:
        expected = [pool.shell.id.upper() for pool in p]
        client = wsman(server, ADMIN)
        body = client.enumerate(SHELL_URI, enumerate_body(optimize=False, max_elements=None))
        assert shells_of(body) == []
        context = context_of(body)
        assert context and context.startswith("uuid:")
        # Another account cannot pull it: the context looks expired to them.
        with pytest.raises(WSManFaultError, match="enumeration context"):
            wsman(server, HELPDESK).pull(SHELL_URI, pull_body(context))
        seen: list[str] = []
        first = client.pull(SHELL_URI, pull_body(context, 2))
        seen += [s["ShellId"] for s in shells_of(first)]
        assert len(seen) == 2 and context_of(first) == context
        assert first.find("wsen:PullResponse/wsen:EndOfSequence", NS) is None
        last = client.pull(SHELL_URI, pull_body(context, 2))
        seen += [s["ShellId"] for s in shells_of(last)]
        assert last.find("wsen:PullResponse/wsen:EndOfSequence", NS) is not None
        assert context_of(last) is None
        assert seen == expected
        with pytest.raises(WSManFaultError, match="enumeration context"):
            client.pull(SHELL_URI, pull_body(context))


def test_max_elements_caps_an_optimized_answer_and_the_rest_can_be_pulled(server: BackgroundServer) -> None:
    with pools(server, (ADMIN, "contoso.onmicrosoft.com"), (ADMIN, None)) as p:
        client = wsman(server, ADMIN)
        body = client.enumerate(SHELL_URI, enumerate_body(max_elements=1))
        assert [s["ShellId"] for s in shells_of(body)] == [p[0].shell.id.upper()]
        assert body.find("wsen:EnumerateResponse/wsman:EndOfSequence", NS) is None
        context = context_of(body)
        assert context
        rest = client.pull(SHELL_URI, pull_body(context))
        assert [s["ShellId"] for s in shells_of(rest)] == [p[1].shell.id.upper()]


def test_release_forgets_a_context(server: BackgroundServer) -> None:
    with pools(server, (ADMIN, None)):
        client = wsman(server, ADMIN)
        context = context_of(client.enumerate(SHELL_URI, enumerate_body(optimize=False)))
        assert context
        release = ET.Element(f"{{{WSEN}}}Release")
        ET.SubElement(release, f"{{{WSEN}}}EnumerationContext").text = context
        client.invoke(f"{WSEN}/Release", SHELL_URI, release)
        with pytest.raises(WSManFaultError, match="enumeration context"):
            client.pull(SHELL_URI, pull_body(context))


def test_other_resources_cannot_be_enumerated(server: BackgroundServer) -> None:
    with pytest.raises(WSManFaultError, match="cannot be enumerated"):
        wsman(server, ADMIN).enumerate("http://schemas.microsoft.com/wbem/wsman/1/config/listener", enumerate_body())


def test_a_bad_max_elements_is_a_fault(server: BackgroundServer) -> None:
    with pytest.raises(WSManFaultError, match="MaxElements"):
        wsman(server, ADMIN).enumerate(SHELL_URI, enumerate_body(max_elements=0))


def test_another_account_s_shell_cannot_be_deleted(server: BackgroundServer) -> None:
    with pools(server, (ADMIN, "contoso.onmicrosoft.com")) as (mine,):
        shell_id = mine.shell.id.upper()
        selectors = SelectorSet()
        selectors.add_option("ShellId", shell_id)
        with pytest.raises(WSManFaultError) as refused:
            wsman(server, HELPDESK).delete(mine.shell.resource_uri, selector_set=selectors)
        # The same answer as for a shell that does not exist at all.
        assert "shell was not found" in str(refused.value.reason)
        assert [s["ShellId"] for s in own_shells(server, ADMIN)] == [shell_id]
        ps = PowerShell(mine)
        ps.add_cmdlet("Get-AcceptedDomain")
        ps.invoke()
        assert not ps.had_errors and ps.output
