//! [`RocksDbBackend`]: keyed state on disk in RocksDB (Flink's `EmbeddedRocksDBStateBackend`),
//! for state larger than memory, chosen per job with [`StateBackendConfig::rocksdb`]. Built
//! only with the `rocksdb` feature; docs/rocksdb.md tells how the library is linked.

use super::backend::{EntryVisitor, KeyAddr, StateBackend, StateError};
use super::store::{BackendContext, StateBackendConfig};
use ::rocksdb::{
    BlockBasedOptions, Cache, DBWithThreadMode, MergeOperands, MultiThreaded, Options, ReadOptions, WriteBatch,
    WriteOptions,
};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

type Db = DBWithThreadMode<MultiThreaded>;

/// The memory settings of a RocksDB instance. The defaults suit a job with a few stateful
/// operators; tests shrink them to force state out to disk.
///
/// ```
/// use fuseflow_runtime::state::RocksDbOptions;
/// let small = RocksDbOptions::default().block_cache_bytes(1 << 20).write_buffer_bytes(1 << 20);
/// assert_eq!(small.block_cache_bytes, 1 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RocksDbOptions {
    /// The size of the LRU block cache shared by every column family of the instance
    /// (default 64 MiB).
    pub block_cache_bytes: usize,
    /// The size of one memtable of a column family, which holds up to two (default 16 MiB).
    pub write_buffer_bytes: usize,
}

impl Default for RocksDbOptions {
    fn default() -> Self {
        RocksDbOptions {
            block_cache_bytes: 64 << 20,
            write_buffer_bytes: 16 << 20,
        }
    }
}

impl RocksDbOptions {
    /// Sets [`block_cache_bytes`](Self::block_cache_bytes).
    pub fn block_cache_bytes(self, bytes: usize) -> Self {
        RocksDbOptions {
            block_cache_bytes: bytes,
            ..self
        }
    }

    /// Sets [`write_buffer_bytes`](Self::write_buffer_bytes).
    pub fn write_buffer_bytes(self, bytes: usize) -> Self {
        RocksDbOptions {
            write_buffer_bytes: bytes,
            ..self
        }
    }
}

impl StateBackendConfig {
    /// Keyed state in RocksDB, in a working directory under `dir` (created if missing), with
    /// the default [`RocksDbOptions`]. See [`RocksDbBackend`].
    pub fn rocksdb(dir: impl Into<PathBuf>) -> Self {
        Self::rocksdb_with(dir, RocksDbOptions::default())
    }

    /// Keyed state in RocksDB under `dir`, with the given memory settings.
    pub fn rocksdb_with(dir: impl Into<PathBuf>, options: RocksDbOptions) -> Self {
        let opener = Opener {
            root: dir.into(),
            options,
            open: Mutex::new(Weak::new()),
        };
        StateBackendConfig::Backend(Arc::new(move |c: &BackendContext<'_>| {
            Ok(Box::new(RocksDbBackend::open(opener.instance()?, c)?) as Box<dyn StateBackend>)
        }))
    }
}

/// Opens the shared instance of one configuration, or a new one once the last closed.
struct Opener {
    root: PathBuf,
    options: RocksDbOptions,
    open: Mutex<Weak<Instance>>,
}

impl Opener {
    fn instance(&self) -> Result<Arc<Instance>, StateError> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(instance) = open.upgrade() {
            return Ok(instance);
        }
        let instance = Arc::new(Instance::open(&self.root, self.options)?);
        *open = Arc::downgrade(&instance);
        Ok(instance)
    }
}

/// One RocksDB instance in its own working directory.
struct Instance {
    // Fields drop in order: the database closes before its directory is removed.
    db: Db,
    _dir: RemoveOnDrop,
    /// The options of every column family (merge operator, shared block cache).
    cf_options: Options,
    write: WriteOptions,
    /// The column families of the backends now open.
    live: Mutex<HashSet<String>>,
}

/// Removes a directory tree when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Distinguishes the instances one process opens.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

