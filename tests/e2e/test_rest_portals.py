"""REST InvokeCommand the way partner portals call it, against a real server with msal's tokens.

CIPP's ``New-ExoRequest`` serialises ``@{Add=...}`` as ``{"@odata.type": "#Exchange.GenericHashTable",
"add": [...]}`` (keys in whatever case its code was written with), may carry other OData annotations,
and sends removals without ``-Confirm:$false``: Exchange Online's REST endpoint has no host and never
prompts. Each body below is what such a portal posts.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from aobo.cmdlets.texts import NAMED_PARAMETER_NOT_FOUND
from tests.e2e.helpers import PARTNER_ADMIN, Endpoint
from tests.e2e.rest_client import RestPool, RestResult

ORG = "contoso.onmicrosoft.com"
GENERIC = "#Exchange.GenericHashTable"

pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated for public client flows")


@pytest.fixture(scope="module")
def portal(rest_rw: Endpoint) -> RestPool:
    """A partner admin in a customer tenant, with a token from the server's identity endpoint (msal)."""
    return rest_rw.rest_pool(PARTNER_ADMIN, ORG)


def ok(result: RestResult) -> RestResult:
    assert result.status == 200 and not result.streams.error, result.body
    return result


def mailbox(portal: RestPool, identity: str) -> dict[str, Any]:
    [found] = ok(portal.run("Get-Mailbox", {"Identity": identity})).output
    return found


def new_shared_mailbox(portal: RestPool) -> str:
    alias = f"portal{uuid.uuid4().hex[:8]}"
    ok(portal.run("New-Mailbox", {"Name": alias, "Alias": alias, "Shared": True}))
    return alias


def test_email_addresses_added_then_removed_with_generic_hashtables(portal: RestPool) -> None:
    address = f"smtp:alias-{uuid.uuid4().hex[:8]}@contoso.com"
    added = portal.run(
        "Set-Mailbox", {"Identity": "AdeleV", "EmailAddresses": {"@odata.type": GENERIC, "add": [address]}}
    )
    assert ok(added).output == []
    assert address in mailbox(portal, "AdeleV")["EmailAddresses"]
    # The same change with the key in another case, and a single value rather than an array.
    removed = portal.run(
        "Set-Mailbox", {"Identity": "AdeleV", "EmailAddresses": {"@odata.type": GENERIC, "REMOVE": address}}
    )
    assert ok(removed).output == []
    addresses = mailbox(portal, "AdeleV")["EmailAddresses"]
    assert address not in addresses and any(a.startswith("SMTP:") for a in addresses)


def test_annotations_anywhere_in_the_body_are_ignored(portal: RestPool) -> None:
    body = {
        "CmdletInput": {
            "CmdletName": "Set-Mailbox",
            "Parameters@odata.type": GENERIC,
            "Parameters": {
                "@odata.type": GENERIC,
                "@odata.context": "https://outlook.office365.com/adminapi/beta/$metadata",
                "Identity": "finance",
                "GrantSendOnBehalfTo@odata.type": GENERIC,
                "GrantSendOnBehalfTo": {
                    "@odata.type": GENERIC,
                    "Add@odata.type": "#Collection(String)",
                    "Add": ["LidiaH"],
                },
            },
        }
    }
    response = portal.client.post(portal.url, json=body, headers=portal.headers)
    assert response.status_code == 200, response.text
    assert "LidiaH" in str(mailbox(portal, "finance")["GrantSendOnBehalfTo"])
    # An array of annotated objects (Identity as an object, as a portal may pass a recipient it read).
    removed = portal.run(
        "Set-Mailbox",
        {
            "Identity": [{"@odata.type": "#Exchange.Mailbox", "Identity": "finance"}],
            "GrantSendOnBehalfTo": {"@odata.type": GENERIC, "remove": ["LidiaH"]},
        },
    )
    ok(removed)
    assert "LidiaH" not in str(mailbox(portal, "finance")["GrantSendOnBehalfTo"])


