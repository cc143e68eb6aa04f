"""Shared pieces of the remote PowerShell benchmarks (not a benchmark itself).

* :class:`ServerProcess`: an aobo server in a separate process (``bench/_server.py``), on loopback.
* :class:`RawClient`: a minimal WS-Man/PSRP client over http.client (HTTP/1.1 keep-alive) that builds
  its PSRP requests with psrpcore's client and *counts* the server's PSRP messages by walking
  fragment headers, without deserialising them.
* statistics, table printing, results as JSON under ``bench/results/``, py-spy helpers.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import re
import shutil
import signal
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

PASSWORD = "Bench-Pass-2026!"
PARTNER_ADMIN = "admin@northwindit.onmicrosoft.com"

# --- WS-Man ----------------------------------------------------------------------------------

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_PWSH = "http://schemas.microsoft.com/powershell"
EXCHANGE_RESOURCE = "http://schemas.microsoft.com/powershell/Microsoft.Exchange"
ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = f"{NS_SHELL}/Command"
ACTION_RECEIVE = f"{NS_SHELL}/Receive"
ACTION_SIGNAL = f"{NS_SHELL}/Signal"
SIGNAL_TERMINATE = f"{NS_SHELL}/signal/terminate"
FAULT_TIMED_OUT = 2150858793

# --- PSRP message types (MS-PSRP 2.2.1) --------------------------------------------------------

RUNSPACEPOOL_STATE = 0x00021005
PIPELINE_OUTPUT = 0x00041004
ERROR_RECORD = 0x00041005
PIPELINE_STATE = 0x00041006
WARNING_RECORD = 0x00041009
MESSAGE_NAMES = {
    0x00010002: "SESSION_CAPABILITY",
    0x00021009: "APPLICATION_PRIVATE_DATA",
    RUNSPACEPOOL_STATE: "RUNSPACEPOOL_STATE",
    PIPELINE_OUTPUT: "PIPELINE_OUTPUT",
    ERROR_RECORD: "ERROR_RECORD",
    PIPELINE_STATE: "PIPELINE_STATE",
    0x00041007: "DEBUG_RECORD",
    0x00041008: "VERBOSE_RECORD",
    WARNING_RECORD: "WARNING_RECORD",
    0x00041010: "PROGRESS_RECORD",
    0x00041011: "INFORMATION_RECORD",
}
FINAL_PIPELINE_STATES = {3: "Stopped", 4: "Completed", 5: "Failed"}
_FRAGMENT = struct.Struct(">QQBI")
_U32LE = struct.Struct("<I")
_STREAM_RE = re.compile(rb"<(?:[A-Za-z0-9_]+:)?Stream\b[^>]*?>([^<]*)</(?:[A-Za-z0-9_]+:)?Stream>")
_PIPELINE_STATE_RE = re.compile(rb'N="PipelineState">(\d+)<')
_FAULT_CODE_RE = re.compile(rb'WSManFault[^>]*\bCode="(\d+)"')


# ============================================================================ server process


class ServerProcess:
    """``bench/_server.py`` in a child process; stopped (stdin closed, then SIGTERM) on exit."""

    def __init__(
        self,
        *,
        max_sessions: int = 3,
        extra_mailboxes: int = 0,
        tracemalloc: bool = False,
        switch_interval: float | None = None,
        startup_timeout: float = 600.0,
    ) -> None:
        self.switch_interval = switch_interval
        self.tracemalloc = tracemalloc
        self.tmp = Path(tempfile.mkdtemp(prefix="aobo-bench-"))
        self.log_path = self.tmp / "server.log"
        self.max_sessions = max_sessions
        self.extra_mailboxes = extra_mailboxes
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def __enter__(self) -> ServerProcess:
        cmd = [
            sys.executable,
            str(BENCH_DIR / "_server.py"),
            "--data",
            str(self.tmp / "data"),
            "--password",
            PASSWORD,
            "--max-sessions",
            str(self.max_sessions),
        ]
        if self.extra_mailboxes:
            cmd += ["--extra-mailboxes", str(self.extra_mailboxes)]
        if self.tracemalloc:
            cmd.append("--tracemalloc")
        if self.switch_interval:
            cmd += ["--switch-interval", str(self.switch_interval)]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, cwd=ROOT
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            line = self.proc.stdout.readline()
            if line.startswith("READY "):
                self.info = json.loads(line[6:])
                break
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready in time")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(20)
            except (subprocess.TimeoutExpired, OSError, BrokenPipeError):
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.proc = None
        self._log.close()

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def pid(self) -> int:
        return int(self.info["pid"])

    @property
    def port(self) -> int:
        return int(self.info["port"])

    @property
    def ca_file(self) -> str:
        return str(self.info["ca_file"])

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    def rss_kib(self) -> int:
        return proc_status_kib(self.pid, "VmRSS")

    def traced_bytes(self, timeout: float = 10.0) -> int:
        """Python heap in use (tracemalloc, after a gc) in a server started with ``tracemalloc=True``."""
        out = self.tmp / "data" / "tracemalloc.json"
        out.unlink(missing_ok=True)
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not out.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not report its traced memory")
            time.sleep(0.05)
        return int(json.loads(out.read_text())["current"])

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_problems(self) -> list[str]:
        """Lines of the server's log other than uvicorn's INFO start/stop lines (warnings, tracebacks)."""
        try:
            text = self.log_path.read_text()
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip() and " INFO " not in line]


def proc_status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def machine_busy_seconds() -> float:
    """CPU time all cores of the machine spent busy (not idle or iowait) since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    # guest time is already counted in user/nice
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Server, client (this process) and everyone else's CPU over an interval, in cores."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    def __enter__(self) -> CpuMeter:
        self.t0 = time.perf_counter()
        self.s0 = self.server.cpu_seconds()
        self.c0 = time.process_time()
        self.m0 = machine_busy_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.server_cpu = self.server.cpu_seconds() - self.s0
        self.client_cpu = time.process_time() - self.c0
        self.machine = machine_busy_seconds() - self.m0
        self.other_cpu = max(0.0, self.machine - self.server_cpu - self.client_cpu)

    def as_dict(self) -> dict[str, float]:
        w = self.wall or 1e-9
        return {
            "server_cpu_s": self.server_cpu,
            "client_cpu_s": self.client_cpu,
            "other_cpu_s": self.other_cpu,
            "server_cores": self.server_cpu / w,
            "client_cores": self.client_cpu / w,
            "other_cores": self.other_cpu / w,
        }


