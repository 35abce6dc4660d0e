//! What this isolate has done since it started, counted as it happens: requests, D1
//! operations (reads and writes), and the verification cache's hits and misses. Read by the
//! operator (`GET /api/auth/stats`, super token) and by `scripts/bench`, which prints the
//! storage reads per 1,000 verified requests from them rather than estimating.

use std::cell::Cell;

use serde::Serialize;

thread_local! {
    static COUNTS: Counts = const { Counts::new() };
}

struct Counts {
    started_at_ms: Cell<i64>,
    requests: Cell<u64>,
    d1_reads: Cell<u64>,
    d1_writes: Cell<u64>,
    cache_hits: Cell<u64>,
    cache_misses: Cell<u64>,
}

impl Counts {
    const fn new() -> Self {
        Self {
            started_at_ms: Cell::new(0),
            requests: Cell::new(0),
            d1_reads: Cell::new(0),
            d1_writes: Cell::new(0),
            cache_hits: Cell::new(0),
            cache_misses: Cell::new(0),
        }
    }
}

fn bump(counter: impl Fn(&Counts) -> &Cell<u64>) {
    COUNTS.with(|c| {
        let cell = counter(c);
        cell.set(cell.get().saturating_add(1));
    });
}

/// A request reached the Worker.
pub fn request(now_ms: i64) {
    COUNTS.with(|c| {
        if c.started_at_ms.get() == 0 {
            c.started_at_ms.set(now_ms);
        }
    });
    bump(|c| &c.requests);
}

/// A D1 statement that reads.
pub fn d1_read() {
    bump(|c| &c.d1_reads);
}

/// A D1 statement or batch that writes.
pub fn d1_write() {
    bump(|c| &c.d1_writes);
}

/// A credential found in the verification cache.
pub fn cache_hit() {
    bump(|c| &c.cache_hits);
}

/// A credential that had to be read from D1.
pub fn cache_miss() {
    bump(|c| &c.cache_misses);
}

/// The counts, as `GET /api/auth/stats` shows them.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    /// When this isolate answered its first request (Unix ms).
    pub started_at_ms: i64,
    pub requests: u64,
    pub d1_reads: u64,
    pub d1_writes: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
}

pub fn snapshot() -> Snapshot {
    COUNTS.with(|c| Snapshot {
        started_at_ms: c.started_at_ms.get(),
        requests: c.requests.get(),
        d1_reads: c.d1_reads.get(),
        d1_writes: c.d1_writes.get(),
        cache_hits: c.cache_hits.get(),
        cache_misses: c.cache_misses.get(),
    })
}
