"""photodemo's benchmarks (`make bench`): they print numbers; no test asserts on timings."""

import photodemo  # noqa: F401  (the one bootstrap: makes payload/luminance importable)