fn rocks(e: ::rocksdb::Error) -> StateError {
    StateError::Backend(format!("rocksdb: {e}"))
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StateError {
    StateError::Backend(format!("rocksdb: cannot {what} {}: {e}", path.display()))
}

/// The merge operator of list states: concatenation.
fn concat(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let mut out = existing.map(<[u8]>::to_vec).unwrap_or_default();
    for op in operands {
        out.extend_from_slice(op);
    }
    Some(out)
}

impl Instance {
    fn open(root: &Path, options: RocksDbOptions) -> Result<Self, StateError> {
        std::fs::create_dir_all(root).map_err(|e| io("create", root, e))?;
        let dir = loop {
            let n = INSTANCES.fetch_add(1, Ordering::Relaxed);
            let dir = root.join(format!("fuseflow-state-{}-{n}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io("create", &dir, e)),
            }
        };
        let guard = RemoveOnDrop(dir);
        let cache = Cache::new_lru_cache(options.block_cache_bytes).map_err(rocks)?;
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_cache_index_and_filter_blocks(true);
        let mut cf_options = Options::default();
        cf_options.set_block_based_table_factory(&table);
        cf_options.set_write_buffer_size(options.write_buffer_bytes);
        cf_options.set_max_write_buffer_number(2);
        cf_options.set_merge_operator_associative("fuseflow.concat", concat);
        let mut db_options = cf_options.clone();
        db_options.create_if_missing(true);
        let db = Db::open(&db_options, &guard.0).map_err(rocks)?;
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        Ok(Instance {
            db,
            _dir: guard,
            cf_options,
            write,
            live: Mutex::new(HashSet::new()),
        })
    }
}

/// A [`StateBackend`] in a column family of a RocksDB instance shared with the job's other
/// operator instances, built by the factory of [`StateBackendConfig::rocksdb`].
///
/// **Layout.** One RocksDB instance per configuration, opened in a fresh working directory
/// `fuseflow-state-<pid>-<n>` under the directory the job names, and shared (behind an `Arc`,
/// with RocksDB's thread-safe column families) by every operator instance that opens a
/// backend from that configuration while it is open. Each backend (one operator instance)
/// has its own column family, named after its [`BackendContext::operator`]; a second
/// instance of the same operator open at the same time (another worker thread) gets
/// `operator#1`, and so on, so instances never see each other's entries even when two
/// operators share an id. A key is `key group (u32, big-endian) ‖ state (u32) ‖ key length
/// (u32) ‖ key ‖ user key`: the layout of [`InMemoryBackend`](super::InMemoryBackend) behind
/// the key group, so a key group's entries are one contiguous range and
/// [`export_key_group`](StateBackend::export_key_group) is a prefix scan.
///
/// **Writes** skip RocksDB's write-ahead log: this is a working copy of the state that dies
/// with the job (durability is the checkpoints' job, as in Flink). List appends are RocksDB
/// merges with a concatenating merge operator, never a read-modify-write.
///
/// **Lifetime.** A backend's column family is dropped when the backend is dropped, and the
/// instance and its working directory are removed when the last backend of the
/// configuration is dropped; the next backend opened from the configuration starts a new,
/// empty instance. A process that dies leaves its `fuseflow-state-*` directory behind, under
/// the directory the job named.
///
/// **Memory.** One LRU block cache ([`RocksDbOptions::block_cache_bytes`]) is shared by all
/// column families of an instance; each column family has up to two memtables of
/// [`RocksDbOptions::write_buffer_bytes`]. Everything else is on disk.
pub struct RocksDbBackend {
    instance: Arc<Instance>,
    cf: String,
    max_parallelism: usize,
}

impl std::fmt::Debug for RocksDbBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbBackend")
            .field("dir", &self.instance.db.path())
            .field("column_family", &self.cf)
            .field("max_parallelism", &self.max_parallelism)
            .finish()
    }
}

impl RocksDbBackend {
    fn open(instance: Arc<Instance>, c: &BackendContext<'_>) -> Result<Self, StateError> {
        let cf = {
            let mut live = instance.live.lock().unwrap_or_else(|e| e.into_inner());
            let name = (0..)
                .map(|i| match i {
                    0 => c.operator.to_owned(),
                    i => format!("{}#{i}", c.operator),
                })
                .find(|name| !live.contains(name))
                .expect("a free name");
            instance.db.create_cf(&name, &instance.cf_options).map_err(rocks)?;
            live.insert(name.clone());
            name
        };
        Ok(RocksDbBackend {
            instance,
            cf,
            max_parallelism: c.max_parallelism.max(1),
        })
    }

    /// The name of this backend's column family.
    pub fn column_family(&self) -> &str {
        &self.cf
    }

    /// The instance's working directory.
    pub fn path(&self) -> &Path {
        self.instance.db.path()
    }

    fn db(&self) -> &Db {
        &self.instance.db
    }

