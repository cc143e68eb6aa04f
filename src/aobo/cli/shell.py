"""``aobo shell <customer>``: an interactive Exchange Online prompt acting for one customer.

It is the document's recipe (connect with DelegatedOrg, run cmdlets, remove the session) as one
command: a ``PS contoso.onmicrosoft.com>`` prompt with history and Tab completion of cmdlet and
parameter names (from one ``Get-Command`` at start), each line parsed by the toolkit's grammar
(errors point at the column, nothing is sent) and run as one pipeline whose output streams as a
table with sensible columns per type (``| fl`` / ``| ft A,B`` are done here). Ctrl-C while a
command runs stops that pipeline on the server and returns to the prompt; Ctrl-D or ``exit`` closes
the session, which is also closed on any error, so the shell never holds one of the account's three
sessions after it ends.

The shell runs the toolkit's async session on its own event loop in the main thread (not the sync
``connect`` facade): the facade closes the whole session on Ctrl-C, which is right for a script
and wrong for a shell, where Ctrl-C must stop only the running pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeVar
from urllib.parse import urlsplit

import typer
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from aobo.cli.common import (
    AppIdOption,
    AuthorityOption,
    CaFileOption,
    CertificateOption,
    ClientIdOption,
    DeviceCodeOption,
    InsecureOption,
    ProfileOption,
    TokenCacheOption,
    TransportOption,
    UriOption,
    UsernameOption,
    client_errors,
    client_profile,
    exit_codes,
    rest_options,
    sign_in_for,
)
from aobo.toolkit.errors import CommandError, ToolkitError
from aobo.toolkit.formatting import FormatSpec, OutputWriter

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession

    from aobo.toolkit.credential import Credential
    from aobo.toolkit.grammar import Command
    from aobo.toolkit.session import AsyncSession, PipelineStream

__all__ = [
    "CommandCatalog",
    "LocalCommandError",
    "SensitiveFileHistory",
    "Shell",
    "ShellCompleter",
    "history_path",
    "register",
    "run_shell",
    "split_format",
]

T = TypeVar("T")

#: Commands the shell runs itself, never sent.
LOCAL_COMMANDS: Final = ("exit", "help", "cls")
_EXIT: Final = frozenset({"exit", "quit"})
_CLEAR: Final = frozenset({"cls", "clear"})
_HELP: Final = frozenset({"help", "get-help"})
_LIST: Final = frozenset({"fl", "format-list"})
_TABLE: Final = frozenset({"ft", "format-table"})
_FORMAT_COMMANDS: Final = ("Format-List", "Format-Table", "fl", "ft")
#: Format-* switches that change nothing here (the table is always sized to the terminal).
_IGNORED_FORMAT_SWITCHES: Final = frozenset({"autosize", "wrap", "hidetableheaders", "force"})
#: Lines with these words are kept out of the history file (PSReadLine's rule), only in memory.
_SENSITIVE: Final = re.compile(r"password|asplaintext|token|apikey|secret", re.IGNORECASE)

HELP_TEXT: Final = """\
Commands run on the service, in {org}; type them as in PowerShell:
  Get-Mailbox -ResultSize 10
  Get-Mailbox -Filter {{RecipientTypeDetails -eq 'SharedMailbox'}} | Get-MailboxPermission
Done here, at the end of a line:
  | fl [Prop,...]     Format-List: every property (or these) of each object
  | ft Prop,...       Format-Table: a table of these properties
Local commands:
  help [cmdlet]       this text, or the syntax of a cmdlet
  cls                 clear the screen
  exit                close the session and leave (or Ctrl-D)
