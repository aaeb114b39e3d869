"""Time Python stix2.parse on the same files the Rust throughput bench uses.

    .venv/bin/python bench/python_stix2.py FILE [FILE ...]

Prints, per file, MB, the median time of parse (stix2.parse, allow_custom=True) + serialize
over a few runs, and MB/s. bench/stix-model.sh runs it next to the Rust bench.
"""
import statistics
import sys
import time

import stix2


def run(path: str, runs: int) -> None:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    mb = len(text.encode("utf-8")) / 1e6
    parse_times, total_times = [], []
    for _ in range(runs):
        t = time.perf_counter()
        bundle = stix2.parse(text, allow_custom=True)
        t1 = time.perf_counter()
        bundle.serialize()
        t2 = time.perf_counter()
        parse_times.append(t1 - t)
        total_times.append(t2 - t)
    p, tot = statistics.median(parse_times), statistics.median(total_times)
    print(f"{path}: {mb:.1f} MB, {len(bundle.objects)} objects; python stix2.parse median {p:.2f} s = "
          f"{mb / p:.2f} MB/s; parse+serialize {tot:.2f} s = {mb / tot:.2f} MB/s ({runs} runs)", flush=True)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        run(p, 3 if len(open(p, "rb").read()) < 5_000_000 else 1)
