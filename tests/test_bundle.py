"""The wheels the pex carries: only those that fit the running Python are unpacked and used."""

import io
import os
import sys
import zipfile

import pytest

from luminance import bundle

CP = "cp{}{}".format(*sys.version_info[:2])


@pytest.mark.parametrize("name, fits", [
    ("requests-2.32.5-py3-none-any.whl", True),
    ("pillow-11.3.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", True),
    ("pillow-11.3.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", True),
    ("pillow-11.3.0-cp311-cp311-manylinux_2_39_x86_64.whl", False),  # newer glibc than the worker's
    ("pillow-11.3.0-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl", False),
    ("pillow-11.3.0-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", False),
    ("pillow-11.3.0-cp311-cp311-musllinux_1_2_x86_64.whl", False),
    ("pillow-11.3.0-cp311-cp311-win_amd64.whl", False),
])
def test_compatible(name, fits):
    assert bundle.compatible(name, version=(3, 11), machine="x86_64", glibc=(2, 36)) is fits


def make_wheel(module, text):
    """A wheel (a zip) holding one module, as bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("{}.py".format(module), text)
    return buffer.getvalue()


def make_pex(path, wheels):
    """A zip like the pex build.py makes: some code, and WHEELS stored under bundle.ZIP_PREFIX."""
    with zipfile.ZipFile(str(path), "w") as archive:
        archive.writestr("luminance/__init__.py", "")
        for name, data in wheels.items():
            archive.writestr(bundle.ZIP_PREFIX + name, data)
    return str(path)


def test_activate_unpacks_only_the_fitting_wheels(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    pex = make_pex(tmp_path / "luminance.pex", {
        "demo_a-1.0-py3-none-any.whl": make_wheel("demo_a", "VALUE = 'pure'\n"),
        "demo_b-1.0-cp27-cp27mu-manylinux1_x86_64.whl": make_wheel("demo_b", "VALUE = 'old'\n"),
        "demo_b-1.0-py3-none-any.whl": make_wheel("demo_b", "VALUE = 'fallback'\n")})
    cache = tmp_path / "cache"
    paths = bundle.activate(pex, str(cache))
    assert sorted(os.path.basename(p) for p in paths) == ["demo_a-1.0-py3-none-any",
                                                         "demo_b-1.0-py3-none-any"]
    assert sys.path[:2] == paths
    assert sorted(os.listdir(str(cache))) == ["demo_a-1.0-py3-none-any", "demo_b-1.0-py3-none-any"]
    import demo_b
    assert demo_b.VALUE == "fallback"
    sys.modules.pop("demo_b")
    # A second start finds them unpacked and leaves no work folders behind.
    assert bundle.activate(pex, str(cache)) == paths
    assert not [p for p in os.listdir(str(cache)) if p.startswith(".unpack-")]


def test_a_project_without_a_fitting_wheel_is_one_clear_error(tmp_path):
    pex = make_pex(tmp_path / "luminance.pex", {
        "demo_c-1.0-cp27-cp27mu-manylinux1_x86_64.whl": make_wheel("demo_c", "")})
    with pytest.raises(bundle.BundleError) as info:
        bundle.activate(pex, str(tmp_path / "cache"))
    message = str(info.value)
    assert "no demo_c for CPython {}.{}".format(*sys.version_info[:2]) in message
    assert "cp27-cp27mu" in message and "\n" not in message


def test_from_a_source_checkout_nothing_is_bundled(tmp_path, monkeypatch):
    monkeypatch.delenv("PEX", raising=False)
    assert bundle.activate(cache=str(tmp_path)) == []
    assert bundle.activate(make_pex(tmp_path / "plain.pex", {}), str(tmp_path)) == []


def test_targets_lists_the_pythons_and_machines_a_pex_carries(pex):
    # The pex built for this machine's Python carries exactly this Python and machine.
    import platform
    import sys
    found = bundle.targets(pex)
    assert found.pythons == ("{}.{}".format(*sys.version_info[:2]),)
    assert found.arches == (platform.machine(),)
