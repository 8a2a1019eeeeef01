"""HTCondor's job event log (`job.log`): what happened to every job of a run, as HTCondor saw it.

The event log is the record HTCondor itself keeps for the user (condor_watch_q and condor_wait
read it). ./submit reads DAGMan's own job's log (photodemo.dag.dagman.log: does DAGMan still run
the run?) and its nodes' log (what --test's jobs used). The reader is our own, over the log's
documented text format, because ./submit runs on a bare python3 (stdlib only): the access
point's python3 need not have
HTCondor's bindings (`htcondor.JobEventLog`), and the `htcondor` module on PyPI must match the
pool's version. tests/test_eventlog.py checks this reader against `htcondor.JobEventLog` on logs
written by a real pool.

An event is a header line `CODE (CLUSTER.PROC.SUB) DATE TIME TEXT`, indented detail lines, and a
line `...`. Only complete events are read: a job writing its next event meanwhile is fine.
"""

import os
import re
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

from luminance.core.errors import UsageError
from luminance.core.files import Refused, open_regular

__all__ = ["Event", "Job", "events", "jobs", "IDLE", "RUNNING", "HELD", "DONE", "REMOVED"]

# Event codes (HTCondor manual, "Job Event Log Codes").
SUBMIT, EXECUTE, EXECUTABLE_ERROR, CHECKPOINTED, EVICTED, TERMINATED = 0, 1, 2, 3, 4, 5
IMAGE_SIZE, SHADOW_EXCEPTION, ABORTED, HELD_EVENT, RELEASED = 6, 7, 9, 12, 13

IDLE, RUNNING, HELD, DONE, REMOVED = "idle", "running", "held", "done", "removed"

# Far above what a run's log holds, and what is larger is refused unread (docs/reliability.md).
MAX_LOG_BYTES = 1 << 30
MAX_LINE = 64 << 10  # a longer line is read in pieces, none of which is an event's header
MAX_DETAIL = 64  # detail lines kept of one event: HTCondor writes about 20 at most

_HEADER = re.compile(r"^(\d{3}) \((\d+)\.(-?\d+)\.\d+\) (\S+ \S+) ?(.*)$")
_RETURN = re.compile(r"\(return value (-?\d+)\)")
_SIGNAL = re.compile(r"\(signal (\d+)\)")
_HOLD_CODES = re.compile(r"^Code (\d+) Subcode (-?\d+)$")
_USAGE_ROW = re.compile(r"^(Cpus|Disk \(KB\)|Memory \(MB\))\s*:\s*(\d+)\b")
_MEMORY_UPDATE = re.compile(r"^(\d+)\s+-\s+MemoryUsage of job \(MB\)")
_HOST = re.compile(r"^SlotName: (\S+)")


class Event(NamedTuple):
    """One event: its code, job id, time ('YYYY-MM-DD HH:MM:SS' as logged), text and detail lines."""

    code: int
    cluster: int
    proc: int
    time: str
    text: str
    detail: Tuple[str, ...]


