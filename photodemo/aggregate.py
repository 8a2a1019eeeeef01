"""The aggregate: every job's results file merged into one table, its statistics, coverage and page.

`./aggregate [FILES or DIRS]` reads results files through the payload's schema module (one
definition: luminance.results), one file at a time. What it keeps grows with the archive's years,
hosts and failures, not with its photos: the first `--max-points` photos are kept for the scatter
plot; past that the page switches to a density view (binned year x luminance counts) and the
photos themselves are no longer held. `--csv` and `--json` stream the merged table instead, through
a temporary file, so that an error half-way never leaves a partial table on stdout.
"""

import argparse
import csv
import glob
import json
import math
import operator
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from luminance import command, jobs, manifest, results
from luminance.errors import EXIT_OK, EXIT_USAGE, ResultsError, UsageError
from photodemo import page

__all__ = ["DEFAULT_TITLE", "MAX_POINTS", "LUM_BINS", "Merge", "find_inputs", "collect",
           "missing_ranges", "reason_group", "main"]

DEFAULT_TITLE = "Photo luminance by year"
MAX_POINTS = 50000  # above this many photos the page shows density, not one mark per photo
LUM_BINS = 50  # the density view's luminance bins over 0..1 (0.02 wide)
MAX_RECORD = 1 << 28  # seen records are a bitmap, 1 bit each: 32 MB at most
TABLE_FIELDS = results.PHOTO_FIELDS + ("host",)

EXIT_CODES = {
    EXIT_OK: "page (or table) written; files that could not be used are named in warnings on stderr",
    EXIT_USAGE: "bad arguments, a named file or directory that does not exist, no readable results "
                "at all, results of mixed metrics without --metric, or stdout cannot be written; "
                "on an error nothing is written to stdout",
}

_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]+")


def _natural(path: str) -> Tuple[int, int, str]:
    """Sort key: results-200.json before results-1000.json, other names after, by name."""
    start = jobs.results_start(os.path.basename(path))
    return (0, start, path) if start is not None else (1, 0, path)


def find_inputs(paths: Sequence[str]) -> List[str]:
    """The results files named by PATHS: files as given, each directory's results-*.json in
    chunk order; no PATHS means the current directory. A path that does not exist is a UsageError."""
    files, seen = [], set()
    for path in paths or ["."]:
        if os.path.isdir(path):
            found = sorted(glob.glob(os.path.join(glob.escape(path), jobs.RESULTS_GLOB)), key=_natural)
            if path == ".":
                found = [os.path.relpath(name) for name in found]
        elif os.path.lexists(path):
            found = [path]
        else:
            raise UsageError("{}: no such file or directory".format(path))
        for name in found:
            key = os.path.realpath(name)
            if key not in seen:  # a file named twice (or a directory and its file) is read once
                seen.add(key)
                files.append(name)
    return files


def reason_group(reason: Any) -> str:
    """A failure reason with its incidental details (object addresses, trailing parenthesized
    remarks such as what the server sent) removed, so that equal failures group together."""
    text = _ADDRESS_RE.sub("0x…", str(reason)).strip()
    cut = text.find(" (")
    if cut > 0:
        text = text[:cut]
    return text[:200] or "(no reason given)"


