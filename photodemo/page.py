"""The scatter-plot page: one self-contained HTML file built from aggregate's summary and plot data.

Nothing outside the file is loaded (its Content-Security-Policy forbids every fetch): the style
(scatter.css) and the plot's script (scatter.js) are inlined, and the policy lets only these two
run, by their SHA-256 (so markup that escaped into the page could not run a script); the plot's data sits in a
`<script type="application/json">` block with `<`, `>`, `&`, U+2028 and U+2029 escaped, so no URL,
host or reason in the results can close the block. The summary is plain HTML written here with
every untrusted text escaped (it reads and prints without the script); the plot is drawn by the
script with createElementNS/textContent, never from markup.
"""

import base64
import html
import json
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import quote

from luminance.core import formulas, results
from luminance.core.arguments import duration

from photodemo import jobs
from photodemo.merge import Summary, TallyRow, YearRow

try:  # CPython's own SHA-256: hashlib would map OpenSSL's library into ./aggregate, raising its peak memory
    from _sha2 import sha256  # Python 3.12 and later
except ImportError:
    try:
        from _sha256 import sha256  # Python 3.6-3.11
    except ImportError:  # pragma: no cover - another Python
        from hashlib import sha256


__all__ = ["csp", "METRIC_NOTES", "LINK_SCHEMES", "render", "instrument", "script_json", "plot_json",
           "link_target"]

HERE = os.path.dirname(os.path.abspath(__file__))
CSP = ("default-src 'none'; script-src {scripts}; style-src {styles}; img-src data:; base-uri 'none'; "
       "form-action 'none'")
METRIC_NOTES = {  # (short, for the card; exact, for the footer): formulas.py defines each metric
    name: (formulas.SHORT[name], formulas.formula(name, squared="²")) for name in results.METRICS}
TREND_MIN = 5  # the mean line joins years with at least this many photos; rarer years stand alone
LINK_SCHEMES = ("http", "https", "file")  # what a photo may link to; never javascript: or data:
HOST_ROWS = 30  # the tidbits table lists this many hosts, then sums up the rest
MISSING_ROWS = 20
_SCRIPT_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                                 "\u2029": "\\u2029"})


def _asset(name: str) -> str:
    with open(os.path.join(HERE, name), encoding="utf-8") as stream:
        return stream.read()


def _sha256(text: str) -> str:
    return "'sha256-{}'".format(base64.b64encode(sha256(text.encode("utf-8")).digest()).decode("ascii"))


def csp(scripts: Sequence[str], styles: Sequence[str]) -> str:
    """The page's Content-Security-Policy: nothing fetched, and only these inline scripts and
    styles (their exact text) run or apply."""
    return CSP.format(scripts=" ".join(map(_sha256, scripts)) or "'none'",
                      styles=" ".join(map(_sha256, styles)) or "'none'")


def instrument(text: str, head: str = "", tail: str = "", before_plot: str = "") -> str:
    """The page TEXT with the script HEAD run first, BEFORE_PLOT just before the plot's script and
    TAIL last, each allowed by its policy: how the tests and the benchmark watch a page that, as
    shipped, carries no hook of theirs."""
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', text)
    allowed = " ".join(_sha256(script) for script in (head, before_plot, tail) if script)
    new = policy.group(1).replace("script-src ", "script-src {} ".format(_e(allowed)), 1)
    text = text[:policy.start(1)] + new + text[policy.end(1):]
    if head:
        text = text.replace("<title>", "<script>{}</script>\n<title>".format(head), 1)
    if before_plot:
        plot = text.rindex("<script>")
        text = text[:plot] + "<script>{}</script>\n".format(before_plot) + text[plot:]
    if tail:
        text = text[:text.rindex("</body>")] + "<script>{}</script>\n</body>\n</html>\n".format(tail)
    return text


