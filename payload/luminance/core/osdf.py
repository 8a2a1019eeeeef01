"""The OSDF's URL rules, read by the job (pelican.py) and by ./submit (photodemo/transfers.py). Stdlib only.

An osdf:// (or stash://, its older name) URL names an object of the OSG's federation by its path
alone: osdf:///ospool/uw-shared/public/a.jpg, the form OSPool documents. Users also type
osdf://ospool/uw-shared/public/a.jpg, whose first name a URL parser reads as a host: both are the
same object. The OSPool access points' own directories (/ospool/apNN/data/USER/...) are private
namespaces, readable only with their user's token.
"""

import re
import urllib.parse

__all__ = ["SCHEMES", "object_path", "canonical", "is_private", "private_origin"]

SCHEMES = ("osdf", "stash")  # the OSG's federation, named by the URL's path alone
# OSPool access points' own OSDF directories (OSPool's "Transfer Larger Job Files and Containers
# Using OSDF": /ospool/ap20/data/USER, ap21, ap40).
_PRIVATE = re.compile(r"^(/ospool/ap\d+/data)/")


def object_path(url: str) -> str:
    """The object's path of an osdf:// or stash:// URL, as written (percent-escapes kept), with
    repeated slashes made one: osdf://ospool/a.jpg and osdf:///ospool//a.jpg give /ospool/a.jpg."""
    parts = urllib.parse.urlsplit(url)
    path = "/" + parts.netloc + parts.path if parts.netloc else parts.path
    return re.sub("/+", "/", path)


def canonical(url: str) -> str:
    """URL in the form OSPool documents (osdf:///NAMESPACE/..., the scheme in lower case); a URL of
    another scheme (pelican://HOST/...) is only given a lower-case scheme."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme in SCHEMES and not rest.startswith("/"):
        rest = "/" + rest
    return "{}://{}".format(scheme, rest)


def is_private(path: str) -> bool:
    """Whether PATH (an object_path) is under an OSPool access point's private directories."""
    return _PRIVATE.match(path) is not None


def private_origin(path: str) -> str:
    """The access point's data directory PATH is under (/ospool/apNN/data), or '' when none."""
    match = _PRIVATE.match(path)
    return match.group(1) if match else ""
