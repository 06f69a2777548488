#!/usr/bin/python3
"""permessage-deflate with a client nobody here wrote: python3-websockets (Debian), whose
connect() offers "permessage-deflate; client_max_window_bits" and compresses every message it
sends, keeping its context between messages.

A subscriber on /ws/<channel> receives every published message of a run (short ones under
compression_min_size, long compressible ones, non-ASCII text) and checks each is intact; an echo
client on /echo/<channel>-echo (client_messages = "echo", format = "raw") sends text and binary
messages and checks each comes back the same (so the server inflated them). Prints a JSON summary;
exits 0 only when both negotiated permessage-deflate and nothing was lost or changed.

    deflate_client.py --port PORT [--messages N] [--channel NAME]
"""
import argparse
import asyncio
import json
import sys
import urllib.request

import websockets


def publish(port, channel, data):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/pub/{channel}", data=data.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        answer.read()


def message(i):
    kinds = [
        lambda: f"short {i}",
        lambda: json.dumps({"n": i, "prices": [{"sym": f"S{k:03d}", "px": k * 1.25} for k in range(40)]}),
        lambda: f"κόσμε {i} " * 200,
        lambda: f"{i}:" + "x" * 30000,
    ]
    return kinds[i % len(kinds)]()


async def run(port, count, channel):
    summary = {"received": 0, "mismatches": 0, "echoed": 0, "echo_mismatches": 0}
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/{channel}") as sub, \
            websockets.connect(f"ws://127.0.0.1:{port}/echo/{channel}-echo") as echo:
        summary["subscriber_extensions"] = sub.response_headers.get("Sec-WebSocket-Extensions", "")
        summary["echo_extensions"] = echo.response_headers.get("Sec-WebSocket-Extensions", "")
        loop = asyncio.get_running_loop()
        expected = [message(i) for i in range(count)]
        for data in expected:
            await loop.run_in_executor(None, publish, port, channel, data)
        for data in expected:
            got = json.loads(await asyncio.wait_for(sub.recv(), 5))
            summary["received"] += 1
            if got.get("channel") != channel or got.get("data") != data:
                summary["mismatches"] += 1
        sent = [message(i) for i in range(count)] + [bytes(range(256)) * 40, b"\x00" * 50000, ""]
        for data in sent:
            await echo.send(data)
            back = await asyncio.wait_for(echo.recv(), 5)
            summary["echoed"] += 1
            if back != data:
                summary["echo_mismatches"] += 1
    return summary


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--channel", default="deflate")
    args = parser.parse_args()
    summary = asyncio.run(run(args.port, args.messages, args.channel))
    print(json.dumps(summary, sort_keys=True))
    ok = (summary["subscriber_extensions"].startswith("permessage-deflate")
          and summary["echo_extensions"].startswith("permessage-deflate")
          and summary["received"] == args.messages and summary["mismatches"] == 0
          and summary["echoed"] == args.messages + 3 and summary["echo_mismatches"] == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
