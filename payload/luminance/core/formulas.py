"""The three luminance metrics, defined once: their weights, and how each is written for people.

metrics.py computes with these weights; the job's --help, the page (photodemo/page.py) and the
docs describe each metric with the text made here. The metrics' names belong to the results
schema (results.METRICS). Stdlib only: ./aggregate runs on a bare python3.
"""

import textwrap
from typing import Dict, Tuple

__all__ = ["PERCEIVED", "LUMA", "RELATIVE", "SHORT", "srgb_to_linear", "formula", "help_section"]

Weights = Tuple[float, float, float]  # of the red, green and blue bands

PERCEIVED: Weights = (0.241, 0.691, 0.068)  # the tutorial's luminance2, of each band's RMS
LUMA: Weights = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma
RELATIVE: Weights = (0.2126, 0.7152, 0.0722)  # CIE Y of linear sRGB (BT.709 primaries)

# The sRGB transfer function, undone: (threshold, linear slope, offset, scale, exponent).
_SRGB = (0.04045, 12.92, 0.055, 1.055, 2.4)

SHORT: Dict[str, str] = {  # a few words for each, where there is no room for the formula
    "perceived": "the tutorial's formula",
    "luma": "mean BT.601 luma",
    "relative": "mean CIE Y",
}


def srgb_to_linear(c: float) -> float:
    """The linear light of an sRGB value C in 0..1."""
    threshold, slope, offset, scale, exponent = _SRGB
    return c / slope if c <= threshold else ((c + offset) / scale) ** exponent


def _sum(weights: Weights, bands: Tuple[str, str, str]) -> str:
    return " + ".join("{} {}".format(w, band) for w, band in zip(weights, bands))


def formula(metric: str, squared: str = "^2") -> str:
    """METRIC (a name of results.METRICS) in words and its formula; SQUARED marks a square."""
    if metric == "perceived":
        return ("the tutorial's luminance2: per-band RMS of all pixels; one band: rms/256; RGB: "
                "sqrt({})/256".format(_sum(PERCEIVED, ("R" + squared, "G" + squared, "B" + squared))))
    if metric == "luma":
        return "mean ITU-R BT.601 luma, ({})/255; one band: mean/255".format(_sum(LUMA, ("R", "G", "B")))
    if metric == "relative":
        threshold, slope, offset, scale, exponent = _SRGB
        return ("mean CIE relative luminance Y of linearized sRGB, {}, each band c = value/255 "
                "linearized: c/{} for c <= {}, else ((c+{})/{})^{}".format(
                    _sum(RELATIVE, ("R", "G", "B")), slope, threshold, offset, scale, exponent))
    raise ValueError("unknown metric {!r}".format(metric))


def help_section(metrics: Tuple[str, ...], width: int) -> str:
    """The `metrics (--metric):` section of a --help, each of METRICS wrapped to WIDTH."""
    lines = ["metrics (--metric):"]
    for name in metrics:
        lines += textwrap.wrap(formula(name), width, initial_indent="  {:<11}".format(name),
                               subsequent_indent=" " * 13, break_on_hyphens=False)
    return "\n".join(lines)
