"""The HTCondor job of one chunk: a Batch written as a submit description (submit.sub).

submit.sub is the node description every node of the run's DAG (dag.py) shares, the chunk given
by the node's VARS (START, COUNT). It keeps the tutorial's shape and comments
(`results-START.json START COUNT`, `Input = manifest.txt`, `log/job.output.START`), plus what a
real pool needs: the pex's own sandbox (PEX_ROOT), the chunk's current results file sent with the
job and brought back on exit and on eviction (a rerun or a resumed job keeps what it measured),
the holds DAGMan does not cover with readable reasons and bounded releases (RELEASES), and
placement on the machines the pex can run on. It also runs alone, every chunk in one cluster:
`condor_submit submit.sub -queue 'start,count from chunks.txt'`. `describe` joins one section
per concern, each a function below.
"""

import os
import re
import textwrap
from typing import List, NamedTuple, Optional

from luminance.core.errors import EXIT_UNSUITABLE, UsageError
from luminance.core.files import write_atomically
from photodemo.jobs import ERROR_NAME, LOG_DIR, OUTPUT_NAME, RESULTS_NAME, SLICE_NAME, Chunk
from photodemo.batch import Batch, relative_to

__all__ = ["SUBMIT_FILE", "USER_LOG", "TRANSFERS_FILE", "CHUNKS_FILE", "describe", "items",
           "write", "check_line", "check_size", "requirements", "Release", "RELEASES",
           "release_expression", "check_name"]

SUBMIT_FILE = "submit.sub"
# --transfer-osdf: the queue's items, `START COUNT URL, URL, ...` a line (a line per job can hold
# thousands of URLs; outside submit.sub, which stays readable).
TRANSFERS_FILE = "transfers.txt"
# Without transfers: the queue's items, `START COUNT` a line, for submit.sub run alone.
CHUNKS_FILE = "chunks.txt"
OBJECTS = "$(objects)"
USER_LOG = "job.log"
RESULTS = RESULTS_NAME.format(start="$(start)")
# Characters that would change the meaning of a submit-file line: a path holding one cannot be
# named there safely (whitespace splits arguments and remaps, `$` starts a macro such as $(x),
# $ENV(x) or $RANDOM_CHOICE(...), `;` and `=` separate remaps, quotes end strings, `,` separates
# transfer lists, a backslash escapes).
_UNSAFE_PATH = re.compile(r"""[\s"';=#$,\\]""")
# A size with its unit: HTCondor reads a bare number as MB for memory but KB for disk.
_SIZE = re.compile(r"^\d+(\.\d+)?\s*[KMGT]B?$", re.IGNORECASE)
# In --container, where the image differs per architecture: HTCondor's $$(Arch) at match time.
ARCH_PLACEHOLDER = "{arch}"
# HTCondor's Arch for each machine a manylinux wheel names.
ARCH = {"x86_64": "X86_64", "aarch64": "aarch64", "ppc64le": "ppc64le", "i686": "INTEL"}
# OSPool workers advertise their OS as OSGVO_OS_STRING ("RHEL 9"); the default python3 of RHEL 8
# and older is 3.6, older than any Python the pex serves. Elsewhere the attribute is undefined
# and the expression true.
OS_CHECK = ('(isUndefined(TARGET.OSGVO_OS_STRING) || '
            '!member(TARGET.OSGVO_OS_STRING, {"RHEL 6", "RHEL 7", "RHEL 8"}))')

# Hold reason codes photodemo releases (HTCondor manual, "Hold Reason Codes").
HOLD_JOB_POLICY, HOLD_TRANSFER_OUTPUT, HOLD_TRANSFER_INPUT = 3, 12, 13


class Release(NamedTuple):
    """A hold photodemo releases: its code (and subcode, None for any), whether after the
    back-off (x the job's holds) or at once, and what it means (docs/ospool.md's hold table)."""

    code: int
    subcode: Optional[int]
    backoff: bool
    meaning: str


