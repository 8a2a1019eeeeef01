"""./submit: cut the manifest into chunks and run one luminance job per chunk, on HTCondor or here.

    ./submit --chunk 200 --project X     write submit.sub, condor_submit it
    ./submit --dry-run                   write submit.sub and print the plan, submit nothing
    ./submit --local                     run the same jobs on this machine
    ./submit --missing [--local]         rerun only the chunks without a complete results file
"""

import argparse
import os
import shlex
import sys
import tempfile
import time
from typing import List, Optional

from luminance import command
from luminance.arguments import seconds, whole_number
from luminance.errors import EXIT_FAILED, EXIT_OK, EXIT_TRANSIENT, EXIT_USAGE, UsageError
from luminance.jobs import DEFAULT_CHUNK, Chunk, plan
from luminance.manifest import count_records
from luminance import results

from photodemo import condor, local, rescue
from photodemo.batch import SPLIT_THRESHOLD, Batch, write_slices

__all__ = ["main"]

DEFAULT_PAYLOAD = os.path.join("dist", "luminance.pex")
DEFAULT_MANIFEST = "manifest.txt"
DESCRIPTION = """Cut the manifest into chunks and run one luminance job per chunk: on an HTCondor pool
(writes submit.sub and runs condor_submit), or on this machine (--local)."""

EXIT_CODES = {
    EXIT_OK: "submitted (HTCondor), or every job done (--local); also: nothing to rerun (--missing)",
    EXIT_USAGE: "bad option, unreadable or empty manifest, missing payload, results dir not "
                "writable, no condor_submit (use --dry-run or --local); nothing has been written",
    EXIT_TRANSIENT: "with --local; rerun them with --missing",
    EXIT_FAILED: "condor_submit, or a --local job (and its error log)",
}
EPILOG = """--local, interrupted: finished results are kept; resume with --missing.

Files: submit.sub, job.log, log/job.output.START, log/job.error.START (and slices/ with
--split) are written in the current directory, results-START.json files in --results.
"""


def payload_options(args: argparse.Namespace) -> List[str]:
    """The options ./submit passes on to every job, as the job's command line spells them."""
    options = []
    for name in ("metric", "workers", "timeout", "retries"):
        value = getattr(args, name)
        if value is not None:
            options += ["--" + name, "{:g}".format(value) if isinstance(value, float) else str(value)]
    return options


