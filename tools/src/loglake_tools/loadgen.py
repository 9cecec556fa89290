"""Synthetic log events: realistic, deterministic for a seed, and fast.

`generate_events` is a pure function of its arguments: the same ``n``, ``seed``, shares,
``days`` and ``now`` give the same records byte for byte. Each record is a tuple
``(key, value, kind)``; ``kind`` is ``"valid"``, ``"late"`` (valid, event time hours or
days back), ``"duplicate"`` (a byte-identical re-send of an earlier valid record) or
``"malformed:<reason code>"`` (a record with exactly one defect that the validation
rules of the design reject with that code).

The traffic looks like a small web shop: a handful of services, page popularity and
product ids following Zipf laws, log-normal time-to-interactive and API durations,
sessions of a few dozen events, about 1.5% server errors.

Example:
    >>> from datetime import datetime, timezone
    >>> now = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
    >>> records = list(generate_events(3, seed=7, now=now))
    >>> [kind for _key, _value, kind in records]
    ['valid', 'valid', 'valid']
"""

from __future__ import annotations

import bisect
import itertools
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

KIND_VALID: Final = "valid"
KIND_LATE: Final = "late"
KIND_DUPLICATE: Final = "duplicate"
KIND_MALFORMED: Final = "malformed"

#: Share of each event type among valid events.
TYPE_WEIGHTS: Final = {"page_view": 0.70, "api_request": 0.15, "error": 0.08, "log": 0.07}

WEB_SERVICES: Final = ("web-frontend", "mobile-web")
API_SERVICES: Final = ("catalog-api", "checkout-api", "search-api", "auth-service")
ALL_SERVICES: Final = WEB_SERVICES + API_SERVICES

#: Page templates in popularity order (Zipf over this list); ``{}`` takes an id.
PAGE_TEMPLATES: Final = (
    "/",
    "/product/{}",
    "/search?q={}",
    "/category/{}",
    "/cart",
    "/user/{}/orders",
    "/checkout/{}",
    "/orders/{}",
    "/help/{}",
    "/account/settings",
)
CATEGORIES: Final = ("shoes", "books", "garden", "toys", "kitchen", "sports", "music", "tools")
CHECKOUT_STEPS: Final = ("address", "shipping", "payment", "review", "done")
HELP_ARTICLES: Final = ("returns", "shipping-times", "payment-methods", "contact", "privacy")
SEARCH_TERMS: Final = ("boots", "lamp", "novel", "drill", "lego", "kettle", "guitar", "tent")
HOSTS: Final = ("https://shop.example.com", "https://m.shop.example.com", "")
#: API routes and the service that serves each.
API_ROUTES: Final = (
    ("GET /api/products/{id}", "catalog-api"),
    ("GET /api/search", "search-api"),
    ("POST /api/cart/items", "checkout-api"),
    ("GET /api/cart", "checkout-api"),
    ("POST /api/checkout", "checkout-api"),
    ("POST /api/login", "auth-service"),
    ("GET /api/orders", "checkout-api"),
)
COUNTRIES: Final = ("US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "NL", "ES")
USER_AGENTS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) Chrome/131.0 Mobile",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0",
)
APP_VERSIONS: Final = ("4.12.0", "4.12.1", "4.13.0")
ERROR_MESSAGES: Final = (
    "TimeoutError: upstream catalog-api did not answer in 3000 ms",
    "TypeError: cannot read properties of undefined (reading 'price')",
    "PaymentDeclined: card issuer refused the charge",
    "ConnectionResetError: connection reset by peer",
    "KeyError: 'sku' missing in cart line",
)
LOG_MESSAGES: Final = (
    ("debug", "cache miss for product page"),
    ("info", "user signed in"),
    ("info", "order placed"),
    ("warn", "slow query on orders table"),
    ("info", "feature flag evaluated"),
    ("warn", "retrying upstream call"),
)

