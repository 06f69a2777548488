#!/usr/bin/python3
"""Subscribers that must not miss a message across reloads.

Opens WebSocket subscribers (python3-websockets) and SSE subscribers (asyncio, chunked HTTP/1.1)
on one channel, publishes numbered messages at a steady rate, sends SIGHUP to the master a few
times meanwhile, and lets every subscriber reconnect with resume (?since= / Last-Event-ID) when
the old generation says goodbye. At the end every subscriber must hold every message exactly
once, in order. Prints one JSON line with the figures; exits 1 on any loss, duplicate or
disorder.
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import time
import urllib.request

import websockets


def publish(port, channel, data):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/pub/{channel}", data=data.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["id"]


def channel_info(port, channel):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/pub/{channel}", timeout=5) as response:
        return json.loads(response.read())


class Subscriber:
    def __init__(self, since):
        self.last_id = since
        self.received = []
        self.reconnects = 0
        self.gaps = 0
        self.connected = asyncio.Event()

    def take(self, message_id, data):
        self.last_id = message_id
        self.received.append(int(data))


async def websocket_subscriber(port, channel, sub, stop):
    while not stop.is_set():
        try:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/{channel}?since={sub.last_id}",
                                          ping_interval=None, max_queue=None) as ws:
                sub.connected.set()
                async for frame in ws:
                    message = json.loads(frame)
                    if message.get("event") == "gap":
                        sub.gaps += 1
                    elif "id" in message:
                        sub.take(message["id"], message["data"])
        except (websockets.exceptions.WebSocketException, OSError):
            pass
        if not stop.is_set():
            sub.reconnects += 1
            await asyncio.sleep(0.05)


async def read_chunk(reader):
    size_line = await reader.readline()
    if not size_line:
        return None
    size = int(size_line.strip(), 16)
    data = await reader.readexactly(size + 2)
    return None if size == 0 else data[:-2]


async def sse_subscriber(port, channel, sub, stop):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /sse/{channel} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
                         f"Last-Event-ID: {sub.last_id}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n")[0] or b"chunked" not in head.lower():
                raise OSError("unexpected answer: " + head.decode(errors="replace"))
            sub.connected.set()
            pending = b""
            while True:
                chunk = await read_chunk(reader)
                if chunk is None:
                    break
                pending += chunk
                while b"\n\n" in pending:
                    event, pending = pending.split(b"\n\n", 1)
                    fields = {}
                    for line in event.decode().split("\n"):
                        if line.startswith(":") or ":" not in line:
                            continue
                        name, value = line.split(":", 1)
                        fields[name] = value[1:] if value.startswith(" ") else value
                    if fields.get("event") == "gap":
                        sub.gaps += 1
                    elif "id" in fields:
                        sub.take(fields["id"], fields["data"])
            writer.close()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        if not stop.is_set():
            sub.reconnects += 1
            await asyncio.sleep(0.05)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--master-pid", type=int, required=True)
    parser.add_argument("--websocket", type=int, default=100)
    parser.add_argument("--sse", type=int, default=100)
    parser.add_argument("--reloads", type=int, default=3)
    parser.add_argument("--reload-every", type=float, default=1.5)
    parser.add_argument("--rate", type=float, default=100.0, help="messages per second")
    args = parser.parse_args()
    channel = "reload-test"
    loop = asyncio.get_running_loop()

    # Every subscriber starts from a known id, so that even a reconnect before its first
    # message resumes from there.
    start_id = await loop.run_in_executor(None, publish, args.port, channel, "-1")
    stop = asyncio.Event()
    subs = [Subscriber(start_id) for _ in range(args.websocket + args.sse)]
    tasks = [asyncio.create_task(websocket_subscriber(args.port, channel, s, stop)) for s in subs[:args.websocket]]
    tasks += [asyncio.create_task(sse_subscriber(args.port, channel, s, stop)) for s in subs[args.websocket:]]
    await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in subs)), 20)

    published = 0
    reloads_sent = 0
    started = time.monotonic()
    next_reload = started + args.reload_every / 2
    duration = args.reload_every * args.reloads + 1.0
    while time.monotonic() - started < duration:
        await loop.run_in_executor(None, publish, args.port, channel, str(published))
        published += 1
        if reloads_sent < args.reloads and time.monotonic() >= next_reload:
            os.kill(args.master_pid, signal.SIGHUP)
            reloads_sent += 1
            next_reload += args.reload_every
        await asyncio.sleep(1.0 / args.rate)

    # Everyone catches up (reconnects included), then stop.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(len(s.received) < published for s in subs):
        await asyncio.sleep(0.1)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    expected = list(range(published))
    bad = [i for i, s in enumerate(subs) if s.received != expected]
    result = {
        "subscribers": len(subs), "websocket": args.websocket, "sse": args.sse, "published": published,
        "reloads": reloads_sent, "reconnects": sum(s.reconnects for s in subs),
        "gaps": sum(s.gaps for s in subs), "subscribers_with_errors": len(bad),
    }
    print(json.dumps(result))
    for i in bad[:5]:
        got = subs[i].received
        missing = sorted(set(expected) - set(got))
        duplicates = len(got) - len(set(got))
        kind = "websocket" if i < args.websocket else "sse"
        print(f"subscriber {i} ({kind}): {len(got)} received, {len(missing)} missing (first {missing[:5]}), "
              f"{duplicates} duplicates, in order: {got == sorted(got)}", file=sys.stderr)
    return 0 if not bad and reloads_sent == args.reloads and result["gaps"] == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
