"""The event contract as Spark column expressions: ``validate_values`` (DataFrame -> DataFrame).

The rules are the ones of ``loglake_core.validate``, built from the same tables
(``schema.EVENT_FIELDS``, ``jsontext``, ``timeparse``) and checked in the same order; a
property-based test feeds both the same hostile inputs and requires identical decisions.
Only Spark SQL functions are used (no Python UDF).

How exact JSON types are seen: each message is parsed once with ``try_parse_json`` into a
VARIANT, and ``schema_of_variant`` of each field tells a JSON string from a number
(``"12"`` vs ``12``), an integer literal (``BIGINT``) from a fraction (``DECIMAL``/``DOUBLE``)
and ``true`` from 1. VARIANT parsing rejects duplicate keys, ``NaN`` and raw control
characters, like the Python validator; it ignores data after the root object, so that
and the nesting depth are measured on the text (``loglake_core.jsontext``).

Performance: values never leave the VARIANT through a cast (``variant_get`` to a scalar type
builds a ``Cast`` and reads the SQL conf for every value, as a profile of the executor
threads showed). Off the fast path, string values come from one ``from_json`` pass with
every field read as text, and numbers are cast from the VARIANT's JSON text. On it, one
``from_json`` reads each field typed (``_FAST_SCHEMA``: numbers as numbers, ``attributes``
as a map), since the shape already proved each JSON type; reading the object as text would
render it back to JSON for every message. The per-character bracket fold only runs for
messages with more opening brackets than the depth limit; for the others a regex on
the bracket string finds data after the root object. Helper columns are added a few
projections at a time (``_stage``), not by a chain of ``withColumn`` calls, and the built
columns are reused for every micro-batch of the same Spark application and settings.

The accelerator: when its jar is on Spark's classpath, a Java UDF
(``loglake_core.spark.accel``) first reads each message and returns the typed fields of
a flat event that passes every rule, or null. A row it accepts takes its values (and
``page`` and ``_rescued``) from it. The rules below decide every other row, and they alone
reject. With the accelerator they run inside a second Java function, ``DeclinedRules``,
for the declined rows only: it holds the projections of the optimised plan of these
rules over a relation of ``(message, now)``, so the rules stay defined here, and the
query's plan is the accelerator and one call of it (``_register_declined``). In the plan,
each projection holding a function Spark cannot compile into the stage's code (the
higher-order functions, ``from_json``) copied every row, accepted or not, and the JIT
compiled all of the rules' code while a run warmed up.

Example:
    >>> checked = kafka_df.transform(validate_values)  # doctest: +SKIP
    >>> valid = checked.where("reason_code IS NULL")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from pyspark.sql import functions as F  # noqa: N812 - the usual Spark alias
from pyspark.sql.types import (
    BinaryType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from loglake_core.jsontext import (
    JSON_WHITESPACE,
    MAX_NUMBER_LENGTH,
    NON_BRACKET_PATTERN,
    STRING_LITERAL_PATTERN,
)
from loglake_core.reasons import Reason
from loglake_core.schema import DEFAULT_LEVEL, EVENT_FIELDS, Field
from loglake_core.spark import accel
from loglake_core.spark.clock import batch_now
from loglake_core.spark.pages import java_full_match, normalize_page_col
from loglake_core.spark.schema import spark_type
from loglake_core.timeparse import ISO_PATTERN, MICROS_PER_SECOND
from loglake_core.validate import (
    CHOICE_REASONS,
    DEFAULT_VALIDATION_CONFIG,
    MIN_EVENT_MICROS,
    ValidationConfig,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["REASON_COLUMNS", "validate_values"]

logger = logging.getLogger(__name__)

#: Columns ``validate_values`` adds besides the event fields.
REASON_COLUMNS: Final = ("reason_code", "reason_field", "reason_message")
_P: Final = "__ll_"  # prefix of helper columns, dropped at the end
#: The columns of the relation ``DeclinedRules`` projections read (``_register_declined``).
_DECLINED_VALUE: Final = "__ll_in_message"
_DECLINED_NOW: Final = "__ll_in_now"
_INT_TYPES: Final = ("BIGINT", "INT", "SMALLINT", "TINYINT")
_SHOW_CHARS: Final = 60
#: Epoch milliseconds are clamped to this before multiplying (beyond it, the decision
#: ancient/future is already certain); keeps ``ms * 1000`` inside a long.
_MS_CLAMP: Final = 10**15
_MICROS_PER_DAY: Final = 86_400 * MICROS_PER_SECOND
_MAX_PLANS: Final = 16
_PLANS: dict[
    tuple[str, str, ValidationConfig, str | None, bool, str | None, bool, str | None], _Plan
] = {}
#: Every event field read as text (a JSON string yields its value, anything else its JSON).
_STRINGS_SCHEMA: Final = StructType([StructField(f.name, StringType()) for f in EVENT_FIELDS])
#: Each event field as the fast path reads it: strings as text, numbers typed, the map as a
#: map. The shape (``_fast_shape_pattern``) has already proved each value's JSON type, so a
#: typed read is exact; an object kept as text would cost a JSON rendering per message.
_FAST_SCHEMA: Final = StructType(
    [
        StructField(
            f.name,
            {
                "double": DoubleType(),
                "int": LongType(),
                "map": MapType(StringType(), StringType()),
            }.get(f.type, StringType()),
        )
        for f in EVENT_FIELDS
    ]
)
#: Largest message that may take the fast path (bounds the regex's work per message).
FAST_PATH_MAX_BYTES: Final = 4096
#: ``schema_of_variant`` of a present value of each field type on the fast path.
_FAST_TYPES: Final = {
    "string": "STRING",
    "timestamp": "STRING",
    "double": "DOUBLE",
    "int": "BIGINT",
    "map": "OBJECT<>",
}


def _fast_shape_pattern(epoch_ms: bool) -> str:
    r"""Java regex of the messages the fast path takes: a flat event of known fields.

    Strict JSON, whitespace only where JSON allows it, each known field at most with the
    token its type wants (a string; a short number; an integer; a flat object of strings;
    or ``null``), ``event_time`` as a string (or, with ``epoch_ms``, an integer), string
    escapes other than ``\uXXXX``, and no unknown field. Everything else (and duplicate
    keys, checked apart) takes the full path.
    """
    ws = r"[ \t\n\r]*+"
    string = r'"[^"\\\x00-\x1f]*+(?:\\["\\/bfnrt][^"\\\x00-\x1f]*+)*+"'
    number = r"-?+(?:0|[1-9][0-9]{0,15}+)(?:\.[0-9]{1,20}+)?+(?:[eE][-+]?+[0-9]{1,2}+)?+"
    integer = r"-?+(?:0|[1-9][0-9]{0,17}+)"
    flat = rf"\{{{ws}(?:{string}{ws}:{ws}{string}{ws}(?:,{ws}{string}{ws}:{ws}{string}{ws})*+)?\}}"
    token = {
        "string": f"(?:{string}|null)",
        "timestamp": integer if epoch_ms else string,
        "double": f"(?:{number}|null)",
        "int": f"(?:{integer}|null)",
        "map": f"(?:{flat}|null)",
    }
    pairs = []
    for kind, value in token.items():
        names = [f.name for f in EVENT_FIELDS if f.type == kind]
        if names:
            pairs.append(f'"(?:{"|".join(names)})"{ws}:{ws}{value}')
    pair = "(?:" + "|".join(pairs) + ")"
    return rf"^{ws}\{{{ws}(?:{pair}{ws}(?:,{ws}{pair}{ws})*+)?\}}{ws}\z"


_FAST_SHAPE: Final = _fast_shape_pattern(epoch_ms=False)
_FAST_SHAPE_MS: Final = _fast_shape_pattern(epoch_ms=True)


def _c(name: str) -> Column:
    return F.col(_P + name)


def _err(code: Reason, field: str | None, message: Column) -> Column:
    return F.struct(
        F.lit(code.value).alias("code"),
        F.lit(field).cast("string").alias("field"),
        message.alias("message"),
    )


def _show(value: Column) -> Column:
    """A short JSON rendering of a VARIANT value for messages."""
    text = F.to_json(value)
    return F.when(
        F.char_length(text) > _SHOW_CHARS,
        F.concat(F.left(text, F.lit(_SHOW_CHARS - 3)), F.lit("...")),
    ).otherwise(text)


def _msg(*parts: Column | str) -> Column:
    return F.concat(*(F.lit(p) if isinstance(p, str) else p for p in parts))


def _bracket_profile(brackets: Column) -> Column:
    """struct<d, m, seen, early> over the bracket characters (see jsontext.bracket_profile)."""
    chars = F.split(brackets, "")
    init = F.struct(
        F.lit(0).alias("d"),
        F.lit(0).alias("m"),
        F.lit(False).alias("seen"),
        F.lit(False).alias("early"),
    )

    def step(acc: Column, ch: Column) -> Column:
        d = acc["d"] + F.when(ch.isin("{", "["), 1).otherwise(-1)
        return F.when(ch == "", acc).otherwise(
            F.struct(
                d.alias("d"),
                F.greatest(acc["m"], d).alias("m"),
                F.lit(True).alias("seen"),
                (acc["early"] | (acc["seen"] & (acc["d"] == 0))).alias("early"),
            )
        )

    return F.aggregate(chars, init, step)


@dataclass
class _Plan:
    """The helper projections of ``validate_values``, built once and applied to any DataFrame.

    Attributes:
        stages: each entry adds its (aliased) columns in ONE projection, which is cheaper
            to analyse than a chain of ``withColumn`` calls.
        outputs: the result columns that follow the input columns.
    """

    stages: list[list[Column]] = field(default_factory=list)
    outputs: list[Column] = field(default_factory=list)
    #: After this many stages, ``(column, new value)`` replaces an input column in place.
    replace: tuple[int, str, Column] | None = None

    def apply(self, df: DataFrame) -> DataFrame:
        """Run the stages on ``df`` and keep its columns plus the outputs."""
        out = df
        for done, columns in enumerate(self.stages, start=1):
            out = out.select("*", *columns)
            if self.replace is not None and self.replace[0] == done:
                out = out.withColumn(self.replace[1], self.replace[2])
        return out.select(*df.columns, *self.outputs)


def _stage(plan: _Plan, **columns: Column) -> _Plan:
    """Record helper columns added in one projection."""
    plan.stages.append([col.alias(_P + name) for name, col in columns.items()])
    return plan


def _root_group_pattern(max_depth: int) -> str:
    """Java regex: one balanced ``(...)`` group nested at most ``max_depth`` deep.

    Possessive quantifiers keep the match linear (a balanced group parses one way only).
    """
    group = r"\(\)"
    for _ in range(max_depth - 1):
        group = r"\((?:" + group + r")*+\)"
    return f"^{group}\\z"


def _distinct(keys: Column) -> Column:
    return F.size(keys) == F.size(F.array_distinct(keys))


def _fast_checks(df: _Plan, config: ValidationConfig, enabled: bool) -> _Plan:
    """Add ``fast``: the message-level checks pass and the field types show in its shape.

    For such a message (see ``_fast_shape_pattern``) no VARIANT is built.

    The value rules still run on every row; the fast path only skips work whose outcome
    the shape already decides. Top-level and ``attributes`` keys must be distinct (a
    repeated key is ``not_json``, decided on the full path).
    """
    if not enabled:
        return _stage(
            df,
            fast=F.lit(False),
            fast_ms=F.lit(False),
            fast_values=F.lit(None).cast(_FAST_SCHEMA),
        )
    size_ok = F.octet_length(_c("bytes")) <= min(FAST_PATH_MAX_BYTES, config.max_message_bytes)

    def shape(pattern: str) -> Column:
        matched = F.when(size_ok, F.is_valid_utf8(_c("text")) & _c("text").rlike(pattern))
        return F.coalesce(matched, F.lit(False))

    df = _stage(df, fast_iso=shape(_FAST_SHAPE))
    df = _stage(df, fast_ms=~_c("fast_iso") & shape(_FAST_SHAPE_MS))
    df = _stage(df, fast_shape=_c("fast_iso") | _c("fast_ms"))
    df = _stage(
        df,
        fast_values=F.when(_c("fast_shape"), F.from_json(_c("text"), _FAST_SCHEMA)),
        fast_keys=F.when(_c("fast_shape"), F.json_object_keys(_c("text"))),
    )
    maps = [f.name for f in EVENT_FIELDS if f.type == "map"]
    distinct = _distinct(_c("fast_keys"))
    for name in maps:
        # a typed map keeps a repeated key (two entries), so the keys show it
        value = _c("fast_values")[name]
        distinct = distinct & (value.isNull() | _distinct(F.map_keys(value)))
    return _stage(df, fast=F.coalesce(_c("fast_shape") & distinct, F.lit(False)))


def _message_checks(df: _Plan, config: ValidationConfig) -> _Plan:
    """Add the message-level columns of the rows off the fast path: variant and error.

    The bracket profile (a per-character fold) only runs for messages with more opening
    brackets than ``max_depth``; for all others the depth cannot exceed the limit and
    "data after the root object" is a regex test on the bracket string. On the fast path
    (``_fast_checks``) every one of these checks is known to pass, and none is evaluated.
    """
    ws = F.lit(JSON_WHITESPACE)
    text = F.when(~_c("fast"), _c("text"))
    blanked = F.regexp_replace(text, STRING_LITERAL_PATTERN, '""')
    df = _stage(df, blanked=blanked, trimmed=F.btrim(text, ws))
    brackets = F.translate(
        F.regexp_replace(_c("blanked"), NON_BRACKET_PATTERN + "+", ""), "[{]}", "(())"
    )
    df = _stage(df, brackets=brackets)
    n_open = F.char_length(_c("brackets")) - F.char_length(F.translate(_c("brackets"), "(", ""))
    df = _stage(df, deep=n_open > config.max_depth)
    df = _stage(
        df,
        profile=F.when(_c("deep"), _bracket_profile(F.translate(_c("brackets"), "()", "{}"))),
    )
    size = F.octet_length(_c("bytes"))
    first = F.left(_c("trimmed"), F.lit(1))  # never all whitespace here (empty is checked first)
    error = (
        F.when(
            _c("trimmed") == "",
            _err(
                Reason.EMPTY,
                None,
                F.lit("message is empty; send one JSON object per Kafka message"),
            ),
        )
        .when(
            size > config.max_message_bytes,
            _err(
                Reason.TOO_LARGE,
                None,
                _msg(
                    "message is ",
                    size.cast("string"),
                    f" bytes, over the limit of {config.max_message_bytes}; "
                    "shorten `message` or move bulky data out of the event",
                ),
            ),
        )
        .when(
            ~F.is_valid_utf8(text),
            _err(
                Reason.INVALID_UTF8,
                None,
                F.lit("message is not valid UTF-8; encode the JSON text as UTF-8"),
            ),
        )
        .when(
            first != "{",
            _err(
                Reason.NOT_OBJECT,
                None,
                _msg(
                    "message starts with '",
                    first,
                    "', not '{'; send one JSON object per message "
                    "(no arrays, scalars or byte-order mark)",
                ),
            ),
        )
        .when(
            _c("deep") & (_c("profile")["m"] > config.max_depth),
            _err(
                Reason.TOO_DEEP,
                None,
                _msg(
                    "objects/arrays are nested ",
                    _c("profile")["m"].cast("string"),
                    f" deep, over the limit of {config.max_depth}; flatten the event",
                ),
            ),
        )
    )
    df = _stage(df, pre_error=F.when(~_c("fast"), error))
    df = _stage(df, variant=F.when(~_c("fast") & _c("pre_error").isNull(), F.try_parse_json(text)))
    early = F.when(_c("deep"), _c("profile")["early"]).otherwise(
        ~_c("brackets").rlike(_root_group_pattern(config.max_depth))
    )
    trailing = early | ~F.endswith(F.btrim(_c("blanked"), ws), F.lit("}"))
    too_long_number = (F.char_length(_c("blanked")) > MAX_NUMBER_LENGTH) & F.regexp_like(
        _c("blanked"), F.lit(f"[-+.eE0-9]{{{MAX_NUMBER_LENGTH + 1}}}")
    )
    not_json = _c("variant").isNull() | trailing | too_long_number
    msg_error = (
        F.when(_c("fast"), F.lit(None))
        .when(_c("pre_error").isNotNull(), _c("pre_error"))
        .when(
            not_json,
            _err(
                Reason.NOT_JSON,
                None,
                F.lit(
                    "message is not valid JSON (syntax error, NaN/Infinity, a repeated key, "
                    "a raw control character, an over-long number or data after the object); "
                    "send strict JSON (RFC 8259)"
                ),
            ),
        )
    )
    return _stage(df, msg_error=msg_error)


def _field_value(f: Field) -> Column:
    """The field's VARIANT value off the fast path (SQL null when absent)."""
    return F.when(
        ~_c("fast") & _c("msg_error").isNull(),
        F.try_variant_get(_c("variant"), f"$.{f.name}", "variant"),
    )


