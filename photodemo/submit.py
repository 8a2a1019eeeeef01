"""./submit: cut the manifest into chunks and run one luminance job per chunk, on HTCondor or here.

    ./submit --chunk 200 --project X     write the run's DAG, condor_submit_dag it, return
    ./submit --test 3                    run 3 chunks, wait, print what they measured
    ./submit --wait                      ... and follow the DAG until DAGMan is done
    ./submit --dry-run                   write the DAG and print the plan, submit nothing
    ./submit --local                     run the same jobs on this machine
    ./submit --missing [--local]         complete the run: only the chunks without complete results
"""

import argparse
import os
import shlex
import sys
import time
import zipfile
from typing import Dict, List, NamedTuple, Optional, Tuple

from luminance.core import bundle, command, limits, results
from luminance.core.arguments import seconds, whole_number
from luminance.core.files import check_writable
from luminance.core.errors import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TRANSIENT,
                                   EXIT_UNSUITABLE, EXIT_USAGE, UsageError)
from luminance.core.manifest import iter_records, open_manifest

from photodemo.jobs import DEFAULT_CHUNK, DEFAULT_PAYLOAD, Chunk, plan
from photodemo import condor, dag, judge, local, runs, transfers, watch
from photodemo.batch import (DEFAULT_BACKOFF, DEFAULT_MAX_RETRIES, DEFAULT_MEMORY, SPLIT_THRESHOLD,
                             Batch, keep_logs, remove_slices, write_pending, write_slices)

__all__ = ["main"]

DEFAULT_MANIFEST = "manifest.txt"
DISK_MARGIN_MB = 50
DESCRIPTION = """Cut the manifest into chunks and run one luminance job per chunk: on an HTCondor pool
as one DAGMan workflow (writes submit.sub and photodemo.dag, runs condor_submit_dag and returns:
the DAG retries, throttles and ends with the page), or on this machine (--local)."""
# The retired OSG Connect storage the tutorial's manifest names.
RETIRED_HOST = "stash.osgconnect.net"
OSDF_DOCS = "https://portal.osg-htc.org/documentation/htc_workloads/managing_data/osdf/"

EXIT_CODES = {
    EXIT_OK: "submitted (HTCondor), or every chunk complete (--local, --wait, --test); also: "
             "nothing to rerun, or DAGMan still runs the rest (--missing)",
    EXIT_USAGE: "bad option, unreadable or empty manifest, missing payload, results dir not "
                "writable, no condor_submit_dag (use --dry-run or --local); nothing has been "
                "written",
    EXIT_TRANSIENT: "--local, --wait, --test: some chunks are not complete (transient failures, "
                    "retries spent, jobs removed); results kept; complete them with --missing",
    EXIT_FAILED: "condor_submit_dag, or a --local job (and its error log)",
}
EPILOG = """Interrupted (Ctrl-C, SIGTERM): --local keeps finished results (resume with --missing);
--wait stops watching, the DAG goes on.

Files: submit.sub (each chunk's job), aggregate.sub (the page), chunks.txt (or transfers.txt with
--transfer-osdf), submit.json (the run's plan and DAGs), job.log (HTCondor's event log),
log/job.output.START, log/job.error.START (a retry moves earlier ones to .1, .2, ...), slices/
with --split, in the current directory; results-START.json, scatter.html and photodemo.dag with
DAGMan's files (.status, .dagman.out, .rescueNNN, ...) in --results.
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
                      help="where results-START.json files, the run's DAG and its page go, and "
                           "where ./aggregate and --missing look (default: the current directory)")
    work.add_argument("--page", metavar="PATH",
                      help="where the DAG's FINAL node writes the page, e.g. a public OSDF "
                           "directory (default: {} in --results)".format(dag.PAGE))
    work.add_argument("--metric", choices=results.METRICS,
                      help="luminance metric passed to every job (default: the payload's, {})"
                      .format(results.DEFAULT_METRIC))
    work.add_argument("--workers", type=whole_number(1), metavar="N",
                      help="photos each job fetches at once: the photo server sees this many "
                           "connections per running job (default: the payload's, 8 per CPU and "
                           "at least 16, enough to hide 50 ms of latency)")
    work.add_argument("--timeout", type=seconds, metavar="SECONDS",
                      help="each job's connect and read timeout per request (default: the "
                           "payload's, {:g})".format(limits.DEFAULT_TIMEOUT))
    work.add_argument("--retries", type=whole_number(0), metavar="N",
                      help="each job's retries of a photo's transient failure (default: the "
                           "payload's, {}); --max-retries reruns whole jobs"
                      .format(limits.DEFAULT_RETRIES))
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


MODE_GROUP = "how to run (never recorded)"


def mode_options(p: argparse.ArgumentParser) -> Dict[str, bool]:
    """{option: takes a value} of the parser's "how to run" group: what the run record leaves out."""
    group = next(g for g in p._action_groups if g.title == MODE_GROUP)
    return {option: action.nargs != 0 for action in group._group_actions
            for option in action.option_strings}


