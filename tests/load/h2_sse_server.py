#!/usr/bin/env python3
"""An OpenAI-compatible streaming test server that speaks HTTP/2, for `quantgate bench`'s wire tests.

A small ASGI app served by hypercorn (Debian's python3-hypercorn): over TLS it offers h2 and http/1.1 by ALPN,
on plain TCP it speaks HTTP/1.1 and h2c with prior knowledge (hypercorn switches to h2 when a connection opens
with the HTTP/2 preface). It streams the way tests/load/scripted_server.cpp does: POST /v1/completions and
/v1/chat/completions with stream=true send OpenAI SSE chunks (chat: a role-only first delta), one token per
chunk, the first after --ttft-ms and then every --itl-ms counted from the request's arrival (no drift), a usage
chunk when stream_options.include_usage, then `data: [DONE]`. GET /v1/models names the model; GET /stats
reports what the server saw: requests by HTTP version and distinct client connections (a connection is its
client address:port), so a test can check multiplexing from the server's side.

Loopback only, a free port chosen by the kernel; prints `port N` once it is listening.
Usage: h2_sse_server.py [--certfile C --keyfile K] [--ttft-ms 20] [--itl-ms 5] [--tokens 6] [--seconds 120]
"""
import argparse
import asyncio
import json
import socket
import sys
import time

from hypercorn.asyncio import serve
from hypercorn.config import Config

MODEL = "h2-scripted-model"


def make_app(args, stats):
    async def send_json(send, status, obj):
        body = json.dumps(obj).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def read_body(receive):
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if not message.get("more_body", False):
                return body

    async def stream(scope, receive, send, chat):
        arrival = time.monotonic()
        raw = await read_body(receive)
        if raw is None:
            return
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError as e:
            await send_json(send, 400, {"error": {"message": f"bad JSON body: {e}", "type": "invalid_request_error"}})
            return
        if not req.get("stream"):
            await send_json(send, 400, {"error": {"message": "this test server streams only (stream=true)"}})
            return
        stats["requests"] += 1
        version = scope.get("http_version", "?")
        stats["http_versions"][version] = stats["http_versions"].get(version, 0) + 1
        client = scope.get("client")
        stats["connections"].add(f"{client[0]}:{client[1]}" if client else "?")
        stats["in_flight"] += 1
        stats["peak_in_flight"] = max(stats["peak_in_flight"], stats["in_flight"])
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
            rid = f"cmpl-{stats['requests']}"
            obj = "chat.completion.chunk" if chat else "text_completion"

            async def event(payload):
                data = payload if isinstance(payload, str) else json.dumps(payload)
                await send({"type": "http.response.body", "body": f"data: {data}\n\n".encode(), "more_body": True})

            def chunk(text):
                choice = {"index": 0, "logprobs": None, "finish_reason": None}
                if chat:
                    choice["delta"] = {"content": text}
                else:
                    choice["text"] = text
                return {"id": rid, "object": obj, "created": 1760000000, "model": MODEL, "choices": [choice]}

            for i in range(args.tokens):
                # Absolute times from the arrival, so a late wake-up does not delay the later tokens.
                delay = arrival + (args.ttft_ms + i * args.itl_ms) / 1e3 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if chat and i == 0:
                    role = chunk("")
                    role["choices"][0]["delta"] = {"role": "assistant", "content": ""}
                    await event(role)
                await event(chunk(" tok"))
            if (req.get("stream_options") or {}).get("include_usage"):
                prompt = req.get("prompt", "") if not chat else (req.get("messages") or [{}])[0].get("content", "")
                n_prompt = len(str(prompt).split())
                await event({"id": rid, "object": obj, "created": 1760000000, "model": MODEL, "choices": [],
                             "usage": {"prompt_tokens": n_prompt, "total_tokens": n_prompt + args.tokens,
                                       "completion_tokens": args.tokens}})
            await event("[DONE]")
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            stats["in_flight"] -= 1

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == "/v1/models":
            await send_json(send, 200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "h2-scripted"}]})
        elif method == "GET" and path == "/stats":
            await send_json(send, 200, {"requests": stats["requests"], "http_versions": stats["http_versions"],
                                        "connections": len(stats["connections"]), "peak_in_flight": stats["peak_in_flight"]})
        elif method == "POST" and path in ("/v1/completions", "/v1/chat/completions"):
            await stream(scope, receive, send, chat=path.endswith("chat/completions"))
        else:
            await send_json(send, 404, {"error": {"message": f"no route {method} {path}"}})

    return app


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--certfile", help="PEM certificate: serve TLS with ALPN h2, http/1.1 (else plain HTTP/1.1 + h2c)")
    p.add_argument("--keyfile", help="PEM private key of --certfile")
    p.add_argument("--ttft-ms", type=float, default=20.0, help="first token this long after the request arrives")
    p.add_argument("--itl-ms", type=float, default=5.0, help="gap between tokens")
    p.add_argument("--tokens", type=int, default=6, help="tokens per response (one per chunk), whatever max_tokens says")
    p.add_argument("--seconds", type=float, default=120.0, help="exit after this long (a test that dies leaves no server)")
    args = p.parse_args()
    if bool(args.certfile) != bool(args.keyfile):
        p.error("--certfile and --keyfile go together")

    # Bind and listen here on port 0 so the kernel picks a free port, then hand the socket to hypercorn:
    # a client that connects as soon as the port is printed waits in the backlog instead of being refused.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.certfile, config.keyfile = args.certfile, args.keyfile
    config.h2_max_concurrent_streams = 100  # hypercorn's default, stated: the client may open more connections past it
    config.keep_alive_timeout = 30
    config.accesslog = None
    config.errorlog = "-"
    stats = {"requests": 0, "http_versions": {}, "connections": set(), "in_flight": 0, "peak_in_flight": 0}
    print("port", sock.getsockname()[1], flush=True)

    async def run():
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(args.seconds, stop.set)
        await serve(make_app(args, stats), config, shutdown_trigger=stop.wait)

    asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
