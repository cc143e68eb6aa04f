"""Sessions over Exchange Online's REST API (``InvokeCommand``) with OAuth, shaped like the PSRP ones.

:func:`open_rest_session` (async) and :func:`connect_rest` (sync, what ``aobo.connect(...,
transport="rest")`` calls) give a session with the same surface as :mod:`aobo.toolkit.session`:
``invoke`` → :class:`~aobo.toolkit.session.InvokeResult` of :class:`~aobo.toolkit.records.Record`,
``stream`` (page by page, following ``@odata.nextLink`` with the same body), ``close`` (nothing to
free on the server; idempotent) and context managers, so callers do not care which transport runs.

A :class:`RestConnector` holds what sessions share: the :class:`~aobo.toolkit.auth.TokenProvider`
(a token per tenant) and one kept-alive ``httpx.AsyncClient`` per event loop, so a fan-out across
hundreds of tenants reuses its TLS connections. REST has no session limit; a fan-out's concurrency
is its own choice.

Retries: 429 and 503 (the service did not run the command) are retried after their
``Retry-After`` (capped), connection failures before the request went out are retried, and a
request whose connection broke after it was sent is retried only for a read (``Get-``/``Test-``):
a write may have been applied, so it is reported, never sent twice. A next page (``$skiptoken``)
is not retried either once it may have reached the service, which consumes the token: the command
fails with a :class:`TransientError` saying the listing must be run again. A 401 gets one forced
token refresh and one retry.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
import orjson

from aobo.toolkit import restwire
from aobo.toolkit.auth import AppCredential, DeviceCode, SignIn, TokenProvider
from aobo.toolkit.credential import MASK, Credential, _Secret
from aobo.toolkit.errors import AuthError, CommandError, ConnectError, ToolkitError, TransientError
from aobo.toolkit.names import pascal_case, snake_case
from aobo.toolkit.session import (
    BatchStream,
    InvokeResult,
    Session,
    SyncPipelineStream,
    _call,
    _command_specs,
    _LoopThread,
)
from aobo.toolkit.transport import _caused_by_tls, _warn_insecure, ssl_context

__all__ = [
    "AsyncRestSession",
    "RestConnector",
    "RestOpener",
    "RestPipelineStream",
    "RestSession",
    "connect_rest",
    "open_rest_session",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_AGENT: Final = "aobo-toolkit/1 (REST)"
MAX_ATTEMPTS: Final = 5
MAX_RETRY_AFTER: Final = 60.0
#: Verbs whose cmdlets change nothing: safe to send again after a broken connection.
READ_VERBS: Final = frozenset({"get", "test"})


def is_read_only(cmdlet: str) -> bool:
    return cmdlet.partition("-")[0].casefold() in READ_VERBS


def retry_after(response: httpx.Response, *, default: float, cap: float, now: Callable[[], float] = time.time) -> float:
    """Seconds to wait: ``Retry-After`` as seconds or an HTTP date, else ``default``; at most ``cap``."""
    value = response.headers.get("retry-after", "").strip()
    delay = default
    if value:
        try:
            delay = float(value)
        except ValueError:
            try:
                delay = email.utils.parsedate_to_datetime(value).timestamp() - now()
            except (TypeError, ValueError):
                delay = default  # neither seconds nor a date: the caller's backoff
    return max(0.0, min(cap, delay))


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` added as the request leaves; the token is kept in a masked
    holder, so a traceback's locals or a repr never show it."""

    def __init__(self, token: str) -> None:
        self._token = _Secret(token)

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request

    def __repr__(self) -> str:
        return f"BearerAuth({MASK!r})"


# ------------------------------------------------------------------------------------------------ connector


