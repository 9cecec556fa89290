package dev.loglake.state;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.catalyst.expressions.UnsafeRow;
import org.apache.spark.sql.catalyst.expressions.XXH64;
import org.apache.spark.sql.execution.streaming.state.KeyStateEncoderSpec;
import org.apache.spark.sql.execution.streaming.state.NoPrefixKeyStateEncoderSpec;
import org.apache.spark.sql.execution.streaming.state.ReadStateStore;
import org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider;
import org.apache.spark.sql.execution.streaming.state.StateSchemaProvider;
import org.apache.spark.sql.execution.streaming.state.StateStore;
import org.apache.spark.sql.execution.streaming.state.StateStoreCheckpointInfo;
import org.apache.spark.sql.execution.streaming.state.StateStoreConf;
import org.apache.spark.sql.execution.streaming.state.StateStoreId;
import org.apache.spark.sql.execution.streaming.state.StateStoreIterator;
import org.apache.spark.sql.execution.streaming.state.StateStoreMetrics;
import org.apache.spark.sql.execution.streaming.state.UnsafeRowPair;
import org.apache.spark.sql.types.StructType;
import scala.Option;

/**
 * Spark's RocksDB state store with a filter in memory that answers most lookups of new keys.
 *
 * <p>A de-duplication looks up every row's key, and nearly every key is new. RocksDB answers a
 * missing key only after searching its memtables and probing the filter of every file. This
 * provider keeps a Bloom filter of the keys the store may hold: a key the filter has never seen
 * is not in the store, so {@code get} returns null without asking RocksDB; any other key is
 * looked up in RocksDB as before. The filter is never the record of anything: the state, its
 * files, checkpoints and recovery are Spark's RocksDB provider, unchanged.
 *
 * <p>The filter must hold every key of the store (it may hold more). It holds every key put or
 * merged since it was built. It is built by reading the whole store when a store is opened at a
 * version other than the one the filter belongs to (the first batch after a start, a batch run
 * again). It is rebuilt, to drop removed keys, when a batch reads the whole store anyway (the
 * watermark's eviction) once a quarter of its keys were removed; the new filter replaces the
 * old one when that batch commits. A batch that aborts keeps the previous filter, which holds
 * every key of the version the store returns to. Only stores of one column family with one
 * value per key and no key prefix are filtered; the others are Spark's stores as they are.
 */
public class FilteredRocksDBStateStoreProvider extends RocksDBStateStoreProvider {
  private boolean filtered;
  /** Keys the store may hold at {@code filterVersion}. */
  private KeyFilter filter;
  private long filterVersion = -1L;

  @Override
  public void init(
      StateStoreId id,
      StructType keySchema,
      StructType valueSchema,
      KeyStateEncoderSpec keySpec,
      boolean useColumnFamilies,
      StateStoreConf conf,
      Configuration hadoopConf,
      boolean multipleValuesPerKey,
      Option<StateSchemaProvider> schemaProvider) {
    super.init(
        id, keySchema, valueSchema, keySpec, useColumnFamilies, conf, hadoopConf,
        multipleValuesPerKey, schemaProvider);
    filtered =
        !useColumnFamilies && !multipleValuesPerKey && keySpec instanceof NoPrefixKeyStateEncoderSpec;
  }

  @Override
  public StateStore getStore(long version, Option<String> uniqueId) {
    StateStore store = super.getStore(version, uniqueId);
    if (!filtered) {
      return store;
    }
    synchronized (this) {
      if (filter == null || filterVersion != version) {
        filter = KeyFilter.of(store.iterator(store.iterator$default$1()), KeyFilter.FIRST_CAPACITY);
        filterVersion = version;
      }
      return new Filtered(store, filter);
    }
  }

  @Override
  public StateStore upgradeReadStoreToWriteStore(
      ReadStateStore readStore, long version, Option<String> uniqueId) {
    synchronized (this) {
      filter = null; // written without the filter: build it again before it answers
    }
    return super.upgradeReadStoreToWriteStore(readStore, version, uniqueId);
  }