Tab completes cmdlet and parameter names; Ctrl-C stops a running command."""


class LocalCommandError(ValueError):
    """A line the shell refuses before sending anything (a misplaced ``| fl``, say)."""


# ------------------------------------------------------------------------------------------------ history


def history_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/aobo/history`` (default ``~/.local/state/aobo/history``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "aobo" / "history"


class SensitiveFileHistory(FileHistory):
    """A history file, readable by its owner only, that never receives a line naming a secret."""

    def __init__(self, filename: str | os.PathLike[str]) -> None:
        path = Path(filename)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        super().__init__(path)

    def store_string(self, string: str) -> None:
        if _SENSITIVE.search(string):
            return  # still recalled in this session (append_string keeps it in memory)
        super().store_string(string)


def _open_history(path: Path | None) -> History:
    if path is None:
        return InMemoryHistory()
    try:
        return SensitiveFileHistory(path)
    except OSError:
        return InMemoryHistory()  # a read-only home must not stop the shell


# ------------------------------------------------------------------------------------------------ completion


@dataclass
class CommandCatalog:
    """Cmdlet names and their parameters as the server reports them (``Get-Command``)."""

    parameters: dict[str, list[str]] = field(default_factory=dict)
    definitions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Iterable[Any]) -> CommandCatalog:
        catalog = cls()
        for record in records:
            if not isinstance(record, Mapping) or not record.get("Name"):
                continue
            name = str(record["Name"])
            params = record.get("Parameters") or {}
            catalog.parameters[name] = [str(p) for p in (params.keys() if isinstance(params, Mapping) else params)]
            if record.get("Definition"):
                catalog.definitions[name] = str(record["Definition"])
        return catalog

    def find(self, name: str) -> str | None:
        """The catalog's spelling of a command name typed in any case."""
        lowered = name.lower()
        return next((known for known in self.parameters if known.lower() == lowered), None)

    @property
    def names(self) -> list[str]:
        return sorted(self.parameters, key=str.lower)


@dataclass(frozen=True, slots=True)
class _Position:
    """Where the cursor is in the command line: the word under it and its pipeline element."""

    word: str
    first_word: bool
    command: str | None
    used: frozenset[str]
    in_quotes: bool


def _position(text: str) -> _Position:
    """Scan the text before the cursor the way the grammar reads it, enough to know what to complete."""
    words: list[str] = []
    current: list[str] = []
    quote: str | None = None
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == "|":
            words, current = [], []
        elif ch.isspace():
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(ch)
    used = frozenset(w[1:].split(":", 1)[0].lower() for w in words[1:] if w.startswith("-"))
    return _Position("".join(current), not words, words[0] if words else None, used, quote is not None)


class ShellCompleter(Completer):
    """Tab completion: cmdlet names at the start of a pipeline element, ``-Parameter`` names after one."""

    def __init__(self, catalog: CommandCatalog) -> None:
        self.catalog = catalog

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        pos = _position(document.text_before_cursor)
        if pos.in_quotes:
            return
        text = document.text_before_cursor
        if pos.first_word:
            first_element = "|" not in text
            extra = LOCAL_COMMANDS if first_element else _FORMAT_COMMANDS
            yield from _matching(pos.word, [*self.catalog.names, *extra])
        elif pos.word.startswith("-") and ":" not in pos.word and pos.command:
            name = self.catalog.find(pos.command)
            if name is None:
                return
            prefix = pos.word[1:].lower()
            for param in self.catalog.parameters[name]:
                if param.lower().startswith(prefix) and (param.lower() not in pos.used or param.lower() == prefix):
                    yield Completion("-" + param, start_position=-len(pos.word))


def _matching(word: str, candidates: Iterable[str]) -> Iterator[Completion]:
    lowered = word.lower()
    seen: set[str] = set()
    for candidate in candidates:
        if candidate.lower().startswith(lowered) and candidate not in seen:
            seen.add(candidate)
            yield Completion(candidate, start_position=-len(word))


# ------------------------------------------------------------------------------------------------ lines


def split_format(commands: Sequence[Command]) -> tuple[list[Command], FormatSpec | None]:
    """Take a trailing ``| fl`` / ``| ft A,B`` off the pipeline: formatting is done here, not sent."""
    commands = list(commands)
    for index, command in enumerate(commands):
        lowered = command.name.lower()
        if lowered in _LIST or lowered in _TABLE:
            if index != len(commands) - 1:
                raise LocalCommandError(f"{command.name} must be the last command of the line")
            if index == 0:
                raise LocalCommandError(f"{command.name} formats the output of a command: put it after one, with |")
            kind = "list" if lowered in _LIST else "table"
            return commands[:-1], FormatSpec(kind, _format_properties(command))
    return commands, None


def _format_properties(command: Command) -> tuple[str, ...] | None:
    names: list[str] = []
    for name, value in command.parameters:
        if name is None or "property".startswith(name.lower()):
            values = value if isinstance(value, list | tuple) else [value]
            names.extend(str(v) for v in values)
        elif name.lower() not in _IGNORED_FORMAT_SWITCHES:
            raise LocalCommandError(f"{command.name}: the parameter -{name} is not supported in this shell")
    if not names or (command.name.lower() in _LIST and names == ["*"]):
        return None
    return tuple(names)