def _epoch(value: Any) -> Optional[float]:
    """Seconds since the epoch from a job's started/ended: a number or an ISO 8601 text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return stamp.timestamp()
    return None


def _number(value: Any) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class Merge:
    """Results documents merged as they are read: deduplicated by record number, reduced to per-year
    statistics, density bins, coverage intervals, failures and per-host tidbits.

    `metric`: the metric to keep (files of another one are skipped with a warning); None means the
    first file's metric, and a file of another metric is then a UsageError (mixed metrics).
    `max_points`: how many photos to keep for the scatter plot. `sink(photo, host)` is called for
    each photo counted (not for duplicates), in reading order: the --csv/--json table.
    `report(warning)` is called with each warning as it arises (they are also kept in `warnings`).
    """

    def __init__(self, metric: Optional[str] = None, max_points: int = MAX_POINTS,
                 sink: Optional[Callable[[Dict[str, Any], str], None]] = None,
                 report: Optional[Callable[[str], None]] = None):
        self.chosen_metric = metric
        self.metric = metric
        self.metric_file: Optional[str] = None
        self.max_points = max_points
        self.sink = sink
        self.report = report
        self.files: List[str] = []
        self.skipped: List[Tuple[str, str]] = []  # (file, problem) of files not used at all
        self.warnings: List[str] = []  # every warning, as printed: "FILE: problem"
        self.photos = 0
        self.points: Optional[List[Tuple[Optional[int], float, str]]] = []  # (year, lum, url)
        self.duplicates = 0
        # year (None: unknown) -> [n, sum, sum of squares, min, max, photos per luminance bin]
        self.years: Dict[Optional[int], List[Any]] = {}
        self.failures: Dict[int, Tuple[Any, Any, str, bool]] = {}  # record -> (line, url, reason, transient)
        self.intervals: List[Tuple[int, int]] = []  # each file's [start, stop)
        self.counts: Counter = Counter()  # job sizes, to count missing chunks in jobs
        self.hosts: Dict[str, List[float]] = {}  # host -> [jobs, photos, failures, elapsed]
        self.incomplete: List[str] = []
        self.versions: Counter = Counter()  # (payload, python) -> jobs
        self.first_start: Optional[float] = None
        self.last_end: Optional[float] = None
        self.lum_min = math.inf
        self.lum_max = -math.inf
        self._seen = bytearray()  # bitmap of records analyzed (photos), 1 bit each

    # -- reading -------------------------------------------------------------------------------

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
        except ResultsError as exc:
            self.skip(path, "{}; skipped".format(exc))
            return False
        return self.add(path, document)

    def add(self, path: str, document: Dict[str, Any]) -> bool:
        """Merge one validated results document read from PATH; False when skipped (another metric)."""
        job = document["job"]
        metric = job.get("metric")
        if self.chosen_metric is not None:
            if metric != self.chosen_metric:
                self.skip(path, "metric {!r}, not {!r} (--metric); skipped".format(metric, self.chosen_metric))
                return False
        elif self.metric_file is None:
            self.metric = metric
        elif metric != self.metric:
            # Refused, not guessed: luminances of two metrics on one axis would mislead.
            raise UsageError("results of mixed metrics: {} holds {!r}, {} holds {!r}; pick one "
                             "with --metric".format(self.metric_file, self.metric, path, metric))
        if self.metric_file is None:
            self.metric_file = path
        self.files.append(path)
        start, count = job["start"], job["count"]
        self.intervals.append((start, start + max(count, 0)))
        self.counts[count] += 1
        if job.get("complete") is False:
            self.incomplete.append(path)
            self.warn(path, "the job was interrupted (complete: false): records it did not reach "
                            "are neither analyzed nor failed")
        self._add_job(job, len(document["photos"]), len(document["failures"]))
        duplicates, bad = self._add_photos(document["photos"], job.get("host"))
        for item in document["failures"]:
            outcome = self._add_failure(item)
            duplicates += outcome == "duplicate"
            bad += outcome == "bad"
        self.duplicates += duplicates
        if duplicates:
            self.warn(path, "{} record{} already read from another results file (overlapping chunks); "
                            "counted once".format(duplicates, "s" if duplicates != 1 else ""))
        if bad:
            self.warn(path, "{} entr{} with a bad record number, year or luminance; left out"
                      .format(bad, "ies" if bad != 1 else "y"))
        return True

    def _add_job(self, job: Dict[str, Any], photos: int, failures: int) -> None:
        host = job.get("host")
        host = host if isinstance(host, str) and host else "(unknown host)"
        tally = self.hosts.setdefault(host, [0, 0, 0, 0.0])
        tally[0] += 1
        tally[1] += photos
        tally[2] += failures
        tally[3] += _number(job.get("elapsed")) or 0.0
        self.versions[(str(job.get("payload_version")), str(job.get("python")))] += 1
        started, ended = _epoch(job.get("started")), _epoch(job.get("ended"))
        if started is not None:
            self.first_start = started if self.first_start is None else min(self.first_start, started)
        if ended is not None:
            self.last_end = ended if self.last_end is None else max(self.last_end, ended)

    def _seen_bit(self, record: int) -> bool:
        byte = record >> 3
        return byte < len(self._seen) and bool(self._seen[byte] & (1 << (record & 7)))

    def _add_photos(self, items: List[Dict[str, Any]], host: Any) -> Tuple[int, int]:
        """Count each photo whose record was not analyzed before; (duplicates, bad entries).

        The hot loop of a million-photo run: one dict lookup per photo (its year's statistics and
        density row together), the seen-bitmap tested inline, attributes held in locals."""
        seen, years, failures, points, sink = self._seen, self.years, self.failures, self.points, self.sink
        keep, isfinite = self.max_points, math.isfinite
        counted = duplicates = bad = 0
        lum_min, lum_max = self.lum_min, self.lum_max
        for item in items:
            record, year, lum = item["record"], item["year"], item["luminance"]
            # results.validate checks the types of record and luminance; a NaN, an absurd record
            # number or a non-integer year would still break the bitmap or the page's JSON.
            if not 0 <= record < MAX_RECORD or not isfinite(lum) or \
                    not (year is None or (type(year) is int)):
                bad += 1
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
                stats = years[year] = [0, 0.0, 0.0, lum, lum, [0] * LUM_BINS]
            stats[0] += 1
            stats[1] += lum
            stats[2] += lum * lum
            if lum < stats[3]:
                stats[3] = lum
            elif lum > stats[4]:
                stats[4] = lum
            stats[5][min(max(int(lum * LUM_BINS), 0), LUM_BINS - 1)] += 1
            if points is not None:
                if len(points) < keep:
                    points.append((year, lum, item["url"]))
                else:
                    points = self.points = None  # too many for one mark each: the page shows density
            if sink is not None:
                sink(item, host)
        self.photos += counted
        self.lum_min, self.lum_max = lum_min, lum_max
        return duplicates, bad

    def _add_failure(self, item: Dict[str, Any]) -> str:
        record = item["record"]
        if not 0 <= record < MAX_RECORD:
            return "bad"
        if self._seen_bit(record) or record in self.failures:
            return "duplicate"
        self.failures[record] = (item["line"], item["url"], str(item["reason"]), bool(item["transient"]))
        return "counted"

    # -- results -------------------------------------------------------------------------------

    def chunk_size(self) -> int:
        """The usual job size: the most common count (the largest of equally common ones)."""
        if not self.counts:
            return 0
        best = max(self.counts.values())
        return max(count for count, times in self.counts.items() if times == best and count > 0) \
            if any(count > 0 for count in self.counts) else 0

    def summary(self, manifest_records: Optional[int] = None,
                manifest_path: Optional[str] = None) -> Dict[str, Any]:
        """Everything the page and the JSON export show, as plain JSON-ready data."""
        stop = max((hi for _, hi in self.intervals), default=0)
        end = stop if manifest_records is None else manifest_records
        gaps = missing_ranges(self.intervals, end)
        size = self.chunk_size()
        chunks_missing = sum(-(-(hi - lo) // size) for lo, hi in gaps) if size else len(gaps)
        years = []
        for year in sorted(y for y in self.years if y is not None):
            years.append(_year_stats(year, self.years[year]))
        unknown = _year_stats(None, self.years[None]) if None in self.years else None
        return {
            "metric": self.metric,
            "photos": self.photos,
            "known_year": self.photos - (unknown["n"] if unknown else 0),
            "unknown_year": unknown["n"] if unknown else 0,
            "failed": len(self.failures),
            "transient": sum(1 for entry in self.failures.values() if entry[3]),
            "failures": self.failure_groups(),
            "files": len(self.files),
            "skipped": [{"file": path, "problem": problem} for path, problem in self.skipped],
            "warnings": list(self.warnings),
            "duplicates": self.duplicates,
            "incomplete": list(self.incomplete),
            "coverage": {"manifest": manifest_path, "records": end, "chunk": size,
                         "missing": [[lo, hi] for lo, hi in gaps], "chunks_missing": chunks_missing,
                         "beyond_manifest": manifest_records is not None and stop > manifest_records},
            "years": years,
            "unknown": unknown,
            "luminance": {"min": self.lum_min, "max": self.lum_max} if self.photos else None,
            "hosts": self.host_rows(),
            "run": self.run_facts(),
            "mode": "scatter" if self.points is not None else "density",
        }

    def failure_entries(self) -> List[Tuple[int, Tuple[Any, Any, str, bool]]]:
        """(record, (line, url, reason, transient)) of every record that failed and was never analyzed."""
        return list(self.failures.items())

    def failure_groups(self, examples: int = 3) -> List[Dict[str, Any]]:
        """Failures grouped by reason, most frequent first, each with a few example records."""
        groups: Dict[str, Dict[str, Any]] = {}
        for record in sorted(self.failures):
            line, url, reason, transient = self.failures[record]
            group = groups.setdefault(reason_group(reason), {"reason": reason_group(reason), "count": 0,
                                                             "transient": 0, "examples": []})
            group["count"] += 1
            group["transient"] += transient
            if len(group["examples"]) < examples:
                group["examples"].append({"record": record, "line": line, "url": url, "reason": reason})
        return sorted(groups.values(), key=lambda group: (-group["count"], group["reason"]))

    def host_rows(self) -> List[Dict[str, Any]]:
        """Per-host tidbits, most photos first: jobs, photos, failures, job seconds, photos/s."""
        rows = []
        for host, (jobs, photos, failed, elapsed) in self.hosts.items():
            rows.append({"host": host, "jobs": int(jobs), "photos": int(photos), "failed": int(failed),
                         "elapsed": round(elapsed, 3),
                         "rate": round(photos / elapsed, 3) if elapsed > 0 else None})
        return sorted(rows, key=lambda row: (-row["photos"], row["host"]))

    def run_facts(self) -> Dict[str, Any]:
        """The whole run: jobs, first start to last end, job seconds, overall photos per second."""
        job_seconds = sum(tally[3] for tally in self.hosts.values())
        span = None
        if self.first_start is not None and self.last_end is not None and self.last_end >= self.first_start:
            span = self.last_end - self.first_start
        return {
            "jobs": len(self.files),
            "hosts": len(self.hosts),
            "job_seconds": round(job_seconds, 3),
            "span": round(span, 3) if span is not None else None,
            "rate": round(self.photos / span, 3) if span else None,
            "started": _iso(self.first_start), "ended": _iso(self.last_end),
            "versions": [{"payload": payload, "python": python, "jobs": jobs}
                         for (payload, python), jobs in self.versions.most_common()],
        }

    def page_data(self) -> Dict[str, Any]:
        """The plot's data for the page: every kept point, or the density bins."""
        if self.points is not None:
            return {"mode": "scatter", "points": self.points}
        return {"mode": "density", "bins": LUM_BINS, "max_points": self.max_points,
                "cells": [[year, lbin, n] for year in sorted(self.years, key=lambda y: (y is None, y or 0))
                          for lbin, n in enumerate(self.years[year][5]) if n]}