  private synchronized void committed(long version, KeyFilter keys) {
    filter = keys;
    filterVersion = version;
  }

  /** A store that answers lookups of keys its filter has never seen. */
  private final class Filtered implements StateStore {
    private final StateStore store;
    private final KeyFilter keys;
    /** Built while the batch reads the whole store; replaces {@code keys} at commit. */
    private KeyFilter next;
    private boolean nextComplete;

    Filtered(StateStore store, KeyFilter keys) {
      this.store = store;
      this.keys = keys;
    }

    private void seen(UnsafeRow key) {
      keys.add(key);
      if (next != null) {
        next.add(key);
      }
    }

    @Override
    public UnsafeRow get(UnsafeRow key, String family) {
      return keys.mightContain(key) ? store.get(key, family) : null;
    }

    @Override
    public void put(UnsafeRow key, UnsafeRow value, String family) {
      seen(key);
      store.put(key, value, family);
    }

    @Override
    public void putList(UnsafeRow key, UnsafeRow[] values, String family) {
      seen(key);
      store.putList(key, values, family);
    }

    @Override
    public void merge(UnsafeRow key, UnsafeRow value, String family) {
      seen(key);
      store.merge(key, value, family);
    }

    @Override
    public void mergeList(UnsafeRow key, UnsafeRow[] values, String family) {
      seen(key);
      store.mergeList(key, values, family);
    }

    @Override
    public void remove(UnsafeRow key, String family) {
      keys.removed++;
      if (next != null) {
        next.add(key); // an abort brings it back; the rebuilt filter is kept only on commit
      }
      store.remove(key, family);
    }

    @Override
    public StateStoreIterator<UnsafeRowPair> iterator(String family) {
      StateStoreIterator<UnsafeRowPair> all = store.iterator(family);
      if (!keys.worthRebuilding()) {
        return all;
      }
      KeyFilter rebuilt = new KeyFilter(KeyFilter.capacityFor(keys.count() + keys.count() / 4));
      next = rebuilt;
      nextComplete = false;
      return new StateStoreIterator<>(
          new scala.collection.AbstractIterator<UnsafeRowPair>() {
            @Override
            public boolean hasNext() {
              boolean more = all.hasNext();
              if (!more && next == rebuilt) {
                nextComplete = true;
              }
              return more;
            }

            @Override
            public UnsafeRowPair next() {
              UnsafeRowPair pair = all.next();
              rebuilt.add(pair.key());
              return pair;
            }
          },
          new scala.runtime.AbstractFunction0<scala.runtime.BoxedUnit>() {
            @Override
            public scala.runtime.BoxedUnit apply() {
              all.close();
              return scala.runtime.BoxedUnit.UNIT;
            }
          });
    }

    @Override
    public long commit() {
      long committed = store.commit();
      committed(committed, next != null && nextComplete ? next : keys);
      return committed;
    }

    @Override
    public void abort() {
      next = null;
      store.abort();
    }

    @Override
    public StateStoreId id() {
      return store.id();
    }

    @Override
    public long version() {
      return store.version();
    }

    @Override
    public scala.collection.Iterator<UnsafeRow> valuesIterator(UnsafeRow key, String family) {
      return store.valuesIterator(key, family);
    }

    @Override
    public StateStoreIterator<UnsafeRowPair> prefixScan(UnsafeRow prefix, String family) {
      return store.prefixScan(prefix, family);
    }

    @Override
    public void release() {
      store.release();
    }

    @Override
    public boolean removeColFamilyIfExists(String family) {
      return store.removeColFamilyIfExists(family);
    }

    @Override
    public void createColFamilyIfAbsent(
        String family,
        StructType keySchema,
        StructType valueSchema,
        KeyStateEncoderSpec keySpec,
        boolean multipleValuesPerKey,
        boolean internal) {
      store.createColFamilyIfAbsent(
          family, keySchema, valueSchema, keySpec, multipleValuesPerKey, internal);
    }

    @Override
    public StateStoreMetrics metrics() {
      return store.metrics();
    }

    @Override
    public StateStoreCheckpointInfo getStateStoreCheckpointInfo() {
      return store.getStateStoreCheckpointInfo();
    }