# ------------------------------------------------------------------------------------------------ the shell


@dataclass
class _Seen:
    """How much of each stream of a pipeline has been printed already."""

    warnings: int = 0
    errors: int = 0
    information: int = 0
    verbose: int = 0


class Shell:
    """One session's prompt: runs lines, prints their output, streams and errors on ``console``."""

    def __init__(
        self,
        session: AsyncSession,
        console: Console,
        *,
        catalog: CommandCatalog | None = None,
        display_name: str | None = None,
    ) -> None:
        self.session = session
        self.console = console
        self.catalog = catalog or CommandCatalog()
        self.display_name = display_name or session.org or "(own tenant)"
        self.computer = urlsplit(session.url).hostname or ""
        self.failures = 0

    @property
    def prompt(self) -> str:
        return f"PS {self.display_name}> "

    async def load_catalog(self) -> CommandCatalog:
        """Cmdlet and parameter names for completion: one ``Get-Command`` (about 80 ms here)."""
        try:
            records = await self.session.invoke("Get-Command")
        except ToolkitError as exc:
            names = getattr(self.session, "command_names", None)
            if names is not None:  # REST: the module file lists the cmdlets, without their parameters
                with contextlib.suppress(ToolkitError):
                    self.catalog.parameters.update({name: [] for name in await names()})
                    return self.catalog
            self.console.print(f"[yellow]WARNING: no Tab completion: Get-Command failed: {escape(str(exc))}[/]")
            return self.catalog
        self.catalog.parameters.clear()
        self.catalog.definitions.clear()
        loaded = CommandCatalog.from_records(records)
        self.catalog.parameters.update(loaded.parameters)
        self.catalog.definitions.update(loaded.definitions)
        return self.catalog

    # --- one line, with Ctrl-C stopping it

    async def execute(self, text: str) -> bool:
        """Run one line; Ctrl-C (SIGINT) stops it. Returns True when the shell should end."""
        task = asyncio.ensure_future(self.run_line(text))
        with _sigint_cancels(task):
            await asyncio.wait({task})
        if task.cancelled():
            return False
        return task.result()

    async def run_line(self, text: str) -> bool:
        """Parse and run one line (local command or pipeline); True when it was ``exit``."""
        from aobo.toolkit.grammar import GrammarError, parse

        if not text.strip():
            return False
        try:
            commands = parse(text)
        except GrammarError as exc:
            self.failures += 1
            self.print_grammar_error(exc, text)
            return False
        if not commands:
            return False
        local = commands[0].name.lower()
        if len(commands) == 1 and local in _EXIT | _CLEAR | _HELP:
            return self.run_local(commands[0])
        try:
            pipeline, spec = split_format(commands)
        except LocalCommandError as exc:
            self.failures += 1
            self.console.print(Text(str(exc), style="red"))
            return False
        if not await self.run_pipeline(pipeline, spec):
            self.failures += 1
        return False

    def run_local(self, command: Command) -> bool:
        name = command.name.lower()
        if name in _EXIT:
            return True
        if name in _CLEAR:
            self.console.clear()
            return False
        topics = [str(v) for n, v in command.parameters if n is None or n.lower() == "name"]
        if not topics:
            self.console.print(Text(HELP_TEXT.format(org=self.display_name)))
            return False
        for topic in topics:
            known = self.catalog.find(topic)
            if known is None:
                self.console.print(Text(f"No command named {topic!r} (Tab lists them).", style="red"))
                continue
            definition = self.catalog.definitions.get(known)
            self.console.print(Text(known, style="bold"))
            params = " ".join(f"[-{p}]" for p in self.catalog.parameters[known])
            self.console.print(Text(definition or f"{known} {params}"))
        return False

    async def run_pipeline(self, commands: Sequence[Command], spec: FormatSpec | None) -> bool:
        """Send one pipeline and print as it arrives; False when it failed or wrote errors."""
        writer = OutputWriter(self.console, spec)
        stream = self.session.stream(list(commands))
        seen = _Seen()
        try:
            while (batch := await stream.next_batch()) is not None:
                writer.write(batch)
                if self._has_news(stream, seen):
                    writer.flush()
                    self._print_streams(stream, seen)
        except asyncio.CancelledError:
            writer.close()
            self._print_streams(stream, seen)
            self.console.print(Text(f"^C Stopped the pipeline after {writer.count} objects.", style="yellow"))
            raise
        except CommandError as exc:
            writer.close()
            self._print_streams(stream, seen)
            self.print_error(exc)
            return False
        except ToolkitError as exc:
            writer.close()
            self.console.print(Text(f"{type(exc).__name__}: {exc}", style="red"))
            return False
        writer.close()
        self._print_streams(stream, seen)
        return not stream.errors

    # --- printing

    @staticmethod
    def _has_news(stream: PipelineStream, seen: _Seen) -> bool:
        return (
            len(stream.warnings) > seen.warnings
            or len(stream.errors) > seen.errors
            or len(stream.information) > seen.information
            or len(stream.verbose) > seen.verbose
        )

    def _print_streams(self, stream: PipelineStream, seen: _Seen) -> None:
        for text in stream.information[seen.information :]:
            self.console.print(Text(text))
        for text in stream.verbose[seen.verbose :]:
            self.console.print(Text(f"VERBOSE: {text}", style="yellow"))
        for text in stream.warnings[seen.warnings :]:
            self.console.print(Text(f"WARNING: {text}", style="yellow"))
        for error in stream.errors[seen.errors :]:
            self.print_error(error)
        seen.information, seen.verbose = len(stream.information), len(stream.verbose)
        seen.warnings, seen.errors = len(stream.warnings), len(stream.errors)

    def print_error(self, error: CommandError) -> None:
        """An error record as PowerShell prints a remote one: message, CategoryInfo, FullyQualifiedErrorId."""
        self.console.print(Text(format_error(error, self.computer), style="red"), soft_wrap=True)

    def print_grammar_error(self, error: Any, text: str) -> None:
        """The line, a caret under the column at fault, and the reason."""
        lines = text.splitlines() or [text]
        line_no = getattr(error, "line", 1) or 1
        source = getattr(error, "source_line", "") or lines[min(line_no, len(lines)) - 1]
        column = max(1, int(getattr(error, "column", 1) or 1))
        pad = "".join(ch if ch == "\t" else " " for ch in source[: column - 1])
        where = f"line {line_no}, column {column}" if line_no > 1 else f"column {column}"
        self.console.print(Text(f"  {source}"), soft_wrap=True)
        self.console.print(Text(f"  {pad}^", style="bold red"), soft_wrap=True)
        self.console.print(Text(f"{error.message} ({where}); nothing was sent.", style="red"), soft_wrap=True)

    # --- the loops

    async def interact(self, prompt_session: PromptSession[str]) -> None:
        """Read, run, print until ``exit`` or Ctrl-D; Ctrl-C at the prompt only clears the line."""
        while True:
            try:
                text = await prompt_session.prompt_async(self.prompt)
            except KeyboardInterrupt:
                continue
            except EOFError:
                return
            if await self.execute(text):
                return

    async def run_lines(self, lines: Iterable[str]) -> None:
        """Lines from a pipe or a file (no terminal): run each in turn until ``exit`` or the end."""
        for line in lines:
            if await self.execute(line.rstrip("\r\n")):
                return


