"""The HTCondor back end: a Batch written as a submit description (submit.sub), and condor_submit.

The description keeps the tutorial's shape and comments (`results-START.json START COUNT`,
`Input = manifest.txt`, `log/job.output.START`), with one `queue start,count from (...)` item list
instead of one block per chunk, plus what a real pool needs: the pex's own sandbox (PEX_ROOT),
the chunk's current results file sent with the job (a rerun keeps what it measured), holds with
readable reasons and bounded, delayed releases instead of silent reruns, and placement on the
machines the pex can run on. `describe` joins one section per concern, each a function below.
"""

import os
import re
import shutil
import subprocess
import textwrap
from typing import List, NamedTuple, Optional

from luminance.errors import EXIT_TRANSIENT, EXIT_UNSUITABLE, UsageError
from luminance.files import write_atomically
from luminance.jobs import ERROR_NAME, LOG_DIR, OUTPUT_NAME, RESULTS_NAME, SLICE_NAME
from photodemo.batch import Batch, relative_to

__all__ = ["SUBMIT_FILE", "USER_LOG", "TRANSFERS_FILE", "describe", "items", "write",
           "find_condor_submit", "condor_submit", "Submitted", "check_line", "check_size",
           "requirements", "HOLD_REASONS", "releasable"]

SUBMIT_FILE = "submit.sub"
# --transfer-osdf: the queue's items, `START COUNT URL, URL, ...` a line (a line per job can hold
# thousands of URLs; outside submit.sub, which stays readable).
TRANSFERS_FILE = "transfers.txt"
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
# What each hold means, and what photodemo does about it (the README's troubleshooting says the same).
HOLD_REASONS = {
    (HOLD_JOB_POLICY, EXIT_TRANSIENT): "some photos failed transiently after the job's own "
                                       "retries; released after the back-off, the rerun keeps "
                                       "every photo measured",
    (HOLD_JOB_POLICY, EXIT_UNSUITABLE): "the worker had no Python the payload can use; released "
                                        "at once, to run on another machine",
    (HOLD_TRANSFER_OUTPUT, None): "HTCondor could not bring the results file back; released "
                                  "after the back-off",
    (HOLD_TRANSFER_INPUT, None): "HTCondor could not send the job its files (pex, manifest, "
                                 "results; with --transfer-osdf, its photos); released after the "
                                 "back-off",
}


def releasable(hold_code: Optional[int], hold_subcode: Optional[int], holds: int,
               max_retries: int) -> bool:
    """Whether submit.sub's periodic_release (`_retries`) releases a job held with HOLD_CODE and
    HOLD_SUBCODE for the HOLDS-th time: one of HOLD_REASONS, up to MAX_RETRIES times."""
    reason = (hold_code, hold_subcode if hold_code == HOLD_JOB_POLICY else None)
    return reason in HOLD_REASONS and holds <= max_retries


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


def _name(path: str, workdir: str, what: str) -> str:
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
    executable = _name(batch.payload, batch.workdir, "payload")
    options = "".join(" " + option for option in batch.options)
    if batch.split:
        stdin = SLICE_NAME.format(start="$(start)")
        comment = "# Each job reads only its own slice of the manifest on stdin (written by ./submit)."
    else:
        stdin = _name(batch.manifest, batch.workdir, "manifest")
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
        "# photo), and HTCondor's own event log for the whole run (condor_watch_q, ./submit --wait",
        "# and --missing read it).",
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
    results = _name(batch.results, batch.workdir, "results")
    current = RESULTS if results == "." else "{}/{}".format(results, RESULTS)
    lines = [
        "",
        "# Workers share no file system with this machine: send the pex, the input and the chunk's",
        "# results file, bring the results file back. ./submit writes a 'pending' results file for",
        "# every chunk that has none, so the file always exists: a rerun (a release, --missing)",
        "# starts from what earlier runs measured and keeps it.",
        "should_transfer_files = YES",
        "when_to_transfer_output = ON_EXIT",
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
        "# Resources (the README's benchmark table has what a job measured). HTCondor sets",
        "# OMP_NUM_THREADS to request_cpus: the job decodes with that many.",
        "request_cpus = {}".format(batch.cpus),
        "request_memory = {}".format(batch.memory),
        "request_disk = {}".format(batch.disk),
    ]