# The holds DAGMan cannot handle itself: a held job stalls its node, and a retried node is a new
# job that has forgotten the machine it failed on. Transient photo failures (exit 3) are not
# held: the node's POST script sees them and DAGMan retries the node (dag.py).
RELEASES = (
    Release(HOLD_JOB_POLICY, EXIT_UNSUITABLE, False,
            "the worker had no Python the payload can use (exit {}); released at once, to run "
            "on another machine (requirements leave out the machines it failed on)"
            .format(EXIT_UNSUITABLE)),
    Release(HOLD_TRANSFER_OUTPUT, None, True,
            "HTCondor could not bring the results file back; released after the back-off"),
    Release(HOLD_TRANSFER_INPUT, None, True,
            "HTCondor could not send the job its files (pex, manifest, results; with "
            "--transfer-osdf, its photos); released after the back-off"),
)


def _matches(release: Release) -> str:
    code = "HoldReasonCode =?= {}".format(release.code)
    if release.subcode is None:
        return code
    return "({} && HoldReasonSubCode =?= {})".format(code, release.subcode)


def release_expression(max_retries: int, backoff: int) -> str:
    """submit.sub's periodic_release, from RELEASES: up to MAX_RETRIES holds, each after BACKOFF
    seconds x the job's holds where the release says so."""
    later = "time() - EnteredCurrentStatus > {} * NumHolds".format(backoff)
    terms = [_matches(r) if not r.backoff else "({} && {})".format(_matches(r), later)
             for r in RELEASES]
    return "NumHolds <= {} && ({})".format(max_retries, " || ".join(terms))


def remove_expression(max_retries: int) -> str:
    """submit.sub's periodic_remove: a job held by one of RELEASES more than MAX_RETRIES times
    leaves the queue, so that its node ends (DAGMan would wait on it for ever)."""
    return "JobStatus == 5 && NumHolds > {} && ({})".format(
        max_retries, " || ".join(_matches(r) for r in RELEASES))


def check_size(value: str, option: str) -> str:
    """VALUE if it is a size HTCondor reads (`1GB`, `512 MB`, `2G`), else UsageError naming OPTION."""
    if not _SIZE.match(value.strip()):
        raise UsageError("{} {!r}: not a size with a unit, such as 1GB or 512MB".format(option, value))
    return value.strip()


def check_line(value: str, option: str, quoted: bool = False) -> str:
    """VALUE if it fits on one submit-file line (inside a "quoted string" when QUOTED), else
    UsageError naming OPTION."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError("{} {!r}: not UTF-8 text (a byte the terminal's encoding cannot "
                         "represent)".format(option, value)) from None
    if not value.strip() or "\n" in value or "\r" in value:
        raise UsageError("{} {!r}: must be one non-empty line".format(option, value))
    if quoted and ('"' in value or "\\" in value):
        raise UsageError("{} {!r}: cannot hold a double quote or a backslash".format(option, value))
    return value.strip()


def check_name(path: str, workdir: str, what: str) -> str:
    name = relative_to(path, workdir)
    if _UNSAFE_PATH.search(name):
        raise UsageError("{}: {} path cannot be written in an HTCondor submit file (it holds "
                         "whitespace, a quote, a backslash, ',', ';', '=', '#' or '$'); use a "
                         "simpler path".format(path, what))
    return name


def requirements(batch: Batch) -> Optional[str]:
    """The job's requirements: the machines the pex carries wheels for, the OSPool OS check, the
    machine a job found unsuitable (exit 5) left out, and the user's own expression."""
    terms = []
    arches = [ARCH.get(arch, arch) for arch in batch.arches]
    if arches:
        terms.append("(" + " || ".join('TARGET.Arch == "{}"'.format(a) for a in arches) + ")")
    if batch.os_check:
        terms.append(OS_CHECK)
    if batch.max_retries > 0:
        terms.append("(my.ExitCode =!= {} || isUndefined(MachineAttrMachine0) || "
                     "TARGET.Machine =!= MachineAttrMachine0)".format(EXIT_UNSUITABLE))
    if batch.requirements is not None:
        terms.append("({})".format(check_line(batch.requirements, "--requirements")))
    return " && ".join(terms) or None


