"""submit.sub, checked by HTCondor's own submit-language implementation (the htcondor bindings).

`htcondor.Submit(text).jobs()` expands a description into the job ClassAds a schedd would
create; the tests assert on those ads, not on the text.
"""

import os
import zipfile

import pytest

with pytest.MonkeyPatch.context() as patch:  # a config-free HTCondor, read at import; then restored
    patch.setenv("CONDOR_CONFIG", "/dev/null")
    htcondor = pytest.importorskip("htcondor")
    classad = pytest.importorskip("classad")

from photodemo import submit

HERE = os.path.dirname(os.path.abspath(__file__))
# The tutorial's real manifest (5,576 records), kept beside the checkout (or in PHOTODEMO_SHARED).
SHARED = os.environ.get("PHOTODEMO_SHARED") or os.path.join(HERE, "..", "..", "shared")
SEED = os.path.normpath(os.path.join(SHARED, "seed", "manifest.txt"))


def write_manifest(path, records, comments=False):
    lines = []
    if comments:
        lines += ["# photodemo test manifest", ""]
    for n in range(records):
        lines.append("http://127.0.0.1/p{}.jpg {}".format(n, 1900 + n % 100))
        if comments and n % 3 == 0:
            lines += ["", "# a comment between records"]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def job_ads(workdir):
    """The jobs of submit.sub run alone, as its header says: one per line of its items file."""
    text = (workdir / "submit.sub").read_text()
    if (workdir / "transfers.txt").exists():
        text += "queue start,count,objects from transfers.txt\n"
    else:
        text += "queue start,count from chunks.txt\n"
    return list(htcondor.Submit(text).jobs())


def node_ads(workdir):
    """The job of every node of photodemo.dag: submit.sub with the node's VARS."""
    ads = []
    for line in (workdir / "photodemo.dag").read_text().splitlines():
        if line.startswith("VARS "):
            description = htcondor.Submit((workdir / "submit.sub").read_text())
            for pair in line.split()[2:]:
                name, value = pair.split("=", 1)
                description[name] = value.strip('"')
            ads += list(description.jobs())
    return ads


def covered(ads):
    """(start, count) of every job, from its Args, checked against its other per-job names."""
    spans = []
    for ad in ads:
        words = ad["Args"].split()
        name, start, count = words[0], int(words[1]), int(words[2])
        assert name == "results-{}.json".format(start)
        assert ad["Out"] == "log/job.output.{}".format(start)
        assert ad["Err"] == "log/job.error.{}".format(start)
        assert ad["TransferOutput"] == name
        spans.append((start, count))
    return spans


def assert_covers_once(spans, records):
    seen = [0] * records
    for start, count in spans:
        assert count >= 1
        for index in range(start, start + count):
            seen[index] += 1
    assert seen == [1] * records


@pytest.mark.skipif(not os.path.isfile(SEED), reason="the tutorial's manifest is not at " + SEED)
def test_seed_manifest_makes_28_jobs_as_the_tutorial(workdir, capsys):
    assert submit.main(["--dry-run", "--manifest", SEED, "--chunk", "200",
                        "--project", "ConnectTrain"]) == 0
    ads = job_ads(workdir)
    assert len(ads) == 28
    spans = covered(ads)
    assert spans[0] == (0, 200) and spans[-1] == (5400, 176)
    assert_covers_once(spans, 5576)
    for ad in ads:
        assert ad["Cmd"] == str(workdir / "dist" / "luminance.pex")
        assert ad["In"] == SEED  # outside the submit directory: named absolutely
        assert ad["UserLog"] == str(workdir / "job.log")
        assert ad["ProjectName"] == "ConnectTrain"
        assert ad["RequestCpus"] == 1
        assert ad["RequestMemory"] == 1024
        assert ad["RequestDisk"] == 50 * 1024  # KiB: twice the (tiny) pex plus 50 MB
        assert ad["Environment"] == "PEX_ROOT=.pex"
        assert ad["ShouldTransferFiles"] == "YES"
        assert ad["WhenToTransferOutput"] == "ON_EXIT_OR_EVICT"  # an evicted job keeps its results
        assert "TransferOutputRemaps" not in ad  # results land in the submit directory
        assert "ContainerImage" not in ad
    out = capsys.readouterr().out
    assert "5576 records -> 28 jobs: 27 x 200 + 1 x 176 records" in out
    assert os.path.isdir(workdir / "log")  # condor_submit needs it to exist
    assert not os.path.exists(workdir / "slices")  # 0.6 MB: sent whole, as in the tutorial


