#!/usr/bin/env python3
"""The Python side of the client-overhead comparison: an asyncio/aiohttp streaming client measuring
exactly as `vllm bench serve` does (perf_counter before post; each chunk line with choices is a token
event; TTFT = first event - start; ITL = gaps). WARMUP requests run first at the same concurrency (they
open the keep-alive connections) and are left out of the latency figures, as quantgate bench --num-warmups.
Prints one JSON line: TTFT/ITL p50/p99 in ms, events (warm-up included) and the process CPU seconds spent
from the first request to the last (time.process_time: interpreter start-up and imports excluded).
Usage: aiohttp_client.py URL CONCURRENCY NUM_REQUESTS OUTPUT_LEN [WARMUP]   (needs python3-aiohttp)"""
import asyncio, json, statistics, sys, time

import aiohttp


async def one(session, url, body, ttfts, itls, counter):
    start = time.perf_counter()
    last = None
    async with session.post(url, json=body) as resp:
        async for raw in resp.content:  # line iteration, as vllm bench serve
            line = raw.strip()
            if not line or line.startswith(b":"):
                continue
            data = line[len(b"data:"):].strip() if line.startswith(b"data:") else line
            if data == b"[DONE]":
                continue
            j = json.loads(data)
            if j.get("choices"):
                t = time.perf_counter()
                if last is None:
                    ttfts.append(t - start)
                else:
                    itls.append(t - last)
                last = t
                counter[0] += 1


async def main():
    url, conc, n, out_len = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    warmup = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    body = {"model": "scripted-model", "prompt": "one two three", "max_tokens": out_len, "stream": True,
            "stream_options": {"include_usage": True}, "ignore_eos": True}
    counter = [0]
    sem = asyncio.Semaphore(conc)
    conn = aiohttp.TCPConnector(limit=conc)
    cpu0 = time.process_time()
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=6 * 3600)) as s:
        async def guarded(ttfts, itls):
            async with sem:
                await one(s, url + "/v1/completions", body, ttfts, itls, counter)
        await asyncio.gather(*[guarded([], []) for _ in range(warmup)])
        ttfts, itls = [], []
        t0 = time.perf_counter()
        await asyncio.gather(*[guarded(ttfts, itls) for _ in range(n)])
        dur = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    q = lambda v, p: statistics.quantiles(v, n=1000)[int(p * 10) - 1] if len(v) > 1 else v[0]
    print(json.dumps({"client": "python-aiohttp", "concurrency": conc, "requests": n, "completed": len(ttfts),
                      "ttft_p50_ms": statistics.median(ttfts) * 1e3, "ttft_p99_ms": q(ttfts, 99) * 1e3,
                      "itl_p50_ms": statistics.median(itls) * 1e3, "itl_p99_ms": q(itls, 99) * 1e3,
                      "events": counter[0], "cpu_s": cpu, "duration_s": dur}))


asyncio.run(main())
