package dev.loglake.accel;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF2;

/**
 * Accepts the common case of the event contract in one pass over the message bytes.
 *
 * <p>Given a Kafka message value and "now" (microseconds since the epoch), it returns the
 * typed event fields when the message is a flat, strict JSON object of known fields that
 * passes every rule of the contract, and null otherwise. It never rejects: a null sends the
 * row to the Spark expression validator (loglake_core.spark.rules), which decides and words
 * every rejection. So this class only has to be exact about what it accepts, and it
 * declines anything unusual (string escapes other than the short ones, long numbers,
 * naive times unless read as UTC, more than maxBytes bytes, unknown fields other than
 * plain ones: a printable ASCII key and a printable ASCII string value without escapes).
 *
 * <p>The rules are not written here: the constructor takes the contract as JSON, built by
 * loglake_core.spark.accel from loglake_core.schema.EVENT_FIELDS and the validator settings.
 * The result is a struct of the event fields in contract order (a string field as its UTF-8
 * bytes, which Spark takes without encoding them again; event_time a long of microseconds;
 * an absent field null), then page, page_url normalised by the steps and
 * patterns of loglake_core.pages, also handed over in the contract, then _rescued: the
 * unknown fields as a compact JSON object with sorted keys, or null when there are none.
 */
public final class AcceptFlatEvent implements UDF2<byte[], Long, Row> {
  private static final long serialVersionUID = 1L;
  private static final long MICROS_PER_SECOND = 1_000_000L;
  private static final long MICROS_PER_DAY = 86_400L * MICROS_PER_SECOND;
  /** Epoch milliseconds beyond this are certainly ancient or future (declined). */
  private static final long MAX_ABS_MILLIS = 1_000_000_000_000_000L;

  private final String contractJson;
  private transient Contract contract;

  public AcceptFlatEvent(String contractJson) {
    this.contractJson = contractJson;
    contract();
  }

  private Contract contract() {
    Contract c = contract;
    if (c == null) {
      c = new Contract(contractJson);
      contract = c;
    }
    return c;
  }

  @Override
  public Row call(byte[] message, Long nowMicros) {
    if (message == null || nowMicros == null) {
      return null;
    }
    Contract c = contract();
    if (message.length == 0 || message.length > c.maxBytes) {
      return null;
    }
    Object[] values = new Object[c.fields.length + 2];
    Scanner scanner = new Scanner(message, c);
    if (!scanner.object(values)) {
      return null;
    }
    if (!accepts(c, values, nowMicros)) {
      return null;
    }
    if (c.pageUrlIndex >= 0 && values[c.pageUrlIndex] != null) {
      values[c.fields.length] = c.pages.normalize(utf8((byte[]) values[c.pageUrlIndex]));
    }
    values[c.fields.length + 1] = scanner.rescued();
    return RowFactory.create(values);
  }

  static String utf8(byte[] bytes) {
    return new String(bytes, StandardCharsets.UTF_8);
  }

  /** A pattern's matcher, made once per thread and reset for each text. */
  static final class Reused {
    private final ThreadLocal<Matcher> matcher;

    Reused(Pattern pattern) {
      matcher = ThreadLocal.withInitial(() -> pattern.matcher(""));
    }

    Matcher on(CharSequence text) {
      return matcher.get().reset(text);
    }
  }

  /** loglake_core.pages.normalize_page, with its patterns. */
  static final class PageRules {
    final Reused queryFragment;
    final String trimChars;
    final Reused authority;
    final Reused idSegment;
    final String placeholder;

    PageRules(JsonNode node) {
      queryFragment = new Reused(Pattern.compile(node.get("query_fragment").asText()));
      trimChars = node.get("trim_chars").asText();
      authority = new Reused(Pattern.compile(node.get("authority").asText()));
      idSegment = new Reused(Pattern.compile(node.get("id_segment").asText()));
      placeholder = node.get("placeholder").asText();
    }