def _mode_options(p: argparse.ArgumentParser) -> None:
    mode = p.add_argument_group(MODE_GROUP)
    mode.add_argument("--dry-run", action="store_true",
                      help="write submit.sub and the DAG and print the plan, submit nothing "
                           "(with --local: print the plan only)")
    mode.add_argument("--local", action="store_true",
                      help="run the jobs on this machine, each in a fresh sandbox as on a worker, "
                           "instead of submitting them to HTCondor")
    mode.add_argument("--jobs", type=whole_number(1), default=0, metavar="N",
                      help="with --local: jobs at once (default: CPUs here / --request-cpus, "
                           "now {})".format(local.default_jobs(1)))
    mode.add_argument("--missing", action="store_true",
                      help="complete the run with its first options: say what each chunk is "
                           "at; if DAGMan still runs the DAG, submit nothing; else run only the "
                           "chunks without a complete results file (DAGMan's rescue DAG where it "
                           "covers them)")
    mode.add_argument("--test", type=whole_number(1), metavar="N",
                      help="run only the first N chunks, wait for them and print the rate, "
                           "memory and disk they measured and a --chunk for jobs of about {} "
                           "minutes spread over at least {} jobs; then `--missing` runs the rest"
                           .format(watch.TARGET_MINUTES, watch.SPREAD_JOBS))
    mode.add_argument("--wait", action="store_true",
                      help="after submitting (or alone, for a run already submitted), follow the "
                           "DAG (DAGMan's node status file) with one progress line until DAGMan "
                           "is done; then say what each chunk is at and what to run next")


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
                      help="retry a chunk's node up to N times (DAGMan's RETRY) when its POST "
                           "script finds transient failures or records left (exit {}); release a "
                           "held job up to N times: exit {} (no usable Python on the worker: run "
                           "elsewhere), a failed file transfer (default: %(default)s)"
                      .format(EXIT_TRANSIENT, EXIT_UNSUITABLE))
    pool.add_argument("--backoff", type=whole_number(0), default=DEFAULT_BACKOFF, metavar="SECONDS",
                      help="wait before a node's retry, and before releasing a held job, times "
                           "the number of tries (default: %(default)s)")
    pool.add_argument("--max-running", type=whole_number(1), metavar="N",
                      help="at most N jobs of the run in the queue at once (DAGMan's -maxjobs, in "
                           "the DAG's config), "
                           "so at most N running: bounds the load on the photo server (default: "
                           "no limit)")
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
    it unpacks (docs/payload.md: more than the pex itself, less than the pex and the
    margin), logs and results; plus the PHOTOS bytes HTCondor transfers (--transfer-osdf)."""
    return "{}MB".format(int((2 * os.path.getsize(payload) + photos) / 2 ** 20) + DISK_MARGIN_MB)


class Plan(NamedTuple):
    """What this ./submit does, decided once from the options (never changed afterwards)."""

    options: argparse.Namespace
    lines: Tuple[str, ...]  # the manifest, read once
    records: int
    everything: List[Chunk]  # the run's chunks
    memory: str
    disk: str  # request_disk: the option's, or the default for the pex
    default_disk: bool  # --transfer-osdf may add the largest chunk's photos to it
    split: bool
    page: str
    retired: int  # records on the retired OSG Connect stash


def _read_manifest(path: str) -> Tuple[str, ...]:
    with open_manifest(path) as stream:
        return tuple(stream.readlines())


def _plan(args: argparse.Namespace) -> Plan:
    """Every check of the command line's inputs, before anything is written; the plan."""
    if not os.path.isfile(args.payload):
        raise UsageError("{}: no payload there; build it with `make payload` (or name it with "
                         "--payload)".format(args.payload))
    lines = _read_manifest(args.manifest)
    records = list(iter_records(lines))
    if not records:
        raise UsageError("{}: no records (an empty manifest, or only comments and blank lines)"
                         .format(args.manifest))
    for option in ("project", "container", "requirements"):
        value = getattr(args, option)
        if value is not None:
            condor.check_line(value, "--" + option, quoted=option == "project")
    memory = condor.check_size(args.request_memory, "--request-memory")
    disk = condor.check_size(args.request_disk or _disk(args.payload), "--request-disk")
    if args.transfer_osdf and args.local:
        raise UsageError("--transfer-osdf: only HTCondor can transfer OSDF objects with your "
                         "credentials; --local jobs read public ones themselves (use "
                         "--no-transfer-osdf)")
    _writable_dir(args.results, "results directory")
    _writable_dir(".", "current directory")
    page = os.path.normpath(args.page or os.path.join(args.results, dag.PAGE))
    if args.page is not None:
        _writable_dir(os.path.dirname(os.path.abspath(page)), "--page's directory")
    split = args.split
    if split is None:
        split = os.path.getsize(args.manifest) > SPLIT_THRESHOLD
    retired = sum(1 for record in records
                  if not record.error and RETIRED_HOST in record.url.split("/")[2:3])
    return Plan(args, lines, len(records), plan(len(records), args.chunk), memory, disk,
                args.request_disk is None, split, page, retired)


