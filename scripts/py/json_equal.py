"""Exit 0 when two JSON files hold equal values."""
import json
import sys

a, b = (json.load(open(p, encoding="utf-8")) for p in sys.argv[1:3])
if a != b:
    print("JSON values differ")
    sys.exit(1)
print("equal")