class RestConnector:
    """Tokens and HTTP connections shared by the REST sessions of one sign-in."""

    def __init__(
        self,
        tokens: TokenProvider,
        *,
        uri: str | None = None,
        ca_file: str | Path | None = None,
        insecure: bool = False,
        api_version: str = restwire.DEFAULT_API_VERSION,
        max_attempts: int = MAX_ATTEMPTS,
        max_retry_after: float = MAX_RETRY_AFTER,
        connect_timeout: float = 15.0,
        read_timeout: float = 300.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        http_transport: httpx.AsyncBaseTransport | None = None,
        owns_tokens: bool = False,
    ) -> None:
        if insecure:
            _warn_insecure()
        self.tokens = tokens
        self.base = restwire.rest_base(uri)
        self.api_version = api_version
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._verify = (
            ssl_context(str(ca_file) if ca_file is not None else None, insecure)
            if self.base.startswith("https")
            else True
        )
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._http_transport = http_transport
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._owns_tokens = owns_tokens
        self._rng = random.Random()

    def client(self) -> httpx.AsyncClient:
        """This loop's client (an httpx client belongs to the loop that first used it)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                verify=self._verify,
                http1=True,
                http2=False,
                trust_env=False,
                follow_redirects=False,
                timeout=self._timeout,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=100.0),
                headers={"User-Agent": USER_AGENT},
                transport=self._http_transport,
            )
            self._clients[loop] = client
        return client

    async def open(self, org: str | None) -> AsyncRestSession:
        """A session in ``org`` (None: the signed-in user's own tenant). Its first token is fetched
        now, so a refused sign-in or a tenant that is not a customer fails here, as a PSRP open does."""
        session = AsyncRestSession(self, org)
        await self.tokens.token(session.tenant)
        session._loop = asyncio.get_running_loop()
        return session

    async def aclose(self) -> None:
        """Close this loop's connections (and the token provider, if this connector made it)."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()
        if self._owns_tokens and not self._clients:
            await asyncio.to_thread(self.tokens.close)

    def backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.max_retry_after, 2.0 ** max(0, attempt - 1)))

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)

    def __repr__(self) -> str:
        return f"<RestConnector {self.base} as {self.tokens.display_name}>"


# ------------------------------------------------------------------------------------------------ streams


class RestPipelineStream(BatchStream):
    """One command's output page by page (``async for``), with its warnings; like PSRP's stream.

    A REST call runs one cmdlet: a pipeline of several is refused before anything is sent.
    """

    def __init__(self, session: AsyncRestSession, specs: list[Any]) -> None:
        super().__init__("NotStarted")
        self._batches = session._pages(specs, self)


# ------------------------------------------------------------------------------------------------ session


