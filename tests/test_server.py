import importlib.util
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from aobo.errors import AoboError
from aobo.server import KEEP_ALIVE_SECONDS, BackgroundServer, build_uvicorn_config, listen
from aobo.settings import Settings

FRONTEND_MISSING = importlib.util.find_spec("aobo.frontends.app") is None


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"hello {request.url.path}")


def trivial_app() -> Starlette:
    return Starlette(routes=[Route("/powershell-liveid", hello, methods=["GET", "POST"])])


def _strict_client_context(ca_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


def test_background_server_serves_https_verified_by_its_ca_file(tmp_path: Path) -> None:
    with BackgroundServer(Settings(data_dir=tmp_path), app=trivial_app()) as server:
        assert server.settings.port != 8443
        assert server.url == f"https://127.0.0.1:{server.settings.port}/powershell-liveid"
        assert server.ca_file == tmp_path / "tls" / "cert.pem"
        with httpx.Client(verify=_strict_client_context(server.ca_file)) as client:
            response = client.post(server.url)
        assert response.status_code == 200
        assert response.text == "hello /powershell-liveid"
        assert "server" not in response.headers


def test_background_server_plain_http(tmp_path: Path) -> None:
    with BackgroundServer(Settings(data_dir=tmp_path, insecure_http=True), app=trivial_app()) as server:
        assert server.ca_file is None
        assert server.base_url.startswith("http://127.0.0.1:")
        assert httpx.get(server.url).text == "hello /powershell-liveid"


def test_background_server_stops_within_a_second_with_an_idle_keep_alive_connection(tmp_path: Path) -> None:
    server = BackgroundServer(Settings(data_dir=tmp_path), app=trivial_app()).start()
    assert server.ca_file is not None
    with httpx.Client(verify=_strict_client_context(server.ca_file)) as client:
        assert client.get(server.url).status_code == 200
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url, verify=False)


def test_accepted_connections_have_tcp_nodelay(tmp_path: Path) -> None:
    nodelay: list[int] = []

    async def probe(request: Request) -> PlainTextResponse:
        # Look up this connection's socket through uvicorn's table of open connections.
        for connection in server._server.server_state.connections:  # type: ignore[union-attr]
            sock = connection.transport.get_extra_info("socket")
            nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/probe", probe)])
    with BackgroundServer(Settings(data_dir=tmp_path), app=app) as server:
        assert server.ca_file is not None
        httpx.get(f"{server.base_url}/probe", verify=_strict_client_context(server.ca_file))
    assert nodelay and all(nodelay)


def test_uvicorn_config_keeps_connections_alive_and_never_logs_access(tmp_path: Path) -> None:
    config = build_uvicorn_config(trivial_app(), Settings(data_dir=tmp_path), None)
    assert config.timeout_keep_alive == KEEP_ALIVE_SECONDS >= 65
    assert (config.http, config.ws, config.lifespan, config.access_log) == ("httptools", "none", "on", False)


def test_listen_reports_a_taken_port_as_an_aobo_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(AoboError, match=f"cannot listen on 127.0.0.1:{port}"):
            listen("127.0.0.1", port)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(FRONTEND_MISSING, reason="aobo.frontends.app is not importable yet")
def test_sigterm_stops_aobo_serve_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aobo", "serve", "--data", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        ca_file = tmp_path / "tls" / "cert.pem"
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "aobo serve did not start"
            try:
                httpx.get(f"https://127.0.0.1:{port}/", verify=_strict_client_context(ca_file), timeout=1)
                break
            except (httpx.TransportError, OSError):
                time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert f"https://127.0.0.1:{port}/powershell-liveid" in output
    assert "Traceback" not in output
