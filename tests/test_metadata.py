"""Years from XML sidecars: messy catalogue dates, Dublin Core and MODS, and hostile or broken XML."""

import time

import pytest

from photodemo import metadata
from photodemo.metadata import MetadataError, year_from_text


@pytest.mark.parametrize("text, year", [
    ("1925", 1925), ("ca. 1925", 1925), ("circa 1925", 1925), ("c.1925", 1925), ("[1925?]", 1925),
    ("1925?", 1925), ("1925~", 1925), ("1890s", 1890), ("1901-05-03", 1901), ("1901-05", 1901),
    ("1901-05-03T10:00:00Z", 1901), ("May 3, 1901", 1901), ("3 May 1901", 1901),
    ("05/03/1901", 1901), ("1925-1930", 1925), ("1925/1930", 1925), ("between 1890 and 1900", 1890),
    ("189-?", 1890), ("189-", 1890), ("192X", 1920), ("192u", 1920),
    ("undated", None), ("n.d.", None), ("", None), ("19th century", None), ("'25", None),
    ("12345", None), ("0925", None), ("no. 123", None),
])
def test_year_from_catalogue_text(text, year):
    assert year_from_text(text) == year


DC = """<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:identifier>apf1-00001r</dc:identifier>
  <dc:title>Cobb Hall 1893 &amp; friends</dc:title>
  {}
</metadata>
"""

MODS = """<?xml version="1.0" encoding="UTF-8"?>
<mods xmlns="http://www.loc.gov/mods/v3" version="3.7">
  <titleInfo><title>Harper Library</title></titleInfo>
  <originInfo>
    {}
  </originInfo>
</mods>
"""


def year_of(text):
    return metadata.parse(text.encode("utf-8")).year


def test_dublin_core_date():
    assert year_of(DC.format("<dc:date>ca. 1925</dc:date>")) == 1925
    assert year_of(DC.format("")) is None  # the title's 1893 is not a date
    found = metadata.parse(DC.format("<dc:date>  undated </dc:date>").encode())
    assert found == metadata.Metadata(None, ("undated",))


def test_dcterms_and_unnamespaced_dates():
    terms = ('<r xmlns:dcterms="http://purl.org/dc/terms/"><dcterms:issued>1950</dcterms:issued>'
             '<dcterms:created>1948-02-01</dcterms:created></r>')
    assert year_of(terms) == 1948  # created beats issued
    assert year_of("<photo><title>x</title><date>1890s</date></photo>") == 1890
    assert year_of('<r xmlns:x="urn:other"><x:date>1950</x:date></r>') is None  # not a DC date


def test_mods_dates_in_order_of_preference():
    assert year_of(MODS.format("<dateCreated>1901-05-03</dateCreated>")) == 1901
    assert year_of(MODS.format("<dateIssued>1910</dateIssued>")) == 1910
    assert year_of(MODS.format("<dateIssued>1910</dateIssued><dateCreated>1905</dateCreated>")) == 1905
    assert year_of(MODS.format('<dateCreated>1905</dateCreated>'
                               '<dateCreated keyDate="yes">1907</dateCreated>')) == 1907
    assert year_of(MODS.format('<dateCreated point="end">1930</dateCreated>'
                               '<dateCreated point="start">1920</dateCreated>')) == 1920
    # A date without a year gives way to the next one.
    assert year_of(MODS.format("<dateCreated>undated</dateCreated><dateIssued>1899</dateIssued>")) == 1899
    assert year_of(MODS.format('<dateCreated encoding="marc">192u</dateCreated>')) == 1920


def test_mods_and_dc_together_prefer_creation():
    both = ('<record xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:m="http://www.loc.gov/mods/v3">'
            '<dc:date>1960</dc:date><m:dateCreated>1955</m:dateCreated></record>')
    assert year_of(both) == 1955


def test_declared_encoding_is_honoured():
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><r><title>Caf\xe9</title><date>1931</date></r>'
    assert metadata.parse(latin.encode("latin-1")).year == 1931


def test_malformed_xml_names_the_file_and_line():
    broken = DC.format("<dc:date>1925</dc:dat>")
    with pytest.raises(MetadataError) as error:
        metadata.parse(broken.encode(), "archive/x.xml")
    assert str(error.value) == "archive/x.xml: malformed XML (line 5): mismatched tag"
    for junk in (b"", b"not xml at all", b"\xff\xfe\x00garbage", b"<a><b></a>"):
        with pytest.raises(MetadataError, match="malformed XML"):
            metadata.parse(junk, "j.xml")


def test_entity_expansion_is_refused_at_once():
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join('<!ENTITY lol{} "{}">'.format(i, "&lol{};".format(i - 1 if i > 1 else "") * 10)
                        for i in range(1, 10))
              + ']><metadata><date>&lol9;</date></metadata>')
    started = time.monotonic()
    with pytest.raises(MetadataError, match="DOCTYPE declarations are not accepted"):
        metadata.parse(laughs.encode(), "bomb.xml")
    assert time.monotonic() - started < 0.05
    external = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                '<r><date>&e;</date></r>')
    with pytest.raises(MetadataError, match="refused XML"):
        metadata.parse(external.encode(), "ext.xml")
    with pytest.raises(MetadataError, match="DOCTYPE"):
        metadata.parse(b'<!DOCTYPE r SYSTEM "http://example.org/r.dtd"><r/>', "dtd.xml")


def test_read_files(tmp_path):
    good = tmp_path / "a.xml"
    good.write_text(DC.format("<dc:date>1890s</dc:date>"), encoding="utf-8")
    assert metadata.read(str(good)).year == 1890
    with pytest.raises(MetadataError, match="missing.xml: cannot read"):
        metadata.read(str(tmp_path / "missing.xml"))
    huge = tmp_path / "huge.xml"
    huge.write_bytes(b"<r>" + b" " * metadata.MAX_BYTES + b"</r>")
    with pytest.raises(MetadataError, match="too big"):
        metadata.read(str(huge))
