"""Unit tests of page normalisation (the Spark twin is checked in test_core_parity.py)."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from loglake_core.pages import normalize_page

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "page"),
    [
        (None, None),
        ("", "/"),
        ("   ", "/"),
        ("/", "/"),
        ("https://shop.example.com", "/"),
        ("https://shop.example.com:8443/Product/12345/?ref=home#top", "/product/{id}"),
        ("HTTP://X.COM/A/B", "/a/b"),
        ("//cdn.example.com//img//3f2a9c0d11/", "/img/{id}"),
        ("/users/550E8400-E29B-41D4-A716-446655440000/orders/7", "/users/{id}/orders/{id}"),
        ("/blob/deadbeef", "/blob/deadbeef"),  # 8 hex letters, no digit: a word
        ("/blob/deadbee1", "/blob/{id}"),
        ("/blob/abc1234", "/blob/abc1234"),  # 7 hex chars: too short for an id
        ("/v2/search", "/v2/search"),
        ("/search?q=1/2", "/search"),
        ("/a#frag/x", "/a"),
        ("product/9", "/product/{id}"),
        ("/a///b//", "/a/b"),
        ("/Ünïcode/ÄB", "/Ünïcode/Äb"),  # only ASCII letters are lower-cased
        ("\t/a/1\n", "/a/{id}"),
        ("/123\n", "/{id}"),
        ("0\r#", "/{id}"),  # whitespace before the fragment is trimmed too
        ("/cart \t?x=1", "/cart"),
    ],
)
def test_normalize_page(url: str | None, page: str | None) -> None:
    assert normalize_page(url) == page


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
@example("0\r#")
def test_normalized_pages_are_stable_templates(url: str) -> None:
    page = normalize_page(url)
    assert page is not None
    assert page.startswith("/")
    assert "//" not in page
    assert page == "/" or not page.endswith("/")
    assert "?" not in page
    assert "#" not in page
    assert normalize_page(page) == page  # idempotent
