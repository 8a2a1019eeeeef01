"""make demo's local Pelican federation (photodemo.federation), read by the job's own client."""

import json
import threading
import urllib.error
import urllib.request

import pytest

from luminance import pelican
from luminance.fetch import Fetcher

from photodemo import federation


@pytest.fixture
def served(tmp_path, monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY",
                 "FRONTIER_PROXY", "OSG_SQUID_LOCATION", pelican.FEDERATION_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    photos = tmp_path / "photos"
    (photos / "series1").mkdir(parents=True)
    (photos / "series1" / "a b.jpg").write_bytes(b"\xff\xd8photo")
    (tmp_path / "secret.txt").write_text("not served")
    server = federation.make_server(str(photos))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_job_reads_an_object_through_discovery_director_and_cache(served):
    url = federation.base_url(served) + "/series1/a%20b.jpg"
    assert url.startswith("pelican://127.0.0.1:{}/ospool/uw-shared/public/demo/".format(served))
    assert Fetcher(timeout=5, retries=0).get(url).data == b"\xff\xd8photo"


def test_the_discovery_document_names_the_server_as_director(served):
    origin = "http://127.0.0.1:{}".format(served)
    with urllib.request.urlopen(origin + federation.DISCOVERY) as answer:
        assert json.load(answer) == {"director_endpoint": origin}


def test_the_cache_serves_nothing_outside_the_directory(served):
    cache = "http://127.0.0.1:{}{}{}".format(served, federation.CACHE_PREFIX, federation.DEFAULT_NAMESPACE)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(cache + "/../secret.txt")
    assert refused.value.code == 404
