"""Publish/subscribe, wildcards and queue groups with nats-py."""

import asyncio
from collections import Counter

from support import STEP


async def subjects_until(sub, last):
    """Subjects a subscription receives up to and including the marker `last`."""
    seen = []
    while True:
        msg = await sub.next_msg(timeout=STEP)
        seen.append(msg.subject)
        if msg.subject == last:
            return seen


async def test_publish_subscribe_round_trip(server, connect):
    async with asyncio.timeout(30):
        sub_nc = await connect(server.url)
        pub_nc = await connect(server.url)
        sub = await sub_nc.subscribe("greet.joe")
        await sub_nc.flush()

        for i in range(3):
            await pub_nc.publish("greet.joe", f"hello {i}".encode())
        await pub_nc.publish("greet.sue", b"not for joe")
        await pub_nc.publish("greet.joe", b"")
        await pub_nc.flush()

        for i in range(3):
            msg = await sub.next_msg(timeout=STEP)
            assert msg.subject == "greet.joe"
            assert msg.data == f"hello {i}".encode()
            assert msg.reply == ""
            assert not msg.headers
        empty = await sub.next_msg(timeout=STEP)
        assert empty.subject == "greet.joe"
        assert empty.data == b""


async def test_callback_subscription_and_no_echo(server, connect):
    async with asyncio.timeout(30):
        echo = await connect(server.url)
        quiet = await connect(server.url, no_echo=True)
        got_echo = []
        both_seen = asyncio.Event()

        async def on_echo(msg):
            got_echo.append(msg.data)
            if len(got_echo) == 2:
                both_seen.set()

        await echo.subscribe("echo.test", cb=on_echo)
        quiet_sub = await quiet.subscribe("echo.test")
        await echo.flush()
        await quiet.flush()

        await quiet.publish("echo.test", b"from quiet")
        await quiet.flush()
        await echo.publish("echo.test", b"from echo")
        await echo.flush()
        await asyncio.wait_for(both_seen.wait(), STEP)
        assert got_echo == [b"from quiet", b"from echo"]

        # "from quiet" was routed first, so had it come back it would be first in line.
        first = await quiet_sub.next_msg(timeout=STEP)
        assert first.data == b"from echo"


async def test_star_and_full_wildcards(server, connect):
    async with asyncio.timeout(30):
        nc = await connect(server.url)
        pub = await connect(server.url)
        star = await nc.subscribe("a.*")
        full = await nc.subscribe("a.>")
        middle = await nc.subscribe("a.*.c")
        leading = await nc.subscribe("*.*.c")
        everything = await nc.subscribe(">")
        await nc.flush()

        for subject in ["a", "a.b", "a.b.c", "a.b.c.d", "x.b.c", "a.b.d", "b"]:
            await pub.publish(subject, b"x")
        # Markers go last: per-publisher ordering means nothing else is on the way after them.
        await pub.publish("a.end", b"")
        await pub.publish("a.end.c", b"")
        await pub.flush()

        assert await subjects_until(star, "a.end") == ["a.b", "a.end"]
        assert await subjects_until(full, "a.end.c") == [
            "a.b", "a.b.c", "a.b.c.d", "a.b.d", "a.end", "a.end.c",
        ]
        assert await subjects_until(middle, "a.end.c") == ["a.b.c", "a.end.c"]
        assert await subjects_until(leading, "a.end.c") == ["a.b.c", "x.b.c", "a.end.c"]
        assert await subjects_until(everything, "a.end.c") == [
            "a", "a.b", "a.b.c", "a.b.c.d", "x.b.c", "a.b.d", "b", "a.end", "a.end.c",
        ]


async def test_queue_group_delivers_each_message_once(server, connect):
    n = 400
    async with asyncio.timeout(60):
        deliveries = []
        all_in = asyncio.Event()

        def on_member(member):
            async def cb(msg):
                deliveries.append((member, int(msg.data)))
                if len(deliveries) >= n:
                    all_in.set()
            return cb

        members = []
        for member in range(4):
            nc = await connect(server.url)
            await nc.subscribe("jobs.run", queue="workers", cb=on_member(member))
            await nc.flush()
            members.append(nc)

        watcher = await connect(server.url)
        plain = await watcher.subscribe("jobs.run")
        await watcher.flush()

        pub = await connect(server.url)
        for i in range(n):
            await pub.publish("jobs.run", str(i).encode())
        await pub.flush()

        # A plain subscriber beside the group sees every message.
        for i in range(n):
            assert (await plain.next_msg(timeout=STEP)).data == str(i).encode()

        await asyncio.wait_for(all_in.wait(), STEP)
        # Round trips on every member: whatever the server sent them has been handled.
        for nc in members:
            await nc.flush()
        await asyncio.sleep(0.3)
        numbers = [i for _, i in deliveries]
        assert len(numbers) == n, f"{len(numbers)} deliveries for {n} messages"
        assert sorted(numbers) == list(range(n))
        per_member = Counter(member for member, _ in deliveries)
        assert all(per_member[m] > 0 for m in range(4)), per_member
