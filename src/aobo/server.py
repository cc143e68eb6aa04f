"""Run the ASGI app under uvicorn: in the foreground for ``aobo serve``, in a thread for demos and tests.

Both paths bind the listening socket themselves and hand it to uvicorn, so a port that is taken is
reported as a clean :class:`AoboError` rather than uvicorn's ``sys.exit(3)``, and port 0 gives a
free port whose number is known before the app is built.

Nothing here logs request headers: uvicorn's access log prints the request line only, and its TRACE
level (whose message logger prints the ASGI scope, ``Authorization`` included) is never enabled.
Small responses must not wait for Nagle's algorithm: asyncio's socket transport sets TCP_NODELAY on
accepted connections, but only when the listener was created with ``proto=IPPROTO_TCP`` (see
:func:`listen`); ``tests/test_server.py`` checks the option on a live TLS connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import uvicorn
from rich import box
from rich.console import Console
from rich.table import Table

from aobo.errors import AoboError
from aobo.settings import Settings
from aobo.tls import ensure_self_signed

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from aobo.domain.seed import DemoWorld
    from aobo.domain.store import Store

__all__ = ["BackgroundServer", "build_uvicorn_config", "listen", "serve", "tls_files"]

#: Idle keep-alive connections stay open this long. Clients poll Receive in a loop and Windows'
#: WinRM client expects IIS's two-minute connection timeout; anything much shorter makes them
#: reconnect (and renegotiate TLS) between polls.
KEEP_ALIVE_SECONDS = 120
#: How long shutdown lets in-flight requests finish. A Receive long-poll may wait up to
#: ``max_operation_timeout``; past this it is cut off so that Ctrl+C stays prompt.
GRACEFUL_SHUTDOWN_SECONDS = 5


class _Server(uvicorn.Server):
    """uvicorn's server, except that shutdown drops idle keep-alive connections at once.

    uvicorn closes an idle connection gracefully; for TLS that sends close_notify and waits for the
    client's reply, which an idle client never reads, so every shutdown with a connected client
    would sit out the whole graceful timeout. Dropping a connection between requests is allowed
    by HTTP/1.1 and loses nothing.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            transport = getattr(connection, "transport", None)
            if transport is not None and (cycle is None or cycle.response_complete):
                transport.abort()
        await super().shutdown(sockets)


def tls_files(settings: Settings) -> tuple[Path, Path] | None:
    """The certificate and key to serve with, generating a self-signed pair if none was given."""
    if settings.insecure_http:
        return None
    if settings.cert_file and settings.key_file:
        # Load them once here so that a missing file or a key that does not match the certificate
        # is a one-line error instead of a traceback from inside uvicorn.
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(settings.cert_file, settings.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise AoboError(f"cannot use --cert {settings.cert_file} with --key {settings.key_file}: {exc}") from exc
        return settings.cert_file, settings.key_file
    if settings.cert_file or settings.key_file:
        raise AoboError("--cert and --key must be given together")
    return ensure_self_signed(settings.data_dir, [settings.host])


def listen(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # is IPPROTO_TCP, and sockets accepted from a proto-0 listener (socket.create_server) are not.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise AoboError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def build_uvicorn_config(
    app: ASGIApp,
    settings: Settings,
    ssl_files: tuple[Path, Path] | None,
    *,
    access_log: bool = False,
    configure_logging: bool = True,
    graceful_shutdown: int = GRACEFUL_SHUTDOWN_SECONDS,
) -> uvicorn.Config:
    """The uvicorn configuration shared by ``serve`` and :class:`BackgroundServer`.

    ``configure_logging=False`` leaves the process's logging alone (uvicorn otherwise installs its
    own handlers), which is what an embedded server in a test or the demo wants.
    """
    cert, key = ssl_files if ssl_files else (None, None)
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="asyncio",
        http="httptools",
        ws="none",
        lifespan="on",
        interface="asgi3",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=graceful_shutdown,
        access_log=access_log,
        log_config=uvicorn.config.LOGGING_CONFIG if configure_logging else None,
        log_level="info",
        # No reverse proxy is configured, so X-Forwarded-* from anyone must not rewrite the client.
        proxy_headers=False,
        server_header=False,
        ssl_certfile=cert,
        ssl_keyfile=key,
    )


def _build_app(store: Store, settings: Settings) -> ASGIApp:
    # Imported here so that commands that never serve (seed) do not load the protocol stack.
    from aobo.frontends.app import create_app

    return create_app(store, settings)


