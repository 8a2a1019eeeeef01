"""./aggregate: every job's results file merged into one page, or one table (--csv, --json).

`./aggregate [FILES or DIRS]` reads results files through the payload's schema module (one
definition: luminance.core.results), one file at a time, into a merge.Merge: what it keeps grows with the
archive's years, hosts and failures, not with its photos. `--csv` and `--json` stream the merged
table instead, through a temporary file, so that an error half-way never leaves a partial table on
stdout. A file that cannot be used (corrupt, not a regular file, too large, of wrong types) is a
one-line warning naming it, and the rest is still merged.
"""

import argparse
import codecs
import csv
import glob
import io
import json
import operator
import os
import sys
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

from luminance.core import command, manifest, results
from luminance.core.errors import EXIT_OK, EXIT_USAGE, UsageError
from photodemo import jobs, page
from photodemo.merge import MAX_POINTS, OTHER_METRIC, Merge, Summary, missing_ranges, reason_group

__all__ = ["DEFAULT_TITLE", "MAX_POINTS", "Merge", "find_inputs", "collect",
           "missing_ranges", "reason_group", "csv_cell", "main"]

DEFAULT_TITLE = "Photo luminance by year"
TABLE_FIELDS = results.PHOTO_FIELDS + ("host",)
# A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

EXIT_CODES = {
    EXIT_OK: "page (or table) written; files that could not be used are named in warnings on stderr",
    EXIT_USAGE: "bad arguments, a named file or directory that does not exist, no readable results "
                "at all, results of mixed metrics without --metric, or stdout cannot be written; "
                "on an error nothing is written to stdout",
}


def _reading_order(path: str) -> Tuple[int, int, str]:
    """Sort key: results-START.json files by START, highest first (of two photos of one record,
    the first read is kept: the one of the job whose range starts nearest below it), then other
    names, by name."""
    start = jobs.results_start(os.path.basename(path))
    return (0, -start, path) if start is not None else (1, 0, path)


def find_inputs(paths: Sequence[str]) -> List[str]:
    """The results files named by PATHS (files as given, each directory's results-*.json; no
    PATHS means the current directory), each once, in reading order. A path that does not exist
    is a UsageError."""
    files, seen = [], set()
    for path in paths or ["."]:
        if os.path.isdir(path):
            found = glob.glob(os.path.join(glob.escape(path), jobs.RESULTS_GLOB))
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
    return sorted(files, key=_reading_order)


def collect(paths: Sequence[str], metric: Optional[str] = None, max_points: int = MAX_POINTS,
            sink=None, report=None, manifest_records: Optional[int] = None) -> Merge:
    """Every results file named by PATHS merged (see find_inputs); UsageError when none is usable.
    SINK, REPORT and MANIFEST_RECORDS: see merge.Merge."""
    files = find_inputs(paths)
    merge = Merge(metric, max_points, sink, report, manifest_records)
    for path in files:
        merge.read(path)
    if not merge.files:
        where = ", ".join(paths) if paths else "the current directory"
        if not files:
            raise UsageError("no results files ({}) in {}".format(jobs.RESULTS_GLOB, where))
        if metric is not None and len(merge.skipped) == len(files) and \
                all(skipped.kind == OTHER_METRIC for skipped in merge.skipped):
            raise UsageError("no results of metric {!r} in {}".format(metric, where))
        raise UsageError("none of the {} results file{} could be read".format(
            len(files), "s" if len(files) != 1 else ""))
    return merge