    @Override
    public boolean hasCommitted() {
      return store.hasCommitted();
    }
  }

  /**
   * A blocked Bloom filter over the bytes of key rows, in segments that double in size.
   *
   * <p>Each key sets 6 bits in one 512-bit block, so a lookup touches one cache line per
   * segment. A segment holds up to its capacity (about 1 % false positives at 10 bits per key);
   * past it, a new segment for half as many keys as the filter holds takes the new keys, so the
   * filter stays within about 1.5 times the bits its keys need.
   */
  static final class KeyFilter {
    static final long FIRST_CAPACITY = 1L << 20;
    private static final int BITS_PER_KEY = 10;
    private static final int PROBES = 6;
    private static final long SEED = 0x5EEDL;

    private long[][] segments = new long[0][];
    private long[] capacities = new long[0];
    private long lastCount;
    private long total;

    KeyFilter(long capacity) {
      grow(capacity);
    }

    static KeyFilter of(StateStoreIterator<UnsafeRowPair> rows, long capacity) {
      KeyFilter keys = new KeyFilter(capacity);
      try {
        while (rows.hasNext()) {
          keys.add(rows.next().key());
        }
      } finally {
        rows.close();
      }
      return keys;
    }

    /** Keys removed from the store since this filter was built (they still answer "maybe"). */
    long removed;

    long count() {
      return total;
    }

    static long capacityFor(long keys) {
      return Math.max(FIRST_CAPACITY, keys);
    }

    /**
     * Whether a read of the whole store should build a new filter: when a quarter of the keys
     * it holds were removed, or when it has three segments or more (a missing key is then
     * looked up in each). Otherwise a backfill, which removes nothing, would pay for a
     * rebuild in every batch.
     */
    boolean worthRebuilding() {
      return segments.length > 2 || 4 * removed > total;
    }

    private void grow(long capacity) {
      long blocks = Math.max(1L, (capacity * BITS_PER_KEY + 511) / 512);
      int n = segments.length;
      long[][] s = java.util.Arrays.copyOf(segments, n + 1);
      long[] c = java.util.Arrays.copyOf(capacities, n + 1);
      s[n] = new long[Math.toIntExact(blocks * 8)];
      c[n] = capacity;
      segments = s;
      capacities = c;
      lastCount = 0;
    }

    private static long hash(UnsafeRow key) {
      return XXH64.hashUnsafeBytes(key.getBaseObject(), key.getBaseOffset(), key.getSizeInBytes(), SEED);
    }

    void add(UnsafeRow key) {
      int last = segments.length - 1;
      if (lastCount >= capacities[last]) {
        grow(capacityFor(total / 2));
        last++;
      }
      set(segments[last], hash(key));
      lastCount++;
      total++;
    }

    boolean mightContain(UnsafeRow key) {
      long h = hash(key);
      for (long[] bits : segments) {
        if (test(bits, h)) {
          return true;
        }
      }
      return false;
    }

    private static void set(long[] bits, long h) {
      int base = block(bits, h);
      long probes = h;
      for (int i = 0; i < PROBES; i++) {
        int bit = (int) (probes & 511);
        bits[base + (bit >>> 6)] |= 1L << (bit & 63);
        probes >>>= 9;
      }
    }

    private static boolean test(long[] bits, long h) {
      int base = block(bits, h);
      long probes = h;
      for (int i = 0; i < PROBES; i++) {
        int bit = (int) (probes & 511);
        if ((bits[base + (bit >>> 6)] & (1L << (bit & 63))) == 0) {
          return false;
        }
        probes >>>= 9;
      }
      return true;
    }

    /** First word of the key's block: a mix of the hash, scaled to the number of blocks. */
    private static int block(long[] bits, long h) {
      long blocks = bits.length >>> 3;
      long mixed = (h ^ (h >>> 33)) * 0xFF51AFD7ED558CCDL; // independent of the probes' bits
      mixed ^= mixed >>> 33;
      return (int) (((mixed >>> 32) * blocks) >>> 32) << 3;
    }
  }
}