#: Seconds a whole script may spend in :func:`wait_for_quiet`, so that it still ends in minutes.
QUIET_BUDGET = {"seconds": 90.0}


def wait_for_quiet(server: ServerProcess | None = None, *, threshold: float = 0.3, max_wait: float = 30.0) -> float:
    """Wait (at most ``max_wait`` s, and :data:`QUIET_BUDGET` in all) until other processes use less
    than ``threshold`` cores for two consecutive seconds, so that their load does not distort the
    numbers; returns the last reading.

    The machine may be shared (other jobs on its 2 cores); every benchmark also
    records the CPU other processes used during each measurement.
    """
    max_wait = min(max_wait, QUIET_BUDGET["seconds"])
    if max_wait <= 0:
        return float("nan")
    started = time.monotonic()
    deadline = started + max_wait
    quiet = 0
    other = float("nan")
    waited = False
    while True:
        own0 = (server.cpu_seconds() if server else 0.0) + time.process_time()
        m0 = machine_busy_seconds()
        time.sleep(1.0)
        own = (server.cpu_seconds() if server else 0.0) + time.process_time() - own0
        other = max(0.0, machine_busy_seconds() - m0 - own)
        quiet = quiet + 1 if other < threshold else 0
        if quiet >= 2:
            break
        if time.monotonic() > deadline:
            print(f"  (machine still busy: other processes use {other:.2f} cores; measuring anyway)", flush=True)
            break
        if not waited:
            print(f"  (waiting for other processes to go quiet: {other:.2f} cores busy) ...", flush=True)
            waited = True
    QUIET_BUDGET["seconds"] -= time.monotonic() - started
    return other


