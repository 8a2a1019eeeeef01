"""The job's command line: `luminance.pex RESULTS START COUNT < manifest.txt`, like the tutorial's
luminance2."""

import argparse
import datetime
import os
import platform
import socket
import sys
import time
from typing import Dict, List, Optional

from luminance import __version__
from luminance.core import ads, bundle, command, files, formats, formulas, limits, manifest, output, results
from luminance.core.arguments import seconds, whole_number
from luminance.core.cpus import available_cpus
from luminance.core.errors import (EXIT_OK, EXIT_TRANSIENT, EXIT_UNSUITABLE, EXIT_USAGE, PhotodemoError,
                                   ResultsError, UsageError)

PROG = "luminance.pex"
DESCRIPTION = """\
Measure the average luminance of photos listed in a manifest (lines `URL YEAR`).

Analyzes records START .. START+COUNT-1 (0-based; blank and # comment lines are not records),
prints `[YEAR, LUMINANCE],` for each photo in manifest order (the tutorial's output), reports
failures on stderr (one line each: manifest line, URL, reason), and writes every result to
RESULTS as one JSON document, atomically. When RESULTS already holds this job's results (a
rerun), their photos and permanent failures are kept and only the other records analyzed.
Photos are decoded only from {}, within the
limits below.""".format(formats.named())

EPILOG = formulas.help_section(results.METRICS, command.HELP_WIDTH) + """

environment: http_proxy/https_proxy are honoured; FRONTIER_PROXY, else OSG_SQUID_LOCATION, is
the HTTP proxy when no http_proxy is set. OMP_NUM_THREADS (set by HTCondor to the slot's CPUs)
caps the decoders."""
EXIT_CODES = {
    EXIT_OK: "every record handled (permanent failures such as HTTP 404 are recorded in RESULTS)",
    EXIT_USAGE: "bad arguments, unreadable manifest, unwritable results",
    EXIT_TRANSIENT: "timeouts, HTTP 429/5xx, dropped connections; DAGMan's RETRY reruns the job "
                    "(photodemo.dag)",
    EXIT_UNSUITABLE: "the pex has no libraries for this Python or machine, or no room to "
                     "unpack them",
}


def parser() -> argparse.ArgumentParser:
    p = command.Parser(PROG, PROG, DESCRIPTION, EXIT_CODES, EPILOG)
    p.add_argument("results", metavar="RESULTS", help="results file to write (JSON), e.g. results-0.json")
    p.add_argument("start", metavar="START", type=whole_number(0), help="first record to analyze (0-based)")
    p.add_argument("count", metavar="COUNT", type=whole_number(0), help="how many records to analyze")
    p.add_argument("--manifest", metavar="FILE",
                   help="read the manifest from FILE (default: standard input)")
    p.add_argument("--metric", choices=results.METRICS, default=results.DEFAULT_METRIC,
                   help="luminance metric (default: %(default)s; see below)")
    tuning = p.add_argument_group("fetching")
    tuning.add_argument("--workers", type=whole_number(1), default=None, metavar="N",
                        help="photos fetched at once (default: 8 per CPU, at least 16: enough to hide "
                             "50 ms of storage latency)")
    tuning.add_argument("--timeout", type=seconds, default=limits.DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="connect and read timeout per request (default: %(default)g)")
    tuning.add_argument("--deadline", type=seconds, default=limits.DEFAULT_DEADLINE, metavar="SECONDS",
                        help="longest one photo's download may take, however steadily its bytes "
                             "come: every try, and a federation's discovery, director and caches; "
                             "past it the photo fails, not retried (default: %(default)g)")
    tuning.add_argument("--retries", type=whole_number(0), default=limits.DEFAULT_RETRIES, metavar="N",
                        help="retries of a transient failure (timeouts, dropped connections, "
                             "HTTP 429/5xx), with exponential backoff (default: %(default)s)")
    tuning.add_argument("--max-bytes", type=whole_number(1), default=limits.DEFAULT_MAX_BYTES, metavar="N",
                        help="largest photo accepted, in bytes (default: %(default)s)")
    tuning.add_argument("--transferred", action="store_true",
                        help="HTCondor transferred the osdf://, stash:// and pelican:// objects "
                             "of these records into the working directory (./submit "
                             "--transfer-osdf): read each from its file name there, record it by "
                             "its URL (default: read them through the federation's caches)")
    bounds = p.add_argument_group("limits per photo (a photo over one is that photo's failure)")
    bounds.add_argument("--max-pixels", type=whole_number(1), default=limits.DEFAULT_MAX_PIXELS,
                        metavar="N", help="largest image accepted, in pixels (default: %(default)s, "
                                          "Pillow's decompression-bomb limit)")
    bounds.add_argument("--decode-seconds", type=seconds, default=limits.DEFAULT_DECODE_SECONDS,
                        metavar="SECONDS", help="CPU time one photo's decoding may take "
                                                "(default: %(default)g)")
    bounds.add_argument("--memory", type=whole_number(1), default=None, metavar="MB",
                        help="memory the job has: all its photos hold (bodies being fetched or "
                             "waiting for a decoder, decompressed, decoded) keeps within it, less "
                             "{} MB for the job itself (default: request_memory from the HTCondor "
                             "job ad, else {})".format(limits.BASE_MB, limits.DEFAULT_MEMORY_MB))
    p.add_argument("--version", action="version", version="%(prog)s {}".format(__version__))
    return p


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _site() -> Optional[str]:
    """The OSG site of this worker, from the HTCondor machine ad the job sandbox carries."""
    return ads.string(ads.MACHINE_AD, "GLIDEIN_Site", "GLIDEIN_ResourceName")


