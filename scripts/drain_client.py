#!/usr/bin/env python3
"""Keep-alive load with writes against a roadie server, counting every request's fate.

    drain_client.py HOST:PORT CONNECTIONS SECONDS RESULTS_FILE

Each connection sends requests back to back on one keep-alive connection: three reads
(GET /todos/{id}) for each write (POST /todos with a unique title). A request ends one way:

- answered: a whole response came back (any status);
- dropped: the connection ended (EOF or reset) after the request was written and before its
  whole response came: the failure a drain must never cause;
- refused: a new connection could not be opened (the server stopped accepting): the load
  balancer's job, not counted as dropped.

A response with `Connection: close` makes the client open a new connection for its next
request, as HTTP/1.1 clients do. The run ends after SECONDS, or once every connection is
refused. Acknowledged writes (201, with their id and title) go to RESULTS_FILE as JSON lines.
Loopback only; bounded by SECONDS.
"""

import asyncio
import json
import sys
import time


async def read_response(reader):
    """Reads one response; returns (status, headers, body) or None on EOF before its end."""
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").split(" ", 2)
    if len(parts) < 2:
        return None
    status = int(parts[1])
    headers = {}
    while True:
        line = await reader.readline()
        if not line:
            return None
        line = line.decode("latin-1").rstrip("\r\n")
        if not line:
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = await reader.readline()
            if not size_line:
                return None
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            chunk = await reader.readexactly(size + 2)
            body += chunk[:-2]
            if size == 0:
                break
    else:
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length)
    return status, headers, body


async def worker(number, address, deadline, counts, writes):
    host, port = address.rsplit(":", 1)
    sequence = 0
    reader = writer = None
    while time.monotonic() < deadline:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection(host, int(port))
            except OSError:
                counts["refused"] += 1
                return
        sequence += 1
        if sequence % 4 == 0:
            title = f"drain {number}-{sequence}"
            body = json.dumps({"title": title}).encode()
            request = (
                f"POST /todos HTTP/1.1\r\nHost: {address}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
        else:
            title = None
            request = f"GET /todos/{1 + sequence % 5} HTTP/1.1\r\nHost: {address}\r\n\r\n".encode()
        try:
            writer.write(request)
            await writer.drain()
        except OSError:
            # The write itself failed: the connection was already closed by the server
            # between requests; nothing was sent, so nothing was dropped. Reconnect.
            writer = None
            continue
        counts["sent"] += 1
        try:
            response = await asyncio.wait_for(read_response(reader), timeout=60)
        except (OSError, asyncio.IncompleteReadError):
            response = None
        if response is None:
            counts["dropped"] += 1
            writer.close()
            writer = None
            continue
        counts["answered"] += 1
        status, headers, body = response
        counts[f"status {status}"] = counts.get(f"status {status}", 0) + 1
        if title is not None and status == 201:
            writes.append(json.loads(body))
        if headers.get("connection", "").lower() == "close":
            counts["closed by the server"] += 1
            writer.close()
            writer = None


async def main():
    address, connections, seconds, results = sys.argv[1:5]
    deadline = time.monotonic() + float(seconds)
    counts = {"sent": 0, "answered": 0, "dropped": 0, "refused": 0, "closed by the server": 0}
    writes = []
    await asyncio.gather(
        *(worker(n, address, deadline, counts, writes) for n in range(int(connections)))
    )
    with open(results, "w") as out:
        for write in writes:
            out.write(json.dumps(write) + "\n")
    print(json.dumps(counts))


asyncio.run(main())