def _retries(batch: Batch) -> List[str]:
    """Holds with a reason and bounded, delayed releases: HTCondor's idiom for a rerun."""
    if batch.max_retries == 0:
        return ["", "# No reruns (--max-retries 0): every exit is final."]
    t, u = EXIT_TRANSIENT, EXIT_UNSUITABLE
    later = "time() - EnteredCurrentStatus > {} * NumHolds".format(batch.backoff)
    return [
        "",
        "# Exit {} (some photos failed transiently after the job's own retries) and exit {} (the".format(t, u),
        "# worker has no Python the payload can use) hold the job with a reason (condor_q -hold).",
        "# photodemo releases it up to {} times: after {} s x the number of holds for exit {}, and"
        .format(batch.max_retries, batch.backoff, t),
        "# after failed file transfers (hold codes {} and {}); at once for exit {}, to run on".format(
            HOLD_TRANSFER_OUTPUT, HOLD_TRANSFER_INPUT, u),
        "# another machine (requirements leave out the machine it failed on). Other exits are final.",
        "on_exit_hold = ExitCode =?= {} || ExitCode =?= {}".format(t, u),
        'on_exit_hold_reason = ifThenElse(ExitCode =?= {}, "photodemo: the worker has no Python '
        'the payload can use (exit {})", "photodemo: photos failed transiently (exit {}), see '
        'the job\'s error log")'.format(u, u, t),
        "on_exit_hold_subcode = ExitCode",
        "periodic_release = NumHolds <= {} && ((HoldReasonCode =?= {} && HoldReasonSubCode =?= {}) "
        "|| ({} && ((HoldReasonCode =?= {} && HoldReasonSubCode =?= {}) || HoldReasonCode =?= {} "
        "|| HoldReasonCode =?= {})))".format(
            batch.max_retries, HOLD_JOB_POLICY, u, later, HOLD_JOB_POLICY, t,
            HOLD_TRANSFER_OUTPUT, HOLD_TRANSFER_INPUT),
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
    if batch.max_running > 0:
        lines += ["", "# At most {} jobs of this run in the queue at once (so at most {} running):"
                  .format(batch.max_running, batch.max_running),
                  "# the load on the photo server is this many jobs' --workers connections.",
                  "max_materialize = {}".format(batch.max_running)]
    return lines


def describe(batch: Batch) -> str:
    """The text of submit.sub for BATCH (paths relative to the submit directory, batch.workdir)."""
    lines = [
        "# photodemo: average luminance of archive photos, {} jobs of up to {} records each."
        .format(len(batch.chunks), max(chunk.count for chunk in batch.chunks)),
        "# Written by ./submit; submit it with `condor_submit {}`.".format(SUBMIT_FILE),
        "",
    ]
    lines += _program(batch) + _files(batch) + _resources(batch) + _retries(batch)
    lines += _placement(batch)
    if batch.transfers is not None:
        items(batch)  # every check before the first write
        lines += ["", "# One job per chunk of the manifest: START COUNT OBJECTS, a line each in {} "
                  "(ProcId N".format(TRANSFERS_FILE),
                  "# runs the Nth line).",
                  "queue start,count,objects from {}".format(TRANSFERS_FILE)]
        return "\n".join(lines) + "\n"
    lines += ["", "# One job per chunk of the manifest: START COUNT (ProcId N runs the Nth line).",
              "queue start,count from ("]
    lines += ["  {} {}".format(chunk.start, chunk.count) for chunk in batch.chunks]
    lines.append(")")
    return "\n".join(lines) + "\n"


def items(batch: Batch) -> Optional[str]:
    """The text of transfers.txt for BATCH (--transfer-osdf), or None without transfers."""
    if batch.transfers is None:
        return None
    lines = []
    for chunk in batch.chunks:
        urls = batch.transfers.get(chunk.start, ())
        for url in urls:  # transfers.collect lets none through; a bad one would break the list
            if _UNSAFE_PATH.search(url):
                raise UsageError("{}: cannot be written in an HTCondor transfer list".format(url))
        lines.append(" ".join(["{} {}".format(chunk.start, chunk.count)] + [", ".join(urls)]).rstrip())
    return "\n".join(lines) + "\n"


def write(workdir: str, text: str, transfers: Optional[str] = None) -> str:
    """Write TEXT (from describe) as WORKDIR/submit.sub and TRANSFERS (from items) as its
    transfers.txt, atomically (a stale transfers.txt is removed), and create the log/ directory
    condor_submit expects; the path of submit.sub."""
    os.makedirs(os.path.join(workdir, LOG_DIR), exist_ok=True)
    listing = os.path.join(workdir, TRANSFERS_FILE)
    if transfers is not None:
        write_atomically(listing, transfers)
    elif os.path.exists(listing):
        os.remove(listing)
    path = os.path.join(workdir, SUBMIT_FILE)
    write_atomically(path, text)
    return path


def find_condor_submit() -> Optional[str]:
    return shutil.which("condor_submit")


class Submitted(NamedTuple):
    returncode: int
    output: str
    cluster: Optional[str]


def condor_submit(workdir: str, command: Optional[str] = None) -> Submitted:
    """Run `condor_submit submit.sub` in WORKDIR; its exit code, output and the cluster id."""
    command = command or find_condor_submit() or "condor_submit"
    proc = subprocess.run([command, SUBMIT_FILE], cwd=workdir, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)
    match = re.search(r"submitted to cluster (\d+)", proc.stdout)
    output = re.sub(r"(submitted to cluster \d+\.)(?=\S)", "\\1\n", proc.stdout)
    return Submitted(proc.returncode, output, match.group(1) if match else None)
