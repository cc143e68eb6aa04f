"""The run journal: ``aobo run --resume`` continues after Ctrl-C or a crash, no tenant lost or written twice.

A run writing ``<out>`` keeps its state in the directory ``<out>.aobo-run/``:

``journal.jsonl``
    Append-only JSON Lines, each line flushed and fsynced: ``start`` (command, format), ``resume``,
    ``done`` (tenant, rows, the spool's length after its rows), ``failed`` (tenant, error text, for
    the record only: a resumed run tries failed tenants again) and ``complete``.
``spool.jsonl``
    The committed rows as JSON Lines (see :mod:`aobo.toolkit.writers`). For a ``.jsonl`` output the
    output itself is the spool; CSV and XLSX are rendered from it when the run finishes, because
    their header (the union of columns) is only known then.
``parts/``
    One file per tenant in flight. Its rows stream there as they arrive.

Committing a tenant appends its part to the spool, fsyncs the spool, then appends and fsyncs a
``done`` line holding the spool's new length. A crash before the ``done`` line leaves bytes past the
last recorded length; resuming truncates the spool to that length and runs the tenant again. A crash
after it leaves the tenant done, and it is skipped. A torn last journal line is dropped. So every
tenant's rows reach the output exactly once, contiguous, in commit order. A tenant that fails (or is
retried) has its part discarded, never half-appended.

A clean finish (no failed tenant) removes the directory; with failures it stays, so ``--resume``
retries just those. An exclusive lock on the journal stops two runs writing one output.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from aobo.toolkit.writers import TENANT_COLUMN, Format, dumps_row, format_of, render, row_of

try:  # POSIX: lock the journal so that two runs cannot interleave one output
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

JOURNAL_VERSION: Final = 1
RUN_DIR_SUFFIX: Final = ".aobo-run"


class JournalError(Exception):
    """The journal cannot be used: another run holds it, it belongs to another command, or the
    output it describes was changed or removed."""


def tenant_key(tenant: str) -> str:
    """Tenants compare case-insensitively, as domain names do."""
    return tenant.strip().casefold()


def run_dir_for(output: str | os.PathLike[str]) -> Path:
    """Where the journal of a run writing ``output`` lives."""
    out = Path(output)
    return out.with_name(out.name + RUN_DIR_SUFFIX)


def has_journal(output: str | os.PathLike[str]) -> bool:
    """Whether an earlier run writing ``output`` left a journal (interrupted, or with failures)."""
    return (run_dir_for(output) / "journal.jsonl").exists()


def _fsync_dir(path: Path) -> None:
    """Make a new directory entry durable (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read_entries(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The journal's complete, valid lines and the byte length they span (a torn tail is left out)."""
    data = path.read_bytes()
    entries: list[dict[str, Any]] = []
    valid = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            entry = json.loads(line)
        except ValueError:
            break
        if not isinstance(entry, dict) or "kind" not in entry:
            break
        entries.append(entry)
        valid += len(line)
    return entries, valid


@dataclass
class _Done:
    tenant: str
    rows: int


@dataclass
class TenantPart:
    """The rows of one tenant in flight: ``write`` them, then ``commit()`` or ``discard()``."""

    journal: RunJournal
    tenant: str
    path: Path
    file: IO[str] | None
    rows: int = 0
    columns: dict[str, None] = field(default_factory=dict)

    def write(self, record: Any) -> None:
        """Add one record (a Record, a mapping or a bare value)."""
        self.write_row(row_of(self.tenant, record))

    def write_row(self, row: dict[str, Any]) -> None:
        """Add one plain row (``Tenant`` first)."""
        if self.file is None:
            raise JournalError(f"the part of {self.tenant} is already committed or discarded")
        self.columns.update(dict.fromkeys(row))
        self.file.write(dumps_row(row))
        self.rows += 1

    def commit(self) -> None:
        """Append the rows to the output and record the tenant as done (durably)."""
        self.journal._commit(self)

    def discard(self) -> None:
        """Drop the rows (the tenant failed or is tried again); idempotent."""
        self.journal._discard(self)


class RunJournal:
    """The state of one fan-out writing ``output``; see the module docstring for the protocol."""

    def __init__(self, output: Path, fmt: Format, run_dir: Path, lock: IO[bytes], *, command: str, fsync: bool) -> None:
        self.output = output
        self.format: Format = fmt
        self.run_dir = run_dir
        self.command = command
        self.fsync = fsync
        self.resumed = False
        self._journal = lock
        self._done: dict[str, _Done] = {}
        self.previous_failures: dict[str, str] = {}
        self._length = 0
        self._columns: dict[str, None] | None = {TENANT_COLUMN: None}
        self._parts: set[Path] = set()
        self._spool: IO[bytes] | None = None
        self._closed = False
        # Commits may run on worker threads (the fan-out keeps fsync off its event loop): one at a time.
        self._lock = threading.RLock()

    # ------------------------------------------------------------------------------------- opening

    @classmethod
    def open(
        cls, output: str | os.PathLike[str], *, command: str, resume: bool = False, fsync: bool = True
    ) -> RunJournal:
        """Start a run writing ``output`` or, with ``resume``, continue the one its journal describes.

        Without ``resume`` an earlier journal is discarded and the output started afresh. With
        ``resume`` and no journal, the run simply starts (``journal.resumed`` is False). Raises
        :class:`JournalError` if another run holds the journal, or the journal is for another command.
        """
        out = Path(output)
        fmt = format_of(out)
        run_dir = run_dir_for(out)
        path = run_dir / "journal.jsonl"
        if run_dir.exists() and not path.exists():  # a start that died before its journal existed
            shutil.rmtree(run_dir)
        if path.exists():
            lock = cls._lock(path)
            if resume:
                journal = cls(out, fmt, run_dir, lock, command=command, fsync=fsync)
                try:
                    journal._recover()
                except BaseException:
                    journal.close()
                    raise
                return journal
            lock.close()  # the lock was only to prove that no other run is using it
            shutil.rmtree(run_dir)
        return cls._start(out, fmt, run_dir, command=command, fsync=fsync)

    @staticmethod
    def _lock(path: Path) -> IO[bytes]:
        handle = open(path, "r+b")  # noqa: SIM115 - kept open (and locked) for the run
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise JournalError(f"another run is writing {path.parent.name.removesuffix(RUN_DIR_SUFFIX)}") from None
        return handle

    @classmethod
    def _start(cls, out: Path, fmt: Format, run_dir: Path, *, command: str, fsync: bool) -> RunJournal:
        (run_dir / "parts").mkdir(parents=True, mode=0o700)  # rows may hold customer data
        run_dir.chmod(0o700)
        path = run_dir / "journal.jsonl"
        path.touch()
        _fsync_dir(run_dir)
        journal = cls(out, fmt, run_dir, cls._lock(path), command=command, fsync=fsync)
        spool = journal.spool_path
        spool.parent.mkdir(parents=True, exist_ok=True)
        journal._spool = open(spool, "wb")  # noqa: SIM115 - closed in close(); truncates an old output
        journal._append(
            {"kind": "start", "version": JOURNAL_VERSION, "command": command, "format": fmt, "at": time.time()}
        )
        return journal

    def _recover(self) -> None:
        """Read the journal, drop a torn tail, truncate the spool to the last committed length."""
        path = self.run_dir / "journal.jsonl"
        entries, valid = _read_entries(path)
        if not entries or entries[0].get("kind") != "start":
            raise JournalError(f"{path} is not a run journal; start again without --resume")
        head = entries[0]
        if head.get("version") != JOURNAL_VERSION or head.get("format") != self.format:
            raise JournalError(f"{path} was written for another format or version; start again without --resume")
        if head.get("command") != self.command:
            raise JournalError(
                f"the interrupted run was for another command ({head.get('command')!r}); "
                "run that command with --resume, or start again without --resume"
            )
        for entry in entries[1:]:
            kind, tenant = entry.get("kind"), entry.get("tenant")
            if kind == "done" and isinstance(tenant, str):
                self._done[tenant_key(tenant)] = _Done(tenant, int(entry.get("rows", 0)))
                self.previous_failures.pop(tenant_key(tenant), None)
                self._length = int(entry["length"])
            elif kind == "failed" and isinstance(tenant, str):
                self.previous_failures[tenant_key(tenant)] = str(entry.get("error", ""))
        self._journal.truncate(valid)
        self._journal.seek(valid)
        spool = self.spool_path
        size = spool.stat().st_size if spool.exists() else -1
        if size < self._length:
            raise JournalError(
                f"{spool} is shorter than the journal records ({max(size, 0)} < {self._length} bytes): it was "
                "changed or removed; start again without --resume"
            )
        for stale in (self.run_dir / "parts").glob("*"):
            stale.unlink()
        self._spool = open(spool, "r+b")  # noqa: SIM115 - closed in close()
        self._spool.truncate(self._length)
        self._spool.seek(self._length)
        self._sync(self._spool)
        self._columns = None  # the earlier rows' columns are read back from the spool when rendering
        self.resumed = True
        self._append({"kind": "resume", "at": time.time(), "tenants_done": len(self._done)})

    # ------------------------------------------------------------------------------------- state

    @property
    def spool_path(self) -> Path:
        """Where committed rows go: the output itself for JSON Lines, else ``spool.jsonl``."""
        return self.output if self.format == "jsonl" else self.run_dir / "spool.jsonl"

    def is_done(self, tenant: str) -> bool:
        """Whether ``tenant``'s rows are already in the output (from this run or an earlier one)."""
        return tenant_key(tenant) in self._done

    def rows_of(self, tenant: str) -> int:
        """How many rows ``tenant`` committed (0 if it is not done)."""
        done = self._done.get(tenant_key(tenant))
        return done.rows if done else 0

    @property
    def done(self) -> list[str]:
        """The tenants whose rows are in the output, in commit order."""
        with self._lock:
            return [d.tenant for d in self._done.values()]

    @property
    def rows(self) -> int:
        """Rows committed so far, earlier runs included."""
        with self._lock:
            return sum(d.rows for d in self._done.values())

    # ------------------------------------------------------------------------------------- tenants

    def begin(self, tenant: str) -> TenantPart:
        """A part file for ``tenant``'s rows; commit it when the tenant succeeded."""
        with self._lock:
            self._check_open()
            fd, name = tempfile.mkstemp(prefix="part-", suffix=".jsonl", dir=self.run_dir / "parts")
            path = Path(name)
            self._parts.add(path)
            return TenantPart(self, tenant, path, os.fdopen(fd, "w", encoding="utf-8"))

    def _commit(self, part: TenantPart) -> None:
        with self._lock:
            self._check_open()
            if part.file is None:
                raise JournalError(f"the part of {part.tenant} is already committed or discarded")
            if self.is_done(part.tenant):
                part.discard()
                raise JournalError(f"{part.tenant} is already in the output")
            part.file.close()
            part.file = None
            assert self._spool is not None
            with open(part.path, "rb") as source:
                shutil.copyfileobj(source, self._spool, 1 << 20)
            self._sync(self._spool)
            length = self._spool.tell()
            self._append({"kind": "done", "tenant": part.tenant, "rows": part.rows, "length": length})
            self._length = length
            self._done[tenant_key(part.tenant)] = _Done(part.tenant, part.rows)
            if self._columns is not None:
                self._columns.update(part.columns)
            self._drop(part.path)

    def _discard(self, part: TenantPart) -> None:
        with self._lock:
            if part.file is not None:
                part.file.close()
                part.file = None
            self._drop(part.path)

    def _drop(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._parts.discard(path)

    def record_failure(self, tenant: str, error: str) -> None:
        """Note that ``tenant`` failed (for the record; a resumed run tries it again)."""
        with self._lock:
            self._check_open()
            self._append({"kind": "failed", "tenant": tenant, "error": error})

    # ------------------------------------------------------------------------------------- ending

    def finish(self, *, failed: int = 0) -> int:
        """Write the final output (CSV/XLSX are rendered from the spool) and end the journal.

        With no failed tenant the run directory is removed; otherwise it stays for ``--resume``.
        Returns the output's row count.
        """
        with self._lock:
            self._check_open()
            assert self._spool is not None
            self._spool.close()
            self._spool = None
            rows = self.rows
            if self.format != "jsonl":
                columns = list(self._columns) if self._columns is not None else None
                render(self.spool_path, self.output, self.format, columns)
            self._append({"kind": "complete", "rows": rows, "failed": failed, "at": time.time()})
            self.close()
            if failed == 0:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            return rows

    def close(self) -> None:
        """Release the files and the lock without finishing (an interrupted run); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for path in list(self._parts):
                self._drop(path)
            if self._spool is not None:
                self._spool.close()
                self._spool = None
            self._journal.close()

    def __enter__(self) -> RunJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------- internals

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError("the run journal is closed")

    def _sync(self, handle: IO[bytes]) -> None:
        handle.flush()
        if self.fsync:
            os.fsync(handle.fileno())

    def _append(self, entry: dict[str, Any]) -> None:
        self._journal.write(json.dumps(entry, ensure_ascii=False).encode("utf-8") + b"\n")
        self._sync(self._journal)
