"""The shell table: open sessions, their owners, the per-account cap and idle expiry.

Exchange Online allows an account three concurrent remote PowerShell sessions (its MaxConcurrency
budget) and drops a session 15 minutes after its last use. A slot is *reserved* before any work
on a Create begins and released if the Create fails, so many simultaneous Creates can never
exceed the cap.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from aobo.cmdlets.access import SessionScope
from aobo.errors import SessionLimitExceeded
from aobo.frontends.psrp.runspace import Runspace

#: Finished commands remembered per shell after their output was received.
RETIRED_COMMANDS = 1024

POLICY_DN = (
    "CN=GlobalThrottlingPolicy_3a6e7a5c-7a5e-4b8e-9f21-1c2d3e4f5a6b,CN=Global Settings,CN=ExchangeLabs,"
    "CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=NAMPR01A001,DC=PROD,DC=OUTLOOK,DC=COM"
)


def max_concurrency_message(limit: int, owner: str, now: time.struct_time | None = None) -> str:
    """Exchange Online's MaxConcurrency error, with its policy line and budget snapshot."""
    stamp = time.strftime("%m/%d/%Y %I:%M:%S %p", now or time.gmtime()).lstrip("0").replace("/0", "/")
    snapshot = "\t".join(
        [
            f"Owner: Sid~{owner}~WSMan~false",
            "BudgetType: WSMan",
            f"ActiveRunspaces: {limit}/{limit}",
            "Balance: 600000/1800000/-3000000",
            "PowerShellCmdletsLeft: 200/200",
            "ExchangeCmdletsLeft: 9223372036854775807/Unlimited",
            "CmdletTimePeriod: 5",
            "DestructiveCmdletsLeft: 9223372036854775807/Unlimited",
            "DestructiveCmdletTimePeriod: Unlimited",
            "QueueDepth: Unlimited",
            "MaxRunspacesTimePeriod: 60",
            "RunSpacesRemaining: 5/5",
            f"LastTimeFrameUpdate: {stamp}",
            f"LastTimeFrameUpdateDestructiveCmdlets: {stamp}",
            f"LastTimeFrameUpdateMaxRunspaces: {stamp}",
            "Locked: False",
            "LockRemaining: 00:00:00",
        ]
    )
    return (
        f"[AuthZRequestId={uuid.uuid4()}][FailureCategory=AuthZ-AuthorizationException] Fail to create a runspace "
        f"because you have exceeded the maximum number of connections allowed : {limit} for the policy party : "
        f"MaxConcurrency. Please close existing runspace and try again.\r\nPolicy: {POLICY_DN}; \r\nSnapshot: "
        f"{snapshot}"
    )


@dataclass(eq=False)
class Shell:
    shell_id: str
    owner_key: str
    scope: SessionScope
    runspace: Runspace
    resource_uri: str
    client_ip: str
    idle_timeout: float
    created: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    active_requests: int = 0
    #: The client asked for xpress stream compression in its Create ([MS-WSMV] 3.1.4.1.31.6).
    compressed: bool = False
    #: WS-Man CommandId (upper case) → PSRP pipeline id; they need not be the same GUID. None while
    #: the pipeline is being created.
    commands: dict[str, uuid.UUID | None] = field(default_factory=dict)
    #: CommandIds (as 128-bit ints: a third of the memory of their text) of pipelines whose output
    #: was received to the end, newest last: a later Signal or Receive for one still succeeds.
    #: Windows sends Signal terminate after every command; pypsrp scripts often never do, so only
    #: the newest RETIRED_COMMANDS are remembered.
    retired: OrderedDict[int | str, None] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def claim(self, command_id: str) -> bool:
        """Take the CommandId for a new command; False when a live command has it. A retired one's
        may be taken again: pypsrp's invoke() of one PowerShell object sends the same id each time,
        with no Signal terminate in between."""
        with self.lock:
            if command_id in self.commands:
                return False
            self.retired.pop(_tombstone(command_id), None)
            self.commands[command_id] = None
            return True

    def retire(self, command_id: str) -> None:
        """The command's output was all received: keep only its CommandId. The tombstone is laid
        before the command leaves the live table, so a lookup in that order always finds one."""
        with self.lock:
            self.retired[_tombstone(command_id)] = None
            while len(self.retired) > RETIRED_COMMANDS:
                self.retired.popitem(last=False)
            self.commands.pop(command_id, None)

    def is_retired(self, command_id: str) -> bool:
        return _tombstone(command_id) in self.retired

    def forget(self, command_id: str) -> None:
        """Signal terminate of a retired command: the client is done with it, its id is free again."""
        with self.lock:
            self.retired.pop(_tombstone(command_id), None)


def _tombstone(command_id: str) -> int | str:
    # Clients use GUIDs (the pipeline id); kept as an int, one costs a third of its text.
    try:
        return uuid.UUID(command_id).int
    except ValueError:
        return command_id


class ShellTable:
    def __init__(self, max_per_user: int) -> None:
        self.max_per_user = max_per_user
        self._lock = threading.Lock()
        self._shells: dict[str, Shell] = {}
        self._reserved: Counter[str] = Counter()

    def reserve(self, owner_key: str) -> None:
        """Take one of the owner's slots or raise SessionLimitExceeded."""
        with self._lock:
            if self._reserved[owner_key] >= self.max_per_user:
                raise SessionLimitExceeded(max_concurrency_message(self.max_per_user, owner_key), self.max_per_user)
            self._reserved[owner_key] += 1

    def release(self, owner_key: str) -> None:
        with self._lock:
            self._reserved[owner_key] -= 1
            if self._reserved[owner_key] <= 0:
                del self._reserved[owner_key]

    def add(self, shell: Shell) -> None:
        """Register a shell whose owner already holds a reserved slot."""
        with self._lock:
            if shell.shell_id in self._shells:
                raise KeyError(shell.shell_id)
            self._shells[shell.shell_id] = shell

    def get(self, shell_id: str) -> Shell | None:
        with self._lock:
            return self._shells.get(shell_id.upper())

    def remove(self, shell_id: str) -> Shell | None:
        """Forget a shell and free its owner's slot at once."""
        with self._lock:
            shell = self._shells.pop(shell_id.upper(), None)
            if shell is not None:
                self._reserved[shell.owner_key] -= 1
                if self._reserved[shell.owner_key] <= 0:
                    del self._reserved[shell.owner_key]
        return shell

    def expired(self, now: float | None = None) -> list[Shell]:
        now = time.monotonic() if now is None else now
        with self._lock:
            return [s for s in self._shells.values() if s.active_requests == 0 and now - s.last_used > s.idle_timeout]

    def all(self) -> list[Shell]:
        with self._lock:
            return list(self._shells.values())

    def count(self, owner_key: str | None = None) -> int:
        with self._lock:
            if owner_key is None:
                return len(self._shells)
            return sum(1 for s in self._shells.values() if s.owner_key == owner_key)
