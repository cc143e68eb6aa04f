"""OAuth access tokens for Exchange Online's REST API, one per tenant, through msal.

Three ways to sign in, each a small object :class:`TokenProvider` takes:

- :class:`aobo.toolkit.credential.Credential`: delegated, user name and password (ROPC, what
  partner scripts use);
- :class:`DeviceCode`: delegated, msal's device code flow; its message goes to standard error;
- :class:`AppCredential`: app-only (client credentials) with a client secret or a certificate.

A token is asked for per tenant at ``<authority>/<tenant>``. Delegated sign-in happens once: the
refresh token in msal's cache then gets a token for every other customer silently (what Microsoft's
GDAP samples do with ``-Tenant $CustomerTenantId -RefreshToken``). A token is reused until less than
``refresh_margin`` seconds remain, then refreshed, so a two-hour fan-out never sends an expired one;
:meth:`TokenProvider.token` with ``force_refresh=True`` is what a 401 asks for.

msal is synchronous: the async entry point runs it on a worker thread, one tenant at a time per
tenant (a lock each), so a fan-out's first wave does not sign in twenty times for one tenant.
Tokens and secrets never appear in a repr, a log line or an error message; the msal cache, when
persisted, is a file only its owner can read (0600).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NoReturn
from urllib.parse import urlsplit

import httpx

from aobo.toolkit.credential import MASK, Credential, _Secret
from aobo.toolkit.errors import AuthError, ConnectError, ToolkitError, TransientError
from aobo.toolkit.transport import ssl_context

__all__ = [
    "DEFAULT_AUTHORITY",
    "ENV_CLIENT_SECRET",
    "EXO_CLIENT_ID",
    "EXO_SCOPE",
    "AccessToken",
    "AppCredential",
    "DeviceCode",
    "SignIn",
    "TokenProvider",
    "default_cache_path",
]

DEFAULT_AUTHORITY: Final = "https://login.microsoftonline.com"
#: The ExchangeOnlineManagement module's public client id.
EXO_CLIENT_ID: Final = "fb78d390-0c51-40cd-8e17-fdbfab77341b"
EXO_SCOPE: Final = "https://outlook.office365.com/.default"
ENV_CLIENT_SECRET: Final = "AOBO_CLIENT_SECRET"
#: Refresh a token when less than this many seconds of it remain (msal itself uses 5 minutes).
REFRESH_MARGIN: Final = 300.0


class AuthConfigError(ToolkitError):
    """A sign-in that cannot even be attempted: no secret, an unreadable certificate."""


# ------------------------------------------------------------------------------------------------ sign-ins


@dataclass(frozen=True, slots=True)
class DeviceCode:
    """Delegated sign-in with the device code flow; ``username`` (optional) picks the cached account
    and the home tenant the first sign-in goes to. Without it, a persisted token cache is used only
    when it holds exactly one account; with several, a new device sign-in decides who it is."""

    username: str | None = None


@dataclass(frozen=True, slots=True)
class _Certificate:
    private_key: _Secret
    thumbprint: str


class AppCredential:
    """App-only sign-in (client credentials): the app id and a client secret or a certificate.

    ``AppCredential.with_certificate(app_id, "app.pem")`` reads a PEM file holding the private key
    and its certificate (the thumbprint is computed from the certificate unless given).
    """

    __slots__ = ("_certificate", "_secret", "app_id")

    def __init__(self, app_id: str, *, secret: str | None = None, certificate: _Certificate | None = None) -> None:
        if not app_id or not app_id.strip():
            raise AuthConfigError("app-only sign-in needs an application (client) id")
        if (secret is None) == (certificate is None):
            raise AuthConfigError("app-only sign-in needs a client secret or a certificate (one of them)")
        if secret is not None and not secret:
            raise AuthConfigError(f"the client secret of {app_id.strip()} is empty")
        self.app_id = app_id.strip()
        self._secret = _Secret(secret) if secret is not None else None
        self._certificate = certificate

    @classmethod
    def from_env(cls, app_id: str, environ: Mapping[str, str] | None = None) -> AppCredential:
        """The client secret from ``AOBO_CLIENT_SECRET`` (never a command-line argument)."""
        env = os.environ if environ is None else environ
        secret = env.get(ENV_CLIENT_SECRET)
        if not secret:
            raise AuthConfigError(f"environment variable {ENV_CLIENT_SECRET} is not set")
        return cls(app_id, secret=secret)

    @classmethod
    def with_certificate(
        cls, app_id: str, pem_file: str | Path, *, thumbprint: str | None = None, passphrase: str | None = None
    ) -> AppCredential:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization

        path = Path(pem_file).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AuthConfigError(f"cannot read the certificate file {path}: {exc.strerror or exc}") from None
        try:
            key = serialization.load_pem_private_key(data, passphrase.encode() if passphrase else None)
        except (ValueError, TypeError) as exc:
            raise AuthConfigError(f"{path} holds no usable PEM private key: {exc}") from None
        if thumbprint is None:
            try:
                cert = x509.load_pem_x509_certificate(data)
            except ValueError:
                raise AuthConfigError(
                    f"{path} holds no certificate: add it to the file or give the thumbprint"
                ) from None
            thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()  # what Entra shows for the certificate
        unencrypted = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return cls(app_id, certificate=_Certificate(_Secret(unencrypted), thumbprint.replace(":", "").upper()))

    def _msal_credential(self) -> Any:
        if self._secret is not None:
            return self._secret.reveal()
        assert self._certificate is not None
        return {"private_key": self._certificate.private_key.reveal(), "thumbprint": self._certificate.thumbprint}

    @property
    def kind(self) -> str:
        return "secret" if self._secret is not None else "certificate"

    def __repr__(self) -> str:
        return f"AppCredential({self.app_id!r}, {self.kind}={MASK!r})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("AppCredential objects cannot be pickled: that would write the secret in clear text")


SignIn = Credential | DeviceCode | AppCredential


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and when it expires (``clock()`` seconds); its repr hides the token."""

    value: str = field(repr=False)
    expires_at: float

    def remaining(self, now: float) -> float:
        return self.expires_at - now

    def __repr__(self) -> str:
        return f"AccessToken({MASK!r}, expires_at={self.expires_at:.0f})"


