""".NET enum value tables the engine needs: names and numbers exactly as .NET defines them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["COMMAND_TYPES_VALUES", "RECIPIENT_TYPE_DETAILS_VALUES", "RECIPIENT_TYPE_VALUES"]

#: Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails (a flags enum over UInt64).
RECIPIENT_TYPE_DETAILS_VALUES: Final[Mapping[str, int]] = {
    "None": 0,
    "UserMailbox": 1,
    "LinkedMailbox": 2,
    "SharedMailbox": 4,
    "LegacyMailbox": 8,
    "RoomMailbox": 16,
    "EquipmentMailbox": 32,
    "MailContact": 64,
    "MailUser": 128,
    "MailUniversalDistributionGroup": 256,
    "MailNonUniversalGroup": 512,
    "MailUniversalSecurityGroup": 1024,
    "DynamicDistributionGroup": 2048,
    "PublicFolder": 4096,
    "SystemAttendantMailbox": 8192,
    "SystemMailbox": 16384,
    "MailForestContact": 32768,
    "User": 65536,
    "Contact": 131072,
    "UniversalDistributionGroup": 262144,
    "UniversalSecurityGroup": 524288,
    "NonUniversalGroup": 1048576,
    "DisabledUser": 2097152,
    "MicrosoftExchange": 4194304,
    "ArbitrationMailbox": 8388608,
    "MailboxPlan": 16777216,
    "LinkedUser": 33554432,
    "RoomList": 268435456,
    "DiscoveryMailbox": 536870912,
    "RoleGroup": 1073741824,
    "RemoteUserMailbox": 2147483648,
    "Computer": 4294967296,
    "RemoteRoomMailbox": 8589934592,
    "RemoteEquipmentMailbox": 17179869184,
    "RemoteSharedMailbox": 34359738368,
    "PublicFolderMailbox": 68719476736,
    "TeamMailbox": 137438953472,
    "RemoteTeamMailbox": 274877906944,
    "MonitoringMailbox": 549755813888,
    "GroupMailbox": 1099511627776,
    "LinkedRoomMailbox": 2199023255552,
    "AuditLogMailbox": 4398046511104,
    "RemoteGroupMailbox": 8796093022208,
    "SchedulingMailbox": 17592186044416,
    "GuestMailUser": 35184372088832,
    "AuxAuditLogMailbox": 70368744177664,
    "SupervisoryReviewPolicyMailbox": 140737488355328,
}

#: Microsoft.Exchange.Data.Directory.Recipient.RecipientType.
RECIPIENT_TYPE_VALUES: Final[Mapping[str, int]] = {
    "Invalid": 0,
    "User": 1,
    "UserMailbox": 2,
    "MailUser": 3,
    "Contact": 4,
    "MailContact": 5,
    "Group": 6,
    "MailUniversalDistributionGroup": 7,
    "MailUniversalSecurityGroup": 8,
    "MailNonUniversalGroup": 9,
    "DynamicDistributionGroup": 10,
    "PublicFolder": 11,
    "SystemAttendantMailbox": 12,
    "SystemMailbox": 13,
    "MicrosoftExchange": 14,
    "Computer": 15,
}

#: System.Management.Automation.CommandTypes (flags).
COMMAND_TYPES_VALUES: Final[Mapping[str, int]] = {
    "Alias": 1,
    "Function": 2,
    "Filter": 4,
    "Cmdlet": 8,
    "ExternalScript": 16,
    "Application": 32,
    "Script": 64,
    "Workflow": 128,
    "Configuration": 256,
    "All": 511,
}