class AsyncRestSession:
    """A customer tenant reached over REST: ``invoke``, ``stream``, ``close`` like :class:`AsyncSession`."""

    def __init__(self, connector: RestConnector, org: str | None) -> None:
        tokens = connector.tokens
        tenant = org or tokens.home_tenant
        if not tenant:
            raise ConnectError(
                "No tenant: an app-only or device code sign-in needs the organisation "
                "(the customer's domain or tenant id)."
            )
        self.org = org
        self.tenant = tenant
        self.url = restwire.invoke_url(connector.base, tenant, connector.api_version)
        self.shell_id = str(uuid.uuid4())  # the connection-id header: one per session, as the module sends
        self.application_private_data: dict[str, Any] = {}
        self._connector = connector
        self._anchor = restwire.anchor_mailbox(tenant, username=tokens.username, home_tenant=tokens.home_tenant)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def username(self) -> str:
        return self._connector.tokens.display_name

    @property
    def transport(self) -> str:
        return "rest"

    def stream(self, command: Any, /, **parameters: Any) -> RestPipelineStream:
        """``async for record in session.stream("Get-Mailbox", ResultSize="Unlimited")``, page by page."""
        return RestPipelineStream(self, _command_specs(command, parameters))

    async def invoke(self, command: Any, /, **parameters: Any) -> InvokeResult:
        """Run one cmdlet to its end (every page); an Exchange error raises :class:`CommandError`."""
        return await self.stream(command, **parameters).collect()

    async def command_names(self) -> list[str]:
        """The cmdlets the service offers (``EXOModuleFile``'s ``exportedCmdlets``)."""
        url = restwire.module_file_url(self._connector.base, self.tenant)
        payload = await self._request("GET", url, None, "*")
        value = payload.get("value") if isinstance(payload, dict) else None
        if isinstance(value, list):  # an entity set of one module file
            value = value[0] if value else {}
        names = value.get("exportedCmdlets", "") if isinstance(value, dict) else ""
        if isinstance(names, list):
            return [str(n).strip() for n in names if str(n).strip()]
        return [n.strip() for n in str(names).split(",") if n.strip()]

    async def import_commands(self, names: Any = None, **options: Any) -> RestCommands:
        """Python functions named after the cmdlets (``ex.get_mailbox(result_size=5)``); REST gives
        names, not signatures, so parameters are not checked before sending."""
        known = await self.command_names()
        if names is not None:
            wanted = {str(n).casefold() for n in ([names] if isinstance(names, str) else names)}
            known = [n for n in known if n.casefold() in wanted]
        return RestCommands(self, known)

    async def close(self) -> None:
        """Nothing to free on the server; later calls are refused. Idempotent."""
        self._closed = True

    async def __aenter__(self) -> AsyncRestSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<AsyncRestSession {self.org or self.tenant} {state}>"

    # --- one command, page by page

    async def _pages(self, specs: list[Any], sink: RestPipelineStream) -> AsyncIterator[list[Any]]:
        if self._closed:
            raise ConnectError("The session is closed.")
        if len(specs) != 1:
            names = " | ".join(name for name, _ in specs)
            raise CommandError(
                f"The REST API runs one cmdlet per request, not the pipeline {names}; "
                "run pipelines over remote PowerShell (--transport rps).",
                fully_qualified_error_id="PipelineNotSupportedOverRest",
                category="InvalidOperation",
                terminating=True,
            )
        cmdlet, pairs = specs[0]
        try:
            body = restwire.request_body(cmdlet, pairs)
        except ValueError as exc:
            raise CommandError(str(exc), category="InvalidArgument", activity=cmdlet, terminating=True) from None
        url: str | None = self.url
        continuation = False
        sink.state = "Running"
        try:
            while url is not None:
                payload = await self._request("POST", url, body, cmdlet, continuation=continuation)
                continuation = True
                page = restwire.parse_page(payload, cmdlet)
                sink.warnings.extend(page.warnings)
                if page.records:
                    yield page.records
                url = self._next(page.next_link, url)
        except CommandError as exc:
            sink.state, sink.failure = "Failed", exc
            raise
        except BaseException:
            sink.state = "Stopped"
            raise
        sink.state = "Completed"

    def _next(self, link: str | None, current: str) -> str | None:
        if not link:
            return None
        url = restwire.absolute(link, current)
        if not restwire.same_origin(url, self._connector.base):
            # The token goes with every request: never to a host other than the service's.
            raise ConnectError(f"The service's next page link points elsewhere ({url}); not followed.")
        return url

    # --- one HTTP request, with its retries

    async def _request(self, method: str, url: str, body: Any, cmdlet: str, *, continuation: bool = False) -> Any:
        """``continuation``: the request follows an ``@odata.nextLink``, whose ``$skiptoken`` the
        service consumes when it reads it, so it is never sent again once it may have arrived."""
        connector = self._connector
        tokens = connector.tokens
        read_only = method == "GET" or is_read_only(cmdlet)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            auth = BearerAuth(await tokens.token(self.tenant, force_refresh=False))
            headers = restwire.request_headers(cmdlet=cmdlet, anchor=self._anchor, connection_id=self.shell_id)
            try:
                response = await connector.client().request(method, url, json=body, headers=headers, auth=auth)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                tls = _caused_by_tls(exc)
                if tls is not None:
                    raise ConnectError(
                        f"The TLS connection to {connector.base} could not be verified: {tls}. Pass ca_file= with "
                        "the server's CA certificate (or insecure=True for a test server)."
                    ) from None
                # Nothing reached the server: safe to send again, reads and writes alike.
                if attempt < connector.max_attempts:
                    await connector.sleep(connector.backoff(attempt))
                    continue
                raise TransientError(f"Connecting to {connector.base} failed: {exc or type(exc).__name__}.") from None
            except httpx.TransportError as exc:
                if continuation:
                    raise _listing_interrupted(connector.base, cmdlet, type(exc).__name__) from None
                if not read_only:
                    raise ConnectError(
                        f"The connection to {connector.base} broke after {cmdlet} was sent ({type(exc).__name__}); "
                        "it may have been applied, so it is not sent again. Check, then run it again if needed."
                    ) from None
                if attempt < connector.max_attempts:
                    await connector.sleep(connector.backoff(attempt))
                    continue
                raise TransientError(f"{connector.base} did not answer {cmdlet} ({type(exc).__name__}).") from None
            status = response.status_code
            if status in (200, 201):
                return _json(response)
            if status == 204:
                return {}
            if status == 401 and not refreshed:
                refreshed = True
                tokens.invalidate(self.tenant)
                await tokens.token(self.tenant, force_refresh=True)
                attempt -= 1  # the refresh is not a retry
                continue
            if status in (429, 503):
                # Throttled or busy: the command did not run, so writes may be sent again too.
                if attempt < connector.max_attempts:
                    delay = retry_after(response, default=connector.backoff(attempt), cap=connector.max_retry_after)
                    log.debug("%s answered %s for %s; retrying in %.1f s", connector.base, status, cmdlet, delay)
                    await connector.sleep(delay)
                    continue
                raise TransientError(f"{connector.base} answered HTTP {status} {response.reason_phrase} for {cmdlet}.")
            payload = _json_or_none(response)
            if status in (401, 403):
                message = restwire.command_error(payload, status=status, cmdlet=cmdlet).message
                has_text = isinstance(payload, dict) and "error" in payload
                raise AuthError(message if has_text else "Access is denied.")
            if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
                raise restwire.command_error(payload, status=status, cmdlet=cmdlet, reason=response.reason_phrase)
            if status in (502, 504) and continuation:
                raise _listing_interrupted(connector.base, cmdlet, f"HTTP {status}")
            if status in (502, 504) and read_only:
                if attempt < connector.max_attempts:
                    await connector.sleep(connector.backoff(attempt))
                    continue
                raise TransientError(f"{connector.base} answered HTTP {status} {response.reason_phrase}.")
            raise ConnectError(f"{connector.base} answered HTTP {status} {response.reason_phrase} for {cmdlet}.")


