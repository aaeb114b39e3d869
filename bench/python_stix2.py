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
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        bundle = stix2.parse(text, allow_custom=True)
        bundle.serialize()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(f"{path}: {mb:.1f} MB, {len(bundle.objects)} objects, python stix2 parse+serialize "
          f"median {med:.2f} s over {runs} runs = {mb / med:.2f} MB/s", flush=True)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        run(p, 3 if len(open(p, "rb").read()) < 5_000_000 else 1)