@dataclass(frozen=True)
class _FieldCols:
    """What the rules of one field look at, on and off the fast path.

    Attributes:
        sub: the field's VARIANT value, for messages only: on the fast path it is parsed
            when a message needs it (only rows that break a rule).
        typ: ``schema_of_variant`` of the value (on the fast path: known from the shape).
        present: the field is there and not ``null``.
        number_text: the JSON text of a number value off the fast path.
        fast_value: the value as the fast path read it (`_FAST_SCHEMA`; null off it).
        slow_sub: the VARIANT value off the fast path (null on it).
    """

    sub: Column
    typ: Column
    present: Column
    number_text: Column
    fast_value: Column
    slow_sub: Column


def _field_cols(f: Field) -> _FieldCols:
    slow = _c("v_" + f.name)
    fast = _c("fast")
    lazy = F.try_variant_get(F.try_parse_json(_c("text")), f"$.{f.name}", "variant")
    return _FieldCols(
        sub=F.when(fast, lazy).otherwise(slow),
        typ=_c("t_" + f.name),
        present=F.when(fast, _fast_value(f).isNotNull()).otherwise(
            slow.isNotNull() & ~F.is_variant_null(slow)
        ),
        number_text=_number_text(slow),
        fast_value=_fast_value(f),
        slow_sub=slow,
    )


