#!/usr/bin/python3
"""Bytes on the wire of a WebSocket fan-out with permessage-deflate and without, against a running
tether (tether only): SUBSCRIBERS raw-socket subscribers on one channel, offering
"permessage-deflate; client_max_window_bits" or nothing, then MESSAGES JSON messages published
(a list of 20 price ticks, about 1.3 KiB, different numbers each time). Counts every byte the
subscribers receive after the handshake (frame headers included), inflates each compressed frame
to check it, and reads the worker's CPU time (utime+stime from /proc) and the compression counter
before and after. One JSON line per mode.

    bench/deflate_fanout.py --port PORT --worker-pid PID [--subscribers 1000] [--messages 200]

Start tether with one worker, a /ws/* websocket route, /pub/* publish and /metrics (health).
"""
import argparse
import base64
import json
import os
import random
import selectors
import socket
import time
import urllib.request
import zlib


def handshake(port, path, offer):
    s = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    extra = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if offer else ""
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    head, rest = head.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    assert (b"permessage-deflate" in head) == offer, head
    s.setblocking(False)
    return s, rest


def frames(buffer):
    """Complete frames at the start of buffer: [(rsv1, payload)], bytes consumed."""
    out, at = [], 0
    while len(buffer) - at >= 2:
        b0, b1 = buffer[at], buffer[at + 1]
        n, h = b1 & 0x7F, 2
        if n == 126:
            if len(buffer) - at < 4:
                break
            n, h = int.from_bytes(buffer[at + 2:at + 4], "big"), 4
        elif n == 127:
            if len(buffer) - at < 10:
                break
            n, h = int.from_bytes(buffer[at + 2:at + 10], "big"), 10
        if len(buffer) - at < h + n:
            break
        out.append((bool(b0 & 0x40), buffer[at + h:at + h + n]))
        at += h + n
    return out, at


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compressions(port):
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in page.splitlines():
        if line.startswith("tether_websocket_compressed_messages_total "):
            return int(line.split()[1])
    return 0


def message(i):
    rng = random.Random(i)
    return json.dumps([{"sym": f"S{k:03d}", "px": round(rng.uniform(10, 500), 2), "bid": round(rng.uniform(10, 500), 2),
                        "ask": round(rng.uniform(10, 500), 2), "ts": 1700000000000 + i} for k in range(20)])


def run(port, pid, subscribers, messages, offer):
    channel = f"bench-{'deflate' if offer else 'plain'}-{os.getpid()}"
    sel = selectors.DefaultSelector()
    state = []
    for _ in range(subscribers):
        s, rest = handshake(port, f"/ws/{channel}", offer)
        st = {"sock": s, "buffer": bytearray(rest), "bytes": len(rest), "frames": 0, "bad": 0}
        state.append(st)
        sel.register(s, selectors.EVENT_READ, st)
    time.sleep(0.2)
    cpu0, z0, t0 = cpu_seconds(pid), compressions(port), time.time()
    payload_bytes = 0
    publisher = socket.create_connection(("127.0.0.1", port))
    for i in range(messages):
        body = message(i).encode()
        payload_bytes += len(body)
        publisher.sendall(f"POST /pub/{channel} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    done = 0
    deadline = time.time() + 120
    while done < subscribers and time.time() < deadline:
        for key, _ in sel.select(timeout=1):
            st = key.data
            data = st["sock"].recv(1 << 20)
            st["bytes"] += len(data)
            st["buffer"] += data
            got, used = frames(st["buffer"])
            del st["buffer"][:used]
            for compressed, p in got:
                if compressed:
                    p = zlib.decompressobj(-15).decompress(p + b"\x00\x00\xff\xff")
                if not p.startswith(b'{"channel":"'):
                    st["bad"] += 1
                st["frames"] += 1
            if st["frames"] >= messages and not st.get("done"):
                st["done"] = True
                done += 1
    elapsed = time.time() - t0
    cpu = cpu_seconds(pid) - cpu0
    z = compressions(port) - z0
    for st in state:
        st["sock"].close()
    publisher.close()
    received = sum(st["bytes"] for st in state)
    return {"mode": "deflate" if offer else "plain", "subscribers": subscribers, "messages": messages,
            "published_bytes_per_message": payload_bytes // messages,
            "complete_subscribers": done, "bad_frames": sum(st["bad"] for st in state),
            "wire_bytes_per_delivery": round(received / (subscribers * messages), 1),
            "wire_bytes_total": received, "compressions": z, "worker_cpu_s": round(cpu, 3),
            "elapsed_s": round(elapsed, 3)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--worker-pid", type=int, required=True)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    for offer in (False, True):
        print(json.dumps(run(args.port, args.worker_pid, args.subscribers, args.messages, offer)), flush=True)


if __name__ == "__main__":
    main()
