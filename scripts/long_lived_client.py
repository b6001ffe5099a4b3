#!/usr/bin/env python3
"""Long-lived clients of the `live` example, and what each saw when the server stopped.

    long_lived_client.py HOST:PORT SSE_CLIENTS WS_CLIENTS SERVER_PID SIGNALLED_FILE

Opens SSE_CLIENTS server-sent event streams (GET /events) and WS_CLIENTS WebSockets
(GET /chat, with a minimal hand-written client: the handshake, and frames read unmasked and
written masked), waits until every one is open and has received something, then sends
SIGTERM to SERVER_PID (writing the time to SIGNALLED_FILE) and reads each to its end.

A client ends one way:
- SSE clean: the chunked body ended with its last chunk (`0\\r\\n\\r\\n`) after a `bye` event;
- WS clean: a Close frame with code 1001 came, and was answered;
- anything else (EOF or reset mid-body, another close code, a timeout) is not clean.

Prints one JSON object of counts. Loopback only; every wait is bounded.
"""

import asyncio
import base64
import json
import os
import signal
import struct
import sys
import time

TIMEOUT = 30


async def open_sse(host, port, opened):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /events HTTP/1.1\r\nhost: {host}\r\naccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        return "sse refused"
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    body = b""
    told = False
    try:
        while True:
            size_line = await reader.readline()
            if not size_line:
                return "sse cut"
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return "sse clean" if b"event: bye" in body else "sse ended without bye"
            body += chunk[:-2]
            if not told and b"\n\n" in body:
                told = True
                opened.release()
    except (asyncio.IncompleteReadError, ConnectionError):
        return "sse cut"
    finally:
        if not told:
            opened.release()
        writer.close()


async def read_frame(reader):
    head = await reader.readexactly(2)
    opcode = head[0] & 0x0F
    length = head[1] & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    if head[1] & 0x80:
        await reader.readexactly(4)  # a server never masks; tolerate it all the same
    return opcode, await reader.readexactly(length)


def frame(opcode, payload):
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


async def open_ws(host, port, opened):
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (f"GET /chat HTTP/1.1\r\nhost: {host}\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
         f"sec-websocket-version: 13\r\nsec-websocket-key: {key}\r\n\r\n").encode())
    await writer.drain()
    told = False
    try:
        status = await reader.readline()
        if b" 101 " not in status:
            return "ws refused"
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        writer.write(frame(0x1, b"hello"))
        await writer.drain()
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                writer.write(frame(0x8, payload[:2]))
                await writer.drain()
                return "ws clean" if code == 1001 else f"ws closed {code}"
            if opcode == 0x9:
                writer.write(frame(0xA, payload))
                await writer.drain()
            if not told:
                told = True
                opened.release()
    except (asyncio.IncompleteReadError, ConnectionError):
        return "ws cut"
    finally:
        if not told:
            opened.release()
        writer.close()


async def main():
    host, port = sys.argv[1].rsplit(":", 1)
    sse, ws, pid, signalled_file = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    opened = asyncio.Semaphore(0)
    gate = asyncio.Semaphore(64)  # opened a few at a time, within the listen backlog

    async def client(open_one):
        async with gate:
            task = asyncio.ensure_future(open_one(host, port, opened))
            await asyncio.sleep(0.001)
        try:
            return await asyncio.wait_for(task, TIMEOUT)
        except asyncio.TimeoutError:
            return "timed out"
        except OSError:
            return "could not connect"

    tasks = [asyncio.ensure_future(client(open_sse)) for _ in range(sse)]
    tasks += [asyncio.ensure_future(client(open_ws)) for _ in range(ws)]
    began = time.monotonic()
    for _ in range(sse + ws):
        await asyncio.wait_for(opened.acquire(), TIMEOUT)
    connected_in = time.monotonic() - began
    with open(signalled_file, "w") as f:
        f.write(f"{time.time()}\n")
    os.kill(pid, signal.SIGTERM)
    results = await asyncio.gather(*tasks)
    counts = {"connected in s": round(connected_in, 2)}
    for result in results:
        counts[result] = counts.get(result, 0) + 1
    print(json.dumps(counts, sort_keys=True))


asyncio.run(main())
