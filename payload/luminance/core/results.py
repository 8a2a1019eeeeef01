"""The results file: one JSON document per job, the one definition shared by payload, submit and aggregate.

Schema `photodemo-results/1` (documented in docs/results.md):

    {
      "schema": "photodemo-results/1",
      "job": {host, site, start, count, records, metric, manifest, payload_version, python,
              pillow, requests, workers, cpus, started, ended, elapsed, rate, complete, error},
              -- the fields of `Job` below, which defines them
      "photos":   [{record, line, url, year, luminance, width, height, mode, bytes}, ...],
      "failures": [{record, line, url, reason, transient}, ...]
    }

`record` is the 0-based record number in the whole manifest, `line` its 1-based line number.
`year` is null when unknown. `luminance` is a float (the metric named in job.metric). A failure's
`url` is null when the line had none; `transient` is true for failures worth retrying (timeouts,
HTTP 429/5xx, dropped connections). `job.records` is how many records the job found in its
range (fewer than `count` where the manifest ends first). `job.complete` is false when the job
was interrupted (its unfinished records are transient failures) or could not run at all; then
`job.error` says why (e.g. an unreadable manifest), else it is null. `job.site` is the OSG site
from the HTCondor machine ad, or null.
Files are written atomically (temporary file in the same directory, then rename).

A job ends through `finish`, whatever ends it (its work done, an error, a signal, a worker
without the libraries it needs): the file it writes keeps every entry of the results file it was
given (HTCondor sends the chunk's earlier file into a rerun's sandbox), so that a rerun never
sends back less than it received (docs/reliability.md).
"""

import json
import math
import operator
import os
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union, cast

from luminance.core.errors import ResultsError
from luminance.core.files import Refused, open_regular, write_atomically

__all__ = ["SCHEMA", "METRICS", "DEFAULT_METRIC", "MAX_RECORDS", "MAX_FILE_BYTES", "Job", "PHOTO_FIELDS",
           "FAILURE_FIELDS", "epoch", "new_document", "photo", "failure", "rank", "better", "write", "read",
           "validate", "expected_range", "Coverage", "coverage", "transient_failures", "merge_entries",
           "earlier", "finish"]

SCHEMA = "photodemo-results/1"
METRICS = ("perceived", "luma", "relative")  # job.metric: what `luminance` means (metrics.py)
DEFAULT_METRIC = "perceived"
MAX_RECORDS = 1 << 28  # record numbers are below this: readers keep a bitmap of them (32 MB at most)
# A results file is read whole: this is far above the file of any chunk worth submitting, and what
# is larger (or endless, as /dev/zero behind a symlink) is refused unread (docs/reliability.md, rule 2).
MAX_FILE_BYTES = 256 << 20
MAX_EPOCH = 253402300799  # 9999-12-31 23:59:59 UTC: the last second a date can name
MAX_SECONDS = 1e9  # elapsed: about 30 years
PHOTO_FIELDS = ("record", "line", "url", "year", "luminance", "width", "height", "mode", "bytes")
FAILURE_FIELDS = ("record", "line", "url", "reason", "transient")

_Number = Union[int, float]
_TEXT = (str, type(None))
_COUNT = (int, type(None))
_NUMBER = (int, float, type(None))


