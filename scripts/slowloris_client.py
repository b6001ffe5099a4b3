#!/usr/bin/env python3
"""Slow and stalled clients against a roadie server, with normal requests alongside.

    slowloris_client.py HOST:PORT SERVER_PID SECONDS HEADERS BODIES READERS

Opens HEADERS connections that send a request head one byte at a time and then stall,
BODIES connections that declare a 2 MiB body, send all but 1 KiB of it and stall, and READERS
connections that ask for a page of todos and read the answer 1 KiB a second. Meanwhile a
normal GET is sent every half second on a fresh connection. Prints the server's resident
memory (VmRSS) before, at its peak, and after the slow clients are gone, with how many normal
requests were answered and their slowest time, and what became of each slow client.
Loopback only; bounded by SECONDS.
"""

import asyncio
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def stalled_head(host, port, deadline, outcome):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        outcome["head: refused"] = outcome.get("head: refused", 0) + 1
        return
    head = b"GET /todos HTTP/1.1\r\nHost: slow\r\nX-Slow: "
    try:
        for byte in head:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.2)
        # Stall: never finish the head.
        answer = await asyncio.wait_for(reader.read(1), timeout=max(0.1, deadline - time.monotonic()))
        key = "head: closed by the server" if answer == b"" else "head: answered"
    except (OSError, asyncio.TimeoutError):
        key = "head: still open at the end" if time.monotonic() >= deadline - 0.2 else "head: reset"
    outcome[key] = outcome.get(key, 0) + 1
    writer.close()


async def stalled_body(host, port, deadline, outcome):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        outcome["body: refused"] = outcome.get("body: refused", 0) + 1
        return
    size = 2 * 1024 * 1024
    try:
        writer.write(
            f"POST /todos HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n".encode()
        )
        chunk = b"x" * 65536
        sent = 0
        while sent < size - 1024:
            part = chunk[: min(len(chunk), size - 1024 - sent)]
            writer.write(part)
            await writer.drain()
            sent += len(part)
        line = await asyncio.wait_for(reader.readline(), timeout=max(0.1, deadline - time.monotonic()))
        if line:
            key = "body: answered " + line.decode("latin-1").split(" ")[1]
        else:
            key = "body: closed by the server"
    except (OSError, asyncio.TimeoutError):
        key = "body: still open at the end" if time.monotonic() >= deadline - 0.2 else "body: reset"
    outcome[key] = outcome.get(key, 0) + 1
    writer.close()


async def slow_reader(host, port, deadline, outcome):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        outcome["reader: refused"] = outcome.get("reader: refused", 0) + 1
        return
    writer.write(b"GET /todos?limit=100 HTTP/1.1\r\nHost: slow\r\nConnection: close\r\n\r\n")
    await writer.drain()
    received = 0
    key = "reader: read to the end"
    try:
        while time.monotonic() < deadline:
            data = await asyncio.wait_for(reader.read(1024), timeout=max(0.1, deadline - time.monotonic()))
            if not data:
                break
            received += len(data)
            await asyncio.sleep(1)
        else:
            key = "reader: still reading at the end"
    except (OSError, asyncio.TimeoutError):
        key = "reader: cut"
    outcome[key] = outcome.get(key, 0) + 1
    writer.close()


async def normal(host, port, deadline, times):
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET /ready HTTP/1.1\r\nHost: normal\r\nConnection: close\r\n\r\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), timeout=10)
            writer.close()
            if line.startswith(b"HTTP/1.1 200"):
                times.append(time.monotonic() - started)
            else:
                times.append(None)
        except (OSError, asyncio.TimeoutError):
            times.append(None)
        await asyncio.sleep(0.5)


async def main():
    address, pid, seconds, heads, bodies, readers = sys.argv[1:7]
    host, port = address.rsplit(":", 1)
    port, pid = int(port), int(pid)
    before = rss_kib(pid)
    deadline = time.monotonic() + float(seconds)
    outcome, times = {}, []
    peak = [before]

    async def sample():
        while time.monotonic() < deadline:
            peak[0] = max(peak[0], rss_kib(pid))
            await asyncio.sleep(0.25)

    await asyncio.gather(
        sample(),
        normal(host, port, deadline, times),
        *(stalled_head(host, port, deadline, outcome) for _ in range(int(heads))),
        *(stalled_body(host, port, deadline, outcome) for _ in range(int(bodies))),
        *(slow_reader(host, port, deadline, outcome) for _ in range(int(readers))),
    )
    await asyncio.sleep(2)
    after = rss_kib(pid)
    answered = [t for t in times if t is not None]
    print(f"RSS before {before / 1024:.1f} MiB, peak {peak[0] / 1024:.1f} MiB, after {after / 1024:.1f} MiB")
    print(f"normal requests: {len(answered)} of {len(times)} answered, slowest {max(answered, default=0):.3f} s")
    for key in sorted(outcome):
        print(f"  {key}: {outcome[key]}")
    sys.exit(0 if len(answered) == len(times) and times else 1)


asyncio.run(main())
