package dev.loglake.accel;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.api.java.UDF2;
import org.apache.spark.sql.catalyst.CatalystTypeConverters$;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeProjection;
import org.apache.spark.sql.catalyst.expressions.UnsafeProjection$;
import org.apache.spark.sql.types.StructType;
import scala.Function1;
import scala.collection.immutable.Seq;

/**
 * Runs the Spark expression validator (loglake_core.spark.rules) on one message.
 *
 * <p>The validator's rules are Spark expressions, added a few projections at a time. In a
 * query, each projection that holds a function Spark cannot compile into the stage's code
 * (higher-order functions, from_json) copies every row, and the JIT compiles all of their
 * code, although the accelerator (AcceptFlatEvent) has already taken nearly every row. This
 * class holds those same projections, taken from the optimised plan of the validator over
 * a relation of (message, now), and runs them for the rows the accelerator declined only:
 * the query's plan is then the accelerator and one call of this function.
 *
 * <p>The constructor takes, for each projection from the first to the last, its
 * expressions and the attributes of its input; the last one yields the validator's output
 * columns, returned as a row of {@code resultType}. Nothing of the rules is written here.
 */
public final class DeclinedRules implements UDF2<byte[], Long, Row> {
  private static final long serialVersionUID = 1L;

  /**
   * The compiled projections and the result's converter of each instance (by its id), per
   * thread: neither a projection nor some expressions are thread-safe, and building a
   * projection generates its code again. Every task gets its own copy of this object, so
   * the cache is per JVM (and thread), not per copy.
   */
  private static final ConcurrentHashMap<String, ThreadLocal<Runner>> RUNNERS =
      new ConcurrentHashMap<>();

  private final String id = UUID.randomUUID().toString();
  private final ArrayList<Seq<Expression>> expressions;
  private final ArrayList<Seq<Attribute>> inputs;
  private final StructType resultType;
  private transient ThreadLocal<Runner> runner;

  public DeclinedRules(List<Seq<Expression>> expressions, List<Seq<Attribute>> inputs,
      StructType resultType) {
    if (expressions.isEmpty() || expressions.size() != inputs.size()) {
      throw new IllegalArgumentException(
          "DeclinedRules needs one list of input attributes per projection, and a projection");
    }
    for (Seq<Expression> projection : expressions) {
      scala.collection.Iterator<Expression> it = projection.iterator();
      while (it.hasNext()) {
        Expression e = it.next();
        if (!e.deterministic()) {
          throw new IllegalArgumentException("DeclinedRules runs deterministic rules only: " + e);
        }
      }
    }
    this.expressions = new ArrayList<>(expressions);
    this.inputs = new ArrayList<>(inputs);
    this.resultType = resultType;
  }

  private static final class Runner {
    final UnsafeProjection[] projections;
    final Function1<Object, Object> toRow;

    Runner(DeclinedRules rules) {
      int n = rules.expressions.size();
      projections = new UnsafeProjection[n];
      for (int i = 0; i < n; i++) {
        projections[i] =
            UnsafeProjection$.MODULE$.create(rules.expressions.get(i), rules.inputs.get(i));
        projections[i].initialize(0); // deterministic (checked): the partition does not matter
      }
      toRow = CatalystTypeConverters$.MODULE$.createToScalaConverter(rules.resultType);
    }
  }

  private Runner runner() {
    ThreadLocal<Runner> local = runner;
    if (local == null) {
      local = RUNNERS.computeIfAbsent(id, key -> new ThreadLocal<>());
      runner = local;
    }
    Runner r = local.get();
    if (r == null) {
      // from this copy's expressions: some hold state (a JSON writer) that no two threads
      // may share, and a copy belongs to one task, which runs on this thread
      r = new Runner(this);
      local.set(r);
    }
    return r;
  }

  @Override
  public Row call(byte[] message, Long nowMicros) {
    Runner r = runner(); // a null message too: the rules say why it is rejected
    InternalRow row = new GenericInternalRow(new Object[] {message, nowMicros});
    for (UnsafeProjection projection : r.projections) {
      row = projection.apply(row);
    }
    return (Row) r.toRow.apply(row);
  }
}
