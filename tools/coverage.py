#!/usr/bin/env python3
"""Line coverage of src/ from a gcov-instrumented build, with a gate.

Usage: tools/coverage.py BUILD_DIR MIN_PERCENT
Runs `gcov --json-format --stdout` on every .gcda under BUILD_DIR and merges the lines of files
under src/ (a line counts as covered if any translation unit executed it). gcovr 5.2 (Debian 12)
asserts on GCC 12's coroutine functions, hence this small replacement. Prints the files sorted by
coverage and a total; exits 1 below MIN_PERCENT.
"""
import json
import os
import subprocess
import sys


def main():
    build, minimum = os.path.abspath(sys.argv[1]), float(sys.argv[2])
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    src = os.path.join(root, "src") + os.sep
    gcdas = []
    for d, _, files in os.walk(build):
        gcdas += [os.path.join(d, f) for f in files if f.endswith(".gcda")]
    lines = {}  # file -> {line: covered}
    for gcda in gcdas:
        out = subprocess.run(["gcov", "--json-format", "--stdout", gcda], capture_output=True,
                             text=True, cwd=os.path.dirname(gcda)).stdout
        dec = json.JSONDecoder()
        pos = 0
        while pos < len(out):
            while pos < len(out) and out[pos].isspace():
                pos += 1
            if pos >= len(out):
                break
            doc, pos = dec.raw_decode(out, pos)
            for f in doc.get("files", []):
                path = f["file"]
                if not os.path.isabs(path):
                    path = os.path.normpath(os.path.join(doc.get("current_working_directory", root), path))
                if not path.startswith(src) or "/boostlib/" in path:
                    continue
                rel = os.path.relpath(path, root)
                cur = lines.setdefault(rel, {})
                for ln in f["lines"]:
                    n = ln["line_number"]
                    cur[n] = cur.get(n, False) or ln["count"] > 0
    total = sum(len(v) for v in lines.values())
    covered = sum(sum(1 for c in v.values() if c) for v in lines.values())
    rows = sorted((100.0 * sum(v.values()) / max(1, len(v)), f, len(v)) for f, v in lines.items())
    for pct, f, n in rows[:15]:
        print(f"  {pct:5.1f} %  {n:5d} lines  {f}")
    pct = 100.0 * covered / max(1, total)
    print(f"coverage: {covered} of {total} lines of src/ = {pct:.1f} % (gate {minimum:.0f} %)")
    if total == 0 or pct < minimum:
        print("coverage: below the gate")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
