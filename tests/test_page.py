"""The page: escaping and link rules, and the real thing in headless Chromium loaded from a file://
URL: every photo plotted, no script error, nothing fetched, hover and click work."""

import base64
import hashlib
import html
import html.parser
import json
import os
import re
import subprocess

import pytest

from luminance.core import results
from photodemo import aggregate, merge, page

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--window-size=1280,900"]
needs_chromium = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                                    reason="{} is not installed (Debian package chromium; .ci/run installs "
                                           "it)".format(CHROMIUM))
EVIL = '</script><script>document.body.dataset.pwned="1"</script>"\'<b id="pwned">x</b>&amp;\u2028'

# Run before the page's own script: counts script errors and what the policy blocked, on <html>.
LISTENERS = """(function () {
  var root = document.documentElement;
  root.dataset.errors = "0";
  root.dataset.blocked = "0";
  window.addEventListener("error", function (event) {
    root.dataset.errors = String(Number(root.dataset.errors) + 1);
    root.dataset.lastError = String(event.message);
  });
  document.addEventListener("securitypolicyviolation", function (event) {
    root.dataset.blocked = String(Number(root.dataset.blocked) + 1);
    root.dataset.lastBlocked = event.violatedDirective + " " + event.blockedURI;
  });
})();"""
# Run after it: what it drew (marks, their kinds), that it finished, and what was fetched.
DRAWN = """(function () {
  var figure = document.getElementById("plot"), body = document.body;
  var data = JSON.parse(document.getElementById("plot-data").textContent);
  body.dataset.ready = document.querySelector("#chart svg.chart") ? "1" : "0";
  figure.dataset.mode = data.mode;
  figure.dataset.marks = String(document.querySelectorAll("g.marks > *").length);
  if (data.mode !== "scatter") {
    var known = 0, unknown = 0;
    data.cells.forEach(function (cell) { if (cell[0] === null) unknown += cell[2]; else known += cell[2]; });
    figure.dataset.known = String(known);
    figure.dataset.unknown = String(unknown);
  }
  body.dataset.resources = String(performance.getEntriesByType("resource").length);
})();"""
# And then: hovers the marks with these indices (a real mousemove at each mark's centre, then a
# click), recording the tooltip's lines and every window.open call.
HARNESS = """(function () {
  var opened = [], report = [];
  window.open = function (url) { opened.push(String(url)); return null; };
  var svg = document.querySelector("svg.chart"), marks = document.querySelectorAll("g.marks circle");
  var tip = document.getElementById("tip");
  INDICES.forEach(function (k) {
    var box = marks[k].getBoundingClientRect();
    var at = { clientX: box.left + box.width / 2, clientY: box.top + box.height / 2, bubbles: true };
    svg.dispatchEvent(new MouseEvent("mousemove", at));
    var lines = [];
    for (var c = 0; c < tip.children.length; c++) lines.push(tip.children[c].textContent);
    svg.dispatchEvent(new MouseEvent("click", at));
    report.push({ hidden: tip.hidden, lines: lines, opened: opened.length });
  });
  document.body.dataset.harness = JSON.stringify({ report: report, opened: opened });
})();"""


def watched(text, tail=""):
    """The page TEXT with the test's listeners first and DRAWN (then TAIL) last."""
    return page.instrument(text, LISTENERS, DRAWN + tail)


class _Dom(html.parser.HTMLParser):
    """What the test reads from the DOM Chromium dumps after the scripts ran."""

    def __init__(self, text):
        super().__init__()
        self.attrs, self.classes, self.ids = {}, {}, set()
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("html", "body") or attrs.get("id") == "plot":
            self.attrs[attrs.get("id", tag)] = attrs
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if "class" in attrs:
            key = (tag, attrs["class"])
            self.classes[key] = self.classes.get(key, 0) + 1