def _fast_value(f: Field) -> Column:
    """The field as the fast path read it (typed by `_FAST_SCHEMA`; null off the fast path)."""
    return _c("fast_values")[f.name]


def _string_value(f: Field) -> Column:
    """The field's text when it is a JSON string (read by ``from_json``, see ``_strings``)."""
    return F.when(_c("fast"), _fast_value(f)).otherwise(_c("strings")[f.name])


def _number_text(sub: Column) -> Column:
    """The JSON text of a number value (cast from text: no per-row VARIANT cast).

    An overflowing literal (``1e400``) is a VARIANT double rendered as ``"Infinity"``;
    dropping the quotes makes it cast to infinity like the Python validator's float.
    """
    return F.translate(F.to_json(sub), '"', "")


def _strings() -> Column:
    """Every event field as text, parsed once with ``from_json`` (off the fast path).

    Field values are taken from here rather than cast out of the VARIANT: a VARIANT to
    scalar cast builds a ``Cast`` (and reads the SQL conf) per value, which dominated
    the cost. A JSON string yields its text; the VARIANT type decides whether a field
    is a string at all.
    """
    return F.when(~_c("fast") & _c("msg_error").isNull(), F.from_json(_c("text"), _STRINGS_SCHEMA))


def _string_checks(f: Field, sub: Column, typ: Column) -> tuple[Column, Column]:
    value = _string_value(f)
    error = F.when(typ != "STRING", _wrong_type(f, sub, typ, "a JSON string"))
    if f.max_length is not None:
        error = error.when(
            F.char_length(value) > f.max_length,
            _err(
                Reason.TOO_LONG,
                f.name,
                _msg(
                    f"{f.name} has ",
                    F.char_length(value).cast("string"),
                    " characters (",
                    _show(sub),
                    f"), over the limit of {f.max_length}; shorten it",
                ),
            ),
        )
    if f.choices is not None:
        error = error.when(
            ~value.isin(*f.choices),
            _err(
                CHOICE_REASONS.get(f.name, Reason.INVALID_VALUE),
                f.name,
                _msg(f"{f.name} is ", _show(sub), f"; use one of {', '.join(f.choices)}"),
            ),
        )
    if f.pattern is not None:
        error = error.when(
            ~value.rlike(java_full_match(f.pattern)),
            _err(
                Reason.INVALID_VALUE,
                f.name,
                _msg(f"{f.name} is ", _show(sub), f"; it must match {f.pattern} ({f.doc})"),
            ),
        )
    return error, value