    fn handle(&self) -> Result<Arc<::rocksdb::BoundColumnFamily<'_>>, StateError> {
        self.db()
            .cf_handle(&self.cf)
            .ok_or_else(|| StateError::Backend(format!("rocksdb: column family `{}` is gone", self.cf)))
    }

    fn check(&self, key_group: u32) -> Result<(), StateError> {
        if (key_group as usize) < self.max_parallelism {
            Ok(())
        } else {
            Err(StateError::Backend(format!("key group {key_group} out of range")))
        }
    }

    /// `key group ‖ state ‖ key length ‖ key`, checked.
    fn prefix(&self, addr: KeyAddr<'_>, extra: usize) -> Result<Vec<u8>, StateError> {
        self.check(addr.key_group)?;
        let mut p = Vec::with_capacity(12 + addr.key.len() + extra);
        p.extend_from_slice(&addr.key_group.to_be_bytes());
        p.extend_from_slice(&addr.state.to_be_bytes());
        p.extend_from_slice(&(addr.key.len() as u32).to_be_bytes());
        p.extend_from_slice(addr.key);
        Ok(p)
    }

    fn full_key(&self, addr: KeyAddr<'_>, user_key: &[u8]) -> Result<Vec<u8>, StateError> {
        let mut k = self.prefix(addr, user_key.len())?;
        k.extend_from_slice(user_key);
        Ok(k)
    }

    /// Calls `visit(key, value)` for every entry whose key starts with `prefix`, in order.
    fn scan_prefix(&self, prefix: &[u8], visit: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StateError> {
        let cf = self.handle()?;
        let mut read = ReadOptions::default();
        if let Some(end) = successor(prefix) {
            read.set_iterate_upper_bound(end);
        }
        let mut it = self.db().raw_iterator_cf_opt(&cf, read);
        it.seek(prefix);
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !k.starts_with(prefix) {
                break;
            }
            visit(k, v);
            it.next();
        }
        it.status().map_err(rocks)
    }
}

/// The smallest byte string greater than every string that starts with `prefix`, if any.
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl Drop for RocksDbBackend {
    fn drop(&mut self) {
        // The state of a finished operator instance is garbage: free its disk space now.
        let _ = self.instance.db.drop_cf(&self.cf);
        let mut live = self.instance.live.lock().unwrap_or_else(|e| e.into_inner());
        live.remove(&self.cf);
    }
}

impl StateBackend for RocksDbBackend {
    fn get(&self, addr: KeyAddr<'_>, user_key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let k = self.full_key(addr, user_key)?;
        self.db().get_cf(&self.handle()?, k).map_err(rocks)
    }

    fn put(&mut self, addr: KeyAddr<'_>, user_key: &[u8], value: &[u8]) -> Result<(), StateError> {
        let k = self.full_key(addr, user_key)?;
        let i = &self.instance;
        i.db.put_cf_opt(&self.handle()?, k, value, &i.write).map_err(rocks)
    }

    fn append(&mut self, addr: KeyAddr<'_>, user_key: &[u8], bytes: &[u8]) -> Result<(), StateError> {
        let k = self.full_key(addr, user_key)?;
        let i = &self.instance;
        i.db.merge_cf_opt(&self.handle()?, k, bytes, &i.write).map_err(rocks)
    }

    fn delete(&mut self, addr: KeyAddr<'_>, user_key: &[u8]) -> Result<(), StateError> {
        let k = self.full_key(addr, user_key)?;
        let i = &self.instance;
        i.db.delete_cf_opt(&self.handle()?, k, &i.write).map_err(rocks)
    }

    fn scan(&self, addr: KeyAddr<'_>, visit: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StateError> {
        let p = self.prefix(addr, 0)?;
        self.scan_prefix(&p, &mut |k, v| visit(&k[p.len()..], v))
    }

    fn delete_key(&mut self, addr: KeyAddr<'_>) -> Result<(), StateError> {
        // Point deletes in one batch (as Flink's map state clear), not a range tombstone per
        // cleared key, which would slow later reads.
        let p = self.prefix(addr, 0)?;
        let cf = self.handle()?;
        let mut batch = WriteBatch::default();
        self.scan_prefix(&p, &mut |k, _| batch.delete_cf(&cf, k))?;
        if batch.is_empty() {
            return Ok(());
        }
        self.db().write_opt(batch, &self.instance.write).map_err(rocks)
    }