@pytest.mark.parametrize("records, jobs", [(1, 1), (5, 1), (6, 2), (10, 2), (11, 3)])
@pytest.mark.parametrize("comments", [False, True])
def test_chunk_edges_cover_every_record_once(workdir, records, jobs, comments):
    write_manifest(workdir / "manifest.txt", records, comments)
    assert submit.main(["--dry-run", "--chunk", "5"]) == 0
    ads = job_ads(workdir)
    assert len(ads) == jobs
    assert_covers_once(covered(ads), records)
    assert [ad["Args"] for ad in node_ads(workdir)] == [ad["Args"] for ad in ads]
    assert all(ad["In"] == "manifest.txt" for ad in ads)  # inside the submit directory: relative


def test_only_an_unsuitable_worker_holds_other_exits_are_judged_by_the_dag(workdir):
    write_manifest(workdir / "manifest.txt", 3)
    assert submit.main(["--dry-run", "--max-retries", "2"]) == 0
    ad = job_ads(workdir)[0]
    assert "JobMaxRetries" not in ad  # no silent reruns: DAGMan's RETRY, or a hold

    def exit_with(code):
        ad["ExitCode"] = code
        return ad.eval("OnExitHold"), ad.eval("OnExitHoldReason"), ad.eval("OnExitHoldSubCode")

    for code in (0, 1, 2, 3, 4):
        assert exit_with(code)[0] is False  # the node's POST script judges the results
    held, reason, subcode = exit_with(5)
    assert held is True and subcode == 5 and "no Python the payload can use (exit 5)" in reason


def released(ad, code, subcode=0, holds=1, held_for=0, attribute="PeriodicRelease"):
    """ATTRIBUTE of AD held with CODE/SUBCODE for the HOLDS-th time, HELD_FOR seconds ago."""
    ad["HoldReasonCode"], ad["HoldReasonSubCode"], ad["NumHolds"] = code, subcode, holds
    ad["EnteredCurrentStatus"] = classad.ExprTree("time() - {}".format(held_for))
    ad["JobStatus"] = 5
    return ad.eval(attribute)


def test_holds_are_released_after_the_backoff_a_bounded_number_of_times(workdir):
    write_manifest(workdir / "manifest.txt", 3)
    assert submit.main(["--dry-run", "--max-retries", "2", "--backoff", "60"]) == 0
    ad = job_ads(workdir)[0]
    for code in (12, 13):  # failed output / input transfer
        assert released(ad, code, 0, holds=1, held_for=59) is False  # the back-off first
        assert released(ad, code, 0, holds=1, held_for=61) is True
        assert released(ad, code, 0, holds=2, held_for=100) is False  # grows with each hold
        assert released(ad, code, 0, holds=2, held_for=121) is True
        assert released(ad, code, 0, holds=3, held_for=10 ** 6) is False  # bounded
        assert released(ad, code, 0, holds=3, attribute="PeriodicRemove") is True  # node ends
        assert released(ad, code, 0, holds=2, attribute="PeriodicRemove") is False
    assert released(ad, 3, 5, holds=1, held_for=0) is True  # unsuitable worker: at once, elsewhere
    assert released(ad, 3, 3, holds=1, held_for=10 ** 6) is False  # exit 3 is DAGMan's RETRY
    assert released(ad, 1, 0, holds=1, held_for=10 ** 6) is False  # condor_hold by the user
    assert released(ad, 1, 0, holds=9, attribute="PeriodicRemove") is False  # ... left to them
    assert released(ad, 3, 1, holds=1, held_for=10 ** 6) is False  # someone else's policy


def test_the_release_rule_is_the_table_of_releases(workdir):
    """periodic_release is made from condor.RELEASES (docs/ospool.md's hold table): each row is
    released, with or without the back-off as it says, and nothing else."""
    from photodemo import condor
    write_manifest(workdir / "manifest.txt", 3)
    assert submit.main(["--dry-run", "--max-retries", "1", "--backoff", "60"]) == 0
    ad = job_ads(workdir)[0]
    for release in condor.RELEASES:
        subcode = release.subcode if release.subcode is not None else 7
        assert released(ad, release.code, subcode, held_for=0) is (not release.backoff)
        assert released(ad, release.code, subcode, held_for=61) is True
    rows = {(r.code, r.subcode) for r in condor.RELEASES}
    for code in range(0, 50):
        for subcode in (0, 3, 5):
            if (code, subcode) not in rows and (code, None) not in rows:
                assert released(ad, code, subcode, held_for=10 ** 6) is False, (code, subcode)
    docs = open(os.path.join(HERE, "..", "docs", "ospool.md")).read()
    for release in condor.RELEASES:
        assert release.meaning in docs


