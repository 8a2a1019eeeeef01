"""photodemo's luminance job: measure the average luminance of archive photos listed in a manifest.

Two layers. luminance.core (core/) is stdlib-only and defines what the job, ./submit, ./aggregate
and build.py share: the manifest, the results file, errors and exit codes, the command frame, the
limits and their defaults, the store's format (bundle). The modules here are the job's runtime:
analysis, metrics, fetch, transport, routes, deadlines and pelican need Pillow, requests or urllib3
and are imported only by the job itself, once bundle has put them on sys.path. The runtime imports
the core, never the other way; photodemo/ imports only the core (tests/test_layout.py).
"""

__version__ = "1.0.0"
