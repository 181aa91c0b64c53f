"""The README's nats-py quick start works against a real server."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import quickstart


async def test_quickstart_run(server):
    async with asyncio.timeout(30):
        line = await quickstart.run(server.url)
    assert line == "received on greet.joe: hello from nats-py"


def test_quickstart_script_uses_nats_url(server):
    script = Path(__file__).with_name("quickstart.py")
    out = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "NATS_URL": server.url},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "received on greet.joe: hello from nats-py\n"