#: Malformed record classes and their relative weights; each has exactly one defect.
MALFORMED_WEIGHTS: Final = {
    "not_json": 3,
    "not_object": 1,
    "empty": 1,
    "invalid_utf8": 1,
    "missing_field": 3,
    "wrong_type": 3,
    "out_of_range": 2,
    "unknown_event_type": 2,
    "invalid_value": 1,
    "bad_timestamp": 2,
    "naive_timestamp": 1,
    "ancient_timestamp": 1,
    "future_timestamp": 1,
    "too_long": 1,
    "too_large": 0.2,
}

N_PRODUCTS: Final = 20_000
N_USERS: Final = 50_000
#: Events a session emits on average before a new one starts.
SESSION_LENGTH: Final = 30
#: Duplicates re-send one of the most recent valid records (a producer retry).
DUPLICATE_WINDOW: Final = 1000
#: Late events lag the stream by this many seconds (1 hour to 3 days).
LATE_MIN_SECONDS: Final = 3600
LATE_MAX_SECONDS: Final = 3 * 86400
#: Tolerance between the generated event times and ``now`` (always in the past).
FUTURE_OFFSET_SECONDS: Final = 7 * 86400


@dataclass
class GenerationSummary:
    """Counts of what `generate_events` produced, filled in as records are generated.

    ``valid`` counts unique valid events (late ones included); ``duplicates`` the extra
    byte-identical sends; ``events_total = valid + duplicates + malformed``.
    """

    events_total: int = 0
    valid: int = 0
    malformed: int = 0
    duplicates: int = 0
    late: int = 0
    per_type: Counter[str] = field(default_factory=Counter)
    per_date: Counter[str] = field(default_factory=Counter)
    malformed_by_reason: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (keys sorted inside the per-* maps)."""
        return {
            "events_total": self.events_total,
            "valid": self.valid,
            "malformed": self.malformed,
            "duplicates": self.duplicates,
            "late": self.late,
            "per_type": dict(sorted(self.per_type.items())),
            "per_date": dict(sorted(self.per_date.items())),
            "malformed_by_reason": dict(sorted(self.malformed_by_reason.items())),
        }


class _Zipf:
    """Draw 0..n-1 with probability proportional to 1/(k+1)**s (inverse CDF, bisect)."""

    def __init__(self, n: int, s: float) -> None:
        weights = [1.0 / (k + 1) ** s for k in range(n)]
        self.cdf = list(itertools.accumulate(weights))
        self.total = self.cdf[-1]

    def draw(self, rnd: random.Random) -> int:
        return bisect.bisect_left(self.cdf, rnd.random() * self.total)


def _cdf(weights: dict[str, float]) -> tuple[list[str], list[float]]:
    names = list(weights)
    acc = list(itertools.accumulate(weights[n] for n in names))
    return names, [a / acc[-1] for a in acc]


def _pick(names: list[str], cdf: list[float], u: float) -> str:
    return names[min(bisect.bisect_left(cdf, u), len(names) - 1)]


class _Clock:
    """Formats epoch milliseconds as ISO-8601 UTC, caching the per-second prefix."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def iso(self, ms: int) -> str:
        sec, milli = divmod(ms, 1000)
        if sec != self._second:
            self._second = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self._prefix}.{milli:03d}Z"

    @staticmethod
    def date(ms: int) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def _now_ms(now: datetime | None) -> int:
    if now is None:
        return int(time.time() * 1000)
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware (got {now.isoformat()}); add +00:00")
    return int(now.timestamp() * 1000)


def _check_shares(**shares: float) -> None:
    for name, value in shares.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1 (got {value})")
    if shares.get("malformed_share", 0.0) + shares.get("duplicate_share", 0.0) >= 1.0:
        raise ValueError(
            "malformed_share + duplicate_share must stay below 1 "
            f"(got {shares['malformed_share']} + {shares['duplicate_share']})"
        )


