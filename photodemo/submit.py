"""./submit: cut the manifest into chunks and run one luminance job per chunk, on HTCondor or here.

    ./submit --chunk 200 --project X     write submit.sub, condor_submit it
    ./submit --test 3                    submit 3 chunks, wait, print what they measured
    ./submit --wait                      ... and follow the run until every job is done or held
    ./submit --dry-run                   write submit.sub and print the plan, submit nothing
    ./submit --local                     run the same jobs on this machine
    ./submit --missing [--local]         rerun only the chunks without a complete results file
"""

import argparse
import os
import shlex
import sys
import time
import zipfile
from typing import Dict, List, Optional, Tuple

from luminance import bundle, command, results
from luminance import cli as payload_cli
from luminance.arguments import seconds, whole_number
from luminance.files import check_writable
from luminance.errors import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TRANSIENT,
                              EXIT_UNSUITABLE, EXIT_USAGE, UsageError)
from luminance.jobs import DEFAULT_CHUNK, DEFAULT_PAYLOAD, Chunk, plan
from luminance.manifest import count_records

from photodemo import condor, local, rescue, runs, transfers, watch
from photodemo.batch import (DEFAULT_BACKOFF, DEFAULT_MAX_RETRIES, DEFAULT_MEMORY, SPLIT_THRESHOLD,
                             Batch, keep_logs, remove_slices, write_pending, write_slices)

__all__ = ["main"]

DEFAULT_MANIFEST = "manifest.txt"
DISK_MARGIN_MB = 50
DESCRIPTION = """Cut the manifest into chunks and run one luminance job per chunk: on an HTCondor pool
(writes submit.sub and runs condor_submit), or on this machine (--local)."""

EXIT_CODES = {
    EXIT_OK: "submitted (HTCondor), or every job done (--local, --wait, --test); also: nothing "
             "to rerun (--missing)",
    EXIT_USAGE: "bad option, unreadable or empty manifest, missing payload, results dir not "
                "writable, no condor_submit (use --dry-run or --local); nothing has been written",
    EXIT_TRANSIENT: "--local, --wait, --test: some chunks are not complete (transient failures, "
                    "jobs held for good); results kept; rerun them with --missing",
    EXIT_FAILED: "condor_submit, or a --local job (and its error log)",
}
EPILOG = """Interrupted (Ctrl-C, SIGTERM): --local keeps finished results (resume with --missing);
--wait stops watching, the jobs go on.

Files: submit.sub, submit.json (the run's plan and clusters), job.log (HTCondor's event log),
log/job.output.START, log/job.error.START (a rerun moves earlier ones to .1, .2, ...),
slices/ with --split and transfers.txt with --transfer-osdf are written in the current directory,
results-START.json in --results.
"""


def payload_options(args: argparse.Namespace) -> List[str]:
    """The options ./submit passes on to every job, as the job's command line spells them."""
    options = []
    for name in ("metric", "workers", "timeout", "retries"):
        value = getattr(args, name)
        if value is not None:
            options += ["--" + name, "{:g}".format(value) if isinstance(value, float) else str(value)]
    if getattr(args, "transfer_osdf", False):
        options.append("--transferred")
    return options


def _payload_default(name: str):
    """The job's own default for option NAME: one definition, in the payload's command line."""
    return payload_cli.parser().get_default(name)


def parser() -> argparse.ArgumentParser:
    p = command.Parser("submit", "./submit", DESCRIPTION, EXIT_CODES, EPILOG)
    _work_options(p)
    _mode_options(p)
    _pool_options(p)
    return p