def serve(
    settings: Settings,
    store: Store,
    *,
    demo_world: DemoWorld | None = None,
    access_log: bool = False,
    console: Console | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly. Takes ownership of ``store``.

    Shutdown order: stop accepting, let in-flight requests finish (at most
    ``GRACEFUL_SHUTDOWN_SECONDS``), run the app's lifespan shutdown (which removes open sessions),
    then close the store.
    """
    console = console or Console()
    try:
        ssl_files = tls_files(settings)
        sock = listen(settings.host, settings.port)
        # Port 0 picks a free port: the settings (and the public URL derived from them) name it.
        settings = dataclasses.replace(settings, port=sock.getsockname()[1])
        try:
            app = _build_app(store, settings)
            config = build_uvicorn_config(app, settings, ssl_files, access_log=access_log)
            _print_banner(console, settings, ssl_files, demo_world)
            with _signals_end_quietly():
                _Server(config).run(sockets=[sock])
        finally:
            sock.close()
    finally:
        store.close()


@contextlib.contextmanager
def _signals_end_quietly() -> Iterator[None]:
    # uvicorn restores the handlers it found and then re-raises the signal that stopped it, so
    # that the default action runs. For SIGTERM that kills the process (exit status 143) and for
    # SIGINT it raises KeyboardInterrupt, although shutdown already completed. Handlers that do
    # nothing make a signalled stop an ordinary return, so ``aobo serve`` exits 0.
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _print_banner(
    console: Console,
    settings: Settings,
    ssl_files: tuple[Path, Path] | None,
    demo_world: DemoWorld | None,
) -> None:
    console.print(f"[bold]aobo[/] remote PowerShell endpoint: [cyan]{_display_url(settings)}[/]")
    console.print("  Partners add ?DelegatedOrg=<customer domain>. Configuration: Microsoft.Exchange")
    base = _display_url(settings).rsplit("/", 1)[0]
    rest = f"{base}/adminapi/beta/<tenant>/InvokeCommand"
    console.print(f"[bold]aobo[/] REST admin API: [cyan]{rest}[/]", highlight=False)
    authority = f"{settings.public_base_url}/<tenant>"
    console.print(f"  OAuth tokens (Entra-shaped, msal works): authority [cyan]{authority}[/]", highlight=False)
    if ssl_files:
        console.print(f"  TLS certificate: {ssl_files[0]}")
    else:
        console.print(
            "[bold red]WARNING: --insecure-http: Basic authentication sends user names and passwords "
            "in clear text. Use this only on a trusted loopback or test network.[/]"
        )
    if demo_world is not None:
        console.print(demo_accounts_table(demo_world))
        # Printed like the demo password: demo data only, derived from it.
        console.print(
            f"  App-only (client credentials): client id {demo_world.app_id}, secret {demo_world.app_secret}, "
            "Exchange Administrator in contoso.onmicrosoft.com",
            highlight=False,
        )
    console.print("Press Ctrl+C to stop.")


def _display_url(settings: Settings) -> str:
    return settings.endpoint_url(settings.display_host)


def demo_accounts_table(world: DemoWorld) -> Table:
    """The demo accounts a newcomer can sign in with, and the shared password."""
    customers = ", ".join(tenant.initial_domain for tenant in world.customers)
    others = ", ".join(tenant.initial_domain for tenant in world.others)
    gdap = ", ".join(tenant.initial_domain for tenant in world.gdap_customers)
    caption = f"{world.partner.initial_domain} is DAP partner of {customers}"
    caption += f", GDAP partner of {gdap}" if gdap else ""
    caption += f"; not of {others}."
    if not world.created:
        caption += " The demo world already existed: its password is the one it was created with."
    table = Table(title=f"Demo accounts, password {world.password}", caption=caption, box=box.SIMPLE_HEAD)
    table.add_column("Account", no_wrap=True)
    table.add_column("Role groups")
    table.add_column("Remote PowerShell")
    for account in world.accounts:
        table.add_row(
            account.user_principal_name,
            ", ".join(account.role_groups),
            "enabled" if account.remote_powershell_enabled else "disabled",
        )
    return table


class BackgroundServer:
    """The service under uvicorn in a daemon thread, on a free port (``settings.port`` is ignored).

    ``with BackgroundServer(settings, store) as server:`` then connect to ``server.url`` trusting
    ``server.ca_file``. Given ``app``, serves that app instead of aobo's (for tests of this module).
    Given no store, opens and migrates ``settings.database_url`` and closes it on stop.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        *,
        app: ASGIApp | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        self._requested = settings
        self._given_store = store
        self._given_app = app
        self._startup_timeout = startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._own_store = False
        self.settings = settings
        self.store: Store | None = store
        self.ca_file: Path | None = None
        self.app: ASGIApp | None = None

    @property
    def url(self) -> str:
        """The remote PowerShell endpoint, e.g. ``https://127.0.0.1:50123/powershell-liveid``."""
        return self.settings.endpoint_url()

    @property
    def base_url(self) -> str:
        return f"{self.settings.scheme}://{self.settings.host}:{self.settings.port}"

    @property
    def public_url(self) -> str:
        """The identity endpoint's issuer base: ``settings.public_url``, else :attr:`base_url`."""
        return self.settings.public_base_url

    def start(self) -> BackgroundServer:
        ssl_files = tls_files(self._requested)
        sock = listen(self._requested.host, 0)
        self.settings = dataclasses.replace(self._requested, port=sock.getsockname()[1])
        self.ca_file = ssl_files[0] if ssl_files else None
        try:
            app = self.app = self._given_app or _build_app(self._ensure_store(), self.settings)
            config = build_uvicorn_config(app, self.settings, ssl_files, configure_logging=False, graceful_shutdown=2)
            self._server = _Server(config)
            self._thread = threading.Thread(target=self._run, args=(sock,), name="aobo-server", daemon=True)
            self._thread.start()
            self._wait_started()
        except BaseException:
            self.stop()
            sock.close()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to shut down, wait for the thread, close a store this object opened."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"server thread did not stop within {timeout} s")
            self._thread = None
        if self._own_store and self.store is not None:
            self.store.close()
            self._own_store = False

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _ensure_store(self) -> Store:
        if self.store is None:
            from aobo.domain.store import Store

            self.store = Store.open(self.settings.database_url)
            self._own_store = True
            self.store.migrate()
        return self.store

    def _run(self, sock: socket.socket) -> None:
        assert self._server is not None
        try:
            self._server.run(sockets=[sock])
        except BaseException as exc:  # reported to the thread waiting in start()
            self._failure = exc
        finally:
            sock.close()

    def _wait_started(self) -> None:
        assert self._server is not None and self._thread is not None
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("server failed to start") from self._failure
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start within {self._startup_timeout} s")
            time.sleep(0.01)

    def __repr__(self) -> str:
        return f"<BackgroundServer {self.url} {'running' if self._thread else 'stopped'}>"
