"""Request/reply, no-responders and headers with nats-py."""

import asyncio

import nats.errors
import pytest

from support import STEP, raw_connect, read_line


async def test_request_reply(server, connect):
    async with asyncio.timeout(30):
        responder = await connect(server.url)

        async def upper(msg):
            await msg.respond(msg.data.upper())

        await responder.subscribe("svc.upper", cb=upper)
        await responder.flush()

        requester = await connect(server.url)
        answer = await requester.request("svc.upper", b"hello", timeout=STEP)
        assert answer.data == b"HELLO"

        # Many requests in flight at once each get their own answer.
        answers = await asyncio.gather(
            *(requester.request("svc.upper", f"req{i}".encode(), timeout=STEP) for i in range(50))
        )
        assert [a.data for a in answers] == [f"REQ{i}".encode() for i in range(50)]

        # The old style: an explicit inbox and reply subject.
        inbox = requester.new_inbox()
        sub = await requester.subscribe(inbox)
        await requester.flush()
        await requester.publish("svc.upper", b"manual", reply=inbox)
        reply = await sub.next_msg(timeout=STEP)
        assert reply.data == b"MANUAL"
        assert reply.subject == inbox


async def test_request_without_responders_fails_fast(server, connect):
    async with asyncio.timeout(30):
        nc = await connect(server.url)
        loop = asyncio.get_running_loop()
        started = loop.time()
        # A long timeout: only the server's 503 can end the request early.
        with pytest.raises(nats.errors.NoRespondersError):
            await nc.request("nobody.listens", b"ping", timeout=20)
        assert loop.time() - started < 10, "no-responders must not wait for the timeout"

        async def pong(msg):
            await msg.respond(b"pong")

        await nc.subscribe("nobody.listens", cb=pong)
        await nc.flush()
        assert (await nc.request("nobody.listens", b"ping", timeout=STEP)).data == b"pong"


async def test_headers_round_trip(server, connect):
    async with asyncio.timeout(30):
        nc = await connect(server.url)
        sub = await nc.subscribe("hdr.test")
        await nc.flush()

        await nc.publish(
            "hdr.test",
            b"body",
            headers={"X-Trace-Id": "abc-123", "Content-Type": "text/plain; charset=utf-8"},
        )
        await nc.publish("hdr.test", b"", headers={"K": "v"})
        await nc.flush()

        msg = await sub.next_msg(timeout=STEP)
        assert msg.data == b"body"
        assert msg.headers == {
            "X-Trace-Id": "abc-123",
            "Content-Type": "text/plain; charset=utf-8",
        }
        msg = await sub.next_msg(timeout=STEP)
        assert msg.data == b""
        assert msg.headers == {"K": "v"}

        async def answer(msg):
            await nc.publish(msg.reply, b"ok", headers={"A": "re:" + msg.headers["Q"]})

        await nc.subscribe("hdr.svc", cb=answer)
        await nc.flush()
        reply = await nc.request("hdr.svc", b"?", timeout=STEP, headers={"Q": "question"})
        assert reply.headers == {"A": "re:question"}
        assert reply.data == b"ok"


async def test_repeated_header_keys_and_status_pass_through(server, connect):
    """nats-py keeps headers in a dict, so a raw peer checks the bytes the server forwards."""
    async with asyncio.timeout(30):
        reader, writer, _ = await raw_connect(server.port)
        writer.write(
            b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
            b"SUB hdr.raw 1\r\nPING\r\n"
        )
        await writer.drain()
        assert await read_line(reader) == b"PONG"

        nc = await connect(server.url)
        sub = await nc.subscribe("hdr.raw")
        await nc.flush()

        block = b"NATS/1.0 408 Request Timeout\r\nX-Multi: one\r\nX-Multi: two\r\n\r\n"
        body = b"late"
        _, pwriter, _ = await raw_connect(server.port)
        pwriter.write(
            b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
            + f"HPUB hdr.raw {len(block)} {len(block) + len(body)}\r\n".encode()
            + block + body + b"\r\n"
        )
        await pwriter.drain()

        line = await read_line(reader)
        assert line == f"HMSG hdr.raw 1 {len(block)} {len(block) + len(body)}".encode()
        forwarded = await asyncio.wait_for(reader.readexactly(len(block) + len(body) + 2), STEP)
        assert forwarded == block + body + b"\r\n"

        msg = await sub.next_msg(timeout=STEP)
        assert msg.data == body
        assert msg.headers["Status"] == "408"
        assert msg.headers["Description"] == "Request Timeout"
        assert msg.headers["X-Multi"] in ("one", "two")
        pwriter.close()
        writer.close()
