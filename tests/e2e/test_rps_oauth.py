"""Remote PowerShell with OAuth carried in Basic (``BasicAuthToOAuthConversion=true``), driven by
pypsrp with tokens from the server's identity endpoint (msal's password grant)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pypsrp.exceptions import AuthenticationError, WSManFaultError
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import WSMan

from aobo.server import BackgroundServer
from tests.e2e.helpers import PARTNER_ADMIN, PARTNER_NORPS, errors_of, objects_of, run
from tests.e2e.test_rest_api import CONTOSO_ADMIN, PASSWORD, mint, msal_token
from tests.servers import seeded_server

pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated for public client flows")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    data: Path = tmp_path_factory.mktemp("rps-oauth")
    with seeded_server(data, PASSWORD) as running:
        yield running


def wsman(server: BackgroundServer, username: str, token: str, org: str | None, *, convert: bool = True) -> WSMan:
    query = [f"DelegatedOrg={org}"] if org else []
    if convert:
        query.append("BasicAuthToOAuthConversion=true")
    path = "powershell-liveid" + ("?" + "&".join(query) if query else "")
    return WSMan(
        server.settings.host,
        port=server.settings.port,
        path=path,
        ssl=True,
        auth="basic",
        cert_validation=str(server.ca_file),
        username=username,
        password=f"Bearer {token}",
        operation_timeout=5,
        read_timeout=15,
    )


def test_partner_token_opens_delegated_session(server: BackgroundServer) -> None:
    token = msal_token(server, PARTNER_ADMIN, "fabrikam.onmicrosoft.com")
    assert len(token) > 1000  # several KB once Base64-encoded in the Basic header
    tenant = server.store.resolve_tenant("fabrikam.onmicrosoft.com")
    # pypsrp's version-1 form: the user name is OAuthUser@<tenant id>, not a real UPN.
    with RunspacePool(
        wsman(server, f"OAuthUser@{tenant.guid}", token, "fabrikam.onmicrosoft.com"),
        configuration_name="Microsoft.Exchange",
    ) as pool:
        ps = run(pool, "Get-Mailbox", ("ResultSize", 2))
        mailboxes = objects_of(ps)
    assert not errors_of(ps)
    assert len(mailboxes) == 2
    assert all(m["PrimarySmtpAddress"].split("@")[1].startswith("fabrikam.") for m in mailboxes)


def test_own_tenant_token_without_delegated_org(server: BackgroundServer) -> None:
    token = msal_token(server, CONTOSO_ADMIN, "contoso.onmicrosoft.com")
    with RunspacePool(wsman(server, CONTOSO_ADMIN, token, None), configuration_name="Microsoft.Exchange") as pool:
        mailboxes = objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))
    assert mailboxes[0]["PrimarySmtpAddress"].split("@")[1].startswith("contoso.")


@pytest.mark.parametrize(
    "case",
    ["tampered", "expired", "other tenant", "customer token without DelegatedOrg", "no conversion flag"],
)
def test_bad_tokens_are_401_like_a_bad_password(server: BackgroundServer, case: str) -> None:
    org: str | None = "fabrikam.onmicrosoft.com"
    token = mint(server, PARTNER_ADMIN, "fabrikam.onmicrosoft.com")
    convert = True
    if case == "tampered":
        token = token[:-6] + ("A" * 6 if not token.endswith("A" * 6) else "B" * 6)
    elif case == "expired":
        token = mint(server, PARTNER_ADMIN, "fabrikam.onmicrosoft.com", now=int(time.time()) - 7200)
    elif case == "other tenant":
        token = mint(server, PARTNER_ADMIN, "contoso.onmicrosoft.com")
    elif case == "customer token without DelegatedOrg":
        org = None
    elif case == "no conversion flag":
        convert = False  # then "Bearer ..." is just a wrong password
    with pytest.raises(AuthenticationError):
        RunspacePool(
            wsman(server, PARTNER_ADMIN, token, org, convert=convert), configuration_name="Microsoft.Exchange"
        ).open()
    # The endpoint keeps serving good tokens.
    good = mint(server, PARTNER_ADMIN, "fabrikam.onmicrosoft.com")
    with RunspacePool(
        wsman(server, PARTNER_ADMIN, good, "fabrikam.onmicrosoft.com"), configuration_name="Microsoft.Exchange"
    ) as pool:
        assert objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))


def test_remote_powershell_disabled_refuses_the_session(server: BackgroundServer) -> None:
    """A valid token authenticates, but RemotePowerShellEnabled false refuses the session, as with Basic."""
    token = mint(server, PARTNER_NORPS, "northwindit.onmicrosoft.com")
    pool = RunspacePool(wsman(server, PARTNER_NORPS, token, None), configuration_name="Microsoft.Exchange")
    with pytest.raises(WSManFaultError) as info:
        pool.open()
    assert "RemotePowerShellEnabled is False" in str(info.value)


def test_raw_401_carries_basic_challenge(server: BackgroundServer) -> None:
    """What a WinRM client sees for a bad token: 401 with a Basic challenge, no body."""
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with httpx.Client(verify=context, trust_env=False) as client:
        response = client.post(
            f"{server.base_url}/powershell-liveid?BasicAuthToOAuthConversion=true&DelegatedOrg=fabrikam.onmicrosoft.com",
            auth=(PARTNER_ADMIN, "Bearer not-a-token"),
            content=b"<x/>",
            headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
        )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
