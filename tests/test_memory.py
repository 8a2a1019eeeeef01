"""The job's memory budget: claims wait oldest first, never fit when too big, and photos waiting
for each other evict the youngest; the real job, run as HTCondor runs it, stays within --memory."""

import gzip
import io
import os
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image

from luminance import memory
from luminance.core import limits, results

MB = 1 << 20


def in_thread(function):
    """FUNCTION started in a thread; the thread, and a list its outcome is appended to."""
    outcome = []

    def target():
        try:
            outcome.append(function())
        except Exception as exc:  # the outcome the test looks at
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def settle():
    time.sleep(0.2)  # a thread that would not wait has gone on by now


def test_a_claim_waits_for_room_and_the_oldest_goes_first():
    budget = memory.Budget(100)
    first, older, younger = budget.claim(), budget.claim(), budget.claim()
    first.grow(60)
    older_thread, older_done = in_thread(lambda: older.grow(60) or "older in")
    settle()
    # 30 would fit, but an older claim waits: the younger one does not take its room.
    younger_thread, younger_done = in_thread(lambda: younger.grow(30) or "younger in")
    settle()
    assert older_done == [] and younger_done == [] and budget.used == 60
    first.release()
    older_thread.join(5)
    younger_thread.join(5)
    assert older_done == ["older in"] and younger_done == ["younger in"] and budget.used == 90
    assert budget.peak == 90


def test_a_claim_for_more_than_the_whole_budget_never_fits():
    budget = memory.Budget(100)
    claim = budget.claim()
    claim.grow(70)
    with pytest.raises(memory.NeverFits) as info:
        claim.grow(31)
    assert (info.value.need, info.value.total) == (101, 100) and budget.used == 70
    claim.release()
    assert budget.used == 0 and claim.held == 0


def test_photos_waiting_for_each_other_evict_the_youngest_and_the_oldest_goes_on():
    # Two photos hold their bodies and each waits for room to decode: neither would ever give
    # anything back. The younger is evicted, lets go, and the older goes on.
    budget = memory.Budget(100)
    older, younger = budget.claim(), budget.claim()
    older.grow(40)
    younger.grow(40)
    older_thread, older_done = in_thread(lambda: older.grow(30) or "older in")
    settle()
    younger_thread, younger_done = in_thread(lambda: younger.grow(30) or "younger in")
    younger_thread.join(5)
    assert len(younger_done) == 1 and isinstance(younger_done[0], memory.Evicted)
    assert older_done == [] and budget.evictions == 1  # it waits until the younger lets go
    younger.release()
    older_thread.join(5)
    assert older_done == ["older in"] and budget.used == 70
    # The evicted photo starts again, as old as it was: it waits for the older one only.
    again_thread, again_done = in_thread(lambda: younger.grow(40) or "younger again")
    settle()
    assert again_done == []
    older.release()
    again_thread.join(5)
    assert again_done == ["younger again"] and budget.used == 40


def test_giving_back_trims_only_when_memory_is_short():
    trims = []
    budget = memory.Budget(100, trim=lambda: trims.append(budget.used))
    small = budget.claim()
    small.grow(40)
    small.shrink(10)
    assert trims == []  # under half the budget, nobody waiting: freed memory is reused
    big = budget.claim()
    big.grow(30)
    big.shrink(10)  # 60 held before: over half
    assert trims == [50]


# --- the real job ---------------------------------------------------------------------------

_PEAK = ("import resource, subprocess, sys\n"
         "code = subprocess.call(sys.argv[2:])\n"
         "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
         "sys.exit(code)\n")


def job_peak(pex, sandbox, manifest, *options):
    """Run PEX on MANIFEST as HTCondor runs it (env -i, a fresh sandbox and PEX_ROOT); its exit
    code and peak RSS in bytes, from a small process of its own (a child forked from pytest
    would report pytest's own peak as its high-water mark)."""
    os.makedirs(str(sandbox))
    peak = str(sandbox / "peak")
    with open(str(manifest)) as stdin:
        code = subprocess.call([sys.executable, "-c", _PEAK, peak, "env", "-i", "PEX_ROOT=.pex",
                                pex, "results.json", "0", "1000"] + list(options),
                               cwd=str(sandbox), stdin=stdin, stdout=subprocess.DEVNULL)
    with open(peak) as stream:
        return code, int(stream.read()) * 1024


def uncompressed_tiff(side):
    buffer = io.BytesIO()
    Image.effect_noise((side, side), 40).convert("RGB").save(buffer, "TIFF")
    return buffer.getvalue()


def test_the_job_holds_bodies_decompressed_bodies_and_decodes_within_its_memory(pex, server, tmp_path):
    # Uncompressed scans (12 MB bodies that decode to 48 MB) and gzip bombs (16 kB that
    # decompress to 16 MB), with twice the default workers: everything the job holds is
    # within --memory. Without one budget for all, bodies in flight alone were 400 MB and more.
    memory_mb, side = 200, 2000
    scan, bomb = uncompressed_tiff(side), gzip.compress(bytes(16 * MB), 9)
    urls = [server.add("/scan{}.tif".format(n), scan, content_type="image/tiff") for n in range(12)]
    urls += [server.add("/bomb{}.jpg".format(n), bomb, headers={"Content-Encoding": "gzip"})
             for n in range(16)]
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("".join("{} 1950\n".format(url) for url in urls))
    code, peak = job_peak(pex, tmp_path / "sandbox", manifest, "--memory", str(memory_mb),
                          "--workers", "32", "--max-bytes", str(16 * MB), "--retries", "0")
    document = results.read(str(tmp_path / "sandbox" / "results.json"))
    assert code == 0 and len(document["photos"]) == 12
    assert [entry["reason"].startswith("not an image") for entry in document["failures"]] == [True] * 16
    assert peak <= memory_mb * MB, "peak RSS {:.0f} MB, --memory {}".format(peak / MB, memory_mb)


def test_a_photo_that_can_never_fit_fails_alone_saying_why(pex, server, tmp_path):
    # --memory 130 leaves the photos 34 MB: a 12 MB scan that decodes to 48 MB, and a 40 MB
    # body, can never be held; a small photo still is.
    scan = uncompressed_tiff(2000)
    urls = [server.add("/scan.tif", scan, content_type="image/tiff"),
            server.add("/huge.tif", bytes(40 * MB), content_type="image/tiff"),
            server.add("/small.png", uncompressed_tiff(300), content_type="image/tiff")]
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("".join("{} 1950\n".format(url) for url in urls))
    code, peak = job_peak(pex, tmp_path / "sandbox", manifest, "--memory", "130", "--retries", "0")
    document = results.read(str(tmp_path / "sandbox" / "results.json"))
    budget = limits.photo_budget(130) >> 20
    assert code == 0 and [entry["record"] for entry in document["photos"]] == [2]
    reasons = {entry["record"]: entry for entry in document["failures"]}
    assert reasons[0]["reason"].startswith("too big to decode in the job's memory: 2000x2000 RGB TIFF "
                                           "needs about ")
    assert reasons[0]["reason"].endswith("the job has {} MB for photos".format(budget))
    assert reasons[1]["reason"] == ("body needs 40 MB to be held, more than the job's memory for "
                                    "photos ({} MB, --memory)".format(budget))
    assert not reasons[0]["transient"] and not reasons[1]["transient"]