def default_cache_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/aobo/msal-token-cache.json`` (``~/.cache/aobo/...`` by default)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "aobo" / "msal-token-cache.json"


def _print_device_message(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ msal's HTTP


class MsalHttpClient:
    """msal's ``http_client`` over httpx, with the toolkit's TLS settings and no proxies from the
    environment (as the sessions). msal asks ``https://<host>/common/userrealm/...`` without the
    authority's port (Entra is always on 443); for an authority on another port that URL is sent
    there."""

    def __init__(self, authority: str, *, ca_file: str | None = None, insecure: bool = False) -> None:
        parts = urlsplit(authority)
        self._base = f"{parts.scheme}://{parts.netloc}"
        self._portless = f"https://{parts.hostname}/" if parts.port not in (None, 443) else None
        verify = ssl_context(ca_file, insecure) if parts.scheme == "https" else True
        self._client = httpx.Client(verify=verify, trust_env=False, timeout=httpx.Timeout(30.0, connect=15.0))

    def _url(self, url: str) -> str:
        if self._portless and url.startswith(self._portless):
            return f"{self._base}/{url[len(self._portless) :]}"
        return url

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> httpx.Response:
        return self._client.get(self._url(url), params=params, headers=_headers(headers), timeout=kwargs.get("timeout"))

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> httpx.Response:
        timeout = kwargs.get("timeout")
        if isinstance(data, str | bytes):
            return self._client.post(
                self._url(url), params=params, content=data, headers=_headers(headers), timeout=timeout
            )
        return self._client.post(self._url(url), params=params, data=data, headers=_headers(headers), timeout=timeout)

    def close(self) -> None:
        self._client.close()


def _headers(headers: Any) -> dict[str, str] | None:
    # msal puts None values in (a missing correlation id); httpx refuses them.
    return {k: v for k, v in headers.items() if v is not None} if headers else None


# ------------------------------------------------------------------------------------------------ the provider


class TokenProvider:
    """Access tokens for one sign-in, per tenant; shared by every session of a fan-out.

    ``authority`` is the identity service (default Microsoft's); ``tenant`` names in :meth:`token`
    are customer domains or tenant ids. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        sign_in: SignIn,
        *,
        authority: str | None = None,
        client_id: str | None = None,
        scopes: tuple[str, ...] = (EXO_SCOPE,),
        ca_file: str | Path | None = None,
        insecure: bool = False,
        cache_path: str | Path | None = None,
        refresh_margin: float = REFRESH_MARGIN,
        on_device_code: Callable[[str], None] = _print_device_message,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import msal

        self.sign_in = sign_in
        self.authority = (authority or DEFAULT_AUTHORITY).rstrip("/")
        parts = urlsplit(self.authority)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AuthConfigError(f"the authority must be an https URL such as {DEFAULT_AUTHORITY}, not {authority!r}")
        if parts.scheme == "http" and not insecure:
            # Passwords, client secrets and refresh tokens would travel in clear text.
            raise AuthConfigError(
                f"the authority must be an https URL such as {DEFAULT_AUTHORITY}, not {authority!r}; "
                "plain http only with insecure=True (a test server)"
            )
        self.client_id = client_id or EXO_CLIENT_ID
        self.scopes = list(scopes)
        self.refresh_margin = refresh_margin
        self._on_device_code = on_device_code
        self._clock = clock
        self._http = MsalHttpClient(
            self.authority, ca_file=str(ca_file) if ca_file is not None else None, insecure=insecure
        )
        self._microsoft = parts.hostname == urlsplit(DEFAULT_AUTHORITY).hostname
        self._cache_path = Path(cache_path).expanduser() if cache_path is not None else None
        self._cache = msal.SerializableTokenCache()
        self._load_cache()
        self._apps: dict[str, Any] = {}
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()  # the app table, the memo, the cache file
        self._tenant_locks: dict[str, threading.Lock] = {}
        self._sign_in_lock = threading.Lock()
        self._async_locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._device_user: str | None = None

    # --- who

    @property
    def app_only(self) -> bool:
        return isinstance(self.sign_in, AppCredential)

    @property
    def username(self) -> str | None:
        """The signed-in user (delegated), or None (app-only, or a device code without a hint yet)."""
        if isinstance(self.sign_in, Credential):
            return self.sign_in.username
        if isinstance(self.sign_in, DeviceCode):
            return self.sign_in.username or self._device_user
        return None

    @property
    def home_tenant(self) -> str | None:
        """The user's own tenant, from the domain of the user name."""
        name = self.username
        return name.rpartition("@")[2] or None if name and "@" in name else None

    @property
    def display_name(self) -> str:
        if isinstance(self.sign_in, AppCredential):
            return f"app {self.sign_in.app_id}"
        return self.username or "device code sign-in"

    def authority_for(self, tenant: str) -> str:
        return f"{self.authority}/{tenant}"

    # --- tokens

    async def token(self, tenant: str, *, force_refresh: bool = False) -> str:
        """A bearer token for ``tenant`` with at least ``refresh_margin`` seconds left."""
        key = tenant.casefold()
        cached = self._fresh(key)
        if cached is not None and not force_refresh:
            return cached.value
        lock = self._async_lock(key)
        async with lock:
            cached = self._fresh(key)
            if cached is not None and not force_refresh:
                return cached.value  # another task refreshed it meanwhile
            return (await asyncio.to_thread(self.acquire, tenant, force_refresh=force_refresh)).value

    def acquire(self, tenant: str, *, force_refresh: bool = False) -> AccessToken:
        """The synchronous core: memo, then msal's cache (refreshing if needed), then a sign-in."""
        key = tenant.casefold()
        with self._tenant_lock(key):
            cached = self._fresh(key)
            if cached is not None and not force_refresh:
                return cached
            stale = force_refresh or key in self._tokens
            try:
                result = self._acquire(tenant, force_refresh=stale)
            except httpx.TimeoutException:
                raise TransientError(f"The identity service {self.authority} timed out.") from None
            except httpx.TransportError as exc:
                raise TransientError(f"Connecting to the identity service {self.authority} failed: {exc}.") from None
            except ValueError as exc:  # msal: bad authority, openid configuration unreadable
                raise ConnectError(f"The identity service {self.authority_for(tenant)} cannot be used: {exc}") from None
            token = self._token_from(result, tenant)
            with self._lock:
                self._tokens[key] = token
                self._save_cache()
            return token

    def invalidate(self, tenant: str) -> None:
        with self._lock:
            self._tokens.pop(tenant.casefold(), None)

    def _fresh(self, key: str) -> AccessToken | None:
        token = self._tokens.get(key)
        if token is None or token.remaining(self._clock()) < self.refresh_margin:
            return None
        return token

    def _token_from(self, result: Mapping[str, Any] | None, tenant: str) -> AccessToken:
        if not result or "access_token" not in result:
            raise _auth_error(result, tenant)
        return AccessToken(str(result["access_token"]), self._clock() + float(result.get("expires_in", 3600)))

    def _acquire(self, tenant: str, *, force_refresh: bool) -> Mapping[str, Any] | None:
        sign_in = self.sign_in
        app = self._app(tenant)
        if isinstance(sign_in, AppCredential):
            # msal's client-credentials cache has no refresh token: a forced refresh is a new grant.
            if force_refresh:
                self._forget_app_tokens(app)
            return app.acquire_token_for_client(self.scopes)
        result = self._silent(app, force_refresh)
        if result is not None and "access_token" in result:
            return result
        # One sign-in at a time: the tenants of a fan-out's first wave wait for it, then go silently.
        with self._sign_in_lock:
            result = self._silent(app, force_refresh=False)
            if result is not None and "access_token" in result:
                return result
            if isinstance(sign_in, Credential):
                return app.acquire_token_by_username_password(sign_in.username, sign_in.password(), self.scopes)
            if result is not None:
                return result  # signed in already, and this tenant refused: asking for a new code would not help
            return self._device_flow(tenant)

    def _silent(self, app: Any, force_refresh: bool) -> Mapping[str, Any] | None:
        """A token from the cache (refreshed if needed); msal's error if an account is there but no
        token came; None when nobody has signed in yet."""
        accounts = self._cached_accounts(app)
        result: Mapping[str, Any] | None = None
        for account in accounts:
            result = app.acquire_token_silent_with_error(self.scopes, account, force_refresh=force_refresh)
            if result and "access_token" in result:
                return result
        if accounts and not result:
            return {"error": "interaction_required", "error_description": "The cached sign-in gave no token."}
        return result

    def _cached_accounts(self, app: Any) -> list[dict[str, Any]]:
        """The cached accounts this sign-in may use: those of its user name; with none given (a
        :class:`DeviceCode` without one, before its sign-in), the persisted cache's account only when
        it holds exactly one, so another person's sign-in is never picked silently."""
        if self.username:
            return list(app.get_accounts(username=self.username))
        accounts = list(app.get_accounts())
        if len(accounts) != 1:
            return []
        self._device_user = accounts[0].get("username") or None
        return accounts

    def _device_flow(self, tenant: str) -> Mapping[str, Any] | None:
        # The first sign-in goes to the user's home tenant when known; others then come from its refresh token.
        home = self.home_tenant
        app = self._app(home) if home else self._app(tenant)
        flow = app.initiate_device_flow(scopes=self.scopes)
        if "user_code" not in flow:
            return flow
        self._on_device_code(str(flow.get("message") or f"Enter the code {flow['user_code']}"))
        result = app.acquire_token_by_device_flow(flow)
        if result and "access_token" in result:
            claims = result.get("id_token_claims") or {}
            self._device_user = claims.get("preferred_username") or self._device_user
            if home is not None and home.casefold() != tenant.casefold():
                return self._silent(self._app(tenant), force_refresh=False)  # from the refresh token
        return result

    def _forget_app_tokens(self, app: Any) -> None:
        """Drop the app's cached tokens for this tenant, so the next call is a new grant."""
        realm = app.authority.tenant.casefold()
        for entry in list(self._cache.search(self._cache.CredentialType.ACCESS_TOKEN)):
            if entry.get("client_id") == app.client_id and entry.get("realm", "").casefold() == realm:
                self._cache.remove_at(entry)

    def _app(self, tenant: str) -> Any:
        import msal

        key = tenant.casefold()
        with self._lock:
            app = self._apps.get(key)
        if app is not None:
            return app
        options: dict[str, Any] = {
            "authority": self.authority_for(tenant),
            "token_cache": self._cache,
            "http_client": self._http,
        }
        if not self._microsoft:
            options["instance_discovery"] = False  # msal would ask Microsoft whether the host is an authority
        if isinstance(self.sign_in, AppCredential):
            app = msal.ConfidentialClientApplication(
                self.sign_in.app_id, client_credential=self.sign_in._msal_credential(), **options
            )
        else:
            app = msal.PublicClientApplication(self.client_id, **options)
        with self._lock:
            return self._apps.setdefault(key, app)

    def _tenant_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._tenant_locks.setdefault(key, threading.Lock())

    def _async_lock(self, key: str) -> asyncio.Lock:
        loop_id = id(asyncio.get_running_loop())
        with self._lock:
            return self._async_locks.setdefault((loop_id, key), asyncio.Lock())

    # --- the cache file

    def _load_cache(self) -> None:
        path = self._cache_path
        if path is None or not path.exists():
            return
        with contextlib.suppress(OSError, ValueError):  # an unreadable cache only costs a sign-in
            self._cache.deserialize(path.read_text(encoding="utf-8"))

    def _save_cache(self) -> None:
        path = self._cache_path
        if path is None or not self._cache.has_state_changed:
            return
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self._cache.serialize())
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self._cache.has_state_changed = False

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"<TokenProvider {self.display_name} at {self.authority}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("TokenProvider objects cannot be pickled: they hold tokens")


def _auth_error(result: Mapping[str, Any] | None, tenant: str) -> AuthError:
    """msal's error answer as the toolkit's: Entra's own text (``AADSTS50126: ...``), no token."""
    if not result:
        return AuthError(f"No token for {tenant}: the sign-in was not completed.")
    description = str(result.get("error_description") or result.get("error") or "the sign-in failed")
    first = description.splitlines()[0].strip()
    return AuthError(f"No token for {tenant}: {first}")
