"""photodemo's luminance job: measure the average luminance of archive photos listed in a manifest.

The stdlib-only modules (manifest, results, jobs, errors) define the formats that the payload,
./submit and ./aggregate share; metrics and fetch need Pillow and requests and are imported only
by the job itself.
"""

__version__ = "1.0.0"
