"""The wheels the pex carries: stored once per distinct file, and only those that fit the running
Python assembled and used; which wheels fit follows packaging.tags."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from packaging import tags as ptags

import build
from wheels import make_wheel
from luminance.core import bundle
from luminance.core.errors import EXIT_UNSUITABLE

CP = "cp{}{}".format(*sys.version_info[:2])


@pytest.mark.parametrize("name, fits", [
    ("requests-2.32.5-py3-none-any.whl", True),
    ("six-1.0-py2.py3-none-any.whl", True),
    ("pillow-11.3.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", True),
    ("pillow-11.3.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", True),
    ("pillow-11.3.0-cp311-cp311-manylinux1_x86_64.whl", True),
    ("pillow-11.3.0-cp311-cp311-linux_x86_64.whl", True),
    ("cryptography-45-cp37-abi3-manylinux_2_28_x86_64.whl", True),  # abi3 from an older CPython
    ("cryptography-45-cp312-abi3-manylinux_2_28_x86_64.whl", False),  # abi3 from a newer one
    ("pillow-11.3.0-cp311-cp311-manylinux_2_39_x86_64.whl", False),  # newer glibc than the worker's
    ("pillow-11.3.0-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl", False),
    ("pillow-11.3.0-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", False),
    ("pillow-11.3.0-cp311-cp311-musllinux_1_2_x86_64.whl", False),  # a glibc worker
    ("pillow-11.3.0-cp311-cp311-win_amd64.whl", False),
    ("pillow-11.3.0-cp311-cp311t-manylinux_2_17_x86_64.whl", False),  # free-threaded build only
    ("pillow-11.3.0-py2-none-any.whl", False),
])
def test_compatible(name, fits):
    assert bundle.compatible(name, version=(3, 11), machine="x86_64", glibc=(2, 36)) is fits


def test_musl_workers_take_musllinux_wheels_only():
    musl = dict(version=(3, 12), machine="aarch64", musl=(1, 2))
    assert bundle.compatible("pillow-11.3.0-cp312-cp312-musllinux_1_2_aarch64.whl", **musl)
    assert bundle.compatible("pillow-11.3.0-cp312-cp312-musllinux_1_1_aarch64.whl", **musl)
    assert not bundle.compatible("pillow-11.3.0-cp312-cp312-musllinux_1_3_aarch64.whl", **musl)
    assert not bundle.compatible("pillow-11.3.0-cp312-cp312-manylinux_2_17_aarch64.whl", **musl)


@pytest.mark.parametrize("version, machine, glibc", [
    ((3, 11), "x86_64", (2, 36)), ((3, 9), "aarch64", (2, 28)), ((3, 14), "x86_64", (2, 17)),
    ((3, 6), "x86_64", (2, 5))])
def test_supported_tags_are_packagings_in_its_order(version, machine, glibc):
    # packaging.tags given the same platforms must list the same tags in the same order; the
    # platforms themselves are checked against packaging on this machine below.
    ours = bundle.supported_tags(version, machine, glibc=glibc, free_threaded=False)
    platforms = bundle._platforms(machine, glibc, None)
    interpreter = "cp{}{}".format(*version)
    theirs = list(ptags.cpython_tags(version, abis=[interpreter], platforms=platforms))
    theirs += list(ptags.compatible_tags(version, interpreter, platforms))
    assert ours == [(t.interpreter, t.abi, t.platform) for t in theirs]


def test_this_machines_platform_tags_are_packagings():
    glibc = bundle._glibc()
    if glibc is None:
        pytest.skip("not a glibc system")
    theirs = [p for p in ptags.platform_tags() if not p.startswith("musllinux")]
    import platform
    assert bundle._platforms(platform.machine(), glibc, None) == theirs


def test_choose_prefers_what_pip_would():
    wheels = ["demo-1.0-py3-none-any.whl", "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
              "demo-1.0-cp39-abi3-manylinux_2_17_x86_64.whl", "other-2.0-py3-none-any.whl"]
    assert bundle.choose(wheels, (3, 11), "x86_64", (2, 36)) == [wheels[1], wheels[3]]
    assert bundle.choose(wheels, (3, 10), "x86_64", (2, 36)) == [wheels[2], wheels[3]]
    assert bundle.choose(wheels, (3, 8), "x86_64", (2, 36)) == [wheels[0], wheels[3]]


def make_pex(path, wheels):
    """A zip like the pex build.py makes: some code, and WHEELS in the store bundle.py reads."""
    with zipfile.ZipFile(str(path), "w") as archive:
        archive.writestr("luminance/__init__.py", "")
    build.add_store(str(path), wheels)
    return str(path)


def test_activate_assembles_only_the_fitting_wheels(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    pex = make_pex(tmp_path / "luminance.pex", [
        make_wheel(tmp_path, "demo_a-1.0-py3-none-any.whl", {"demo_a.py": "VALUE = 'pure'\n"}),
        make_wheel(tmp_path, "demo_b-1.0-cp27-cp27mu-manylinux1_x86_64.whl",
                   {"demo_b.py": "VALUE = 'old'\n"}),
        make_wheel(tmp_path, "demo_b-1.0-py3-none-any.whl", {"demo_b.py": "VALUE = 'fallback'\n",
                                                             "demo_b_data/x.txt": "x"})])
    cache = tmp_path / "cache"
    paths = bundle.activate(pex, str(cache))
    assert sorted(os.path.basename(p) for p in paths) == ["demo_a-1.0-py3-none-any",
                                                         "demo_b-1.0-py3-none-any"]
    assert sys.path[:2] == paths
    assert sorted(os.listdir(str(cache))) == ["demo_a-1.0-py3-none-any", "demo_b-1.0-py3-none-any"]
    assert (cache / "demo_b-1.0-py3-none-any" / "demo_b_data" / "x.txt").read_text() == "x"
    import demo_b
    assert demo_b.VALUE == "fallback"
    sys.modules.pop("demo_b")
    # A second start finds them assembled and leaves no work folders behind.
    assert bundle.activate(pex, str(cache)) == paths
    assert not [p for p in os.listdir(str(cache)) if p.startswith(".unpack-")]


def test_each_distinct_file_is_stored_once(tmp_path):
    shared = "# the same bytes in every wheel\n" * 50
    wheels = [make_wheel(tmp_path, "demo-1.0-cp3{0}-cp3{0}-manylinux_2_17_x86_64.whl".format(minor),
                         {"demo/shared.py": shared, "demo/_ext.so": "built for 3.{}".format(minor)})
              for minor in (9, 10, 11, 12)]
    index, packs = build.make_store(wheels)
    assert len(index.blobs) == 1 + 4
    assert sorted(packs) == ["x86_64-cp312.xz", "x86_64-cp39-cp311.xz", "x86_64.xz"]
    # Every wheel's file list points at the one copy.
    shared_numbers = {item.blob for files in index.wheels.values()
                      for item in files if item.path == "demo/shared.py"}
    assert len(shared_numbers) == 1
    # The index reads back as written: StoreIndex owns its format.
    again = bundle.StoreIndex.loads(index.dumps(), "index.json")
    assert (again.blobs, again.wheels, again.left_out) == (index.blobs, index.wheels, index.left_out)


def test_files_deep_in_a_pack_are_read_whole(tmp_path):
    # Files of 3 MB that LZMA cannot shrink: the pack is decoded in many reads, with a gap
    # (the files not asked for) between the ones asked for.
    import random
    rng = random.Random(1)
    texts = [bytes(rng.getrandbits(8) for _ in range(3 << 20)) for _ in range(3)]
    wheels = [make_wheel(tmp_path, "demo-1.0-cp3{0}-cp3{0}-manylinux_2_17_x86_64.whl".format(minor),
                         {"demo/_ext.so": text}) for minor, text in zip((9, 10, 11), texts)]
    pex = make_pex(tmp_path / "luminance.pex", wheels)
    with zipfile.ZipFile(pex) as archive:
        index = bundle.StoreIndex.read(archive)
        numbers = {files[0].blob: name for name, files in index.wheels.items()}
        assert len({index.blobs[number].pack for number in numbers}) == 1  # one pack
        by_minor = {int(name.split("-cp3")[1].split("-")[0]): number for number, name in numbers.items()}
        for wanted in ([11], [9, 11], [10]):
            found = bundle._blobs(archive, index, [by_minor[minor] for minor in wanted])
            assert [found[by_minor[minor]] for minor in wanted] == [texts[minor - 9] for minor in wanted]


def test_the_store_is_reproducible(tmp_path):
    wheel = make_wheel(tmp_path, "demo_a-1.0-py3-none-any.whl", {"demo_a.py": "VALUE = 1\n"})
    first, second = make_pex(tmp_path / "a.pex", [wheel]), make_pex(tmp_path / "b.pex", [wheel])
    assert open(first, "rb").read() == open(second, "rb").read()


def test_a_python_without_wheels_is_unsuitable_naming_what_the_pex_serves(tmp_path):
    pex = make_pex(tmp_path / "luminance.pex", [
        make_wheel(tmp_path, "demo_c-1.0-cp39-cp39-manylinux2014_x86_64.whl", {"demo_c.py": ""}),
        make_wheel(tmp_path, "demo_c-1.0-cp310-cp310-manylinux2014_aarch64.whl", {"demo_c.py": ""})])
    if CP in ("cp39", "cp310"):
        pytest.skip("this Python is one the made-up pex serves")
    with pytest.raises(bundle.BundleError) as info:
        bundle.activate(pex, str(tmp_path / "cache"))
    message = str(info.value)
    assert info.value.exit_code == EXIT_UNSUITABLE == 5
    assert "no demo_c for CPython {}.{}".format(*sys.version_info[:2]) in message
    assert "it serves CPython 3.9, 3.10 on aarch64, x86_64" in message and "\n" not in message


def test_a_damaged_pex_is_one_clear_error(tmp_path):
    wheel = make_wheel(tmp_path, "demo_d-1.0-py3-none-any.whl", {"demo_d.py": "VALUE = 1\n" * 1000})
    good = make_pex(tmp_path / "good.pex", [wheel])
    with zipfile.ZipFile(good) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    pack = bundle.ZIP_PREFIX + "any.xz"
    flip = lambda data, at: data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]  # noqa: E731
    for what, member, damage in [
            ("bytes", pack, lambda data: flip(data, 40)),
            ("late", pack, lambda data: flip(data, len(data) - 30)),
            ("cut", pack, lambda data: data[:len(data) // 2]),
            ("index", bundle.INDEX, lambda data: flip(data, len(data) // 2)),
            ("index-cut", bundle.INDEX, lambda data: data[:len(data) // 2])]:
        bad = tmp_path / "{}.pex".format(what)
        with zipfile.ZipFile(str(bad), "w") as archive:
            for name, data in members.items():
                archive.writestr(name, damage(data) if name == member else data)
        with pytest.raises(bundle.BundleError) as info:
            bundle.activate(str(bad), str(tmp_path / "cache-{}".format(what)))
        assert "damaged" in str(info.value) and "\n" not in str(info.value), what
        assert info.value.exit_code == EXIT_UNSUITABLE
        assert not os.path.exists(str(tmp_path / "cache-{}".format(what) / "demo_d-1.0-py3-none-any"))


def activate_in_child(pex, cache, prelude):
    """bundle.activate(PEX, CACHE) in a fresh Python that first runs PRELUDE (a limit, a missing
    module); its BundleError printed as one line, exiting with its code."""
    code = ("import sys\n" + prelude + "from luminance.core import bundle\n"
            "try:\n    bundle.activate(sys.argv[1], sys.argv[2])\n"
            "except bundle.BundleError as exc:\n    print(exc); sys.exit(exc.exit_code)\n")
    return subprocess.run([sys.executable, "-c", code, pex, cache], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))


def test_no_room_to_unpack_is_one_clear_error(tmp_path):
    # A real write failure: a child process whose files may not grow past 64 KiB (RLIMIT_FSIZE,
    # the write fails with EFBIG) assembles a wheel holding a 1 MB file.
    wheel = make_wheel(tmp_path, "demo_e-1.0-py3-none-any.whl", {"demo_e/big.bin": "x" * 1000000})
    pex = make_pex(tmp_path / "luminance.pex", [wheel])
    proc = activate_in_child(pex, str(tmp_path / "cache"), "import resource\n"
                             "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, resource.RLIM_INFINITY))\n")
    assert proc.returncode == EXIT_UNSUITABLE, proc.stderr
    assert proc.stdout.startswith("cannot unpack the libraries for this Python into ")
    assert "File too large" in proc.stdout and len(proc.stdout.splitlines()) == 1
    assert os.listdir(str(tmp_path / "cache")) == []  # the half-written wheel is gone


def test_a_python_without_lzma_is_unsuitable(tmp_path):
    # Some self-built Pythons lack _lzma: the job must still say why, not crash.
    wheel = make_wheel(tmp_path, "demo_f-1.0-py3-none-any.whl", {"demo_f.py": "VALUE = 1\n"})
    pex = make_pex(tmp_path / "luminance.pex", [wheel])
    proc = activate_in_child(pex, str(tmp_path / "cache"), "sys.modules['lzma'] = None\n")
    assert proc.returncode == EXIT_UNSUITABLE, proc.stderr
    assert "was built without the lzma module" in proc.stdout


def test_from_a_source_checkout_nothing_is_bundled(tmp_path):
    assert bundle._running_payload() is None  # not run by pex: no $PEX
    assert bundle.activate(cache=str(tmp_path)) == []
    plain = tmp_path / "plain.pex"
    with zipfile.ZipFile(str(plain), "w") as archive:
        archive.writestr("luminance/__init__.py", "")
    assert bundle.activate(str(plain), str(tmp_path)) == []
    assert bundle.targets(str(plain)) == bundle.Targets((), ())


def test_the_cache_is_named_by_the_store_under_pex_root(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PEX_ROOT", ".pex")  # as submit.sub sets it: relative to the sandbox
    wheel = make_wheel(tmp_path, "demo_g-1.0-py3-none-any.whl", {"demo_g.py": "VALUE = 1\n"})
    (tmp_path / "other").mkdir()
    other = make_wheel(tmp_path / "other", "demo_g-1.0-py3-none-any.whl", {"demo_g.py": "VALUE = 2\n"})
    paths = [bundle.activate(make_pex(tmp_path / "{}.pex".format(n), [w]))[0]
             for n, w in enumerate((wheel, other, wheel))]
    keys = [os.path.relpath(path, str(tmp_path / ".pex" / "photodemo")).split(os.sep)[0] for path in paths]
    assert keys[0] == keys[2] != keys[1] and len(keys[0]) == 16  # another store, another folder
    assert all(os.path.isdir(path) for path in paths)


def test_a_cache_folder_others_own_or_may_write_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("PEX_ROOT", str(tmp_path / "root"))
    assert bundle.cache_dir("k") == str(tmp_path / "root" / "photodemo" / "k")
    # Code planted in a folder someone else may write would run as the job's user.
    for folder, change in [(tmp_path / "root" / "photodemo", lambda path: os.chmod(path, 0o777)),
                           (tmp_path / "root" / "photodemo" / "k", lambda path: os.chown(path, 12345, -1)),
                           (tmp_path / "root" / "photodemo" / "k", lambda path: os.chmod(path, 0o722))]:
        change(str(folder))
        with pytest.raises(bundle.BundleError) as info:
            bundle.cache_dir("k")
        assert str(info.value).startswith("{} is not this user's alone".format(folder))
        assert info.value.exit_code == EXIT_UNSUITABLE
        shutil.rmtree(str(tmp_path / "root"))
        bundle.cache_dir("k")
    monkeypatch.delenv("PEX_ROOT")
    with pytest.raises(bundle.BundleError):
        bundle.cache_dir("k")


def test_targets_of_a_universal_store(tmp_path):
    wheels = [make_wheel(tmp_path, "pillow-11.3.0-cp3{0}-cp3{0}-manylinux2014_{1}.manylinux_2_17_{1}.whl"
                         .format(minor, arch), {"PIL/__init__.py": ""})
              for minor in (9, 10, 14) for arch in ("x86_64", "aarch64")]
    wheels.append(make_wheel(tmp_path, "requests-2.32.5-py3-none-any.whl", {"requests/__init__.py": ""}))
    pex = make_pex(tmp_path / "luminance.pex", wheels)
    assert bundle.targets(pex) == bundle.Targets(("3.9", "3.10", "3.14"), ("aarch64", "x86_64"))


def test_targets_lists_the_pythons_and_machines_a_pex_carries(pex):
    # The pex built for this machine's Python carries exactly this Python and machine.
    import platform
    found = bundle.targets(pex)
    assert found.pythons == ("{}.{}".format(*sys.version_info[:2]),)
    assert found.arches == (platform.machine(),)