class Job(NamedTuple):
    """The job record of a results file: every field, in file order, with its type and default.

    The payload writes one (`Job(...)._asdict()`, through new_document); validate checks a file's
    record against it and readers take it back with `Job.of(document)`. Files from older payloads
    lack some fields (site, error): those read as their defaults. `started`/`ended` are ISO 8601
    texts (older files: seconds since the epoch); `complete` None means the file does not say."""

    host: Optional[str] = None
    site: Optional[str] = None
    start: int = 0
    count: int = 0  # type: ignore[assignment]  # the file's JSON key; hides tuple.count, unused here
    records: Optional[int] = None
    metric: Optional[str] = None
    manifest: Optional[str] = None
    payload_version: Optional[str] = None
    python: Optional[str] = None
    pillow: Optional[str] = None
    requests: Optional[str] = None
    workers: Optional[int] = None
    cpus: Optional[int] = None
    started: Union[str, _Number, None] = None
    ended: Union[str, _Number, None] = None
    elapsed: Optional[float] = None
    rate: Optional[float] = None
    complete: Optional[bool] = None
    error: Optional[str] = None

    @property
    def stop(self) -> int:
        """One past the last record of the job's range."""
        return self.start + self.count

    @classmethod
    def from_dict(cls, data: Any, name: str = "results") -> "Job":
        """The job record DATA (a file's "job" object) checked field by field; ResultsError naming
        NAME and the field otherwise. Fields this version does not know are ignored."""
        if not isinstance(data, dict):
            raise ResultsError("{}: results document has no \"job\" object".format(name))
        for field in ("start", "count"):
            if type(data.get(field)) is not int:
                raise ResultsError("{}: results document has no valid \"job\" (start, count)".format(name))
        values: Dict[str, Any] = {}
        for field, (types, low, high) in _JOB_CHECKS.items():
            value: Any = data.get(field)
            if type(value) not in types or (type(value) in (int, float) and not low <= value <= high) or \
                    (field in ("started", "ended") and type(value) is str and epoch(value) is None):
                raise ResultsError("{}: job.{} is not {} ({})".format(
                    name, field, _JOB_HELP[field], _shown(value)))
            values[field] = value
        return cls(**values)

    @classmethod
    def of(cls, document: Dict[str, Any], name: str = "results") -> "Job":
        """The job record of a results document."""
        return cls.from_dict(document.get("job"), name)


# field -> (types allowed, lowest and highest value of a number)
_JOB_CHECKS = {
    "host": (_TEXT, 0, 0), "site": (_TEXT, 0, 0), "start": ((int,), 0, MAX_RECORDS),
    "count": ((int,), 0, math.inf), "records": (_COUNT, 0, math.inf), "metric": (_TEXT, 0, 0),
    "manifest": (_TEXT, 0, 0), "payload_version": (_TEXT, 0, 0), "python": (_TEXT, 0, 0),
    "pillow": (_TEXT, 0, 0), "requests": (_TEXT, 0, 0), "workers": (_COUNT, 0, math.inf),
    "cpus": (_COUNT, 0, math.inf), "started": (_TEXT + (int, float), 0, MAX_EPOCH),
    "ended": (_TEXT + (int, float), 0, MAX_EPOCH), "elapsed": (_NUMBER, 0, MAX_SECONDS),
    "rate": (_NUMBER, 0, 1e12), "complete": ((bool, type(None)), 0, 0), "error": (_TEXT, 0, 0),
}
_JOB_HELP = {field: "text or null" if types == _TEXT else
             "an integer from {} to {}".format(low, high) if types == (int,) and high < math.inf else
             "an integer of 0 or more" if types == (int,) else
             "an integer of 0 or more, or null" if types == _COUNT else
             "a number from 0 to {:.0e}, or null".format(high) if types == _NUMBER else
             "true, false or null" if field == "complete" else
             "a time (ISO 8601 text, or seconds since 1970 before year 10000), or null"
             for field, (types, low, high) in _JOB_CHECKS.items()}
assert set(_JOB_CHECKS) == set(Job._fields)


