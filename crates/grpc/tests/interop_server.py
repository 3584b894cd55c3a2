"""A gRPC server on Python grpcio, for the interop test (crates/grpc/tests/interop.rs).

Nothing is generated with protoc: the service's descriptors are built here, its handlers are
generic, and grpcio-reflection serves those descriptors, so stampede can only call it through
reflection. Prints its port, then serves until stdin closes (or 60 s pass).
"""

import sys
import threading
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

F = descriptor_pb2.FieldDescriptorProto

fdp = descriptor_pb2.FileDescriptorProto(name="interop/echo.proto", package="interop.v1", syntax="proto3")
req = fdp.message_type.add(name="EchoRequest")
req.field.add(name="text", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, json_name="text")
req.field.add(name="repeat", number=2, type=F.TYPE_UINT32, label=F.LABEL_OPTIONAL, json_name="repeat")
rep = fdp.message_type.add(name="EchoReply")
rep.field.add(name="text", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, json_name="text")
rep.field.add(name="index", number=2, type=F.TYPE_UINT32, label=F.LABEL_OPTIONAL, json_name="index")
svc = fdp.service.add(name="Echo")
svc.method.add(name="Say", input_type=".interop.v1.EchoRequest", output_type=".interop.v1.EchoReply")
svc.method.add(
    name="Repeat", input_type=".interop.v1.EchoRequest", output_type=".interop.v1.EchoReply", server_streaming=True
)
svc.method.add(
    name="Join", input_type=".interop.v1.EchoRequest", output_type=".interop.v1.EchoReply", client_streaming=True
)
svc.method.add(
    name="Chat",
    input_type=".interop.v1.EchoRequest",
    output_type=".interop.v1.EchoReply",
    client_streaming=True,
    server_streaming=True,
)

pool = descriptor_pool.DescriptorPool()
pool.Add(fdp)
Request = message_factory.GetMessageClass(pool.FindMessageTypeByName("interop.v1.EchoRequest"))
Reply = message_factory.GetMessageClass(pool.FindMessageTypeByName("interop.v1.EchoReply"))


def say(request, context):
    if request.text == "forbidden":
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "not allowed")
    return Reply(text="echo: " + request.text)


def repeat(request, context):
    for i in range(min(request.repeat, 100)):
        yield Reply(text=request.text, index=i)


def join(requests, context):
    texts = [r.text for r in requests]
    return Reply(text=" ".join(texts), index=len(texts))


def chat(requests, context):
    for i, r in enumerate(requests):
        yield Reply(text="re: " + r.text, index=i)


handler = grpc.method_handlers_generic_handler(
    "interop.v1.Echo",
    {
        "Say": grpc.unary_unary_rpc_method_handler(
            say, request_deserializer=Request.FromString, response_serializer=Reply.SerializeToString
        ),
        "Repeat": grpc.unary_stream_rpc_method_handler(
            repeat, request_deserializer=Request.FromString, response_serializer=Reply.SerializeToString
        ),
        "Join": grpc.stream_unary_rpc_method_handler(
            join, request_deserializer=Request.FromString, response_serializer=Reply.SerializeToString
        ),
        "Chat": grpc.stream_stream_rpc_method_handler(
            chat, request_deserializer=Request.FromString, response_serializer=Reply.SerializeToString
        ),
    },
)

server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
server.add_generic_rpc_handlers((handler,))
health_servicer = health.HealthServicer()
health_servicer.set("interop.v1.Echo", health_pb2.HealthCheckResponse.SERVING)
health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
reflection.enable_server_reflection(["interop.v1.Echo", reflection.SERVICE_NAME], server, pool=pool)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)

done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
done.wait(timeout=60)
server.stop(0)
