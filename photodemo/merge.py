"""Results documents merged into what the page and the exports show: Merge and its named parts.

Merge reads one document at a time and keeps what grows with the archive's years, hosts, sites and
failures, not with its photos: the photos counted (Photos: per-year statistics and density bins in
YearStats, the points plotted, a bitmap of the records that hold a photo), the records each job
was to cover (Ranges), the failures (Failures), per-host and per-site tallies (Tally), the run's
facts (RunFacts). Each part owns its state; `Merge.summary()` is a `Summary`, typed records all the
way down, which `Summary.to_json()` turns into `./aggregate --json`'s "summary" (docs/results.md).

What a worker wrote is checked, never trusted: an entry is counted only when its record lies in its
own job's range, its luminance in 0..1 and its year in 1..9999; when two files hold the same
record, results.better decides (a photo over a permanent over a transient failure), and of two
photos the one of the job whose range starts nearest below the record (aggregate reads files in
that order). Completeness comes from the entries held, not from a file's `complete` or `count`.
"""

import math
import os
import re
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from luminance.core import results
from luminance.core.errors import UsageError

from photodemo import jobs

__all__ = ["MAX_POINTS", "MAX_TEXT", "LUM_BINS", "YEARS", "bounded", "YearStats", "YearRow", "Tally",
           "TallyRow", "Ranges", "CoverageSummary", "Failures", "Example", "FailureGroup", "RunFacts",
           "RunSummary",
           "Version", "Photos", "Counted", "Luminance", "FileProblem", "Summary", "Merge", "reason_group",
           "missing_ranges", "UNREADABLE", "MISNAMED", "OTHER_METRIC", "SHORT", "WHOLE_BUT_INTERRUPTED",
           "OVERLAP", "OUTSIDE", "BAD_VALUES"]

MAX_POINTS = 50000  # above this many photos the page shows density, not one mark per photo
LUM_BINS = 50  # the density view's luminance bins over 0..1 (0.02 wide)
# The years a date can name; a result outside is a bad entry. Wider on purpose than the manifest's
# MIN_YEAR..max_year(), which the job checks when it reads a record: a results file written under
# older rules stays readable, and the same files give the same page on any day (max_year() moves
# with the calendar).
YEARS = (1, 9999)
UNKNOWN_HOST, UNKNOWN_SITE = "(unknown host)", "(unknown site)"
MAX_TEXT = 200  # characters of a job's host, site, versions, manifest and error that are shown
# What is wrong with a results file (FileProblem.kind): code decides on these, people read the text.
UNREADABLE, MISNAMED, OTHER_METRIC = "unreadable", "misnamed", "other metric"  # skipped files
SHORT, WHOLE_BUT_INTERRUPTED = "short", "whole but interrupted"  # a used file's range
OVERLAP, OUTSIDE, BAD_VALUES = "overlap", "outside", "bad values"  # a used file's entries

_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]+")
# Runs of a bitmap: whole bytes of missing records, or one byte of some of each.
_MISSING_RE = re.compile(rb"\x00+|[^\x00\xff]")


def bounded(job: results.Job) -> results.Job:
    """JOB with each text cut to MAX_TEXT characters: a worker writes what it likes there, and
    the page, the tables and the warnings show it once per host, site and version."""
    cut = {field: value[:MAX_TEXT - 1] + "…" for field, value in job._asdict().items()
           if isinstance(value, str) and len(value) > MAX_TEXT}
    return job._replace(**cut) if cut else job


def reason_group(reason: Any) -> str:
    """A failure reason with its incidental details (object addresses, trailing parenthesized
    remarks such as what the server sent) removed, so that equal failures group together."""
    text = _ADDRESS_RE.sub("0x…", str(reason)).strip()
    cut = text.find(" (")
    if cut > 0:
        text = text[:cut]
    return text[:200] or "(no reason given)"


