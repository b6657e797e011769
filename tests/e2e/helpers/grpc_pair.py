#!/usr/bin/python3
# A gRPC server and client in one program (python3-grpcio, no generated code: raw bytes):
# unary calls, a server-streaming call, and a call that fails with NOT_FOUND.
import sys, grpc
from concurrent import futures

def say(req, ctx):
    if req == b"nobody":
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no such user: nobody")
    return b"hello " + req

def many(req, ctx):
    for i in range(int(req)):
        yield b"item %d" % i

handler = grpc.method_handlers_generic_handler("demo.Greeter", {
    "SayHello": grpc.unary_unary_rpc_method_handler(say),
    "List": grpc.unary_stream_rpc_method_handler(many),
})
port = int(sys.argv[1]); n = int(sys.argv[2])
server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
server.add_generic_rpc_handlers((handler,))
server.add_insecure_port("127.0.0.1:%d" % port)
server.start()
with grpc.insecure_channel("127.0.0.1:%d" % port) as ch:
    say_rpc = ch.unary_unary("/demo.Greeter/SayHello")
    list_rpc = ch.unary_stream("/demo.Greeter/List")
    for i in range(n):
        assert say_rpc(b"alice") == b"hello alice"
    assert len(list(list_rpc(b"5"))) == 5
    try:
        say_rpc(b"nobody"); sys.exit("no error")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND
server.stop(0)
print("ok")
