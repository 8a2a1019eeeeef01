"""Objects of a Pelican federation (osdf://, pelican://) through a real local federation on 127.0.0.1:
photodemo.federation's director over HTTPS, PhotoServers as its caches, hung servers as its faults."""

import json
import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from httpserver import HungServer, PhotoServer
from photodemo.federation import CA_VARIABLE, LocalFederation
from photodemo.images import jpeg

from luminance import pelican
from luminance.core import results
from luminance.fetch import Fetcher, FetchError

BODY = bytes(range(256)) * 400
PUBLIC = "/ospool/uw-shared/public/demo"
DISCOVERY = "/.well-known/pelican-configuration"


def fast(**options):
    options.setdefault("backoff", 0.01)
    return Fetcher(**options)


class Local:
    """photodemo.federation's director over PhotoServer caches, each holding every object added."""

    def __init__(self, tls, caches=2, namespaces=("/ospool/uw-shared/public",), private=()):
        self.caches = [PhotoServer() for _ in range(caches)]
        self.director = LocalFederation(tls, namespaces, private, caches=[c.url("") for c in self.caches])

    @property
    def host(self):
        return self.director.host

    def add(self, path, body=b"", **route):
        """Put BODY at PATH (percent-encoded, as in its URL) on every cache; its pelican:// URL."""
        for cache in self.caches:
            cache.add(path, body, **route)
        return self.director.url(path)

    def __enter__(self):
        for cache in self.caches:
            cache.start()
        self.director.start()
        return self

    def __exit__(self, *exc):
        self.director.stop()
        for cache in self.caches:
            cache.stop()


def director_of(tls, director_endpoint=None):
    """A PhotoServer over HTTPS serving a discovery document (naming itself as director, unless
    DIRECTOR_ENDPOINT): a director whose answers a test writes."""
    server = PhotoServer(tls=(tls.cert, tls.key))
    server.add(DISCOVERY, json.dumps({"director_endpoint": director_endpoint or server.url("")}).encode(),
               content_type="application/json")
    return server


@pytest.fixture(autouse=True)
def env(monkeypatch, tls):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                 "no_proxy", "NO_PROXY", "FRONTIER_PROXY", "OSG_SQUID_LOCATION", "CURL_CA_BUNDLE",
                 pelican.FEDERATION_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(CA_VARIABLE, tls.ca)  # the throwaway CA, as a site gives its own to requests
    return monkeypatch


@pytest.fixture
def federation(tls):
    with Local(tls) as running:
        yield running


@pytest.mark.parametrize("url, federation, path", [
    ("osdf:///ospool/uw-shared/public/a.jpg", "https://osg-htc.org", "/ospool/uw-shared/public/a.jpg"),
    ("osdf://ospool/uw-shared/public/a.jpg", "https://osg-htc.org", "/ospool/uw-shared/public/a.jpg"),
    ("stash:///ospool/a%20b.jpg", "https://osg-htc.org", "/ospool/a b.jpg"),
    ("pelican://fed.example.org/ns//x.jpg", "https://fed.example.org", "/ns/x.jpg"),
    ("pelican://127.0.0.1:8443/ns/x.jpg", "https://127.0.0.1:8443", "/ns/x.jpg"),  # loopback too
    ("osdf:///ns/caf%E9.jpg", "https://osg-htc.org", "/ns/caf\udce9.jpg"),  # a Latin-1 name's byte
])
def test_urls(url, federation, path):
    assert pelican.parse(url, {}) == (federation, path)


def test_the_osdf_federation_can_be_overridden_for_tests():
    for value in ("127.0.0.1:9", "https://127.0.0.1:9"):
        assert pelican.parse("osdf:///ns/x.jpg", {pelican.FEDERATION_VARIABLE: value}).federation == \
            "https://127.0.0.1:9"
    with pytest.raises(FetchError, match=r"bad federation 'http://127.0.0.1:9' \(a federation is "
                                         r"discovered at https://HOST\[:PORT\]\)"):
        pelican.parse("osdf:///ns/x.jpg", {pelican.FEDERATION_VARIABLE: "http://127.0.0.1:9"})


