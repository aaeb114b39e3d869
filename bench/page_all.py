"""Pages through the bundle endpoint (cursor, limit) on one keep-alive connection, as a
connector does, and prints: incidents pages bytes seconds.

    python3 bench/page_all.py PORT KEY [LIMIT]

The bodies are read in full and dropped; the time is from the first request to the end of
the last body.
"""
import http.client
import sys
import time


def main() -> None:
    port, key = int(sys.argv[1]), sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Authorization": f"Bearer {key}"}
    cursor, pages, incidents, size = "0", 0, 0, 0
    t0 = time.perf_counter()
    while True:
        conn.request("GET", f"/api/v1/bundle?cursor={cursor}&limit={limit}", headers=headers)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"status {r.status}: {body[:200]!r}")
        pages += 1
        size += len(body)
        incidents += int(r.getheader("x-disinfox-incidents", "0"))
        cursor = r.getheader("x-disinfox-next-cursor")
        if r.getheader("x-disinfox-more") != "true":
            break
    print(incidents, pages, size, f"{time.perf_counter() - t0:.3f}")


if __name__ == "__main__":
    main()