def _work_options(p: argparse.ArgumentParser) -> None:
    work = p.add_argument_group("what to run (recorded in {}: --missing reuses them)".format(
        runs.RUN_FILE))
    work.add_argument("--manifest", default=DEFAULT_MANIFEST, metavar="FILE",
                      help="the photos to analyze, one `URL YEAR` per line (default: %(default)s)")
    work.add_argument("--chunk", type=whole_number(1), default=DEFAULT_CHUNK, metavar="N",
                      help="records per job; the last job gets the rest (default: %(default)s; "
                           "--test suggests one)")
    work.add_argument("--payload", default=DEFAULT_PAYLOAD, metavar="PEX",
                      help="the job's executable, built by `make payload` (default: %(default)s)")
    work.add_argument("--results", default=".", metavar="DIR",
                      help="where results-START.json files go, and where ./aggregate and "
                           "--missing look (default: the current directory)")
    work.add_argument("--metric", choices=results.METRICS,
                      help="luminance metric passed to every job (default: the payload's, {})"
                      .format(_payload_default("metric")))
    work.add_argument("--workers", type=whole_number(1), metavar="N",
                      help="photos each job fetches at once: the photo server sees this many "
                           "connections per running job (default: the payload's, 8 per CPU and "
                           "at least 16, enough to hide 50 ms of latency)")
    work.add_argument("--timeout", type=seconds, metavar="SECONDS",
                      help="each job's connect and read timeout per request (default: the "
                           "payload's, {:g})".format(_payload_default("timeout")))
    work.add_argument("--retries", type=whole_number(0), metavar="N",
                      help="each job's retries of a photo's transient failure (default: the "
                           "payload's, {}); --max-retries reruns whole jobs"
                      .format(_payload_default("retries")))
    work.add_argument("--split", action=argparse.BooleanOptionalAction, default=None,
                      help="give each job only its own slice of the manifest (slices/manifest."
                           "START.txt) instead of the whole file (default: only for manifests "
                           "over {} MiB)".format(SPLIT_THRESHOLD // (1024 * 1024)))
    work.add_argument("--transfer-osdf", action=argparse.BooleanOptionalAction, default=False,
                      help="have HTCondor's osdf plugin fetch each chunk's osdf://, stash:// and "
                           "pelican:// objects into its job's sandbox with your credentials "
                           "(transfer_input_files, listed in {}), for private namespaces such as "
                           "/ospool/apNN/data/USER; the job reads them there and records their "
                           "URLs; not with --local (default: off, the jobs read public objects "
                           "through the caches)".format(condor.TRANSFERS_FILE))


def _mode_options(p: argparse.ArgumentParser) -> None:
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
                      help="rescue: with the first run's options, rerun only the chunks without "
                           "a complete results file, never one whose job is still idle, running "
                           "or held (read from job.log)")
    mode.add_argument("--test", type=whole_number(1), metavar="N",
                      help="submit only the first N chunks, wait for them and print the rate, "
                           "memory and disk they measured and a --chunk for jobs of about {} "
                           "minutes; then `--missing` submits the rest".format(
                               watch.TARGET_MINUTES))
    mode.add_argument("--wait", action="store_true",
                      help="after submitting, follow job.log with one progress line until every "
                           "job is done or held for good; print the holds' reasons and what to "
                           "run next")


def _pool_options(p: argparse.ArgumentParser) -> None:
    pool = p.add_argument_group("HTCondor job settings (also used by --local where they apply)")
    pool.add_argument("--project", metavar="NAME",
                      help="OSPool project to account the jobs to (+ProjectName; default: your "
                           "default project)")
    pool.add_argument("--request-cpus", type=whole_number(1), default=1, metavar="N",
                      help="CPUs per job; the job decodes with that many (default: %(default)s)")
    pool.add_argument("--request-memory", default=DEFAULT_MEMORY, metavar="SIZE",
                      help="memory per job: room to decode one photo of the largest size the "
                           "job accepts per CPU; --test prints what jobs used (default: "
                           "%(default)s)")
    pool.add_argument("--request-disk", default=None, metavar="SIZE",
                      help="disk per job (default: twice the pex plus {} MB: the pex, the "
                           "libraries it unpacks, logs and results; with --transfer-osdf on the "
                           "access point, plus the largest chunk's photos)".format(DISK_MARGIN_MB))
    pool.add_argument("--max-retries", type=whole_number(0), default=DEFAULT_MAX_RETRIES, metavar="N",
                      help="release a held job up to N times: exit {} (transient failures), exit "
                           "{} (no usable Python on the worker: run elsewhere), a failed file "
                           "transfer; other exits are final (default: %(default)s)"
                      .format(EXIT_TRANSIENT, EXIT_UNSUITABLE))
    pool.add_argument("--backoff", type=whole_number(0), default=DEFAULT_BACKOFF, metavar="SECONDS",
                      help="wait before releasing a held job, times its number of holds "
                           "(default: %(default)s)")
    pool.add_argument("--max-running", type=whole_number(1), metavar="N",
                      help="at most N jobs of the run in the queue at once (max_materialize), so "
                           "at most N running: bounds the load on the photo server (default: no "
                           "limit)")
    pool.add_argument("--container", metavar="IMAGE",
                      help="container_image for the jobs, one with python3 >= 3.9 for every "
                           "architecture the pex serves; {arch} in IMAGE becomes the machine's "
                           "Arch (X86_64, aarch64) where images differ per architecture "
                           "(default: none, the worker's own system)")
    pool.add_argument("--requirements", metavar="EXPR",
                      help="an HTCondor requirements expression, added to photodemo's own (the "
                           "machines the pex serves) (default: none)")
    pool.add_argument("--os-check", action=argparse.BooleanOptionalAction, default=True,
                      help="keep jobs off OSPool workers whose OS (OSGVO_OS_STRING RHEL 6-8) has "
                           "no python3 >= 3.9; no effect on pools that do not advertise it "
                           "(default: on)")


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
        check_writable(existing)
    except OSError as exc:
        raise UsageError("{}: {} is not writable: {}".format(path, what, exc.strerror or exc)) from None


def _serves(pex: str) -> Tuple[str, bundle.Targets]:
    """What the pex serves, as a phrase for the plan, and its Targets. Raises UsageError for a
    payload cut short or damaged: every job would fail."""
    why = bundle.damaged(pex)
    if why is not None:
        raise UsageError("{}: not a whole payload ({}): rebuild it with `make payload` or copy it "
                         "again".format(pex, why))
    try:
        targets = bundle.targets(pex)
    except (OSError, zipfile.BadZipFile):
        targets = bundle.Targets((), ())
    if not targets.pythons:
        return "", targets
    return ": CPython {} on {}".format(", ".join(targets.pythons), ", ".join(targets.arches)), targets


def _plan_lines(batch: Batch, manifest_records: int, everything: int, serves: str) -> List[str]:
    sizes: Dict[int, int] = {}
    for chunk in batch.chunks:
        sizes[chunk.count] = sizes.get(chunk.count, 0) + 1
    shape = " + ".join("{} x {}".format(n, size) for size, n in sorted(sizes.items(), reverse=True))
    jobs = len(batch.chunks)
    of_all = "" if jobs == everything else " (of {})".format(everything)
    first, last = batch.chunks[0], batch.chunks[-1]
    lines = [
        "{}: {} records -> {} job{}{}: {} records".format(
            batch.manifest, manifest_records, jobs, "" if jobs == 1 else "s", of_all, shape),
        "payload: {} ({:.1f} MB){}".format(batch.payload, os.path.getsize(batch.payload) / 1e6,
                                           serves),
        "input: {}".format("each job's own slice, {}".format(batch.input_name(first))
                           if batch.split else "the whole manifest, {}".format(batch.manifest)),
        "results: {}{} in {}".format(first.results_name, "" if jobs == 1 else
                                     " .. " + last.results_name, batch.results),
    ]
    if batch.transfers is not None:
        counts = [len(batch.transfers.get(chunk.start, ())) for chunk in batch.chunks]
        if sum(counts):
            lines.append("transfer: HTCondor fetches {} OSDF object{} into the sandboxes with your "
                         "credentials, at most {} per job ({}); each job's disk must hold them "
                         "(request_disk {})".format(sum(counts), "" if sum(counts) == 1 else "s",
                                                    max(counts), condor.TRANSFERS_FILE, batch.disk))
        else:
            lines.append("transfer: these jobs' records name no osdf://, stash:// or pelican:// "
                         "object: nothing for HTCondor to transfer")
    if batch.max_running:
        lines.append("load: at most {} job{} at once, each fetching --workers photos at once"
                     .format(batch.max_running, "" if batch.max_running == 1 else "s"))
    return lines


def _results_arg(results_dir: str) -> str:
    """` DIR` for ./aggregate, or nothing for the current directory (its default)."""
    return "" if os.path.normpath(results_dir) == "." else " " + shlex.quote(results_dir)


def _again() -> str:
    """The command line to rerun what is left: the run record holds every other option."""
    return "./submit --missing"


def _disk(payload: str, photos: int = 0) -> str:
    """The default request_disk: twice the pex and a margin, which hold the pex, the libraries
    it unpacks (README, "The payload": more than the pex itself, less than the pex and the
    margin), logs and results; plus the PHOTOS bytes HTCondor transfers (--transfer-osdf)."""
    return "{}MB".format(int((2 * os.path.getsize(payload) + photos) / 2 ** 20) + DISK_MARGIN_MB)


def _check(args: argparse.Namespace) -> int:
    """Every check of the command line's inputs, before anything is written; the record count."""
    if not os.path.isfile(args.payload):
        raise UsageError("{}: no payload there; build it with `make payload` (or name it with "
                         "--payload)".format(args.payload))
    records = count_records(args.manifest)
    if records == 0:
        raise UsageError("{}: no records (an empty manifest, or only comments and blank lines)"
                         .format(args.manifest))
    for option in ("project", "container", "requirements"):
        value = getattr(args, option)
        if value is not None:
            condor.check_line(value, "--" + option, quoted=option == "project")
    args.request_memory = condor.check_size(args.request_memory, "--request-memory")
    args.default_disk = args.request_disk is None  # --transfer-osdf may add the photos to it
    if args.request_disk is None:
        args.request_disk = _disk(args.payload)
    args.request_disk = condor.check_size(args.request_disk, "--request-disk")
    if args.transfer_osdf and args.local:
        raise UsageError("--transfer-osdf: only HTCondor can transfer OSDF objects with your "
                         "credentials; --local jobs read public ones themselves (use "
                         "--no-transfer-osdf)")
    _writable_dir(args.results, "results directory")
    _writable_dir(".", "current directory")
    return records


def _rescue(args: argparse.Namespace, everything: List[Chunk],
            record: Optional[runs.Record]) -> Tuple[List[Chunk], List[int]]:
    """--missing: say what the run holds; the chunks to run, and the starts still in the queue."""
    in_queue = {}
    if record is not None and record.clusters:
        in_queue = rescue.queued(condor.USER_LOG, record.chunk_of(), args.max_retries)
    verdicts = rescue.inspect(args.results, everything, in_queue)
    for line in rescue.report(args.results, verdicts, rescue.strays(args.results, everything)):
        print(line)
    chunks = rescue.to_rerun(verdicts)
    if chunks:
        print("rerunning {} job{}: {}".format(len(chunks), "" if len(chunks) == 1 else "s",
                                               rescue.listing([str(c.start) for c in chunks])))
    elif in_queue:
        print("nothing to rerun now: {} chunk{} still with HTCondor".format(
            len(in_queue), "" if len(in_queue) == 1 else "s"))
    else:
        print("nothing to rerun: every chunk has a complete results file")
    return chunks, sorted(in_queue)


def _arguments(args: argparse.Namespace,
               argv: List[str]) -> Tuple[argparse.Namespace, Optional[runs.Record]]:
    """The options to run with: ARGS, or with --missing the run record's, overridden by ARGV's."""
    if not args.missing:
        return args, None
    record = runs.load(".")
    if record is None:
        return args, None
    return parser().parse_args(record.options + argv), record


def _batch(args: argparse.Namespace, chunks: List[Chunk], arches: Tuple[str, ...]) -> Batch:
    split = args.split
    if split is None:
        split = os.path.getsize(args.manifest) > SPLIT_THRESHOLD
    batch = Batch(chunks=chunks, payload=args.payload, manifest=args.manifest,
                  results=args.results, workdir=".", options=payload_options(args),
                  cpus=args.request_cpus, memory=args.request_memory, disk=args.request_disk,
                  max_retries=args.max_retries, split=split, project=args.project,
                  container=args.container, requirements=args.requirements, arches=arches,
                  os_check=args.os_check, backoff=args.backoff, max_running=args.max_running or 0)
    if not args.transfer_osdf:
        return batch
    found = transfers.collect(
        args.manifest, chunks,
        lambda chunk: transfers.reserved_names(batch.payload, batch.input_name(chunk), chunk))
    batch = batch._replace(transfers=found.objects)
    largest = max(found.sizes.values(), default=0)
    if largest and args.default_disk:
        batch = batch._replace(disk=_disk(args.payload, largest))
    return batch


def _prepare(batch: Batch, args: argparse.Namespace, argv: List[str], keep: List[int]) -> None:
    """Write what the jobs need: the run record, slices, pending results; move old logs aside."""
    if not args.missing:
        runs.start(batch.workdir, argv)
    os.makedirs(args.results, exist_ok=True)
    if not args.dry_run:
        for chunk in batch.chunks:
            keep_logs(batch.workdir, chunk)
    remove_slices(batch.workdir, set(keep) | {chunk.start for chunk in batch.chunks})
    if batch.split:
        write_slices(args.manifest, batch.chunks, batch.workdir)
    if not args.local:
        write_pending(args.results, batch.chunks, args.metric or _payload_default("metric"))


def _run(args: argparse.Namespace, argv: List[str], record: Optional[runs.Record]) -> int:
    out = sys.stdout
    records = _check(args)
    chunks = everything = plan(records, args.chunk)
    in_queue: List[int] = []
    if args.missing:
        chunks, in_queue = _rescue(args, everything, record)
        if not chunks:
            return EXIT_OK
    if args.test:
        chunks = chunks[:args.test]

    submitter = None
    if not args.local and not args.dry_run:
        submitter = condor.find_condor_submit()
        if submitter is None:
            raise UsageError("condor_submit: not found on PATH (no HTCondor here): use --dry-run "
                             "to write submit.sub only, or --local to run the jobs on this machine")
    serves, targets = _serves(args.payload)
    batch = _batch(args, chunks, targets.arches)
    text = None if args.local else condor.describe(batch)  # every check before the first write
    for line in _plan_lines(batch, records, len(everything), serves):
        print(line, file=out)
    private = 0 if args.transfer_osdf else transfers.private_records(args.manifest)
    if private:
        print("note: {} record{} in private OSDF directories (/ospool/apNN/data/...): {}".format(
            private, " is" if private == 1 else "s are", transfers.PRIVATE_HINT), file=out)
    if args.local and args.dry_run:
        print("dry run: nothing run", file=out)
        return EXIT_OK

    _prepare(batch, args, argv, in_queue)
    if args.local:
        return _run_local(batch, args)
    condor.write(batch.workdir, text, condor.items(batch))
    print("wrote {} ({} job{})".format(condor.SUBMIT_FILE, len(chunks), "" if len(chunks) == 1 else "s"),
          file=out)
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
        return EXIT_FAILED
    cluster = submitted.cluster or "CLUSTER"
    if submitted.cluster:
        runs.add_cluster(batch.workdir, int(submitted.cluster), [c.start for c in chunks])
    if (args.wait or args.test) and submitted.cluster:
        return _follow(batch, args, int(submitted.cluster))
    if args.wait or args.test:  # nothing to follow: which cluster is not known
        print("submit: condor_submit did not say which cluster it made; not waiting",
              file=sys.stderr)
    print("watch:     condor_watch_q   (held jobs and why: condor_q -hold {}; each chunk: "
          "./submit --missing --dry-run)".format(cluster), file=out)
    print("when done: ./aggregate{} > scatter.html".format(_results_arg(args.results)), file=out)
    print("rescue:    {}   (reruns the chunks without a complete results file)".format(
        _again()), file=out)
    return EXIT_OK


def _follow(batch: Batch, args: argparse.Namespace, cluster: int) -> int:
    """--wait and --test: follow the cluster in job.log to its end, then say what it did."""
    out = sys.stdout
    try:
        ended = watch.follow(condor.USER_LOG, cluster, batch.chunks, args.max_retries, out)
    except KeyboardInterrupt:
        print("\nstopped watching; the jobs go on: condor_q {}".format(cluster), file=out)
        return EXIT_INTERRUPTED
    verdicts = rescue.inspect(args.results, batch.chunks)
    for line in watch.summary(ended, verdicts, batch.chunks, args.max_retries):
        print(line, file=out)
    if args.test:
        for line in watch.test_report(ended, args.results, batch.chunks, args.chunk,
                                      batch.memory, batch.disk):
            print(line, file=out)
    left = [v for v in verdicts if v.state != rescue.COMPLETE]
    if args.test:
        print("next: ./submit --missing   (submits the other chunks, --chunk {}), or start over "
              "with the --chunk above".format(args.chunk), file=out)
    elif left:
        print("next: {}".format(_again()), file=out)
    else:
        print("next: ./aggregate{} > scatter.html".format(_results_arg(args.results)), file=out)
    return EXIT_TRANSIENT if left else EXIT_OK


def _run_local(batch: Batch, args: argparse.Namespace) -> int:
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
    elif code == EXIT_INTERRUPTED:
        print("interrupted: finished results are kept; resume with: {} --local".format(_again()),
              file=out)
    else:
        print("rerun what is left: {} --local".format(_again()), file=out)
    return code


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)

    def body(args: argparse.Namespace) -> int:
        args, record = _arguments(args, argv)
        return _run(args, argv, record)

    return command.run(parser(), body, argv)
