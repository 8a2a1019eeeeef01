"""photodemo's submit-node side: ./submit, ./aggregate, the sample archive and the demo.

Stdlib only (archive.py and images.py excepted, which draw photos with Pillow), so the commands
run on a submit node's bare `python3`. Formats come from the payload's stdlib core
(payload/luminance/core: manifest, results, errors, limits...): one definition each, which the job
reads too. photodemo imports nothing else of the payload (tests/test_layout.py holds it to that).
"""

import os
import sys

# The one bootstrap. From a clone, on a bare python3, `import photodemo` (what ./submit,
# ./aggregate, ./make-manifest, `python -m photodemo.demo`, build.py, bench and the tests do first)
# makes the payload's package, payload/luminance (and so luminance.core), importable too: nothing
# is installed.
_PAYLOAD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "payload")
if _PAYLOAD not in sys.path:
    sys.path.insert(0, _PAYLOAD)
