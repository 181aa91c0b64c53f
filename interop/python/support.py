"""Helpers shared by the nats-py interop tests (imported by the test modules)."""

import asyncio

# Upper bound for anything that should happen almost at once; a hang fails, it never stalls.
STEP = 5.0


async def read_line(reader: asyncio.StreamReader) -> bytes:
    """One protocol line without its CRLF."""
    line = await asyncio.wait_for(reader.readuntil(b"\r\n"), STEP)
    return line[:-2]


async def raw_connect(port: int):
    """A raw protocol socket: returns (reader, writer, info_line) after the server's INFO."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    info = await read_line(reader)
    assert info.startswith(b"INFO {"), info
    return reader, writer, info


async def read_to_end(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closes the connection."""
    try:
        return await asyncio.wait_for(reader.read(), STEP)
    except ConnectionResetError:
        return b""
