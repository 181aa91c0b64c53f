"""Auto-unsubscribe, flush, drain, max_payload and many subscriptions with nats-py."""

import asyncio

import nats.errors
import pytest

from support import STEP, raw_connect, read_line, read_to_end


async def test_max_msgs_auto_unsubscribe(server, connect):
    async with asyncio.timeout(30):
        nc = await connect(server.url)
        limited = await nc.subscribe("auto.unsub", max_msgs=3)
        control = await nc.subscribe("auto.unsub")
        await nc.flush()
        for i in range(10):
            await nc.publish("auto.unsub", str(i).encode())
        await nc.flush()

        for i in range(10):
            assert (await control.next_msg(timeout=STEP)).data == str(i).encode()
        for i in range(3):
            assert (await limited.next_msg(timeout=STEP)).data == str(i).encode()
        with pytest.raises(nats.errors.TimeoutError):
            await limited.next_msg(timeout=0.5)
        assert limited.delivered == 3


async def test_server_enforces_unsub_max(server, connect):
    """nats-py also filters by sid and counts max_msgs itself, so check the server's `UNSUB`
    (immediate and with a maximum) on a raw connection."""
    async with asyncio.timeout(30):
        reader, writer, _ = await raw_connect(server.port)
        writer.write(
            b'CONNECT {"verbose":false,"pedantic":false}\r\n'
            b"SUB wire.unsub 7\r\nUNSUB 7 2\r\n"
            b"SUB wire.unsub 8\r\nUNSUB 8\r\nPING\r\n"
        )
        await writer.drain()
        assert await read_line(reader) == b"PONG"

        nc = await connect(server.url)
        for i in range(5):
            await nc.publish("wire.unsub", f"m{i}".encode())
        await nc.flush()

        writer.write(b"PING\r\n")
        await writer.drain()
        got = []
        while (line := await read_line(reader)) != b"PONG":
            assert line == b"MSG wire.unsub 7 2", line
            got.append(await asyncio.wait_for(reader.readexactly(4), STEP))
        assert got == [b"m0\r\n", b"m1\r\n"]
        writer.close()


async def test_flush_is_a_server_round_trip(server, connect):
    n = 2000
    async with asyncio.timeout(60):
        sub_nc = await connect(server.url)
        pub_nc = await connect(server.url)
        sub = await sub_nc.subscribe("flush.test")
        # nats-py's flush waits for the PONG: the SUB is in place once it returns.
        await sub_nc.flush(timeout=STEP)
        for i in range(n):
            await pub_nc.publish("flush.test", str(i).encode())
        await pub_nc.flush(timeout=STEP)
        for i in range(n):
            assert (await sub.next_msg(timeout=STEP)).data == str(i).encode()


async def test_drain_subscription_delivers_pending_then_stops(server, connect):
    async with asyncio.timeout(30):
        nc = await connect(server.url)
        pub = await connect(server.url)
        got = []

        async def slow(msg):
            await asyncio.sleep(0.001)
            got.append(int(msg.data))

        sub = await nc.subscribe("drain.sub", cb=slow)
        other = await nc.subscribe("drain.sub")
        await nc.flush()
        for i in range(100):
            await pub.publish("drain.sub", str(i).encode())
        await pub.flush()

        await sub.drain()
        assert got == list(range(100))

        await pub.publish("drain.sub", b"100")
        await pub.flush()
        for i in range(101):
            assert (await other.next_msg(timeout=STEP)).data == str(i).encode()
        await nc.flush()
        assert got == list(range(100)), "a drained subscription received more"


async def test_drain_client_processes_pending_and_closes(server, connect):
    async with asyncio.timeout(30):
        nc = await connect(server.url)
        pub = await connect(server.url)
        got_a, got_b = [], []

        async def on_a(msg):
            got_a.append(int(msg.data))

        async def on_b(msg):
            got_b.append(int(msg.data))

        await nc.subscribe("drain.client.a", cb=on_a)
        await nc.subscribe("drain.client.b", cb=on_b)
        await nc.flush()
        for i in range(50):
            await pub.publish("drain.client.a", str(i).encode())
            await pub.publish("drain.client.b", str(i).encode())
        await pub.flush()

        await nc.drain()
        assert got_a == list(range(50))
        assert got_b == list(range(50))
        assert nc.is_closed

        # The server keeps serving the others.
        sub = await pub.subscribe("drain.client.a")
        await pub.flush()
        await pub.publish("drain.client.a", b"still here")
        assert (await sub.next_msg(timeout=STEP)).data == b"still here"


async def test_max_payload_at_limit_and_over(make_server, connect):
    limit = 4096
    srv = make_server(max_payload=limit)
    async with asyncio.timeout(30):
        nc = await connect(srv.url)
        assert nc.max_payload == limit, "INFO max_payload reaches the client"
        sub = await nc.subscribe("big")
        await nc.flush()

        exact = b"x" * limit
        await nc.publish("big", exact)
        await nc.flush()
        assert (await sub.next_msg(timeout=STEP)).data == exact

        # nats-py refuses an oversize publish from the server's INFO.
        with pytest.raises(nats.errors.MaxPayloadError):
            await nc.publish("big", b"x" * (limit + 1))

        # The server checks the declared size itself and closes the offender.
        reader, writer, info = await raw_connect(srv.port)
        assert f'"max_payload":{limit}'.encode() in info, info
        writer.write(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        await writer.drain()
        assert await read_line(reader) == b"PONG"
        writer.write(f"PUB big {limit + 1}\r\n".encode())
        await writer.drain()
        assert await read_line(reader) == b"-ERR 'Maximum Payload Violation'"
        assert await read_to_end(reader) == b"", "the connection must be closed"

        await nc.publish("big", b"small")
        assert (await sub.next_msg(timeout=STEP)).data == b"small"


async def test_ten_thousand_subscriptions_on_one_connection(server, connect):
    n = 10_000
    async with asyncio.timeout(120):
        nc = await connect(server.url)
        subs = [await nc.subscribe(f"many.{i}") for i in range(n)]
        await nc.flush(timeout=30)

        watcher = await connect(server.url)
        everything = await watcher.subscribe("many.*")
        await watcher.flush()

        pub = await connect(server.url)
        for i in range(n):
            await pub.publish(f"many.{i}", str(i).encode())
        await pub.flush(timeout=30)

        for i, sub in enumerate(subs):
            msg = await sub.next_msg(timeout=STEP)
            assert msg.subject == f"many.{i}"
            assert msg.data == str(i).encode()
        seen = {(await everything.next_msg(timeout=STEP)).data for _ in range(n)}
        assert len(seen) == n