def csv_cell(value: Any) -> Any:
    """VALUE for a CSV cell: a text a spreadsheet would run as a formula gets a leading quote
    (OWASP's defence against CSV injection); other values as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


# -- the table export ------------------------------------------------------------------------------

class _Table:
    """The merged photo table, written as photos arrive to a temporary file (memory-bounded).

    Files are read highest chunk first; each file's rows are one segment, and the segments are
    copied out lowest chunk first, so that the table runs in record order."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        # A plain temporary file: a SpooledTemporaryFile asks the text layer for tell() on every
        # write, which made a million-row table three times slower. Rows go in as text, segments
        # come out as bytes (their offsets are byte offsets).
        self.raw = tempfile.TemporaryFile()
        self.stream = io.TextIOWrapper(self.raw, encoding="utf-8", newline="")
        self.rows = 0
        self.segments: List[Tuple[int, int, int]] = []  # (job start, offset, rows before it)
        self._fields = operator.itemgetter(*results.PHOTO_FIELDS)
        self._risky_host = False
        if fmt == "csv":
            self.writer = csv.writer(self.stream, lineterminator="\n")

    def add(self, item: Optional[Dict[str, Any]], host: Any) -> None:
        if item is None:  # a new file begins; HOST is its job
            self.stream.flush()
            self.segments.append((host.start, self.raw.tell(), self.rows))
            self._risky_host = isinstance(host.host, str) and host.host.startswith(FORMULA_STARTS)
            return
        row = self._fields(item) + (host,)
        if self.fmt == "csv":
            # url and mode are texts (results.validate); the host is the same for a whole file.
            if (self._risky_host or item["url"].startswith(FORMULA_STARTS)
                    or item["mode"].startswith(FORMULA_STARTS)):
                row = tuple(csv_cell(value) for value in row)
            self.writer.writerow(row)  # None (unknown year) is an empty cell
        else:
            self.stream.write(",\n  ")
            self.stream.write(json.dumps(dict(zip(TABLE_FIELDS, row)), ensure_ascii=False, allow_nan=False))
        self.rows += 1

    def _copy_rows(self, out) -> None:
        self.stream.flush()
        ends = [offset for _, offset, _ in self.segments[1:]] + [self.raw.tell()]
        decode = codecs.getincrementaldecoder("utf-8")().decode
        first = True
        for (_, offset, _), end in sorted(zip(self.segments, ends), key=lambda pair: pair[0][0]):
            if first and self.fmt == "json" and end > offset:
                offset += 1  # the first row's leading comma
                first = False
            self.raw.seek(offset)
            while offset < end:
                block = self.raw.read(min(end - offset, 1 << 16))
                offset += len(block)
                out.write(decode(block))

    def copy_to(self, out, merge: Merge, summary: Summary) -> None:
        if self.fmt == "csv":
            csv.writer(out, lineterminator="\n").writerow(TABLE_FIELDS)
            self._copy_rows(out)
            return
        # Photos first (streamed), failures and summary after them: those are only known at the
        # end, and key order does not matter to a JSON reader.
        out.write('{"schema": "photodemo-aggregate/1", "metric": ')
        out.write(json.dumps(summary.metric, ensure_ascii=False))
        out.write(', "photos": [')
        self._copy_rows(out)
        out.write('\n], "failures": [')
        # the schema's fields, not whatever else a file held
        fields = operator.itemgetter(*results.FAILURE_FIELDS)
        out.write(",".join("\n  " + json.dumps(dict(zip(results.FAILURE_FIELDS, fields(item))),
                                               ensure_ascii=False)
                           for item in merge.failures.sorted()))
        out.write('\n], "summary": ')
        out.write(json.dumps(summary.to_json(), ensure_ascii=False, allow_nan=False, indent=1))
        out.write("}\n")


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


def status_line(summary: Summary) -> str:
    return "{} photos from {} files; {} failed; {} chunks missing".format(
        summary.photos, summary.files, summary.failed, summary.coverage.chunks_missing)


def _warn(warning: str) -> None:
    print("aggregate: warning: {}".format(warning), file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return command.run(parser(), _main, argv)


def _main(args: argparse.Namespace) -> int:
    if args.max_points < 0:
        raise UsageError("--max-points: must be 0 or more, got {}".format(args.max_points))
    records = manifest.count_records(args.manifest) if args.manifest else None
    table = _Table("csv" if args.csv else "json") if args.csv or args.json else None
    merge = collect(args.paths, args.metric, args.max_points, table.add if table else None, _warn, records)
    summary = merge.summary(args.manifest)
    if summary.coverage.beyond_manifest:
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
