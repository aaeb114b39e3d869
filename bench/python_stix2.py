"""The anchor of the parse+serialize rows of bench/stix-model.sh: Python stix2 on a file.

    bench/out/pyvenv/bin/python bench/python_stix2.py FILE [RUNS]

Prints the median time of stix2.parse (allow_custom=True) and of parse + serialize, and MB/s.
The last field of the line is the parse + serialize median in seconds (read by the script).
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
    print(f"{path}: {mb:.1f} MB, {len(bundle.objects)} objects; python stix2 median of {runs}: parse "
          f"{p:.2f} s ({mb / p:.2f} MB/s); parse+serialize {tot:.2f} s ({mb / tot:.2f} MB/s) {tot:.3f}",
          flush=True)


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3)