    fn export_key_group(&self, key_group: u32, visit: EntryVisitor<'_>) -> Result<(), StateError> {
        self.check(key_group)?;
        self.scan_prefix(&key_group.to_be_bytes(), &mut |k, v| {
            let state = u32::from_be_bytes(k[4..8].try_into().expect("4 bytes"));
            let len = u32::from_be_bytes(k[8..12].try_into().expect("4 bytes")) as usize;
            visit(state, &k[12..12 + len], &k[12 + len..], v);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::backend::conformance;
    use super::super::{InMemoryBackend, KeyedStateStore, StateRegistry};
    use super::*;

    fn backend(config: &StateBackendConfig, operator: &str, max_parallelism: usize) -> Box<dyn StateBackend> {
        let StateBackendConfig::Backend(factory) = config else {
            unreachable!()
        };
        factory(&BackendContext {
            operator,
            max_parallelism,
        })
        .unwrap()
    }

    /// The files under `dir`, recursively.
    fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                out.extend(files(&e.path()));
            } else {
                out.push((e.path(), meta.len()));
            }
        }
        out
    }

    #[test]
    fn rocksdb_passes_the_backend_conformance_checks() {
        let tmp = tempfile::tempdir().unwrap();
        let config = StateBackendConfig::rocksdb(tmp.path());
        conformance::check_all(&mut |n| backend(&config, "conformance", n));
        assert!(files(tmp.path()).is_empty(), "the working directory is removed");
    }

    #[test]
    fn export_then_import_copies_every_key_group_between_in_memory_and_rocksdb() {
        let tmp = tempfile::tempdir().unwrap();
        let config = StateBackendConfig::rocksdb(tmp.path());
        let kgs = 16;
        let mut memory: Box<dyn StateBackend> = Box::new(InMemoryBackend::new(kgs));
        let mut rocks = backend(&config, "op", kgs);
        conformance::fill(&mut *memory, kgs as u32, 1);
        conformance::fill(&mut *rocks, kgs as u32, 2);
        // memory → a fresh RocksDB backend, RocksDB → a fresh in-memory backend.
        let mut rocks_copy = backend(&config, "copy", kgs);
        let mut memory_copy: Box<dyn StateBackend> = Box::new(InMemoryBackend::new(kgs));
        conformance::copy(&*memory, &mut *rocks_copy, kgs as u32);
        conformance::copy(&*rocks, &mut *memory_copy, kgs as u32);
        let all = |b: &dyn StateBackend| conformance::dump(b, kgs as u32);
        assert!(all(&*memory).len() > 100);
        assert_eq!(all(&*memory), all(&*rocks_copy));
        assert_eq!(all(&*rocks), all(&*memory_copy));
        assert_ne!(all(&*memory), all(&*rocks), "the two seeds fill differently");
    }

    #[test]
    fn operator_instances_share_one_instance_in_column_families_of_their_own() {
        let tmp = tempfile::tempdir().unwrap();
        let opener = Arc::new(Opener {
            root: tmp.path().to_owned(),
            options: RocksDbOptions::default(),
            open: Mutex::new(Weak::new()),
        });
        let open = |opener: &Opener, operator: &str| {
            let c = BackendContext {
                operator,
                max_parallelism: 4,
            };
            RocksDbBackend::open(opener.instance().unwrap(), &c).unwrap()
        };
        let at = KeyAddr {
            state: 0,
            key_group: 1,
            key: b"k",
        };
        // Two operators, the first with two instances (worker threads), all at once.
        let threads: Vec<_> = [("sum", 1u8), ("sum", 2), ("count", 3)]
            .into_iter()
            .map(|(op, v)| {
                let opener = Arc::clone(&opener);
                std::thread::spawn(move || {
                    let mut b = open(&opener, op);
                    for i in 0..200u32 {
                        b.append(at, &i.to_be_bytes(), &[v]).unwrap();
                    }
                    b
                })
            })
            .collect();
        let backends: Vec<RocksDbBackend> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for (b, v) in backends.iter().zip([1u8, 2, 3]) {
            let mut n = 0;
            b.scan(at, &mut |_, value| {
                assert_eq!(value, [v]);
                n += 1;
            })
            .unwrap();
            assert_eq!(n, 200);
            assert_eq!(b.path(), backends[0].path(), "one shared instance");
            assert!(b.path().starts_with(tmp.path()));
        }
        let mut names: Vec<&str> = backends.iter().map(RocksDbBackend::column_family).collect();
        names.sort();
        assert_eq!(names, ["count", "sum", "sum#1"]);
        drop(backends);
        assert!(files(tmp.path()).is_empty(), "the last backend removes the instance");
        // The next backend starts a new, empty instance.
        let b = open(&opener, "sum");
        assert_eq!(b.get(at, &0u32.to_be_bytes()).unwrap(), None);
        assert_eq!(b.column_family(), "sum");
    }