def generate_events(
    n: int,
    seed: int = 0,
    *,
    malformed_share: float = 0.0,
    duplicate_share: float = 0.0,
    late_share: float = 0.0,
    days: float = 1.0,
    now: datetime | None = None,
    summary: GenerationSummary | None = None,
) -> Iterator[tuple[bytes, bytes, str]]:
    """Yield ``n`` Kafka records ``(key, value, kind)`` of synthetic log events.

    Args:
        n: number of records (valid + duplicates + malformed).
        seed: seeds every random choice and the event ids.
        malformed_share: probability that a record is malformed.
        duplicate_share: probability that a record re-sends a recent valid one.
        late_share: probability that a valid event's time lags by 1 h to 3 days.
        days: event times span the last ``days`` days (UTC), oldest first.
        now: end of the time span (default: the current time).
        summary: if given, updated in place with the counts of what was yielded.

    Raises:
        ValueError: a share is outside [0, 1], ``days`` is not positive, or ``now`` is naive.
    """
    _check_shares(
        malformed_share=malformed_share, duplicate_share=duplicate_share, late_share=late_share
    )
    if days <= 0:
        raise ValueError(f"days must be positive (got {days})")
    if n < 0:
        raise ValueError(f"n must be >= 0 (got {n})")
    end_ms = _now_ms(now)
    return _generate(n, seed, malformed_share, duplicate_share, late_share, days, end_ms, summary)


def run_id_of(seed: int) -> str:
    """The run id that prefixes every event id (and session id) ``seed`` generates.

    Event ids are ``<run id>-<index>``, so two generator runs can only produce the same
    event id when their seeds give the same run id (32 random bits of the seed).

    Example:
        >>> run_id_of(7)
        '52e6b438'
    """
    return _draw_run_id(random.Random(seed))


def _draw_run_id(rnd: random.Random) -> str:
    return f"{rnd.getrandbits(32):08x}"