def machine(arch="X86_64", name="worker-1", **attributes):
    ad = classad.ClassAd({"Arch": arch, "OpSys": "LINUX", "Machine": name, "Disk": 10 ** 8,
                          "Memory": 10 ** 5, "HasFileTransfer": True, "Cpus": 8})
    ad.update(attributes)
    return ad


CONTAINERS = {"HasContainer": True, "HasSandboxImage": True}  # what a container_image job asks of a machine


def fake_pex(path, arches=("x86_64", "aarch64")):
    """A zip laid out like the pex: a store whose index names wheels (bundle.targets reads it)."""
    from luminance.core import bundle
    wheels = {"pillow-11.3.0-cp{}-cp{}-manylinux_2_28_{}.whl".format(py, py, arch): ()
              for arch in arches for py in ("39", "313")}
    with zipfile.ZipFile(str(path), "w") as archive:
        archive.writestr(bundle.INDEX, bundle.StoreIndex(blobs=(), wheels=wheels).dumps())


def test_requirements_serve_every_arch_of_the_pex_and_keep_off_old_ospool_workers(workdir, capsys):
    fake_pex(workdir / "dist" / "luminance.pex")
    write_manifest(workdir / "manifest.txt", 3)
    assert submit.main(["--dry-run"]) == 0
    assert "CPython 3.9, 3.13 on aarch64, x86_64" in capsys.readouterr().out
    ad = job_ads(workdir)[0]
    assert machine("X86_64").matches(ad) and machine("aarch64").matches(ad)
    assert not machine("ppc64le").matches(ad)
    assert machine(OSGVO_OS_STRING="RHEL 9").matches(ad)
    for old in ("RHEL 8", "RHEL 7"):  # python3 is 3.6 there
        assert not machine(OSGVO_OS_STRING=old).matches(ad)
    assert submit.main(["--dry-run", "--no-os-check"]) == 0
    assert machine(OSGVO_OS_STRING="RHEL 8").matches(job_ads(workdir)[0])


def test_a_job_that_found_no_usable_python_runs_elsewhere(workdir):
    write_manifest(workdir / "manifest.txt", 3)
    assert submit.main(["--dry-run", "--requirements", 'TARGET.Cpus >= 4']) == 0
    ad = job_ads(workdir)[0]
    assert ad["JobMachineAttrs"] == "Machine"
    assert machine(name="bad").matches(ad)  # never ran: anywhere
    ad["ExitCode"], ad["MachineAttrMachine0"] = 3, "bad"
    assert machine(name="bad").matches(ad)  # transient failures are not the machine's fault
    ad["ExitCode"] = 5
    assert not machine(name="bad").matches(ad)
    assert machine(name="good").matches(ad)
    assert not machine(name="good", Cpus=2).matches(ad)  # the user's requirements still hold


def test_a_container_per_architecture(workdir):
    fake_pex(workdir / "dist" / "luminance.pex")
    write_manifest(workdir / "manifest.txt", 3)
    assert submit.main(["--dry-run", "--container", "docker://example/photo:1-{arch}"]) == 0
    ad = job_ads(workdir)[0]
    assert ad["ContainerImage"] == "docker://example/photo:1-$$(Arch)"  # filled in at match time


def test_no_retries(workdir):
    write_manifest(workdir / "manifest.txt", 3)
    assert submit.main(["--dry-run", "--max-retries", "0"]) == 0
    ad = job_ads(workdir)[0]
    assert "OnExitHold" not in ad and "PeriodicRelease" not in ad


def test_max_running_is_dagmans_maxjobs(workdir):
    write_manifest(workdir / "manifest.txt", 30)
    assert submit.main(["--dry-run", "--chunk", "5", "--max-running", "2"]) == 0
    config = (workdir / "photodemo.dag.config").read_text()
    assert "DAGMAN_MAX_JOBS_SUBMITTED = 2" in config.splitlines()
    assert len(job_ads(workdir)) == len(node_ads(workdir)) == 6


