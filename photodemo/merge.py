"""Results documents merged into what the page and the exports show: Merge and its named parts.

Merge reads one document at a time and keeps what grows with the archive's years, hosts, sites and
failures, not with its photos: the photos counted (Photos: per-year statistics and density bins in
YearStats, the points plotted), a bitmap of the records analyzed (Coverage), the failures
(Failures), per-host and per-site tallies (Tally), the run's facts (RunFacts).

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
from typing import Any, Callable, Dict, List, Optional, Tuple

from luminance import jobs, results
from luminance.errors import UsageError

__all__ = ["MAX_POINTS", "MAX_TEXT", "LUM_BINS", "YEARS", "bounded", "YearStats", "Tally", "Coverage", "Failures", "RunFacts",
           "Photos", "Merge", "reason_group", "missing_ranges"]

MAX_POINTS = 50000  # above this many photos the page shows density, not one mark per photo
LUM_BINS = 50  # the density view's luminance bins over 0..1 (0.02 wide)
# The years a date can name; a result outside is a bad entry. Wider on purpose than the manifest's
# MIN_YEAR..max_year(), which the job checks when it reads a record: a results file written under
# older rules stays readable, and the same files give the same page on any day (max_year() moves
# with the calendar).
YEARS = (1, 9999)
UNKNOWN_HOST, UNKNOWN_SITE = "(unknown host)", "(unknown site)"
MAX_TEXT = 200  # characters of a job's host, site, versions, manifest and error that are shown
_SHORT = "it accounts for"

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

    def row(self, year: Optional[int]) -> Dict[str, Any]:
        mean = self.total / self.n
        sd = math.sqrt(max(self.squares / self.n - mean * mean, 0.0)) if self.n > 1 else 0.0
        return {"year": year, "n": self.n, "mean": round(mean, 6), "sd": round(sd, 6),
                "min": round(self.low, 6), "max": round(self.high, 6)}


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
    def rows(tallies: Dict[str, "Tally"], key: str) -> List[Dict[str, Any]]:
        """One row per name, most photos first: jobs, photos, failures, job seconds, photos/s."""
        rows = [{key: name, "jobs": t.jobs, "photos": t.photos, "failed": t.failed, "elapsed": round(t.elapsed, 3),
                 "rate": round(t.photos / t.elapsed, 3) if t.elapsed > 0 else None}
                for name, t in tallies.items()]
        return sorted(rows, key=lambda row: (-row["photos"], row[key]))


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


class Coverage:
    """Which records hold a photo (a bitmap, one bit each, also the photos' dedup) and which each
    job was to cover; the records missing are those of no photo and no failure."""

    def __init__(self, manifest_records: Optional[int] = None):
        self.manifest_records = manifest_records
        self.photos = bytearray()
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

    def has_photo(self, record: int) -> bool:
        byte = record >> 3
        return byte < len(self.photos) and bool(self.photos[byte] & (1 << (record & 7)))

    def chunk_size(self) -> int:
        """The usual job size: the most common count (the largest of equally common ones)."""
        sizes = {count: times for count, times in self.counts.items() if count > 0}
        if not sizes:
            return 0
        best = max(sizes.values())
        return max(count for count, times in sizes.items() if times == best)

    def summary(self, failed: Dict[int, Any], manifest_path: Optional[str]) -> Dict[str, Any]:
        end = self.end if self.manifest_records is None else self.manifest_records
        # Records past the bitmap's end are missing: it grows only as far as entries reach.
        covered = bytearray(self.photos[:(end + 7) // 8])
        reach = min(end, max(failed, default=-1) + 1)
        covered.extend(bytes(max((reach + 7) // 8 - len(covered), 0)))
        for record in failed:
            if record < end:
                covered[record >> 3] |= 1 << (record & 7)
        gaps = missing_ranges(covered, end)
        size = self.chunk_size()
        chunks = sum(-(-(hi - lo) // size) for lo, hi in gaps) if size else len(gaps)
        return {"manifest": manifest_path, "records": end, "chunk": size, "missing": [[lo, hi] for lo, hi in gaps],
                "missing_records": sum(hi - lo for lo, hi in gaps), "chunks_missing": chunks,
                "beyond_manifest": self.beyond_manifest}


class Failures:
    """The failed records never analyzed: record -> its failure entry (the better one of two)."""

    def __init__(self):
        self.entries: Dict[int, Dict[str, Any]] = {}

    def add(self, item: Dict[str, Any]) -> bool:
        """Keep ITEM unless its record already holds an equally good or better failure; False then."""
        kept = self.entries.get(item["record"])
        if kept is not None and results.better(kept, item) is kept:
            return False
        self.entries[item["record"]] = item
        return kept is None

    def groups(self, examples: int = 3) -> List[Dict[str, Any]]:
        """Failures grouped by reason, most frequent first, each with a few example records."""
        groups: Dict[str, Dict[str, Any]] = {}
        for record in sorted(self.entries):
            item = self.entries[record]
            name = reason_group(item["reason"])
            group = groups.setdefault(name, {"reason": name, "count": 0, "transient": 0, "examples": []})
            group["count"] += 1
            group["transient"] += item["transient"]
            if len(group["examples"]) < examples:
                group["examples"].append({key: item[key] for key in ("record", "line", "url", "reason")})
        return sorted(groups.values(), key=lambda group: (-group["count"], group["reason"]))

    def transient(self) -> int:
        return sum(1 for item in self.entries.values() if item["transient"])

    def sorted(self) -> List[Dict[str, Any]]:
        return [self.entries[record] for record in sorted(self.entries)]


def _iso(epoch: Optional[float]) -> Optional[str]:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class RunFacts:
    """The whole run: first start, last end, payload and Python versions, per host and per site."""

    def __init__(self):
        self.first_start: Optional[float] = None
        self.last_end: Optional[float] = None
        self.versions: Counter = Counter()  # (payload, python) -> jobs
        self.hosts: Dict[str, Tally] = {}
        self.sites: Dict[str, Tally] = {}

    def add(self, job: results.Job, photos: int, failed: int) -> None:
        for tallies, name, unknown in ((self.hosts, job.host, UNKNOWN_HOST), (self.sites, job.site, UNKNOWN_SITE)):
            tallies.setdefault(name or unknown, Tally()).add(photos, failed, job.elapsed)
        self.versions[(str(job.payload_version), str(job.python))] += 1
        started, ended = results.epoch(job.started), results.epoch(job.ended)
        if started is not None:
            self.first_start = started if self.first_start is None else min(self.first_start, started)
        if ended is not None:
            self.last_end = ended if self.last_end is None else max(self.last_end, ended)

    def summary(self, jobs: int, photos: int) -> Dict[str, Any]:
        job_seconds = sum(tally.elapsed for tally in self.hosts.values())
        span = None
        if self.first_start is not None and self.last_end is not None and self.last_end >= self.first_start:
            span = self.last_end - self.first_start
        return {
            "jobs": jobs, "hosts": len(self.hosts), "sites": len(self.sites),
            "job_seconds": round(job_seconds, 3),
            "span": round(span, 3) if span is not None else None,
            "rate": round(photos / span, 3) if span else None,
            "started": _iso(self.first_start), "ended": _iso(self.last_end),
            "versions": [{"payload": payload, "python": python, "jobs": jobs}
                         for (payload, python), jobs in self.versions.most_common()],
        }


class Photos:
    """The photos counted: per-year statistics (None: unknown year), the luminance range, and
    the first `max_points` as (year, luminance, url) for the scatter plot (None past that)."""

    def __init__(self, max_points: int = MAX_POINTS):
        self.max_points = max_points
        self.count = 0
        self.points: Optional[List[Tuple[Optional[int], float, str]]] = []
        self.years: Dict[Optional[int], YearStats] = {}
        self.lum_min, self.lum_max = math.inf, -math.inf

    def add(self, items: List[Dict[str, Any]], host: Any, start: int, stop: int, seen: bytearray,
            failures: Dict[int, Any], sink: Optional[Callable]) -> Tuple[int, int, int, int]:
        """Count each photo of a record in START..STOP-1 whose bit in SEEN (the photo bitmap) is not
        set, set it and drop the record's entry in FAILURES; (counted, duplicates, outside the
        range, bad values). SINK: see Merge.

        The hot loop of a million-photo run: the photo bitmap tested inline, one dict lookup per
        photo for its year's statistics, attributes held in locals."""
        years, points = self.years, self.points
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
            if failures and failures.pop(record, None) is not None:
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
        return counted, duplicates, outside, bad

    def summary(self) -> Dict[str, Any]:
        unknown = self.years[None].row(None) if None in self.years else None
        return {
            "photos": self.count, "known_year": self.count - (unknown["n"] if unknown else 0),
            "unknown_year": unknown["n"] if unknown else 0,
            "years": [self.years[year].row(year) for year in sorted(y for y in self.years if y is not None)],
            "unknown": unknown,
            "luminance": {"min": self.lum_min, "max": self.lum_max} if self.count else None,
            "mode": "scatter" if self.points is not None else "density",
        }

    def page_data(self) -> Dict[str, Any]:
        """The plot's data for the page: every kept point, or the density bins."""
        if self.points is not None:
            return {"mode": "scatter", "points": self.points}
        return {"mode": "density", "bins": LUM_BINS, "max_points": self.max_points,
                "cells": [[year, lbin, n] for year in sorted(self.years, key=lambda y: (y is None, y or 0))
                          for lbin, n in enumerate(self.years[year].bins) if n]}