def _iso(epoch: Optional[float]) -> Optional[str]:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _year_stats(year: Optional[int], stats: List[Any]) -> Dict[str, Any]:
    n, total, squares, low, high = stats[:5]
    mean = total / n
    sd = math.sqrt(max(squares / n - mean * mean, 0.0)) if n > 1 else 0.0
    return {"year": year, "n": int(n), "mean": round(mean, 6), "sd": round(sd, 6),
            "min": round(low, 6), "max": round(high, 6)}


def missing_ranges(intervals: Sequence[Tuple[int, int]], end: int) -> List[Tuple[int, int]]:
    """The ranges [lo, hi) of records 0 .. END-1 that no interval covers, in order."""
    gaps, reached = [], 0
    for lo, hi in sorted(intervals):
        if lo > reached and reached < end:
            gaps.append((reached, min(lo, end)))
        reached = max(reached, hi)
    if reached < end:
        gaps.append((reached, end))
    return gaps


def collect(paths: Sequence[str], metric: Optional[str] = None, max_points: int = MAX_POINTS,
            sink: Optional[Callable[[Dict[str, Any], str], None]] = None,
            report: Optional[Callable[[str], None]] = None) -> Merge:
    """Every results file named by PATHS merged (see find_inputs); UsageError when none is usable.
    SINK and REPORT: see Merge."""
    files = find_inputs(paths)
    merge = Merge(metric, max_points, sink, report)
    for path in files:
        merge.read(path)
    if not merge.files:
        where = ", ".join(paths) if paths else "the current directory"
        if not files:
            raise UsageError("no results files ({}) in {}".format(jobs.RESULTS_GLOB, where))
        if metric is not None and len(merge.skipped) == len(files) and \
                all("(--metric)" in problem for _, problem in merge.skipped):
            raise UsageError("no results of metric {!r} in {}".format(metric, where))
        raise UsageError("none of the {} results file{} could be read".format(
            len(files), "s" if len(files) != 1 else ""))
    return merge


