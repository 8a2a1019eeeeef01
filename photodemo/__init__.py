"""photodemo's submit-node side: ./submit, ./aggregate, the sample archive and the demo.

Stdlib only (the sample-archive generator excepted, which draws photos with Pillow), so the
commands run on a submit node's bare `python3`. Formats come from the payload's own modules
(payload/luminance: manifest, results, jobs, errors): one definition each.
"""