def _wrong_type(f: Field, sub: Column, typ: Column, expected: str) -> Column:
    return _err(
        Reason.WRONG_TYPE,
        f.name,
        _msg(f"{f.name} is ", _show(sub), " (JSON parsed as ", typ, f"); send {expected}"),
    )


def _number_checks(f: Field, c: _FieldCols) -> tuple[Column, Column]:
    sub, typ = c.sub, c.typ
    is_int = typ.isin(*_INT_TYPES)
    if f.type == "int":
        ok_type = is_int
        value = F.when(_c("fast"), c.fast_value).otherwise(c.number_text.try_cast("bigint"))
        number = value.cast("double")
        expected = "a JSON integer (no fraction, no quotes)"
    else:
        ok_type = is_int | typ.startswith("DECIMAL") | (typ == "DOUBLE")
        number = F.when(_c("fast"), c.fast_value).otherwise(c.number_text.try_cast("double"))
        value = number
        expected = "a JSON number (no quotes)"
    bad = F.isnan(number) | (F.abs(number) == float("inf"))
    if f.minimum is not None:
        bad = bad | (number < f.minimum)
    if f.maximum is not None:
        bad = bad | ((number >= f.maximum) if f.exclusive_maximum else (number > f.maximum))
    low = "" if f.minimum is None else f"{f.minimum:g} <= "
    high = "" if f.maximum is None else f" {'<' if f.exclusive_maximum else '<='} {f.maximum:g}"
    error = F.when(~ok_type, _wrong_type(f, sub, typ, expected)).when(
        bad,
        _err(
            Reason.OUT_OF_RANGE,
            f.name,
            _msg(f"{f.name} is ", _show(sub), f"; it must be finite and {low}{f.name}{high}"),
        ),
    )
    if f.type == "int":
        value = F.when(~bad, (value).try_cast("int"))
    return error, value