    String normalize(String url) {
      String text = queryFragment.on(url).replaceFirst("");
      int start = 0;
      int end = text.length();
      while (start < end && trimChars.indexOf(text.charAt(start)) >= 0) {
        start++;
      }
      while (end > start && trimChars.indexOf(text.charAt(end - 1)) >= 0) {
        end--;
      }
      text = authority.on(text.substring(start, end)).replaceFirst("");
      char[] chars = text.toCharArray();
      for (int i = 0; i < chars.length; i++) {
        if (chars[i] >= 'A' && chars[i] <= 'Z') {
          chars[i] = (char) (chars[i] + ('a' - 'A'));
        }
      }
      text = new String(chars);
      StringBuilder out = new StringBuilder(text.length() + 8);
      int from = 0;
      while (from <= text.length()) {
        int slash = text.indexOf('/', from);
        int stop = slash < 0 ? text.length() : slash;
        if (stop > from) {
          String segment = text.substring(from, stop);
          out.append('/').append(idSegment.on(segment).matches() ? placeholder : segment);
        }
        from = stop + 1;
      }
      return out.length() == 0 ? "/" : out.toString();
    }
  }

  private static boolean accepts(Contract c, Object[] values, long nowMicros) {
    Object typeBytes = c.eventTypeIndex >= 0 ? values[c.eventTypeIndex] : null;
    String eventType = typeBytes == null ? null : utf8((byte[]) typeBytes);
    for (int i = 0; i < c.fields.length; i++) {
      FieldRule f = c.fields[i];
      Object v = values[i];
      if (v == null) {
        if (f.required || (eventType != null && f.requiredFor.contains(eventType))) {
          return false;
        }
        continue;
      }
      switch (f.type) {
        case STRING:
          if (!f.acceptsString((byte[]) v)) {
            return false;
          }
          break;
        case DOUBLE:
          if (!f.acceptsNumber((Double) v)) {
            return false;
          }
          break;
        case INT:
          long n = (Long) v;
          if (n < Integer.MIN_VALUE || n > Integer.MAX_VALUE || !f.acceptsNumber((double) n)) {
            return false;
          }
          values[i] = (int) n;
          break;
        case TIMESTAMP:
          Long micros =
              v instanceof byte[] ? isoMicros((byte[]) v, c.naiveAsUtc) : millisMicros((Long) v);
          if (micros == null
              || micros < c.minEventMicros
              || micros > nowMicros + c.maxFutureSkewMicros) {
            return false;
          }
          values[i] = micros;
          break;
        default: // MAP: the scanner only reads a flat object of strings
          break;
      }
    }
    return true;
  }

  private static Long millisMicros(long millis) {
    return Math.abs(millis) > MAX_ABS_MILLIS ? null : millis * 1000L;
  }