def _versions() -> Dict[str, str]:
    try:
        import PIL
        import requests
        return {"pillow": PIL.__version__, "requests": requests.__version__}
    except ImportError:
        return {"pillow": None, "requests": None}


def _check_writable(path: str) -> None:
    if not path:
        raise UsageError("RESULTS is empty: name the results file to write, e.g. results-0.json")
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError("{}: is a directory; RESULTS must be a file name".format(path))
    try:
        files.check_writable(directory)
    except OSError as exc:
        raise UsageError("{}: cannot write results there: {}".format(path, exc.strerror or exc)) from None


def _load(args) -> List[manifest.Record]:
    if args.manifest:
        with manifest.open_manifest(args.manifest) as stream:
            return manifest.read_records(stream, args.start, args.count)
    if sys.stdin is None or sys.stdin.closed:
        raise UsageError("no manifest: pipe one on standard input (< manifest.txt) or use --manifest FILE")
    if sys.stdin.isatty():
        raise UsageError("no manifest on standard input (a terminal): use < manifest.txt or --manifest FILE")
    stream = open(sys.stdin.fileno(), encoding="utf-8", errors=manifest.UNDECODABLE, closefd=False)
    return manifest.read_records(stream, args.start, args.count)


def main(argv: Optional[List[str]] = None) -> int:
    # SIGTERM (HTCondor evicting or removing the job) stops it like Ctrl-C: see _run.
    return command.run(parser(), _main, argv)


def _main(args: argparse.Namespace) -> int:
    started = time.time()
    cpus = available_cpus()
    workers = args.workers or max(16, 8 * cpus)
    document = results.new_document(results.Job(
        host=socket.gethostname(), site=_site(), start=args.start, count=args.count, records=0,
        metric=args.metric, manifest=manifest.printable(args.manifest or "<stdin>"),
        payload_version=__version__, python=platform.python_version(), workers=workers, cpus=cpus,
        started=_now(), complete=False))
    job = document["job"]
    _check_writable(args.results)
    urls = None  # each record's URL, once the manifest is read
    try:
        # Pillow and requests come from the wheels the pex carries: the ones for this Python.
        bundle.activate()
        job.update(_versions())
        records = _load(args)
        urls = {record.index: record.url for record in records if not record.error}
        job["records"] = len(records)
        if len(records) < args.count:
            where = args.manifest or "the manifest"
            _note("{} ends before record {}: {} of {} records analyzed".format(
                where, args.start + args.count - 1, len(records), args.count))
        kept = _previous(args.results, document, records)
        complete = _run(args, document, records, workers, kept)
    except BaseException as exc:
        # Whatever stops the job before its results are in (an error, a signal, a bug), RESULTS
        # is written all the same, keeping the earlier run's entries: HTCondor holds a job whose
        # output file is missing, and sends back whatever is there over the chunk's file.
        job.update(error=_why(exc), ended=_now(), elapsed=round(time.time() - started, 3))
        try:
            results.finish(args.results, document, urls)
        except ResultsError as problem:
            _note(str(problem))
        raise
    elapsed = time.time() - started
    analyzed = sum(1 for entry in document["photos"] if entry["record"] not in kept)
    job.update(ended=_now(), elapsed=round(elapsed, 3), complete=complete,
               rate=round(analyzed / elapsed, 3) if elapsed else None)
    results.finish(args.results, document, urls)
    transient = len(results.transient_failures(document))
    for line in output.footer(analyzed, elapsed, len(document["failures"]), transient, len(kept)):
        print(line, flush=True)
    if not complete:
        sys.stdout.flush()
        print("{}: interrupted; finished results are kept".format(PROG), file=sys.stderr, flush=True)
        # Fetch threads may sit in a read for up to --timeout; the results are safe, so go now
        # (the frame's exit code for a signal, without waiting for the threads).
        os._exit(command.interrupted_code())
    return EXIT_TRANSIENT if transient else EXIT_OK