# -- the table export ------------------------------------------------------------------------------

class _Table:
    """The merged photo table, written as photos arrive to a temporary file (memory-bounded)."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        # A plain temporary file: a SpooledTemporaryFile asks the text layer for tell() on every
        # write, which made a million-row table three times slower.
        self.stream = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="")
        self.rows = 0
        self._fields = operator.itemgetter(*results.PHOTO_FIELDS)
        if fmt == "csv":
            self.writer = csv.writer(self.stream, lineterminator="\n")
            self.writer.writerow(TABLE_FIELDS)

    def add(self, item: Dict[str, Any], host: Any) -> None:
        row = self._fields(item) + (host,)
        if self.fmt == "csv":
            self.writer.writerow(row)  # None (unknown year) is an empty cell
        else:
            self.stream.write(",\n  " if self.rows else "\n  ")
            self.stream.write(json.dumps(dict(zip(TABLE_FIELDS, row)), ensure_ascii=False, allow_nan=False))
        self.rows += 1

    def copy_to(self, out, merge: Merge, summary: Dict[str, Any]) -> None:
        self.stream.seek(0)
        if self.fmt == "json":
            # Photos first (streamed), failures and summary after them: those are only known at
            # the end, and key order does not matter to a JSON reader.
            out.write('{"schema": "photodemo-aggregate/1", "metric": ')
            out.write(json.dumps(summary["metric"], ensure_ascii=False))
            out.write(', "photos": [')
            shutil.copyfileobj(self.stream, out)
            out.write('\n], "failures": [')
            out.write(",".join("\n  " + json.dumps(dict(zip(results.FAILURE_FIELDS, (record,) + entry)),
                                                   ensure_ascii=False)
                               for record, entry in sorted(merge.failure_entries())))
            out.write('\n], "summary": ')
            out.write(json.dumps(summary, ensure_ascii=False, allow_nan=False, indent=1))
            out.write("}\n")
        else:
            shutil.copyfileobj(self.stream, out)


# -- the command line ------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    cli = command.Parser(
        "aggregate", "./aggregate",
        description="Merge every job's results file into one self-contained HTML page on stdout: a\n"
                    "scatter plot of year against luminance with the per-year mean, and a summary of\n"
                    "photos, failures, coverage and hosts. It opens offline, from a file.",
        exit_codes=EXIT_CODES)
    cli.add_argument("paths", nargs="*", metavar="PATH",
                     help="results files, or directories whose {} are read (default: the current "
                          "directory)".format(jobs.RESULTS_GLOB))
    page = cli.add_argument_group("page")
    page.add_argument("--title", default=DEFAULT_TITLE, metavar="TEXT",
                      help="the page's title (default: %(default)r)")
    page.add_argument("--max-points", type=int, default=MAX_POINTS, metavar="N",
                      help="plot one mark per photo up to N photos; above, a density view of binned "
                           "counts with per-year statistics, and photos are not held in memory "
                           "(default: %(default)s)")
    data = cli.add_argument_group("data")
    data.add_argument("--metric", metavar="NAME",
                      help="use only results of this metric ({}); needed when the results mix "
                           "metrics (default: the results' own metric)".format(", ".join(results.METRICS)))
    data.add_argument("--manifest", metavar="FILE",
                      help="the manifest the jobs read, so that chunks missing after the last "
                           "results file count too (default: none; coverage ends at the last chunk read)")
    export = data.add_mutually_exclusive_group()
    export.add_argument("--csv", action="store_true",
                        help="write the merged photo table as CSV instead of the page "
                             "(columns: {}) (default: off)".format(", ".join(TABLE_FIELDS)))
    export.add_argument("--json", action="store_true",
                        help="write the merged photo table, failures and summary as JSON instead "
                             "of the page (default: off)")
    return cli


def status_line(summary: Dict[str, Any]) -> str:
    return "{} photos from {} files; {} failed; {} chunks missing".format(
        summary["photos"], summary["files"], summary["failed"], summary["coverage"]["chunks_missing"])


def _warn(warning: str) -> None:
    print("aggregate: warning: {}".format(warning), file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return command.run(parser(), _main, argv)


def _main(args: argparse.Namespace) -> int:
    if args.max_points < 0:
        raise UsageError("--max-points: must be 0 or more, got {}".format(args.max_points))
    records = manifest.count_records(args.manifest) if args.manifest else None
    table = _Table("csv" if args.csv else "json") if args.csv or args.json else None
    merge = collect(args.paths, args.metric, args.max_points, table.add if table else None, _warn)
    summary = merge.summary(records, args.manifest)
    if summary["coverage"]["beyond_manifest"]:
        _warn("{}: holds {} records, but results cover records past it; is it the manifest the jobs "
              "read?".format(args.manifest, records))
    try:
        if table is not None:
            table.copy_to(sys.stdout, merge, summary)
        else:
            sys.stdout.write(page.render(summary, merge.page_data(), args.title))
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # `./aggregate --csv | head`: the command frame stops quietly
    except OSError as exc:
        print("aggregate: error: cannot write to stdout: {}".format(exc.strerror or exc), file=sys.stderr)
        return EXIT_USAGE
    print(status_line(summary), file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
