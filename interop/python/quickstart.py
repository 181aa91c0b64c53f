"""Quick start with nats-py: connect to a running natter-server, subscribe, publish, print.

    natter-server &                       # listens on 127.0.0.1:4222
    python interop/python/quickstart.py   # NATS_URL overrides the address

test_quickstart.py runs `run` against a real server, so this example stays correct.
"""

import asyncio
import os

import nats


async def run(url: str) -> str:
    """Subscribe to greet.*, publish one greeting to greet.joe, return the printed line."""
    nc = await nats.connect(url)
    try:
        greetings = await nc.subscribe("greet.*")
        await nc.publish("greet.joe", b"hello from nats-py")
        msg = await greetings.next_msg(timeout=5)
        line = f"received on {msg.subject}: {msg.data.decode()}"
        print(line)
        return line
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(run(os.environ.get("NATS_URL", "nats://127.0.0.1:4222")))