    #[test]
    fn a_keyed_state_store_on_rocksdb() {
        let tmp = tempfile::tempdir().unwrap();
        let mut states = StateRegistry::new();
        let count = states.value::<u64>("count");
        let seen = states.map::<String, u32>("seen");
        let log = states.list::<String>("log");
        let config = StateBackendConfig::rocksdb(tmp.path());
        let mut store = KeyedStateStore::<String>::new(states, 8, &config, "op").unwrap();
        for (i, user) in ["ann", "bob", "ann", "cid", "ann"].iter().enumerate() {
            let user = user.to_string();
            let mut s = store.scope(&user, user.len() % 8, 0);
            s.value(count).update_with(|| 0, |c| *c += 1);
            s.map(seen).put(format!("p{}", i % 3), i as u32);
            s.list(log).add(format!("e{i}"));
        }
        let ann = "ann".to_owned();
        let mut s = store.scope(&ann, 3, 0);
        assert_eq!(s.value(count).get(), Some(3));
        let seen_by_ann = [("p0".to_owned(), 0), ("p1".to_owned(), 4), ("p2".to_owned(), 2)];
        assert_eq!(s.map(seen).entries(), seen_by_ann);
        assert_eq!(s.list(log).get(), ["e0", "e2", "e4"]);
        let mut entries = 0;
        store.export_key_group(3, 0, &mut |_, _, _, _| entries += 1).unwrap();
        // ann, bob and cid are all in key group 3 here: 3 counts, 5 map entries (ann's 3,
        // bob's p1, cid's p0) and 3 lists.
        assert_eq!(entries, 3 + 5 + 3);
    }

    /// A xorshift generator: incompressible bytes, so the state is as large on disk.
    fn noise(seed: u64, out: &mut [u8]) {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        for chunk in out.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
    }

    #[test]
    fn state_far_larger_than_the_memory_caches_reads_back() {
        const VALUE: usize = 4096;
        const ENTRIES: u32 = 13_000; // 53 MB, 50 times the cache and the write buffer
        const KEY_GROUPS: u32 = 32;
        let tmp = tempfile::tempdir().unwrap();
        let small = RocksDbOptions::default()
            .block_cache_bytes(1 << 20)
            .write_buffer_bytes(1 << 20);
        let config = StateBackendConfig::rocksdb_with(tmp.path(), small);
        let mut b = backend(&config, "big", KEY_GROUPS as usize);
        let key = |i: u32| i.to_be_bytes();
        fn at(i: u32, key: &[u8; 4]) -> KeyAddr<'_> {
            KeyAddr {
                state: i % 3,
                key_group: i % KEY_GROUPS,
                key,
            }
        }
        let mut value = vec![0u8; VALUE];
        for i in 0..ENTRIES {
            noise(u64::from(i), &mut value);
            b.put(at(i, &key(i)), b"", &value).unwrap();
        }
        let on_disk: u64 = files(tmp.path())
            .iter()
            .filter(|(p, _)| p.extension().is_some_and(|e| e == "sst"))
            .map(|(_, n)| n)
            .sum();
        assert!(
            on_disk > 40 << 20,
            "the state is on disk, not in memory: {on_disk} bytes"
        );
        // Read everything back in another order than written, then a stride, so reads miss
        // the cache.
        let mut expected = vec![0u8; VALUE];
        for i in (0..ENTRIES).rev().chain((0..ENTRIES).step_by(7)) {
            noise(u64::from(i), &mut expected);
            let got = b.get(at(i, &key(i)), b"").unwrap().expect("written");
            assert!(got == expected, "entry {i} reads back");
        }
        let (mut n, mut bytes) = (0, 0);
        b.export_key_group(5, &mut |_, _, _, v| {
            n += 1;
            bytes += v.len();
        })
        .unwrap();
        let in_group = (0..ENTRIES).filter(|i| i % KEY_GROUPS == 5).count();
        assert_eq!((n, bytes), (in_group, in_group * VALUE));
    }
}
