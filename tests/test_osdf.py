"""The OSDF's URL rules (luminance/core/osdf.py), which the job (pelican.py) and ./submit
(transfers.py) read."""

import pytest

from luminance import pelican
from luminance.core import osdf

from photodemo import transfers


@pytest.mark.parametrize("url", ["osdf:///ospool/ap40/data/a.jpg", "osdf://ospool/ap40/data/a.jpg",
                                 "OSDF:///ospool//ap40/data/a.jpg", "stash://ospool/ap40/data/a.jpg"])
def test_two_slashes_and_three_name_one_object_for_the_job_and_for_submit(url):
    assert osdf.object_path(url) == "/ospool/ap40/data/a.jpg"
    assert pelican.parse(url, {}).path == "/ospool/ap40/data/a.jpg"
    assert transfers.transfer_url(url).split("://", 1)[1] == osdf.canonical(url).split("://", 1)[1]
    assert osdf.canonical(url).split("://", 1)[1].startswith("/ospool/")


@pytest.mark.parametrize("path, private", [
    ("/ospool/ap40/data/alice/a.jpg", True), ("/ospool/ap20/data/bob/a.jpg", True),
    ("/ospool/uw-shared/public/a.jpg", False), ("/ospool/apx/data/a.jpg", False),
    ("/other/ospool/ap40/data/a.jpg", False)])
def test_the_private_namespaces(path, private):
    assert osdf.is_private(path) is private
    assert osdf.private_origin(path) == (path[:path.index("/data") + 5] if private else "")


def test_a_percent_escape_is_kept_as_written():
    assert osdf.object_path("osdf:///ns/caf%E9.jpg") == "/ns/caf%E9.jpg"
    assert osdf.canonical("osdf://ns/caf%E9.jpg") == "osdf:///ns/caf%E9.jpg"
