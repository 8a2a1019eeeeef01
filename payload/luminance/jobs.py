"""The job description: how a manifest is cut into chunks, and what each chunk's job is called.

One definition shared by ./submit (HTCondor and --local back ends, --missing) and ./aggregate
(coverage of the manifest). A job is `luminance.pex RESULTS START COUNT < manifest.txt`, exactly
as in the tutorial: `results-START.json START COUNT`, logs `log/job.output.START` and
`log/job.error.START`.
"""

from typing import List, NamedTuple

__all__ = ["Chunk", "plan", "DEFAULT_CHUNK"]

DEFAULT_CHUNK = 200


class Chunk(NamedTuple):
    """Records START .. START+COUNT-1 of the manifest: one job."""

    start: int
    count: int

    @property
    def stop(self) -> int:
        return self.start + self.count

    @property
    def results_name(self) -> str:
        return "results-{}.json".format(self.start)

    @property
    def output_name(self) -> str:
        return "log/job.output.{}".format(self.start)

    @property
    def error_name(self) -> str:
        return "log/job.error.{}".format(self.start)

    @property
    def arguments(self) -> List[str]:
        """The payload's command line after the executable."""
        return [self.results_name, str(self.start), str(self.count)]


def plan(records: int, size: int = DEFAULT_CHUNK) -> List[Chunk]:
    """ceil(RECORDS/SIZE) chunks covering records 0 .. RECORDS-1 once each, the last one shorter."""
    if size < 1:
        raise ValueError("chunk size must be at least 1, got {}".format(size))
    return [Chunk(start, min(size, records - start)) for start in range(0, records, size)]