def _generate(
    n: int,
    seed: int,
    malformed_share: float,
    duplicate_share: float,
    late_share: float,
    days: float,
    end_ms: int,
    summary: GenerationSummary | None,
) -> Iterator[tuple[bytes, bytes, str]]:
    rnd = random.Random(seed)
    stats = summary if summary is not None else GenerationSummary()
    clock = _Clock()
    run_id = _draw_run_id(rnd)
    span_ms = int(days * 86_400_000)
    start_ms = end_ms - span_ms
    step = span_ms / max(n, 1)

    type_names, type_cdf = _cdf(TYPE_WEIGHTS)
    bad_names, bad_cdf = _cdf(MALFORMED_WEIGHTS)
    page_zipf = _Zipf(len(PAGE_TEMPLATES), 1.2)
    product_zipf = _Zipf(N_PRODUCTS, 1.1)
    user_ids = [str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(512)]
    recent: list[tuple[bytes, bytes]] = []
    session_id = ""
    session_left = 0
    user = ""
    country = "US"
    agent = USER_AGENTS[0]
    host = ""
    extra = ""
    key = b""
    bisect_left = bisect.bisect_left
    lognormvariate = rnd.lognormvariate
    rand = rnd.random
    choice = rnd.choice

    for i in range(n):
        u = rand()
        if u < malformed_share:
            reason = _pick(bad_names, bad_cdf, rand())
            value = _malformed(reason, rnd, end_ms, run_id, i, clock)
            stats.events_total += 1
            stats.malformed += 1
            stats.malformed_by_reason[reason] += 1
            yield f"bad-{i}".encode(), value, f"{KIND_MALFORMED}:{reason}"
            continue
        if u < malformed_share + duplicate_share and recent:
            key, value = recent[int(rand() * len(recent))]
            stats.events_total += 1
            stats.duplicates += 1
            yield key, value, KIND_DUPLICATE
            continue

        if session_left <= 0:
            session_left = 1 + int(rand() * 2 * SESSION_LENGTH)
            session_id = f"s-{run_id}-{i:x}"
            user = user_ids[int(rand() * len(user_ids))] if rand() < 0.6 else ""
            country = COUNTRIES[min(int(lognormvariate(0, 1.0)), len(COUNTRIES) - 1)]
            agent = choice(USER_AGENTS)
            host = choice(HOSTS)
            extra = f',"session_id":"{session_id}","country":"{country}"'
            if user:
                extra += f',"user_id":"{user}"'
            key = session_id.encode()
        session_left -= 1

        ts = int(start_ms + i * step + rand() * 1000.0)
        kind = KIND_VALID
        if late_share and rand() < late_share:
            ts -= int(
                LATE_MIN_SECONDS * 1000 + rand() * (LATE_MAX_SECONDS - LATE_MIN_SECONDS) * 1000
            )
            kind = KIND_LATE
        ts = min(ts, end_ms)
        event_type = type_names[bisect_left(type_cdf, rand())]
        event_id = f"{run_id}-{i:010x}"
        # About one event in ten carries epoch milliseconds, like a backend logger would.
        iso = clock.iso(ts)
        when = str(ts) if rand() < 0.1 else f'"{iso}"'
        common = f'"event_id":"{event_id}","event_time":{when},"event_type":"{event_type}"'

        if event_type == "page_view":
            page = _page(page_zipf.draw(rnd), product_zipf, rnd, user or session_id)
            tti = min(lognormvariate(7.0, 0.6), 599_999.0)
            service = WEB_SERVICES[0] if host != "https://m.shop.example.com" else WEB_SERVICES[1]
            body = (
                f'{{{common},"service":"{service}","page_url":"{host}{page}",'
                f'"tti_ms":{tti:.1f},"status_code":200,"user_agent":"{agent}"{extra}'
            )
            if rand() < 0.02:
                body += f',"ab_bucket":"{"ab"[i & 1]}"'
            body += "}"
        elif event_type == "api_request":
            route, service = API_ROUTES[int(rand() * len(API_ROUTES))]
            route = route.replace("{id}", str(product_zipf.draw(rnd) + 1000))
            duration = lognormvariate(4.4, 0.8)
            status = _status(rnd)
            level = "error" if status >= 500 else ("warn" if status >= 400 else "info")
            body = (
                f'{{{common},"service":"{service}","duration_ms":{duration:.2f},'
                f'"status_code":{status},"level":"{level}","message":"{route}",'
                f'"app_version":"{APP_VERSIONS[i % 3]}"{extra}}}'
            )
        elif event_type == "error":
            service = ALL_SERVICES[int(rand() * len(ALL_SERVICES))]
            message = ERROR_MESSAGES[int(rand() * len(ERROR_MESSAGES))]
            level = "fatal" if rand() < 0.05 else "error"
            body = (
                f'{{{common},"service":"{service}","level":"{level}","message":"{message}",'
                f'"status_code":500,"attributes":{{"component":"{service}","retry":"false"}}'
                f"{extra}}}"
            )
        else:
            service = ALL_SERVICES[int(rand() * len(ALL_SERVICES))]
            level, message = LOG_MESSAGES[int(rand() * len(LOG_MESSAGES))]
            body = f'{{{common},"service":"{service}","level":"{level}","message":"{message}"}}'

        value = body.encode()
        if len(recent) < DUPLICATE_WINDOW:
            recent.append((key, value))
        else:
            recent[i % DUPLICATE_WINDOW] = (key, value)
        stats.events_total += 1
        stats.valid += 1
        stats.per_type[event_type] += 1
        stats.per_date[iso[:10]] += 1
        if kind == KIND_LATE:
            stats.late += 1
        yield key, value, kind


def _status(rnd: random.Random) -> int:
    u = rnd.random()
    if u < 0.015:
        return 500 if u < 0.008 else (502 if u < 0.012 else 503)
    if u < 0.07:
        return 404 if u < 0.05 else (400 if u < 0.06 else 401)
    return 201 if u > 0.95 else 200