def parser() -> argparse.ArgumentParser:
    p = command.Parser("submit", "./submit", DESCRIPTION, EXIT_CODES, EPILOG)
    work = p.add_argument_group("what to run")
    work.add_argument("--manifest", default=DEFAULT_MANIFEST, metavar="FILE",
                      help="the photos to analyze, one `URL YEAR` per line (default: %(default)s)")
    work.add_argument("--chunk", type=whole_number(1), default=DEFAULT_CHUNK, metavar="N",
                      help="records per job; the last job gets the rest (default: %(default)s)")
    work.add_argument("--payload", default=DEFAULT_PAYLOAD, metavar="PEX",
                      help="the job's executable, built by `make payload` (default: %(default)s)")
    work.add_argument("--results", default=".", metavar="DIR",
                      help="where results-START.json files go, and where ./aggregate and "
                           "--missing look (default: the current directory)")
    work.add_argument("--metric", choices=results.METRICS,
                      help="luminance metric passed to every job (default: the payload's, perceived)")
    work.add_argument("--workers", type=whole_number(1), metavar="N",
                      help="photos each job fetches at once (default: the payload's, 8 per CPU "
                           "and at least 16)")
    work.add_argument("--timeout", type=seconds, metavar="SECONDS",
                      help="each job's connect and read timeout per request (default: the "
                           "payload's, 30)")
    work.add_argument("--retries", type=whole_number(0), metavar="N",
                      help="each job's retries of a photo's transient failure (default: the "
                           "payload's, 4); --max-retries reruns whole jobs")
    work.add_argument("--split", action=argparse.BooleanOptionalAction, default=None,
                      help="give each job only its own slice of the manifest (slices/manifest."
                           "START.txt) instead of the whole file (default: only for manifests "
                           "over {} MiB)".format(SPLIT_THRESHOLD // (1024 * 1024)))
    mode = p.add_argument_group("how to run")
    mode.add_argument("--dry-run", action="store_true",
                      help="write submit.sub and print the plan, submit nothing (with --local: "
                           "print the plan only)")
    mode.add_argument("--local", action="store_true",
                      help="run the jobs on this machine, each in a fresh sandbox as on a worker, "
                           "instead of submitting them to HTCondor")
    mode.add_argument("--jobs", type=whole_number(1), default=0, metavar="N",
                      help="with --local: jobs at once (default: CPUs here / --request-cpus, "
                           "now {})".format(local.default_jobs(1)))
    mode.add_argument("--missing", action="store_true",
                      help="rescue: keep every valid results file in --results and rerun only the "
                           "chunks whose file is missing, corrupt, interrupted or records "
                           "transient failures")
    pool = p.add_argument_group("HTCondor job settings (also used by --local where they apply)")
    pool.add_argument("--project", metavar="NAME",
                      help="OSPool project to account the jobs to (+ProjectName; default: your "
                           "default project)")
    pool.add_argument("--request-cpus", type=whole_number(1), default=1, metavar="N",
                      help="CPUs per job; the job decodes with that many (default: %(default)s)")
    pool.add_argument("--request-memory", default="1GB", metavar="SIZE",
                      help="memory per job; the job peaks near 120 MB with photos of a few "
                           "megapixels, more with bigger ones (default: %(default)s)")
    pool.add_argument("--request-disk", default="2GB", metavar="SIZE",
                      help="disk per job; the pex (86 MB) and the libraries it unpacks "
                           "(~30 MB) (default: %(default)s)")
    pool.add_argument("--max-retries", type=whole_number(0), default=3, metavar="N",
                      help="rerun a job up to N times while it exits {} (transient failures "
                           "such as timeouts); other exits are final (default: %(default)s)"
                      .format(EXIT_TRANSIENT))
    pool.add_argument("--container", metavar="IMAGE",
                      help="container_image for the jobs, e.g. an OSPool image with python3 >= "
                           "3.9 (default: none, the worker's own system)")
    pool.add_argument("--requirements", metavar="EXPR",
                      help="HTCondor requirements expression, e.g. '(Arch == \"X86_64\" || "
                           "Arch == \"aarch64\")' since the pex carries both (default: none)")
    return p


def _writable_dir(path: str, what: str) -> None:
    """Raise UsageError unless PATH is (or can be created as) a directory we may write in."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError("{}: {} is not a directory".format(path, what))
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError("{}: cannot create {}: {} is not a directory".format(path, what, existing))
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise UsageError("{}: {} is not writable: {}".format(path, what, exc.strerror or exc)) from None


def _plan_lines(batch: Batch, manifest_records: int, everything: int) -> List[str]:
    sizes = {}
    for chunk in batch.chunks:
        sizes[chunk.count] = sizes.get(chunk.count, 0) + 1
    shape = " + ".join("{} x {}".format(n, size) for size, n in sorted(sizes.items(), reverse=True))
    jobs = len(batch.chunks)
    of_all = "" if jobs == everything else " (of {})".format(everything)
    first, last = batch.chunks[0], batch.chunks[-1]
    lines = [
        "{}: {} records -> {} job{}{}: {} records".format(
            batch.manifest, manifest_records, jobs, "" if jobs == 1 else "s", of_all, shape),
        "payload: {} ({:.1f} MB)".format(batch.payload, os.path.getsize(batch.payload) / 1e6),
        "input: {}".format("each job's own slice, {}".format(batch.input_name(first))
                           if batch.split else "the whole manifest, {}".format(batch.manifest)),
        "results: {}{} in {}".format(first.results_name, "" if jobs == 1 else
                                     " .. " + last.results_name, batch.results),
    ]
    return lines


def _results_arg(results_dir: str) -> str:
    """` DIR` for ./aggregate, or nothing for the current directory (its default)."""
    return "" if os.path.normpath(results_dir) == "." else " " + shlex.quote(results_dir)


def _again(argv: List[str]) -> str:
    """The command line to rerun what is left: the same options, plus --missing."""
    words = [word for word in argv if word not in ("--missing", "--dry-run")]
    return " ".join(["./submit"] + [shlex.quote(word) for word in words] + ["--missing"])


def _check(args: argparse.Namespace) -> int:
    """Every check of the command line's inputs, before anything is written; the record count."""
    if not os.path.isfile(args.payload):
        raise UsageError("{}: no payload there; build it with `make payload` (or name it with "
                         "--payload)".format(args.payload))
    records = count_records(args.manifest)
    if records == 0:
        raise UsageError("{}: no records (an empty manifest, or only comments and blank lines)"
                         .format(args.manifest))
    if args.project is not None:
        condor.check_line(args.project, "--project")
    args.request_memory = condor.check_size(args.request_memory, "--request-memory")
    args.request_disk = condor.check_size(args.request_disk, "--request-disk")
    _writable_dir(args.results, "results directory")
    _writable_dir(".", "current directory")
    return records


def _rescue(results_dir: str, everything: List[Chunk]) -> List[Chunk]:
    """--missing: say what RESULTS_DIR holds; the chunks still to run."""
    verdicts = rescue.inspect(results_dir, everything)
    for line in rescue.report(results_dir, verdicts, rescue.strays(results_dir, everything)):
        print(line)
    chunks = rescue.to_rerun(verdicts)
    if chunks:
        print("rerunning {} job{}: {}".format(len(chunks), "" if len(chunks) == 1 else "s",
                                               rescue.listing([str(c.start) for c in chunks])))
    else:
        print("nothing to rerun: every chunk has a complete results file")
    return chunks


def _run(args: argparse.Namespace, argv: List[str]) -> int:
    out = sys.stdout
    records = _check(args)
    chunks = everything = plan(records, args.chunk)
    if args.missing:
        chunks = _rescue(args.results, everything)
        if not chunks:
            return EXIT_OK

    submitter = None
    if not args.local and not args.dry_run:
        submitter = condor.find_condor_submit()
        if submitter is None:
            raise UsageError("condor_submit: not found on PATH (no HTCondor here): use --dry-run "
                             "to write submit.sub only, or --local to run the jobs on this machine")
    split = args.split
    if split is None:
        split = os.path.getsize(args.manifest) > SPLIT_THRESHOLD
    batch = Batch(chunks=chunks, payload=args.payload, manifest=args.manifest,
                  results=args.results, workdir=".",
                  options=payload_options(args),
                  cpus=args.request_cpus, memory=args.request_memory, disk=args.request_disk,
                  max_retries=args.max_retries,
                  split=split, project=args.project, container=args.container,
                  requirements=args.requirements)
    text = None if args.local else condor.describe(batch)  # every check before the first write
    for line in _plan_lines(batch, records, len(everything)):
        print(line, file=out)
    if args.local and args.dry_run:
        print("dry run: nothing run", file=out)
        return EXIT_OK

    os.makedirs(args.results, exist_ok=True)
    if split:
        write_slices(args.manifest, chunks, batch.workdir)
    if args.local:
        return _run_local(batch, args, argv)

    condor.write(batch.workdir, text)
    print("wrote {} ({} jobs)".format(condor.SUBMIT_FILE, len(chunks)), file=out)
    if args.dry_run:
        print("dry run: nothing submitted; submit with `condor_submit {}`".format(
            condor.SUBMIT_FILE), file=out)
        return EXIT_OK
    out.flush()
    submitted = condor.condor_submit(batch.workdir, submitter)
    out.write(submitted.output)
    if submitted.returncode != 0:
        print("submit: condor_submit {} failed ({}); {} is kept".format(
            condor.SUBMIT_FILE, "exit {}".format(submitted.returncode), condor.SUBMIT_FILE),
            file=sys.stderr)
        return local.EXIT_FAILED
    cluster = submitted.cluster or "CLUSTER"
    print("watch:     condor_watch_q   (or: condor_q {0}; held jobs: condor_q -hold {0})".format(
        cluster), file=out)
    print("when done: ./aggregate{} > scatter.html".format(_results_arg(args.results)), file=out)
    print("rescue:    {}   (reruns the chunks without a complete results file)".format(
        _again(argv)), file=out)
    return EXIT_OK


def _run_local(batch: Batch, args: argparse.Namespace, argv: List[str]) -> int:
    out = sys.stdout
    runner = local.Runner(batch, args.jobs, out)
    print("running {} job{} here, {} at a time; logs in log/".format(
        len(batch.chunks), "" if len(batch.chunks) == 1 else "s",
        min(runner.jobs, len(batch.chunks))), file=out)
    out.flush()
    began = time.monotonic()
    # Ctrl-C, or SIGTERM (`kill`, a session ending, a batch system's time limit: the command frame
    # raises it as Ctrl-C), stops the jobs and keeps every finished result; the frame turns the
    # EXIT_INTERRUPTED returned below into 128 + the signal.
    outcomes = runner.run()
    for line in local.summary(outcomes, time.monotonic() - began):
        print(line, file=out)
    code = local.exit_code(outcomes)
    if code == EXIT_OK:
        print("next: ./aggregate{} > scatter.html".format(_results_arg(args.results)), file=out)
    elif code == local.EXIT_INTERRUPTED:
        print("interrupted: finished results are kept; resume with: {}".format(_again(argv)),
              file=out)
    else:
        print("rerun what is left: {}".format(_again(argv)), file=out)
    return code


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    return command.run(parser(), lambda args: _run(args, argv), argv)
