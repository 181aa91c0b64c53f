"""A nats-py client survives a restart of the server process on the same port."""

import asyncio

from support import STEP


async def test_reconnect_and_resubscribe_after_restart(server, connect):
    async with asyncio.timeout(60):
        disconnected = asyncio.Event()
        reconnected = asyncio.Event()

        async def on_disconnect():
            disconnected.set()

        async def on_reconnect():
            reconnected.set()

        nc = await connect(
            server.url,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.1,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
        )
        sub = await nc.subscribe("restart.test")
        await nc.flush()
        await nc.publish("restart.test", b"before")
        assert (await sub.next_msg(timeout=STEP)).data == b"before"

        server.stop()
        await asyncio.wait_for(disconnected.wait(), STEP)
        server.start()
        await asyncio.wait_for(reconnected.wait(), 20)
        # The flush's PING follows the re-sent SUBs, so they are in place once it returns.
        await nc.flush(timeout=STEP)

        other = await connect(server.url)
        await other.publish("restart.test", b"after")
        await other.flush()
        assert (await sub.next_msg(timeout=STEP)).data == b"after"

        await nc.publish("restart.test", b"own")
        assert (await sub.next_msg(timeout=STEP)).data == b"own"
        assert nc.stats["reconnects"] >= 1