def proc_threads(pid: int) -> int:
    return proc_status_kib(pid, "Threads")


# ============================================================================ pypsrp


def pypsrp_wsman(server: ServerProcess, org: str, *, read_timeout: int = 60) -> Any:
    """pypsrp's WSMan to the server for ``org``, as the partner admin, as ``tests/e2e/helpers.py``
    connects (Basic over HTTPS, the server's certificate as the only CA)."""
    from pypsrp.wsman import WSMan

    return WSMan(
        "127.0.0.1",
        port=server.port,
        path=f"powershell-liveid?DelegatedOrg={org}",
        ssl=True,
        auth="basic",
        encryption="auto",
        cert_validation=server.ca_file,
        username=PARTNER_ADMIN,
        password=PASSWORD,
        operation_timeout=20,
        read_timeout=read_timeout,
    )


# ============================================================================ raw WS-Man client


class WSManError(Exception):
    def __init__(self, status: int, code: int | None, body: bytes) -> None:
        super().__init__(f"HTTP {status}, WSManFault code {code}: {body[:600]!r}")
        self.status = status
        self.code = code


@dataclass
class StreamResult:
    """What one pipeline sent: message counts by type, payload sizes, timings."""

    counts: Counter[int] = field(default_factory=Counter)
    payload_bytes: int = 0  # decoded PSRP bytes (fragment headers included)
    wire_bytes: int = 0  # HTTP response bodies
    receives: int = 0
    seconds: float = 0.0  # from sending Command to the final PIPELINE_STATE
    first_output_s: float | None = None
    final_state: str | None = None
    receive_log: list[tuple[float, float, int]] = field(default_factory=list)  # (sent, answered, bytes) per Receive
    outputs: list[bytes] = field(default_factory=list)  # message data (after the 40-byte header), if collected
    messages: list[bytes] = field(default_factory=list)  # whole PSRP messages of PIPELINE_OUTPUT, if collected

    @property
    def objects(self) -> int:
        return self.counts[PIPELINE_OUTPUT]

    def named_counts(self) -> dict[str, int]:
        return {MESSAGE_NAMES.get(k, hex(k)): v for k, v in sorted(self.counts.items())}


XPRESS_HEADER = '<rsp:CompressionType s:mustUnderstand="true">xpress</rsp:CompressionType>'


