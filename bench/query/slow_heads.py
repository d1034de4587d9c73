#!/usr/bin/env python3
# The slow-head attack of issue 9 against a running query port: N
# connections (default 200) each send one byte of a request head per
# second and reconnect when closed, while a normal GET /api/services runs
# every 250 ms for SECONDS (default 20; 5 s client timeout). Prints how
# many queries were answered and their latency.
#   python3 bench/query/slow_heads.py PORT [N] [SECONDS]
import select
import socket
import sys
import threading
import time

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
secs = float(sys.argv[3]) if len(sys.argv) > 3 else 20
stop = False
reconnects = 0
head = b"GET /api/services HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100000


def trickle():
    global reconnects
    socks, pos = [None] * n, [0] * n
    while not stop:
        for i in range(n):
            s = socks[i]
            if s is None:
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=2)
                    s.setblocking(False)
                    socks[i], pos[i] = s, 0
                except OSError:
                    continue
            try:
                readable, _, _ = select.select([s], [], [], 0)
                if readable and s.recv(100) == b"":
                    raise OSError("closed")
                s.send(head[pos[i]:pos[i] + 1])
                pos[i] += 1
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                socks[i] = None
                reconnects += 1
        time.sleep(1)
    for s in socks:
        if s:
            s.close()


t = threading.Thread(target=trickle)
t.start()
time.sleep(3)
lat, failed, t0 = [], 0, time.time()
while time.time() - t0 < secs:
    a = time.time()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.settimeout(5)
        s.sendall(b"GET /api/services HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
        s.close()
        if out.startswith(b"HTTP/1.1 200"):
            lat.append(time.time() - a)
        else:
            failed += 1
    except OSError:
        failed += 1
    time.sleep(0.25)
stop = True
t.join()
lat.sort()
print("slow connections %d: queries answered %d, not answered %d, latency ms median %.1f max %.1f, "
      "slow reconnects %d" % (n, len(lat), failed, 1000 * lat[len(lat) // 2] if lat else -1,
                              1000 * lat[-1] if lat else -1, reconnects))
