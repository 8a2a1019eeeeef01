"""./submit --transfer-osdf: each job's federation objects in its transfer_input_files, checked by
HTCondor's own submit-language implementation (the htcondor bindings), and the manifests refused."""

import os

import pytest

with pytest.MonkeyPatch.context() as patch:  # a config-free HTCondor, read at import; then restored
    patch.setenv("CONDOR_CONFIG", "/dev/null")
    htcondor = pytest.importorskip("htcondor")
    classad = pytest.importorskip("classad")

from photodemo.jobs import Chunk

from photodemo import submit, transfers

PRIVATE = "osdf:///ospool/ap40/data/alice/photos"


def manifest(workdir, urls):
    (workdir / "manifest.txt").write_text("".join("{} {}\n".format(url, 1900 + n % 100)
                                                  for n, url in enumerate(urls)))


QUEUE = "queue start,count,objects from transfers.txt\n"


def job_ads(workdir):
    """submit.sub run alone, as its header says: one job per line of transfers.txt."""
    alone = QUEUE if (workdir / "transfers.txt").exists() else "queue start,count from chunks.txt\n"
    return list(htcondor.Submit((workdir / "submit.sub").read_text() + alone).jobs())


def worker(methods):
    return classad.ClassAd({"Arch": "X86_64", "OpSys": "LINUX", "Machine": "w", "Disk": 10 ** 8,
                            "Memory": 10 ** 5, "HasFileTransfer": True, "Cpus": 8,
                            "HasFileTransferPluginMethods": methods})


def test_each_job_transfers_its_chunks_objects_with_htcondors_osdf_plugin(workdir, capsys):
    urls = ["{}/p{}.jpg".format(PRIVATE, n) for n in range(4)] + [
        "http://127.0.0.1/h4.jpg",
        "osdf://ospool/ap40/data/alice/photos/p5.jpg",  # the two-slash form
        "stash:///ospool/ap40/data/alice/s6.jpg",
        "pelican://fed.example.org/ns/x7.jpg",
        "{}/p0.jpg".format(PRIVATE),  # the same object again: transferred once
        "http://127.0.0.1/h9.jpg", "http://127.0.0.1/h10.jpg", "/data/h11.jpg"]
    manifest(workdir, urls)
    assert submit.main(["--dry-run", "--chunk", "5", "--transfer-osdf"]) == 0
    out = capsys.readouterr().out
    assert "transfer: HTCondor fetches 8 OSDF objects into the sandboxes with your credentials, " \
           "at most 4 per job (transfers.txt)" in out
    ads = job_ads(workdir)
    assert [ad["TransferInput"].split(",") for ad in ads] == [
        ["results-0.json"] + urls[:4],
        ["results-5.json", PRIVATE + "/p5.jpg", urls[6], urls[7], urls[0]],
        ["results-10.json"],  # none: nothing but its results file
    ]
    assert all(ad["Args"].endswith(" --transferred") for ad in ads)
    # HTCondor itself sends a job with osdf:// inputs only where its osdf plugin is.
    assert worker("https,osdf,pelican,stash").matches(ads[0])
    assert not worker("https,http").matches(ads[0])
    assert worker("https,osdf,pelican,stash").matches(ads[1])
    assert not worker("https,osdf,pelican").matches(ads[1])  # stash:// needs its method too
    assert worker("https,http").matches(ads[2])
    text = (workdir / "submit.sub").read_text()
    items = list(htcondor.Submit(text + QUEUE).itemdata())  # ProcId N runs the Nth chunk
    assert [(item["start"], item["count"]) for item in items] == [("0", "5"), ("5", "5"), ("10", "2")]
    assert items[2]["objects"] == ""
    assert "condor_submit submit.sub -queue 'start,count,objects from transfers.txt'" in text
    dag = (workdir / "photodemo.dag").read_text()  # each node is given its own objects
    assert 'VARS chunk10 start="10" count="2" objects=""' in dag
    assert 'VARS chunk0 start="0" count="5" objects="{}"'.format(", ".join(urls[:4])) in dag
    assert "transfer_input_files = results-$(start).json, $(objects)" in text


def test_thousands_of_long_urls_per_job_keep_submit_sub_short_and_parse(workdir):
    # 2,000 objects of 150 characters in one job: a 300 kB item line, in transfers.txt; the real
    # condor_submit (25.14, personal pool) took a 680 kB one too.
    urls = ["{}/{}/{:05d}.jpg".format(PRIVATE, "d" * 100, n) for n in range(2500)]
    manifest(workdir, urls)
    assert submit.main(["--dry-run", "--chunk", "2000", "--transfer-osdf"]) == 0
    ads = job_ads(workdir)
    assert [len(ad["TransferInput"].split(",")) for ad in ads] == [2001, 501]
    assert ads[0]["TransferInput"].split(",")[-1] == urls[1999]
    assert max(len(line) for line in (workdir / "submit.sub").read_text().splitlines()) < 300
    assert os.path.getsize(workdir / "transfers.txt") > 300000