class Merge:
    """Results documents merged as they are read (see the module's docstring).

    Its size is that of the one object ./aggregate drives: the statistics live in the parts above
    (Photos, Failures, Coverage, RunFacts), and what is left here is judging each file against the
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
        self.skipped: List[Tuple[str, str]] = []  # (file, problem) of files not used at all
        self.warnings: List[str] = []  # every warning, as printed: "FILE: problem"
        self.incomplete: List[Tuple[str, str]] = []  # (file, why) of files short of their range
        self.duplicates = 0
        self.counted = Photos(max_points)
        self.failures = Failures()
        self.coverage = Coverage(manifest_records)
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

    def skip(self, path: str, problem: str) -> None:
        self.skipped.append((path, problem))
        self.warn(path, problem)

    def read(self, path: str) -> bool:
        """Read and merge one results file; a file that cannot be used is skipped with a warning."""
        try:
            document = results.read(path)
        except results.ResultsError as exc:
            self.skip(path, "{}; skipped".format(exc))
            return False
        return self.add(path, document)

    def _metric_ok(self, path: str, metric: Optional[str]) -> bool:
        if self.chosen_metric is not None:
            if metric != self.chosen_metric:
                self.skip(path, "metric {!r}, not {!r} (--metric); skipped".format(metric, self.chosen_metric))
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
            self.skip(path, "named for records from {}, but its job starts at record {}; skipped".format(
                named, job.start))
            return False
        if not self._metric_ok(path, job.metric):
            return False
        self.files.append(path)
        self.coverage.add_job(job)
        if self.sink is not None:
            self.sink(None, job)
        counted, duplicates, outside, bad = self.counted.add(document["photos"], job.host, job.start, job.stop,
                                                             self.coverage.photos, self.failures.entries, self.sink)
        failed = 0
        for item in document["failures"]:
            if not job.start <= item["record"] < job.stop or item["record"] >= results.MAX_RECORDS:
                outside += 1
            elif self.coverage.has_photo(item["record"]) or not self.failures.add(item):
                duplicates += 1
            else:
                failed += 1
        self.run.add(job, counted, failed)
        self.duplicates += duplicates
        problems = [problem for problem in (self._judge(job, document),) if problem]
        if duplicates:
            problems.append("{} record{} also in another results file (overlapping chunks): each counted "
                            "once, the better entry kept".format(duplicates, "s" if duplicates != 1 else ""))
        if outside:
            problems.append("{} entr{} outside the job's records {}-{}: left out".format(
                outside, "ies" if outside != 1 else "y", job.start, job.stop - 1))
        if bad:
            problems.append("{} entr{} with a luminance outside 0..1 or a year outside {}..{}: left out"
                            .format(bad, "ies" if bad != 1 else "y", *YEARS))
        if problems:
            self.incomplete += [(path, problems[0])] if _SHORT in problems[0] else []
            self.warn(path, "; ".join(problems))
        return True

    def _judge(self, job: results.Job, document: Dict[str, Any]) -> Optional[str]:
        """Why the file does not account for every record it was to cover, or None."""
        covered = results.coverage(document, self.coverage.manifest_records)
        held, expected = covered.held, covered.expected
        lo = job.start
        if held >= expected:  # complete, counted from the entries, whatever the file says
            if job.complete is False:  # worth a word, though nothing is missing
                return "the job was interrupted (complete: false), though its entries cover " \
                       "all {} records {}-{}".format(expected, lo, lo + expected - 1)
            return None
        if job.error:
            why = "the job could not run ({})".format(job.error)
        elif not job.host and not held:  # ./submit writes such a file for each chunk it submits
            why = "no job has written it yet"
        elif job.complete is False:
            why = "the job was interrupted (complete: false)"
        else:
            why = "the file claims a complete job"
        return "{}: {} {} of the {} records {}-{}, the rest count as missing".format(
            why, _SHORT, held, expected, lo, lo + expected - 1)

    def summary(self, manifest_path: Optional[str] = None) -> Dict[str, Any]:
        """Everything the page and the JSON export show, as plain JSON-ready data."""
        summary = {"metric": self.metric}
        summary.update(self.counted.summary())
        summary.update({
            "failed": len(self.failures.entries), "transient": self.failures.transient(),
            "failures": self.failures.groups(), "files": len(self.files),
            "skipped": [{"file": path, "problem": problem} for path, problem in self.skipped],
            "warnings": list(self.warnings), "duplicates": self.duplicates,
            "incomplete": [{"file": path, "problem": problem} for path, problem in self.incomplete],
            "coverage": self.coverage.summary(self.failures.entries, manifest_path),
            "hosts": Tally.rows(self.run.hosts, "host"), "sites": Tally.rows(self.run.sites, "site"),
            "run": self.run.summary(len(self.files), self.photos),
        })
        return summary