def _listing_interrupted(base: str, cmdlet: str, cause: str) -> TransientError:
    # Retryable as a whole: a fan-out runs the command again from its first page (rows of the
    # failed attempt discarded); the page itself cannot be asked for again.
    return TransientError(
        f"The listing of {cmdlet} from {base} was interrupted ({cause}) while fetching a next page; the service "
        "does not serve a page twice, so the listing is incomplete. Run the command again."
    )


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return {}
    try:
        # orjson: a page of 1000 full mailboxes is ~9 MB of JSON, and parsing it is the client's hot path.
        return orjson.loads(response.content)
    except ValueError:
        raise ConnectError(f"The service answered HTTP {response.status_code} with a body that is not JSON.") from None


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except ValueError:
        return None


class RestCommands:
    """Cmdlets as Python callables: ``ex.get_mailbox(result_size=5)`` → ``Get-Mailbox -ResultSize 5``."""

    def __init__(self, session: Any, names: list[str]) -> None:
        self._session = session
        self._by_python = {snake_case(n): n for n in names}

    @property
    def names(self) -> list[str]:
        return sorted(self._by_python.values())

    def __getattr__(self, name: str) -> Callable[..., Any]:
        cmdlet = self._by_python.get(name)
        if cmdlet is None:
            raise AttributeError(f"no cmdlet for {name!r}")

        def call(*args: Any, **kwargs: Any) -> Any:
            params = {pascal_case(k): v for k, v in kwargs.items()}
            if args:
                params["Identity"] = args[0]
            return self._session.invoke(cmdlet, **params)

        call.__name__ = name
        call.__doc__ = f"{cmdlet} over REST (parameters by name, e.g. result_size=5)."
        return call

    def __dir__(self) -> list[str]:
        return sorted(self._by_python)


# ------------------------------------------------------------------------------------------------ openers


def token_provider(
    sign_in: SignIn | TokenProvider,
    *,
    authority: str | None = None,
    client_id: str | None = None,
    ca_file: str | Path | None = None,
    insecure: bool = False,
    token_cache: str | Path | None = None,
) -> tuple[TokenProvider, bool]:
    """A provider for ``sign_in`` (or ``sign_in`` itself), and whether the caller owns it."""
    if isinstance(sign_in, TokenProvider) or (hasattr(sign_in, "token") and hasattr(sign_in, "invalidate")):
        return sign_in, False  # a provider (or one shaped like it) is shared, not owned
    if not isinstance(sign_in, Credential | DeviceCode | AppCredential):
        # Anything with a user name and a password() (the tests' credentials, a keyring wrapper).
        sign_in = Credential(str(sign_in.username), sign_in.password())
    provider = TokenProvider(
        sign_in, authority=authority, client_id=client_id, ca_file=ca_file, insecure=insecure, cache_path=token_cache
    )
    return provider, True


async def open_rest_session(
    org: str | None,
    sign_in: SignIn | TokenProvider,
    *,
    uri: str | None = None,
    authority: str | None = None,
    client_id: str | None = None,
    ca_file: str | Path | None = None,
    insecure: bool = False,
    token_cache: str | Path | None = None,
) -> AsyncRestSession:
    """A REST session in ``org`` with its own connector (closed with the session)."""
    tokens, owned = token_provider(
        sign_in, authority=authority, client_id=client_id, ca_file=ca_file, insecure=insecure, token_cache=token_cache
    )
    connector = RestConnector(tokens, uri=uri, ca_file=ca_file, insecure=insecure, owns_tokens=owned)
    try:
        session = await connector.open(org)
    except BaseException:
        await connector.aclose()
        raise
    return _OwningSession(session, connector)