def test_permission_removed_without_confirm_and_audited(rest_rw: Endpoint, portal: RestPool) -> None:
    permission = {"Identity": "finance", "User": "EmilyB", "AccessRights": ["FullAccess"]}
    ok(portal.run("Add-MailboxPermission", {**permission, "AutoMapping": False}))
    listed = ok(portal.run("Get-MailboxPermission", {"Identity": "finance"})).output
    assert any(e["User"] == "EmilyB@contoso.com" for e in listed)
    removed = portal.run("Remove-MailboxPermission", permission)  # ConfirmImpact High, no -Confirm:$false
    assert ok(removed).output == []
    listed = ok(portal.run("Get-MailboxPermission", {"Identity": "finance"})).output
    assert not any(e["User"] == "EmilyB@contoso.com" for e in listed)
    contoso = rest_rw.store.resolve_tenant(ORG)
    assert contoso is not None
    # The admin audit log has the removal (reads are logged too: the one before the last Get).
    entries = rest_rw.store.audit_entries(target_tenant_id=contoso.id, limit=2)
    assert [(e.cmdlet, e.succeeded, e.object_id) for e in entries] == [
        ("Get-MailboxPermission", True, "finance"),
        ("Remove-MailboxPermission", True, "finance"),
    ]
    assert entries[1].parameters.get("User") == "EmilyB" and "Confirm" not in entries[1].parameters


def test_remove_mailbox_without_confirm_runs_and_whatif_changes_nothing(portal: RestPool) -> None:
    alias = new_shared_mailbox(portal)
    whatif = ok(portal.run("Remove-Mailbox", {"Identity": alias, "WhatIf": True}))
    assert whatif.output == [] and len(whatif.body["@adminapi.warnings"]) == 1
    assert whatif.body["@adminapi.warnings"][0].startswith("What if: ")
    assert mailbox(portal, alias)["Alias"] == alias
    ok(portal.run("Remove-Mailbox", {"Identity": alias}))
    gone = portal.run("Get-Mailbox", {"Identity": alias})
    assert gone.status == 400 and "couldn't be found" in gone.streams.error[0].message


def test_explicit_confirm_true_runs_as_nothing_can_be_asked(portal: RestPool) -> None:
    # docs/differences.md: over REST -Confirm asks nobody; the change goes ahead.
    alias = new_shared_mailbox(portal)
    ok(portal.run("Remove-Mailbox", {"Identity": alias, "Confirm": True}))
    assert portal.run("Get-Mailbox", {"Identity": alias}).status == 400
    # -WhatIf wins over -Confirm, as in PowerShell.
    alias = new_shared_mailbox(portal)
    ok(portal.run("Remove-Mailbox", {"Identity": alias, "Confirm": True, "WhatIf": True}))
    assert mailbox(portal, alias)["Alias"] == alias


def test_unknown_parameter_is_still_refused_in_exchanges_words(portal: RestPool) -> None:
    refused = portal.run("Get-Mailbox", {"@odata.context": "x", "Identity": "AdeleV", "NoSuchParameter": 1})
    assert refused.status == 400
    assert refused.streams.error[0].message == NAMED_PARAMETER_NOT_FOUND.format(name="NoSuchParameter")
    # An annotation beside it is no parameter; a hashtable key that is not Add or Remove is still refused.
    bad = portal.run("Set-Mailbox", {"Identity": "AdeleV", "EmailAddresses": {"@odata.type": GENERIC, "Replace": []}})
    assert bad.status == 400 and "can only contain the keys Add and Remove" in bad.streams.error[0].message


def test_batch_items_as_cipp_bulk_requests_send_them(rest_rw: Endpoint, portal: RestPool) -> None:
    items = [
        {
            "CmdletName": "Add-MailboxPermission",
            "Parameters": {"Identity": "sales", "User": "DiegoS", "AccessRights": ["FullAccess"]},
        },
        {
            "CmdletName": "Remove-MailboxPermission",
            "Parameters": {"Identity": "sales", "User": "DiegoS", "AccessRights": ["FullAccess"]},
        },
        {
            "CmdletName": "Set-Mailbox",
            "Parameters": {"Identity": "sales", "GrantSendOnBehalfTo": {"@odata.type": GENERIC, "add": "DiegoS"}},
        },
    ]
    requests = [
        {"id": str(i), "method": "POST", "url": f"/adminapi/beta/{ORG}/InvokeCommand", "body": {"CmdletInput": c}}
        for i, c in enumerate(items)
    ]
    response = portal.client.post(
        f"{rest_rw.server.base_url}/adminapi/beta/{ORG}/$batch",
        json={"requests": requests},
        headers={**portal.headers, "Prefer": "odata.continue-on-error"},
    )
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["responses"]] == [200, 200, 200], response.text
    listed = ok(portal.run("Get-MailboxPermission", {"Identity": "sales"})).output
    assert not any(e["User"] == "DiegoS@contoso.com" for e in listed)
    assert "DiegoS" in str(mailbox(portal, "sales")["GrantSendOnBehalfTo"])