def _time_checks(
    df: _Plan, f: Field, c: _FieldCols, config: ValidationConfig, now_micros: Column
) -> tuple[_Plan, Column, Column]:
    """event_time rules; intermediate values become helper columns (evaluated once)."""
    sub, typ = c.sub, c.typ
    text = _string_value(f)
    df = _stage(df, ts_text=F.when(typ == "STRING", text))
    text = _c("ts_text")
    # a helper column, so the pattern runs once per row (it feeds three columns below)
    df = _stage(df, ts_iso=F.coalesce(text.rlike(java_full_match(ISO_PATTERN)), F.lit(False)))
    matched = _c("ts_iso")
    # Once the strict pattern matched, the text ends in "Z", "+hh:mm"/"-hh:mm" or nothing,
    # and Spark's own string-to-timestamp cast reads it as the Python validator does: the
    # calendar and the 0-23/0-59 ranges, an offset within +-18:00 (java.time's limit,
    # MAX_OFFSET_MINUTES), digits after the sixth of the fraction dropped. A text without
    # an offset is read as UTC. The type is named TIMESTAMP_LTZ: a bare "timestamp" follows
    # spark.sql.timestampType, and a cast to TIMESTAMP_NTZ would drop the offset. One
    # native parse replaces a dozen string functions, a decimal cast and make_timestamp
    # (same speed within noise: 8.9-9.6 s against 8.5-9.3 s for 600 k Kafka records on 2
    # cores; simpler, and as exact).
    has_offset = F.endswith(text, F.lit("Z")) | F.substring(text, -6, 1).isin("+", "-")
    as_utc = F.when(has_offset, text).otherwise(F.concat(text, F.lit("Z")))
    df = _stage(
        df,
        ts_naive=matched & ~has_offset & F.lit(not config.naive_timestamps_as_utc),
        ts_value=F.when(matched, as_utc.try_cast("timestamp_ltz")),
    )
    df = _stage(df, ts_bad=~matched | _c("ts_value").isNull())
    iso_micros = F.unix_micros(_c("ts_value"))
    is_int = typ.isin(*_INT_TYPES)
    # on the fast path an epoch-millisecond value was read as the integer's text
    ms_text = F.when(_c("fast"), c.fast_value).otherwise(c.number_text)
    ms = F.when(is_int, ms_text.try_cast("bigint"))
    ms_micros = F.least(F.greatest(ms, F.lit(-_MS_CLAMP)), F.lit(_MS_CLAMP)) * 1000
    df = _stage(
        df,
        ts_micros=F.when(text.isNotNull() & ~_c("ts_naive") & ~_c("ts_bad"), iso_micros).when(
            is_int, ms_micros
        ),
    )
    micros = _c("ts_micros")
    limit = now_micros + config.max_future_skew_seconds * MICROS_PER_SECOND
    is_string = typ == "STRING"
    shown = _show(sub)
    error = (
        F.when(
            ~(is_string | is_int),
            _wrong_type(
                f, sub, typ, "an ISO-8601 string with offset or an integer of epoch milliseconds"
            ),
        )
        .when(
            is_string & _c("ts_naive"),
            _err(
                Reason.NAIVE_TIMESTAMP,
                f.name,
                _msg(f"{f.name} ", shown, " has no UTC offset; append 'Z' or +hh:mm"),
            ),
        )
        .when(
            is_string & _c("ts_bad"),
            _err(
                Reason.BAD_TIMESTAMP,
                f.name,
                _msg(
                    f"{f.name} ",
                    shown,
                    " is not a real ISO-8601 date-time; send e.g. 2024-05-01T12:30:00.123Z "
                    "or epoch milliseconds",
                ),
            ),
        )
        .when(
            micros < MIN_EVENT_MICROS,
            _err(
                Reason.ANCIENT_TIMESTAMP,
                f.name,
                _msg(
                    f"{f.name} ",
                    shown,
                    " is before 2000-01-01T00:00:00Z (epoch seconds? send milliseconds); "
                    "fix the clock",
                ),
            ),
        )
        .when(
            micros > limit,
            _err(
                Reason.FUTURE_TIMESTAMP,
                f.name,
                _msg(
                    f"{f.name} ",
                    shown,
                    f" is more than {config.max_future_skew_seconds}s in the future; "
                    "fix the producer's clock (or its time zone)",
                ),
            ),
        )
    )
    return df, error, micros


