"""The run record (`submit.json` in the submit directory): the plan of a run and its DAGs.

./submit writes it when it starts a run: the options that shape the jobs (--chunk, --manifest,
--metric, ...), so `./submit --missing` needs no option repeated; and after each
condor_submit_dag, the cluster of its DAGMan job, so that whatever follows or completes the run
knows whether DAGMan still runs part of it.
"""

import json
import os
from typing import Dict, List, NamedTuple, Optional

from luminance.core.errors import UsageError
from luminance.core.files import Refused, open_regular, write_atomically

__all__ = ["RUN_FILE", "Record", "load", "start", "add_dag", "plan_options"]

RUN_FILE = "submit.json"
FORMAT = "photodemo-run/2"
MAX_BYTES = 64 << 20  # far more than any run's record; larger is refused unread


class Record(NamedTuple):
    """A run: the options of its first command line, and its DAGMan jobs' clusters in order."""

    options: List[str]
    dags: List[int]


def plan_options(argv: List[str], modes: Dict[str, bool]) -> List[str]:
    """ARGV without the options that only say how to run: MODES, {option: takes a value}
    (./submit's "how to run" group)."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
            continue
        name = word.split("=", 1)[0]
        if name in modes:
            skip = modes[name] and "=" not in word
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
    dags = data.get("dags")
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options) \
            or not isinstance(dags, list) or not all(isinstance(d, int) for d in dags):
        raise UsageError("{}: damaged run record (options, dags)".format(path))
    return Record(options, dags)


def _save(workdir: str, record: Record) -> None:
    data = {"format": FORMAT, "options": record.options, "dags": record.dags}
    write_atomically(os.path.join(workdir, RUN_FILE), json.dumps(data, indent=1) + "\n")


def start(workdir: str, argv: List[str], modes: Dict[str, bool]) -> Record:
    """Record a new run, planned by ARGV (its MODES options left out); the record."""
    record = Record(plan_options(argv, modes), [])
    _save(workdir, record)
    return record


def add_dag(workdir: str, cluster: int) -> None:
    """Add the DAGMan job CLUSTER to WORKDIR's record."""
    record = load(workdir) or Record([], [])
    _save(workdir, record._replace(dags=record.dags + [cluster]))
