#!/usr/bin/env python3
"""What idle connections and requests in flight cost a server in resident memory.

    rss_client.py HOST:PORT SERVER_PID CONNECTIONS

Warms the server up (a few requests on a few connections, closed), reads its VmRSS, then opens
CONNECTIONS keep-alive connections, sends one `GET /users/42` on each and reads the answer,
and leaves them open and idle; reads VmRSS again once it is steady. Then sends `GET /sleep` on
every one of those connections (a route that answers only after a long sleep), waits until
the server holds them all, and reads VmRSS a third time. Prints one line:

    before_kib idle_kib inflight_kib

Loopback only; every socket operation has a timeout, and the sockets are closed on exit.
"""

import socket
import sys
import time

TIMEOUT = 10.0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def steady_rss(pid, settle=1.0, limit=10.0):
    """VmRSS once two readings `settle` seconds apart agree within 1%, or after `limit`."""
    deadline = time.monotonic() + limit
    last = rss_kib(pid)
    while time.monotonic() < deadline:
        time.sleep(settle)
        now = rss_kib(pid)
        if abs(now - last) <= max(last // 100, 64):
            return now
        last = now
    return last


def read_response(sock):
    """Reads one response with a Content-Length body; returns its status line."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the end of the body")
        body += chunk
    return head.split(b"\r\n", 1)[0]


def request(path, host):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def main():
    address, pid, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    host, port = address.rsplit(":", 1)
    port = int(port)

    def connect():
        sock = socket.create_connection((host, port), timeout=TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    # Warm up: whatever the first requests allocate once is not a connection's cost.
    for _ in range(8):
        with connect() as sock:
            for _ in range(8):
                sock.sendall(request("/users/42", address))
                read_response(sock)
    time.sleep(0.5)
    before = steady_rss(pid)

    sockets = []
    try:
        for _ in range(count):
            sock = connect()
            sockets.append(sock)
            sock.sendall(request("/users/42", address))
            status = read_response(sock)
            if not status.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer: {status!r}")
        idle = steady_rss(pid)

        for sock in sockets:
            sock.sendall(request("/sleep", address))
        inflight = steady_rss(pid, settle=1.5)
        # Every request must still be in flight: none answered, none cut.
        for sock in sockets:
            sock.setblocking(False)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    raise RuntimeError("a sleeping request was answered early")
                raise RuntimeError("the server closed a connection with a request in flight")
            except BlockingIOError:
                pass
    finally:
        for sock in sockets:
            sock.close()
    print(before, idle, inflight)


if __name__ == "__main__":
    main()