def _map_checks(f: Field, c: _FieldCols) -> tuple[Column, Column]:
    """A flat object of strings; on the fast path the shape already proved it."""
    slow, typ = c.slow_sub, c.typ
    as_map = F.try_variant_get(slow, "$", "map<string,variant>")
    non_string = F.exists(
        F.map_values(as_map),
        lambda x: F.coalesce(F.schema_of_variant(x), F.lit("VOID")) != "STRING",
    )
    ok = _c("fast") | (typ.startswith("OBJECT") & as_map.isNotNull() & ~non_string)
    error = F.when(~ok, _wrong_type(f, c.sub, typ, "a JSON object whose values are all strings"))
    slow_map = F.from_json(F.to_json(slow), "map<string,string>")
    return error, F.when(_c("fast"), c.fast_value).otherwise(slow_map)


def validate_values(
    df: DataFrame,
    value_col: str = "value",
    *,
    config: ValidationConfig = DEFAULT_VALIDATION_CONFIG,
    now_col: Column | str | None = None,
    fast_path: bool = True,
    accelerate: bool = True,
    keep_accepted_value: bool = True,
) -> DataFrame:
    """Validate Kafka message values against the event contract, as Spark columns.

    Keeps every input column and adds each ``EVENT_FIELDS`` column typed as the raw table
    wants (``event_time`` a UTC timestamp, ``level`` defaulted to ``info``), ``page``,
    ``_rescued``, ``event_date`` and ``reason_code``/``reason_field``/``reason_message``
    (all null for a valid row). The event columns are meaningful only on valid rows.

    Args:
        df: input rows; ``value_col`` is binary (Kafka) or string.
        value_col: the column holding the message value.
        config: validator settings (the same object the Python validator takes).
        now_col: a timestamp column (or its name) with "now" for the future-skew rule;
            default the query's current timestamp (``loglake_core.spark.clock.batch_now``).
        fast_path: let flat, well-formed events skip the VARIANT-based checks (same
            results; off only to compare the two paths). Not used with the accelerator:
            what it declines is mostly not flat, and the smaller plan is cheaper to plan
            and compile for every micro-batch (300 k records here: 7.8 s, not 9.7-12.7 s).
        accelerate: let the JVM accelerator (``loglake_core.spark.accel``) accept the
            common valid event in one pass when its jar is on Spark's classpath (same
            results; off only to compare).
        keep_accepted_value: ``False`` nulls ``value_col`` on the rows the accelerator
            accepted, right after it read them. They are valid, and a caller that keeps
            the message of rejected rows only (the ingest job's quarantine) spares the
            later projections copying it: each one holding a function Spark cannot
            compile into the stage's code copies the whole row.
    """
    accel_name = (
        accel.register(df.sparkSession, accel.contract_json(config, FAST_PATH_MAX_BYTES))
        if accelerate
        else None
    )
    declined = _register_declined(df.sparkSession, config) if accel_name else None
    fast_path = fast_path and accel_name is None
    mask = not keep_accepted_value
    if now_col is not None and not isinstance(now_col, str):
        return _build_plan(value_col, config, now_col, fast_path, accel_name, mask, declined).apply(
            df
        )
    # Building the columns costs hundreds of Py4J calls; a plan is reusable (unresolved
    # columns), so one is kept per Spark application and settings (once per micro-batch
    # would be wasted time).
    app = df.sparkSession.sparkContext.applicationId
    key = (app, value_col, config, now_col, fast_path, accel_name, mask, declined)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _build_plan(value_col, config, now_col, fast_path, accel_name, mask, declined)
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan.apply(df)