def test_each_job_is_sent_its_current_results_file(workdir):
    write_manifest(workdir / "manifest.txt", 12)
    assert submit.main(["--dry-run", "--chunk", "5", "--results", "out"]) == 0
    for ad in job_ads(workdir):
        start = ad["Args"].split()[1]
        assert ad["TransferInput"] == "out/results-{}.json".format(start)
        assert os.path.isfile(workdir / ad["TransferInput"])  # a pending one: never a missing input


def test_every_option_reaches_the_ads(workdir, tmp_path):
    fake_pex(workdir / "dist" / "luminance.pex")
    write_manifest(workdir / "manifest.txt", 12)
    assert submit.main(["--dry-run", "--chunk", "4", "--results", "out", "--metric", "luma",
                        "--workers", "8", "--timeout", "2.5", "--retries", "0", "--request-cpus", "4",
                        "--request-memory", "2GB", "--request-disk",
                        "3 GB", "--container", "/cvmfs/singularity.opensciencegrid.org/htc/rocky:9",
                        "--requirements", "TARGET.HasPhotoScratch =?= true",
                        "--project", "My_Project"]) == 0
    ads = job_ads(workdir)
    assert [ad["Args"] for ad in ads] == [
        "results-{0}.json {0} 4 --metric luma --workers 8 --timeout 2.5 --retries 0".format(start)
        for start in (0, 4, 8)]
    for ad in ads:
        start = ad["Args"].split()[1]
        assert ad["TransferOutputRemaps"] == "results-{0}.json = out/results-{0}.json".format(start)
        assert ad["RequestCpus"] == 4
        assert ad["RequestMemory"] == 2048
        assert ad["RequestDisk"] == 3 * 1024 * 1024
        assert ad["ContainerImage"] == "/cvmfs/singularity.opensciencegrid.org/htc/rocky:9"
        # photodemo's Arch term (the pex serves both machines) and the user's own, together.
        for arch in ("X86_64", "aarch64"):
            assert machine(arch, HasPhotoScratch=True, **CONTAINERS).matches(ad)
            assert not machine(arch, **CONTAINERS).matches(ad)
        assert not machine("ppc64le", HasPhotoScratch=True, **CONTAINERS).matches(ad)
        assert ad["ProjectName"] == "My_Project"
    assert os.path.isdir(workdir / "out")


def test_split_gives_each_job_its_slice(workdir):
    write_manifest(workdir / "manifest.txt", 12, comments=True)
    assert submit.main(["--dry-run", "--chunk", "5", "--split"]) == 0
    ads = job_ads(workdir)
    assert [ad["In"] for ad in ads] == ["slices/manifest.{}.txt".format(s) for s in (0, 5, 10)]
    for ad in ads:
        assert os.path.isfile(workdir / ad["In"])
    assert [ad["Args"] for ad in ads][-1] == "results-10.json 10 2"


def test_results_dir_outside_the_submit_dir_is_named_absolutely(workdir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    write_manifest(workdir / "manifest.txt", 2)
    assert submit.main(["--dry-run", "--results", str(elsewhere)]) == 0
    ad = job_ads(workdir)[0]
    assert ad["TransferOutputRemaps"] == "results-0.json = {}/results-0.json".format(elsewhere)


@pytest.mark.parametrize("option, value", [
    ("--project", 'My"Project'), ("--request-memory", "lots"), ("--request-disk", "2XB"),
    ("--request-disk", "2048"), ("--request-memory", "1GiB"),
    ("--requirements", "Arch == \"X86_64\"\nqueue 1000"),
    ("--project", "X\\"), ("--requirements", "Arch == \"\udcff\""),
    ("--container", "img\nqueue"),
])
def test_values_that_would_break_the_description_are_refused(workdir, capsys, option, value):
    write_manifest(workdir / "manifest.txt", 2)
    assert submit.main(["--dry-run", option, value]) == 2
    err = capsys.readouterr().err
    assert option in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(workdir / "submit.sub")


@pytest.mark.parametrize("name", ["my manifest.txt", "$ENV(HOME).txt", "a$(x).txt", "back\\slash",
                                  "a,b.txt"])
def test_a_path_that_would_change_the_description_is_refused_not_miswritten(workdir, capsys, name):
    write_manifest(workdir / name, 2)
    assert submit.main(["--dry-run", "--manifest", name]) == 2
    assert name in capsys.readouterr().err
    assert not os.path.exists(workdir / "submit.sub")
