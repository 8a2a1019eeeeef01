"""The local back end (`./submit --local`): a Batch's jobs, run here the way a worker runs them.

Each attempt of a job gets a fresh sandbox directory holding only what submit.sub transfers (the
pex and the job's input), runs `./luminance.pex results-START.json START COUNT` there with stdin
from the input, stdout and stderr into log/job.output.START and log/job.error.START, and a
worker's bare environment (no PATH, no HOME; TMPDIR and _CONDOR_SCRATCH_DIR = the sandbox;
OMP_NUM_THREADS = PYTHON_CPU_COUNT = request_cpus). The results file is copied back, as HTCondor
transfers it, keeping every entry of the chunk's file it replaces (results.finish). The chunk's
current results file goes into every attempt's sandbox, as submit.sub sends it, so a rerun
starts from what earlier runs measured; exit code 3 (transient failures) is
retried up to max_retries times, as submit.sub's holds and releases do, each earlier attempt's
logs moved aside (log/job.error.START.1, ...).

The parts: `attempt` runs one try of a job in its sandbox, `judge` says how a job ended,
`Progress` renders what the jobs do on a terminal or a log, `Runner` schedules the jobs and
their retries.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from typing import IO, Callable, Dict, List, NamedTuple, Optional, Tuple

from luminance.core import results
from luminance.core.arguments import duration as _duration
from luminance.core.cpus import available_cpus
from luminance.core.errors import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TRANSIENT, EXIT_USAGE,
                                   ResultsError)
from luminance.core.files import copy_atomically
from luminance.core.output import parse_failure_line, parse_photo_line

from photodemo.jobs import LOG_DIR, Chunk
from photodemo import judge as verdicts
from photodemo.batch import Batch, keep_logs

__all__ = ["Outcome", "Runner", "Progress", "attempt", "judge", "summary", "exit_code", "default_jobs"]



# How a job ended: its chunk's verdict (judge.py, the states every reader of a run uses), or,
# where the job never produced a results file to judge, how it stopped.
DONE = verdicts.COMPLETE
TRANSIENT = verdicts.TRANSIENT
INCOMPLETE = verdicts.INCOMPLETE
FAILED = verdicts.FAILED
INTERRUPTED = "interrupted"
NOT_RUN = "not run"

TICK = 0.5  # seconds between progress updates
CA_VARIABLE = "REQUESTS_CA_BUNDLE"  # requests' name for the CA bundle the job verifies HTTPS with


class Outcome(NamedTuple):
    """How one job ended (after its retries)."""

    chunk: Chunk
    state: str
    attempts: int = 0
    exit: Optional[int] = None
    photos: int = 0
    failures: int = 0
    transient: int = 0
    elapsed: float = 0.0
    reason: str = ""
    error_log: str = ""


def job_environment(sandbox: str, cpus: int, pex_root: str) -> Dict[str, str]:
    """A worker's environment, and nothing from ours (no PATH, no HOME) but the CA bundle we give
    requests (REQUESTS_CA_BUNDLE): a local server's own CA, as a pool's job would be given one."""
    env = {
        "PEX_ROOT": pex_root,
        "TMPDIR": sandbox,
        "_CONDOR_SCRATCH_DIR": sandbox,
        "OMP_NUM_THREADS": str(cpus),
        "PYTHON_CPU_COUNT": str(cpus),
    }
    if os.environ.get(CA_VARIABLE):
        env[CA_VARIABLE] = os.environ[CA_VARIABLE]
    return env


def _place(source: str, directory: str, executable: bool = False) -> str:
    """SOURCE hard-linked (or copied) into DIRECTORY, as HTCondor transfers a file to a sandbox.

    An EXECUTABLE is made executable, as HTCondor does; it is copied when it is not already, so
    the user's own file keeps its mode."""
    target = os.path.join(directory, os.path.basename(source))
    if executable and not os.access(source, os.X_OK):
        shutil.copyfile(source, target)
        os.chmod(target, 0o755)
        return target
    try:
        os.link(source, target)
    except OSError:
        shutil.copy(source, target)
    return target


