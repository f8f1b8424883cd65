#!/usr/bin/env python3
"""Burst and latency client for bench/api (standard library only).

burst URL TOKEN N CONC   submit N `true` jobs over CONC keep-alive connections; prints the
                         wall time until every POST answered (each answers once its worker
                         is RUNNING) and the count that came back RUNNING or later.
latency URL TOKEN N      N sequential submits of `true`; prints p50/p99 in ms.
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse


def conn_for(url):
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60)


BODY = json.dumps({"name": "bench", "task": {"runtime": "command", "command": ["true"]}})


def submit(conn, token):
    conn.request("POST", "/api/jobs", body=BODY,
                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 201:
        raise SystemExit(f"submit failed: {r.status} {data[:200]!r}")
    return json.loads(data)["status"]


def burst(url, token, n, conc):
    started = {"RUNNING": 0, "COMPLETED": 0, "FAILED": 0, "PENDING": 0}
    lock = threading.Lock()
    per = [n // conc + (1 if i < n % conc else 0) for i in range(conc)]
    conns = [conn_for(url) for _ in range(conc)]
    for c in conns:  # connect before the clock starts
        c.connect()
    barrier = threading.Barrier(conc + 1)

    def run(i):
        barrier.wait()
        for _ in range(per[i]):
            st = submit(conns[i], token)
            with lock:
                started[st] = started.get(st, 0) + 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(conc)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    running = sum(v for k, v in started.items() if k in ("RUNNING", "COMPLETED", "FAILED"))
    print(json.dumps({"seconds": elapsed, "jobs": n, "running_or_later": running,
                      "per_second": n / elapsed}))


def latency(url, token, n):
    c = conn_for(url)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        submit(c, token)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    print(json.dumps({"p50_ms": samples[len(samples) // 2],
                      "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))]}))


if __name__ == "__main__":
    if sys.argv[1] == "burst":
        burst(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        latency(sys.argv[2], sys.argv[3], int(sys.argv[4]))
