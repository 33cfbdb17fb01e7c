//! Reading a whole table: parallel scan segments, paced to a rate of items per second shared by
//! every segment, so a live table is read at a known, small share of its capacity.
//!
//! Each segment asks for pages of at most `page` items and, before it hands a page on, takes
//! as many items as the page holds from the [`Pacer`], whose clock lets item `k` go no earlier
//! than `k / rate` seconds after the first. A page is handed to the caller before the next one
//! is asked for, so what the caller writes is paced with what is read: after a first page per
//! segment, the table is read at `rate` items a second.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use futures_util::future::try_join_all;
use noteapp_runtime::store::dynamodb::Item;

use crate::aws::aws_error;
use crate::error::Error;
use crate::progress::Progress;

/// Items per second, shared by every caller.
#[derive(Debug)]
pub struct Pacer {
    per_item: Duration,
    next: Mutex<Option<tokio::time::Instant>>,
}

impl Pacer {
    /// A pacer letting `rate` items through a second (`0`: no limit).
    pub fn new(rate: u32) -> Self {
        let per_item = match rate {
            0 => Duration::ZERO,
            rate => Duration::from_secs(1) / rate,
        };
        Self {
            per_item,
            next: Mutex::new(None),
        }
    }

    /// Waits until `items` more may go.
    pub async fn take(&self, items: usize) {
        if self.per_item.is_zero() {
            return;
        }
        let start = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = tokio::time::Instant::now();
            let start = next.map_or(now, |at| at.max(now));
            *next = Some(start + self.per_item * items as u32);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// How a table is read.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// Parallel scan segments of the table (`paced` makes it at least 1).
    pub segments: u32,
    /// Items a page at most.
    pub page: i32,
}

impl ScanOptions {
    /// Pages small enough that the pace is smooth: about half a second of `rate` per segment,
    /// from 1 to 100 items.
    pub fn paced(segments: u32, rate: u32) -> Self {
        let segments = segments.max(1);
        let page = match rate {
            0 => 100,
            rate => (rate / (2 * segments)).clamp(1, 100),
        };
        Self {
            segments,
            page: page as i32,
        }
    }
}

/// Counts what a pass handled and shows it on stderr, at most once a second.
pub struct Ticker<'a> {
    progress: &'a Progress,
    what: String,
    of: Option<u64>,
    started: Instant,
    done: AtomicU64,
    shown: Mutex<Option<Instant>>,
}

impl<'a> Ticker<'a> {
    /// A ticker that shows `what` (e.g. `copying notes`) on `progress`, out of about `of` items
    /// when an estimate is known (`None`: no total shown); its clock starts now.
    pub fn new(progress: &'a Progress, what: impl Into<String>, of: Option<u64>) -> Self {
        Self {
            progress,
            what: what.into(),
            of,
            started: Instant::now(),
            done: AtomicU64::new(0),
            shown: Mutex::new(None),
        }
    }

    /// `items` more handled.
    pub fn add(&self, items: u64) {
        let done = self.done.fetch_add(items, Ordering::Relaxed) + items;
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        if shown.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
            return;
        }
        *shown = Some(Instant::now());
        drop(shown);
        self.show(done, "");
    }

    fn show(&self, done: u64, end: &str) {
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        let of = self
            .of
            .map(|of| format!(" of about {of}"))
            .unwrap_or_default();
        self.progress.status(format!(
            "{}: {done}{of} items ({rate:.0}/s){end}",
            self.what
        ));
    }

    /// Shows the last count; returns the items handled and the seconds since the start.
    pub fn finish(&self) -> (u64, f64) {
        let done = self.done.load(Ordering::Relaxed);
        self.show(done, ", done");
        (done, self.started.elapsed().as_secs_f64())
    }
}

/// Scans `table` in `options.segments` parallel segments paced by `pacer`, handing each page
/// to `each` (the pages of one segment in order, segments concurrently).
pub async fn scan<F, Fut>(
    client: &Client,
    table: &str,
    options: ScanOptions,
    pacer: &Pacer,
    each: F,
) -> Result<(), Error>
where
    F: Fn(Vec<Item>) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let each = &each;
    let segments = (0..options.segments).map(|segment| async move {
        let mut start: Option<Item> = None;
        loop {
            let out = client
                .scan()
                .table_name(table)
                .segment(segment as i32)
                .total_segments(options.segments as i32)
                .limit(options.page)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| aws_error(format!("failed to scan table {table}"), &e))?;
            let last = out.last_evaluated_key.filter(|k| !k.is_empty());
            let items = out.items.unwrap_or_default();
            pacer.take(items.len()).await;
            each(items).await?;
            match last {
                Some(key) => start = Some(key),
                None => return Ok::<(), Error>(()),
            }
        }
    });
    try_join_all(segments).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_take_about_half_a_second_of_the_rate_per_segment() {
        assert_eq!(ScanOptions::paced(4, 500).page, 62);
        assert_eq!(ScanOptions::paced(4, 4).page, 1);
        assert_eq!(ScanOptions::paced(1, 100_000).page, 100);
        assert_eq!(ScanOptions::paced(0, 0).segments, 1);
    }

    #[tokio::test]
    async fn the_pacer_lets_rate_items_through_a_second() {
        let pacer = Pacer::new(1000);
        let start = Instant::now();
        for _ in 0..10 {
            pacer.take(20).await;
        }
        // 200 items at 1,000/s: the last batch starts after 180 items, 0.18 s in.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(175) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
        let unpaced = Pacer::new(0);
        unpaced.take(1_000_000).await;
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