def _envelope(
    action: str, to: str, body: str, *, shell_id: str | None, options: dict[str, str] | None, extra: str = ""
) -> bytes:
    selector = (
        f'<wsman:SelectorSet><wsman:Selector Name="ShellId">{shell_id}</wsman:Selector></wsman:SelectorSet>'
        if shell_id
        else ""
    )
    option_set = ""
    if options:
        comply = ' MustComply="true"'
        opts = "".join(
            f'<wsman:Option Name="{k}"{comply if k == "protocolversion" else ""}>{v}</wsman:Option>'
            for k, v in options.items()
        )
        option_set = f'<wsman:OptionSet s:mustUnderstand="true">{opts}</wsman:OptionSet>'
    return (
        f'<s:Envelope xmlns:s="{NS_SOAP}" xmlns:wsa="{NS_WSA}" xmlns:wsman="{NS_WSMAN}" xmlns:rsp="{NS_SHELL}">'
        "<s:Header>"
        f'<wsa:Action s:mustUnderstand="true">{action}</wsa:Action>'
        '<wsman:MaxEnvelopeSize s:mustUnderstand="true">512000</wsman:MaxEnvelopeSize>'
        f"<wsa:MessageID>uuid:{str(uuid.uuid4()).upper()}</wsa:MessageID>"
        '<wsman:Locale xml:lang="en-US" s:mustUnderstand="false"/>'
        "<wsman:OperationTimeout>PT20S</wsman:OperationTimeout>"
        '<wsa:ReplyTo><wsa:Address s:mustUnderstand="true">'
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>"
        f'<wsman:ResourceURI s:mustUnderstand="true">{EXCHANGE_RESOURCE}</wsman:ResourceURI>'
        f"<wsa:To>{to}</wsa:To>{selector}{option_set}{extra}"
        f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


class RawClient:
    """One WS-Man connection (http.client, HTTP/1.1 keep-alive) to the server, as one account and org."""

    def __init__(
        self,
        server: ServerProcess,
        org: str,
        *,
        user: str = PARTNER_ADMIN,
        password: str = PASSWORD,
        compress: bool = False,
    ) -> None:
        #: Ask for xpress stream compression in the Create, as Windows PowerShell does by default;
        #: the stream data then arrives framed (MS-WSMV <134>) and is unframed before counting.
        self.compress = compress
        # http.client rather than httpx: its C-buffered reads keep the client's own cost per 500 KB
        # Receive low, so the figures say more about the server than about the client.
        import http.client
        import urllib.parse

        parsed = urllib.parse.urlsplit(server.base_url)
        if parsed.scheme == "https":
            ctx = ssl.create_default_context(cafile=server.ca_file)
            self._connect = lambda: http.client.HTTPSConnection(parsed.hostname, parsed.port, context=ctx, timeout=90)
        else:
            self._connect = lambda: http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=90)
        self.path = f"/powershell-liveid?DelegatedOrg={org}"
        self.url = f"{server.base_url}{self.path}"
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {
            "Authorization": f"Basic {token}",
            "Content-Type": "application/soap+xml;charset=UTF-8",
            "Accept-Encoding": "identity",
        }
        self.http = self._connect()
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def post(
        self,
        action: str,
        body: str,
        *,
        shell_id: str | None = None,
        options: dict[str, str] | None = None,
        extra: str = "",
    ) -> bytes:
        import http.client

        data = _envelope(action, self.url, body, shell_id=shell_id, options=options, extra=extra)
        for attempt in (1, 2):
            try:
                self.http.request("POST", self.path, body=data, headers=self.headers)
                response = self.http.getresponse()
                content = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.http.close()
                self.http = self._connect()
                if attempt == 2:
                    raise
        self.requests += 1
        if response.status != 200:
            m = _FAULT_CODE_RE.search(content)
            raise WSManError(response.status, int(m.group(1)) if m else None, content)
        return content

    def stream_data(self, b64: bytes) -> bytes:
        data = base64.b64decode(b64)
        if self.compress:
            from aobo.frontends.wsman import xpress

            data = xpress.decode_stream(data, 1 << 24)
        return data

    # -- session ------------------------------------------------------------------------------

    def open_session(self) -> Session:
        """Create + pool Receive until RUNSPACEPOOL_STATE (Opened); psrpcore keeps the client state."""
        import psrpcore
        from psrpcore.types import RunspacePoolState

        pool = psrpcore.ClientRunspacePool()
        pool.open()
        creation = pool.data_to_send()
        assert creation is not None
        shell_id = str(pool.runspace_pool_id).upper()
        body = (
            f'<rsp:Shell ShellId="{shell_id}"><rsp:InputStreams>stdin pr</rsp:InputStreams>'
            "<rsp:OutputStreams>stdout</rsp:OutputStreams>"
            f'<creationXml xmlns="{NS_PWSH}">{base64.b64encode(creation.data).decode()}</creationXml></rsp:Shell>'
        )
        self.post(ACTION_CREATE, body, options={"protocolversion": "2.3"}, extra=XPRESS_HEADER if self.compress else "")
        session = Session(self, shell_id, pool)
        while pool.state != RunspacePoolState.Opened:
            for data in session.receive_raw(None):
                pool.receive_data(psrpcore.PSRPPayload(data, psrpcore.StreamType.default, None))
                while pool.next_event() is not None:
                    pass
            if pool.state in (RunspacePoolState.Broken, RunspacePoolState.Closed):
                raise RuntimeError(f"runspace pool is {pool.state!r}")
        return session


