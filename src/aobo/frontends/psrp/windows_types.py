"""Windows PowerShell 5.1's values of the .NET enums psrpcore reads more narrowly than 5.1 writes.

psrpcore models PowerShell 7, whose ``CommandTypes`` has no ``Workflow`` member; Windows
PowerShell 5.1 (.NET Framework) has ``Workflow = 128`` and ``All = 511``, and ``Import-PSSession``
asks for ``All`` without Application, Script and ExternalScript: ``CommandType`` 399 in
GET_COMMAND_METADATA, which psrpcore's enum refuses (``ValueError``), failing the Import.

psrpcore's deserialiser rehydrates an enum through its type registry by .NET type name, so
registering the 5.1 shape under the same name is enough; the engine treats ``Workflow`` as
matching nothing (there are no workflows). The other .NET values 5.1 sends on the seed's path
(``RemoteStreamOptions`` 15 and the console ``HostInfo`` of Invoke-Command's pipeline,
``ApartmentState`` Unknown, ``PSThreadOptions``) are within psrpcore's enums;
``tests/e2e/test_windows_powershell.py`` sends them as 5.1 does.
"""

from __future__ import annotations

from psrpcore.types import PSFlagBase, PSType
from psrpcore.types._base import TypeRegistry

COMMAND_TYPES_NAME = "System.Management.Automation.CommandTypes"


@PSType([COMMAND_TYPES_NAME])
class CommandTypes(PSFlagBase):
    """``System.Management.Automation.CommandTypes`` as Windows PowerShell 5.1 defines it."""

    Alias = 1
    Function = 2
    Filter = 4
    Cmdlet = 8
    ExternalScript = 16
    Application = 32
    Script = 64
    Workflow = 128
    Configuration = 256
    All = 511


def register() -> None:
    """Make psrpcore rehydrate 5.1's values (idempotent; PSType keeps the first registration)."""
    TypeRegistry().type_registry[COMMAND_TYPES_NAME] = CommandTypes