def _batch(p: Plan, chunks: List[Chunk], arches: Tuple[str, ...]) -> Batch:
    args = p.options
    batch = Batch(chunks=chunks, payload=args.payload, manifest=args.manifest,
                  results=args.results, workdir=".", options=payload_options(args),
                  cpus=args.request_cpus, memory=p.memory, disk=p.disk,
                  max_retries=args.max_retries, split=p.split, project=args.project,
                  container=args.container, requirements=args.requirements, arches=arches,
                  os_check=args.os_check, backoff=args.backoff, max_running=args.max_running or 0)
    if not args.transfer_osdf:
        return batch
    found = transfers.collect(
        args.manifest, chunks,
        lambda chunk: transfers.reserved_names(batch.payload, batch.input_name(chunk), chunk))
    batch = batch._replace(transfers=found.objects)
    largest = max(found.sizes.values(), default=0)
    if largest and p.default_disk:
        batch = batch._replace(disk=_disk(args.payload, largest))
    return batch


def _prepare(batch: Batch, p: Plan, argv: List[str], keep: List[int]) -> None:
    """Write what the jobs need: the run record, slices, pending results; move old logs aside."""
    args = p.options
    if not args.missing:
        runs.start(batch.workdir, argv, mode_options(parser()))
    os.makedirs(args.results, exist_ok=True)
    if not args.dry_run and args.local:
        for chunk in batch.chunks:
            keep_logs(batch.workdir, chunk)  # on a pool, each node's PRE script does it
    remove_slices(batch.workdir, set(keep) | {chunk.start for chunk in batch.chunks})
    if batch.split:
        write_slices(p.lines, args.manifest, batch.chunks, batch.workdir)
    if not args.local:
        write_pending(args.results, batch.chunks, args.metric or results.DEFAULT_METRIC)


