"""The few psrpcore internals aobo's runspace relies on, pinned so an upgrade that changes them
fails here rather than in production (pyproject also caps psrpcore below 0.4)."""

from __future__ import annotations

import uuid
from xml.etree import ElementTree

import psrpcore
import pytest
from psrpcore.types import PSInvocationState


def open_pool() -> psrpcore.ServerRunspacePool:
    client = psrpcore.ClientRunspacePool()
    client.open()
    server = psrpcore.ServerRunspacePool()
    server.receive_data(client.data_to_send())
    while server.next_event() is not None:
        pass
    while server.data_to_send() is not None:
        pass
    return server


def test_every_outgoing_message_takes_one_object_id_from_the_pool_counter() -> None:
    # The fast output path reserves ids by advancing _fragment_count; psrpcore must take its own
    # ids from the same counter, one per message.
    pool = open_pool()
    pipe = psrpcore.ServerPipeline(pool, uuid.uuid4())
    pipe.start()
    before = pool._fragment_count
    pipe.write_warning("one")
    pipe.write_warning("two")
    assert pool._fragment_count == before + 2
    ids = []
    while (payload := pool.data_to_send()) is not None:
        data = payload.data
        offset = 0
        while offset < len(data):
            ids.append(int.from_bytes(data[offset : offset + 8], "big"))
            offset += 21 + int.from_bytes(data[offset + 17 : offset + 21], "big")
    assert ids[-2:] == [before, before + 1]


def test_change_state_without_emit_queues_nothing() -> None:
    pool = open_pool()
    pipe = psrpcore.ServerPipeline(pool, uuid.uuid4())
    pipe._change_state(PSInvocationState.Running, emit=False)
    assert pipe.state == PSInvocationState.Running
    assert pool.data_to_send() is None
    pipe.write_warning("written while Running")
    assert pool.data_to_send() is not None


def test_receive_state_can_be_dropped_after_bad_input() -> None:
    pool = open_pool()
    assert isinstance(pool._receive_buffer, bytearray)
    assert isinstance(pool._incoming_fragments, dict)
    assert isinstance(pool._incoming_messages, dict)


def test_windows_command_types_replace_psrpcores_enum_in_the_type_registry() -> None:
    # Import-PSSession on Windows PowerShell 5.1 asks for CommandType 399 (with Workflow, 128),
    # which psrpcore's own enum refuses; the deserialiser must rehydrate aobo's 5.1 enum instead.
    from psrpcore.types import CommandTypes as PsrpcoreCommandTypes
    from psrpcore.types import deserialize
    from psrpcore.types._base import TypeRegistry

    from aobo.frontends.psrp import windows_types

    with pytest.raises(ValueError):
        PsrpcoreCommandTypes(399)
    windows_types.register()
    assert TypeRegistry().type_registry[windows_types.COMMAND_TYPES_NAME] is windows_types.CommandTypes
    element = ElementTree.fromstring(
        '<Obj RefId="0"><TN RefId="0"><T>System.Management.Automation.CommandTypes</T><T>System.Enum</T>'
        "<T>System.ValueType</T><T>System.Object</T></TN>"
        "<ToString>Alias, Function, Filter, Cmdlet, Workflow, Configuration</ToString><I32>399</I32></Obj>"
    )
    value = deserialize(element, None)
    assert int(value) == 399
    assert value & windows_types.CommandTypes.Workflow
