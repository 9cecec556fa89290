"""Page normalisation: a page URL or path -> a low-cardinality path template.

Steps (``loglake_core.spark.pages`` applies the same ones, with the same patterns):

1. drop the query and the fragment (from the first ``?`` or ``#``);
2. trim whitespace (space, tab, CR, LF, FF, VT) from what is left, so whitespace before a
   ``?`` or ``#`` goes too (normalising a template again gives the same template);
3. drop ``scheme://host[:port]`` and a scheme-less ``//host`` (RFC 3986 network path);
4. lower-case ASCII letters (other characters are kept as they are);
5. split on ``/``, dropping empty segments (repeated and trailing slashes collapse);
6. replace each segment that is a number, a UUID, or a hex id (8+ hex digits with at least
   one digit) by ``{id}``;
7. join as ``/seg/seg``; no segment left gives ``/``.

Example:
    >>> normalize_page("https://shop.example.com/Product/12345/?ref=home#top")
    '/product/{id}'
    >>> normalize_page("//cdn.example.com//img/3f2a9c0d11/")
    '/img/{id}'
    >>> normalize_page("")
    '/'
"""

from __future__ import annotations

import re
from typing import Final

#: Characters trimmed from both ends of a page URL.
TRIM_CHARS: Final = " \t\r\n\f\v"
#: Query and fragment, to drop.
QUERY_FRAGMENT_PATTERN: Final = r"(?s)[?#].*"
#: Scheme and authority (or a scheme-less ``//host``) at the start, to drop.
AUTHORITY_PATTERN: Final = r"^(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//[^/]*"
#: A path segment that is an id (matched in full, after lower-casing).
ID_SEGMENT_PATTERN: Final = (
    r"[0-9]+"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|(?=[0-9a-f]*[0-9])[0-9a-f]{8,}"
)
ID_PLACEHOLDER: Final = "{id}"
UPPER: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER: Final = "abcdefghijklmnopqrstuvwxyz"

_QUERY_FRAGMENT_RE: Final = re.compile(QUERY_FRAGMENT_PATTERN)
_AUTHORITY_RE: Final = re.compile(AUTHORITY_PATTERN)
_ID_RE: Final = re.compile(ID_SEGMENT_PATTERN)
_LOWER_TABLE: Final = str.maketrans(UPPER, LOWER)


def normalize_page(url: str | None) -> str | None:
    """Normalise a page URL or path into a path template.

    Args:
        url: a full URL (``https://host/path?q``), a path (``/a/b``) or None.

    Returns:
        The template (``/product/{id}``), ``/`` for an empty path, or None for None.
    """
    if url is None:
        return None
    text = _QUERY_FRAGMENT_RE.sub("", url, count=1)
    text = text.strip(TRIM_CHARS)
    text = _AUTHORITY_RE.sub("", text, count=1)
    text = text.translate(_LOWER_TABLE)
    segments = [ID_PLACEHOLDER if _ID_RE.fullmatch(seg) else seg for seg in text.split("/") if seg]
    return "/" + "/".join(segments)