def _notes(p: Plan) -> List[str]:
    """What the plan should warn of, once: private OSDF records, the retired stash."""
    args, lines = p.options, []
    private = 0 if args.transfer_osdf else transfers.private_records(args.manifest)
    if private:
        lines.append("note: {} record{} in private OSDF directories (/ospool/apNN/data/...): {}"
                     .format(private, " is" if private == 1 else "s are", transfers.PRIVATE_HINT))
    if p.retired:
        lines.append("note: {} record{} on {}, the OSG Connect storage that was retired: those "
                     "photos cannot be fetched; put them on the OSDF (docs/osdf.md; {}) and name "
                     "them as osdf:/// URLs".format(
                         p.retired, " is" if p.retired == 1 else "s are", RETIRED_HOST, OSDF_DOCS))
    return lines


def _missing(p: Plan, record: Optional[runs.Record]) -> Tuple[List[Chunk], bool]:
    """--missing: say what each chunk of the run is at; the chunks to run (none while DAGMan
    still runs part of the run), and whether DAGMan's rescue DAG runs them."""
    args = p.options
    active = dag.dagman_active(args.results, record.dags) if record and record.dags else []
    status = dag.status(args.results) if active else None
    verdicts = judge.inspect(args.results, p.everything, status.in_queue if status else {})
    for line in judge.report(args.results, verdicts, judge.strays(args.results, p.everything)):
        print(line)
    if active:
        print("nothing to submit now: DAGMan (job {}) still runs this run; follow it with "
              "./submit --wait, or condor_q -dag".format(", ".join(map(str, active))))
        return [], False
    chunks = judge.to_rerun(verdicts)
    if not chunks:
        print("nothing to rerun: every chunk has a complete results file")
        return [], False
    rescue = dag.rescue_covers(args.results, {chunk.start for chunk in chunks})
    print("rerunning {} job{}: {}{}".format(
        len(chunks), "" if len(chunks) == 1 else "s",
        judge.listing([str(c.start) for c in chunks]),
        " (DAGMan's rescue DAG)" if rescue else ""))
    return chunks, rescue


def _run(args: argparse.Namespace, argv: List[str], record: Optional[runs.Record]) -> int:
    out = sys.stdout
    if args.wait and not args.local and not args.test and _only(argv, "--wait"):
        return _follow_run(args, record)
    p = _plan(args)
    chunks, rescue = p.everything, False
    if args.missing:
        chunks, rescue = _missing(p, record)
        if not chunks:
            return EXIT_OK
    if args.test:
        chunks = chunks[:args.test]
        rescue = False

    submitter = None
    if not args.local and not args.dry_run:
        submitter = dag.find_condor_submit_dag()
        if submitter is None:
            raise UsageError("condor_submit_dag: not found on PATH (no HTCondor here): use "
                             "--dry-run to write the DAG only, or --local to run the jobs on "
                             "this machine")
    serves, targets = _serves(args.payload)
    batch = _batch(p, chunks, targets.arches)
    text = None if args.local else condor.describe(batch)  # every check before the first write
    final = None if args.local else _final(batch, p)
    for line in _plan_lines(batch, p.records, len(p.everything), serves) + _notes(p):
        print(line, file=out)
    if args.local and args.dry_run:
        print("dry run: nothing run", file=out)
        return EXIT_OK

    _prepare(batch, p, argv, [])
    if args.local:
        return _run_local(batch, args)
    condor.write(batch, text)
    if not rescue:
        dag.write(batch, condor.SUBMIT_FILE, final)
    dag_file = dag.dag_path(args.results)
    print("wrote {}, {} ({} node{} and the page)".format(
        condor.SUBMIT_FILE, dag_file, len(chunks), "" if len(chunks) == 1 else "s"), file=out)
    if args.dry_run:
        print("dry run: nothing submitted; submit with `condor_submit_dag {}`".format(dag_file),
              file=out)
        return EXIT_OK
    out.flush()
    submitted = dag.submit(batch.workdir, args.results, force=not rescue,
                           command=submitter)
    out.write(submitted.output)
    if submitted.returncode != 0 or submitted.cluster is None:
        print("submit: condor_submit_dag {} failed ({}); the DAG is kept".format(
            dag_file, "exit {}".format(submitted.returncode)), file=sys.stderr)
        return EXIT_FAILED
    runs.add_dag(batch.workdir, submitted.cluster)
    if args.wait or args.test:
        return _follow_run(args, runs.load(batch.workdir), p, batch if args.test else None)
    print("the DAG runs on its own: log out if you like; the page will be {}".format(p.page),
          file=out)
    print("watch:   ./submit --wait   or   condor_q -dag -nobatch   (held jobs: condor_q -hold)",
          file=out)
    print("rescue:  {}   (what each chunk is at; reruns what is left when DAGMan is done)"
          .format(_again()), file=out)
    return EXIT_OK


