"""Parse a bundle with the Python stix2 library (allow_custom for x_ properties)."""
import json
import sys

import stix2

with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
bundle = stix2.parse(text, allow_custom=True)
n = len(bundle.objects)
assert n == len(json.loads(text)["objects"]), "object count differs"
print(f"parsed {n} objects")