def chromium(tmp_path, target, *how, timeout=120):
    """Run headless Chromium on the file TARGET with a fresh profile; its stdout."""
    proc = subprocess.run([CHROMIUM] + FLAGS + ["--user-data-dir={}".format(tmp_path / "profile")] + list(how)
                          + ["file://" + str(target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def render(tmp_path, capsys, *argv):
    code = aggregate.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def test_link_targets_are_http_https_and_file_urls_only():
    assert page.link_target("http://a.org/x.jpg") == "http://a.org/x.jpg"
    assert page.link_target("HTTPS://a.org/x.jpg") == "HTTPS://a.org/x.jpg"
    assert page.link_target("file:///srv/photos/x.jpg") == "file:///srv/photos/x.jpg"
    assert page.link_target("/srv/my photos/x.jpg") == "file:///srv/my%20photos/x.jpg"
    for url in ("javascript:alert(1)", "JavaScript://%0aalert(1)", "data:text/html,<b>", "x.jpg",
                "//evil.org/x.jpg", " javascript:alert(1)", "vbscript:x", "http:evil", None, "", 12,
                "http://a.org/\nx"):
        assert page.link_target(url) is None, url


def test_script_json_cannot_end_its_script_element():
    text = page.script_json({"u": "</script><!-- & \u2028\u2029 >"})
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == {"u": "</script><!-- & \u2028\u2029 >"}


def test_the_page_forbids_every_fetch_and_every_script_but_its_own():
    summary = aggregate.Merge().summary()
    text = page.render(summary, {"mode": "scatter", "points": []}, "t")
    meta = html.unescape(
        re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', text).group(1))
    assert meta.startswith("default-src 'none'; ")
    assert "http" not in meta and "connect-src" not in meta and "unsafe" not in meta
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    styles = re.findall(r"<style>(.*?)</style>", text, re.S)
    assert len(scripts) == len(styles) == 1  # the plot's script; the data block is not run
    digest = [base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() for text in scripts + styles]
    assert "script-src 'sha256-{}';".format(digest[0]) in meta
    assert "style-src 'sha256-{}';".format(digest[1]) in meta


def crafted_summary(years, unknown=None):
    return aggregate.Merge().summary()._replace(
        metric="perceived", photos=len(years), known_year=len(years),
        years=[merge.YearRow(year, 1, lum, 0.0, lum, lum) for year, lum in years],
        unknown=merge.YearRow(None, 1, unknown, 0, unknown, unknown) if unknown is not None else None)


@needs_chromium
@pytest.mark.slow
@pytest.mark.parametrize("years", [
    [(10 ** 20, 0.5), (10 ** 20 + 16384, 0.6)],  # neighbouring doubles: a tick step adds nothing
    [(-10 ** 300, 0.5), (10 ** 300, 1e308)],
    [(10 ** 400, 0.5), (1900, -1e308)],  # 10**400 is Infinity to JavaScript
])
@pytest.mark.parametrize("mode", ["scatter", "density"])
def test_in_chromium_any_numbers_draw_in_bounded_time(tmp_path, years, mode):
    summary = crafted_summary(years, unknown=0.3)
    if mode == "scatter":
        plot = {"mode": "scatter", "points": [(year, lum, "http://x.org/{}.jpg".format(k))
                                              for k, (year, lum) in enumerate(years + [(None, 0.3)])]}
    else:
        plot = {"mode": "density", "bins": 50, "max_points": 1, "cells": [[year, 25, 3] for year, _ in years]}
    (tmp_path / "numbers.html").write_text(watched(page.render(summary, plot, "numbers")))
    dom = _Dom(chromium(tmp_path, tmp_path / "numbers.html", "--dump-dom", timeout=60))
    root, body = dom.attrs["html"], dom.attrs["body"]
    assert body.get("data-ready") == "1" and root.get("data-blocked") == "0"
    assert root.get("data-errors") == "0", root.get("data-last-error")


@needs_chromium
@pytest.mark.slow
def test_in_chromium_a_script_that_escaped_into_the_page_does_not_run(tmp_path, capsys):
    text = page.render(aggregate.Merge().summary(), {"mode": "scatter", "points": []}, "t")
    escaped = text.replace("</footer>", '</footer><script>document.body.dataset.pwned = "1";</script>')
    (tmp_path / "escaped.html").write_text(watched(escaped))
    dom = _Dom(chromium(tmp_path, tmp_path / "escaped.html", "--dump-dom"))
    root, body = dom.attrs["html"], dom.attrs["body"]
    assert body.get("data-ready") == "1" and "data-pwned" not in body  # the page drew; the stray did not run
    assert root.get("data-blocked") == "1" and root.get("data-last-blocked").startswith("script-src")


@needs_chromium
@pytest.mark.slow
def test_in_chromium_every_photo_is_plotted_without_errors_or_fetches(tmp_path, capsys, server):
    # The photos live on a real server, so that a page that fetched any of them would be caught.
    documents = []
    for start in (0, 30):
        document = results.new_document({"host": "node{}.example.org".format(start), "start": start,
                                         "count": 30, "metric": "perceived", "elapsed": 12.5,
                                         "started": 1741184000.0 + start, "ended": 1741184060.0 + start,
                                         "complete": True})
        for record in range(start, start + 30):
            url = server.add("/photos/{}.jpg".format(record), b"not fetched")
            year = None if record % 15 == 14 else 1900 + record
            if record == 7:
                url += "?" + EVIL
            if record == 8:
                url = "javascript:document.body.dataset.pwned='1'"
            document["photos"].append(
                results.photo(record, record + 1, url, year, 0.1 + record / 80, 640, 480, "RGB", 1000))
        documents.append(document)
    documents[1]["failures"].append(
        results.failure(60, 61, server.url("/gone.jpg"),
                        '<img src=x onerror="document.body.dataset.pwned=1">', False))
    documents[1]["job"]["count"] = 31
    for document in documents:
        results.write(str(tmp_path / "results-{}.json".format(document["job"]["start"])), document)
    text, err = render(tmp_path, capsys, "--title", "Archive <b>test</b>", tmp_path)
    assert err.strip().splitlines()[-1] == "60 photos from 2 files; 1 failed; 0 chunks missing"
    # Hover a plain photo, the one with markup in its URL, the javascript: one, and a plain one
    # again (left showing, for the screenshot): records 3, 7, 8, 25, marks 33, 37, 38, 55 (files are
    # read highest chunk first, so records 30-59 are marks 0-29).
    (tmp_path / "scatter.html").write_text(watched(text, HARNESS.replace("INDICES", "[33, 37, 38, 55]")))

    dom = _Dom(chromium(tmp_path, tmp_path / "scatter.html", "--dump-dom"))
    root, body, figure = dom.attrs["html"], dom.attrs["body"], dom.attrs["plot"]
    assert body.get("data-ready") == "1", "the page's script did not finish"
    assert root.get("data-errors") == "0", root.get("data-last-error")
    assert root.get("data-blocked") == "0", root.get("data-last-blocked")  # no fetch was even tried
    assert body.get("data-resources") == "0" and server.hits == {}
    assert "data-pwned" not in body and "pwned" not in dom.ids
    # Every photo is one mark: 56 with a known year on the year axis, 4 in the unknown-year strip.
    assert figure["data-mode"] == "scatter" and figure["data-marks"] == "60"
    assert dom.classes[("circle", "pt")] == 56 and dom.classes[("circle", "pt u")] == 4
    means = dom.classes.get(("circle", "mean-dot"), 0) + dom.classes.get(("circle", "mean-dot sparse"), 0)
    assert means == 56

    harness = json.loads(body["data-harness"])
    plain, evil, script, last = harness["report"]
    assert not plain["hidden"]
    assert plain["lines"][:3] == ["1903", "luminance 0.137500", server.url("/photos/3.jpg")]
    assert evil["lines"][2] == server.url("/photos/7.jpg") + "?" + EVIL  # shown as text, not markup
    assert script["lines"][3].startswith("no link") and script["opened"] == evil["opened"]
    assert harness["opened"] == [server.url("/photos/3.jpg"), server.url("/photos/7.jpg") + "?" + EVIL,
                                 server.url("/photos/25.jpg")]

    shot = tmp_path / "scatter.png"
    chromium(tmp_path, tmp_path / "scatter.html", "--screenshot={}".format(shot))
    assert shot.stat().st_size > 10000
    assert server.hits == {}


@needs_chromium
@pytest.mark.slow
def test_in_chromium_the_density_view_stands_for_every_photo(tmp_path, capsys):
    for start in range(0, 4000, 1000):
        document = results.new_document({"host": "n", "start": start, "count": 1000, "metric": "luma"})
        for record in range(start, start + 1000):
            year = None if record % 100 == 0 else 1860 + record % 140
            document["photos"].append(
                results.photo(record, record + 1, "http://x.org/{}.jpg".format(record), year,
                              (record * 7919 % 1000) / 1000, 1, 1, "L", 1))
        results.write(str(tmp_path / "results-{}.json".format(start)), document)
    text, err = render(tmp_path, capsys, "--max-points", "1000", tmp_path)
    hover = """
      var cell = document.querySelector("rect.cell"), box = cell.getBoundingClientRect();
      cell.dispatchEvent(new MouseEvent("mousemove",
                                        { clientX: box.left + 1, clientY: box.top + 1, bubbles: true }));
      var tip = document.getElementById("tip"), lines = [];
      for (var c = 0; c < tip.children.length; c++) lines.push(tip.children[c].textContent);
      document.body.dataset.harness = JSON.stringify({ hidden: tip.hidden, lines: lines });"""
    (tmp_path / "density.html").write_text(watched(text, hover))
    dom = _Dom(chromium(tmp_path, tmp_path / "density.html", "--dump-dom"))
    root, body, figure = dom.attrs["html"], dom.attrs["body"], dom.attrs["plot"]
    assert body.get("data-ready") == "1"
    assert root.get("data-errors") == "0" and root.get("data-blocked") == "0"
    assert figure["data-mode"] == "density"
    assert (figure["data-known"], figure["data-unknown"]) == ("3960", "40")  # every photo in a cell
    assert int(figure["data-marks"]) == dom.classes[("rect", "cell")] < 4000
    cells = json.loads(re.search(r'id="plot-data">(.*?)</script>', text).group(1))["cells"]
    assert len(cells) == dom.classes[("rect", "cell")]  # every cell drawn
    hovered = json.loads(body["data-harness"])  # the first cell: 1860's lowest luminance band
    assert not hovered["hidden"] and hovered["lines"][0] == "1860"
    assert re.fullmatch(r"luminance 0\.\d\d–0\.\d\d", hovered["lines"][1])
    assert re.fullmatch(r"1 photo|\d+ photos", hovered["lines"][2])
    chromium(tmp_path, tmp_path / "density.html", "--screenshot={}".format(tmp_path / "density.png"))


def test_the_caption_says_which_years_the_mean_line_joins():
    sparse = crafted_summary([(1900 + k, 0.5) for k in range(10)])
    points = [(1900 + k, 0.5, "http://x.org/{}.jpg".format(k)) for k in range(10)]
    plot = {"mode": "scatter", "points": points}
    assert page.plot_json(sparse, plot)["trendMin"] == 0
    assert "The line joins the mean of every year (fewer than two years have 5 photos or more)." in \
        page.render(sparse, plot, "sparse")
    sampled = sparse._replace(years=[row._replace(n=page.TREND_MIN) for row in sparse.years])
    assert page.plot_json(sampled, plot)["trendMin"] == page.TREND_MIN
    assert "a hollow mark is the mean of a year with fewer" in page.render(sampled, plot, "sampled")
