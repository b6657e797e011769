#!/usr/bin/python3
# Writes conversation.txt: an HTTP/2 conversation as python3-h2 (Debian's, with HPACK's
# Huffman strings and dynamic table) puts it on the wire, one line per write: "C <hex>" (the
# client's bytes) or "S <hex>" (the server's). tests/unit/protocols_test.cpp reads it; this
# script is only needed to change it: /usr/bin/python3 tests/data/http2/gen.py > conversation.txt
import struct
import h2.config, h2.connection, h2.errors

c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
s = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
lines = []

def flush():
    for side, conn, peer in (("C", c, s), ("S", s, c)):
        data = conn.data_to_send()
        if data:
            lines.append("%s %s" % (side, data.hex()))
            peer.receive_data(data)

def req(sid, method, path, end=True, extra=()):
    c.send_headers(sid, [(":method", method), (":scheme", "http"), (":authority", "app.test"), (":path", path),
                         ("user-agent", "gen/1")] + list(extra), end_stream=end)

c.initiate_connection(); flush()
s.initiate_connection(); flush(); flush()
# 1: a GET answered with a body, in a trace (W3C traceparent).
req(1, "GET", "/users/42?full=1", extra=[("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]); flush()
s.send_headers(1, [(":status", "200"), ("content-type", "text/plain")]); s.send_data(1, b"hello", end_stream=True); flush()
# 3: a POST with a body, a 503.
req(3, "POST", "/api/orders", end=False, extra=[("content-type", "application/json")]); c.send_data(3, b'{"a":1}', end_stream=True); flush()
s.send_headers(3, [(":status", "503"), ("content-type", "text/plain")], end_stream=True); flush()
# 5: the client cancels after the response's headers.
req(5, "GET", "/users/43"); flush()
s.send_headers(5, [(":status", "200"), ("content-type", "text/plain")]); flush()
c.reset_stream(5, h2.errors.ErrorCodes.CANCEL); flush()
# 7: a gRPC call, server streaming: one request message, two responses, trailers.
g = [("content-type", "application/grpc"), ("te", "trailers")]
def msg(b): return b"\x00" + struct.pack(">I", len(b)) + b
req(7, "POST", "/helloworld.Greeter/SayHello", end=False, extra=g); c.send_data(7, msg(b"\x0a\x05alice"), end_stream=True); flush()
s.send_headers(7, [(":status", "200"), ("content-type", "application/grpc")]); s.send_data(7, msg(b"hi") + msg(b"again")); flush()
s.send_headers(7, [("grpc-status", "0")], end_stream=True); flush()
# 9: a gRPC error, trailers only.
req(9, "POST", "/helloworld.Greeter/SayHello", end=False, extra=g); c.send_data(9, msg(b"\x0a\x03bob"), end_stream=True); flush()
s.send_headers(9, [(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "5"),
                   ("grpc-message", "no such user: bob")], end_stream=True); flush()
# 11 and 13 at once, answered in reverse order; 15 left when the server goes away after 13.
req(11, "GET", "/slow"); req(13, "GET", "/fast"); req(15, "GET", "/late"); flush()
s.send_headers(13, [(":status", "404")], end_stream=True); flush()
s.send_headers(11, [(":status", "200")], end_stream=True); flush()
s.close_connection(last_stream_id=13); flush()
print("\n".join(lines))