def test_two_objects_with_one_file_name_in_a_job_are_refused_naming_both_lines(workdir, capsys):
    manifest(workdir, [PRIVATE + "/1990/img1.jpg", PRIVATE + "/1990/img2.jpg",
                       PRIVATE + "/2000/img1.jpg"])
    assert submit.main(["--dry-run", "--chunk", "2", "--transfer-osdf"]) == 0  # two jobs: fine
    assert submit.main(["--dry-run", "--chunk", "3", "--transfer-osdf"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("submit: error: manifest.txt:3: {0}/2000/img1.jpg: has the file name img1.jpg of line "
                   "1 ({0}/1990/img1.jpg), in the same job (records 0..2): HTCondor would put both "
                   "in its sandbox under that name; give the photos distinct file names (or leave "
                   "out --transfer-osdf)".format(PRIVATE))


@pytest.mark.parametrize("name, options", [("luminance.pex", []), ("results-0.json", []),
                                           ("manifest.txt", []), ("manifest.0.txt", ["--split"])])
def test_a_photo_named_like_one_of_the_jobs_own_files_is_refused(workdir, capsys, name, options):
    manifest(workdir, ["{}/{}".format(PRIVATE, name)])
    assert submit.main(["--dry-run", "--transfer-osdf"] + options) == 2
    err = capsys.readouterr().err
    assert "manifest.txt:1: " in err and "its file name {} is one of the job's own".format(name) in err
    assert not os.path.exists(workdir / "submit.sub")


@pytest.mark.parametrize("url", [PRIVATE + "/a%20b.jpg", PRIVATE + "/a.jpg?x=1", PRIVATE + "/",
                                 PRIVATE + "/$(x).jpg"])
def test_an_object_htcondor_could_not_name_safely_is_refused(workdir, capsys, url):
    manifest(workdir, [url])
    assert submit.main(["--dry-run", "--transfer-osdf"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("submit: error: manifest.txt:1: {}: HTCondor cannot transfer it".format(url))
    assert not os.path.exists(workdir / "submit.sub")


def test_not_with_local(workdir, capsys):
    manifest(workdir, [PRIVATE + "/a.jpg"])
    assert submit.main(["--local", "--transfer-osdf"]) == 2
    assert "--transfer-osdf: only HTCondor can transfer" in capsys.readouterr().err


def test_the_plan_says_when_private_objects_need_the_option(workdir, capsys):
    manifest(workdir, [PRIVATE + "/a.jpg", "osdf://ospool/ap20/data/bob/b.jpg",
                       "osdf:///ospool/uw-shared/public/MyProject/c.jpg", "http://h/d.jpg"])
    assert submit.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "note: 2 records are in private OSDF directories (/ospool/apNN/data/...): the jobs " \
           "cannot read them without your token; --transfer-osdf has HTCondor transfer them" in out
    assert (workdir / "chunks.txt").exists() and not (workdir / "transfers.txt").exists()
    manifest(workdir, ["osdf:///ospool/uw-shared/public/MyProject/c.jpg"])
    assert submit.main(["--dry-run"]) == 0
    assert "note:" not in capsys.readouterr().out


def test_missing_keeps_the_option_and_a_run_without_it_drops_transfers_txt(workdir, capsys):
    manifest(workdir, ["{}/p{}.jpg".format(PRIVATE, n) for n in range(4)])
    assert submit.main(["--dry-run", "--chunk", "2", "--transfer-osdf"]) == 0
    (workdir / "transfers.txt").unlink()
    assert submit.main(["--missing", "--dry-run"]) == 0  # options from submit.json
    assert [ad["TransferInput"] for ad in job_ads(workdir)] == [
        "results-0.json,{0}/p0.jpg,{0}/p1.jpg".format(PRIVATE),
        "results-2.json,{0}/p2.jpg,{0}/p3.jpg".format(PRIVATE)]
    assert submit.main(["--missing", "--dry-run", "--no-transfer-osdf"]) == 0
    assert not os.path.exists(workdir / "transfers.txt")
    assert [ad["TransferInput"] for ad in job_ads(workdir)] == ["results-0.json", "results-2.json"]


def test_collect_reads_only_the_chunks_asked_for(tmp_path):
    path = tmp_path / "manifest.txt"
    path.write_text("# photos\n" + "".join("{}/p{}.jpg 1900\n".format(PRIVATE, n) for n in range(6)))
    assert transfers.collect(str(path), [Chunk(4, 2), Chunk(0, 2)]).objects == {
        0: (PRIVATE + "/p0.jpg", PRIVATE + "/p1.jpg"), 4: (PRIVATE + "/p4.jpg", PRIVATE + "/p5.jpg")}


@pytest.fixture
def access_point(tmp_path, monkeypatch):
    """This machine as the access point ap40, whose OSDF origin is mounted at /ospool/ap40/data:
    a folder standing in for / (transfers.LOCAL_ROOT)."""
    root = tmp_path / "root"
    photos = root / "ospool" / "ap40" / "data" / "alice" / "photos"
    photos.mkdir(parents=True)
    monkeypatch.setattr(transfers, "LOCAL_ROOT", str(root))
    return photos


def test_on_the_access_point_the_photos_sizes_go_into_the_default_disk(workdir, access_point,
                                                                      capsys):
    for n, megabytes in enumerate((3, 2, 1)):
        (access_point / "p{}.jpg".format(n)).write_bytes(b"x" * (megabytes << 20))
    manifest(workdir, ["{}/p{}.jpg".format(PRIVATE, n) for n in range(3)])
    assert submit.main(["--dry-run", "--chunk", "2", "--transfer-osdf"]) == 0
    assert "(request_disk 55MB)" in capsys.readouterr().out  # the pex, 5 MB of photos, 50 MB
    assert [ad["RequestDisk"] for ad in job_ads(workdir)] == [55 * 1024] * 2  # KiB
    assert submit.main(["--dry-run", "--chunk", "2", "--transfer-osdf", "--request-disk",
                        "1GB"]) == 0
    assert [ad["RequestDisk"] for ad in job_ads(workdir)] == [1024 * 1024] * 2  # as asked


def test_on_the_access_point_a_missing_photo_is_refused_before_htcondor_holds_its_job(
        workdir, access_point, capsys):
    (access_point / "p0.jpg").write_bytes(b"x")
    manifest(workdir, [PRIVATE + "/p0.jpg", "osdf://ospool/ap40/data/alice/photos/p1.jpg",
                       "osdf:///ospool/ap20/data/alice/photos/p2.jpg"])  # another AP's: unseen
    assert submit.main(["--dry-run", "--transfer-osdf"]) == 2
    assert capsys.readouterr().err == (
        "submit: error: manifest.txt:2: osdf:///ospool/ap40/data/alice/photos/p1.jpg: No such "
        "file or directory on this access point ({}/p1.jpg): HTCondor could not transfer it, "
        "and would hold its job\n".format(access_point))
    assert not os.path.exists(workdir / "submit.sub")
    (access_point / "p1.jpg").write_bytes(b"x")
    assert submit.main(["--dry-run", "--transfer-osdf"]) == 0


def test_transfer_urls_are_written_as_ospool_documents_them():
    assert transfers.transfer_url("osdf://ospool/ap40/a.jpg") == "osdf:///ospool/ap40/a.jpg"
    assert transfers.transfer_url("OSDF:///ospool/ap40/a.jpg") == "osdf:///ospool/ap40/a.jpg"
    assert transfers.transfer_url("stash://ospool/a.jpg") == "stash:///ospool/a.jpg"
    assert transfers.transfer_url("pelican://fed:8443/ns/a.jpg") == "pelican://fed:8443/ns/a.jpg"


HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("PHOTODEMO_SHARED") or os.path.join(HERE, "..", "..", "shared")
SEED = os.path.normpath(os.path.join(SHARED, "seed", "manifest.txt"))


@pytest.mark.skipif(not os.path.isfile(SEED), reason="the tutorial's manifest is not at " + SEED)
def test_the_tutorials_photos_in_a_private_directory_make_28_jobs_with_their_photos(workdir):
    # The README's plan: every URL rewritten to the user's private OSDF directory.
    urls = []
    with open(SEED) as stream:
        for line in stream:
            url, year = line.split()
            series = url.split("/")[-3]
            urls.append(("{}/{}/{}".format(PRIVATE, series, url.rsplit("/", 1)[1]), year))
    (workdir / "manifest.txt").write_text("".join("{} {}\n".format(u, y) for u, y in urls))
    assert submit.main(["--dry-run", "--transfer-osdf", "--project", "MyProject"]) == 0
    ads = job_ads(workdir)
    assert len(ads) == 28
    transferred = [url for ad in ads for url in ad["TransferInput"].split(",")[1:]]
    assert transferred == [u for u, _ in urls]  # each photo once, by the job of its record