class YearRow(NamedTuple):
    """One year's photos as the page and --json show them (year None: the unknown year)."""

    year: Optional[int]
    n: int
    mean: float
    sd: float
    min: float
    max: float


class YearStats:
    """One year's photos: count, sum and sum of squares of luminance, extremes, density bins."""

    __slots__ = ("n", "total", "squares", "low", "high", "bins")

    def __init__(self, lum: float):
        self.n, self.total, self.squares, self.low, self.high = 0, 0.0, 0.0, lum, lum
        self.bins = [0] * LUM_BINS

    def add(self, lum: float) -> None:
        self.n += 1
        self.total += lum
        self.squares += lum * lum
        if lum < self.low:
            self.low = lum
        elif lum > self.high:
            self.high = lum
        self.bins[min(int(lum * LUM_BINS), LUM_BINS - 1)] += 1

    def row(self, year: Optional[int]) -> YearRow:
        mean = self.total / self.n
        sd = math.sqrt(max(self.squares / self.n - mean * mean, 0.0)) if self.n > 1 else 0.0
        return YearRow(year, self.n, round(mean, 6), round(sd, 6), round(self.low, 6), round(self.high, 6))


class TallyRow(NamedTuple):
    """What ran on one host or site: its name, jobs, photos, failed records, job seconds, photos/s."""

    name: str
    jobs: int
    photos: int
    failed: int
    elapsed: float
    rate: Optional[float]

    def to_json(self, key: str) -> Dict[str, Any]:
        """The row as --json writes it, the name under KEY ("host" or "site")."""
        row = self._asdict()
        return dict({key: row.pop("name")}, **row)


class Tally:
    """What ran on one host (or site): jobs, photos, failed records, job seconds."""

    __slots__ = ("jobs", "photos", "failed", "elapsed")

    def __init__(self):
        self.jobs, self.photos, self.failed, self.elapsed = 0, 0, 0, 0.0

    def add(self, photos: int, failed: int, elapsed: Optional[float]) -> None:
        self.jobs += 1
        self.photos += photos
        self.failed += failed
        self.elapsed += elapsed or 0.0

    @staticmethod
    def rows(tallies: Dict[str, "Tally"]) -> List[TallyRow]:
        """One row per name, most photos first."""
        rows = [TallyRow(name, t.jobs, t.photos, t.failed, round(t.elapsed, 3),
                         round(t.photos / t.elapsed, 3) if t.elapsed > 0 else None)
                for name, t in tallies.items()]
        return sorted(rows, key=lambda row: (-row.photos, row.name))


