#!/usr/bin/python3
"""A backend for the tests of the auth module's backend client (tests/unit/backend_client_test.cpp).

Usage: auth_backend.py PORT   (0: any free loopback port). Prints "port N" once it listens, then
takes commands on stdin, one per line, and answers each with one line on stdout:
  mode NAME    answer every request as NAME from now on ("mode" alone: by the request's path again)
  stats        "connections C requests R": TCP connections accepted, requests read
  last         the last request's headers, as one JSON object

How a request is answered: by the mode, else by its path's last segment:
  allow      200, JSON {"user": <the Authorization's last word>, "channels": <X-Tether-Channels> + ["extra:*"]}
  news-only  200, JSON {"user": <likewise>, "channels": ["news"]}
  until-close  an HTTP/1.0 200 whose JSON body ends where the connection does (no Content-Length)
  text       200, text/plain "ok" (no JSON: the body is ignored)
  401, 403, 500, 404   that status, with a small body
  slow       waits 2 s, then as allow
  hang       reads the request and never answers (the connection stays open)
  close      reads the request and closes the connection without a byte
  oversized  200 with a JSON body of 20,000 bytes
  badjson    200 with a JSON body that is not JSON
Every answer but close and hang keeps the connection alive (HTTP/1.1, Content-Length).
"""
import http.server
import json
import socket
import sys
import threading
import time

state = {"connections": 0, "requests": 0, "mode": None, "last": {}}
lock = threading.Lock()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # socketserver's 5 drops the SYNs of a pool's first connects (1 s retransmit)

    def get_request(self):
        request = super().get_request()
        # Headers and body go out in two writes: without this, Nagle holds the second until the
        # client's delayed ACK (40 ms a request).
        request[0].setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with lock:
            state["connections"] += 1
        return request


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def allow(self, channels=None):
        authorization = self.headers.get("Authorization", "")
        if channels is None:
            channels = [c for c in self.headers.get("X-Tether-Channels", "").split(",") if c] + ["extra:*"]
        user = authorization.split()[-1] if authorization.split() else "anonymous"
        self.answer(200, json.dumps({"user": user, "channels": channels, "other": {"x": [1]}}))

    def do_GET(self):
        with lock:
            state["requests"] += 1
            state["last"] = {"path": self.path, **{k: v for k, v in self.headers.items()}}
            mode = state["mode"] or self.path.rsplit("/", 1)[-1].split("?")[0]
        if mode == "allow":
            self.allow()
        elif mode == "news-only":
            self.allow(["news"])
        elif mode == "until-close":
            self.wfile.write(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"user":"closer"}')
            self.close_connection = True
        elif mode == "text":
            self.answer(200, "ok", "text/plain")
        elif mode in ("401", "403", "404", "500"):
            self.answer(int(mode), '{"error":"no"}')
        elif mode == "slow":
            time.sleep(2)
            self.allow()
        elif mode == "hang":
            threading.Event().wait()
        elif mode == "close":
            self.close_connection = True
        elif mode == "oversized":
            self.answer(200, '{"user":"' + "x" * 20000 + '"}')
        elif mode == "badjson":
            self.answer(200, '{"user": nope}')
        else:
            self.answer(400, "unknown mode " + mode, "text/plain")


def commands():
    for line in sys.stdin:
        words = line.split()
        with lock:
            if words[:1] == ["mode"]:
                state["mode"] = words[1] if len(words) > 1 else None
                reply = "ok"
            elif words == ["stats"]:
                reply = "connections %d requests %d" % (state["connections"], state["requests"])
            elif words == ["last"]:
                reply = json.dumps(state["last"])
            else:
                reply = "unknown command"
        print(reply, flush=True)


def main():
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    print("port %d" % server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    commands()  # returns when the test closes stdin


if __name__ == "__main__":
    main()