def _program(batch: Batch) -> List[str]:
    executable = check_name(batch.payload, batch.workdir, "payload")
    options = "".join(" " + option for option in batch.options)
    if batch.split:
        stdin = SLICE_NAME.format(start="$(start)")
        comment = "# Each job reads only its own slice of the manifest on stdin (written by ./submit)."
    else:
        stdin = check_name(batch.manifest, batch.workdir, "manifest")
        comment = ("# Each job reads the whole manifest on stdin and picks its own records "
                   "(START COUNT).")
    return [
        "# The payload: one self-contained executable (Python code, Pillow, requests) that runs",
        "# with the worker's own python3. HTCondor transfers it to the job's sandbox.",
        "executable = {}".format(executable),
        "# Job START analyzes records START .. START+COUNT-1 into results-START.json.",
        "arguments = {} $(start) $(count){}".format(RESULTS, options),
        comment,
        "input = {}".format(stdin),
        "",
        "# The job's stdout (one [YEAR, LUMINANCE] line per photo) and stderr (one line per failed",
        "# photo), and HTCondor's own event log for the whole run (condor_watch_q reads it; DAGMan",
        "# follows its nodes in its own log).",
        "output = {}".format(OUTPUT_NAME.format(start="$(start)")),
        "error = {}".format(ERROR_NAME.format(start="$(start)")),
        "log = {}".format(USER_LOG),
        "batch_name = photodemo",
        "",
        "# The job unpacks its libraries on first run; workers have no usable HOME, so unpack",
        "# into the sandbox (PEX_ROOT, a path relative to the job's working directory).",
        'environment = "PEX_ROOT=.pex"',
    ]


def _files(batch: Batch) -> List[str]:
    results = check_name(batch.results, batch.workdir, "results")
    current = RESULTS if results == "." else "{}/{}".format(results, RESULTS)
    lines = [
        "",
        "# Workers share no file system with this machine: send the pex, the input and the chunk's",
        "# results file, bring the results file back. ./submit writes a 'pending' results file for",
        "# every chunk that has none, so the file always exists: a rerun (a release, a retry,",
        "# --missing) starts from what earlier runs measured and keeps it. An evicted job (SIGTERM)",
        "# writes what it measured and HTCondor keeps its sandbox's results file (ON_EXIT_OR_EVICT):",
        "# the job resumes from it on the next machine.",
        "should_transfer_files = YES",
        "when_to_transfer_output = ON_EXIT_OR_EVICT",
        "transfer_input_files = {}".format(current),
        "transfer_output_files = {}".format(RESULTS),
    ]
    if batch.transfers is not None:
        lines[-2:-1] = [
            "# --transfer-osdf: HTCondor's own osdf plugin also fetches the chunk's osdf://, stash://",
            "# and pelican:// objects ({}, per job) with your credentials; each lands in the".format(
                TRANSFERS_FILE),
            "# sandbox under its file name, where the job (--transferred) reads it.",
            "transfer_input_files = {}, {}".format(current, OBJECTS),
        ]
    if results != ".":
        lines.append('transfer_output_remaps = "{} = {}"'.format(RESULTS, current))
    return lines


def _resources(batch: Batch) -> List[str]:
    return [
        "",
        "# Resources (docs/benchmarks.md: what `make bench` measures a job takes). HTCondor sets",
        "# OMP_NUM_THREADS to request_cpus: the job decodes with that many.",
        "request_cpus = {}".format(batch.cpus),
        "request_memory = {}".format(batch.memory),
        "request_disk = {}".format(batch.disk),
    ]


def _retries(batch: Batch) -> List[str]:
    """The holds DAGMan does not cover (RELEASES): a reason, bounded and delayed releases."""
    if batch.max_retries == 0:
        return ["", "# No reruns (--max-retries 0): every exit is final."]
    u = EXIT_UNSUITABLE
    return [
        "",
        "# Exit {} (the worker has no Python the payload can use) holds the job with a reason".format(u),
        "# (condor_q -hold); it is released at once, up to {} times, to run on another machine"
        .format(batch.max_retries),
        "# (requirements leave out the machine it failed on); failed file transfers (hold codes",
        "# {} and {}) after {} s x the number of holds. Held more often, the job leaves the queue"
        .format(HOLD_TRANSFER_OUTPUT, HOLD_TRANSFER_INPUT, batch.backoff),
        "# and its DAG node ends. Other exits end the job: the node's POST script judges them.",
        "on_exit_hold = ExitCode =?= {}".format(u),
        'on_exit_hold_reason = "photodemo: the worker has no Python the payload can use (exit {})"'
        .format(u),
        "on_exit_hold_subcode = ExitCode",
        "periodic_release = {}".format(release_expression(batch.max_retries, batch.backoff)),
        "periodic_remove = {}".format(remove_expression(batch.max_retries)),
        "# Remember the machine of each run, for the requirements above (MachineAttrMachine0).",
        "job_machine_attrs = Machine",
        "job_machine_attrs_history_length = {}".format(min(batch.max_retries + 1, 10)),
    ]