class Job:
    """What the event log says about one job (CLUSTER.PROC), after every event read so far."""

    __slots__ = ("cluster", "proc", "status", "exit_code", "signal", "hold_reason", "hold_code",
                 "hold_subcode", "holds", "starts", "memory_mb", "disk_kb", "slot", "since")

    def __init__(self, cluster: int, proc: int):
        self.cluster, self.proc = cluster, proc
        self.status = IDLE
        self.exit_code: Optional[int] = None
        self.signal: Optional[int] = None
        self.hold_reason = ""
        self.hold_code: Optional[int] = None
        self.hold_subcode: Optional[int] = None
        self.holds = 0
        self.starts = 0
        self.memory_mb: Optional[int] = None  # peak memory usage HTCondor measured
        self.disk_kb: Optional[int] = None
        self.slot = ""
        self.since = ""  # time of the event that set the status

    @property
    def id(self) -> str:
        return "{}.{}".format(self.cluster, self.proc)

    @property
    def active(self) -> bool:
        """Still in the queue: idle, running or held."""
        return self.status in (IDLE, RUNNING, HELD)

    def apply(self, event: Event) -> None:
        code = event.code
        if code in (SUBMIT, EVICTED, SHADOW_EXCEPTION, RELEASED):
            self.status = IDLE
        elif code == EXECUTE:
            self.status, self.starts = RUNNING, self.starts + 1
            for line in event.detail:
                match = _HOST.match(line)
                if match:
                    self.slot = match.group(1)
        elif code == TERMINATED:
            self._terminated(event)
        elif code == ABORTED:
            self.status = REMOVED
        elif code == HELD_EVENT:
            self._held(event)
        elif code == IMAGE_SIZE:
            for line in event.detail:
                match = _MEMORY_UPDATE.match(line)
                if match:
                    self.memory_mb = max(self.memory_mb or 0, int(match.group(1)))
        else:
            return
        self.since = event.time

    def _terminated(self, event: Event) -> None:
        self.status = DONE
        text = " ".join(event.detail[:1])
        match = _RETURN.search(text)
        self.exit_code = int(match.group(1)) if match else None
        match = _SIGNAL.search(text)
        self.signal = int(match.group(1)) if match else None
        for line in event.detail:
            match = _USAGE_ROW.match(line)
            if match and match.group(1) == "Memory (MB)":
                self.memory_mb = max(self.memory_mb or 0, int(match.group(2)))
            elif match and match.group(1) == "Disk (KB)":
                self.disk_kb = int(match.group(2))

    def _held(self, event: Event) -> None:
        self.status, self.holds = HELD, self.holds + 1
        self.hold_reason, self.hold_code, self.hold_subcode = "", None, None
        for line in event.detail:
            match = _HOLD_CODES.match(line)
            if match:
                self.hold_code, self.hold_subcode = int(match.group(1)), int(match.group(2))
            elif not self.hold_reason:
                self.hold_reason = line


def events(path: str) -> Iterator[Event]:
    """Every complete event in the event log at PATH (none when there is no such file). Only a
    regular file is read (files.open_regular), at most MAX_LOG_BYTES of it and MAX_LINE bytes
    of a line: UsageError naming PATH for a FIFO, a device or a larger file."""
    try:
        stream = open_regular(path, MAX_LOG_BYTES, "an event log")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError("{}: HTCondor's event log cannot be read: {}".format(
            path, exc if isinstance(exc, Refused) else exc.strerror or exc)) from None
    with stream:
        header: Optional[re.Match] = None
        detail: List[str] = []
        left = MAX_LOG_BYTES
        while left > 0:
            raw = stream.readline(min(MAX_LINE, left))
            if not raw:
                break
            left -= len(raw)
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if header is None:
                header = _HEADER.match(line)
                detail = []
                continue
            if line == "...":
                yield Event(int(header.group(1)), int(header.group(2)), int(header.group(3)),
                            header.group(4), header.group(5).strip(), tuple(detail))
                header = None
            elif len(detail) < MAX_DETAIL:
                detail.append(line.strip())


def jobs(path: str, clusters: Optional[List[int]] = None) -> Dict[Tuple[int, int], Job]:
    """{(cluster, proc): Job} for every job in the event log at PATH (of CLUSTERS only, if given)."""
    found: Dict[Tuple[int, int], Job] = {}
    wanted = None if clusters is None else set(clusters)
    for event in events(path):
        if event.proc < 0 or (wanted is not None and event.cluster not in wanted):
            continue  # a cluster-level event (late materialization), or another run's job
        key = (event.cluster, event.proc)
        job = found.get(key)
        if job is None:
            job = found[key] = Job(event.cluster, event.proc)
        job.apply(event)
    return found


def size(path: str) -> int:
    """The log's size (0 when missing): --wait rereads it only when it grew."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