def epoch(value: Union[str, _Number, None]) -> Optional[float]:
    """Seconds since 1970 of a job's started/ended (an ISO 8601 text or a number), or None when it
    names no time from 1970 to 9999 (naive times are UTC)."""
    if isinstance(value, str):
        try:
            stamp = _fromisoformat(value.strip()[:40].replace("Z", "+00:00"))
            value = (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()
        except (ValueError, OverflowError, OSError):
            return None
    if type(value) not in (int, float):  # bool is no time
        return None
    number = cast(_Number, value)  # what the type() test above narrows to, which mypy cannot see
    return float(number) if 0 <= number <= MAX_EPOCH else None


# The job writes ISO 8601 times of datetime.isoformat(); Python 3.6, which the job meets on EL8
# workers and must still read an earlier results file on (finish), lacks fromisoformat.
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,6})\d*)?)?)?"
                  r"(?:([+-])(\d\d):(\d\d))?$")


def _fromisoformat(text: str) -> datetime:
    return datetime.fromisoformat(text) if hasattr(datetime, "fromisoformat") else _parse_iso(text)


def _parse_iso(text: str) -> datetime:
    """What datetime.fromisoformat makes of the times isoformat() writes; ValueError otherwise."""
    match = _ISO.match(text)
    if not match:
        raise ValueError(text)
    parts = [int(part) if part and part.isdigit() else 0 for part in match.groups()]
    year, month, day, hour, minute, second, fraction = parts[:7]
    zone = None
    if match.group(8):
        offset = timedelta(hours=parts[8], minutes=parts[9])
        zone = timezone(-offset if match.group(8) == "-" else offset)
    return datetime(year, month, day, hour, minute, second,
                    int((match.group(7) or "0").ljust(6, "0")), zone)


def _shown(value: Any) -> str:
    scalar = isinstance(value, (str, int, float, bool, type(None)))
    text = json.dumps(value) if scalar else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def new_document(job: Union[Job, Dict[str, Any]]) -> Dict[str, Any]:
    """An empty results document for JOB (a Job, or a dict of Job's fields: an unknown one is a
    TypeError, a missing one its default)."""
    record = job if isinstance(job, Job) else Job(**job)
    return {"schema": SCHEMA, "job": record._asdict(), "photos": [], "failures": []}


def photo(record: int, line: int, url: str, year: Optional[int], luminance: float, width: int,
          height: int, mode: str, nbytes: int) -> Dict[str, Any]:
    """One analyzed photo's entry."""
    return {"record": record, "line": line, "url": url, "year": year, "luminance": luminance,
            "width": width, "height": height, "mode": mode, "bytes": nbytes}


def failure(record: int, line: int, url: Optional[str], reason: str,
            transient: bool) -> Dict[str, Any]:
    """One failed record's entry."""
    return {"record": record, "line": line, "url": url, "reason": reason, "transient": transient}


def rank(entry: Dict[str, Any]) -> int:
    """How good an entry is for its record: 2 a photo, 1 a permanent failure, 0 a transient one."""
    return 2 if "luminance" in entry else 0 if entry.get("transient") else 1


def better(kept: Dict[str, Any], new: Dict[str, Any]) -> Dict[str, Any]:
    """The entry to keep for one record seen twice: a photo over a permanent failure over a
    transient one; KEPT when they are equally good, so that the outcome depends only on the order
    files are read in, which readers fix (aggregate reads them sorted)."""
    return new if rank(new) > rank(kept) else kept


def dumps(document: Dict[str, Any]) -> str:
    """The document as JSON text: one photo or failure per line, so files diff and grep well."""
    head = {k: v for k, v in document.items() if k not in ("photos", "failures")}
    parts = [json.dumps(head, ensure_ascii=False)[:-1]]
    for key in ("photos", "failures"):
        items = ",\n  ".join(json.dumps(item, ensure_ascii=False) for item in document[key])
        parts.append(', "{}": [\n  {}\n]'.format(key, items) if items else ', "{}": []'.format(key))
    return "".join(parts) + "}\n"


def write(path: str, document: Dict[str, Any]) -> None:
    """Write DOCUMENT to PATH atomically: a killed job never leaves a half-written file."""
    text = dumps(document)
    try:
        write_atomically(path, text, durable=True)
    except OSError as exc:
        raise ResultsError("{}: cannot write results: {}".format(path, exc.strerror or exc)) from None


