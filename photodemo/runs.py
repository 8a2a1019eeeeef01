"""The run record (`submit.json` in the submit directory): the plan of a run and its clusters.

./submit writes it when it starts a run: the options that shape the jobs (--chunk, --manifest,
--metric, ...), so `./submit --missing` needs no option repeated; and after each condor_submit,
the cluster and which chunk each of its jobs runs (ProcId N runs the Nth chunk of the queue
list), so that the event log's `CLUSTER.PROC` can be read as a chunk.
"""

import json
import os
from typing import Dict, List, NamedTuple, Optional, Tuple

from luminance.errors import UsageError
from luminance.files import Refused, open_regular, write_atomically

__all__ = ["RUN_FILE", "Record", "load", "start", "add_cluster"]

RUN_FILE = "submit.json"
FORMAT = "photodemo-run/1"
# Options of a command line that say how to run, not what the jobs are: never recorded.
MODE_FLAGS = ("--missing", "--dry-run", "--local", "--wait")
MODE_OPTIONS = ("--jobs", "--test")
MAX_BYTES = 64 << 20  # a record of a million clusters is ~20 MB; larger is refused unread


class Record(NamedTuple):
    """A run: the options of its first command line, and {cluster: [chunk start of each proc]}."""

    options: List[str]
    clusters: Dict[int, List[int]]

    def chunk_of(self) -> Dict[Tuple[int, int], int]:
        """{(cluster, proc): chunk start} for every job submitted in this run."""
        return {(cluster, proc): start for cluster, starts in self.clusters.items()
                for proc, start in enumerate(starts)}


def plan_options(argv: List[str]) -> List[str]:
    """ARGV without the options that only say how to run (--missing, --local, --jobs N, ...)."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
            continue
        name = word.split("=", 1)[0]
        if name in MODE_FLAGS:
            continue
        if name in MODE_OPTIONS:
            skip = "=" not in word
            continue
        kept.append(word)
    return kept


def load(workdir: str) -> Optional[Record]:
    """The run record in WORKDIR, None when there is none; UsageError naming it when unreadable."""
    path = os.path.join(workdir, RUN_FILE)
    try:
        with open_regular(path, MAX_BYTES, "a run record") as stream:
            data = json.loads(stream.read(MAX_BYTES + 1).decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:
        why = "JSON nested too deeply" if isinstance(exc, RecursionError) else \
            str(exc) if isinstance(exc, Refused) else str(exc)[:200]
        raise UsageError("{}: unreadable run record ({}); remove it to start a new run"
                         .format(path, why)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError("{}: not a photodemo run record".format(path))
    options = data.get("options")
    clusters = data.get("clusters")
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options) \
            or not isinstance(clusters, dict):
        raise UsageError("{}: damaged run record (options, clusters)".format(path))
    try:
        parsed = {int(cluster): [int(start) for start in starts]
                  for cluster, starts in clusters.items()}
    except (TypeError, ValueError):
        raise UsageError("{}: damaged run record (clusters)".format(path)) from None
    return Record(options, parsed)


def _save(workdir: str, record: Record) -> None:
    data = {"format": FORMAT, "options": record.options,
            "clusters": {str(cluster): starts for cluster, starts in sorted(record.clusters.items())}}
    write_atomically(os.path.join(workdir, RUN_FILE), json.dumps(data, indent=1) + "\n")


def start(workdir: str, argv: List[str]) -> Record:
    """Record a new run, planned by ARGV (its mode options left out); the record."""
    record = Record(plan_options(argv), {})
    _save(workdir, record)
    return record


def add_cluster(workdir: str, cluster: int, starts: List[int]) -> None:
    """Add CLUSTER, whose jobs run the chunks at STARTS in ProcId order, to WORKDIR's record."""
    record = load(workdir) or Record([], {})
    record.clusters[cluster] = list(starts)
    _save(workdir, record)