def _last_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            lines = [line.strip() for line in stream if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _count_lines(path: str, parse) -> int:
    """How many lines of a running job's log PARSE (output.py) recognizes: what it has done so far."""
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            return sum(1 for line in stream if parse(line) is not None)
    except OSError:
        return 0


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return "killed by {}".format(signal.Signals(-code).name)
        except ValueError:
            return "killed by signal {}".format(-code)
    return "exit {}".format(code)


def default_jobs(cpus_per_job: int) -> int:
    """As many jobs at once as this machine has CPUs for, each given request_cpus of them."""
    return max(1, available_cpus() // max(1, cpus_per_job))  # affinity and cgroup quota too


def attempt(batch: Batch, chunk: Chunk, number: int, root: str,
            started: Callable[[subprocess.Popen], None], stopped: threading.Event) -> Tuple[int, bool]:
    """Run try NUMBER of CHUNK's job in a fresh sandbox under ROOT: its exit code (negative: a
    signal) and whether it left its results file (copied back unless STOPPED is set by then).
    STARTED(proc) is called once the job runs, so that it can be stopped."""
    sandbox = tempfile.mkdtemp(prefix="job-{}-{}.".format(chunk.start, number), dir=root)
    try:
        pex = _place(batch.payload, sandbox, executable=True)
        stdin = _place(batch.input_path(chunk), sandbox)
        current = os.path.join(batch.results, chunk.results_name)
        if os.path.isfile(current):  # the rerun starts from what earlier runs measured
            shutil.copyfile(current, os.path.join(sandbox, chunk.results_name))
        output = os.path.join(batch.workdir, chunk.output_name)
        error = os.path.join(batch.workdir, chunk.error_name)
        # One unpacking of the libraries shared by every local job: each sandbox unpacking its
        # own (PEX_ROOT=.pex, as submit.sub does on workers) would pay the cold start per job.
        env = job_environment(sandbox, batch.cpus, os.path.join(root, "pex-root"))
        with open(stdin, "rb") as inp, open(output, "wb") as out, open(error, "wb") as err:
            proc = subprocess.Popen(["./" + os.path.basename(pex)] + batch.arguments(chunk),
                                    cwd=sandbox, env=env, stdin=inp, stdout=out, stderr=err,
                                    start_new_session=True)
            started(proc)
            code = proc.wait()
        produced = os.path.join(sandbox, chunk.results_name)
        if not os.path.exists(produced):
            return code, False
        if not stopped.is_set():
            return code, _copy_back(produced, current)
        return code, True
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


def _copy_back(produced: str, current: str) -> bool:
    """Copy the results file a job PRODUCED back over CURRENT, the chunk's, keeping every entry
    of CURRENT (results.finish): a job that ended early, or a boot that found no Python, sends
    back less than it was given. Whether CURRENT now holds what the job produced: an unreadable
    file is not copied over a results file."""
    try:
        document = results.read(produced)
    except ResultsError:
        if os.path.lexists(current):
            return False  # the job's bug; what earlier runs measured stays
        copy_atomically(produced, current)  # nothing to lose: judge reports it as it is
        return True
    try:
        results.finish(current, document)
    except ResultsError as exc:
        raise OSError(str(exc)) from None  # as a failed copy is: this job's failure
    return True


def judge(batch: Batch, chunk: Chunk, attempts: int, code: int, produced: bool,
          elapsed: float) -> Outcome:
    """How CHUNK's job ended, from its last exit CODE and the results file it PRODUCED (or not)."""
    error_log = os.path.normpath(os.path.join(batch.workdir, chunk.error_name))
    path = os.path.join(batch.results, chunk.results_name)
    if code not in (EXIT_OK, EXIT_TRANSIENT):
        detail = _last_line(error_log)
        reason = _describe_exit(code) + ("" if code != EXIT_USAGE else " (usage error)")
        return Outcome(chunk, FAILED, attempts, code, elapsed=elapsed,
                       reason=reason + (": " + detail if detail else ""), error_log=error_log)
    if not produced:
        return Outcome(chunk, FAILED, attempts, code, elapsed=elapsed, error_log=error_log,
                       reason="{} but left no {} (HTCondor would put this job on hold)"
                       .format(_describe_exit(code), chunk.results_name))
    try:
        document = results.read(path)
    except ResultsError as exc:
        return Outcome(chunk, FAILED, attempts, code, elapsed=elapsed, reason=str(exc),
                       error_log=error_log)
    transient = len(results.transient_failures(document))
    verdict = verdicts.judge(path, chunk)  # the rule a DAG node's POST script applies
    state = DONE if verdict.state == verdicts.COMPLETE else \
        TRANSIENT if verdict.state == verdicts.TRANSIENT else INCOMPLETE
    return Outcome(chunk, state, attempts, code, len(document["photos"]),
                   len(document["failures"]), transient, elapsed, error_log=error_log,
                   reason=verdict.detail)


class Runner:
    """Runs a Batch's jobs, JOBS at a time, reporting progress on STREAM."""

    def __init__(self, batch: Batch, jobs: int = 0, stream: IO[str] = None,
                 tty: Optional[bool] = None):
        self.batch = batch
        self.jobs = jobs or default_jobs(batch.cpus)
        self.queue = deque(batch.chunks)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.finished = threading.Event()
        self.workers = 0
        self.running: Dict[int, subprocess.Popen] = {}
        self.outcomes: Dict[int, Outcome] = {}
        self.view = Progress(batch, stream or sys.stdout, tty, self)
        self.root = ""

    # -- one job -------------------------------------------------------------------------------

    def _attempt(self, chunk: Chunk, number: int) -> Tuple[int, bool]:
        def started(proc: subprocess.Popen) -> None:
            with self.lock:
                self.running[chunk.start] = proc
            if self.stopping.is_set():
                self._kill(proc)

        if number > 1:
            keep_logs(self.batch.workdir, chunk)
        try:
            code, produced = attempt(self.batch, chunk, number, self.root, started, self.stopping)
        finally:
            with self.lock:
                self.running.pop(chunk.start, None)
        return code, produced

    def _job(self, chunk: Chunk) -> Outcome:
        batch = self.batch
        began = time.monotonic()
        error_log = os.path.normpath(os.path.join(batch.workdir, chunk.error_name))
        attempts, code, produced = 0, None, False
        while True:
            if self.stopping.is_set():
                return Outcome(chunk, INTERRUPTED if attempts else NOT_RUN, attempts, code)
            attempts += 1
            code, produced = self._attempt(chunk, attempts)
            if self.stopping.is_set():
                return Outcome(chunk, INTERRUPTED, attempts, code, error_log=error_log)
            if code == EXIT_TRANSIENT and attempts <= batch.max_retries:
                self.view.say("job {}: exit {} (transient failures), retry {} of {}".format(
                    chunk.start, code, attempts, batch.max_retries), always=True)
                continue
            break
        return judge(batch, chunk, attempts, code, produced, time.monotonic() - began)

    def _worker(self) -> None:
        try:
            self._work()
        finally:
            with self.lock:
                self.workers -= 1
                if self.workers == 0:
                    self.finished.set()

    def _work(self) -> None:
        while True:
            with self.lock:
                if not self.queue:
                    return
                chunk = self.queue.popleft()
            try:
                outcome = self._job(chunk)
            except OSError as exc:  # the sandbox or a log could not be written
                outcome = Outcome(chunk, FAILED, reason=str(exc))
            except Exception as exc:  # a bug: show it, and let the other jobs go on
                traceback.print_exc()
                outcome = Outcome(chunk, FAILED, reason="internal error: {!r}".format(exc))
            with self.lock:
                self.outcomes[chunk.start] = outcome
            if outcome.state != NOT_RUN:
                self.view.say(Progress.event(outcome), always=outcome.state in (FAILED, TRANSIENT))

    # -- stopping ------------------------------------------------------------------------------

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:
            pass

    def interrupt(self) -> None:
        """Stop: no new jobs, running ones are terminated (their results are not kept)."""
        self.stopping.set()
        with self.lock:
            procs = list(self.running.values())
        for proc in procs:
            self._kill(proc)
        deadline = time.monotonic() + 5
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> List[Outcome]:
        """Run every job; their outcomes in chunk order. Ctrl-C stops and keeps finished results."""
        os.makedirs(os.path.join(self.batch.workdir, LOG_DIR), exist_ok=True)
        os.makedirs(self.batch.results, exist_ok=True)
        self.root = tempfile.mkdtemp(prefix="photodemo-local-")
        self.view.started = time.monotonic()
        threads = [threading.Thread(target=self._worker, daemon=True)
                   for _ in range(min(self.jobs, len(self.batch.chunks)))]
        self.workers = len(threads)
        if not threads:
            self.finished.set()
        interrupted = False
        try:
            for thread in threads:
                thread.start()
            while not self.finished.wait(TICK):
                self.view.show()
            for thread in threads:
                thread.join()
        except KeyboardInterrupt:
            interrupted = True
            self.interrupt()
            for thread in threads:
                thread.join()
        finally:
            if interrupted:
                self.stopping.set()
            shutil.rmtree(self.root, ignore_errors=True)
            self.view.clear()
        return [self.outcomes.get(chunk.start) or Outcome(chunk, NOT_RUN)
                for chunk in self.batch.chunks]


class Progress:
    """What a local run shows: every event on a log; on a terminal, one live line (jobs, photos,
    rate, ETA) and only the events that matter."""

    def __init__(self, batch: Batch, stream: IO[str], tty: Optional[bool], runner: "Runner"):
        self.batch = batch
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.runner = runner
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.progress_shown = False

    def say(self, line: str, always: bool = False) -> None:
        """Print LINE: every event when not on a terminal; on a terminal, only what matters."""
        if self.tty and not always:
            return
        with self.lock:
            self._clear()
            self.stream.write(line + "\n")
            self.stream.flush()

    def _clear(self) -> None:
        if self.progress_shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.progress_shown = False

    def clear(self) -> None:
        with self.lock:
            self._clear()

    @staticmethod
    def event(outcome: Outcome) -> str:
        chunk = outcome.chunk
        head = "job {} (records {}-{})".format(chunk.start, chunk.start, chunk.stop - 1)
        if outcome.state == FAILED:
            return "{}: FAILED, {} — see {}".format(head, outcome.reason, outcome.error_log)
        if outcome.state == INTERRUPTED:
            return "{}: interrupted".format(head)
        text = "{}: {} in {}: {} photos, {} failures".format(
            head, outcome.state, _duration(outcome.elapsed), outcome.photos, outcome.failures)
        if outcome.state == TRANSIENT:
            text += " ({} transient, after {} attempts)".format(outcome.transient, outcome.attempts)
        return text

    def progress(self) -> str:
        """One line: jobs done/running/failed, records handled, rate, ETA."""
        with self.runner.lock:
            outcomes = list(self.runner.outcomes.values())
            running = list(self.runner.running)
        total_jobs, total = len(self.batch.chunks), self.batch.records
        failed = sum(1 for o in outcomes if o.state == FAILED)
        handled = sum(o.chunk.count for o in outcomes)
        photos = sum(o.photos for o in outcomes)
        by_start = {chunk.start: chunk for chunk in self.batch.chunks}
        for start in running:
            chunk = by_start[start]
            analyzed = _count_lines(os.path.join(self.batch.workdir, chunk.output_name),
                                    parse_photo_line)
            failed_records = _count_lines(os.path.join(self.batch.workdir, chunk.error_name),
                                          parse_failure_line)
            handled += min(analyzed + failed_records, chunk.count)
            photos += min(analyzed, chunk.count)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        eta = "ETA {}".format(_duration((total - handled) * elapsed / handled)) if handled else "ETA ?"
        return "jobs {}/{} done, {} running, {} failed | {}/{} photos | {:.1f} photos/s | {}".format(
            len(outcomes) - failed, total_jobs, len(running), failed, photos, total,
            photos / elapsed, eta)

    def show(self) -> None:
        if not self.tty:
            return
        # Longer than the terminal is wide, the line would wrap and \r could not redraw it.
        line = self.progress()[:max(20, shutil.get_terminal_size().columns - 1)]
        with self.lock:
            self.stream.write("\r\x1b[K" + line)
            self.stream.flush()
            self.progress_shown = True


def exit_code(outcomes: List[Outcome]) -> int:
    """0 when every job is done; EXIT_INTERRUPTED, EXIT_FAILED or EXIT_TRANSIENT otherwise."""
    states = {outcome.state for outcome in outcomes}
    if INTERRUPTED in states or NOT_RUN in states:
        return EXIT_INTERRUPTED
    if FAILED in states:
        return EXIT_FAILED
    if TRANSIENT in states or INCOMPLETE in states:
        return EXIT_TRANSIENT
    return EXIT_OK


def summary(outcomes: List[Outcome], elapsed: float) -> List[str]:
    """The lines printed after a local run: totals, then every job that needs attention."""
    counts = {}
    for outcome in outcomes:
        counts[outcome.state] = counts.get(outcome.state, 0) + 1
    order = (DONE, TRANSIENT, INCOMPLETE, FAILED, INTERRUPTED, NOT_RUN)
    states = ", ".join("{} {}".format(counts[state], "with transient failures" if state == TRANSIENT
                                      else state) for state in order if state in counts)
    photos = sum(o.photos for o in outcomes)
    failures = sum(o.failures for o in outcomes)
    transient = sum(o.transient for o in outcomes)
    lines = ["{} job{} in {}: {}".format(len(outcomes), "" if len(outcomes) == 1 else "s",
                                          _duration(elapsed), states),
             "{} photos analyzed, {} failures ({} transient), {:.1f} photos/s".format(
                 photos, failures, transient, photos / max(elapsed, 1e-9))]
    for outcome in outcomes:
        if outcome.state == FAILED:
            lines.append("failed: job {} ({}): {} — see {}".format(
                outcome.chunk.start, outcome.chunk.results_name, outcome.reason,
                outcome.error_log or "its error log"))
        elif outcome.state == TRANSIENT:
            lines.append("transient failures remain: job {} ({} records) — see {}".format(
                outcome.chunk.start, outcome.transient, outcome.error_log))
        elif outcome.state == INCOMPLETE:
            lines.append("incomplete: job {}: {}".format(outcome.chunk.start, outcome.reason))
    return lines