# The types each entry's fields may have (a photo's year null when unknown, a failure's url null
# when its line had none): checked as one tuple of types, which costs a photo well under a microsecond.
_PHOTO_TYPES = {(int, int, str, year, lum, int, int, str, int)
                for year in (int, type(None)) for lum in (float, int)}
_FAILURE_TYPES = {(int, int, url, str, bool) for url in (str, type(None))}


def validate(document: Any, name: str = "results") -> Dict[str, Any]:
    """DOCUMENT if it is a results document of a known schema version whose job record and entries
    have the fields and types of this schema, else ResultsError naming NAME and what is wrong.
    Values are the readers' to judge (a record outside the job's range, a luminance outside 0..1)."""
    if not isinstance(document, dict):
        raise ResultsError("{}: not a photodemo results document (top level is not an object)".format(name))
    schema = document.get("schema")
    if schema != SCHEMA:
        if isinstance(schema, str) and schema.startswith("photodemo-results/"):
            raise ResultsError("{}: unknown results schema version {!r} (this photodemo reads {!r})"
                               .format(name, schema[:40], SCHEMA))
        raise ResultsError("{}: not a photodemo results document (no \"schema\": {!r})".format(name, SCHEMA))
    Job.of(document, name)
    for key, fields, allowed in (("photos", PHOTO_FIELDS, _PHOTO_TYPES),
                                 ("failures", FAILURE_FIELDS, _FAILURE_TYPES)):
        items = document.get(key)
        if not isinstance(items, list):
            raise ResultsError("{}: results document has no \"{}\" list".format(name, key))
        get = operator.itemgetter(*fields)
        for number, item in enumerate(items):
            try:
                values = get(item)
            except (KeyError, TypeError):
                raise ResultsError("{}: {}[{}] lacks one of {}".format(
                    name, key, number, ", ".join(fields))) from None
            if tuple(map(type, values)) not in allowed:
                raise ResultsError("{}: {}[{}] has a field of the wrong type ({})".format(
                    name, key, number, ", ".join("{} {}".format(field, type(value).__name__)
                                                 for field, value in zip(fields, values))))
    return document


def read(path: str) -> Dict[str, Any]:
    """The validated results document at PATH, or ResultsError naming the file and what is wrong.
    Only a regular file of at most MAX_FILE_BYTES is read: a FIFO, a device or a huge file is
    refused without waiting on it or reading it."""
    text = _read_text(path)
    if not text.strip():
        raise ResultsError("{}: empty results file".format(path))
    try:
        document = json.loads(text)
    except ValueError as exc:  # also a number of more digits than int() converts
        raise ResultsError("{}: corrupt results file (invalid JSON: {})".format(
            path, str(exc)[:200])) from None
    except RecursionError:
        raise ResultsError("{}: corrupt results file (JSON nested too deeply)".format(path)) from None
    return validate(document, path)


def _read_text(path: str) -> str:
    try:
        with open_regular(path, MAX_FILE_BYTES, "a results file") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except Refused as exc:
        raise ResultsError("{}: {}; skipped unread".format(path, exc)) from None
    except OSError as exc:
        raise ResultsError("{}: cannot read results: {}".format(path, exc.strerror or exc)) from None
    if len(data) > MAX_FILE_BYTES:  # it grew while we read
        raise ResultsError("{}: more than a results file may hold ({} MiB)".format(
            path, MAX_FILE_BYTES >> 20))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ResultsError("{}: not a results file (not UTF-8 text)".format(path)) from None


def expected_range(job: Job, manifest_records: Optional[int] = None) -> Tuple[int, int]:
    """The records [lo, hi) JOB had to account for: its range, cut where the manifest ends (as
    MANIFEST_RECORDS says, or as the job found it when it ran to completion) and at MAX_RECORDS."""
    stop = job.stop
    if job.complete and not job.error and job.records is not None and job.records < job.count:
        stop = job.start + job.records
    if manifest_records is not None:
        stop = min(stop, manifest_records)
    return job.start, max(min(stop, MAX_RECORDS), job.start)


