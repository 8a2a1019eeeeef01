"""The job description: how a manifest is cut into chunks, and what each chunk's job is called.

One definition shared by ./submit (HTCondor and --local back ends, --missing) and ./aggregate
(coverage of the manifest). A job is `luminance.pex RESULTS START COUNT < manifest.txt`, exactly
as in the tutorial: `results-START.json START COUNT`, logs `log/job.output.START` and
`log/job.error.START`.
"""

import re
from typing import List, NamedTuple, Optional

__all__ = ["Chunk", "plan", "results_start", "DEFAULT_PAYLOAD", "DEFAULT_CHUNK", "RESULTS_NAME",
           "RESULTS_GLOB", "LOG_DIR", "OUTPUT_NAME", "ERROR_NAME", "SLICE_NAME"]

DEFAULT_PAYLOAD = "dist/luminance.pex"  # the job's executable, as `make payload` builds it in a clone
DEFAULT_CHUNK = 200
# File names of job START, as templates: submit.sub fills in "$(start)", everything else a number.
RESULTS_NAME = "results-{start}.json"
RESULTS_GLOB = "results-*.json"
LOG_DIR = "log"  # the jobs' stdout and stderr; made by ./submit (condor_submit does not)
OUTPUT_NAME = LOG_DIR + "/job.output.{start}"
ERROR_NAME = LOG_DIR + "/job.error.{start}"
SLICE_NAME = "slices/manifest.{start}.txt"  # the job's own manifest slice (./submit --split)
_RESULTS_RE = re.compile(r"^results-(\d+)\.json$")


def results_start(name: str) -> Optional[int]:
    """START of a results file name (`results-200.json` -> 200), or None for another name."""
    match = _RESULTS_RE.match(name)
    return int(match.group(1)) if match else None


class Chunk(NamedTuple):
    """Records START .. START+COUNT-1 of the manifest: one job."""

    start: int
    count: int  # type: ignore[assignment]  # as results.Job's; hides tuple.count, unused here

    @property
    def stop(self) -> int:
        return self.start + self.count

    @property
    def results_name(self) -> str:
        return RESULTS_NAME.format(start=self.start)

    @property
    def output_name(self) -> str:
        return OUTPUT_NAME.format(start=self.start)

    @property
    def error_name(self) -> str:
        return ERROR_NAME.format(start=self.start)

    @property
    def slice_name(self) -> str:
        return SLICE_NAME.format(start=self.start)

    @property
    def arguments(self) -> List[str]:
        """The payload's command line after the executable."""
        return [self.results_name, str(self.start), str(self.count)]


def plan(records: int, size: int = DEFAULT_CHUNK) -> List[Chunk]:
    """ceil(RECORDS/SIZE) chunks covering records 0 .. RECORDS-1 once each, the last one shorter."""
    if size < 1:
        raise ValueError("chunk size must be at least 1, got {}".format(size))
    return [Chunk(start, min(size, records - start)) for start in range(0, records, size)]