class Session:
    def __init__(self, client: RawClient, shell_id: str, pool: Any) -> None:
        self.client = client
        self.shell_id = shell_id
        self.pool = pool

    def receive_raw(self, command_id: str | None) -> list[bytes]:
        """One Receive; the decoded stream chunks ([] after a TimedOut fault)."""
        cid = f' CommandId="{command_id}"' if command_id else ""
        body = f"<rsp:Receive><rsp:DesiredStream{cid}>stdout</rsp:DesiredStream></rsp:Receive>"
        try:
            content = self.client.post(ACTION_RECEIVE, body, shell_id=self.shell_id)
        except WSManError as exc:
            if exc.code == FAULT_TIMED_OUT:
                return []
            raise
        return [self.client.stream_data(m) for m in _STREAM_RE.findall(content)]

    def command(self, command: str, parameters: dict[str, Any] | None = None, *more: tuple[str, dict[str, Any]]) -> str:
        """Send one pipeline (commands with named parameters) with Command; returns its CommandId."""
        import psrpcore

        ps = psrpcore.ClientPowerShell(self.pool, no_input=True)
        for name, params in ((command, parameters or {}), *more):
            ps.add_command(name)
            for key, value in params.items():
                ps.add_parameter(key, value)
        ps.start()
        payload = self.pool.data_to_send()
        assert payload is not None and payload.pipeline_id == ps.pipeline_id
        # The client-side object is not needed further: we read the output ourselves.
        self.pool.pipeline_table.pop(ps.pipeline_id, None)
        command_id = str(ps.pipeline_id).upper()
        body = (
            f'<rsp:CommandLine CommandId="{command_id}"><rsp:Command></rsp:Command>'
            f"<rsp:Arguments>{base64.b64encode(payload.data).decode()}</rsp:Arguments></rsp:CommandLine>"
        )
        self.client.post(ACTION_COMMAND, body, shell_id=self.shell_id, options={"WINRS_SKIP_CMD_SHELL": "False"})
        return command_id

    def run(
        self,
        command: str,
        parameters: dict[str, Any] | None = None,
        *more: tuple[str, dict[str, Any]],
        collect: bool = False,
        pause_after_command: float = 0.0,
    ) -> StreamResult:
        """Command, then Receive until the final PIPELINE_STATE, counting messages; then Signal terminate.

        ``pause_after_command``: seconds to wait before the first Receive (the server fills its outbox
        meanwhile, up to its back-pressure limit); ``result.seconds`` then excludes the pause.
        """
        result = StreamResult()
        t0 = time.perf_counter()
        command_id = self.command(command, parameters, *more)
        if pause_after_command:
            time.sleep(pause_after_command)
            t0 += pause_after_command
        partial: dict[int, bytearray] = {}  # object id -> message bytes, for messages we read
        kinds: dict[int, int] = {}
        unpack_fragment = _FRAGMENT.unpack_from
        unpack_u32 = _U32LE.unpack_from
        counts = result.counts
        cid = f' CommandId="{command_id}"'
        body = f"<rsp:Receive><rsp:DesiredStream{cid}>stdout</rsp:DesiredStream></rsp:Receive>"
        post = self.client.post
        stream_data = self.client.stream_data
        log = result.receive_log
        while result.final_state is None:
            sent = time.perf_counter()
            try:
                content = post(ACTION_RECEIVE, body, shell_id=self.shell_id)
            except WSManError as exc:
                if exc.code == FAULT_TIMED_OUT:
                    continue
                raise
            log.append((sent, time.perf_counter(), len(content)))
            result.receives += 1
            result.wire_bytes += len(content)
            for b64 in _STREAM_RE.findall(content):
                data = stream_data(b64)
                result.payload_bytes += len(data)
                off, end_all = 0, len(data)
                while off < end_all:
                    object_id, _fid, flags, length = unpack_fragment(data, off)
                    start = off + 21
                    off = start + length
                    if flags & 1:
                        mtype = unpack_u32(data, start + 4)[0]
                        counts[mtype] += 1
                        if mtype == PIPELINE_OUTPUT and result.first_output_s is None:
                            result.first_output_s = time.perf_counter() - t0
                        if mtype == PIPELINE_STATE or (collect and mtype == PIPELINE_OUTPUT):
                            partial[object_id] = bytearray()
                            kinds[object_id] = mtype
                    buf = partial.get(object_id)
                    if buf is None:
                        continue
                    buf += data[start:off]
                    if flags & 2:
                        del partial[object_id]
                        mtype = kinds.pop(object_id)
                        if mtype == PIPELINE_STATE:
                            m = _PIPELINE_STATE_RE.search(buf)
                            state = int(m.group(1)) if m else -1
                            if state in FINAL_PIPELINE_STATES:
                                result.final_state = FINAL_PIPELINE_STATES[state]
                                result.seconds = time.perf_counter() - t0
                        else:
                            result.messages.append(bytes(buf))
                            result.outputs.append(bytes(buf[40:]))
        self.signal_terminate(command_id)
        return result

    def signal_terminate(self, command_id: str) -> None:
        body = f'<rsp:Signal CommandId="{command_id}"><rsp:Code>{SIGNAL_TERMINATE}</rsp:Code></rsp:Signal>'
        self.client.post(ACTION_SIGNAL, body, shell_id=self.shell_id)

    def delete(self) -> None:
        self.client.post(ACTION_DELETE, "", shell_id=self.shell_id)


