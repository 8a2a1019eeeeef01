"""luminance.core.formats and luminance.core.formulas: the one definition of the photo formats and of the
metrics, against Pillow and against what the job, the page and --help say."""

import pytest
from PIL import Image

from luminance import cli, metrics
from luminance.core import command, formats, formulas, results
from photodemo import page


def test_the_job_opens_exactly_the_listed_formats():
    assert metrics.FORMATS == formats.PILLOW_IDS
    assert formats.PILLOW_IDS[-1] == "AVIF"  # metrics leaves it out on a Pillow without the plugin


@pytest.mark.parametrize("fmt", formats.FORMATS, ids=lambda f: f.pillow)
def test_each_extension_is_one_pillow_registers_for_its_format(fmt):
    Image.init()
    registered = Image.registered_extensions()
    if fmt.pillow not in Image.OPEN:
        pytest.skip("this Pillow has no {} plugin".format(fmt.name))
    assert fmt.extensions and all(registered.get(ext) == fmt.pillow for ext in fmt.extensions)
    assert len(set(formats.EXTENSIONS)) == len(formats.EXTENSIONS)


def test_the_job_names_the_formats_it_decodes():
    assert formats.named() in cli.DESCRIPTION
    with pytest.raises(metrics.NotAnImage, match=", ".join(formats.NAMES)):
        metrics.measure(b"%!PS-Adobe-3.0 EPSF-3.0\n")


def test_every_metric_has_its_words_and_formula():
    for name in results.METRICS:
        assert formulas.SHORT[name] and name in page.METRIC_NOTES
        assert page.METRIC_NOTES[name] == (formulas.SHORT[name], formulas.formula(name, squared="²"))
    assert set(formulas.SHORT) == set(results.METRICS)
    for weights, name in ((formulas.PERCEIVED, "perceived"), (formulas.LUMA, "luma"),
                          (formulas.RELATIVE, "relative")):
        assert all(str(w) in formulas.formula(name) for w in weights)
    help_text = cli.parser().format_help()
    assert formulas.help_section(results.METRICS, command.HELP_WIDTH) in help_text


def test_the_metrics_compute_with_the_listed_weights():
    # A gray photo's every metric is its level (the weights sum to 1); a pure green one weighs G.
    green = Image.new("RGB", (4, 4), (0, 255, 0))
    assert metrics.luminance(green, "luma") == pytest.approx(formulas.LUMA[1])
    assert metrics.luminance(green, "relative") == pytest.approx(formulas.RELATIVE[1])
    assert metrics.luminance(green, "perceived") == pytest.approx(
        (formulas.PERCEIVED[1] * 255 * 255) ** 0.5 / 256)
    assert formulas.srgb_to_linear(0.0) == 0.0 and formulas.srgb_to_linear(1.0) == pytest.approx(1.0)


def test_an_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="unknown metric 'mean'"):
        formulas.formula("mean")
