"""Fetching over real HTTP on 127.0.0.1: retries, timeouts, limits, proxies."""

import base64
import gzip
import os
import re
import shutil
import subprocess
import threading
import time
import tracemalloc

import pytest

from httpserver import PhotoServer

from luminance import fetch, memory, routes, transport
from luminance.core import results
from luminance.fetch import Fetcher, FetchError

BODY = bytes(range(256)) * 400


PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                   "FRONTIER_PROXY", "no_proxy", "NO_PROXY")


@pytest.fixture
def env(monkeypatch):
    """monkeypatch, with no proxy variable set: each test sets the ones it is about."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def fast(**options):
    options.setdefault("backoff", 0.01)
    return Fetcher(**options)


def test_ok_and_keep_alive(server):
    url = server.add("/a.jpg", BODY)
    fetcher = fast()
    assert fetcher.get(url) == (BODY, "image/jpeg")
    assert fetcher.get(url).data == BODY
    assert server.connections == 1  # the second GET went on the first's connection


def test_404_is_permanent_and_not_retried(server):
    url = server.add("/gone.jpg", status=404)
    with pytest.raises(FetchError) as info:
        fast(retries=3).get(url)
    assert (info.value.reason, info.value.transient) == ("HTTP 404 Not Found", False)
    assert server.hits["/gone.jpg"] == 1


def test_500_then_200_is_retried(server):
    url = server.add("/flaky.jpg", BODY, fail_first=2)
    assert fast(retries=2).get(url).data == BODY
    assert server.hits["/flaky.jpg"] == 3


def test_retry_after_is_honoured(server):
    url = server.add("/busy.jpg", BODY, fail_first=1, fail_status=429, fail_headers={"Retry-After": "1"})
    began = time.monotonic()
    assert fast(retries=1).get(url).data == BODY
    assert time.monotonic() - began >= 1.0


def test_transient_failure_after_all_retries(server):
    url = server.add("/down.jpg", BODY, fail_first=99, fail_status=503)
    with pytest.raises(FetchError) as info:
        fast(retries=2).get(url)
    assert info.value.transient and info.value.reason.startswith("HTTP 503")
    assert "after 3 tries" in info.value.reason and server.hits["/down.jpg"] == 3


def test_connection_dropped_mid_body_is_transient(server):
    url = server.add("/cut.jpg", BODY, fault="drop")
    with pytest.raises(FetchError) as info:
        fast(retries=1).get(url)
    assert info.value.transient and "dropped mid-body" in info.value.reason
    assert server.hits["/cut.jpg"] == 2


def test_slow_server_times_out(server):
    url = server.add("/slow.jpg", BODY, delay=2)
    with pytest.raises(FetchError) as info:
        fast(timeout=0.5, retries=0).get(url)
    assert info.value.transient and "timed out" in info.value.reason


def test_connection_refused_is_transient():
    with pytest.raises(FetchError) as info:
        fast(retries=0).get("http://127.0.0.1:9/a.jpg")
    assert info.value.transient and "refused" in info.value.reason


def test_body_size_limit(server):
    url = server.add("/huge.jpg", BODY)
    with pytest.raises(FetchError, match="over the limit") as info:
        fast(max_bytes=1000).get(url)
    assert not info.value.transient


def test_local_files_and_file_urls(tmp_path):
    path = tmp_path / "a photo.jpg"
    path.write_bytes(BODY)
    assert fast().get(str(path)).data == BODY
    assert fast().get(path.as_uri()).data == BODY
    with pytest.raises(FetchError, match="cannot read") as info:
        fast().get(str(tmp_path / "missing.jpg"))
    assert not info.value.transient


def test_frontier_proxy_is_the_http_proxy_only_when_no_http_proxy():
    assert routes.site_proxies({"FRONTIER_PROXY": "squid.site:3128"}) == {"http": "http://squid.site:3128"}
    assert routes.site_proxies({"FRONTIER_PROXY": "http://a:3128;http://b:3128"}) == {"http": "http://a:3128"}
    assert routes.site_proxies({"FRONTIER_PROXY": "http://a:3128", "http_proxy": "http://p:1"}) == {}
    assert routes.site_proxies({}) == {}


@pytest.mark.parametrize("variable", ["http_proxy", "FRONTIER_PROXY"])
def test_requests_go_through_the_proxy(server, env, variable):
    env.setenv(variable, "http://127.0.0.1:{}".format(server.port))
    server.add("/via-proxy.jpg", BODY)
    assert fast().get("http://photos.example.invalid/via-proxy.jpg").data == BODY
    assert server.proxied == ["http://photos.example.invalid/via-proxy.jpg"]


def test_proxy_credentials_are_sent_to_the_proxy(server, env):
    env.setenv("http_proxy", "http://photo%40lab:s3cret@127.0.0.1:{}".format(server.port))
    server.add("/private.jpg", BODY)
    assert fast().get("http://photos.example.invalid/private.jpg").data == BODY
    assert server.proxy_authorization == ["Basic " + base64.b64encode(b"photo@lab:s3cret").decode()]


@pytest.mark.parametrize("proxy, message", [
    ("socks5://user:secret@127.0.0.1:1080", "unsupported proxy socks5://127.0.0.1:1080"),
    ("http://user:secret@squid.example:99999", "proxy URL .* cannot be parsed"),
])
def test_a_proxy_that_cannot_be_used_is_a_permanent_failure_without_its_password(env, proxy, message):
    env.setenv("http_proxy", proxy)
    with pytest.raises(FetchError, match=message) as info:
        fast().get("http://photos.example.invalid/a.jpg")
    assert not info.value.transient and "secret" not in info.value.reason


def test_no_proxy_is_honoured(server, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    url = server.add("/direct.jpg", BODY)
    assert fast().get(url).data == BODY and server.proxied == []


def test_redirects_are_followed_to_another_host(server):
    with PhotoServer() as other:
        final = other.add("/moved.jpg", BODY)
        server.add("/old.jpg", status=301, headers={"Location": final})
        server.add("/here.jpg", status=302, headers={"Location": "/old.jpg"})
        assert fast().get(server.url("/here.jpg")).data == BODY
        assert other.hits["/moved.jpg"] == 1


def test_redirect_loop_is_a_permanent_failure(server):
    url = server.add("/loop.jpg", status=302, headers={"Location": "/loop.jpg"})
    with pytest.raises(FetchError, match="redirects") as info:
        fast().get(url)
    assert not info.value.transient


def test_body_without_content_length_is_read_to_the_end(server):
    url = server.add("/raw.jpg", BODY, fault="no-length")
    assert fast().get(url).data == BODY
    with pytest.raises(FetchError, match="over the limit"):
        fast(max_bytes=1000).get(url)


def test_a_chunked_body_is_read_and_its_connection_kept(server):
    url = server.add("/bit.jpg", BODY, fault="chunked")
    fetcher = fast(retries=0)
    assert fetcher.get(url).data == BODY
    assert fetcher.get(url).data == BODY
    assert (server.hits["/bit.jpg"], server.connections) == (2, 1)


def test_a_connection_the_server_closed_while_idle_is_replaced(server):
    url = server.add("/bye.jpg", BODY, fault="close-after")
    fetcher = fast(retries=0)  # not retried: a failure would raise
    for _ in range(50):  # the server's close races the next request: one in four or so lose
        assert fetcher.get(url).data == BODY
    assert server.hits["/bye.jpg"] == 50


def test_non_ascii_urls_are_percent_encoded(server):
    server.add("/caf%C3%A9%20noir.jpg", BODY)
    assert fast().get(server.url("/café noir.jpg")).data == BODY


def test_keep_alive_survives_an_error_response(server):
    fetcher = fast(retries=0)
    server.add("/gone.jpg", status=404)
    url = server.add("/a.jpg", BODY)
    for _ in range(3):
        with pytest.raises(FetchError):
            fetcher.get(server.url("/gone.jpg"))
        assert fetcher.get(url).data == BODY
    assert server.connections == 1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (certfile, keyfile)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def test_tls_is_verified(certificate, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with PhotoServer(tls=certificate) as https:
        url = https.add("/secure.jpg", BODY)
        with pytest.raises(FetchError, match="TLS verification failed") as info:
            fast().get(url)
        assert not info.value.transient
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", certificate[0])  # a site's own CA, as requests reads it
        assert fast().get(url).data == BODY


@pytest.mark.parametrize("url", ["http://[::1/a.jpg", "http:///a.jpg", "http://127.0.0.1:99999/a.jpg"])
def test_bad_urls_are_permanent_failures(url):
    with pytest.raises(FetchError, match="bad URL") as info:
        fast().get(url)
    assert not info.value.transient


def test_https_goes_through_the_https_proxy_tunnel(certificate, server, env):
    env.setenv("REQUESTS_CA_BUNDLE", certificate[0])
    with PhotoServer(tls=certificate) as https:
        url = https.add("/tunnelled.jpg", BODY)
        env.setenv("https_proxy", server.url(""))
        assert fast().get(url).data == BODY
        assert server.proxied == ["CONNECT 127.0.0.1:{}".format(https.port)]
        assert https.hits["/tunnelled.jpg"] == 1


def test_many_hosts(env):
    # More hosts than the fetcher keeps routes and idle connections for: a host forgotten to
    # make room for others is reached again on a new connection.
    servers = [PhotoServer().start() for _ in range(fetch.MAX_HOSTS + 4)]
    try:
        urls = [s.add("/a.jpg", BODY) for s in servers]
        fetcher = fast(retries=0)
        for url in urls + urls:
            assert fetcher.get(url).data == BODY
    finally:
        for s in servers:
            s.stop()


# --- hostile servers and inputs: each fails that photo with a FetchError, never more ---

@pytest.mark.parametrize("path, fault", [("/drip.jpg", "drip"), ("/drip-head.jpg", "drip-head")])
def test_a_dripping_server_fails_the_photo_at_the_deadline(server, path, fault):
    # A byte every 0.1 s: each read returns well within the timeout, the whole never ends.
    url = server.add(path, BODY, fault=fault)
    began = time.monotonic()
    with pytest.raises(FetchError, match=r"deadline of 1s \(--deadline\)") as info:
        fast(timeout=5, deadline=1, retries=2).get(url)
    assert time.monotonic() - began < 4
    assert not info.value.transient and server.hits[path] == 1


def test_a_photo_within_the_deadline_keeps_its_connection(server):
    url = server.add("/a.jpg", BODY)
    with fast(deadline=1) as fetcher:
        for _ in range(3):
            assert fetcher.get(url).data == BODY
            time.sleep(0.5)  # the deadline is per photo: three photos take longer than one deadline
    assert server.connections == 1


@pytest.mark.parametrize("target", ["ftp://photos.example/a.jpg", "gopher://photos.example/0a",
                                    "file:///etc/passwd", "file://photos.example/a.jpg"])
def test_redirects_only_to_http_and_https(server, target):
    url = server.add("/moved.jpg", status=302, headers={"Location": target})
    with pytest.raises(FetchError) as info:
        fast(retries=2).get(url)
    assert not info.value.transient and server.hits["/moved.jpg"] == 1
    assert info.value.reason == (
        "redirect to {} refused: only http and https redirects are followed".format(target))


def test_a_redirect_target_is_named_without_its_password(server):
    url = server.add("/moved.jpg", status=301, headers={"Location": "ftp://me:s3cret@ftp.example/a.jpg"})
    with pytest.raises(FetchError, match="redirect to ftp://ftp.example/a.jpg refused") as info:
        fast().get(url)
    assert "s3cret" not in info.value.reason


@pytest.mark.parametrize("fault", ["huge-header", "many-headers"])
def test_oversized_response_heads_are_permanent(server, fault):
    url = server.add("/head.jpg", BODY, fault=fault)
    with pytest.raises(FetchError, match="bad response: got more than") as info:
        fast(retries=3).get(url)
    assert not info.value.transient and server.hits["/head.jpg"] == 1


def test_bad_local_paths_are_permanent_failures(tmp_path):
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(str(fifo))
    big = tmp_path / "big.jpg"
    big.write_bytes(bytes(2100000))
    for url, reason in [(tmp_path.as_uri() + "/a%00.jpg", "bad URL: embedded null byte"),
                        (str(big), "body of 2.1 MB is over the limit of 2.0 MB (--max-bytes)"),
                        (str(tmp_path) + "/a\x00.jpg", "bad URL: embedded null byte"),
                        (str(fifo), "not a regular file"),  # open() would wait for a writer
                        ("/dev/zero", "not a regular file"),
                        (str(tmp_path), "not a regular file"),
                        ("file://elsewhere.example/a.jpg", "bad URL: a file URL on another host"),
                        ("/" + "a" * 5000 + ".jpg", "cannot read")]:
        with pytest.raises(FetchError, match=re.escape(reason)) as info:
            fast(max_bytes=2000000).get(url)
        assert not info.value.transient


HOSTILE_URLS = [
    "http://exa mple.invalid/a.jpg", "http://[::1/a.jpg", "http://[zz]/a.jpg", "http:///a.jpg",
    "http://127.0.0.1:99999/a.jpg", "http://127.0.0.1:-1/a.jpg", "http://\udcff.invalid/a.jpg",
    "http://" + "a" * 300 + ".invalid/a.jpg", "http://xn--a.invalid/a.jpg", "http://a\x00b.invalid/",
    "http://photos.invalid/a\x00b.jpg", "http://photos.invalid/a\r\nX-Evil: 1", "https://photos.invalid:0/a",
    "http://user:pa ss@photos.invalid/a.jpg", "http://photos.invalid/\udcff.jpg",
    "http://photos.invalid/" + "a" * 70000,
    "file:///\udcff.jpg", "file://[::1/a.jpg", "/tmp/\udcff\x00", "x" * 5000, "ftp://photos.invalid/a.jpg",
    "",
    "osdf://", "osdf:///", "osdf:///a\x00b", "osdf://[::1/a.jpg", "stash:///\udcff.jpg", "pelican://[::1/a",
    "pelican://photos.invalid:99999/ns/a.jpg", "pelican://exa mple.invalid/ns/a.jpg", "pelican://\udcff/ns/a",
    "pelican://photos.invalid/" + "a" * 70000, "osdf:///ns/%ZZ.jpg", "osdf:///ns/../..",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_any_url_gives_a_fetch_error_and_nothing_else(env, url):
    # Through a proxy that refuses (nothing listens on port 9): no name is looked up anywhere.
    env.setenv("http_proxy", "http://127.0.0.1:9")
    env.setenv("https_proxy", "http://127.0.0.1:9")
    with pytest.raises(FetchError):
        fast(retries=0).get(url)


@pytest.mark.parametrize("variable", ["OSG_SQUID_LOCATION", "FRONTIER_PROXY"])
def test_the_site_squid_is_the_http_proxy(server, env, variable):
    env.setenv(variable, "127.0.0.1:{}".format(server.port))  # OSPool workers' form: host:port
    server.add("/via-squid.jpg", BODY)
    assert fast().get("http://photos.example.invalid/via-squid.jpg").data == BODY
    assert server.proxied == ["http://photos.example.invalid/via-squid.jpg"]


def test_site_squids_in_order_and_never_for_https():
    squid = {"OSG_SQUID_LOCATION": "squid.osg:3128"}
    assert routes.site_proxies(squid) == {"http": "http://squid.osg:3128"}
    assert routes.site_proxies(dict(squid, FRONTIER_PROXY="http://frontier:3128")) == {"http": "http://frontier:3128"}
    assert routes.site_proxies(dict(squid, http_proxy="http://p:1")) == {}
    assert routes.site_proxies({"OSG_SQUID_LOCATION": "UNAVAILABLE"}) == {}


def test_the_site_squid_is_not_used_for_https(certificate, server, env):
    env.setenv("REQUESTS_CA_BUNDLE", certificate[0])
    env.setenv("OSG_SQUID_LOCATION", "127.0.0.1:{}".format(server.port))
    with PhotoServer(tls=certificate) as https:
        url = https.add("/direct.jpg", BODY)
        assert fast().get(url).data == BODY
    assert server.proxied == []


def test_an_international_host_name_goes_out_idna_encoded(server, env):
    env.setenv("http_proxy", server.url(""))
    server.add("/a.jpg", BODY)
    assert fast().get("http://bücher.example.invalid/a.jpg").data == BODY
    assert server.proxied == ["http://xn--bcher-kva.example.invalid/a.jpg"]


def test_a_gzip_body_is_decoded_within_the_limit(server):
    url = server.add("/z.jpg", gzip.compress(BODY), headers={"Content-Encoding": "gzip"})
    assert fast().get(url).data == BODY
    # 50 MB of zeros in 50 kB: never more than the limit is decompressed.
    bomb = server.add("/bomb.jpg", gzip.compress(bytes(50_000_000)), headers={"Content-Encoding": "gzip"})
    fetcher = fast(max_bytes=1_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match="over the limit") as info:
            fetcher.get(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not info.value.transient and peak < 10_000_000
    odd = server.add("/br.jpg", BODY, headers={"Content-Encoding": "br"})
    with pytest.raises(FetchError, match="Content-Encoding 'br'"):
        fast().get(odd)


@pytest.mark.parametrize("header, seconds", [("7", 7.0), ("100000", transport.MAX_RETRY_AFTER),
                                             ("soon", None), ("", None),
                                             ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)])
def test_retry_after_values(header, seconds):
    assert transport.retry_after(header) == seconds


# --- what a mirror list (OSDF caches) needs of one try and of the retries ---

def test_the_next_url_is_tried_before_a_retry_is_counted(server):
    url = server.add("/a.jpg", BODY)
    # A backoff of 100 s would show: the refused cache is passed over without waiting.
    began = time.monotonic()
    assert fast(backoff=100, retries=1).first(["http://127.0.0.1:9/a.jpg", url]).data == BODY
    assert time.monotonic() - began < 5


def test_a_list_of_failing_urls_counts_one_retry_per_round(server):
    down = server.add("/down.jpg", fail_first=99, fail_status=503)
    with pytest.raises(FetchError, match=r"HTTP 503 .*\(after 3 tries\)"):
        fast(retries=2).first(["http://127.0.0.1:9/a.jpg", down])
    assert server.hits["/down.jpg"] == 3


def test_a_permanent_failure_ends_the_list(server):
    gone = server.add("/gone.jpg", status=404)
    other = server.add("/a.jpg", BODY)
    with pytest.raises(FetchError, match="404"):
        fast().first([gone, other])
    assert "/a.jpg" not in server.hits


def test_a_redirect_can_be_read_instead_of_followed(server):
    link = '<http://127.0.0.1:1/a.jpg>; rel="duplicate"; pri=1'
    url = server.add("/object.jpg", status=307, headers={
        "Location": "http://127.0.0.1:1/a.jpg", "Link": link, "X-Pelican-Namespace": "namespace=/ospool"})
    with fast() as fetcher:
        head = fetcher.first([url], follow=False)
        assert (head.url, head.status, head.headers["link"]) == (url, 307, link)
        assert head.headers["X-Pelican-Namespace"] == "namespace=/ospool"
        fetcher.first([url], follow=False)
    assert server.connections == 1  # the redirect's connection was kept


def test_the_watchdog_runs_only_while_tries_are_under_way(server):
    url = server.add("/slow.jpg", BODY, delay=0.5)
    fetcher = fast()
    name = fetcher.transport.deadlines.name
    fetching = threading.Thread(target=fetcher.get, args=(url,))
    fetching.start()
    time.sleep(0.2)
    assert name in [thread.name for thread in threading.enumerate()]
    fetching.join()
    deadline = time.monotonic() + 5
    while name in [thread.name for thread in threading.enumerate()]:  # it ends by itself
        assert time.monotonic() < deadline
        time.sleep(0.1)
    fetcher.get(url)
    fetcher.close()  # and close() ends it at once
    assert name not in [thread.name for thread in threading.enumerate()]


def test_the_job_gives_a_dripping_photo_up_at_its_deadline_and_keeps_the_others(server, tmp_path, capsys):
    from luminance import cli
    from photodemo.images import jpeg

    good = server.add("/a.jpg", jpeg(40, 30))
    drip = server.add("/drip.jpg", jpeg(40, 30), fault="drip")
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("{} 1900\n{} 1901\n".format(good, drip))
    began = time.monotonic()
    code = cli.main([str(tmp_path / "results.json"), "0", "2", "--manifest", str(manifest),
                     "--deadline", "1"])
    assert code == 0 and time.monotonic() - began < 10  # a permanent failure: no rerun of the job
    document = results.read(str(tmp_path / "results.json"))
    assert [photo["url"] for photo in document["photos"]] == [good]
    (failure,) = document["failures"]
    assert (failure["url"], failure["transient"]) == (drip, False)
    assert failure["reason"] == "download took longer than the deadline of 1s (--deadline)"
    assert "manifest.txt:2: {}: download took longer".format(drip) in capsys.readouterr().err


def test_an_https_proxy_is_spoken_to_over_tls(certificate, env):
    # urllib3 speaks TLS to an https:// proxy (the hand-written client refused one).
    env.setenv("REQUESTS_CA_BUNDLE", certificate[0])
    with PhotoServer(tls=certificate) as proxy:
        env.setenv("http_proxy", proxy.url(""))
        proxy.add("/a.jpg", BODY)
        assert fast().get("http://photos.example.invalid/a.jpg").data == BODY
        assert proxy.proxied == ["http://photos.example.invalid/a.jpg"]


@pytest.mark.parametrize("fault, headers", [
    (None, {}), ("chunked", {}), ("no-length", {}), (None, {"Content-Encoding": "gzip"}),
])
def test_a_body_is_held_in_its_photos_claim(server, fault, headers):
    # Declared, chunked, ended by the server's close, compressed: the claim holds the body once
    # it is read, and never much more than twice it while it is.
    body = os.urandom(1_000_000)
    sent = gzip.compress(body) if headers else body
    url = server.add("/a.jpg", sent, fault=fault, headers=headers)
    budget = memory.Budget(64 << 20)
    with budget.claim() as claim:
        assert fast().get(url, claim).data == body
        assert claim.held == len(body)
    assert budget.used == 0 and budget.peak <= 2 * len(body) + 2 * transport.CHUNK


def test_a_body_the_jobs_memory_cannot_hold_fails_without_retries(server):
    url = server.add("/big.jpg", bytes(3 << 20))
    chunked = server.add("/big-chunked.jpg", bytes(3 << 20), fault="chunked")
    budget = memory.Budget(2 << 20)
    for address, reason in ((url, "body needs 3 MB to be held"), (chunked, "body needs 3 MB to be held")):
        with budget.claim() as claim, pytest.raises(FetchError) as info:
            fast().get(address, claim)
        assert info.value.reason.startswith(reason) and not info.value.transient
        assert info.value.reason.endswith("more than the job's memory for photos (2 MB, --memory)")
    assert server.hits["/big.jpg"] == 1 and budget.used == 0


def test_waiting_for_room_in_memory_does_not_count_against_the_deadline(server):
    url = server.add("/a.jpg", BODY)
    budget = memory.Budget(len(BODY))
    other = budget.claim()
    other.grow(len(BODY))  # an older photo holds all the room
    waited = []

    def fetch_it():
        with budget.claim() as claim:
            waited.append(fast(deadline=0.5).get(url, claim).data)

    thread = threading.Thread(target=fetch_it)
    thread.start()
    time.sleep(1.0)  # twice the deadline, waiting for room
    assert waited == []
    other.release()
    thread.join(5)
    assert waited == [BODY]


def test_bytes_after_the_end_of_a_gzip_stream_are_read_and_not_kept(server):
    trailing = server.add("/t.jpg", gzip.compress(BODY) + bytes(3_000_000),
                          headers={"Content-Encoding": "gzip"})
    budget = memory.Budget(64 << 20)
    fetcher = fast()
    tracemalloc.start()
    try:
        with budget.claim() as claim:
            assert fetcher.get(trailing, claim).data == BODY and claim.held == len(BODY)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000 and budget.peak < len(BODY) * 2 + 4 * transport.CHUNK
    assert fetcher.get(server.add("/a.jpg", BODY)).data == BODY  # the connection was read to its end