def _why(exc: BaseException) -> str:
    """What job.error says of EXC, which stopped the job before its results were in."""
    if isinstance(exc, PhotodemoError):
        return " ".join(str(exc).splitlines())
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by {} before its records were analyzed".format(
            "SIGTERM" if isinstance(exc, command.Terminated) else "Ctrl-C")
    return "internal error: {}: {}".format(type(exc).__name__, exc)[:1000]


def _note(message: str) -> None:
    print("{}: note: {}".format(PROG, message), file=sys.stderr, flush=True)


def _previous(path: str, document: Dict, records: List[manifest.Record]) -> Dict[int, Dict]:
    """What to keep of an earlier run's results at PATH, by record: its photos and permanent
    failures of this job's records (results.earlier: the same start, count and metric; the same
    URL). HTCondor transfers the chunk's results file into the sandbox of a rerun; a corrupt or
    foreign one is a note, and the job runs as if it were not there."""
    try:
        given = results.earlier(path, document["job"])
    except ResultsError as exc:
        _note("ignoring the earlier results: {}".format(exc))
        return {}
    urls = {record.index: record for record in records if not record.error}
    kept = {}
    for entry in given:
        record = urls.get(entry["record"])
        if record is None or entry["url"] != record.url:
            continue  # not this job's record, or the manifest changed under it
        if "luminance" in entry and 0 <= entry["luminance"] <= 1:  # (a NaN is not)
            kept[record.index] = dict(entry, line=record.line, year=record.year)
        elif "luminance" not in entry and entry["transient"] is False:
            kept[record.index] = dict(entry, line=record.line)
    return kept


def _run(args, document, records, workers, kept) -> bool:
    """Analyze RECORDS (those in KEPT are not analyzed again) into DOCUMENT; whether it ran to the end."""
    from luminance.analysis import run, trim_malloc
    from luminance.fetch import Fetcher
    from luminance.memory import Budget

    job = document["job"]
    print(output.header(job["host"]), flush=True)
    fetcher = Fetcher(timeout=args.timeout, retries=args.retries, max_bytes=args.max_bytes,
                      pool_size=workers, version=job["payload_version"], deadline=args.deadline,
                      sandbox=os.getcwd() if args.transferred else None)
    bounds = limits.Limits(max_pixels=args.max_pixels, decode_seconds=args.decode_seconds)
    budget = Budget(limits.photo_budget(args.memory or limits.job_memory_mb()), trim_malloc)
    source = args.manifest or "stdin"

    def report(entry: Dict) -> None:
        if "luminance" in entry:
            print(output.photo_line(entry["year"], entry["luminance"]), flush=True)
        else:
            print(output.failure_line(source, entry), file=sys.stderr, flush=True)

    # On Ctrl-C or SIGTERM (command.Terminated) run() stops and keeps every finished result.
    entries, complete = run(records, fetcher, args.metric, workers, job["cpus"], report, bounds, budget, kept)
    if complete:  # else fetch threads may still be reading: the job ends with os._exit below
        fetcher.close()
    entries = results.merge_entries(list(kept.values()), entries)
    document["photos"] = [entry for entry in entries if "luminance" in entry]
    document["failures"] = [entry for entry in entries if "luminance" not in entry]
    return complete