#: The columns ``validate_values`` adds, in order.
OUTPUT_COLUMNS: Final = (
    *(f.name for f in EVENT_FIELDS),
    "page",
    "_rescued",
    "event_date",
    *REASON_COLUMNS,
)


def _accepted_outputs() -> dict[str, Column]:
    """Each output column of a row the accelerator took, from its result (``acc``)."""
    acc = _c("acc")
    micros = acc["event_time"]
    outputs: dict[str, Column] = {}
    for f in EVENT_FIELDS:
        if f.name == "event_time":
            outputs[f.name] = F.timestamp_micros(micros)
            continue
        # a string arrives as UTF-8 bytes: the cast wraps them (``accel.result_schema``)
        given = acc[f.name].cast(spark_type(f.type))
        outputs[f.name] = F.coalesce(given, F.lit(DEFAULT_LEVEL)) if f.name == "level" else given
    outputs["page"] = acc["page"]
    outputs["_rescued"] = acc["_rescued"]
    outputs["event_date"] = _date_of_micros(micros)
    return outputs


def _date_of_micros(micros: Column) -> Column:
    return F.date_from_unix_date(F.floor(micros / F.lit(_MICROS_PER_DAY)).cast("int"))


def _outputs(rules: dict[str, Column], accelerated: bool) -> list[Column]:
    """``OUTPUT_COLUMNS``: the accelerator's values on the rows it took, else the rules'."""
    accepted = _accepted_outputs() if accelerated else {}
    took = _c("acc").isNotNull()
    return [
        (
            F.when(took, accepted[name]).otherwise(rules[name]) if name in accepted else rules[name]
        ).alias(name)
        for name in OUTPUT_COLUMNS
    ]


def _declined_plan(out: _Plan, raw: Column, now_micros: Column, declined_name: str) -> _Plan:
    """The accelerator's result for the rows it takes, ``DeclinedRules`` for the others.

    ``raw`` is the message; the function runs on every row the accelerator declined, a
    record without a value too (the rules reject it).
    """
    declined = _c("acc").isNull()
    out = _stage(out, slow=F.when(declined, F.call_function(declined_name, raw, now_micros)))
    out.outputs = _outputs({name: _c("slow")[name] for name in OUTPUT_COLUMNS}, accelerated=True)
    return out