def script_json(value: Any) -> str:
    """VALUE as JSON that is safe inside a <script> element: nothing in it can end the element."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.translate(_SCRIPT_ESCAPES)


def link_target(url: Any) -> Optional[str]:
    """The URL a photo may link to: http, https and file URLs as they are, an absolute local path
    as a file URL, anything else (javascript:, data:, relative paths) None: no link."""
    if not isinstance(url, str) or not url or any(c in url for c in "\r\n\t\0"):
        return None
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", url)
    if match:
        return url if match.group(1).lower() in LINK_SCHEMES and url[len(match.group(0)):].startswith("//") \
            else None
    if url.startswith("/") and not url.startswith("//"):
        return "file://" + quote(url)
    return None


def _common_prefix(urls: Sequence[str]) -> str:
    """The text all URLs start with, cut after a '/': archive URLs share a long directory."""
    prefix = os.path.commonprefix(list(urls)) if urls else ""
    return prefix[:prefix.rfind("/") + 1]


def trend_min(summary: Summary) -> int:
    """The fewest photos a year needs for its mean to be on the line: TREND_MIN, or 0 (every
    year) when fewer than two years have that many, so that a small run still gets a line."""
    well_sampled = sum(1 for row in summary.years if row.n >= TREND_MIN)
    return TREND_MIN if well_sampled >= 2 else 0


def plot_json(summary: Summary, plot: Dict[str, Any]) -> Dict[str, Any]:
    """The data the plot's script reads: points (compact parallel arrays) or density cells, and
    the per-year means for the trend line."""
    data: Dict[str, Any] = {
        "mode": plot["mode"], "metric": summary.metric, "photos": summary.photos,
        "trend": [[row.year, row.mean, row.n] for row in summary.years],
        "unknown": summary.unknown.mean if summary.unknown else None,
        "trendMin": trend_min(summary),
    }
    if plot["mode"] == "scatter":
        points = plot["points"]
        urls = [url if isinstance(url, str) else "" for _, _, url in points]
        prefix = _common_prefix(urls)
        links: Dict[str, Optional[str]] = {}
        for index, url in enumerate(urls):
            target = link_target(url)
            if target != url:  # the usual case (an http URL links to itself) costs nothing
                links[str(index)] = target
        data.update(x=[year for year, _, _ in points], y=[round(lum, 6) for _, lum, _ in points],
                    prefix=prefix, u=[url[len(prefix):] for url in urls], links=links)
    else:
        data.update(bins=plot["bins"], cells=plot["cells"])
    return data


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _n(value: Optional[float]) -> str:
    return "–" if value is None else "{:,}".format(value)


def _seconds(value: Optional[float]) -> str:
    return "–" if value is None else duration(value)


def _link(url: Any) -> str:
    """An escaped link to URL (its last path segment shown, all of it in the title) when it is an
    http, https or file URL, else the escaped text."""
    text = "(no URL)" if url is None else str(url)
    target = link_target(url)
    if target is None:
        return '<span class="url">{}</span>'.format(_e(text))
    short = text.rstrip("/").rsplit("/", 1)[-1] or text
    return '<a class="url" href="{}" title="{}" rel="noopener noreferrer">{}</a>'.format(
        _e(target), _e(text), _e(short))


def _card(label: str, value: str, note: str = "", warn: bool = False) -> str:
    return ('<div class="card{}"><div class="value">{}</div><div class="label">{}</div>{}</div>'
            .format(" warn" if warn else "", value, _e(label),
                    '<div class="note">{}</div>'.format(note) if note else ""))


def _cards(summary: Summary) -> str:
    coverage = summary.coverage
    metric = summary.metric
    return '<section class="cards">{}</section>'.format("".join([
        _card("photos analyzed", _n(summary.photos),
              "{} plotted by year".format(_n(summary.known_year))),
        _card("failed", _n(summary.failed),
              "{} transient".format(_n(summary.transient)) if summary.transient else "",
              warn=summary.failed > 0),
        _card("unknown year", _n(summary.unknown_year),
              "shown in the right strip" if summary.unknown_year else ""),
        _card("results files read", _n(summary.files),
              "{} skipped".format(len(summary.skipped)) if summary.skipped else "",
              warn=bool(summary.skipped)),
        _card("chunks missing", _n(coverage.chunks_missing),
              "of {} records{}".format(_n(coverage.records),
                                       " in the manifest" if coverage.manifest else " up to the last chunk"),
              warn=coverage.chunks_missing > 0),
        _card("metric", _e(metric if metric is not None else "unknown"),
              _e(METRIC_NOTES.get(metric, ("",))[0])),
    ]))


def _failures(summary: Summary) -> str:
    if not summary.failures:
        return ""
    rows = []
    for group in summary.failures:
        examples = "".join('<li>line {}: {}</li>'.format(_e(example.line), _link(example.url))
                           for example in group.examples)
        more = group.count - len(group.examples)
        if more > 0:
            examples += "<li class=\"more\">and {} more</li>".format(_n(more))
        transient = ' <span class="tag">transient: <code>./submit --missing</code> retries</span>' \
            if group.transient else ""
        rows.append("<tr><td>{}{}</td><td class=\"num\">{}</td><td><ul class=\"examples\">{}</ul></td></tr>"
                    .format(_e(group.reason), transient, _n(group.count), examples))
    return ('<section><h2>Failed photos, by reason</h2><table class="failures"><thead><tr><th>Reason</th>'
            '<th class="num">Photos</th><th>Examples (manifest line: photo)</th></tr></thead><tbody>{}'
            '</tbody></table></section>'.format("".join(rows)))


def _coverage(summary: Summary) -> str:
    coverage, items = summary.coverage, []
    size = coverage.chunk
    for lo, hi in coverage.missing[:MISSING_ROWS]:
        chunks = ""
        if size and lo % size == 0:
            names = [jobs.RESULTS_NAME.format(start=start) for start in range(lo, hi, size)]
            chunks = " — " + ", ".join(names[:4]) + (" …" if len(names) > 4 else "")
        items.append("<li>records {}–{} ({} record{}){}</li>".format(
            _n(lo), _n(hi - 1), _n(hi - lo), "s" if hi - lo != 1 else "", _e(chunks)))
    if len(coverage.missing) > MISSING_ROWS:
        items.append('<li class="more">and {} more ranges</li>'.format(
            _n(len(coverage.missing) - MISSING_ROWS)))
    if summary.duplicates:
        items.append("<li>{} record{} appeared in more than one results file (overlapping chunks); "
                     "each is counted once</li>".format(_n(summary.duplicates),
                                                        "s" if summary.duplicates != 1 else ""))
    for short in summary.incomplete:
        items.append("<li>{}: {}</li>".format(_e(short.file), _e(short.problem)))
    for skipped in summary.skipped:
        items.append("<li>{}</li>".format(_e(skipped.problem)))
    if not items:
        return ""
    return ('<section><h2>Coverage and warnings</h2><ul class="coverage">{}</ul></section>'
            .format("".join(items)))


def _tidbits(summary: Summary) -> str:
    run, hosts = summary.run, summary.hosts
    facts = ["{} job{} on {} host{} at {} site{}".format(
        _n(run.jobs), "s" if run.jobs != 1 else "", _n(run.hosts), "s" if run.hosts != 1 else "",
        _n(run.sites), "s" if run.sites != 1 else "")]
    if run.started:
        facts.append("from {} to {} ({} from first start to last end)".format(
            _e(run.started), _e(run.ended), _seconds(run.span)))
    facts.append("{} of job time".format(_seconds(run.job_seconds)))
    if run.rate:
        facts.append("{:,.1f} photos/s overall".format(run.rate))
    rated = [row for row in hosts if row.rate]
    if len(rated) > 1:
        fastest = max(rated, key=lambda row: row.rate)
        facts.append("fastest host {} at {:,.1f} photos/s per job".format(_e(fastest.name), fastest.rate))
    versions = "; ".join("payload {} on Python {} ({} job{})".format(
        _e(version.payload), _e(version.python), _n(version.jobs), "s" if version.jobs != 1 else "")
        for version in run.versions[:4])
    rows = []
    for row in hosts[:HOST_ROWS]:
        rows.append("<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}"
                    "</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>".format(
                        _e(row.name), _n(row.jobs), _n(row.photos), _n(row.failed),
                        _seconds(row.elapsed), "–" if row.rate is None else "{:,.2f}".format(row.rate)))
    rest = hosts[HOST_ROWS:]
    if rest:
        rows.append("<tr class=\"more\"><td>{} more hosts</td><td class=\"num\">{}</td><td class=\"num\">{}"
                    "</td><td class=\"num\">{}</td><td></td><td></td></tr>".format(
                        _n(len(rest)), _n(sum(row.jobs for row in rest)),
                        _n(sum(row.photos for row in rest)), _n(sum(row.failed for row in rest))))
    return ('<section><h2>Tidbits: where the jobs ran</h2><p class="facts">{}.</p>{}{}'
            '<table class="hosts"><thead><tr><th>Host</th><th class="num">Jobs</th>'
            '<th class="num">Photos</th><th class="num">Failed</th><th class="num">Job time</th>'
            '<th class="num">Photos/s per job</th></tr></thead>'
            '<tbody>{}</tbody></table></section>'.format(
                "; ".join(facts), '<p class="versions">{}</p>'.format(versions) if versions else "",
                _sites(summary.sites), "".join(rows)))


def _sites(sites: List[TallyRow]) -> str:
    """Photos and jobs per OSG site (the tutorial's `connect histogram`), most photos first."""
    if not sites:
        return ""
    rows = "".join("<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                   "<td class=\"num\">{}</td><td class=\"num\">{}</td></tr>".format(
                       _e(row.name), _n(row.jobs), _n(row.photos), _n(row.failed), _seconds(row.elapsed))
                   for row in sites[:HOST_ROWS])
    more = '<tr class="more"><td>{} more sites</td><td></td><td></td><td></td><td></td></tr>'.format(
        _n(len(sites) - HOST_ROWS)) if len(sites) > HOST_ROWS else ""
    return ('<table class="hosts sites"><thead><tr><th>Site</th><th class="num">Jobs</th>'
            '<th class="num">Photos</th><th class="num">Failed</th><th class="num">Job time</th></tr></thead>'
            '<tbody>{}{}</tbody></table>'
            .format(rows, more))


def _years(summary: Summary) -> str:
    rows: List[Tuple[Any, YearRow]] = [(row.year, row) for row in summary.years]
    if summary.unknown:
        rows.append(("unknown", summary.unknown))
    if not rows:
        return ""
    body = "".join("<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.3f}</td><td class=\"num\">"
                   "{:.3f}</td><td class=\"num\">{:.3f}</td><td class=\"num\">{:.3f}</td></tr>".format(
                       _e(year), _n(row.n), row.mean, row.sd, row.min, row.max)
                   for year, row in rows)
    return ('<section><details id="years"><summary>Per-year statistics ({} years)</summary>'
            '<table class="years"><thead><tr><th>Year</th><th class="num">Photos</th>'
            '<th class="num">Mean</th>'
            '<th class="num">SD</th><th class="num">Min</th><th class="num">Max</th></tr></thead><tbody>{}'
            '</tbody></table></details></section>'.format(_n(len(summary.years)), body))


def render(summary: Summary, plot: Dict[str, Any], title: str) -> str:
    """The whole page as one HTML text."""
    metric = summary.metric or "unknown metric"
    if plot["mode"] == "scatter":
        caption = ("Each dot is one photo, spread a little within its year so that photos of one year "
                   "do not hide each other. ")
    else:
        caption = ("{} photos, more than {} for one dot each: each cell counts the photos of one year "
                   "and one luminance band {:.2f} wide (darker: more photos). ".format(
                       _n(summary.photos), _n(plot["max_points"]), 1 / plot["bins"]))
    if trend_min(summary):
        caption += ("The line joins the mean of each year with at least {} photos; a hollow mark is "
                    "the mean of a year with fewer. ".format(TREND_MIN))
    else:
        caption += ("The line joins the mean of every year (fewer than two years have {} photos or "
                    "more). ".format(TREND_MIN))
    caption += ("Hover a dot for its year, luminance and URL; click it to open the photo."
                if plot["mode"] == "scatter" else "Hover a cell for its count.")
    subtitle = "{} photos · {} failed · luminance: {}".format(_n(summary.photos), _n(summary.failed),
                                                             _e(metric))
    css, script = _asset("scatter.css"), _asset("scatter.js")
    return _TEMPLATE.format(
        csp=_e(csp([script], [css])), title=_e(title), subtitle=subtitle, css=css,
        caption=_e(caption), data=script_json(plot_json(summary, plot)), script=script,
        cards=_cards(summary), failures=_failures(summary), coverage=_coverage(summary),
        tidbits=_tidbits(summary), years=_years(summary), files=_n(summary.files),
        metric=_e("{}: {}".format(metric, METRIC_NOTES[metric][1]) if metric in METRIC_NOTES else metric))


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="photodemo aggregate">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="subtitle">{subtitle}</p>
</header>
<main>
<figure id="plot" aria-label="Scatter plot of luminance by year">
<div id="chart"><noscript>The plot needs JavaScript; the summary below does not.</noscript></div>
<figcaption>{caption}</figcaption>
</figure>
{cards}
{failures}
{coverage}
{tidbits}
{years}
</main>
<footer>Luminance {metric}. Made by photodemo's <code>./aggregate</code> from {files} results files;
one self-contained file that loads nothing from the network.</footer>
<div id="tip" role="tooltip" hidden></div>
<script type="application/json" id="plot-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""
