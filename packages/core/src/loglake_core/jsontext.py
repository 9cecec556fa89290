"""Checks on the JSON text itself, shared by the Python and the Spark validator.

Both validators look at the text before (and around) the JSON parser so that they agree
on hostile input whatever their parsers' quirks: the nesting depth is measured on the
brackets outside string literals, and a document must end where its root object ends.

Example:
    >>> bracket_profile('{"a": [1, {"b": "]]]"}]}')
    (3, False)
    >>> bracket_profile('{"a": 1} {"b": 2}')
    (1, True)
"""

from __future__ import annotations

import re
from typing import Final

#: Deepest accepted nesting of objects and arrays (the event itself is depth 1).
MAX_JSON_DEPTH: Final = 32
#: Longest accepted number literal, in characters (Jackson's default read constraint).
MAX_NUMBER_LENGTH: Final = 1000
#: Whitespace JSON allows between tokens.
JSON_WHITESPACE: Final = " \t\n\r"
#: A complete JSON string literal (possessive, so the engines never backtrack or recurse).
STRING_LITERAL_PATTERN: Final = r'(?s)"[^"\\]*+(?:\\.[^"\\]*+)*+"'
#: Everything but brackets, once string literals are blanked.
NON_BRACKET_PATTERN: Final = r"[^\[\]{}]"

_STRING_RE: Final = re.compile(STRING_LITERAL_PATTERN)
_NON_BRACKET_RE: Final = re.compile(NON_BRACKET_PATTERN)


def blank_strings(text: str) -> str:
    """Replace every complete string literal of ``text`` with ``""``."""
    return _STRING_RE.sub('""', text)


def brackets(text: str) -> str:
    """The brackets of ``text`` outside string literals, in order."""
    return _NON_BRACKET_RE.sub("", blank_strings(text))


def bracket_profile(text: str) -> tuple[int, bool]:
    """Measure the brackets of ``text`` outside string literals.

    Returns:
        ``(max_depth, closes_early)``: the deepest nesting reached, and whether the depth
        returns to zero before the last bracket (i.e. something follows the root value).
    """
    depth = max_depth = 0
    seen = closes_early = False
    for ch in brackets(text):
        if seen and depth == 0:
            closes_early = True
        depth += 1 if ch in "[{" else -1
        max_depth = max(max_depth, depth)
        seen = True
    return max_depth, closes_early