@pytest.mark.parametrize("url", ["pelican:///ns/x.jpg", "osdf:///", "osdf:///ns/../../etc/passwd", "osdf:///a%00b"])
def test_bad_urls(url):
    with pytest.raises(FetchError, match="bad URL") as info:
        fast().get(url)
    assert not info.value.transient


def test_link_and_namespace_headers():
    assert pelican.parse_links('<https://b:8443/x>; rel="duplicate"; pri=2; depth=2, '
                               '<https://a:8443/x>; rel="duplicate"; pri=1; depth=2, <https://c/x>') == \
        ["https://a:8443/x", "https://b:8443/x", "https://c/x"]
    header = "namespace=/ospool/ap40, require-token=true, collections-url=https://o"
    assert pelican.parse_namespace(header) == \
        {"namespace": "/ospool/ap40", "require-token": "true", "collections-url": "https://o"}


def test_an_object_comes_from_the_first_cache(federation):
    url = federation.add(PUBLIC + "/a.jpg", BODY)
    with fast() as fetcher:
        assert fetcher.get(url).data == BODY
    assert federation.caches[0].hits == {PUBLIC + "/a.jpg": 1} and federation.caches[1].hits == {}


def test_the_director_is_asked_once_per_namespace(federation):
    urls = [federation.add("{}/{}.jpg".format(PUBLIC, n), BODY) for n in range(20)]
    with fast() as fetcher:
        threads = [threading.Thread(target=lambda u=u: fetcher.get(u)) for u in urls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(fetcher.get(url).data == BODY for url in urls)
    assert federation.director.director_requests == 1
    assert federation.director.discoveries == 1
    assert sum(federation.caches[0].hits.values()) == 40


def test_osdf_urls_through_the_federation_named_by_the_environment(federation, env):
    federation.add(PUBLIC + "/a.jpg", BODY)
    env.setenv(pelican.FEDERATION_VARIABLE, federation.host)
    with fast() as fetcher:
        assert fetcher.get("osdf:///" + PUBLIC.lstrip("/") + "/a.jpg").data == BODY
        assert fetcher.get("osdf://" + PUBLIC.lstrip("/") + "/a.jpg").data == BODY


@pytest.mark.parametrize("fault", ["down", "503", "drop", "slow"])
def test_a_failing_cache_passes_to_the_next_before_a_retry(federation, fault):
    url = federation.add(PUBLIC + "/a.jpg", BODY)
    first = federation.caches[0]
    if fault == "down":
        first.stop()
    else:
        first.add(PUBLIC + "/a.jpg", BODY, **{"503": {"fail_first": 99, "fail_status": 503},
                                              "drop": {"fault": "drop"}, "slow": {"delay": 3}}[fault])
    # No retry is left, and a backoff would take 100 s: the second cache must serve at once.
    with fast(retries=0, backoff=100, timeout=1) as fetcher:
        assert fetcher.get(url).data == BODY
    assert federation.caches[1].hits[PUBLIC + "/a.jpg"] == 1


def test_when_every_cache_fails_the_director_is_asked_again(federation):
    url = federation.add(PUBLIC + "/a.jpg", BODY, fail_first=1, fail_status=503)
    with fast(retries=0) as fetcher:
        with pytest.raises(FetchError, match="HTTP 503") as info:
            fetcher.get(url)
        assert info.value.transient
        assert fetcher.get(url).data == BODY  # the caches recovered; asked of the director anew
    assert federation.director.director_requests == 2


def test_the_director_404_is_permanent_and_names_the_object(federation):
    url = "pelican://{}/ospool/elsewhere/a.jpg".format(federation.host)
    with pytest.raises(FetchError) as info:
        fast(retries=3).get(url)
    assert info.value.reason == ("not found in the federation: /ospool/elsewhere/a.jpg "
                                 "(its director answered HTTP 404 Not Found)")
    assert not info.value.transient and federation.director.director_requests == 1


def test_a_private_namespace_says_what_to_do(tls):
    with Local(tls, namespaces=(), private=("/ospool/ap40",)) as federation:
        url = federation.add("/ospool/ap40/data/me/a.jpg", BODY)
        with pytest.raises(FetchError, match="requires a token") as info:
            fast().get(url)
        assert "./submit --transfer-osdf" in info.value.reason and not info.value.transient
        assert sum(sum(cache.hits.values()) for cache in federation.caches) == 0


def test_transferred_objects_are_read_from_the_sandbox_never_from_the_federation(tmp_path, tls):
    with Local(tls, namespaces=(), private=("/ospool/ap40",)) as federation:
        url = federation.add("/ospool/ap40/data/me/a.jpg", BODY)
        (tmp_path / "a.jpg").write_bytes(BODY[::-1])  # what HTCondor's osdf plugin put there
        with fast(sandbox=str(tmp_path)) as fetcher:
            assert fetcher.get(url).data == BODY[::-1]
            assert fetcher.get("osdf://ospool/ap40/data/me/a.jpg").data == BODY[::-1]
            with pytest.raises(FetchError) as info:
                fetcher.get(federation.add("/ospool/ap40/data/me/b.jpg", BODY))
            assert info.value.reason == ("not in the job's sandbox as b.jpg (./submit --transfer-osdf "
                                         "has HTCondor transfer it there)")
            assert not info.value.transient
            with pytest.raises(FetchError, match="HTCondor cannot have transferred it: only letters"):
                fetcher.get("osdf:///ospool/ap40/data/me/a%20b.jpg")
        assert federation.director.director_requests == 0
        assert sum(sum(cache.hits.values()) for cache in federation.caches) == 0


def test_a_cache_that_refuses_with_403_is_a_private_namespace(federation):
    url = federation.add(PUBLIC + "/a.jpg", status=403)
    with pytest.raises(FetchError, match="requires a token") as info:
        fast().get(url)
    assert not info.value.transient


def test_discovery_down_is_transient_and_retried(tls):
    with PhotoServer(tls=(tls.cert, tls.key)) as server:
        server.add(DISCOVERY, fail_first=99, fail_status=503)
        url = "pelican://127.0.0.1:{}/ns/a.jpg".format(server.port)
        with pytest.raises(FetchError, match="federation discovery at .* failed: HTTP 503") as info:
            fast(retries=2).get(url)
        assert info.value.transient and server.hits[DISCOVERY] == 3


def test_discovery_without_a_director_is_permanent(tls):
    with PhotoServer(tls=(tls.cert, tls.key)) as server:
        server.add(DISCOVERY, json.dumps({"jwks_uri": "x"}).encode())
        with pytest.raises(FetchError, match="names no director") as info:
            fast().get("pelican://127.0.0.1:{}/ns/a.jpg".format(server.port))
        assert not info.value.transient


def test_a_redirect_loop_fails(federation):
    path = PUBLIC + "/loop.jpg"
    federation.add(path, status=307, headers={"Location": federation.caches[0].url(path)})
    with pytest.raises(FetchError, match="more than 10 redirects") as info:
        fast().get("pelican://{}{}".format(federation.host, path))
    assert not info.value.transient


def test_a_director_redirect_to_another_scheme_is_refused(tls):
    with director_of(tls) as director:
        director.add("/ns/a.jpg", status=307, headers={"Location": "ftp://cache.example/ns/a.jpg"})
        with pytest.raises(FetchError, match="redirect to ftp://cache.example/ns/a.jpg refused") as info:
            fast().get("pelican://127.0.0.1:{}/ns/a.jpg".format(director.port))
        assert not info.value.transient


def test_the_site_squid_is_never_used_for_a_federation(federation, env):
    with PhotoServer() as squid:
        env.setenv("OSG_SQUID_LOCATION", "127.0.0.1:{}".format(squid.port))
        url = federation.add(PUBLIC + "/a.jpg", BODY)
        assert fast().get(url).data == BODY
        assert squid.proxied == []


def test_the_pex_reads_osdf_urls_as_htcondor_runs_it(pex, federation, tmp_path, tls):
    photos = {"a.jpg": jpeg(40, 30, seed=1), "b.jpg": jpeg(30, 40, seed=2)}
    with PhotoServer() as plain:
        lines_http, lines_osdf = [], []
        for name, data in photos.items():
            plain.add("/" + name, data)
            federation.add("{}/{}".format(PUBLIC, name), data)
            lines_http.append("{} 1900".format(plain.url("/" + name)))
            lines_osdf.append("osdf://{}/{} 1900".format(PUBLIC, name))  # the two-slash form too
        values = {}
        for kind, lines in (("http", lines_http), ("osdf", lines_osdf)):
            manifest = tmp_path / "manifest-{}.txt".format(kind)
            manifest.write_text("\n".join(lines) + "\n")
            proc = subprocess.run(
                ["env", "-i", "PEX_ROOT=.pex", "{}={}".format(pelican.FEDERATION_VARIABLE, federation.host),
                 "{}={}".format(CA_VARIABLE, tls.ca),
                 pex, "results-{}.json".format(kind), "0", "2", "--manifest", str(manifest)],
                cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
            assert proc.returncode == 0, proc.stderr
            document = results.read(os.path.join(str(tmp_path), "results-{}.json".format(kind)))
            values[kind] = [photo["luminance"] for photo in document["photos"]]
    assert len(values["osdf"]) == 2 and values["osdf"] == values["http"]
    assert federation.director.director_requests == 1


def test_a_cache_url_that_is_not_cache_plus_path_is_used_as_given(tls, server):
    path = PUBLIC + "/a.jpg"
    server.add("/somewhere/else.jpg", BODY)
    with director_of(tls) as director:
        director.add(path, status=307, content_type="text/plain", headers={
            "Location": server.url("/somewhere/else.jpg?token=1"),
            "Link": '<{}>; rel="duplicate"; pri=1'.format(server.url("/somewhere/else.jpg?token=1")),
            "X-Pelican-Namespace": "namespace={}, require-token=false".format(PUBLIC)})
        with fast() as fetcher:
            assert fetcher.get("pelican://127.0.0.1:{}{}".format(director.port, path)).data == BODY
            assert fetcher.get("pelican://127.0.0.1:{}{}".format(director.port, path)).data == BODY
    assert server.hits["/somewhere/else.jpg"] == 2


def test_the_pex_reads_what_htcondor_transferred_and_records_the_urls(pex, tmp_path, tls):
    """A private namespace: the job alone cannot read it; with --transferred (./submit
    --transfer-osdf) it reads the files HTCondor put in its sandbox, and records their URLs."""
    photos = {"a.jpg": jpeg(40, 30, seed=1), "b.jpg": jpeg(30, 40, seed=2)}
    with Local(tls, namespaces=(), private=("/ospool/ap40",)) as federation, \
            PhotoServer() as plain:
        lines = []
        for name, data in photos.items():
            lines.append("{} 1900".format(plain.add("/" + name, data)))
            lines.append("{} 1901".format(federation.add("/ospool/ap40/data/me/" + name, data)))
            (tmp_path / name).write_bytes(data)
        (tmp_path / "manifest.txt").write_text("\n".join(lines) + "\n")
        os.symlink(pex, str(tmp_path / "luminance.pex"))
        documents = {}
        for run, options in (("alone", []), ("transferred", ["--transferred"])):
            with open(str(tmp_path / "manifest.txt")) as stdin:
                proc = subprocess.run(
                    ["env", "-i", "PEX_ROOT=.pex", "{}={}".format(CA_VARIABLE, tls.ca),
                     "./luminance.pex", "results-{}.json".format(run),
                     "0", "4"] + options, stdin=stdin, cwd=str(tmp_path), stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, universal_newlines=True)
            assert proc.returncode == 0, proc.stderr
            documents[run] = results.read(str(tmp_path / "results-{}.json".format(run)))
        assert federation.director.director_requests == 1  # asked by the job alone, never when transferred
    alone, transferred = documents["alone"], documents["transferred"]
    assert [f["record"] for f in alone["failures"]] == [1, 3]
    assert "./submit --transfer-osdf" in alone["failures"][0]["reason"]
    assert transferred["failures"] == []
    by_record = {p["record"]: p for p in transferred["photos"]}
    assert by_record[1]["url"] == "pelican://{}/ospool/ap40/data/me/a.jpg".format(federation.host)
    assert by_record[1]["luminance"] == by_record[0]["luminance"]  # same bytes as over HTTP
    assert by_record[3]["luminance"] == by_record[2]["luminance"]


# --- a federation cannot stall a job: what the job learns of one, it learns once ---

def _all(fetcher, urls):
    """The reason each of URLS failed (or 'ok'), all fetched at once, and the seconds it took."""
    def one(url):
        try:
            fetcher.get(url)
            return "ok"
        except FetchError as exc:
            return exc.reason
    began = time.monotonic()
    with ThreadPoolExecutor(len(urls)) as pool:
        reasons = list(pool.map(one, urls))
    return reasons, time.monotonic() - began


def test_a_hung_director_is_asked_once_and_fails_every_photo_at_once(tls):
    with HungServer() as hung, director_of(tls, director_endpoint=hung.url("")) as discovery:
        urls = ["pelican://127.0.0.1:{}/ns/{}.jpg".format(discovery.port, n) for n in range(16)]
        with fast(timeout=1, retries=0) as fetcher:
            reasons, took = _all(fetcher, urls)
            assert set(reasons) == {"the federation's director {} failed: read timed out after 1s".format(
                hung.url(""))}
            assert hung.connections == 1  # asked by one photo; the others waited for its answer
            with pytest.raises(FetchError, match="director .* failed") as info:  # remembered
                fetcher.get(urls[0])
            assert info.value.transient and hung.connections == 1
    assert took < 8  # one photo at a time would take 16 s


def test_the_deadline_bounds_a_photo_across_the_retries_of_a_hung_director(tls):
    with HungServer() as hung, director_of(tls, director_endpoint=hung.url("")) as discovery:
        url = "pelican://127.0.0.1:{}/ns/a.jpg".format(discovery.port)
        began = time.monotonic()
        with pytest.raises(FetchError, match=r"deadline of 1\.5s \(--deadline\)"):
            fast(timeout=0.4, retries=20, deadline=1.5).get(url)
        assert time.monotonic() - began < 4  # 21 tries of 0.4 s each: 8.4 s
        assert 2 <= hung.connections <= 4


def test_a_director_that_fails_is_dead_for_the_job(tls):
    with director_of(tls) as director:
        director.resolver = lambda path: None if path == DISCOVERY else None
        for n in range(2):
            director.add("/ns/{}.jpg".format(n), fail_first=99, fail_status=503)
        base = "pelican://127.0.0.1:{}/ns/".format(director.port)
        with fast(retries=1) as fetcher:
            with pytest.raises(FetchError, match=r"director .* failed: HTTP 503 .* \(after 2 tries\)"):
                fetcher.get(base + "0.jpg")
            with pytest.raises(FetchError, match="director .* failed: HTTP 503") as info:
                fetcher.get(base + "1.jpg")
        assert info.value.transient and info.value.status == 503
        assert director.hits == {DISCOVERY: 1, "/ns/0.jpg": 2}


def test_a_director_404_is_about_one_object_alone(federation):
    with fast() as fetcher:
        for name in ("a", "b"):
            with pytest.raises(FetchError, match="not found in the federation"):
                fetcher.get("pelican://{}/ospool/elsewhere/{}.jpg".format(federation.host, name))
        assert fetcher.get(federation.add(PUBLIC + "/c.jpg", BODY)).data == BODY
    assert federation.director.director_requests == 3


def _redirect(director, path, caches):
    """DIRECTOR answers for PATH with a redirect to CACHES, all in its Link header."""
    links = ", ".join('<{}>; rel="duplicate"; pri={}'.format(url, n) for n, url in enumerate(caches))
    director.add(path, status=307, content_type="text/plain", headers={
        "Location": caches[0], "Link": links, "X-Pelican-Namespace": "namespace={}".format(PUBLIC)})
    return "pelican://127.0.0.1:{}{}".format(director.port, path)


def test_forty_hung_caches_cost_a_photo_one_deadline(tls):
    path = PUBLIC + "/a.jpg"
    with HungServer() as hung, director_of(tls) as director:
        url = _redirect(director, path, [hung.url("/c{}{}".format(n, path)) for n in range(40)])
        began = time.monotonic()
        with pytest.raises(FetchError, match=r"deadline of 1s"):
            fast(timeout=0.3, deadline=1, retries=0).get(url)
        assert time.monotonic() - began < 3  # each cache its own timeout: 12 s
        assert hung.connections <= pelican.MAX_CACHES


def test_a_director_listing_many_caches_has_the_first_few_tried(tls, server):
    path = PUBLIC + "/a.jpg"
    with director_of(tls) as director:
        url = _redirect(director, path, [server.add("/c{}{}".format(n, path), fail_first=99, fail_status=503)
                                         for n in range(40)])
        with pytest.raises(FetchError, match="HTTP 503"):
            fast(retries=0).get(url)
    assert sorted(server.hits) == sorted("/c{}{}".format(n, path) for n in range(pelican.MAX_CACHES))


def test_a_deeply_nested_discovery_document_fails_once_in_one_line(tls):
    with PhotoServer(tls=(tls.cert, tls.key)) as server:
        server.add(DISCOVERY, b"[" * 100000 + b"]" * 100000, content_type="application/json")
        urls = ["pelican://127.0.0.1:{}/ns/{}.jpg".format(server.port, n) for n in range(8)]
        with fast() as fetcher:
            reasons, _ = _all(fetcher, urls)
        assert set(reasons) == {"federation discovery at https://127.0.0.1:{}{}: its document is "
                                "nested too deep".format(server.port, DISCOVERY)}
        assert server.hits == {DISCOVERY: 1}


def test_a_discovery_that_failed_is_not_asked_again(tls):
    with PhotoServer(tls=(tls.cert, tls.key)) as server:
        server.add(DISCOVERY, fail_first=99, fail_status=503)
        with fast(retries=0) as fetcher:
            for n in range(3):
                with pytest.raises(FetchError, match="federation discovery at .* failed: HTTP 503"):
                    fetcher.get("pelican://127.0.0.1:{}/ns/{}.jpg".format(server.port, n))
        assert server.hits == {DISCOVERY: 1}


# --- Pelican's protocol as its own client speaks it ---

def test_discovery_is_over_https_even_on_loopback(server):
    server.add(DISCOVERY, json.dumps({"director_endpoint": server.url("")}).encode())
    with pytest.raises(FetchError, match="federation discovery at https://127.0.0.1:{}".format(server.port)):
        fast(retries=0).get("pelican://127.0.0.1:{}/ns/a.jpg".format(server.port))
    assert server.hits == {}  # a TLS hello, never a plain GET


def test_discovery_is_verified_against_the_ca_requests_is_given(federation, env):
    url = federation.add(PUBLIC + "/a.jpg", BODY)
    env.delenv(CA_VARIABLE)
    with pytest.raises(FetchError, match="TLS verification failed") as info:
        fast().get(url)
    assert not info.value.transient and federation.director.discoveries == 0


@pytest.mark.parametrize("scheme", ["pelican", "osdf"])
def test_a_non_utf8_escape_is_asked_for_as_written(federation, env, scheme):
    # make-manifest writes a Latin-1 file name's byte E9 as %E9; the caches hold it so.
    url = federation.add(PUBLIC + "/caf%E9.jpg", BODY)
    if scheme == "osdf":
        env.setenv(pelican.FEDERATION_VARIABLE, federation.host)
        url = "osdf://" + PUBLIC + "/caf%E9.jpg"
    assert fast().get(url).data == BODY
    assert federation.caches[0].hits == {PUBLIC + "/caf%E9.jpg": 1}
