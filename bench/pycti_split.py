"""The anchor of the split row of bench/stix-model.sh: pycti's OpenCTIStix2Splitter on a
bundle file, as a connector runs it (cleanup_inconsistent_bundle=True, JSON text out).

    bench/out/pyvenv/bin/python bench/pycti_split.py FILE

Run it under /usr/bin/time: the figure is the whole process (reading the file included).
"""
import sys

from pycti.utils.opencti_stix2_splitter import OpenCTIStix2Splitter

with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
n, incompatible, bundles = OpenCTIStix2Splitter().split_bundle_with_expectations(
    text, True, cleanup_inconsistent_bundle=True
)
print(f"pycti {n} bundles, {len(incompatible)} dropped", file=sys.stderr)
