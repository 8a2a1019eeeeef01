"""submit.sub, checked by HTCondor's own submit-language implementation (the htcondor bindings).

`htcondor.Submit(text).jobs()` expands a description into the job ClassAds a schedd would
create; the tests assert on those ads, not on the text.
"""

import os

os.environ["CONDOR_CONFIG"] = "/dev/null"  # a config-free HTCondor: before the import below

import pytest  # noqa: E402

htcondor = pytest.importorskip("htcondor")

from photodemo import submit  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# The tutorial's real manifest (5,576 records), kept beside the checkout.
SEED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "seed", "manifest.txt"))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A submit directory holding a stand-in payload (a dry run never executes it)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "luminance.pex").write_bytes(b"#!/bin/sh\n")
    return tmp_path


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
    text = (workdir / "submit.sub").read_text()
    return list(htcondor.Submit(text).jobs())


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
        assert ad["RequestDisk"] == 2 * 1024 * 1024  # KiB
        assert ad["JobMaxRetries"] == 3
        assert ad["Environment"] == "PEX_ROOT=.pex"
        assert ad["ShouldTransferFiles"] == "YES"
        assert ad["WhenToTransferOutput"] == "ON_EXIT"
        assert "TransferOutputRemaps" not in ad  # results land in the submit directory
        assert "ContainerImage" not in ad
    out = capsys.readouterr().out
    assert "5576 records -> 28 jobs: 27 x 200 + 1 x 176 records" in out
    assert os.path.isdir(workdir / "log")  # condor_submit needs it to exist
    assert not os.path.exists(workdir / "slices")  # 0.6 MB: sent whole, as in the tutorial


@pytest.mark.parametrize("records, jobs", [(1, 1), (5, 1), (6, 2), (10, 2), (11, 3)])
@pytest.mark.parametrize("comments", [False, True])
def test_chunk_edges_cover_every_record_once(workdir, records, jobs, comments):
    manifest = write_manifest(workdir / "manifest.txt", records, comments)
    assert submit.main(["--dry-run", "--chunk", "5"]) == 0
    ads = job_ads(workdir)
    assert len(ads) == jobs
    spans = covered(ads)
    assert_covers_once(spans, records)
    assert all(ad["In"] == "manifest.txt" for ad in ads)
    assert manifest.endswith("manifest.txt")


def test_retries_only_on_the_transient_exit_code(workdir):
    write_manifest(workdir / "manifest.txt", 3)
    assert submit.main(["--dry-run", "--max-retries", "2"]) == 0
    ad = job_ads(workdir)[0]
    assert ad["JobMaxRetries"] == 2

    def leaves_queue(code, completions):
        ad["ExitCode"], ad["NumJobCompletions"] = code, completions
        return ad.eval("OnExitRemove")

    assert leaves_queue(0, 1) is True  # done
    assert leaves_queue(1, 1) is True  # a crash is final: its error log says why
    assert leaves_queue(2, 1) is True  # usage error: rerunning cannot help
    assert leaves_queue(3, 1) is False  # transient failures: run again...
    assert leaves_queue(3, 2) is False
    assert leaves_queue(3, 3) is True  # ...but only max_retries times


def test_no_retries(workdir):
    write_manifest(workdir / "manifest.txt", 3)
    assert submit.main(["--dry-run", "--max-retries", "0"]) == 0
    ad = job_ads(workdir)[0]
    assert "JobMaxRetries" not in ad
    text = (workdir / "submit.sub").read_text()
    assert "max_retries" not in text and "retry_until" not in text


def test_every_option_reaches_the_ads(workdir, tmp_path):
    write_manifest(workdir / "manifest.txt", 12)
    assert submit.main(["--dry-run", "--chunk", "4", "--results", "out", "--metric", "luma",
                        "--workers", "8", "--timeout", "2.5", "--retries", "0", "--request-cpus", "4", "--request-memory", "2GB", "--request-disk",
                        "3 GB", "--container", "/cvmfs/singularity.opensciencegrid.org/htc/rocky:9",
                        "--requirements", '(Arch == "X86_64" || Arch == "aarch64")',
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
        assert "aarch64" in str(ad["Requirements"])
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
])
def test_values_that_would_break_the_description_are_refused(workdir, capsys, option, value):
    write_manifest(workdir / "manifest.txt", 2)
    assert submit.main(["--dry-run", option, value]) == 2
    err = capsys.readouterr().err
    assert option in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(workdir / "submit.sub")


def test_a_path_with_a_space_is_refused_not_miswritten(workdir, capsys):
    write_manifest(workdir / "my manifest.txt", 2)
    assert submit.main(["--dry-run", "--manifest", "my manifest.txt"]) == 2
    assert "my manifest.txt" in capsys.readouterr().err
    assert not os.path.exists(workdir / "submit.sub")
