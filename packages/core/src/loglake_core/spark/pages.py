r"""Page normalisation as a Spark column expression (the same steps as ``loglake_core.pages``).

Built from Spark SQL functions only (no Python UDF), with the patterns defined once in
``loglake_core.pages``; Java regexes get ``\\z`` anchors so ``$`` never matches before a
trailing newline.

Example:
    >>> df.select(normalize_page_col("page_url").alias("page"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F  # noqa: N812 - the usual Spark alias

from loglake_core.pages import (
    AUTHORITY_PATTERN,
    ID_PLACEHOLDER,
    ID_SEGMENT_PATTERN,
    LOWER,
    QUERY_FRAGMENT_PATTERN,
    TRIM_CHARS,
    UPPER,
)

if TYPE_CHECKING:
    from pyspark.sql import Column


def java_full_match(pattern: str) -> str:
    r"""Anchor a regex for a full match under Java semantics (``$`` would allow ``\\n``)."""
    return f"^(?:{pattern})\\z"


def normalize_page_col(col: Column | str) -> Column:
    """Column expression: page URL or path -> path template (null stays null).

    Args:
        col: a string column (or its name) holding URLs or paths.
    """
    url = F.col(col) if isinstance(col, str) else col
    text = F.regexp_replace(url, QUERY_FRAGMENT_PATTERN, "")
    text = F.btrim(text, F.lit(TRIM_CHARS))
    text = F.regexp_replace(text, AUTHORITY_PATTERN, "")
    text = F.translate(text, UPPER, LOWER)
    # split/filter/join as regexes: a leading "/", runs of "/" collapsed, no trailing "/"
    text = F.regexp_replace(F.concat(F.lit("/"), text), "/{2,}", "/")
    text = F.regexp_replace(text, r"(?s)(.)/\z", "$1")
    # each segment that is an id in full: it starts after a "/" and ends at "/" or the end
    templated = F.regexp_replace(
        text, f"(?<=/)(?:{ID_SEGMENT_PATTERN})(?=/|\\z)", ID_PLACEHOLDER.replace("$", "\\$")
    )
    return F.when(url.isNull(), F.lit(None).cast("string")).otherwise(templated)
