"""``/v1.0/tenantRelationships/delegatedAdminRelationships``: GDAP relationships, shaped like Microsoft Graph.

| Request | Who |
| --- | --- |
| ``GET`` the collection (``$filter`` on status, displayName or customer/tenantId), ``GET /{id}`` | a party's admin |
| ``POST`` the collection (create), ``PATCH /{id}`` (while created) | the partner's AdminAgents |
| ``POST /{id}/requests`` ``{"action": "lockForApproval" / "terminate"}`` | the partner's AdminAgents |
| ``POST /{id}/requests`` ``{"action": "approve" / "terminate"}`` | the customer's Organization Management |
| ``POST /{id}/accessAssignments``, ``DELETE .../accessAssignments/{aid}`` | the partner's AdminAgents |
| ``GET /{id}/accessAssignments``, ``GET .../accessAssignments/{aid}`` | a party's admin |

A party's admin is a partner agent (AdminAgents, HelpdeskAgents) or a customer user with an Exchange
role group. A relationship the caller's tenant is not a party to answers 404, as one that does not
exist. Authentication is HTTP Basic through the shared verifier, like the customers list.

Security groups are named groups of the partner tenant (see :mod:`aobo.domain.gdap`); an access
assignment names its group by Graph's ``accessContainerId``, the group's stable GUID, which the
server finds among the groups the partner's users are in. The group's name is accepted there too.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from aobo.cmdlets.roles import EXCHANGE_ROLE_GROUPS, ORGANIZATION_MANAGEMENT
from aobo.domain.entra import ENTRA_ROLES
from aobo.domain.errors import AlreadyExists, InvalidChange, NotFound
from aobo.domain.gdap import format_duration, group_guid, parse_auto_extend, parse_duration
from aobo.domain.models import PARTNER_ROLE_GROUPS, AccessAssignment, GdapRelationship, Tenant, User
from aobo.domain.store import Store
from aobo.frontends.bodies import BodyTooLarge, read_body
from aobo.frontends.credentials import CredentialVerifier
from aobo.frontends.partner.api import authenticate, error_response, graph_datetime, unauthorized

RELATIONSHIPS_PATH: Final = "/v1.0/tenantrelationships/delegatedadminrelationships"
MAX_BODY: Final = 64 * 1024
_NO_STORE: Final = {"Cache-Control": "no-store"}
_ENTITY: Final = "microsoft.graph.delegatedAdminRelationship"
_ASSIGNMENT_ENTITY: Final = "microsoft.graph.delegatedAdminAccessAssignment"
_FILTER: Final = re.compile(r"\s*(status|displayName|customer/tenantId)\s+eq\s+'((?:[^']|'')*)'\s*", re.IGNORECASE)
_CREATE_PROPERTIES: Final = frozenset({"displayName", "duration", "customer", "accessDetails", "autoExtendDuration"})
_PATCH_PROPERTIES: Final = frozenset({"displayName", "duration", "accessDetails", "autoExtendDuration"})
_ACTIONS: Final = ("lockForApproval", "approve", "terminate")


def is_relationships_path(path: str) -> bool:
    lowered = path.rstrip("/").lower()
    return lowered == RELATIONSHIPS_PATH or lowered.startswith(RELATIONSHIPS_PATH + "/")


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _bad(message: str) -> GraphError:
    return GraphError(400, "badRequest", message)


def _not_found(what: str) -> GraphError:
    return GraphError(404, "notFound", f"{what} was not found.")


def _forbidden(message: str) -> GraphError:
    return GraphError(403, "Authorization_RequestDenied", message)


@dataclass(frozen=True, slots=True)
class _Caller:
    user: User
    tenant: Tenant

    @property
    def partner_admin(self) -> bool:
        return "AdminAgents" in self.user.role_groups

    @property
    def reader(self) -> bool:
        return bool(self.user.role_groups & (PARTNER_ROLE_GROUPS | EXCHANGE_ROLE_GROUPS))

    @property
    def customer_admin(self) -> bool:
        return ORGANIZATION_MANAGEMENT in self.user.role_groups


class DelegatedAdminRelationshipsEndpoint:
    def __init__(self, store: Store, verifier: CredentialVerifier) -> None:
        self.store = store
        self.verifier = verifier

    async def __call__(self, request: Request) -> Response:
        user = await authenticate(self.verifier, request)
        if user is None:
            return unauthorized()
        try:
            body = await _read_body(request)
            return await run_in_threadpool(self._dispatch, request, user, body)
        except GraphError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except (InvalidChange, AlreadyExists, NotFound) as exc:
            err = _store_error(exc)
            return error_response(err.status, err.code, err.message)

    # -- routing ------------------------------------------------------------------------------------

    def _dispatch(self, request: Request, cached: User, body: bytes) -> Response:
        user = self.store.find_user(cached.user_principal_name)  # a lock-out or group change applies at once
        if user is None or user.locked_out:
            return unauthorized()
        caller = _Caller(user, self.store.get_tenant(user.tenant_id))
        if not caller.reader:
            raise _forbidden(
                f'The user "{user.user_principal_name}" holds no admin role that may read delegated admin '
                "relationships."
            )
        parts = [p for p in request.url.path.rstrip("/")[len(RELATIONSHIPS_PATH) :].split("/") if p]
        method = request.method
        base = str(request.base_url).rstrip("/")
        if not parts:
            if method in ("GET", "HEAD"):
                return self._list(caller, base, request.query_params.get("$filter"))
            if method == "POST":
                return self._create(caller, base, _json_object(body))
            raise _method(method, "GET, POST")
        rel = self._visible(caller, parts[0])
        if len(parts) == 1:
            if method in ("GET", "HEAD"):
                return _ok(_relationship_json(self.store, rel, base, entity=True))
            if method == "PATCH":
                return self._patch(caller, rel, base, _json_object(body))
            raise _method(method, "GET, PATCH")
        child = parts[1].lower()
        if child == "requests" and len(parts) == 2:
            if method == "POST":
                return self._request(caller, rel, base, _json_object(body))
            raise _method(method, "POST")
        if child == "accessassignments" and len(parts) == 2:
            if method in ("GET", "HEAD"):
                assignments = self.store.gdap.assignments(rel.guid)
                return _ok(
                    {
                        "@odata.context": _context(
                            base, f"delegatedAdminRelationships('{rel.guid}')/accessAssignments"
                        ),
                        "value": [_assignment_json(a) for a in assignments],
                    }
                )
            if method == "POST":
                return self._assign(caller, rel, base, _json_object(body))
            raise _method(method, "GET, POST")
        if child == "accessassignments" and len(parts) == 3:
            found = next((a for a in self.store.gdap.assignments(rel.guid) if str(a.guid) == parts[2].lower()), None)
            if found is None:
                raise _not_found(f"The access assignment '{parts[2]}'")
            if method in ("GET", "HEAD"):
                return _ok(_assignment_json(found))
            if method == "DELETE":
                self._require_partner_admin(caller, rel)
                self.store.gdap.unassign(rel.guid, found.guid)
                return Response(status_code=204, headers=_NO_STORE)
            raise _method(method, "GET, DELETE")
        raise _not_found(f"The resource '{request.url.path}'")

    def _visible(self, caller: _Caller, relationship_id: str) -> GdapRelationship:
        rel = self.store.gdap.get(relationship_id)
        if rel is None or caller.tenant.id not in (rel.partner_tenant_id, rel.customer_tenant_id):
            raise _not_found(f"The delegated admin relationship '{relationship_id}'")
        return rel

    def _require_partner_admin(self, caller: _Caller, rel: GdapRelationship | None) -> None:
        if (rel is not None and caller.tenant.id != rel.partner_tenant_id) or not caller.partner_admin:
            raise _forbidden(
                f'The user "{caller.user.user_principal_name}" may not change this relationship: only the partner\'s '
                "admin agents (AdminAgents) create and manage delegated admin relationships."
            )

    # -- handlers ---------------------------------------------------------------------------------------

    def _list(self, caller: _Caller, base: str, filter_text: str | None) -> Response:
        relationships = self.store.gdap.relationships(caller.tenant.id)
        if filter_text is not None:
            match = _FILTER.fullmatch(filter_text)
            if match is None:
                raise _bad(
                    f"Invalid filter clause: '{filter_text}'. Supported: status, displayName or customer/tenantId "
                    "eq '<value>'."
                )
            prop, value = match[1].lower(), match[2].replace("''", "'")
            if prop == "status":
                relationships = [r for r in relationships if r.status.lower() == value.lower()]
            elif prop == "displayname":
                relationships = [r for r in relationships if r.display_name == value]
            else:
                relationships = [r for r in relationships if self._customer(r).guid == _uuid_or_none(value)]
        return _ok(
            {
                "@odata.context": _context(base, "tenantRelationships/delegatedAdminRelationships"),
                "value": [_relationship_json(self.store, r, base) for r in relationships],
            }
        )

    def _create(self, caller: _Caller, base: str, body: dict[str, Any]) -> Response:
        self._require_partner_admin(caller, None)
        _only(body, _CREATE_PROPERTIES, _ENTITY)
        for required in ("displayName", "customer", "accessDetails"):
            if required not in body:
                raise _bad(f"The property '{required}' is required to create a delegated admin relationship.")
        customer = body["customer"]
        if not isinstance(customer, dict) or not isinstance(customer.get("tenantId"), str):
            raise _bad("customer must be an object with a tenantId (the customer tenant's GUID).")
        customer_guid = _uuid_or_none(customer["tenantId"])
        tenant = self.store.resolve_tenant(str(customer_guid)) if customer_guid else None
        if tenant is None:
            raise _bad(f"The customer tenant '{customer['tenantId']}' was not found.")
        if tenant.id == caller.tenant.id:
            raise _bad("A partner cannot create a delegated admin relationship with its own tenant.")
        rel = self.store.gdap.create(
            caller.tenant.id,
            tenant.id,
            _string(body, "displayName"),
            _roles(body["accessDetails"]),
            duration_days=parse_duration(_string(body, "duration")) if "duration" in body else 730,
            auto_extend_days=parse_auto_extend(_string(body, "autoExtendDuration"))
            if "autoExtendDuration" in body
            else 0,
        )
        location = f"{base}/v1.0/tenantRelationships/delegatedAdminRelationships/{rel.guid}"
        return _ok(_relationship_json(self.store, rel, base, entity=True), 201, {"Location": location})

    def _patch(self, caller: _Caller, rel: GdapRelationship, base: str, body: dict[str, Any]) -> Response:
        self._require_partner_admin(caller, rel)
        _only(body, _PATCH_PROPERTIES, _ENTITY)
        updated = self.store.gdap.update(
            rel.guid,
            display_name=_string(body, "displayName") if "displayName" in body else None,
            roles=_roles(body["accessDetails"]) if "accessDetails" in body else None,
            duration_days=parse_duration(_string(body, "duration")) if "duration" in body else None,
            auto_extend_days=parse_auto_extend(_string(body, "autoExtendDuration"))
            if "autoExtendDuration" in body
            else None,
        )
        return _ok(_relationship_json(self.store, updated, base, entity=True))

    def _request(self, caller: _Caller, rel: GdapRelationship, base: str, body: dict[str, Any]) -> Response:
        _only(body, frozenset({"action"}), "microsoft.graph.delegatedAdminRelationshipRequest")
        action = body.get("action")
        if action not in _ACTIONS:
            raise _bad(f"The action '{action}' is not supported: use lockForApproval, approve or terminate.")
        customer_side = caller.tenant.id == rel.customer_tenant_id
        if action == "approve" or (action == "terminate" and customer_side):
            if not (customer_side and caller.customer_admin):
                raise _forbidden(
                    f'The user "{caller.user.user_principal_name}" may not {action} this relationship: the customer '
                    "tenant's administrators (Organization Management) approve delegated admin relationships."
                )
        else:
            self._require_partner_admin(caller, rel)
        move = {
            "lockForApproval": self.store.gdap.lock_for_approval,
            "approve": self.store.gdap.approve,
            "terminate": self.store.gdap.terminate,
        }[action]
        after = move(rel.guid)
        return _ok(
            {
                "@odata.context": _context(base, f"delegatedAdminRelationships('{rel.guid}')/requests/$entity"),
                "id": str(uuid.uuid4()),
                "action": action,
                "status": "succeeded",
                "createdDateTime": graph_datetime(after.last_modified),
                "lastModifiedDateTime": graph_datetime(after.last_modified),
            },
            201,
        )

    def _assign(self, caller: _Caller, rel: GdapRelationship, base: str, body: dict[str, Any]) -> Response:
        self._require_partner_admin(caller, rel)
        _only(body, frozenset({"accessContainer", "accessDetails"}), _ASSIGNMENT_ENTITY)
        container = body.get("accessContainer")
        if not isinstance(container, dict) or not isinstance(container.get("accessContainerId"), str):
            raise _bad("accessContainer must be an object with an accessContainerId (a security group's id).")
        if container.get("accessContainerType", "securityGroup") != "securityGroup":
            raise _bad("accessContainerType must be securityGroup.")
        if "accessDetails" not in body:
            raise _bad("The property 'accessDetails' is required to create an access assignment.")
        group = self._group(caller.tenant, container["accessContainerId"])
        assignment = self.store.gdap.assign(rel.guid, group, _roles(body["accessDetails"]))
        return _ok(_assignment_json(assignment), 201)

    def _group(self, partner: Tenant, container_id: str) -> str:
        """The partner security group a container id names: its GUID, or (an aobo extension) its name."""
        wanted = _uuid_or_none(container_id)
        groups = self.store.gdap.security_groups(partner.id)
        for name in groups:
            if (wanted is not None and group_guid(partner.guid, name) == wanted) or (
                wanted is None and name.lower() == container_id.strip().lower()
            ):
                return name
        raise _bad(f"The security group '{container_id}' was not found in the partner tenant.")

    def _customer(self, rel: GdapRelationship) -> Tenant:
        return self.store.get_tenant(rel.customer_tenant_id)


# -- JSON -----------------------------------------------------------------------------------------------


def _relationship_json(store: Store, rel: GdapRelationship, base: str, *, entity: bool = False) -> dict[str, Any]:
    customer = store.get_tenant(rel.customer_tenant_id)
    body: dict[str, Any] = {}
    if entity:
        body["@odata.context"] = _context(base, "tenantRelationships/delegatedAdminRelationships/$entity")
    body |= {
        "@odata.type": f"#{_ENTITY}",
        "id": str(rel.guid),
        "displayName": rel.display_name,
        "duration": format_duration(rel.duration_days),
        "status": rel.status,
        "autoExtendDuration": format_duration(rel.auto_extend_days),
        "createdDateTime": graph_datetime(rel.created),
        "lastModifiedDateTime": graph_datetime(rel.last_modified),
        "activatedDateTime": graph_datetime(rel.activated),
        "endDateTime": graph_datetime(rel.end),
        # A tenant's name is not told to a partner it never approved (a GUID must not reveal whose it is).
        "customer": {"tenantId": str(customer.guid), "displayName": customer.name if rel.activated else None},
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in rel.roles]},
    }
    return body


def _assignment_json(assignment: AccessAssignment) -> dict[str, Any]:
    return {
        "@odata.type": f"#{_ASSIGNMENT_ENTITY}",
        "id": str(assignment.guid),
        "status": assignment.status,
        "createdDateTime": graph_datetime(assignment.created),
        "lastModifiedDateTime": graph_datetime(assignment.last_modified),
        "accessContainer": {"accessContainerId": str(assignment.group_id), "accessContainerType": "securityGroup"},
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in assignment.roles]},
    }


def _context(base: str, what: str) -> str:
    return f"{base}/v1.0/$metadata#{what}"


def _ok(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**_NO_STORE, **(headers or {})})


def _method(method: str, allow: str) -> GraphError:
    return GraphError(405, "methodNotAllowed", f"{method} is not supported here; use {allow}.")


# -- input ----------------------------------------------------------------------------------------------


async def _read_body(request: Request) -> bytes:
    if request.method not in ("POST", "PATCH"):
        return b""
    try:
        return await read_body(request, MAX_BODY)
    except BodyTooLarge:
        raise GraphError(413, "requestTooLarge", f"The request body is larger than {MAX_BODY // 1024} KiB.") from None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise _bad("The request body must be a JSON object.")
    return value


def _only(body: dict[str, Any], allowed: frozenset[str], entity: str) -> None:
    for key in body:
        if key not in allowed and not key.startswith("@odata."):
            raise _bad(f"Property '{key}' does not exist on type '{entity}' or cannot be set here.")


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise _bad(f"The property '{key}' must be a string.")
    return value


def _roles(details: Any) -> list[str]:
    """accessDetails.unifiedRoles as role template ids; only the six Entra roles aobo maps are accepted."""
    roles = details.get("unifiedRoles") if isinstance(details, dict) else None
    if not isinstance(roles, list) or not roles:
        raise _bad('accessDetails.unifiedRoles must be a non-empty list of {"roleDefinitionId": ...} objects.')
    ids: list[str] = []
    for role in roles:
        role_id = role.get("roleDefinitionId") if isinstance(role, dict) else None
        if not isinstance(role_id, str) or role_id.strip().lower() not in ENTRA_ROLES:
            raise _bad(
                f"The role definition id '{role_id}' is not supported: use the template id of one of "
                + ", ".join(ENTRA_ROLES.values())
                + "."
            )
        ids.append(role_id.strip().lower())
    return ids


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def _store_error(exc: InvalidChange | AlreadyExists | NotFound) -> GraphError:
    """The Graph error for a refusal from the store."""
    if isinstance(exc, AlreadyExists):
        return GraphError(409, "conflict", str(exc))
    if isinstance(exc, NotFound):
        return GraphError(404, "notFound", str(exc))
    return _bad(str(exc))