def format_error(error: CommandError, computer: str = "") -> str:
    """PowerShell's text for a remote error record (``Get-Mailbox nobody`` in a remote session)."""
    head = f"{error.activity} : {error.message}" if error.activity else error.message
    lines = [head, f"    + CategoryInfo          : {error.category_info}"]
    if error.fully_qualified_error_id:
        lines.append(f"    + FullyQualifiedErrorId : {error.fully_qualified_error_id}")
    if computer:
        lines.append(f"    + PSComputerName        : {computer}")
    return "\n".join(lines)


@contextlib.contextmanager
def _sigint_cancels(task: asyncio.Future[Any]) -> Iterator[None]:
    """While ``task`` runs, SIGINT cancels it instead of raising KeyboardInterrupt somewhere."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, task.cancel)
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or Windows
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


async def _interruptible(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` so that Ctrl-C cancels it cleanly (a half-open session is removed), then raise
    KeyboardInterrupt: the command's usual exit status 130."""
    task = asyncio.ensure_future(coro)
    with _sigint_cancels(task):
        await asyncio.wait({task})
    if task.cancelled():
        raise KeyboardInterrupt
    return task.result()


# ------------------------------------------------------------------------------------------------ running


def run_shell(
    org: str | None,
    uri: str,
    credential: Credential | Any,
    *,
    ca_file: str | Path | None = None,
    insecure: bool = False,
    console: Console | None = None,
    interactive: bool | None = None,
    history: Path | None = None,
    transport: str = "rps",
    authority: str | None = None,
    client_id: str | None = None,
    token_cache: Path | None = None,
) -> int:
    """Open the session, run the prompt (or the lines of a non-terminal stdin), always close the session.

    ``transport="rest"``: Exchange Online's REST API, ``credential`` any sign-in
    :func:`aobo.toolkit.rest.open_rest_session` takes. Returns the exit status: 0, or 1 when a line
    failed and standard input was not a terminal.
    """
    from aobo.toolkit.rest import open_rest_session
    from aobo.toolkit.session import open_session

    console = console or Console(highlight=False)
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()
    loop = asyncio.new_event_loop()
    session: AsyncSession | None = None
    try:
        opening: Coroutine[Any, Any, Any]
        if transport == "rest":
            opening = open_rest_session(
                org,
                credential,
                uri=uri,
                authority=authority,
                client_id=client_id,
                ca_file=ca_file,
                insecure=insecure,
                token_cache=token_cache,
            )
        else:
            opening = open_session(uri, credential, org, ca_file=ca_file, insecure=insecure)
        session = loop.run_until_complete(_interruptible(opening))
        who = str(getattr(credential, "username", None) or session.username)
        display = org or getattr(session, "tenant", None) or who.partition("@")[2] or None
        shell = Shell(session, console, display_name=display)
        catalog = loop.run_until_complete(_interruptible(shell.load_catalog()))
        if interactive:
            console.print(
                f"Connected to [bold]{escape(shell.display_name)}[/] as {escape(who)} "
                f"({len(catalog.parameters)} commands). Type [bold]help[/] for help, [bold]exit[/] to leave.",
                highlight=False,
            )
            completer = ShellCompleter(catalog)
            store = _open_history(history_path() if history is None else history)
            prompt_session = _prompt_session(completer, store)
            loop.run_until_complete(shell.interact(prompt_session))
            return 0
        loop.run_until_complete(shell.run_lines(sys.stdin))
        return 1 if shell.failures else 0
    finally:
        if session is not None:
            loop.run_until_complete(session.close())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _prompt_session(completer: ShellCompleter, history: History) -> PromptSession[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.shortcuts import CompleteStyle

    return PromptSession(
        history=history,
        completer=completer,
        complete_while_typing=False,
        complete_style=CompleteStyle.READLINE_LIKE,
        enable_suspend=True,
    )


# ------------------------------------------------------------------------------------------------ the command

OrgArgument = Annotated[
    str | None,
    typer.Argument(
        help="The customer to act for (DelegatedOrg): its domain, e.g. contoso.onmicrosoft.com, or tenant id. "
        "Without it, the account's own tenant.",
        show_default=False,
    ),
]


def shell(
    org: OrgArgument = None,
    uri: UriOption = None,
    username: UsernameOption = None,
    profile: ProfileOption = None,
    ca_file: CaFileOption = None,
    insecure: InsecureOption = False,
    transport: TransportOption = None,
    authority: AuthorityOption = None,
    client_id: ClientIdOption = None,
    app_id: AppIdOption = None,
    certificate: CertificateOption = None,
    device_code: DeviceCodeOption = False,
    token_cache: TokenCacheOption = None,
) -> None:
    """Interactive prompt in a customer's Exchange Online: Tab completion, tables, Ctrl-C stops a command."""

    with exit_codes(), client_errors():
        endpoint, prof = client_profile(
            profile,
            uri=uri,
            username=username,
            ca_file=ca_file,
            insecure=insecure or None,
            **rest_options(
                transport=transport,
                authority=authority,
                client_id=client_id,
                app_id=app_id,
                certificate=certificate,
                token_cache=token_cache,
            ),
        )
        sign_in = sign_in_for(prof, endpoint, device_code=device_code)
        status = run_shell(
            org,
            endpoint,
            sign_in,
            ca_file=prof.ca_file,
            insecure=prof.insecure,
            transport=prof.transport,
            authority=prof.authority,
            client_id=prof.client_id,
            token_cache=prof.token_cache,
        )
    if status:
        raise typer.Exit(status)


def register(app: typer.Typer) -> None:
    """Add ``shell`` to ``app`` (the lead wires this into ``aobo.cli.app``)."""
    app.command("shell")(shell)
