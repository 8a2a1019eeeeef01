"""Benchmark of ./aggregate: the tutorial's 5,576 photos and 1 M synthetic records (density view).

The results files are written like the payload's (results.dumps), 1,000 records per file, with
tutorial-like URLs, years 1860-2001, 2 % unknown years and 0.5 % failures. Each ./aggregate run is
a child process, so its peak RSS is its own (os.wait4).
"""

import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Tuple

from luminance.core import results

from photodemo import jobs, page

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHROMIUM = "/usr/bin/chromium"
URL = "http://stash.osgconnect.net/@ConnectTrain/photodemo/ucpa/series{0}/derivatives_series{0}/apf{0}-{1:05d}r.jpg"


def write_results(directory: str, records: int, chunk: int, seed: int = 1) -> None:
    """Results files for RECORDS synthetic records, CHUNK per file (no fsync: it is scratch data)."""
    rng = random.Random(seed)
    for part in jobs.plan(records, chunk):
        document = results.new_document({
            "host": "worker{:03d}.example.org".format(rng.randrange(120)), "start": part.start,
            "count": part.count, "records": part.count, "metric": "perceived", "manifest": "manifest.txt",
            "payload_version": "1.0.0", "python": "3.11.7", "pillow": "11.3.0", "requests": "2.32.5",
            "workers": 8, "cpus": 1, "started": 1741184000.0 + part.start / 50,
            "ended": 1741184000.0 + part.start / 50 + 60, "elapsed": 60.0, "rate": part.count / 60,
            "complete": True})
        for record in range(part.start, part.stop):
            url = URL.format(1 + record % 9, record)
            if rng.random() < 0.005:
                document["failures"].append(
                    results.failure(record, record + 1, url, "HTTP 404 Not Found", False))
                continue
            year = None if rng.random() < 0.02 else int(rng.triangular(1860, 2002, 1995))
            luminance = min(max(rng.gauss(0.42 - 0.0006 * ((year or 1930) - 1930), 0.09), 0.0), 1.0)
            document["photos"].append(results.photo(record, record + 1, url, year, round(luminance, 6),
                                                    1024, 768, "RGB", 180000))
        with open(os.path.join(directory, part.results_name), "w", encoding="utf-8") as stream:
            stream.write(results.dumps(document))


def run_aggregate(directory: str, out: str, *options: str) -> Tuple[float, float]:
    """(seconds, peak RSS in MB) of one ./aggregate run on DIRECTORY, the page written to OUT."""
    with open(out, "w") as stdout:
        began = time.monotonic()
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "aggregate"), directory] + list(options),
                                stdout=stdout, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - began
    proc.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status
    error = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError("./aggregate failed: " + error.strip())
    return seconds, usage.ru_maxrss / 1024


def render_ms(path: str) -> Optional[str]:
    """How long the plot's script took to draw (its data read and parsed too), in headless Chromium
    (if installed): the page watched through page.instrument, as the tests watch it."""
    if not os.access(CHROMIUM, os.X_OK):
        return None
    profile = tempfile.mkdtemp(prefix="photodemo-bench-chromium.")
    try:
        watched = os.path.join(profile, "page.html")
        with open(path, encoding="utf-8") as source, open(watched, "w", encoding="utf-8") as target:
            target.write(page.instrument(source.read(), before_plot="window.photodemoT0 = performance.now();",
                                         tail="document.body.dataset.renderMs = String(Math.round("
                                              "performance.now() - window.photodemoT0));"))
        proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                               "--disable-background-networking", "--disable-component-update",
                               "--disable-sync",
                               "--no-first-run", "--user-data-dir=" + profile, "--window-size=1280,900",
                               "--dump-dom", "file://" + watched],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True,
                              timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    match = re.search(r'data-render-ms="(\d+)"', proc.stdout)
    return "{} ms".format(match.group(1)) if match else "not measured (no data-render-ms)"


def rows() -> List[Tuple[str, str]]:
    """The benchmark's rows: (label, value)."""
    scratch = tempfile.mkdtemp(prefix="photodemo-bench-aggregate.")
    table = []
    try:
        for records, label in ((5576, "5,576 records (tutorial)"), (1000000, "1M records")):
            directory = os.path.join(scratch, str(records))
            os.mkdir(directory)
            began = time.monotonic()
            write_results(directory, records, 1000 if records > 100000 else 200)
            generated = time.monotonic() - began
            page = os.path.join(scratch, "page-{}.html".format(records))
            seconds, rss = run_aggregate(directory, page)
            table += [("aggregate {}: time".format(label), "{:.2f} s".format(seconds)),
                      ("aggregate {}: peak RSS".format(label), "{:.0f} MB".format(rss)),
                      ("aggregate {}: page size".format(label),
                       "{:.2f} MB".format(os.path.getsize(page) / 1e6))]
            drawn = render_ms(page)
            if drawn:
                table.append(("aggregate {}: plot drawn in Chromium".format(label), drawn))
            if records > 100000:
                csv_seconds, csv_rss = run_aggregate(directory, page + ".csv", "--csv")
                table += [("aggregate {} --csv: time".format(label), "{:.2f} s".format(csv_seconds)),
                          ("aggregate {} --csv: peak RSS".format(label), "{:.0f} MB".format(csv_rss)),
                          ("(writing the 1M records' results files took)", "{:.1f} s".format(generated))]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return table


if __name__ == "__main__":
    for label, value in rows():
        print("{}\t{}".format(label, value))
