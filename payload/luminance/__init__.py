"""photodemo's luminance job: measure the average luminance of archive photos listed in a manifest.

Every module cli.py imports at its top is stdlib-only (manifest, results, jobs, errors, command,
arguments, files, ads, limits, output, bundle, cpus): they define what the payload, ./submit and
./aggregate share. analysis, metrics, fetch, transport, routes, deadlines and pelican need Pillow,
requests or urllib3 and are imported only by the job itself, once bundle has put them on sys.path.
"""

__version__ = "1.0.0"
