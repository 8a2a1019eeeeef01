"""`make bench`: every benchmark's rows as one table."""

import os
import subprocess
import sys

from photodemo import jobs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rows(name, args):
    proc = subprocess.run([sys.executable, "-m", "bench." + name] + args, cwd=ROOT,
                          stdout=subprocess.PIPE, universal_newlines=True)
    if proc.returncode != 0:
        return [(name, "FAILED (exit {})".format(proc.returncode))]
    return [tuple(line.split("\t", 1)) for line in proc.stdout.splitlines() if "\t" in line]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    pex = argv[0] if argv else os.path.join(ROOT, jobs.DEFAULT_PAYLOAD)
    if not os.path.exists(pex):
        print("bench: error: {}: no pex (run make payload)".format(pex), file=sys.stderr)
        return 2
    # Each benchmark in its own process, so that one's peak RSS is not another's.
    rows = _rows("payload", [pex]) + _rows("aggregate", [])
    width = max(len(label) for label, _ in rows)
    print("| {} | {} |".format("benchmark".ljust(width), "result"))
    print("|-{}-|-{}-|".format("-" * width, "-" * 6))
    for label, value in rows:
        print("| {} | {} |".format(label.ljust(width), value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
