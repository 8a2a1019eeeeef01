"""Running one job: fetch and measure a run of manifest records concurrently, report in manifest order.

`workers` threads each fetch one photo at a time, so that many downloads are in flight to hide
the storage server's latency, and hand each body to one of `cpus` decoder threads (Pillow releases
the GIL while decoding): a 1-CPU slot never runs eight decoders. A decoder goes from one photo
straight to the next queued one, without waking another thread or waiting for the GIL behind the
fetch threads: handing a decode slot from thread to thread cost ~8% of the throughput. Memory
stays bounded by `workers` photo bodies plus the decoded images, which all decoders together
keep within one metrics.MemoryBudget.
"""

import ctypes
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from luminance import metrics, results
from luminance.fetch import FetchError, Fetcher
from luminance.manifest import Record, printable

__all__ = ["analyze", "run", "INTERRUPTED"]

INTERRUPTED = "interrupted: the job stopped before this record was analyzed"


def analyze(record: Record, fetcher: Fetcher, metric: str, decoders: Executor,
            limits: metrics.Limits = metrics.Limits(),
            budget: Optional[metrics.MemoryBudget] = None) -> Dict:
    """One record's results entry: an analyzed photo, or a failure saying why.

    Whatever one photo raises is that photo's failure, never the job's: a crafted URL or file
    may make the fetch or a decoder raise anything. The exception's type names an unexpected one."""

    def failure(reason: str, transient: bool = False) -> Dict:
        # A reason may quote a file name that is not UTF-8: as \xNN, so RESULTS stays UTF-8.
        return results.failure(record.index, record.line, record.url, printable(reason), transient)

    if record.error:
        return failure("malformed manifest line: {}".format(record.error))
    try:
        body = fetcher.get(record.url)
    except FetchError as exc:
        return failure(exc.reason, exc.transient)
    except Exception as exc:
        return failure("cannot fetch: {}: {}".format(type(exc).__name__, exc))
    try:
        measured = decoders.submit(metrics.measure, body.data, metric, limits, budget).result()
    except metrics.NotAnImage as exc:
        reason = str(exc)
        if body.content_type and not body.content_type.startswith("image/"):
            reason += " (the server sent {}, {} bytes)".format(body.content_type.split(";")[0],
                                                               len(body.data))
        return failure(reason)
    except Exception as exc:
        return failure("cannot measure: {}: {}".format(type(exc).__name__, exc))
    return results.photo(record.index, record.line, record.url, record.year, measured.luminance,
                         measured.width, measured.height, measured.mode, len(body.data))


def _finished(entry: Dict) -> Future:
    """A future already holding ENTRY (kept from an earlier run)."""
    future: Future = Future()
    future.set_result(entry)
    return future


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8


def tune_malloc(arenas: int) -> bool:
    """Set glibc's malloc up for a job, before its threads start; False where that is not glibc.

    - At most ARENAS arenas: by default glibc gives a threaded process up to 8 per core, each
      keeping the freed photo bodies and pixel buffers it once held; 16 fetch threads took
      320 MB of RSS where 2 arenas take 120 MB, at the same speed.
    - Freed memory stays in the process, up to 512 MB, and blocks of up to 32 MB (a 10 MP
      photo's pixels) come from the arenas rather than from mmap: otherwise every photo's
      pixel buffer went back to the kernel when freed and came back as ~2,000 fresh pages.
      That cost 100,000+ page faults and 10-20% of the throughput per 200 photos; now ~10,000.
      The peak RSS is the same: it is set by the photos in flight, not by what was freed.
    """
    try:
        libc = ctypes.CDLL(None)
        return all([libc.mallopt(M_ARENA_MAX, max(1, arenas)),
                    libc.mallopt(M_TRIM_THRESHOLD, 512 << 20),
                    libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)])
    except (OSError, AttributeError):
        return False


def run(records: Sequence[Record], fetcher: Fetcher, metric: str, workers: int, cpus: int,
        report: Callable[[Dict], None], limits: metrics.Limits = metrics.Limits(),
        budget: Optional[metrics.MemoryBudget] = None,
        known: Optional[Mapping[int, Dict]] = None) -> Tuple[List[Dict], bool]:
    """Analyze RECORDS; call REPORT with each entry in manifest order as soon as it is known.

    A record with an entry in KNOWN (by record number: kept from an earlier run) is not analyzed
    again; that entry is reported in its place. LIMITS and BUDGET bound each decode (metrics.py).

    Returns (entries in manifest order, complete). On KeyboardInterrupt (or whatever the caller's
    signal handler raises as one) the records not yet analyzed become transient failures and
    complete is False: every finished result is kept.
    """
    tune_malloc(max(2, cpus))
    entries: List[Dict] = []
    decoders = ThreadPoolExecutor(max_workers=max(1, cpus), thread_name_prefix="decode")
    executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fetch")
    known = known or {}
    futures = [_finished(known[record.index]) if record.index in known else
               executor.submit(analyze, record, fetcher, metric, decoders, limits, budget)
               for record in records]
    try:
        for future in futures:
            entry = future.result()
            entries.append(entry)
            report(entry)
    except KeyboardInterrupt:
        executor.shutdown(wait=False, cancel_futures=True)
        decoders.shutdown(wait=False, cancel_futures=True)
        for record, future in zip(records[len(entries):], futures[len(entries):]):
            done = future.done() and not future.cancelled() and future.exception() is None
            entry = future.result() if done else results.failure(
                record.index, record.line, record.url, INTERRUPTED, transient=True)
            entries.append(entry)
            report(entry)
        return entries, False
    executor.shutdown(wait=True)
    decoders.shutdown(wait=True)
    return entries, True