def _register_declined(spark: SparkSession, config: ValidationConfig) -> str | None:
    """Register ``DeclinedRules`` over this validator's projections; its name, or ``None``.

    The projections are those of the optimised plan of ``validate_values`` (without the
    accelerator) over an opaque relation of ``(message, now)``, so the rules are the ones
    every other caller runs. ``None`` (the query then holds the rules itself, as without
    the accelerator) when that plan is not a chain of projections or the class is missing.
    """
    import hashlib

    from py4j.protocol import Py4JError

    # every setting the rules read (the accelerator's contract holds fewer)
    settings = accel.contract_json(config, FAST_PATH_MAX_BYTES) + repr(config)
    name = "loglake_declined_" + hashlib.sha256(settings.encode()).hexdigest()[:12]
    jsession: Any = spark._jsparkSession
    if jsession.catalog().functionExists(name):
        return name
    schema = StructType(
        [StructField(_DECLINED_VALUE, BinaryType()), StructField(_DECLINED_NOW, TimestampType())]
    )
    base = spark.createDataFrame(spark.sparkContext.emptyRDD(), schema)
    rules = validate_values(
        base,
        _DECLINED_VALUE,
        config=config,
        now_col=F.col(_DECLINED_NOW),
        accelerate=False,
        fast_path=False,
    ).select(*OUTPUT_COLUMNS)
    jvm: Any = spark.sparkContext._jvm
    expressions, inputs = jvm.java.util.ArrayList(), jvm.java.util.ArrayList()
    try:
        node = rules._jdf.queryExecution().optimizedPlan()
        while node.nodeName() == "Project":
            expressions.add(0, node.projectList())
            inputs.add(0, node.child().output())
            node = node.child()
        if node.nodeName() != "LogicalRDD" or expressions.isEmpty():
            logger.warning(
                "the validator's plan for declined rows is not a chain of projections (%s); "
                "the query holds the rules itself",
                node.nodeName(),
            )
            return None
        result_type = jsession.parseDataType(rules.schema.json())
        udf = jvm.dev.loglake.accel.DeclinedRules(expressions, inputs, result_type)
        jsession.udf().register(name, udf, result_type)
    except (Py4JError, TypeError) as exc:
        logger.warning(
            "the validator's rules for declined rows could not be set up (%s); the query "
            "holds the rules itself",
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        return None
    return name


def _build_plan(
    value_col: str,
    config: ValidationConfig,
    now_col: Column | str | None,
    fast_path: bool,
    accel_name: str | None = None,
    mask_accepted_value: bool = False,
    declined_name: str | None = None,
) -> _Plan:
    """Build every column of ``validate_values`` (see there).

    With ``accel_name`` (the registered accelerator) a row it accepts takes its values
    from it, and every other column sees a null message (nulls are cheap to carry).
    ``mask_accepted_value``: ``keep_accepted_value=False`` of ``validate_values``.
    ``declined_name`` (the registered ``DeclinedRules`` of these settings, with
    ``accel_name``): the rules run inside it for the declined rows only (``_declined_plan``).
    """
    if isinstance(now_col, str):
        now_col = F.col(now_col)
    # "now" once per row, in a projection of its own (the rules read it several times)
    out = _stage(_Plan(), now=F.unix_micros(now_col if now_col is not None else batch_now()))
    now_micros = _c("now")
    raw = F.col(value_col).cast("binary")
    accepted = (
        F.call_function(accel_name, raw, now_micros)
        if accel_name
        else F.lit(None).cast(accel.result_schema())
    )
    out = _stage(out, acc=accepted)
    if mask_accepted_value and accel_name:
        out.replace = (len(out.stages), value_col, F.when(_c("acc").isNull(), F.col(value_col)))
    if accel_name and declined_name:
        return _declined_plan(out, raw, now_micros, declined_name)
    raw = F.when(_c("acc").isNull(), raw)
    out = _stage(out, bytes=raw, text=raw.cast("string"))
    out = _fast_checks(out, config, fast_path)
    out = _message_checks(out, config)
    errors: list[Column] = [_c("msg_error")]
    values: dict[str, Column] = {}
    out = _stage(
        out,
        obj=F.when(
            ~_c("fast") & _c("msg_error").isNull(),
            F.try_variant_get(_c("variant"), "$", "map<string,variant>"),
        ),
        strings=_strings(),
        **{"v_" + f.name: _field_value(f) for f in EVENT_FIELDS},
    )
    out = _stage(
        out,
        **{
            "t_" + f.name: F.when(
                _c("fast"),
                F.when(_c("fast_ms"), F.lit("BIGINT")).otherwise(_FAST_TYPES[f.type])
                if f.type == "timestamp"
                else F.lit(_FAST_TYPES[f.type]),
            ).otherwise(F.schema_of_variant(_c("v_" + f.name)))
            for f in EVENT_FIELDS
        },
    )
    for f in EVENT_FIELDS:
        cols = _field_cols(f)
        present = cols.present
        if f.type == "string":
            error, value = _string_checks(f, cols.sub, cols.typ)
        elif f.type in ("double", "int"):
            error, value = _number_checks(f, cols)
        elif f.type == "timestamp":
            out, error, value = _time_checks(out, f, cols, config, now_micros)
        else:
            error, value = _map_checks(f, cols)
        required: Column = F.lit(f.required)
        if f.required_for:
            required = required | values["event_type"].isin(*sorted(f.required_for))
        missing = _err(
            Reason.MISSING_FIELD,
            f.name,
            _msg(
                f"{f.name} is missing or null; it is required for ",
                "every event"
                if f.required
                else F.concat(F.lit("event_type '"), values["event_type"], F.lit("'")),
            ),
        )
        errors.append(F.when(~present & required, missing).when(present, error))
        typed = F.when(present, value)
        if f.name == "level":
            typed = F.coalesce(typed, F.lit(DEFAULT_LEVEL))
        values[f.name] = typed
    out = _stage(out, error=F.when(_c("acc").isNull(), F.coalesce(*errors)))
    micros = values["event_time"]
    known = F.array(*(F.lit(f.name) for f in EVENT_FIELDS))
    rescued = F.map_filter(_c("obj"), lambda k, _v: ~F.array_contains(known, k))
    checked = {
        f.name: values[f.name].cast(spark_type(f.type))
        for f in EVENT_FIELDS
        if f.name != "event_time"
    }
    checked["event_time"] = F.timestamp_micros(micros)
    checked["page"] = normalize_page_col(values["page_url"])
    checked["_rescued"] = F.when(F.size(rescued) > 0, F.to_json(rescued))
    checked["event_date"] = _date_of_micros(micros)
    checked.update({c: _c("error")[c.removeprefix("reason_")] for c in REASON_COLUMNS})
    out.outputs = _outputs(checked, accelerated=accel_name is not None)
    return out