def _placement(batch: Batch) -> List[str]:
    lines = []
    if batch.project is not None:
        lines += ["", "# The OSPool project these jobs are accounted to (quoted).",
                  '+ProjectName = "{}"'.format(check_line(batch.project, "--project", quoted=True))]
    if batch.container is not None:
        image = check_line(batch.container, "--container")
        lines += ["", "# Run inside this container image (it needs a python3 >= 3.9){}.".format(
            "; HTCondor puts the machine's Arch in $$(Arch)" if ARCH_PLACEHOLDER in image else ""),
                  "container_image = {}".format(image.replace(ARCH_PLACEHOLDER, "$$(Arch)"))]
    expression = requirements(batch)
    if expression is not None:
        why = ["the machines the pex carries libraries for"]
        if batch.os_check:
            why.append("not OSPool workers whose OS has no Python 3.9+ (--no-os-check)")
        if batch.max_retries:
            why.append("not the machine where this job last found no usable Python")
        if batch.requirements:
            why.append("and --requirements")
        lines += [""] + ["# " + line for line in textwrap.wrap("Only on " + "; ".join(why) + ".", 94)]
        lines.append("requirements = {}".format(expression))
    return lines


def describe(batch: Batch) -> str:
    """The text of submit.sub for BATCH (paths relative to the submit directory, batch.workdir)."""
    items_file = TRANSFERS_FILE if batch.transfers is not None else CHUNKS_FILE
    variables = "start,count,objects" if batch.transfers is not None else "start,count"
    lines = [
        "# photodemo: average luminance of archive photos, one job per chunk of up to {} records."
        .format(max(chunk.count for chunk in batch.chunks)),
        "# Written by ./submit: the job of each node of photodemo.dag, its chunk (START COUNT) in",
        "# the node's VARS. Alone, one job per chunk in one cluster:",
        "#   condor_submit {} -queue '{} from {}'".format(SUBMIT_FILE, variables, items_file),
        "",
    ]
    lines += _program(batch) + _files(batch) + _resources(batch) + _retries(batch)
    lines += _placement(batch)
    items(batch)  # every check before the first write
    return "\n".join(lines) + "\n"


def items(batch: Batch) -> str:
    """The queue's items for submit.sub run alone: transfers.txt (`START COUNT OBJECTS`, with
    --transfer-osdf) or chunks.txt (`START COUNT`)."""
    lines = []
    for chunk in batch.chunks:
        lines.append(" ".join(["{} {}".format(chunk.start, chunk.count)] + [objects(batch, chunk)]).rstrip())
    return "\n".join(lines) + "\n"


def objects(batch: Batch, chunk: Chunk) -> str:
    """The OSDF objects HTCondor transfers into CHUNK's sandbox, as a transfer list ("" without)."""
    if batch.transfers is None:
        return ""
    urls = batch.transfers.get(chunk.start, ())
    for url in urls:  # transfers.collect lets none through; a bad one would break the list
        if _UNSAFE_PATH.search(url):
            raise UsageError("{}: cannot be written in an HTCondor transfer list".format(url))
    return ", ".join(urls)


def write(batch: Batch, text: str) -> str:
    """Write TEXT (from describe) as submit.sub and its items (chunks.txt or transfers.txt) in
    batch.workdir, atomically (the other items file is removed), and create the log/ directory
    condor_submit expects; the path of submit.sub."""
    workdir = batch.workdir
    os.makedirs(os.path.join(workdir, LOG_DIR), exist_ok=True)
    name = TRANSFERS_FILE if batch.transfers is not None else CHUNKS_FILE
    other = CHUNKS_FILE if batch.transfers is not None else TRANSFERS_FILE
    write_atomically(os.path.join(workdir, name), items(batch))
    if os.path.exists(os.path.join(workdir, other)):
        os.remove(os.path.join(workdir, other))
    path = os.path.join(workdir, SUBMIT_FILE)
    write_atomically(path, text)
    return path
