"""The results file: one JSON document per job, the one definition shared by payload, submit and aggregate.

Schema `photodemo-results/1` (documented in README.md):

    {
      "schema": "photodemo-results/1",
      "job": {host, site, start, count, records, metric, manifest, payload_version, python,
              pillow, requests, workers, cpus, started, ended, elapsed, rate, complete, error},
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
"""

import json
from typing import Any, Dict, List, Optional

from luminance.errors import ResultsError
from luminance.files import write_atomically

__all__ = ["SCHEMA", "METRICS", "DEFAULT_METRIC", "JOB_FIELDS", "PHOTO_FIELDS", "FAILURE_FIELDS", "new_document", "photo",
           "failure", "write", "read", "validate", "transient_failures"]

SCHEMA = "photodemo-results/1"
METRICS = ("perceived", "luma", "relative")  # job.metric: what `luminance` means (metrics.py)
DEFAULT_METRIC = "perceived"
JOB_FIELDS = ("host", "site", "start", "count", "records", "metric", "manifest",
              "payload_version", "python", "pillow", "requests", "workers", "cpus", "started",
              "ended", "elapsed", "rate", "complete", "error")
PHOTO_FIELDS = ("record", "line", "url", "year", "luminance", "width", "height", "mode", "bytes")
FAILURE_FIELDS = ("record", "line", "url", "reason", "transient")


def new_document(job: Dict[str, Any]) -> Dict[str, Any]:
    """An empty results document for a job description (a dict of JOB_FIELDS)."""
    return {"schema": SCHEMA, "job": dict(job), "photos": [], "failures": []}


def photo(record: int, line: int, url: str, year: Optional[int], luminance: float, width: int,
          height: int, mode: str, nbytes: int) -> Dict[str, Any]:
    """One analyzed photo's entry."""
    return {"record": record, "line": line, "url": url, "year": year, "luminance": luminance,
            "width": width, "height": height, "mode": mode, "bytes": nbytes}


def failure(record: int, line: int, url: Optional[str], reason: str,
            transient: bool) -> Dict[str, Any]:
    """One failed record's entry."""
    return {"record": record, "line": line, "url": url, "reason": reason, "transient": transient}


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


def validate(document: Any, name: str = "results") -> Dict[str, Any]:
    """DOCUMENT if it is a results document of a known schema version, else ResultsError naming NAME."""
    if not isinstance(document, dict):
        raise ResultsError("{}: not a photodemo results document (top level is not an object)".format(name))
    schema = document.get("schema")
    if schema != SCHEMA:
        if isinstance(schema, str) and schema.startswith("photodemo-results/"):
            raise ResultsError("{}: unknown results schema version {!r} (this photodemo reads {!r})"
                               .format(name, schema, SCHEMA))
        raise ResultsError("{}: not a photodemo results document (no \"schema\": {!r})".format(name, SCHEMA))
    job = document.get("job")
    if not isinstance(job, dict) or not isinstance(job.get("start"), int) \
            or not isinstance(job.get("count"), int):
        raise ResultsError("{}: results document has no valid \"job\" (start, count)".format(name))
    for key, fields in (("photos", PHOTO_FIELDS), ("failures", FAILURE_FIELDS)):
        items = document.get(key)
        if not isinstance(items, list):
            raise ResultsError("{}: results document has no \"{}\" list".format(name, key))
        for number, item in enumerate(items):
            if not isinstance(item, dict) or any(field not in item for field in fields):
                raise ResultsError("{}: {}[{}] lacks one of {}".format(name, key, number, ", ".join(fields)))
            if not isinstance(item["record"], int):
                raise ResultsError("{}: {}[{}] has no integer record number".format(name, key, number))
    for number, item in enumerate(document["photos"]):
        if not isinstance(item["luminance"], (int, float)) or isinstance(item["luminance"], bool):
            raise ResultsError("{}: photos[{}] has no numeric luminance".format(name, number))
    return document


def read(path: str) -> Dict[str, Any]:
    """The validated results document at PATH, or ResultsError naming the file and what is wrong."""
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as exc:
        raise ResultsError("{}: cannot read results: {}".format(path, exc.strerror or exc)) from None
    except UnicodeDecodeError:
        raise ResultsError("{}: not a results file (not UTF-8 text)".format(path)) from None
    if not text.strip():
        raise ResultsError("{}: empty results file".format(path))
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ResultsError("{}: corrupt results file (invalid JSON: {})".format(path, exc)) from None
    return validate(document, path)


def transient_failures(document: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The failures of a results document that a rerun may fix."""
    return [item for item in document["failures"] if item.get("transient")]


def _rank(entry: Dict[str, Any]) -> int:
    if "luminance" in entry:
        return 2
    return 0 if entry.get("transient") else 1


def merge_entries(*runs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One entry per record from the photo and failure entries of RUNS (oldest first), by record.

    The better entry wins: a photo over a permanent failure over a transient one; between equals
    the later run's (its reason is the newer). A rerun, aggregate and rescue all merge this way,
    so measuring a chunk again during a storage outage never loses a photo already measured."""
    best: Dict[int, Dict[str, Any]] = {}
    for entries in runs:
        for entry in entries:
            kept = best.get(entry["record"])
            if kept is None or _rank(entry) >= _rank(kept):
                best[entry["record"]] = entry
    return [best[record] for record in sorted(best)]