class Coverage(NamedTuple):
    """How much of its expected range a results file accounts for, counted from its entries."""

    settled: int  # records with a photo or a permanent failure
    transient: int  # records whose only entries are transient failures: a rerun may settle them
    expected: int  # records the job had to account for (expected_range)

    @property
    def held(self) -> int:
        """Records with an entry of any kind."""
        return self.settled + self.transient


def coverage(document: Dict[str, Any], manifest_records: Optional[int] = None) -> Coverage:
    """The Coverage of DOCUMENT's expected range: a file is complete when `held == expected`,
    and needs no rerun when `settled == expected`, whatever its `complete` says."""
    lo, hi = expected_range(Job.of(document), manifest_records)
    settled = {item["record"] for item in document["photos"]}
    settled.update(item["record"] for item in document["failures"] if not item.get("transient"))
    transient = {item["record"] for item in document["failures"] if item.get("transient")} - settled
    return Coverage(sum(1 for record in settled if lo <= record < hi),
                    sum(1 for record in transient if lo <= record < hi), hi - lo)


def transient_failures(document: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The failures of a results document that a rerun may fix."""
    return [item for item in document["failures"] if item.get("transient")]


def merge_entries(*runs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One entry per record, in record order, from the photo and failure entries of RUNS (the
    earliest first), each record's chosen by `better`: a rerun never loses a photo it finds."""
    best: Dict[int, Dict[str, Any]] = {}
    for entries in runs:
        for entry in entries:
            kept = best.get(entry["record"])
            best[entry["record"]] = entry if kept is None else better(kept, entry)
    return [best[record] for record in sorted(best)]


def earlier(path: str, job: Union[Job, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The entries of the results file at PATH when it is one of JOB's (the same start, count
    and metric: an earlier run of the same job), in record order; [] when there is no file at
    PATH; ResultsError when the file cannot be read, is not a results file, or is another job's."""
    record = job if isinstance(job, Job) else Job(**job)
    if not os.path.lexists(path):
        return []
    document = read(path)  # only a regular file of a bounded size is read
    other = Job.of(document, path)
    if (other.start, other.count, other.metric) != (record.start, record.count, record.metric):
        raise ResultsError("{}: the results of another job (start {}, count {}, metric {})".format(
            path, other.start, other.count, other.metric))
    return merge_entries(document["failures"], document["photos"])


def finish(path: str, document: Dict[str, Any], urls: Optional[Mapping[int, Optional[str]]] = None,
           given: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Write DOCUMENT, the results of a job that ends now, to PATH with every entry of GIVEN (by
    default `earlier(PATH, ...)`: the file HTCondor sent into the sandbox) that DOCUMENT has no
    better entry for (`better`; a tie keeps DOCUMENT's). URLS, the URL of every record of the
    manifest as the job read it, drops an earlier entry whose record it lacks or names another
    URL for (the manifest changed under it); without URLS (the job read no manifest) every
    earlier entry is kept. Whatever ends a job writes through here, so that the file sent back
    holds at least every photo and failure of the file the job was given. A given file that
    cannot be read or is another job's is replaced. The document written; ResultsError when it
    cannot be written."""
    if given is None:
        try:
            given = earlier(path, document["job"])
        except ResultsError:
            given = []
    if urls is not None:
        given = [entry for entry in given
                 if entry["record"] in urls and urls[entry["record"]] == entry["url"]]
    if given:
        entries = merge_entries(document["photos"], document["failures"], given)
        document["photos"] = [entry for entry in entries if "luminance" in entry]
        document["failures"] = [entry for entry in entries if "luminance" not in entry]
    write(path, document)
    return document