# ============================================================================ statistics and output


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100), as numpy's default."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms),
        "min_ms": min(ms),
        "max_ms": max(ms),
    }


def print_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    rows = [[_cell(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print(
        "  "
        + "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True)))
    )
    print("  " + "  ".join("-" * w for w in widths))
    for r in rows:
        print(
            "  "
            + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "n/a"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def environment() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    versions = {}
    for name in ("pypsrp", "psrpcore", "httpx", "uvicorn", "sqlalchemy"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            versions[name] = None
    return {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "git_commit": git("rev-parse", "HEAD").strip(),
        "git_modified": [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()],
        "packages": versions,
    }


def write_results(name: str, data: dict[str, Any], *, started: float, problems: list[str]) -> Path:
    """Print the server's warnings, write ``results/<name>.json`` and the total time: every script's ending."""
    if problems:
        print("\nserver log (warnings/errors):")
        for line in problems[:40]:
            print("  " + line)
    elapsed = time.perf_counter() - started
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    record = {"benchmark": name, "environment": environment(), **data}
    record |= {"server_log_problems": problems, "elapsed_s": elapsed}
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"\nresults written to {path.relative_to(ROOT)}")
    print(f"total time {elapsed:.0f} s")
    return path


# ============================================================================ py-spy


def pyspy_path() -> str | None:
    candidate = Path(sys.executable).with_name("py-spy")
    if candidate.exists():
        return str(candidate)
    return shutil.which("py-spy")


class PySpy:
    """``py-spy record`` (raw collapsed stacks) on another process, until :meth:`stop`."""

    def __init__(
        self, pid: int, out: Path, *, rate: int = 200, gil: bool = False, idle: bool = False, threads: bool = True
    ) -> None:
        exe = pyspy_path()
        if exe is None:
            raise FileNotFoundError("py-spy is not installed (pip install py-spy)")
        self.out = out
        cmd = [
            exe,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--function",
            "--nonblocking",
            "--output",
            str(out),
        ]
        if gil:
            cmd.append("--gil")
        if idle:
            cmd.append("--idle")
        if threads:
            cmd.append("--threads")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)  # let it attach
        if self.proc.poll() is not None:
            raise RuntimeError(f"py-spy failed: {self.proc.stderr.read() if self.proc.stderr else ''}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_FRAME_RE = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _short_frame(frame: str) -> str:
    m = _FRAME_RE.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("/site-packages/", "/src/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    line = f":{m.group('line')}" if m.group("line") else ""
    return f"{m.group('func')} ({path}{line})"


#: Frames that only carry other work (thread start-up, event loop, ASGI wrappers): left out of the
#: "streaming path" cumulative list, kept in the full one.
PLUMBING = (
    "(threading.py",
    "(concurrent/futures/thread.py",
    "(asyncio/runners.py",
    "(asyncio/base_events.py",
    "(asyncio/events.py",
    "(uvicorn/server.py",
    "(uvicorn/_compat.py",
    "(aobo/server.py",
    "(starlette/_exception_handler.py",
    "(starlette/middleware/errors.py",
    "(starlette/middleware/exceptions.py",
    "(starlette/applications.py",
    "(starlette/routing.py",
    "RequestResponseCycle.run_asgi (",
    "ProxyHeadersMiddleware.",
    "Runspace._start.<locals>.<lambda>",
)


def parse_collapsed(path: Path, *, top: int = 15, threads_like: Sequence[str] = ()) -> dict[str, Any]:
    """Cumulative (inclusive) and self sample counts per function from py-spy's raw output.

    With ``--threads`` the first frame of each stack names the thread; samples are also totalled
    per thread. ``threads_like``: only stacks of threads whose name contains one of these strings
    count (e.g. the event loop and the pipeline workers of a wall-clock ``--idle`` profile), and
    for each such thread with samples in ``Runspace._execute`` or named ``aobo-server`` the top
    self frames are listed too (where that thread spends its wall-clock time).
    """
    cumulative: Counter[str] = Counter()
    own: Counter[str] = Counter()
    per_thread: Counter[str] = Counter()
    thread_own: dict[str, Counter[str]] = {}
    thread_busy: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = ""
        if frames and frames[0].startswith(("thread (", "process ")):
            # "process N:..." then "thread (0x...)" roots, depending on the py-spy version
            roots = []
            while frames and frames[0].startswith(("thread (", "process ")):
                roots.append(frames.pop(0))
            thread = " ".join(r for r in roots if r.startswith("thread ("))
        if threads_like and not any(t in thread for t in threads_like):
            continue
        if threads_like and frames and frames[-1].startswith("_worker (") and "concurrent/futures" in frames[-1]:
            continue  # an executor thread waiting for work: not part of the pipeline
        per_thread[thread] += count
        total += count
        names = [_short_frame(f) for f in frames]
        for name in set(names):
            cumulative[name] += count
        if names:
            own[names[-1]] += count
            thread_own.setdefault(thread, Counter())[names[-1]] += count
        if any(n.startswith("Runspace._execute ") for n in names):
            thread_busy[thread] += count
    per_thread_self = {
        t: [{"function": f, "samples": n, "share": n / per_thread[t]} for f, n in c.most_common(8)]
        for t, c in thread_own.items()
        if "aobo-server" in t or thread_busy[t] >= 0.1 * per_thread[t]
    }
    return {
        "samples": total,
        "threads": [
            {"thread": t, "samples": n, "share": n / total if total else 0} for t, n in per_thread.most_common()
        ],
        "cumulative": [
            {"function": f, "samples": n, "share": n / total if total else 0}
            for f, n in [(f, n) for f, n in cumulative.most_common() if not any(p in f for p in PLUMBING)][:top]
        ],
        "cumulative_all": [
            {"function": f, "samples": n, "share": n / total if total else 0} for f, n in cumulative.most_common(40)
        ],
        "self": [{"function": f, "samples": n, "share": n / total if total else 0} for f, n in own.most_common(top)],
        "per_thread_self": per_thread_self if threads_like else {},
    }


def print_profile(title: str, profile: dict[str, Any]) -> None:
    print(f"\n{title}: {profile['samples']:,} samples")
    if profile["threads"]:
        print_table(
            "  samples per thread",
            ["thread", "samples", "share"],
            [[t["thread"], t["samples"], f"{t['share']:.1%}"] for t in profile["threads"]],
        )
    print_table(
        "  top cumulative (inclusive; thread/event-loop/ASGI wrapper frames left out)",
        ["function", "samples", "share"],
        [[c["function"], c["samples"], f"{c['share']:.1%}"] for c in profile["cumulative"]],
    )
    print_table(
        "  top self (leaf)",
        ["function", "samples", "share"],
        [[c["function"], c["samples"], f"{c['share']:.1%}"] for c in profile["self"]],
    )
    for thread, rows in profile.get("per_thread_self", {}).items():
        print_table(
            f"  where {thread} spends its wall-clock time (top self frames, share of its samples)",
            ["function", "samples", "share"],
            [[c["function"], c["samples"], f"{c['share']:.1%}"] for c in rows],
        )