def missing_ranges(covered: bytes, end: int) -> List[Tuple[int, int]]:
    """The ranges [lo, hi) of records 0 .. END-1 whose bit in the bitmap COVERED is not set."""
    gaps: List[Tuple[int, int]] = []

    def gap(lo: int, hi: int) -> None:
        hi = min(hi, end)
        if lo >= hi:
            return
        if gaps and gaps[-1][1] == lo:
            gaps[-1] = (gaps[-1][0], hi)
        else:
            gaps.append((lo, hi))

    view = bytes(covered[:(end + 7) // 8])  # a bitmap shorter than END: the rest is missing
    for match in _MISSING_RE.finditer(view):
        if match.group()[0] == 0:
            gap(match.start() * 8, match.end() * 8)
            continue
        byte, base = match.group()[0], match.start() * 8
        for bit in range(8):
            if not byte & (1 << bit):
                gap(base + bit, base + bit + 1)
    gap(len(view) * 8, end)
    return gaps


class CoverageSummary(NamedTuple):
    """The records missing: of RECORDS (the manifest's, else up to the last job's range), the
    ranges [lo, hi) with no photo and no failure, and how many jobs of the usual size (CHUNK)
    would cover them."""

    manifest: Optional[str]
    records: int
    chunk: int
    missing: List[Tuple[int, int]]
    missing_records: int
    chunks_missing: int
    beyond_manifest: bool


class Ranges:
    """Which records each job was to cover (its range, cut where the manifest ends), and the
    job sizes; with the photos' bitmap and the failures, the records missing."""

    def __init__(self, manifest_records: Optional[int] = None):
        self.manifest_records = manifest_records
        self.end = 0  # one past the last record any job was to cover
        self.counts: Counter = Counter()  # job sizes, to count missing chunks in jobs
        self.beyond_manifest = False

    def expected(self, job: results.Job) -> Tuple[int, int]:
        """The records JOB was to cover (results.expected_range)."""
        if self.manifest_records is not None:
            self.beyond_manifest |= results.expected_range(job)[1] > self.manifest_records
        return results.expected_range(job, self.manifest_records)

    def add_job(self, job: results.Job) -> Tuple[int, int]:
        lo, hi = self.expected(job)
        self.end = max(self.end, hi)
        self.counts[min(job.count, results.MAX_RECORDS)] += 1
        return lo, hi

    def chunk_size(self) -> int:
        """The usual job size: the most common count (the largest of equally common ones)."""
        sizes = {count: times for count, times in self.counts.items() if count > 0}
        if not sizes:
            return 0
        best = max(sizes.values())
        return max(count for count, times in sizes.items() if times == best)

    def summary(self, photos: bytes, failed: Dict[int, Any], manifest_path: Optional[str]) -> CoverageSummary:
        """What is missing, given the bitmap of the records with a photo and the FAILED records."""
        end = self.end if self.manifest_records is None else self.manifest_records
        # Records past the bitmap's end are missing: it grows only as far as entries reach.
        covered = bytearray(photos[:(end + 7) // 8])
        reach = min(end, max(failed, default=-1) + 1)
        covered.extend(bytes(max((reach + 7) // 8 - len(covered), 0)))
        for record in failed:
            if record < end:
                covered[record >> 3] |= 1 << (record & 7)
        gaps = missing_ranges(covered, end)
        size = self.chunk_size()
        chunks = sum(-(-(hi - lo) // size) for lo, hi in gaps) if size else len(gaps)
        return CoverageSummary(manifest_path, end, size, gaps, sum(hi - lo for lo, hi in gaps), chunks,
                               self.beyond_manifest)


class Example(NamedTuple):
    """One failed record shown for its group."""

    record: int
    line: int
    url: Optional[str]
    reason: str


class FailureGroup(NamedTuple):
    """Failures of one reason (reason_group): how many, how many transient, a few examples."""

    reason: str
    count: int
    transient: int
    examples: List[Example]


class Failures:
    """The failed records never analyzed: record -> its failure entry (the better one of two)."""

    def __init__(self):
        self.entries: Dict[int, Dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def supersede(self, record: int) -> bool:
        """A photo holds RECORD now: its failure, if any, goes; whether there was one."""
        return self.entries.pop(record, None) is not None

    def add(self, item: Dict[str, Any]) -> bool:
        """Keep ITEM unless its record already holds an equally good or better failure; False then."""
        kept = self.entries.get(item["record"])
        if kept is not None and results.better(kept, item) is kept:
            return False
        self.entries[item["record"]] = item
        return kept is None

    def groups(self, examples: int = 3) -> List[FailureGroup]:
        """Failures grouped by reason, most frequent first, each with a few example records."""
        counts: Counter = Counter()
        transient: Counter = Counter()
        shown: Dict[str, List[Example]] = {}
        for record in sorted(self.entries):
            item = self.entries[record]
            name = reason_group(item["reason"])
            counts[name] += 1
            transient[name] += item["transient"]
            some = shown.setdefault(name, [])
            if len(some) < examples:
                some.append(Example(item["record"], item["line"], item["url"], item["reason"]))
        return sorted((FailureGroup(name, counts[name], transient[name], shown[name]) for name in counts),
                      key=lambda group: (-group.count, group.reason))

    def transient(self) -> int:
        return sum(1 for item in self.entries.values() if item["transient"])

    def sorted(self) -> List[Dict[str, Any]]:
        return [self.entries[record] for record in sorted(self.entries)]


def _iso(epoch: Optional[float]) -> Optional[str]:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class Version(NamedTuple):
    """A payload and Python version pair, and how many jobs ran it."""

    payload: str
    python: str
    jobs: int


class RunSummary(NamedTuple):
    """The whole run: jobs, hosts, sites, job seconds, wall-clock span (s), photos/s over it,
    first start and last end (UTC texts), versions most used first."""

    jobs: int
    hosts: int
    sites: int
    job_seconds: float
    span: Optional[float]
    rate: Optional[float]
    started: Optional[str]
    ended: Optional[str]
    versions: List[Version]


class RunFacts:
    """The whole run: first start, last end, payload and Python versions, per host and per site."""

    def __init__(self):
        self.first_start: Optional[float] = None
        self.last_end: Optional[float] = None
        self.versions: Counter = Counter()  # (payload, python) -> jobs
        self.hosts: Dict[str, Tally] = {}
        self.sites: Dict[str, Tally] = {}

    def add(self, job: results.Job, photos: int, failed: int) -> None:
        for tallies, name, unknown in ((self.hosts, job.host, UNKNOWN_HOST),
                                       (self.sites, job.site, UNKNOWN_SITE)):
            tallies.setdefault(name or unknown, Tally()).add(photos, failed, job.elapsed)
        self.versions[(str(job.payload_version), str(job.python))] += 1
        started, ended = results.epoch(job.started), results.epoch(job.ended)
        if started is not None:
            self.first_start = started if self.first_start is None else min(self.first_start, started)
        if ended is not None:
            self.last_end = ended if self.last_end is None else max(self.last_end, ended)

    def summary(self, jobs: int, photos: int) -> RunSummary:
        job_seconds = sum(tally.elapsed for tally in self.hosts.values())
        span = None
        if self.first_start is not None and self.last_end is not None and self.last_end >= self.first_start:
            span = self.last_end - self.first_start
        return RunSummary(jobs, len(self.hosts), len(self.sites), round(job_seconds, 3),
                          round(span, 3) if span is not None else None,
                          round(photos / span, 3) if span else None,
                          _iso(self.first_start), _iso(self.last_end),
                          [Version(payload, python, count)
                           for (payload, python), count in self.versions.most_common()])


class Counted(NamedTuple):
    """What Photos.add made of one file's photos."""

    counted: int  # photos counted
    duplicates: int  # records already holding a photo, or a failure a photo now replaces
    outside: int  # records outside the job's range
    bad: int  # a luminance outside 0..1 or a year outside YEARS


class Luminance(NamedTuple):
    min: float
    max: float


class Photos:
    """The photos counted: per-year statistics (None: unknown year), the luminance range, the
    first `max_points` as (year, luminance, url) for the scatter plot (None past that), and a
    bitmap of the records that hold a photo (one bit each: the photos' dedup)."""

    def __init__(self, max_points: int = MAX_POINTS):
        self.max_points = max_points
        self.count = 0
        self.seen = bytearray()
        self.points: Optional[List[Tuple[Optional[int], float, str]]] = []
        self.years: Dict[Optional[int], YearStats] = {}
        self.lum_min, self.lum_max = math.inf, -math.inf

    def has(self, record: int) -> bool:
        """Whether RECORD holds a photo counted."""
        byte = record >> 3
        return byte < len(self.seen) and bool(self.seen[byte] & (1 << (record & 7)))

    def add(self, items: List[Dict[str, Any]], host: Any, start: int, stop: int, failures: Failures,
            sink: Optional[Callable]) -> Counted:
        """Count each photo of a record in START..STOP-1 that holds no photo yet, and tell
        FAILURES that a photo holds it now (Failures.supersede). SINK: see Merge.

        The hot loop of a million-photo run: the photo bitmap tested inline, one dict lookup per
        photo for its year's statistics, attributes held in locals."""
        years, points, seen = self.years, self.points, self.seen
        supersede = failures.supersede if len(failures) else None  # a file adds failures after photos
        keep, (first_year, last_year) = self.max_points, YEARS
        stop = min(stop, results.MAX_RECORDS)
        counted = duplicates = outside = bad = 0
        lum_min, lum_max = self.lum_min, self.lum_max
        for item in items:
            record, year, lum = item["record"], item["year"], item["luminance"]
            if not start <= record < stop:
                outside += 1
                continue
            if not (0.0 <= lum <= 1.0 and (year is None or first_year <= year <= last_year)):
                bad += 1  # NaN too: it fails every comparison
                continue
            byte, bit = record >> 3, 1 << (record & 7)
            if byte >= len(seen):
                # Grow by doubling: a million records cost ~20 reallocations, not a million.
                seen.extend(bytes(max(byte + 1 - len(seen), len(seen))))
            elif seen[byte] & bit:
                duplicates += 1
                continue
            seen[byte] |= bit
            if supersede is not None and supersede(record):
                duplicates += 1  # a rerun analyzed a record that failed before: a photo now
            counted += 1
            lum = float(lum)
            if lum < lum_min:
                lum_min = lum
            if lum > lum_max:
                lum_max = lum
            stats = years.get(year)
            if stats is None:
                stats = years[year] = YearStats(lum)
            stats.add(lum)
            if points is not None:
                if len(points) < keep:
                    points.append((year, lum, item["url"]))
                else:
                    points = self.points = None  # too many for one mark each: the page shows density
            if sink is not None:
                sink(item, host)
        self.count += counted
        self.lum_min, self.lum_max = lum_min, lum_max
        return Counted(counted, duplicates, outside, bad)

    def rows(self) -> List[YearRow]:
        """The known years' rows, oldest first."""
        return [self.years[year].row(year) for year in sorted(y for y in self.years if y is not None)]

    def unknown(self) -> Optional[YearRow]:
        """The row of the photos of unknown year, or None."""
        return self.years[None].row(None) if None in self.years else None

    def luminance(self) -> Optional[Luminance]:
        return Luminance(self.lum_min, self.lum_max) if self.count else None

    @property
    def mode(self) -> str:
        return "scatter" if self.points is not None else "density"

    def page_data(self) -> Dict[str, Any]:
        """The plot's data for the page: every kept point, or the density bins."""
        if self.points is not None:
            return {"mode": "scatter", "points": self.points}
        return {"mode": "density", "bins": LUM_BINS, "max_points": self.max_points,
                "cells": [[year, lbin, n] for year in sorted(self.years, key=lambda y: (y is None, y or 0))
                          for lbin, n in enumerate(self.years[year].bins) if n]}


class FileProblem(NamedTuple):
    """What is wrong with one results file: its KIND (UNREADABLE, SHORT, ...) and the text a
    person reads, naming the file."""

    file: str
    kind: str
    problem: str

    def to_json(self) -> Dict[str, Any]:
        return {"file": self.file, "problem": self.problem}


class Summary(NamedTuple):
    """Everything the page and --json show of a merge; `to_json()` is --json's "summary"."""

    metric: Optional[str]
    photos: int
    known_year: int
    unknown_year: int
    years: List[YearRow]
    unknown: Optional[YearRow]
    luminance: Optional[Luminance]
    mode: str
    failed: int
    transient: int
    failures: List[FailureGroup]
    files: int
    skipped: List[FileProblem]
    warnings: List[str]
    duplicates: int
    incomplete: List[FileProblem]
    coverage: CoverageSummary
    hosts: List[TallyRow]
    sites: List[TallyRow]
    run: RunSummary

    def to_json(self) -> Dict[str, Any]:
        """Plain JSON-ready data, in field order (docs/results.md)."""
        rows = {"hosts": [row.to_json("host") for row in self.hosts],
                "sites": [row.to_json("site") for row in self.sites]}
        return {field: rows[field] if field in rows else _plain(value)
                for field, value in zip(self._fields, self)}


def _plain(value: Any) -> Any:
    """VALUE as JSON-ready data: a record as an object of its fields (or its to_json()), a
    list or pair as a list."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if hasattr(value, "_fields"):
        return {field: _plain(item) for field, item in zip(value._fields, value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


class Merge:
    """Results documents merged as they are read (see the module's docstring).

    Its size is that of the one object ./aggregate drives: the statistics live in the parts above
    (Photos, Failures, Ranges, RunFacts), and what is left here is judging each file against the
    others (metric, range, completeness) and the warnings that says, which belong together.

    `metric`: the metric to keep (files of another one are skipped with a warning); None means the
    first file's metric, and a file of another metric is then a UsageError (mixed metrics).
    `max_points`: how many photos to keep for the scatter plot. `manifest_records`: how many records
    the manifest holds, when known (coverage then ends there). `sink(photo, host)` is called for
    each photo counted, in reading order (the --csv/--json table), and `sink(None, job)` before
    each file's photos. `report(warning)` is called with each warning as it arises (they are also
    kept in `warnings`).
    """

    def __init__(self, metric: Optional[str] = None, max_points: int = MAX_POINTS,
                 sink: Optional[Callable[[Optional[Dict[str, Any]], Any], None]] = None,
                 report: Optional[Callable[[str], None]] = None, manifest_records: Optional[int] = None):
        self.chosen_metric = self.metric = metric
        self.metric_file: Optional[str] = None
        self.sink, self.report = sink, report
        self.files: List[str] = []
        self.skipped: List[FileProblem] = []  # files not used at all
        self.warnings: List[str] = []  # every warning, as printed: "FILE: problem"
        self.incomplete: List[FileProblem] = []  # files short of their range (kind SHORT)
        self.duplicates = 0
        self.counted = Photos(max_points)
        self.failures = Failures()
        self.ranges = Ranges(manifest_records)
        self.run = RunFacts()

    @property
    def photos(self) -> int:
        return self.counted.count

    @property
    def points(self) -> Optional[List[Tuple[Optional[int], float, str]]]:
        return self.counted.points

    @property
    def years(self) -> Dict[Optional[int], YearStats]:
        return self.counted.years

    def page_data(self) -> Dict[str, Any]:
        return self.counted.page_data()

    def warn(self, path: str, problem: str) -> None:
        warning = problem if problem.startswith(path + ":") else "{}: {}".format(path, problem)
        self.warnings.append(warning)
        if self.report is not None:
            self.report(warning)

    def skip(self, path: str, kind: str, problem: str) -> None:
        self.skipped.append(FileProblem(path, kind, problem))
        self.warn(path, problem)

    def read(self, path: str) -> bool:
        """Read and merge one results file; a file that cannot be used is skipped with a warning."""
        try:
            document = results.read(path)
        except results.ResultsError as exc:
            self.skip(path, UNREADABLE, "{}; skipped".format(exc))
            return False
        return self.add(path, document)

    def _metric_ok(self, path: str, metric: Optional[str]) -> bool:
        if self.chosen_metric is not None:
            if metric != self.chosen_metric:
                self.skip(path, OTHER_METRIC, "metric {!r}, not {!r} (--metric); skipped".format(
                    metric, self.chosen_metric))
                return False
        elif self.metric_file is None:
            self.metric, self.metric_file = metric, path
        elif metric != self.metric:
            # Refused, not guessed: luminances of two metrics on one axis would mislead.
            raise UsageError("results of mixed metrics: {} holds {!r}, {} holds {!r}; pick one "
                             "with --metric".format(self.metric_file, self.metric, path, metric))
        if self.metric_file is None:
            self.metric_file = path
        return True

    def add(self, path: str, document: Dict[str, Any]) -> bool:
        """Merge one validated results document read from PATH; False when skipped (another metric)."""
        job = bounded(results.Job.of(document, path))
        named = jobs.results_start(os.path.basename(path))
        if named is not None and named != job.start:
            # Files are read in the order their names give (see aggregate.find_inputs): a file
            # named for one chunk that holds another could win records that are not its own.
            self.skip(path, MISNAMED, "named for records from {}, but its job starts at record {}; skipped"
                      .format(named, job.start))
            return False
        if not self._metric_ok(path, job.metric):
            return False
        self.files.append(path)
        self.ranges.add_job(job)
        if self.sink is not None:
            self.sink(None, job)
        counted, duplicates, outside, bad = self.counted.add(
            document["photos"], job.host, job.start, job.stop, self.failures, self.sink)
        failed = 0
        for item in document["failures"]:
            if not job.start <= item["record"] < job.stop or item["record"] >= results.MAX_RECORDS:
                outside += 1
            elif self.counted.has(item["record"]) or not self.failures.add(item):
                duplicates += 1
            else:
                failed += 1
        self.run.add(job, counted, failed)
        self.duplicates += duplicates
        problems = [problem for problem in (self._judge(path, job, document),) if problem]
        if duplicates:
            problems.append(FileProblem(path, OVERLAP, "{} record{} also in another results file "
                                        "(overlapping chunks): each counted once, the better entry kept"
                                        .format(duplicates, "s" if duplicates != 1 else "")))
        if outside:
            problems.append(FileProblem(path, OUTSIDE, "{} entr{} outside the job's records {}-{}: left out"
                                        .format(outside, "ies" if outside != 1 else "y", job.start,
                                                job.stop - 1)))
        if bad:
            problems.append(FileProblem(path, BAD_VALUES, "{} entr{} with a luminance outside 0..1 or a year "
                                        "outside {}..{}: left out"
                                        .format(bad, "ies" if bad != 1 else "y", *YEARS)))
        self.incomplete += [problem for problem in problems if problem.kind == SHORT]
        if problems:
            self.warn(path, "; ".join(problem.problem for problem in problems))
        return True

    def _judge(self, path: str, job: results.Job, document: Dict[str, Any]) -> Optional[FileProblem]:
        """Why the file does not account for every record it was to cover, or None."""
        covered = results.coverage(document, self.ranges.manifest_records)
        held, expected = covered.held, covered.expected
        lo = job.start
        if held >= expected:  # complete, counted from the entries, whatever the file says
            if job.complete is False:  # worth a word, though nothing is missing
                return FileProblem(path, WHOLE_BUT_INTERRUPTED, "the job was interrupted (complete: false), "
                                   "though its entries cover all {} records {}-{}"
                                   .format(expected, lo, lo + expected - 1))
            return None
        if job.error:
            why = "the job could not run ({})".format(job.error)
        elif not job.host and not held:  # ./submit writes such a file for each chunk it submits
            why = "no job has written it yet"
        elif job.complete is False:
            why = "the job was interrupted (complete: false)"
        else:
            why = "the file claims a complete job"
        return FileProblem(path, SHORT, "{}: it accounts for {} of the {} records {}-{}, the rest count as "
                                        "missing".format(why, held, expected, lo, lo + expected - 1))

    def summary(self, manifest_path: Optional[str] = None) -> Summary:
        """Everything the page and the JSON export show."""
        photos = self.counted
        unknown = photos.unknown()
        unknown_year = unknown.n if unknown else 0
        return Summary(
            self.metric, photos.count, photos.count - unknown_year, unknown_year, photos.rows(), unknown,
            photos.luminance(), photos.mode, len(self.failures), self.failures.transient(),
            self.failures.groups(), len(self.files), list(self.skipped), list(self.warnings), self.duplicates,
            list(self.incomplete), self.ranges.summary(photos.seen, self.failures.entries, manifest_path),
            Tally.rows(self.run.hosts), Tally.rows(self.run.sites),
            self.run.summary(len(self.files), self.photos))
