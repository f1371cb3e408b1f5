use fuseflow::pipeline;

/// A window key that cannot be serialized: fine on the heap, refused once the job names a
/// state backend (the window's state may then live in RocksDB).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Region(u8);

fn main() {
    let _job = pipeline! {
        job { name: "regions", state_backend: rocksdb }
        generate(10, |i: u64| (Region((i % 3) as u8), i as i64))
            .timestamps(|e| e.1)
            .watermarks(monotonous())
            .key_by(|e| e.0.clone())
            .window(tumbling(1s))
            .drop_late_data()
            .count()
            .sink(stdout());
    };
}