def _only(argv: List[str], option: str) -> bool:
    """Whether ARGV holds OPTION and nothing that plans a submission."""
    return [word for word in argv if word != option] == [] and option in argv


def _final(batch: Batch, p: Plan) -> str:
    workdir = batch.workdir
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return dag.final_description(
        condor.check_name(sys.executable, workdir, "python"),
        condor.check_name(os.path.join(here, "aggregate"), workdir, "aggregate"),
        condor.check_name(batch.results, workdir, "results"),
        condor.check_name(batch.manifest, workdir, "manifest"),
        condor.check_name(p.page, workdir, "page"))


def _follow_run(args: argparse.Namespace, record: Optional[runs.Record], p: Optional[Plan] = None,
                tested: Optional[Batch] = None) -> int:
    """--wait and --test: follow the run's DAG to its end, then say what every chunk is at (of
    the TESTED batch's chunks only, with what they measured, for --test)."""
    out = sys.stdout
    if record is None or not record.dags:
        raise UsageError("--wait: no DAG of a run here ({} names none); submit one first"
                         .format(runs.RUN_FILE))
    try:
        watch.follow(args.results, record.dags, out)
    except KeyboardInterrupt:
        print("\nstopped watching; the DAG goes on: condor_q -dag -nobatch", file=out)
        return EXIT_INTERRUPTED
    if p is None:  # --wait alone: the run's plan, from its manifest
        records = sum(1 for _ in iter_records(_read_manifest(args.manifest)))
        everything = plan(records, args.chunk)
    else:
        records, everything = p.records, p.everything
    verdicts = judge.inspect(args.results, tested.chunks if tested else everything)
    for line in judge.report(args.results, verdicts, []):
        print(line, file=out)
    page = os.path.normpath(args.page or os.path.join(args.results, dag.PAGE))
    if tested:
        jobs = dag.node_jobs(args.results, record.dags[-1])
        for line in watch.test_report(jobs, args.results, tested.chunks, args.chunk, records,
                                      tested.memory, tested.disk):
            print(line, file=out)
        print("next: ./submit --missing   (runs the other chunks, --chunk {}), or start over "
              "with the --chunk above".format(args.chunk), file=out)
    elif any(v.state != judge.COMPLETE for v in verdicts):
        print("page: {} (incomplete chunks are listed as missing)".format(page), file=out)
        print("next: {}".format(_again()), file=out)
    else:
        print("page: {}".format(page), file=out)
    return EXIT_TRANSIENT if any(v.state != judge.COMPLETE for v in verdicts) else EXIT_OK


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


def _arguments(args: argparse.Namespace,
               argv: List[str]) -> Tuple[argparse.Namespace, Optional[runs.Record]]:
    """The options to run with: ARGS, or with --missing or --wait the run record's, overridden
    by ARGV's."""
    if not args.missing and not _only(argv, "--wait"):
        return args, runs.load(".") if args.wait else None
    record = runs.load(".")
    if record is None:
        return args, None
    return parser().parse_args(record.options + argv), record


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)

    def body(args: argparse.Namespace) -> int:
        args, record = _arguments(args, argv)
        return _run(args, argv, record)

    return command.run(parser(), body, argv)
