#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/ (run it again when a wire format or the config changes).
Each harness's input layout is described at the top of its <name>_fuzz.cpp. The TLS seeds are
ClientHellos made by Python's ssl module, so they differ from run to run."""
import os
import ssl
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(os.path.dirname(here)))


def write(harness, name, data):
    os.makedirs(os.path.join(here, harness), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(here, harness, name), "wb") as f:
        f.write(data)


def http_seeds():
    # request bytes, then options and 8 piece sizes (read from the end, last byte first)
    def seed(name, text, pieces=(0,) * 8, options=0):
        write("http_session", name, text.encode("latin-1") + bytes([options]) + bytes(reversed(pieces)))

    get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    seed("get", get)
    seed("get-bytewise", get, pieces=(1,) * 8)
    seed("pipelined", get + "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n" + "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", pieces=(7, 30, 2, 0, 0, 0, 0, 0))
    seed("post-echo", "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    seed("chunked", "POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: t\r\n\r\n", pieces=(20, 20, 20, 20, 0, 0, 0, 0))
    seed("expect-continue", "POST /api/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", pieces=(60, 0, 0, 0, 0, 0, 0, 0))
    seed("expect-other", "GET / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n")
    seed("http10-keepalive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n")
    seed("later-pipelined", "GET /later/a HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", pieces=(10, 0, 0, 0, 0, 0, 0, 0))
    seed("stream", "GET /events/news HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nLast-Event-ID: 0a1b2c3d-7\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", pieces=(80, 5, 5, 0, 0, 0, 0, 0))
    seed("stream-http10", "GET /events/news HTTP/1.0\r\n\r\n")
    seed("upgrade", "GET /ws/news?since=0a1b2c3d-7&channel=more HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://x\r\n\r\n\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")
    seed("upgrade-refused", "GET /ws/news HTTP/1.1\r\nHost: x\r\n\r\n")
    seed("empty-204", "GET /empty HTTP/1.1\r\nHost: x\r\n\r\n")
    seed("denied", "GET /api/x HTTP/1.1\r\nHost: x\r\nX-Deny: 1\r\n\r\n")
    seed("smuggle-cl-te", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    seed("double-cl", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
    seed("no-host", "GET / HTTP/1.1\r\n\r\n")
    seed("big-header", "GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + "a" * 1100 + "\r\n\r\n", pieces=(200,) * 8)
    seed("big-body", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n" + "b" * 3000)
    seed("absolute-form", "GET http://x/api/y?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    seed("drain-max-requests", get * 4, options=8 | 2)
    seed("header-timeout", "GET / HTTP/1.1\r\nHost:", options=16)


def pubsub_seeds():
    def frame(kind, body):
        return struct.pack("<IB", len(body), kind) + body

    def s(text):
        text = text.encode() if isinstance(text, str) else text
        return struct.pack("<I", len(text)) + text

    publish = frame(1, struct.pack("<Q", 1) + s("news") + s("hello"))
    history = frame(2, struct.pack("<Q", 2) + s("news") + struct.pack("<IQ", 0x0A1B2C3D, 0))
    subscribers = frame(3, s("news") + struct.pack("<Q", 3))
    info = frame(4, struct.pack("<Q", 3) + s("news"))
    write("pubsub_wire", "master-publish", b"\x00" + publish)
    write("pubsub_wire", "master-mixed", b"\x00" + subscribers + publish + publish + history + info)
    write("pubsub_wire", "master-many-channels", b"\x00" + b"".join(frame(1, struct.pack("<Q", i) + s("c%d" % i) + s("x" * 40)) for i in range(12)) + history)
    write("pubsub_wire", "master-unexpected-type", b"\x00" + frame(10, s("news") + struct.pack("<IQQ", 1, 2, 3) + s("m")))
    message = frame(10, s("news") + struct.pack("<IQQ", 0x0A1B2C3D, 7, 1700000000000) + s("hello"))
    published = frame(11, struct.pack("<QIIQ", 1, 0, 0x0A1B2C3D, 7))
    reply = frame(12, struct.pack("<QIII", 2, 0, 0x0A1B2C3D, 2) + struct.pack("<QQ", 6, 1) + s("a") + struct.pack("<QQ", 7, 2) + s("b"))
    info_reply = frame(13, struct.pack("<QQIQQ", 3, 5, 0x0A1B2C3D, 7, 2))
    write("pubsub_wire", "worker-message", b"\x01" + message)
    write("pubsub_wire", "worker-mixed", b"\x01" + published + reply + message + info_reply)
    write("pubsub_wire", "worker-truncated", b"\x01" + message[:-2])


def config_seeds():
    for path in ("conf/tether.toml", "packaging/tether.toml"):
        with open(os.path.join(root, path)) as f:
            write("config_parser", os.path.basename(os.path.dirname(path)) + ".toml", f.read())
    write("config_parser", "minimal.toml", '[[listen]]\naddress = "127.0.0.1:8080"\n')
    write("config_parser", "tls.toml", '[[listen]]\naddress = "0.0.0.0:8443"\nbacklog = 128\n[listen.tls]\ncert = "cert.pem"\n'
          'key = "key.pem"\nmin_version = "1.3"\nciphersuites = "TLS_AES_128_GCM_SHA256"\n[[listen.tls.sni]]\n'
          'server_name = "push.example.com"\ncert = "push.pem"\nkey = "push.key"\n')
    write("config_parser", "modules.toml", '[server]\nworkers = 2\n[[listen]]\naddress = "[::1]:8080"\n'
          '[modules.websocket]\nformat = "json"\nping_interval = "20s"\nlimits = { a = [1, 2.5, true, "x"] }\n'
          '[[route]]\npath = "/ws/*"\nhandler = "websocket"\n[route.websocket]\norigins = ["https://a"]\n'
          '[[route]]\npath = "/pub/*"\nhandler = "publish"\n[pubsub]\npublish_token = "t"\nhistory_ttl = "5m"\nhistory_memory = "64MiB"\n')
    write("config_parser", "errors.toml", '[server]\nworkers = "many"\ndrain_timeout = "30 parsecs"\n[limits]\n'
          'max_body_size = -1\nunknown = 1\n[[route]]\npath = "no-slash"\n')
    write("config_parser", "bad-toml.toml", '[server\nworkers = = 2\n"unterminated\n')


def message_id_seeds():
    for name, text in [("id", "0a1b2c3d-42"), ("id-zero", "00000000-0"), ("id-max", "ffffffff-18446744073709551615"),
                       ("id-overflow", "ffffffff-18446744073709551616"), ("id-upper", "0A1B2C3D-1"), ("channel", "news"),
                       ("channel-chars", "a:b@c.d-e_f"), ("channel-nul", "news\x00junk")]:
        write("message_id", name, text)


def tls_seeds():
    # mode byte, piece size byte, then the client's bytes
    def hello(minimum, maximum, server_name, alpn):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version, ctx.maximum_version = minimum, maximum
        if alpn:
            ctx.set_alpn_protocols(alpn)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return outgoing.read()

    v12, v13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
    write("tls_stream", "hello-13-sni-alpn", b"\x00\x00" + hello(v13, v13, "sni.test", ["http/1.1"]))
    write("tls_stream", "hello-12", b"\x00\x00" + hello(v12, v12, "default.test", None))
    write("tls_stream", "hello-any-split", b"\x00\x05" + hello(v12, v13, "other.test", ["h2", "http/1.1"]))
    write("tls_stream", "hello-then-http", b"\x00\x00" + hello(v12, v13, None, None) + b"GET / HTTP/1.1\r\n\r\n")
    write("tls_stream", "plain-http", b"\x00\x00GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    write("tls_stream", "after-13-alert", b"\x01\x00\x15\x03\x03\x00\x02\x01\x00")
    write("tls_stream", "after-12-garbage", b"\x05\x00\x17\x03\x03\x00\x10" + b"\x00" * 16)
    write("tls_stream", "after-13-hello-again", b"\x01\x00" + hello(v13, v13, "sni.test", None))
    write("tls_stream", "data-13", b"\x02\x00GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    write("tls_stream", "data-12-split", b"\x06\x07GET /ws/news HTTP/1.1\r\nHost: x\r\n\r\n")


def redis_reply_seeds():
    # RESP as redis-server 7.0 answers the broker's scripts (redis_scripts.h) and pushes on its
    # subscriber connection; several replies in one seed are one read of a connection.
    def bulk(text):
        text = text.encode() if isinstance(text, str) else text
        return b"$%d\r\n%s\r\n" % (len(text), text)

    def array(*items):
        return b"*%d\r\n" % len(items) + b"".join(items)

    def integer(n):
        return b":%d\r\n" % n

    def entry(offset, ms, data, fields=None):
        return array(bulk("%d-0" % offset), array(*(fields or [bulk("t"), bulk(str(ms)), bulk("d"), bulk(data)])))

    def history(epoch, top, first, *entries):
        return array(bulk(epoch), integer(top), integer(first), array(*entries))

    def message(channel, payload):
        return array(bulk("message"), bulk(channel), bulk(payload))

    epoch, ms = "1334769459", 1796135183120
    nil, nil_array = b"$-1\r\n", b"*-1\r\n"
    write("redis_reply", "history-three", history(epoch, 3, 1, entry(1, ms, "hello"), entry(2, ms + 203, "with: colons:in it"),
                                                  entry(3, ms + 406, "")))
    write("redis_reply", "history-no-hash", history("", 0, 0))
    write("redis_reply", "history-nothing-new", history(epoch, 3, 1))
    write("redis_reply", "history-trimmed", history(epoch, 250, 151, *[entry(o, ms + o, "m%d" % o) for o in range(240, 251)]))
    write("redis_reply", "history-odd-fields", history(epoch, 9, 8, entry(8, 0, "", [bulk("d"), bulk("x"), bulk("t"), bulk("bad")]),
                                                       entry(9, 0, "", [bulk("t"), integer(5), bulk("extra")])))
    write("redis_reply", "history-nils", history(epoch, 2, 1, array(nil, nil_array), array(bulk("1-0"), nil)) + array(nil, nil, nil, nil))
    write("redis_reply", "messages", message("tether:{news}", "%s:1:%d:hello" % (epoch, ms)) +
          message("tether:{news}", "%s:2:%d:with: colons:in it" % (epoch, ms + 203)) + message("tether:{news}", "%s:3:%d:" % (epoch, ms + 406)))
    write("redis_reply", "message-bad-payloads", message("tether:{news}", "1334769459:1") + message("tether:{news}", "::::") +
          message("tether:{news}", "4294967296:1:1:x") + message("tether:{news}", "1:0:1:x") + message("other:{news}", "1:1:1:x"))
    write("redis_reply", "subscribe", array(bulk("subscribe"), bulk("tether:{news}"), integer(1)) +
          array(bulk("subscribe"), bulk("tether:{other}"), integer(2)) + array(bulk("unsubscribe"), bulk("tether:{other}"), integer(1)))
    write("redis_reply", "publish-answer", array(bulk(epoch), integer(1), bulk(str(ms))))
    write("redis_reply", "info-answer", array(bulk(epoch), integer(3), integer(3)) + array(bulk(""), integer(0), integer(0)))
    write("redis_reply", "script-load", bulk("f06b29840180babdc6a2f5b3daa39e4812994c5d") + b"+OK\r\n")
    write("redis_reply", "errors", b"-NOSCRIPT No matching script. Please use EVAL.\r\n" +
          b"-BUSY Redis is busy running a script.\r\n" + b"-ERR unknown command\r\n" + array(b"-ERR in an array\r\n"))
    write("redis_reply", "nils", nil + nil_array + array(nil, nil_array, integer(-1)) + integer(-9223372036854775807))
    deep = message("tether:{news}", "1:1:1:deep")
    for _ in range(6):
        deep = array(deep, bulk("4"))
    write("redis_reply", "deep-nesting", deep)
    write("redis_reply", "truncated", history(epoch, 3, 1, entry(1, ms, "hello"))[:-9])
    # Answers no script makes, which parse() refuses (the first one the fuzzer found).
    write("redis_reply", "history-entry-above-top", history(epoch, 1, 1, entry(1, ms, "hello"), entry(2, ms, "x")))
    write("redis_reply", "history-out-of-order", history(epoch, 9, 1, entry(5, ms, "a"), entry(3, ms, "b")))
    write("redis_reply", "history-repeated-offset", history(epoch, 9, 1, entry(5, ms, "a"), entry(5, ms, "b")))
    write("redis_reply", "history-offset-zero", history(epoch, 9, 1, entry(0, ms, "a")))
    write("redis_reply", "history-epoch-zero", history("0", 1, 1, entry(1, ms, "a")))
    write("redis_reply", "history-entries-without-hash", history("", 0, 0, entry(1, ms, "a")))
    write("redis_reply", "history-huge-offset", history(epoch, 2**64 - 1, 1, entry(2**64 - 1, ms, "a")))
    write("redis_reply", "history-first-above-top", history(epoch, 3, 7))
    write("redis_reply", "history-entry-before-first", history(epoch, 9, 5, entry(4, ms, "a"), entry(5, ms, "b")))
    write("redis_reply", "message-epoch-zero", message("tether:{news}", "0:1:%d:x" % ms))


def jwt_seeds():
    # byte 0: mode (bits 0-1), iss (4), aud (8), leeway (bits 4-7); tests/fuzz/jwt_fuzz.c
    import base64, hashlib, hmac, json

    secret = b"tether-fuzz-hmac-secret-0123456789abcdef"  # the harness's fixed HMAC key
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
    claims = {"iss": "iss", "aud": "aud", "sub": "user-42", "iat": 1699999000, "nbf": 1699999990,
              "exp": 1700000600, "channels": ["news", "user:42:*"], "publish": ["news"]}

    def token(header, body, key=secret, digest=hashlib.sha256):
        signing_input = b64(json.dumps(header).encode()) + b"." + b64(json.dumps(body).encode())
        return signing_input + b"." + b64(hmac.new(key, signing_input, digest).digest())

    write("jwt", "hs256-valid", b"\x0c" + token({"alg": "HS256", "typ": "JWT"}, claims))
    write("jwt", "hs512-aud-array", b"\x0c" + token({"alg": "HS512"}, dict(claims, aud=["x", "aud"]), digest=hashlib.sha512))
    write("jwt", "hs256-expired-leeway", b"\x3c" + token({"alg": "HS256"}, dict(claims, exp=1699999990)))
    write("jwt", "none", b"\x00" + b64(b'{"alg":"none"}') + b"." + b64(json.dumps(claims).encode()) + b".")
    write("jwt", "es256-on-ec-key", b"\x0d" + b64(b'{"alg":"ES256"}') + b"." + b64(json.dumps(claims).encode()) + b"." + b64(bytes(64)))
    header = b'{"alg":"HS256","typ":"JWT","kid":"k1"}\n'
    write("jwt", "signed-claims", b"\x0e" + header + json.dumps(claims).encode())
    write("jwt", "signed-claims-escapes", b"\x02" + header + b'{"sub":"\\u00e9\\ud83d\\ude00\\n\\"","exp":1700000600,'
          b'"channels":["a*","b:*:c","*"],"x":{"y":[1,2.5e3,-0,true,false,null,{"z":[]}]},"n":-12}')
    write("jwt", "signed-claims-no-exp", b"\x02" + b'{"alg":"HS256"}\n{"sub":"u","channels":[]}')
    write("jwt", "es256-signed-claims", b"\x0f" + b'{"alg":"ES256"}\n' + json.dumps(claims).encode())
    write("jwt", "es256-signed-claims-nbf", b"\x13" + b'{"alg":"ES256"}\n{"nbf":1700000001,"aud":["aud"]}')


def auth_token_seeds():
    # "<Authorization value>\n<query>", or a query alone (auth_token_fuzz.c).
    write("auth_token", "header", "Bearer abc.def.ghi\nchannel=news")
    write("auth_token", "query", "since=1&token=a%2Eb.c&channel=x")
    write("auth_token", "basic", "Basic dXNlcjpw\ntoken=&token=x.y.z")


def backend_answer_seeds():
    # byte 0: piece size - 1 (bits 0-6), "then EOF" (bit 7); tests/fuzz/backend_answer_fuzz.c
    def answer(status, body="", headers=(), piece=127, eof=False):
        head = "HTTP/1.1 %s\r\n" % status + "".join(h + "\r\n" for h in headers)
        return bytes([(piece - 1) | (0x80 if eof else 0)]) + (head + "\r\n" + body).encode()

    json_ct = "Content-Type: application/json"
    body = '{"user":"alice","channels":["news","user:42:*"],"x":{"y":[1]}}'
    write("backend_answer", "allow-json", answer("200 OK", body, (json_ct, "Content-Length: %d" % len(body))))
    write("backend_answer", "allow-json-bytewise", answer("200 OK", body, (json_ct, "Content-Length: %d" % len(body)), piece=1))
    write("backend_answer", "allow-chunked", answer("200 OK", "5\r\n{\"use\r\n8\r\nr\":\"bob\"\r\n1\r\n}\r\n0\r\n\r\n",
                                                   (json_ct + "; charset=utf-8", "Transfer-Encoding: chunked"), piece=3))
    write("backend_answer", "allow-until-close", answer("200 OK", '{"user":"u"}', ("Content-Type: x/y+json",), eof=True))
    write("backend_answer", "text", answer("204 No Content"))
    write("backend_answer", "deny-401", answer("401 Unauthorized", "no", ("Content-Length: 2",)))
    write("backend_answer", "deny-403-close", answer("403 Forbidden", "", ("Connection: close", "Content-Length: 0")))
    write("backend_answer", "error-500", answer("500 Internal", "", ("Content-Length: 0",)))
    write("backend_answer", "http10", b"\x7f" + b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\nHTTP/1.1")
    write("backend_answer", "bad-types", answer("200 OK", '{"user":1,"channels":"a"}', (json_ct, "Content-Length: 25")))


def backend_url_seeds():
    # fields: URL, method, URI, Authorization, Cookie, channels...; tests/fuzz/backend_url_fuzz.c
    write("backend_url", "ipv4", "http://127.0.0.1:9000/auth\nGET\n/ws/news?x=1\nBearer t\nsession=1\nnews\nuser:42:inbox")
    write("backend_url", "ipv6", "http://[::1]:8080/a%2Fb?realm=ws\nGET\n/\n\n\n")
    write("backend_url", "localhost", "http://localhost/\nPOST\n/x\n\nc=1")
    write("backend_url", "default-port", "HTTP://10.0.0.1\nGET\n/ws\nBasic dXNlcjpwdw==")
    write("backend_url", "injection", "http://127.0.0.1/\nGET\n/ws\r\nEvil: 1\nBearer x\r\nEvil: 2\nc\nchan,nel")


def ws_extensions_seeds():
    # the Sec-WebSocket-Extensions value as a client sends it
    for name, value in [
        ("browser", "permessage-deflate; client_max_window_bits"),
        ("plain", "permessage-deflate"),
        ("windows", "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"),
        ("window8", "permessage-deflate; server_max_window_bits=8"),
        ("no-takeover", "permessage-deflate; client_no_context_takeover; server_no_context_takeover"),
        ("quoted", 'permessage-deflate; server_max_window_bits="1\\2"'),
        ("fallback", "permessage-deflate; server_max_window_bits=10; foo, permessage-deflate"),
        ("others", 'x-webkit-deflate-frame; max_window_bits="10" , permessage-deflate ,'),
        ("duplicate", "permessage-deflate; client_max_window_bits; client_max_window_bits=10"),
        ("unterminated", 'permessage-deflate; a="open'),
    ]:
        write("ws_extensions", name, value)


def ws_inflate_seeds():
    # byte 0: window (bits 0-2), limit (bits 3-4), text (bit 5); byte 1: piece size; then the payload
    import zlib

    def compressed(data, wbits=15, level=6):
        c = zlib.compressobj(level, zlib.DEFLATED, -wbits)
        return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]

    write("ws_inflate", "text", bytes([7 | 2 << 3 | 1 << 5, 0]) + compressed("κόσμε hello hello hello".encode()))
    write("ws_inflate", "split", bytes([7 | 3 << 3, 3]) + compressed(bytes(range(256)) * 8))
    write("ws_inflate", "bomb", bytes([7 | 1 << 3, 0]) + compressed(bytes(100000), level=9))
    write("ws_inflate", "window9", bytes([1 | 2 << 3, 5]) + compressed(b"abcabcabc" * 100, wbits=9))
    write("ws_inflate", "final-block", bytes([7 | 2 << 3, 0]) + zlib.compress(b"final " * 20, 6)[2:-4])
    write("ws_inflate", "bad-utf8", bytes([7 | 2 << 3 | 1 << 5, 0]) + compressed(b"ok \xc0\xaf"))


def status_board_seeds():
    # the master's area, then worker areas, laid out as core/status_board.h (x86-64, packed as
    # the compiler lays them out: no padding in these records)
    def generation(number, state, pids):
        return struct.pack("<IIIIQ", number, state, 2, len(pids), 1000) + b"".join(struct.pack("<i", p) for p in pids).ljust(64 * 4, b"\0")

    def channel(name, subscribers, messages):
        return name.encode().ljust(136, b"\0") + struct.pack("<QQ", subscribers, messages)

    master = (struct.pack("<IIQ", 2, 0, 5000) + generation(1, 2, [101]) + generation(2, 1, [201, 202]) +
              bytes(14 * (24 + 256)) + b"tether.toml:3:1: unknown key".ljust(256, b"\0"))
    worker = struct.pack("<iI", 100, 2) + channel("news", 5, 9) + channel("sport", 2, 1) + bytes(8 * 152)
    write("status_board", "honest", master + worker + worker)
    write("status_board", "short", master[:100])


if __name__ == "__main__":
    makers = {f.__name__: f for f in (http_seeds, pubsub_seeds, config_seeds, message_id_seeds, tls_seeds,
                                      redis_reply_seeds, jwt_seeds, auth_token_seeds, backend_answer_seeds,
                                      backend_url_seeds, ws_extensions_seeds, ws_inflate_seeds, status_board_seeds)}
    # No argument: all of them; else only the named ones (e.g. ws_inflate_seeds).
    for name in sys.argv[1:] or makers:
        makers[name]()
    sys.exit(0)