  /** YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+hh:mm|-hh:mm)? as loglake_core.timeparse reads it. */
  static Long isoMicros(byte[] s, boolean naiveAsUtc) {
    int n = s.length;
    if (n < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') {
      return null;
    }
    int year = digits(s, 0, 4);
    int month = digits(s, 5, 2);
    int day = digits(s, 8, 2);
    int hour = digits(s, 11, 2);
    int minute = digits(s, 14, 2);
    int second = digits(s, 17, 2);
    if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) {
      return null;
    }
    int pos = 19;
    long fraction = 0;
    if (pos < n && s[pos] == '.') {
      int start = ++pos;
      while (pos < n && s[pos] >= '0' && s[pos] <= '9') {
        pos++;
      }
      int count = pos - start;
      if (count < 1 || count > 9) {
        return null;
      }
      for (int k = 0; k < 6; k++) {
        fraction = fraction * 10 + (k < count ? s[start + k] - '0' : 0);
      }
    }
    int offsetMinutes = 0;
    if (pos == n) {
      if (!naiveAsUtc) {
        return null;
      }
    } else if (s[pos] == 'Z' && pos + 1 == n) {
      offsetMinutes = 0;
    } else if ((s[pos] == '+' || s[pos] == '-') && pos + 6 == n && s[pos + 3] == ':') {
      int oh = digits(s, pos + 1, 2);
      int om = digits(s, pos + 4, 2);
      if (oh < 0 || om < 0 || om > 59 || oh * 60 + om > 18 * 60) {
        return null;
      }
      offsetMinutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    } else {
      return null;
    }
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
      return null;
    }
    if (hour > 23 || minute > 59 || second > 59) {
      return null;
    }
    long seconds = ((long) hour * 60 + minute - offsetMinutes) * 60 + second;
    return daysFromCivil(year, month, day) * MICROS_PER_DAY
        + seconds * MICROS_PER_SECOND
        + fraction;
  }

  private static int digits(byte[] s, int start, int count) {
    int value = 0;
    for (int k = start; k < start + count; k++) {
      byte ch = s[k];
      if (ch < '0' || ch > '9') {
        return -1;
      }
      value = value * 10 + (ch - '0');
    }
    return value;
  }

  private static int daysInMonth(int year, int month) {
    if (month == 2) {
      boolean leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
      return leap ? 29 : 28;
    }
    return month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31;
  }

  private static long daysFromCivil(int year, int month, int day) {
    long y = month <= 2 ? year - 1 : year;
    long era = Math.floorDiv(y, 400);
    long yoe = y - era * 400;
    long mp = (month + 9) % 12;
    long doy = (153 * mp + 2) / 5 + day - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146_097 + doe - 719_468;
  }

  enum Kind {
    STRING,
    TIMESTAMP,
    DOUBLE,
    INT,
    MAP
  }

  /** One field of the contract as the constructor's JSON gives it. */
  static final class FieldRule {
    final String name;
    final byte[] key;
    final Kind type;
    final boolean required;
    final Set<String> requiredFor = new HashSet<>();
    final int maxLength;
    final Double minimum;
    final Double maximum;
    final boolean exclusiveMaximum;
    final Set<String> choices;
    final Reused pattern;

    FieldRule(JsonNode node) {
      name = node.get("name").asText();
      key = name.getBytes(StandardCharsets.UTF_8);
      type = Kind.valueOf(node.get("type").asText().toUpperCase(java.util.Locale.ROOT));
      required = node.path("required").asBoolean(false);
      node.path("required_for").forEach(t -> requiredFor.add(t.asText()));
      maxLength = node.path("max_length").isNumber() ? node.get("max_length").asInt() : -1;
      minimum = node.path("minimum").isNumber() ? node.get("minimum").asDouble() : null;
      maximum = node.path("maximum").isNumber() ? node.get("maximum").asDouble() : null;
      exclusiveMaximum = node.path("exclusive_maximum").asBoolean(false);
      if (node.path("choices").isArray()) {
        choices = new HashSet<>();
        node.get("choices").forEach(t -> choices.add(t.asText()));
      } else {
        choices = null;
      }
      pattern =
          node.path("pattern").isTextual()
              ? new Reused(Pattern.compile(node.get("pattern").asText()))
              : null;
    }

    /** The rules of a string field, over its UTF-8 bytes (decoded only for a set or pattern). */
    boolean acceptsString(byte[] v) {
      if (maxLength >= 0 && v.length > maxLength && codePoints(v) > maxLength) {
        return false;
      }
      if (choices == null && pattern == null) {
        return true;
      }
      String text = utf8(v);
      if (choices != null && !choices.contains(text)) {
        return false;
      }
      return pattern == null || pattern.on(text).find();
    }

    /** Characters in well-formed UTF-8: the bytes that do not continue a sequence. */
    private static int codePoints(byte[] v) {
      int n = 0;
      for (byte x : v) {
        if ((x & 0xc0) != 0x80) {
          n++;
        }
      }
      return n;
    }

    boolean acceptsNumber(double v) {
      if (Double.isNaN(v) || Double.isInfinite(v)) {
        return false;
      }
      if (minimum != null && v < minimum) {
        return false;
      }
      return maximum == null || (exclusiveMaximum ? v < maximum : v <= maximum);
    }
  }

  /** The contract: fields in order and the validator settings. */
  static final class Contract {
    final FieldRule[] fields;
    /** For each key length, the fields whose name has that many bytes. */
    final int[][] byLength;
    final int maxBytes;
    final boolean naiveAsUtc;
    final long minEventMicros;
    final long maxFutureSkewMicros;
    final int eventTypeIndex;
    final int pageUrlIndex;
    final PageRules pages;

    Contract(String json) {
      JsonNode root;
      try {
        root = new ObjectMapper().readTree(json);
      } catch (IOException e) {
        throw new UncheckedIOException("the event contract is not valid JSON", e);
      }
      JsonNode list = root.get("fields");
      fields = new FieldRule[list.size()];
      int typeIndex = -1;
      int urlIndex = -1;
      for (int i = 0; i < fields.length; i++) {
        fields[i] = new FieldRule(list.get(i));
        if (fields[i].name.equals("event_type")) {
          typeIndex = i;
        } else if (fields[i].name.equals("page_url")) {
          urlIndex = i;
        }
      }
      eventTypeIndex = typeIndex;
      pageUrlIndex = urlIndex;
      int longest = 0;
      for (FieldRule f : fields) {
        longest = Math.max(longest, f.key.length);
      }
      byLength = new int[longest + 1][];
      for (int len = 0; len <= longest; len++) {
        int count = 0;
        for (FieldRule f : fields) {
          count += f.key.length == len ? 1 : 0;
        }
        byLength[len] = new int[count];
        count = 0;
        for (int i = 0; i < fields.length; i++) {
          if (fields[i].key.length == len) {
            byLength[len][count++] = i;
          }
        }
      }
      pages = new PageRules(root.get("pages"));
      maxBytes = root.get("max_bytes").asInt();
      naiveAsUtc = root.get("naive_as_utc").asBoolean();
      minEventMicros = root.get("min_event_micros").asLong();
      maxFutureSkewMicros = root.get("max_future_skew_micros").asLong();
    }
  }

  /** A strict reader of one flat JSON object; any surprise returns false (declined). */
  static final class Scanner {
    /** What key() returns for a plain unknown key (its bytes: keyStart, keyLength). */
    private static final int UNKNOWN = -2;

    private final byte[] b;
    private final Contract c;
    private int pos;
    private int keyStart;
    private int keyLength;
    /** Unknown fields in key order (as Spark's VARIANT object and Python's sort_keys). */
    private TreeMap<String, String> unknown;

    Scanner(byte[] b, Contract c) {
      this.b = b;
      this.c = c;
    }

    boolean object(Object[] values) {
      boolean[] seen = new boolean[c.fields.length];
      skipWs();
      if (!take('{')) {
        return false;
      }
      skipWs();
      if (!take('}')) {
        while (true) {
          int field = key();
          if (field == UNKNOWN) {
            if (!unknownField()) {
              return false;
            }
          } else if (field < 0 || seen[field]) {
            return false;
          } else {
            seen[field] = true;
            skipWs();
            if (!take(':')) {
              return false;
            }
            skipWs();
            if (!value(c.fields[field].type, values, field)) {
              return false;
            }
          }
          skipWs();
          if (take('}')) {
            break;
          }
          if (!take(',')) {
            return false;
          }
          skipWs();
        }
      }
      skipWs();
      return pos == b.length;
    }

    private boolean value(Kind type, Object[] values, int field) {
      if (pos < b.length && b[pos] == 'n') {
        if (pos + 4 <= b.length && b[pos + 1] == 'u' && b[pos + 2] == 'l' && b[pos + 3] == 'l') {
          pos += 4;
          return true; // null is an absent field
        }
        return false;
      }
      switch (type) {
        case STRING:
          return (values[field] = string()) != null;
        case TIMESTAMP:
          if (pos < b.length && b[pos] == '"') {
            return (values[field] = string()) != null; // read by isoMicros
          }
          return (values[field] = integer()) != null;
        case DOUBLE:
          return (values[field] = number()) != null;
        case INT:
          return (values[field] = integer()) != null;
        default:
          return (values[field] = flatMap()) != null;
      }
    }

    /** After a plain unknown key: its plain value, kept for _rescued (a repeat declines). */
    private boolean unknownField() {
      String name = new String(b, keyStart, keyLength, StandardCharsets.US_ASCII);
      skipWs();
      if (!take(':')) {
        return false;
      }
      skipWs();
      if (!take('"')) {
        return false;
      }
      int start = pos;
      while (pos < b.length && b[pos] != '"') {
        if (!printableAscii(b[pos]) || b[pos] == '\\') {
          return false;
        }
        pos++;
      }
      if (pos >= b.length) {
        return false;
      }
      String text = new String(b, start, pos - start, StandardCharsets.US_ASCII);
      pos++;
      if (unknown == null) {
        unknown = new TreeMap<>();
      }
      return unknown.put(name, text) == null;
    }

    /** The unknown fields as {"key":"value",...}, or null (nothing in them needs escaping). */
    String rescued() {
      if (unknown == null) {
        return null;
      }
      StringBuilder out = new StringBuilder(32 * unknown.size());
      out.append('{');
      for (Map.Entry<String, String> e : unknown.entrySet()) {
        if (out.length() > 1) {
          out.append(',');
        }
        out.append('"').append(e.getKey()).append("\":\"").append(e.getValue()).append('"');
      }
      return out.append('}').toString();
    }

    private static boolean printableAscii(byte x) {
      return x >= 0x20 && x < 0x7f;
    }

    private Map<String, String> flatMap() {
      if (!take('{')) {
        return null;
      }
      Map<String, String> map = new LinkedHashMap<>(); // in message order, like from_json
      skipWs();
      if (take('}')) {
        return map;
      }
      while (true) {
        byte[] k = string();
        skipWs();
        if (k == null || !take(':')) {
          return null;
        }
        skipWs();
        byte[] v = string();
        if (v == null || map.put(utf8(k), utf8(v)) != null) {
          return null;
        }
        skipWs();
        if (take('}')) {
          return map;
        }
        if (!take(',')) {
          return null;
        }
        skipWs();
      }
    }

    /** The index of a known field named by the next key, UNKNOWN for a plain other key, or -1. */
    private int key() {
      if (!take('"')) {
        return -1;
      }
      int start = pos;
      while (pos < b.length && b[pos] != '"') {
        if (b[pos] == '\\' || (b[pos] & 0xff) < 0x20) {
          return -1;
        }
        pos++;
      }
      if (pos >= b.length) {
        return -1;
      }
      int len = pos - start;
      pos++;
      if (len < c.byLength.length) {
        for (int i : c.byLength[len]) {
          byte[] k = c.fields[i].key;
          int j = 0;
          while (j < len && b[start + j] == k[j]) {
            j++;
          }
          if (j == len) {
            return i;
          }
        }
      }
      for (int i = start; i < pos - 1; i++) {
        if (!printableAscii(b[i])) {
          return -1;
        }
      }
      keyStart = start;
      keyLength = len;
      return len > 0 ? UNKNOWN : -1;
    }

    /** A string with no escape but the short ones, strict UTF-8 and no control character. */
    private byte[] string() {
      if (!take('"')) {
        return null;
      }
      int start = pos;
      boolean escaped = false;
      while (pos < b.length) {
        int x = b[pos] & 0xff;
        if (x == '"') {
          break;
        }
        if (x < 0x20) {
          return null;
        }
        if (x == '\\') {
          if (pos + 1 >= b.length || "\"\\/bfnrt".indexOf(b[pos + 1]) < 0) {
            return null;
          }
          escaped = true;
          pos += 2;
        } else if (x < 0x80) {
          pos++;
        } else {
          int width = utf8Width(pos);
          if (width == 0) {
            return null;
          }
          pos += width;
        }
      }
      if (pos >= b.length) {
        return null;
      }
      int end = pos++;
      if (!escaped) {
        return java.util.Arrays.copyOfRange(b, start, end);
      }
      byte[] out = new byte[end - start];
      int n = 0;
      for (int i = start; i < end; i++) {
        byte x = b[i];
        if (x == '\\') {
          byte e = b[++i];
          out[n++] =
              switch (e) {
                case 'b' -> (byte) '\b';
                case 'f' -> (byte) '\f';
                case 'n' -> (byte) '\n';
                case 'r' -> (byte) '\r';
                case 't' -> (byte) '\t';
                default -> e; // " \ /
              };
        } else {
          out[n++] = x;
        }
      }
      return java.util.Arrays.copyOf(out, n);
    }

    /** Bytes of a well-formed UTF-8 sequence at i (2-4), or 0 (what Python also rejects). */
    private int utf8Width(int i) {
      int x = b[i] & 0xff;
      int width;
      int lo = 0x80;
      int hi = 0xbf;
      if (x >= 0xc2 && x <= 0xdf) {
        width = 2;
      } else if (x >= 0xe0 && x <= 0xef) {
        width = 3;
        if (x == 0xe0) {
          lo = 0xa0;
        } else if (x == 0xed) {
          hi = 0x9f; // no surrogates
        }
      } else if (x >= 0xf0 && x <= 0xf4) {
        width = 4;
        if (x == 0xf0) {
          lo = 0x90;
        } else if (x == 0xf4) {
          hi = 0x8f;
        }
      } else {
        return 0;
      }
      if (i + width > b.length) {
        return 0;
      }
      int second = b[i + 1] & 0xff;
      if (second < lo || second > hi) {
        return 0;
      }
      for (int k = 2; k < width; k++) {
        int y = b[i + k] & 0xff;
        if (y < 0x80 || y > 0xbf) {
          return 0;
        }
      }
      return width;
    }

    /** -?(0|[1-9][0-9]{0,17}) as a Long, or null. */
    private Long integer() {
      int start = pos;
      if (pos < b.length && b[pos] == '-') {
        pos++;
      }
      int digits = intDigits(17);
      if (digits < 0 || (pos < b.length && (b[pos] == '.' || b[pos] == 'e' || b[pos] == 'E'))) {
        return null;
      }
      long value = 0;
      for (int i = b[start] == '-' ? start + 1 : start; i < pos; i++) {
        value = value * 10 + (b[i] - '0');
      }
      return b[start] == '-' ? -value : value;
    }

    /** A JSON number with at most 16 integer, 20 fraction and 2 exponent digits, or null. */
    private Double number() {
      int start = pos;
      if (pos < b.length && b[pos] == '-') {
        pos++;
      }
      if (intDigits(15) < 0) {
        return null;
      }
      if (pos < b.length && b[pos] == '.') {
        pos++;
        if (run(20) < 1) {
          return null;
        }
      }
      if (pos < b.length && (b[pos] == 'e' || b[pos] == 'E')) {
        pos++;
        if (pos < b.length && (b[pos] == '+' || b[pos] == '-')) {
          pos++;
        }
        if (run(2) < 1) {
          return null;
        }
      }
      return Double.parseDouble(new String(b, start, pos - start, StandardCharsets.US_ASCII));
    }

    /** 0 or [1-9] followed by at most maxMore digits; the count, or -1. */
    private int intDigits(int maxMore) {
      if (pos >= b.length || b[pos] < '0' || b[pos] > '9') {
        return -1;
      }
      if (b[pos] == '0') {
        pos++;
        return pos < b.length && b[pos] >= '0' && b[pos] <= '9' ? -1 : 1;
      }
      pos++;
      int more = run(maxMore);
      return more < 0 ? -1 : 1 + more;
    }

    /** Up to max digits; their count, or -1 when more follow. */
    private int run(int max) {
      int start = pos;
      while (pos < b.length && b[pos] >= '0' && b[pos] <= '9') {
        pos++;
      }
      return pos - start > max ? -1 : pos - start;
    }

    private boolean take(char ch) {
      if (pos < b.length && b[pos] == ch) {
        pos++;
        return true;
      }
      return false;
    }

    private void skipWs() {
      while (pos < b.length) {
        byte x = b[pos];
        if (x != ' ' && x != '\t' && x != '\n' && x != '\r') {
          return;
        }
        pos++;
      }
    }
  }
}