class _OwningSession(AsyncRestSession):
    """A session that closes its connector with itself (one-off sessions, ``aobo.connect``)."""

    def __init__(self, session: AsyncRestSession, connector: RestConnector) -> None:
        self.__dict__.update(session.__dict__)
        self._owned = connector

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._owned.aclose()


class RestOpener:
    """The fan-out's opener for REST: ``opener(uri, credential, org, ca_file=..., insecure=...)``.

    One connector per account (credential) for the whole run, so tokens and connections are
    shared by every tenant; :meth:`aclose` (the fan-out calls it at the end) closes them.
    """

    def __init__(
        self,
        *,
        authority: str | None = None,
        client_id: str | None = None,
        token_cache: str | Path | None = None,
        **connector_options: Any,
    ) -> None:
        self._authority = authority
        self._client_id = client_id
        self._token_cache = token_cache
        self._options = connector_options
        self._connectors: dict[int, tuple[Any, RestConnector]] = {}

    def connector(self, credential: Any, uri: str | None, ca_file: Any, insecure: bool) -> RestConnector:
        found = self._connectors.get(id(credential))
        if found is not None:
            return found[1]
        tokens, owned = token_provider(
            credential,
            authority=self._authority,
            client_id=self._client_id,
            ca_file=ca_file,
            insecure=insecure,
            token_cache=self._token_cache,
        )
        connector = RestConnector(
            tokens, uri=uri, ca_file=ca_file, insecure=insecure, owns_tokens=owned, **self._options
        )
        self._connectors[id(credential)] = (credential, connector)  # the credential kept alive: ids stay unique
        return connector

    async def __call__(
        self, uri: str | None, credential: Any, org: str | None, *, ca_file: Any = None, insecure: bool = False
    ) -> AsyncRestSession:
        return await self.connector(credential, uri, ca_file, insecure).open(org)

    async def aclose(self) -> None:
        for _, connector in self._connectors.values():
            try:
                await connector.aclose()
            except Exception as exc:
                log.debug("closing %r: %s", connector, exc)
        self._connectors.clear()


# ------------------------------------------------------------------------------------------------ sync facade


class RestSession(Session):
    """A synchronous REST session (the async core runs on the toolkit's background loop). Use ``with``."""

    _inner: AsyncRestSession  # type: ignore[assignment]

    @property
    def transport(self) -> str:
        return "rest"

    @property
    def tenant(self) -> str:
        return self._inner.tenant

    def stream(self, command: Any, /, **parameters: Any) -> SyncPipelineStream:
        return SyncPipelineStream(self, self._inner.stream(command, **parameters))  # type: ignore[arg-type]

    def stream_pipeline(self, build: Any) -> SyncPipelineStream:
        raise ToolkitError("psrpcore pipelines need remote PowerShell (transport='rps').")

    def command_names(self) -> list[str]:
        return self._call(self._inner.command_names())

    def import_commands(self, names: Any = None, **options: Any) -> RestCommands:
        known = self.command_names()
        if names is not None:
            wanted = {str(n).casefold() for n in ([names] if isinstance(names, str) else names)}
            known = [n for n in known if n.casefold() in wanted]
        return RestCommands(self, known)

    def _interrupted(self) -> None:
        """Ctrl-C: the request's task is cancelled; there is nothing to remove on the server."""

    def __repr__(self) -> str:
        return repr(self._inner).replace("AsyncRestSession", "RestSession", 1)


def connect_rest(
    org: str | None,
    sign_in: SignIn | TokenProvider,
    *,
    uri: str | None = None,
    authority: str | None = None,
    client_id: str | None = None,
    ca_file: str | Path | None = None,
    insecure: bool = False,
    token_cache: str | Path | None = None,
) -> RestSession:
    """``aobo.connect(org, credential, transport="rest")``: Microsoft's endpoints unless ``uri`` and
    ``authority`` say otherwise."""
    loop = _LoopThread.loop()
    coro: Coroutine[Any, Any, AsyncRestSession] = open_rest_session(
        org,
        sign_in,
        uri=uri,
        authority=authority,
        client_id=client_id,
        ca_file=ca_file,
        insecure=insecure,
        token_cache=token_cache,
    )
    return RestSession(_call(loop, coro, lambda: None), loop)  # type: ignore[arg-type]
