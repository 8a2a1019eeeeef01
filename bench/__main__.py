"""`make bench`: every benchmark's rows as one table."""

import os
import sys

from bench import payload

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    pex = argv[0] if argv else os.path.join(ROOT, "dist", "luminance.pex")
    if not os.path.exists(pex):
        print("bench: error: {}: no pex (run make payload)".format(pex), file=sys.stderr)
        return 2
    rows = [("payload: " + label, value) for label, value in payload.rows(pex)]
    try:
        from bench import aggregate
    except ImportError:
        aggregate = None
    if aggregate is not None:
        rows += [("aggregate: " + label, value) for label, value in aggregate.rows()]
    width = max(len(label) for label, _ in rows)
    print("| {} | {} |".format("benchmark".ljust(width), "result"))
    print("|-{}-|-{}-|".format("-" * width, "-" * 6))
    for label, value in rows:
        print("| {} | {} |".format(label.ljust(width), value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
