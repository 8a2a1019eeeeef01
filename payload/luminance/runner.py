"""The entry point of a pex build.py makes for another job: its libraries from the store, then its code.

`build.py --package DIR --entry-point MODULE[:FUNCTION] --requirements FILE` freezes any job the
way it freezes luminance: pex runs this module, which puts the wheels that fit this Python on
sys.path (`bundle.activate`) and then runs the job's entry point, named in $PHOTODEMO_ENTRY_POINT
(set in the pex by build.py, pex's --inject-env). A worker the store has no wheels for, or a
damaged store, ends in one line and exit code 5, as a luminance job does (its results file is
luminance's own; another job writes what it writes).
"""

import os
import runpy
import sys

from luminance.core import bundle

ENTRY_POINT = "PHOTODEMO_ENTRY_POINT"


def main() -> int:
    try:
        bundle.activate()
    except bundle.BundleError as exc:
        print("{}: error: {}".format(os.path.basename(os.environ.get("PEX", sys.argv[0])), exc),
              file=sys.stderr)
        return exc.exit_code
    module, _, function = os.environ.get(ENTRY_POINT, "").partition(":")
    if not function:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    target = __import__(module, fromlist=[function])
    return getattr(target, function)() or 0


if __name__ == "__main__":
    sys.exit(main())