def _page(template_index: int, products: _Zipf, rnd: random.Random, who: str) -> str:
    template = PAGE_TEMPLATES[template_index]
    if "{}" not in template:
        return template
    if template.startswith("/product/"):
        arg = str(products.draw(rnd) + 1000)
    elif template.startswith("/search"):
        arg = SEARCH_TERMS[int(rnd.random() * len(SEARCH_TERMS))]
    elif template.startswith("/category/"):
        arg = CATEGORIES[int(rnd.random() * len(CATEGORIES))]
    elif template.startswith("/user/"):
        arg = who if len(who) == 36 else str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    elif template.startswith("/checkout/"):
        arg = CHECKOUT_STEPS[int(rnd.random() * len(CHECKOUT_STEPS))]
    elif template.startswith("/orders/"):
        arg = str(100_000 + int(rnd.random() * 900_000))
    else:
        arg = HELP_ARTICLES[int(rnd.random() * len(HELP_ARTICLES))]
    return template.format(arg)


def _base_event(
    rnd: random.Random, end_ms: int, run_id: str, i: int, clock: _Clock
) -> dict[str, Any]:
    """A valid page_view; each malformed class then breaks exactly one thing in it."""
    ts = end_ms - int(rnd.random() * 3_600_000)
    return {
        "event_id": f"{run_id}-bad-{i:010x}",
        "event_time": clock.iso(ts),
        "event_type": "page_view",
        "service": "web-frontend",
        "page_url": f"/product/{1000 + int(rnd.random() * 500)}",
        "tti_ms": round(rnd.lognormvariate(7.0, 0.6), 1),
        "session_id": f"s-{run_id}-bad",
    }


def _malformed(
    reason: str, rnd: random.Random, end_ms: int, run_id: str, i: int, clock: _Clock
) -> bytes:
    """A record that the validation rules reject with ``reason`` (and nothing earlier)."""
    event = _base_event(rnd, end_ms, run_id, i, clock)
    variant = int(rnd.random() * 3)
    if reason == "empty":
        return (b"", b"   ", b"\n")[variant]
    if reason == "not_json":
        full = orjson.dumps(event)
        return (full[: len(full) // 2], full.replace(b'":', b'"=', 1), full + b"}")[variant]
    if reason == "not_object":
        return (b"[1, 2, 3]", b'"page_view"', b"null")[variant]
    if reason == "invalid_utf8":
        return orjson.dumps(event).replace(b"web-frontend", b"web-\xff\xfefrontend")
    if reason == "missing_field":
        drop = ("event_id", "service", "tti_ms")[variant]
        del event[drop]
    elif reason == "wrong_type":
        key, value = (("tti_ms", "fast"), ("tti_ms", str(event["tti_ms"])), ("service", 42))[
            variant
        ]
        event[key] = value
    elif reason == "out_of_range":
        key, value = (("tti_ms", -5.0), ("tti_ms", 700_000.0), ("status_code", 999))[variant]
        event[key] = value
    elif reason == "unknown_event_type":
        event["event_type"] = ("click", "page-view", "pageview")[variant]
    elif reason == "invalid_value":
        key, value = (("level", "verbose"), ("country", "usa"), ("level", "LOUD"))[variant]
        event[key] = value
    elif reason == "bad_timestamp":
        event["event_time"] = ("2026-02-30T10:00:00Z", "yesterday", "2026-11-27T25:61:00Z")[variant]
    elif reason == "naive_timestamp":
        event["event_time"] = clock.iso(end_ms - 60_000)[:-1]
    elif reason == "ancient_timestamp":
        event["event_time"] = ("1999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", 86_400_000)[variant]
    elif reason == "future_timestamp":
        event["event_time"] = clock.iso(end_ms + FUTURE_OFFSET_SECONDS * 1000)
    elif reason == "too_long":
        event["service"] = "svc-" + "x" * 200
    elif reason == "too_large":
        event["attributes"] = {"blob": "z" * (70 * 1024)}
    else:  # pragma: no cover - MALFORMED_WEIGHTS and this function change together
        raise AssertionError(reason)
    return orjson.dumps(event)


def now_utc() -> datetime:
    """The current time, UTC (a seam for tests)."""
    return datetime.now(UTC)
