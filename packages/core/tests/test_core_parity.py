"""The Python and the Spark validator (and page normaliser) decide identically.

Hypothesis generates valid events, mutated events and hostile bytes; all of them are
evaluated in ONE Spark DataFrame and compared row by row with the Python results.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglake_core.pages import normalize_page
from loglake_core.schema import EVENT_FIELDS, EVENT_TYPES, LEVELS
from loglake_core.validate import Rejection, ValidEvent, validate

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)

offsets = st.one_of(
    st.just("Z"),
    st.builds(
        lambda sign, h, m: f"{sign}{h:02d}:{m:02d}",
        st.sampled_from("+-"),
        st.integers(0, 19),
        st.sampled_from([0, 30, 45, 59, 60]),
    ),
    st.just(""),
)


@st.composite
def iso_times(draw: st.DrawFn) -> str:
    """ISO-8601 strings around now, some invalid (bad days, hours, fractions)."""
    moment = NOW + timedelta(
        seconds=draw(st.integers(-40 * 365 * 86400, 3600)),
        microseconds=draw(st.integers(0, 999_999)),
    )
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if draw(st.booleans()):
        text += "." + draw(st.text("0123456789", min_size=1, max_size=10))
    if draw(st.integers(0, 9)) == 0:
        # break a component: day 30/31 of short months, hour 24, second 60, month 13
        y = moment.year
        text = draw(
            st.sampled_from(
                [
                    f"{y}-02-30T00:00:00",
                    f"{y}-02-29T00:00:00",
                    f"{y}-04-31T10:00:00",
                    f"{y}-13-01T10:00:00",
                    f"{y}-01-01T24:00:00",
                    f"{y}-01-01T10:60:00",
                    f"{y}-01-01T10:00:60",
                    "0000-01-01T00:00:00",
                    f"{y}-1-01T00:00:00",
                    f"{y}-01-01 00:00:00",
                    f"{y}-01-01t00:00:00",
                ]
            )
        )
    return text + draw(offsets)


event_times = st.one_of(
    iso_times(),
    st.integers(0, 2**53).map(lambda n: n % 1_800_000_000_000),
    st.integers(900_000_000_000, 1_720_000_000_000),
    st.just(int(NOW.timestamp() * 1000) + 300_000),
    st.just(int(NOW.timestamp() * 1000) + 300_001),
    st.just(946_684_799_999),
    st.just(946_684_800_000),
)

page_urls = st.one_of(
    st.sampled_from(
        [
            "https://Shop.example.com/product/123?x=1#y",
            "/checkout//step/2/",
            "/u/550e8400-e29b-41d4-a716-446655440000/profile",
            "//cdn.example.com/img/deadbeef12",
            "",
            "/",
            "Search?q=abc",
        ]
    ),
    st.text(st.sampled_from("/abcXYZ0123456789-_.?#:"), max_size=40),
)


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    """Events that satisfy the contract (before any mutation)."""
    event_type = draw(st.sampled_from(EVENT_TYPES))
    event: dict[str, Any] = {
        "event_id": draw(st.text(min_size=1, max_size=20)),
        "event_time": draw(event_times),
        "event_type": event_type,
        "service": draw(st.sampled_from(["shop", "api", "search", "ünïcode"])),
    }
    if event_type == "page_view" or draw(st.booleans()):
        event["page_url"] = draw(page_urls)
    if event_type == "page_view" or draw(st.booleans()):
        event["tti_ms"] = draw(
            st.one_of(
                st.floats(0, 599_999.999),
                st.integers(0, 599_999),
                st.sampled_from([0, 0.0, 599_999.9999, 600_000, -0.001]),
            )
        )
    if event_type == "api_request" or draw(st.booleans()):
        event["duration_ms"] = draw(st.one_of(st.floats(0, 1e7), st.integers(0, 10**6)))
    optional: dict[str, st.SearchStrategy[Any]] = {
        "status_code": st.integers(90, 610),
        "level": st.sampled_from([*LEVELS, "INFO", "warning"]),
        "message": st.text(max_size=30),
        "session_id": st.text(max_size=10),
        "user_id": st.text(max_size=10),
        "user_agent": st.just("Mozilla/5.0"),
        "app_version": st.just("1.2.3"),
        "country": st.sampled_from(["DE", "US", "de", "USA", "D1"]),
        "attributes": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
        "extra_field": json_values,
        "Event_ID": st.text(max_size=5),
    }
    for name, strategy in optional.items():
        if draw(st.integers(0, 3)) == 0:
            event[name] = draw(strategy)
    return event


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """Valid events with one field removed, nulled, retyped or made too long."""
    event = draw(valid_events())
    name = draw(st.sampled_from(sorted(event)))
    kind = draw(st.integers(0, 7))
    if kind == 0:
        del event[name]
    elif kind == 1:
        event[name] = None
    elif kind == 2:
        event[name] = draw(json_values)
    elif kind == 3:
        event[name] = str(event[name])  # numbers as strings
    elif kind == 4:
        event[name] = draw(st.sampled_from([True, False, 1.0, 200.0, 2**63, -(2**63) - 1, 1e300]))
    elif kind == 5:
        event[name] = "x" * draw(st.sampled_from([127, 128, 129, 2048, 2049, 8193]))
    elif kind == 6:
        event[name] = draw(st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=3))
    else:
        event[name] = {"k": draw(json_values)}
    return event


def dumps(event: dict[str, Any], *, ascii_only: bool, spaced: bool) -> bytes:
    """Serialise like a producer would (compact or spaced, ASCII-escaped or not)."""
    separators = (", ", ": ") if spaced else (",", ":")
    return json.dumps(event, ensure_ascii=ascii_only, separators=separators).encode(
        "utf-8", "surrogatepass"
    )


@st.composite
def encoded_events(draw: st.DrawFn) -> bytes:
    """Valid or mutated events as bytes."""
    event = draw(st.one_of(valid_events(), mutated_events()))
    return dumps(event, ascii_only=draw(st.booleans()), spaced=draw(st.booleans()))


@st.composite
def hostile_messages(draw: st.DrawFn) -> bytes:
    """Messages that break the JSON or the byte level, derived from real events."""
    good = dumps(draw(valid_events()), ascii_only=True, spaced=False)
    kind = draw(st.integers(0, 15))
    if kind == 0:
        return draw(st.binary(max_size=40))
    if kind == 1:
        return good[: draw(st.integers(0, max(len(good) - 1, 0)))]  # truncated
    if kind == 2:
        return b"\xef\xbb\xbf" + good  # BOM
    if kind == 3:
        at = draw(st.integers(1, len(good) - 1))
        return (
            good[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf"]))
            + good[at:]
        )
    if kind == 4:
        return b"[" + good + b"]"
    if kind == 5:
        return good + draw(
            st.sampled_from([b" x", b"}", b" {}", b"]", b",", b"\n", b" \t ", b'"}"'])
        )
    if kind == 6:
        depth = draw(st.integers(25, 40))
        return good[:-1] + b',"deep":' + b"[" * depth + b"]" * depth + b"}"
    if kind == 7:
        token = draw(
            st.sampled_from(
                [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"01", b"1.", b".5"]
            )
        )
        return good[:-1] + b',"tti_ms":' + token + b"}"
    if kind == 8:
        size = draw(st.sampled_from([10, 10, 10, 10, 10, 10, 10, 66_000]))
        return good[:-1] + b',"x":"' + b"a" * size + b'"}'
    if kind == 9:
        return good[:-1] + b',"x":"\x01"}'  # raw control character
    if kind == 10:
        return good[:-1] + b',"event_id":"dup"}'  # duplicate key
    if kind == 11:
        return good[:-1] + b',"attributes":{"a":"1","a":"2"}}'  # nested duplicate
    if kind == 12:
        return good[:-1] + b',"x":"\\ud800","y":"\\udc00\\ud83d\\ude00"}'  # lone surrogates
    if kind == 13:
        return draw(st.sampled_from([b"", b"   ", b"\n", b"null", b"1", b'"s"', b"{}", b"{", b"}"]))
    if kind == 14:
        digits = draw(st.sampled_from([20, 400, 999, 1001]))
        return good[:-1] + b',"duration_ms":' + b"9" * digits + b"}"
    return (
        good[:-1]
        + b',"status_code":'
        + draw(
            st.sampled_from([b"200.0", b"2e2", b"true", b'"200"', b"9223372036854775808", b"-0"])
        )
        + b"}"
    )


messages = st.one_of(encoded_events(), encoded_events(), hostile_messages())


N_MESSAGES = 10_000
#: Drawn by hypothesis; the rest of N_MESSAGES are derived from them by ``expand``.
N_DRAWN = 4_000
N_PAGES = 3_000


def collect(strategy: st.SearchStrategy[Any], n: int, *, batch: int = 10) -> list[Any]:
    """Draw ``n`` examples of ``strategy`` deterministically with the hypothesis engine.

    Each hypothesis example is a list of ``batch`` values, which spreads the engine's
    per-example cost (the slow part) over many inputs.
    """
    out: list[Any] = []

    @settings(
        max_examples=-(-n // batch),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(strategy, min_size=batch, max_size=batch))
    def draw(values: list[Any]) -> None:
        out.extend(values)

    draw()
    return out


def expand(drawn: list[bytes], n: int, seed: int = 0) -> list[bytes]:
    """Derive more messages from hypothesis-drawn ones (cheap, deterministic).

    Cross-over (a field's value taken from another message), truncation, and one byte
    replaced; drawing every input through hypothesis would take most of the test budget.
    """
    rng = random.Random(seed)
    parsed = []
    for raw in drawn:
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict) and value:
            parsed.append(value)
    out = list(drawn)
    while len(out) < n:
        kind = rng.randrange(3)
        if kind == 0 and len(parsed) > 1:
            a, b = dict(rng.choice(parsed)), rng.choice(parsed)
            key = rng.choice(sorted(b))
            a[key] = b[key]
            out.append(json.dumps(a).encode("utf-8", "surrogatepass"))
        elif kind == 1:
            raw = rng.choice(drawn)
            out.append(raw[: rng.randrange(len(raw) + 1)])
        else:
            raw = bytearray(rng.choice(drawn) or b"{}")
            raw[rng.randrange(len(raw))] = rng.choice(b'{}[]",:0\\ \x00\x80\xffe-')
            out.append(bytes(raw))
    return out


@pytest.mark.unit
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(messages)
def test_validator_total_on_any_input(raw: bytes) -> None:
    result = validate(raw, now=NOW)
    assert isinstance(result, ValidEvent | Rejection)
    if isinstance(result, Rejection):
        assert result.message
        assert result.field is None or result.field in {f.name for f in EVENT_FIELDS}
    else:
        assert result.event_time.tzinfo is UTC


#: Inputs a draw once found to disagree, kept so every run checks them.
FIXED_MESSAGES: list[bytes] = [
    b'{"event_id":"e","event_time":1717243500000,"event_type":"error","service":"s",'
    b'"big":1e400,"small":-1e400,"list":[1e400]}',
    # integers beyond 38 digits: Spark keeps them as doubles (or infinities)
    b'{"event_id":"e","event_time":1717243500000,"event_type":"error","service":"s",'
    b'"d38":' + b"9" * 38 + b',"d39":' + b"9" * 39 + b',"huge":' + b"9" * 400 + b","
    b'"neg":[-' + b"9" * 400 + b"]}",
]


def _micros(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@pytest.mark.spark
def test_spark_validator_agrees_with_python(spark: Any) -> None:
    from pyspark.sql import functions as F  # noqa: N812

    from loglake_core.spark.rules import validate_values

    raws = expand(collect(messages, N_DRAWN), N_MESSAGES) + FIXED_MESSAGES
    assert len(raws) >= N_MESSAGES
    df = spark.createDataFrame([(i, r) for i, r in enumerate(raws)], "i long, value binary")
    checked = df.transform(lambda d: validate_values(d, now_col=F.lit(NOW)))
    names = [f.name for f in EVENT_FIELDS if f.name != "event_time"]
    rows = checked.select(
        "i",
        "reason_code",
        "reason_field",
        F.unix_micros("event_time").alias("micros"),
        F.unix_date("event_date").alias("days"),
        "page",
        "_rescued",
        *names,
    ).collect()
    assert len(rows) == len(raws)
    mismatches = []
    accepted = 0
    for row in sorted(rows, key=lambda r: r.i):
        raw = raws[row.i]
        result = validate(raw, now=NOW)
        if isinstance(result, Rejection):
            got = (row.reason_code, row.reason_field)
            if got != (result.code.value, result.field):
                mismatches.append((raw[:200], (result.code.value, result.field), got))
            continue
        accepted += 1
        expected = {
            "code": None,
            "micros": _micros(result.event_time),
            "days": (result.event_date - datetime(1970, 1, 1).date()).days,
            "page": result.page,
            "rescued": None if result.rescued is None else json.loads(result.rescued),
            **{n: result.fields[n] for n in names},
        }
        actual = {
            "code": row.reason_code,
            "micros": row.micros,
            "days": row.days,
            "page": row.page,
            "rescued": None if row._rescued is None else json.loads(row._rescued),
            **{n: row[n] for n in names},
        }
        if expected != actual:
            diff = {k: (expected[k], actual[k]) for k in expected if expected[k] != actual[k]}
            mismatches.append((raw[:200], "values", diff))
    assert not mismatches, f"{len(mismatches)} disagreements, first: {mismatches[:5]}"
    # the generated inputs really exercise both outcomes
    assert accepted > N_MESSAGES // 20
    assert len(rows) - accepted > N_MESSAGES // 5


@pytest.mark.spark
def test_spark_page_normaliser_agrees_with_python(spark: Any) -> None:
    from loglake_core.spark.pages import normalize_page_col

    urls = collect(
        st.one_of(
            page_urls,
            st.text(max_size=30),
            st.text(st.sampled_from("/aA0f9-?#:. \t\n"), max_size=30),
            st.none(),
        ),
        N_PAGES,
    )
    # whitespace before a query or fragment (a draw once found the order of the steps)
    urls += ["0\r#", "/cart \t?x=1", " /a/1\n#top", "\t?only"]
    df = spark.createDataFrame([(i, u) for i, u in enumerate(urls)], "i long, url string")
    rows = df.select("i", normalize_page_col("url").alias("page")).collect()
    got = {r.i: r.page for r in rows}
    bad = [
        (u, normalize_page(u), got[i]) for i, u in enumerate(urls) if normalize_page(u) != got[i]
    ]
    assert not bad, f"{len(bad)} disagreements, first: {bad[:5]}"


def _fast_path_corpus() -> list[bytes]:
    """Flat, strict events (the fast path's shape) that break one rule each, or none."""
    base = {
        "event_id": "e-1",
        "event_time": "2024-05-31T10:00:00.123Z",
        "event_type": "page_view",
        "service": "web",
        "page_url": "https://shop.example.com/Product/12345?x=1",
        "tti_ms": 812.5,
        "status_code": 200,
        "session_id": "s-1",
        "country": "DE",
        "attributes": {"a": "1", "b": "x\ty"},
    }
    changes: list[dict[str, Any]] = [
        {},
        {"country": "de"},
        {"event_type": "click"},
        {"tti_ms": -1},
        {"tti_ms": 0},
        {"tti_ms": 1e99},
        {"tti_ms": 12},
        {"tti_ms": 9_007_199_254_740_993},  # 2**53 + 1: a long read as a double rounds
        {"tti_ms": 1.5e-7},
        {"status_code": 123_456_789_012_345_678},  # 18 digits, the longest fast integer
        {"status_code": 99},
        {"status_code": 600},
        {"status_code": -0},
        {"event_time": "2099-01-01T00:00:00Z"},
        {"event_time": "1999-12-31T23:59:59Z"},
        {"event_time": "2024-02-30T00:00:00Z"},
        {"event_time": "2024-05-31T10:00:00"},
        {"event_time": "2024-05-31T10:00:60Z"},
        {"event_time": "2024-05-31T10:00:00+19:00"},
        {"event_time": "2024-05-31T10:00:00.1234567-03:30"},
        {"event_time": "yesterday"},
        {"event_time": 1717236000000},
        {"event_time": 86_400_000},
        {"event_time": 99_999_999_999_999},
        {"event_time": None},
        {"event_id": None},
        {"page_url": None},
        {"tti_ms": None},
        {"level": "warn", "message": 'line one\nline "two"'},
        {"level": "loud"},
        {"session_id": "s" * 300},
        {"event_id": "x" * 129},
        {"attributes": {}},
        {"event_type": "api_request", "duration_ms": 5},
        {"event_type": "log", "page_url": None, "tti_ms": None},
    ]
    out = []
    for change in changes:
        event = {**base, **change}
        for spaced in (False, True):
            out.append(dumps(event, ascii_only=False, spaced=spaced))
    text = dumps(base, ascii_only=False, spaced=False).decode()
    out += [
        text.replace('"service":"web"', '"service":"web","service":"api"').encode(),
        text.replace('"a":"1"', '"a":"1","a":"2"').encode(),
        text.replace('"tti_ms":812.5', '"tti_ms":812.5,"tti_ms":null').encode(),
        text.replace('"country":"DE"', '"country":"DE","extra":1').encode(),
        text.replace("812.5", "8.125E2").encode(),
        text.replace("812.5", "812.50000000000000000001").encode(),  # 20 fraction digits
        text.replace("812.5", "-0.0").encode(),
        text.replace('"s-1"', '"' + "\\n" * 1500 + '"').encode(),
        text.replace('"s-1"', '"' + "\\n" * 2100 + '"').encode(),
    ]
    return out


@pytest.mark.spark
def test_fast_path_decides_like_the_full_path(spark: Any) -> None:
    """Rows that take the fast path get exactly what the full (VARIANT) path gives them."""
    from pyspark.sql import functions as F  # noqa: N812

    from loglake_core.spark import rules

    corpus = _fast_path_corpus()
    raws = corpus + expand(collect(messages, 1_000), 3_000, seed=7)
    df = spark.createDataFrame([(i, r) for i, r in enumerate(raws)], "i long, value binary")
    text = F.col("value").cast("string")
    shape = text.rlike(rules._FAST_SHAPE) | text.rlike(rules._FAST_SHAPE_MS)
    columns = [
        "i",
        *(f.name for f in EVENT_FIELDS),
        "page",
        "_rescued",
        "event_date",
        *rules.REASON_COLUMNS,
    ]

    def run(fast: bool) -> dict[int, Any]:
        checked = df.transform(
            lambda d: rules.validate_values(d, now_col=F.lit(NOW), fast_path=fast, accelerate=False)
        )
        return {r.i: r for r in checked.select(*columns).collect()}

    fast, full = run(True), run(False)
    assert fast.keys() == full.keys() == set(range(len(raws)))
    diff = [(raws[i][:120], fast[i], full[i]) for i in fast if fast[i] != full[i]]
    assert not diff, f"{len(diff)} rows differ, first: {diff[:3]}"
    shaped = df.where(shape & (F.col("i") < len(corpus))).count()
    assert shaped > len(corpus) * 0.8  # the corpus itself really takes the fast path
    codes = {r.reason_code for r in fast.values()}
    assert {"invalid_value", "out_of_range", "future_timestamp", "not_json"} <= codes


@pytest.mark.spark
def test_naive_times_read_as_utc_agree_with_python(spark: Any) -> None:
    """With ``naive_timestamps_as_utc``, both validators read a time without offset as UTC."""
    from pyspark.sql import functions as F  # noqa: N812

    from loglake_core.spark.rules import validate_values
    from loglake_core.validate import ValidationConfig

    config = ValidationConfig(naive_timestamps_as_utc=True)
    times = [
        "2024-05-31T10:00:00", "2024-05-31T10:00:00.1234567", "2024-05-31T23:59:59.999999999",
        "2024-02-29T12:00:00", "2023-02-29T12:00:00", "2024-05-31T10:00:60",
        "2024-05-31T10:00:00Z", "2024-05-31T10:00:00-18:00", "2024-05-31T10:00:00+18:01",
        "2024-05-31T10:00:00.5+05:30", "2000-01-01T00:00:00", "1999-12-31T23:59:59",
    ]  # fmt: skip
    base = json.loads(_fast_path_corpus()[0])
    raws = [json.dumps({**base, "event_time": t}).encode() for t in times]
    df = spark.createDataFrame([(i, r) for i, r in enumerate(raws)], "i long, value binary")
    checked = validate_values(df, now_col=F.lit(NOW), config=config)
    rows = checked.select("i", "reason_code", F.unix_micros("event_time").alias("us")).collect()
    got = {r.i: (r.reason_code, r.us if r.reason_code is None else None) for r in rows}
    want = {}
    for i, raw in enumerate(raws):
        result = validate(raw, now=NOW, config=config)
        want[i] = (
            (result.code.value, None)
            if isinstance(result, Rejection)
            else (None, _micros(result.event_time))
        )
    assert got == want
    assert sum(code is None for code, _ in got.values()) >= 6  # most of them are accepted


def _accelerator_corpus() -> list[bytes]:
    """Near misses of what the accelerator accepts: escapes, widths, spacing, UTF-8."""
    base = dumps(
        {
            "event_id": "e-2",
            "event_time": "2024-05-31T10:00:00Z",
            "event_type": "api_request",
            "service": "api",
            "duration_ms": 12.5,
            "message": "ok",
        },
        ascii_only=False,
        spaced=False,
    ).decode()
    swaps = [
        ('"ok"', '"caf\u00e9 \u2603 \U0001f600"'),  # 2-, 3- and 4-byte UTF-8
        ('"ok"', '"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"'),  # every short escape
        ('"ok"', '"\\u00e9"'),  # a \\u escape: the Spark rules decide
        ('"ok"', '"a\x7fb"'),
        ('"e-2"', '"' + "\U0001f600" * 128 + '"'),  # 128 characters, 512 bytes
        ('"e-2"', '"' + "\U0001f600" * 129 + '"'),
        ("12.5", "1E2"),
        ("12.5", "0.5e-01"),
        ("12.5", "1234567890123456"),  # 16 integer digits, the widest accepted
        ("12.5", "12345678901234567"),
        ("12.5", "012"),
        ("12.5", "-0"),
        ("12.5", "1."),
        ("12.5", "true"),
        ('"2024-05-31T10:00:00Z"', '"2024-05-31T10:00:00.123456789+18:00"'),
        ('"2024-05-31T10:00:00Z"', '"2024-05-31T10:00:00-18:01"'),
        ('"2024-05-31T10:00:00Z"', '"2024-02-29T23:59:59.5+00:30"'),
        ('"2024-05-31T10:00:00Z"', '"2023-02-29T00:00:00Z"'),
        ('"2024-05-31T10:00:00Z"', '"2024-05-31t10:00:00Z"'),
        ('"2024-05-31T10:00:00Z"', '"2024-05-31T10:00:00.Z"'),
        ('"2024-05-31T10:00:00Z"', '"0999-05-31T10:00:00Z"'),
        ('"2024-05-31T10:00:00Z"', "1717236000000"),
        ('"2024-05-31T10:00:00Z"', "-1717236000000"),
        ('"2024-05-31T10:00:00Z"', "1717236000000.0"),
        ('"2024-05-31T10:00:00Z"', "1000000000000000001"),
        ('"message":"ok"', '"message":null,"level":null,"attributes":null'),
        ('"message":"ok"', '"attributes":{"k":"v","k2":"\\n"}'),
        ('"message":"ok"', '"attributes":{"k":1}'),
        ('"message":"ok"', '"attributes":{"k":"v","k":"w"}'),
        ('"message":"ok"', '"attributes":{"k":{"x":"y"}}'),
        ('"message":"ok"', '"status_code":599,"level":"fatal","country":"SE"'),
        ('"message":"ok"', '"status_code":599.0'),
        ('"message":"ok"', '"country":"se"'),  # a pattern's miss
        ('"message":"ok"', '"level":"INFO"'),  # not one of the choices
        ('"message":"ok"', '"status_code":-0'),
        ('"api"', '"' + "\u00e9" * 128 + '"'),  # 128 characters in 256 bytes: the limit
        ('"api"', '"' + "\u00e9" * 129 + '"'),
        ('"message":"ok"', '"status_code":2147483648'),
        ('"duration_ms":12.5,', ""),
        ('"event_type":"api_request"', '"event_type":"page_view"'),
        ("{", " \t\r\n{ "),
        ("}", "} \n"),
        ("}", "}x"),
        ("}", "},"),
        ('"service"', '"serv\\u0069ce"'),
        # unknown fields: plain ones (printable ASCII, no escape) are taken, the rest declined
        ('"message":"ok"', '"message":"ok","ab_bucket":"b"'),
        ('"message":"ok"', '"zz":"1","message":"ok","ab":"x y/z <\'>","Service":"web"'),
        ('"message":"ok"', '"message":"ok","k":""'),
        ('"message":"ok"', '"message":"ok","k":"a\\nb"'),
        ('"message":"ok"', '"message":"ok","k":"caf\u00e9"'),
        ('"message":"ok"', '"message":"ok","k\u00e9":"v"'),
        ('"message":"ok"', '"message":"ok","k":"a","k":"b"'),
        ('"message":"ok"', '"message":"ok","k":1'),
        ('"message":"ok"', '"message":"ok","k":null'),
        ('"message":"ok"', '"message":"ok","k":{"x":"y"}'),
        ('"message":"ok"', '"message":"ok","":"v"'),
        ('"message":"ok"', '"message":"ok","k":"a\x7fb"'),
    ]
    out = [base.encode()]
    for old, new in swaps:
        assert old in base, old
        out.append(base.replace(old, new, 1).encode())
    out.append(base.encode()[:-1] + b"\xc3\x28}")  # broken UTF-8 outside a string
    out.append(base.replace('"ok"', '"ok\xed\xa0\x80"').encode("utf-8", "surrogatepass"))
    out.append(base.replace('"ok"', '"o\xe0\x80\x80k"').encode("latin-1"))  # overlong
    return out


@pytest.mark.spark
def test_accelerator_decides_like_the_spark_rules(spark: Any, monkeypatch: Any) -> None:
    """Rows the JVM accelerator accepts get what the Spark rules alone give them.

    With the rules for the declined rows in ``DeclinedRules`` and, as where it cannot be
    set up, in the query's plan.
    """
    from pyspark.sql import functions as F  # noqa: N812

    from loglake_core.spark import accel, rules
    from loglake_core.validate import DEFAULT_VALIDATION_CONFIG

    name = accel.register(
        spark, accel.contract_json(DEFAULT_VALIDATION_CONFIG, rules.FAST_PATH_MAX_BYTES)
    )
    assert name is not None, "the accelerator is not on Spark's classpath: `loglake jars fetch`"
    corpus = _accelerator_corpus() + _fast_path_corpus()
    raws = corpus + expand(collect(messages, 1_000), 3_000, seed=11)
    df = spark.createDataFrame([(i, r) for i, r in enumerate(raws)], "i long, value binary")
    columns = [
        "i",
        *(f.name for f in EVENT_FIELDS if f.name != "event_time"),
        F.unix_micros("event_time").alias("micros"),  # rejected rows may hold any time
        F.unix_date("event_date").alias("days"),
        "page",
        "_rescued",
    ]

    def run(on: bool) -> dict[int, Any]:
        checked = df.transform(
            lambda d: rules.validate_values(d, now_col=F.lit(NOW), accelerate=on)
        )
        return {r.i: r for r in checked.select(*columns, *rules.REASON_COLUMNS).collect()}

    fast, plain = run(True), run(False)
    with monkeypatch.context() as patch:
        patch.setattr(rules, "_register_declined", lambda *_: None)
        in_plan = run(True)
    assert fast.keys() == plain.keys() == in_plan.keys() == set(range(len(raws)))
    for got in (fast, in_plan):
        diff = [(raws[i][:160], got[i], plain[i]) for i in got if got[i] != plain[i]]
        assert not diff, f"{len(diff)} rows differ, first: {diff[:3]}"
    now = F.lit(_micros(NOW)).cast("long")
    took = df.where(F.call_function(name, F.col("value"), now).isNotNull())
    accepted = {r.i for r in took.select("i").collect()}
    valid = {i for i, r in plain.items() if r.reason_code is None}
    assert accepted <= valid  # it never accepts what the rules reject
    assert 0 in accepted
    assert len(accepted & set(range(len(corpus)))) > 20
    plain_unknown = [i for i, r in enumerate(corpus) if b'"ab_bucket"' in r or b'"zz"' in r]
    assert len(plain_unknown) == 2
    assert set(plain_unknown) <= accepted  # it takes plain unknown fields ...
    assert {fast[i]._rescued for i in plain_unknown} == {
        '{"ab_bucket":"b"}',
        '{"Service":"web","ab":"x y/z <\'>","zz":"1"}',  # ... with sorted keys
    }


@pytest.mark.spark
def test_accepted_rows_can_drop_their_message(spark: Any) -> None:
    """``keep_accepted_value=False``: only the rows the accelerator took lose the message."""
    from pyspark.sql import functions as F  # noqa: N812

    from loglake_core.spark import rules

    corpus = _accelerator_corpus()
    took, declined_valid, rejected = corpus[0], corpus[3], b'{"event_id": 1}'
    assert b"\\u00e9" in declined_valid  # a \\u escape: the Spark rules decide, and accept
    df = spark.createDataFrame(
        [(i, r) for i, r in enumerate([took, declined_valid, rejected])], "i long, value binary"
    )
    checked = rules.validate_values(df, now_col=F.lit(NOW), keep_accepted_value=False)
    rows = {r.i: r for r in checked.select("i", "value", "event_id", "reason_code").collect()}
    assert (rows[0].value, rows[0].event_id, rows[0].reason_code) == (None, "e-2", None)
    assert (bytes(rows[1].value), rows[1].event_id, rows[1].reason_code) == (
        declined_valid,
        "e-2",
        None,
    )
    assert bytes(rows[2].value) == rejected
    assert rows[2].reason_code is not None


@pytest.mark.spark
def test_accelerator_pages_agree_with_python(spark: Any) -> None:
    """The page the JVM accelerator derives is ``normalize_page`` of the event's URL."""
    from pyspark.sql import functions as F  # noqa: N812

    from loglake_core.spark import accel, rules
    from loglake_core.validate import DEFAULT_VALIDATION_CONFIG

    name = accel.register(
        spark, accel.contract_json(DEFAULT_VALIDATION_CONFIG, rules.FAST_PATH_MAX_BYTES)
    )
    assert name is not None, "the accelerator is not on Spark's classpath: `loglake jars fetch`"
    urls = collect(st.one_of(page_urls, st.text(st.sampled_from("/aA0f9-?#:. \t"))), N_PAGES)
    urls += ["0\r#", "/cart \t?x=1", " /a/1\n#top", "\t?only", "", "//", "HTTP://X/Y/1F2E3D4C"]
    event = {"event_id": "e", "event_time": "2024-06-01T11:00:00Z", "event_type": "log"}
    raws = [
        dumps({**event, "service": "s", "page_url": u}, ascii_only=False, spaced=False)
        for u in urls
    ]
    df = spark.createDataFrame([(i, r) for i, r in enumerate(raws)], "i long, value binary")
    now = F.lit(_micros(NOW)).cast("long")
    rows = df.select("i", F.call_function(name, "value", now).alias("a")).collect()
    got = {r.i: r.a.page for r in rows if r.a is not None}
    bad = [(urls[i], normalize_page(urls[i]), page) for i, page in got.items()]
    bad = [b for b in bad if b[1] != b[2]]
    assert not bad, f"{len(bad)} disagreements, first: {bad[:5]}"
    assert len(got) > len(urls) * 0.9  # the URLs really went through the accelerator


@pytest.mark.spark
def test_accelerator_is_registered_in_every_session(spark: Any) -> None:
    """A second session of the same application gets the accelerator too."""
    from loglake_core.spark import accel, rules
    from loglake_core.validate import DEFAULT_VALIDATION_CONFIG

    contract = accel.contract_json(DEFAULT_VALIDATION_CONFIG, rules.FAST_PATH_MAX_BYTES)
    name = accel.register(spark, contract)
    other = spark.newSession()
    assert not other._jsparkSession.catalog().functionExists(name)
    assert accel.register(other, contract) == name
    assert other._jsparkSession.catalog().functionExists(name)
    df = other.createDataFrame([(b'{"event_id": 1}',)], "value binary")
    row = rules.validate_values(df).select("reason_code", "reason_field").first()
    assert (row.reason_code, row.reason_field) == ("wrong_type", "event_id")


@pytest.mark.spark
def test_batch_now_is_the_query_time_and_keeps_stream_code_the_same(spark: Any) -> None:
    """``batch_now`` is ``current_timestamp()`` (in a stream: each micro-batch's time).

    A stream's micro-batches must reuse the generated classes: if the time reached the
    code as a literal, every batch would compile new ones (Spark counts compilations).
    """
    import time

    from pyspark.sql import functions as F  # noqa: N812

    from loglake_core.spark.clock import batch_now

    rows = spark.range(3).select((batch_now() == F.current_timestamp()).alias("same")).collect()
    assert [r.same for r in rows] == [True, True, True]

    compilations = spark._jvm.org.apache.spark.metrics.source.CodegenMetrics
    seen: list[tuple[int, set[Any]]] = []

    def record(batch: Any, batch_id: int) -> None:
        times = {r.now for r in batch.collect()}
        seen.append((compilations.METRIC_COMPILATION_TIME().getCount(), times))

    source = spark.readStream.format("rate-micro-batch").option("rowsPerBatch", 4).load()
    now = batch_now()
    out = source.select(now.alias("now"), (F.col("value") + F.unix_micros(now)).alias("v"))
    query = out.writeStream.foreachBatch(record).trigger(processingTime="200 milliseconds").start()
    try:
        deadline = time.monotonic() + 120
        while len(seen) < 4 and time.monotonic() < deadline and query.isActive:
            time.sleep(0.1)
    finally:
        query.stop()
    assert len(seen) >= 4, query.exception()
    assert all(len(times) == 1 for _, times in seen)  # one time per micro-batch
    assert len({next(iter(times)) for _, times in seen}) == len(seen)  # a new one each batch
    assert seen[-1][0] == seen[1][0], [count for count, _ in seen]  # no new classes


@pytest.mark.spark
def test_declined_rows_take_the_rules_in_one_function(spark: Any) -> None:
    """With the accelerator, the query's plan holds no rule: ``DeclinedRules`` runs them.

    Each projection holding a function Spark cannot compile into the stage's code copies
    every row; the plan keeps one (the batch time), and the rules decide the declined rows.
    """
    import re

    from loglake_core.spark import rules

    values = [b'{"event_id": 1}', b"[]", _accelerator_corpus()[3], None]
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i long, value binary")
    checked = rules.validate_values(df)
    plan = checked._jdf.queryExecution().executedPlan().toString()
    assert "loglake_declined_" in plan
    uncompiled = re.findall(r"^[ +\-:]*Project \[", plan, flags=re.MULTILINE)
    assert len(uncompiled) == 1, plan
    rows = sorted(checked.collect(), key=lambda r: r.i)
    plain = sorted(rules.validate_values(df, accelerate=False).collect(), key=lambda r: r.i)
    got = [(r.reason_code, r.reason_field) for r in rows]
    assert got == [(r.reason_code, r.reason_field) for r in plain]
    assert got[:3] == [("wrong_type", "event_id"), ("not_object", None), (None, None)]
    assert got[3][0] is not None  # a record without a value is rejected, not taken as valid
    assert rows[2].event_id == "e-2"  # a \\u escape: declined, and valid
