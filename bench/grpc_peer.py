"""The peer of bench/grpc.sh: the same unary call in a closed loop on Python grpcio (asyncio).

    python3 bench/grpc_peer.py HOST:PORT CONCURRENCY SECONDS

CONCURRENCY coroutines, each with a channel (an HTTP/2 connection) of its own as each stampede
VU has, call speech.v1.Speech/Recognize back to back until SECONDS have passed. The
request is encoded once, as stampede's is; each response is decoded into a message built from
the same fields the demo's speech.proto declares. Prints `calls=N errors=M`.
"""

import asyncio
import sys
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def messages():
    """RecognizeRequest and RecognizeResponse, built at run time (no generated code)."""
    f = descriptor_pb2.FileDescriptorProto(name="speech.proto", package="speech.v1", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto
    req = f.message_type.add(name="RecognizeRequest")
    req.field.add(name="audio_uri", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    req.field.add(name="language", number=2, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    req.field.add(name="delay_ms", number=3, type=T.TYPE_UINT32, label=T.LABEL_OPTIONAL)
    res = f.message_type.add(name="RecognizeResponse")
    res.field.add(name="text", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    res.field.add(name="language", number=2, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    res.field.add(name="confidence", number=3, type=T.TYPE_FLOAT, label=T.LABEL_OPTIONAL)
    res.field.add(name="words", number=4, type=T.TYPE_UINT32, label=T.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    get = message_factory.GetMessageClass
    return get(pool.FindMessageTypeByName("speech.v1.RecognizeRequest")), get(
        pool.FindMessageTypeByName("speech.v1.RecognizeResponse")
    )


async def main(target, concurrency, seconds):
    request_type, response_type = messages()
    request = request_type(audio_uri="demo://2", language="en").SerializeToString()
    counts = {"calls": 0, "errors": 0}
    end = time.monotonic() + seconds

    async def worker():
        # A local subchannel pool: without it, grpcio shares one connection between channels.
        options = [("grpc.use_local_subchannel_pool", 1)]
        async with grpc.aio.insecure_channel(target, options=options) as channel:
            call = channel.unary_unary(
                "/speech.v1.Speech/Recognize",
                request_serializer=lambda b: b,
                response_deserializer=response_type.FromString,
            )
            while time.monotonic() < end:
                try:
                    await call(request, timeout=5)
                    counts["calls"] += 1
                except grpc.aio.AioRpcError:
                    counts["errors"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    print(f"calls={counts['calls']} errors={counts['errors']}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
