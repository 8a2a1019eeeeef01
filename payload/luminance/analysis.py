"""Running one job: fetch and measure a run of manifest records concurrently, report in manifest order.

`workers` threads each fetch one photo at a time, so that many downloads are in flight to hide
the storage server's latency, and hand each body to one of `cpus` decoder threads (Pillow releases
the GIL while decoding): a 1-CPU slot never runs eight decoders. A decoder goes from one photo
straight to the next queued one, without waking another thread or waiting for the GIL behind the
fetch threads: a decode slot handed from thread to thread stands idle while the next one wakes
(`make bench` measures the decode rate: docs/benchmarks.md). Everything the photos hold (bodies being fetched,
bodies waiting for a decoder, decodes) is claimed from one memory.Budget, whatever `workers` is:
a photo waiting for a decoder holds the room of its decode already, so the decoders never wait
for memory.
"""

import ctypes
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from luminance import memory, metrics
from luminance.core import results
from luminance.fetch import FetchError, Fetcher
from luminance.core.manifest import Record, printable

__all__ = ["analyze", "run", "INTERRUPTED"]

INTERRUPTED = "interrupted: the job stopped before this record was analyzed"


def analyze(record: Record, fetcher: Fetcher, metric: str, decoders: Executor,
            limits: metrics.Limits = metrics.Limits(),
            budget: memory.Budget = memory.UNLIMITED) -> Dict:
    """One record's results entry: an analyzed photo, or a failure saying why.

    Everything the photo holds, its body and its decode, is claimed from BUDGET first (memory.py);
    a photo evicted from it is fetched again.
    Whatever one photo raises is that photo's failure, never the job's: a crafted URL or file
    may make the fetch or a decoder raise anything. The exception's type names an unexpected one."""

    def failure(reason: str, transient: bool = False) -> Dict:
        # A reason may quote a file name that is not UTF-8: as \xNN, so RESULTS stays UTF-8.
        return results.failure(record.index, record.line, record.url, printable(reason), transient)

    if record.error:
        return failure("malformed manifest line: {}".format(record.error))
    with budget.claim() as claim:
        while True:
            try:
                return _attempt(record, fetcher, metric, decoders, limits, claim, failure)
            except memory.Evicted:
                pass
            claim.release()  # here, once the bytes it held went with the exception


def _attempt(record: Record, fetcher: Fetcher, metric: str, decoders: Executor,
             limits: metrics.Limits, claim: memory.Claim, failure: Callable[..., Dict]) -> Dict:
    """analyze's one go at RECORD, its bytes held in CLAIM. Raises memory.Evicted."""
    try:
        body = fetcher.get(record.url, claim)
    except FetchError as exc:
        return failure(exc.reason, exc.transient)
    except memory.Evicted:
        raise
    except Exception as exc:
        return failure("cannot fetch: {}: {}".format(type(exc).__name__, exc))
    try:
        opened = metrics.Opened(body.data, limits)
        opened.claim(claim)  # here, so that a photo waiting for a decoder holds its room already
        measured = decoders.submit(opened.measure, metric).result()
    except metrics.NotAnImage as exc:
        reason = str(exc)
        if body.content_type and not body.content_type.startswith("image/"):
            reason += " (the server sent {}, {} bytes)".format(body.content_type.split(";")[0],
                                                               len(body.data))
        return failure(reason)
    except memory.Evicted:
        raise
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


def _glibc() -> Optional[ctypes.CDLL]:
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    # glibc has both; another libc (musl) lacks them, and then nothing is tuned
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def tune_malloc(arenas: int) -> bool:
    """Set glibc's malloc up for a job, before its threads start; False where that is not glibc.

    - At most ARENAS arenas: by default glibc gives a threaded process up to 8 per core, each
      keeping the freed photo bodies and pixel buffers it once held, so the fetch threads'
      arenas added to the RSS without making the job faster.
    - Freed memory stays in the process (trim threshold), and blocks of up to 32 MiB (a 10 MP
      RGB photo's pixels) come from the arenas rather than from mmap (mmap threshold): otherwise
      every photo's pixel buffer went back to the kernel when freed and came back as fresh
      pages, a page fault each. What one arena keeps, the threads of another cannot use: when
      the photos hold much of the job's memory, trim_malloc hands it back (memory.Budget's
      trim). docs/memory.md has what the tuning and the trim cost and save.
    """
    if _LIBC is None:
        return False
    return all([_LIBC.mallopt(M_ARENA_MAX, max(1, arenas)),
                _LIBC.mallopt(M_TRIM_THRESHOLD, 512 << 20),
                _LIBC.mallopt(M_MMAP_THRESHOLD, 32 << 20)])


def trim_malloc() -> None:
    """Hand the memory glibc's malloc holds free back to the system (elsewhere: nothing)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def run(records: Sequence[Record], fetcher: Fetcher, metric: str, workers: int, cpus: int,
        report: Callable[[Dict], None], limits: metrics.Limits = metrics.Limits(),
        budget: memory.Budget = memory.UNLIMITED,
        known: Optional[Mapping[int, Dict]] = None) -> Tuple[List[Dict], bool]:
    """Analyze RECORDS; call REPORT with each entry in manifest order as soon as it is known.

    A record with an entry in KNOWN (by record number: kept from an earlier run) is not analyzed
    again; that entry is reported in its place. LIMITS bound each decode (metrics.py); all the
    photos hold is claimed from BUDGET (memory.py).

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
