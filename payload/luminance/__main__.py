"""Entry point of dist/luminance.pex and of `python -m luminance`."""

import sys

from luminance.cli import main

if __name__ == "__main__":
    sys.exit(main())
