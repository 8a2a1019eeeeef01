"""The wheels the pex carries: only those that fit the running Python are unpacked and used."""

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


def make_wheel(directory, name, module, text):
    with zipfile.ZipFile(str(directory / name), "w") as archive:
        archive.writestr("{}.py".format(module), text)
    return name


def test_activate_unpacks_only_the_fitting_wheels(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    make_wheel(tmp_path, "demo_a-1.0-py3-none-any.whl", "demo_a", "VALUE = 'pure'\n")
    make_wheel(tmp_path, "demo_b-1.0-cp27-cp27mu-manylinux1_x86_64.whl", "demo_b", "VALUE = 'old'\n")
    make_wheel(tmp_path, "demo_b-1.0-py3-none-any.whl", "demo_b", "VALUE = 'fallback'\n")
    paths = bundle.activate(str(tmp_path))
    assert sorted(p.rsplit("/", 1)[-1] for p in paths) == ["demo_a-1.0-py3-none-any",
                                                          "demo_b-1.0-py3-none-any"]
    assert sys.path[:2] == paths
    assert not (tmp_path / "demo_b-1.0-cp27-cp27mu-manylinux1_x86_64").exists()
    # A second start finds them unpacked and leaves no work folders behind.
    assert bundle.activate(str(tmp_path)) == paths
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".unpack-")]


def test_a_project_without_a_fitting_wheel_is_one_clear_error(tmp_path):
    make_wheel(tmp_path, "demo_c-1.0-cp27-cp27mu-manylinux1_x86_64.whl", "demo_c", "")
    with pytest.raises(bundle.BundleError) as info:
        bundle.activate(str(tmp_path))
    message = str(info.value)
    assert "no demo_c for CPython {}.{}".format(*sys.version_info[:2]) in message
    assert "cp27-cp27mu" in message and "\n" not in message


def test_from_a_source_checkout_nothing_is_bundled(tmp_path):
    assert bundle.activate(str(tmp_path / "no-wheels-here")) == []
