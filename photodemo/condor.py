"""The HTCondor back end: a Batch written as a submit description (submit.sub), and condor_submit.

The description keeps the tutorial's shape and comments (`results-START.json START COUNT`,
`Input = manifest.txt`, `log/job.output.START`), with one `queue start,count from (...)` item list
instead of one block per chunk, plus what the pex needs in a worker's sandbox (see `describe`).
"""

import os
import re
import shutil
import subprocess
from typing import NamedTuple, Optional

from luminance.errors import EXIT_TRANSIENT, UsageError
from luminance.files import write_atomically
from luminance.jobs import ERROR_NAME, OUTPUT_NAME, RESULTS_NAME, SLICE_NAME
from photodemo.batch import Batch, relative_to

__all__ = ["SUBMIT_FILE", "USER_LOG", "describe", "write", "find_condor_submit", "condor_submit",
           "Submitted"]

SUBMIT_FILE = "submit.sub"
USER_LOG = "job.log"
LOG_DIR = os.path.dirname(OUTPUT_NAME)  # made before condor_submit, which does not make it
RESULTS = RESULTS_NAME.format(start="$(start)")
# Characters that would change the meaning of a submit-file line: a path holding one cannot be
# named there safely (whitespace splits arguments and remaps, `$(` starts a macro, `;` and `=`
# separate remaps, quotes end strings).
_UNSAFE_PATH = re.compile(r"""[\s"';=#]|\$\(""")
# A size with its unit: HTCondor reads a bare number as MB for memory but KB for disk.
_SIZE = re.compile(r"^\d+(\.\d+)?\s*[KMGT]B?$", re.IGNORECASE)


def check_size(value: str, option: str) -> str:
    """VALUE if it is a size HTCondor reads (`1GB`, `512 MB`, `2G`), else UsageError naming OPTION."""
    if not _SIZE.match(value.strip()):
        raise UsageError("{} {!r}: not a size with a unit, such as 1GB or 512MB".format(option, value))
    return value.strip()


def check_line(value: str, option: str) -> str:
    """VALUE if it fits on one submit-file line, else UsageError naming OPTION."""
    if not value.strip() or "\n" in value or "\r" in value:
        raise UsageError("{} {!r}: must be one non-empty line".format(option, value))
    return value.strip()


def _name(path: str, workdir: str, what: str) -> str:
    name = relative_to(path, workdir)
    if _UNSAFE_PATH.search(name):
        raise UsageError("{}: {} path cannot be written in an HTCondor submit file (it holds "
                         "whitespace, a quote, ';', '=', '#' or '$('); use a simpler path"
                         .format(path, what))
    return name


def describe(batch: Batch) -> str:
    """The text of submit.sub for BATCH (paths relative to the submit directory, batch.workdir)."""
    workdir = batch.workdir
    executable = _name(batch.payload, workdir, "payload")
    results = _name(batch.results, workdir, "results")
    if batch.split:
        stdin = SLICE_NAME.format(start="$(start)")
        stdin_comment = ("# Each job reads only its own slice of the manifest on stdin (written by "
                         "./submit).")
    else:
        stdin = _name(batch.manifest, workdir, "manifest")
        stdin_comment = ("# Each job reads the whole manifest on stdin and picks its own records "
                         "(START COUNT).")
    if batch.project is not None and '"' in batch.project:
        raise UsageError("--project {!r}: a project name cannot hold a double quote"
                         .format(batch.project))
    options = "".join(" " + option for option in batch.options)
    lines = [
        "# photodemo: average luminance of archive photos, {} jobs of up to {} records each."
        .format(len(batch.chunks), max(chunk.count for chunk in batch.chunks)),
        "# Written by ./submit; submit it with `condor_submit {}`.".format(SUBMIT_FILE),
        "",
        "# The payload: one self-contained executable (Python code, Pillow, requests) that runs",
        "# with the worker's own python3. HTCondor transfers it to the job's sandbox.",
        "executable = {}".format(executable),
        "# Job START analyzes records START .. START+COUNT-1 into results-START.json.",
        "arguments = {} $(start) $(count){}".format(RESULTS, options),
        stdin_comment,
        "input = {}".format(stdin),
        "",
        "# The job's stdout (one [YEAR, LUMINANCE] line per photo) and stderr (one line per failed",
        "# photo), and HTCondor's own event log for the whole cluster (condor_watch_q reads it).",
        "output = {}".format(OUTPUT_NAME.format(start="$(start)")),
        "error = {}".format(ERROR_NAME.format(start="$(start)")),
        "log = {}".format(USER_LOG),
        "batch_name = photodemo",
        "",
        "# Workers share no file system with this machine: send the pex and the input, bring",
        "# back the results file. The payload always writes it (a job whose output file is",
        "# missing would go on hold).",
        "should_transfer_files = YES",
        "when_to_transfer_output = ON_EXIT",
        "transfer_output_files = {}".format(RESULTS),
    ]
    if results != ".":
        lines.append('transfer_output_remaps = "{} = {}/{}"'.format(RESULTS, results, RESULTS))
    lines += [
        "",
        "# The pex unpacks itself on first run; workers have no usable HOME, so unpack into the",
        "# sandbox (a path relative to the job's working directory).",
        'environment = "PEX_ROOT=.pex"',
        "",
        "# Resources. The job's peak memory is about 250 MB; the pex is ~90 MB and unpacks to",
        "# ~200 MB. HTCondor sets OMP_NUM_THREADS to request_cpus: the job decodes with that many.",
        "request_cpus = {}".format(batch.cpus),
        "request_memory = {}".format(batch.memory),
        "request_disk = {}".format(batch.disk),
    ]
    if batch.max_retries > 0:
        lines += [
            "",
            "# Exit code {} means some photos failed transiently (timeouts, HTTP 5xx) after the"
            .format(EXIT_TRANSIENT),
            "# job's own retries: run the job again, up to max_retries times. Any other exit code",
            "# is final (0 = done; permanent failures such as HTTP 404 are recorded in the results).",
            "max_retries = {}".format(batch.max_retries),
            "retry_until = ExitCode =!= {}".format(EXIT_TRANSIENT),
        ]
    if batch.project is not None:
        lines += ["", "# The OSPool project these jobs are accounted to (quoted).",
                  '+ProjectName = "{}"'.format(check_line(batch.project, "--project"))]
    if batch.container is not None:
        lines += ["", "# Run inside this container image (it needs a python3 >= 3.9).",
                  "container_image = {}".format(check_line(batch.container, "--container"))]
    if batch.requirements is not None:
        lines += ["", "# Only on machines matching this expression.",
                  "requirements = {}".format(check_line(batch.requirements, "--requirements"))]
    lines += ["", "# One job per chunk of the manifest: START COUNT."]
    lines.append("queue start,count from (")
    lines += ["  {} {}".format(chunk.start, chunk.count) for chunk in batch.chunks]
    lines.append(")")
    return "\n".join(lines) + "\n"


def write(workdir: str, text: str) -> str:
    """Write TEXT (from describe) as WORKDIR/submit.sub, atomically, and create the log/ directory
    condor_submit expects; the path of submit.sub."""
    os.makedirs(os.path.join(workdir, LOG_DIR), exist_ok=True)
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
    return Submitted(proc.returncode, proc.stdout, match.group(1) if match else None)
