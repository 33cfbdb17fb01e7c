//! The canary's time: the system's, or a virtual one in which every sleep returns at once and
//! moves the clock forward by its length (real time still passes for everything else), so a
//! five-minute canary runs in milliseconds in a test or a benchmark and the figures it gives
//! (when the alarm turned, when the weights were back) are still its own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

/// A clock; cheap to clone, every clone the same clock.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// The sleeps skipped so far (`None`: the system's clock, sleeps are slept).
    skipped: Option<Arc<Mutex<Duration>>>,
}

impl Clock {
    /// The system's clock: sleeps are slept.
    pub fn system() -> Self {
        Self::default()
    }

    /// A virtual clock: real time plus every sleep skipped.
    pub fn skipping() -> Self {
        Self {
            skipped: Some(Arc::default()),
        }
    }

    fn offset(&self) -> Duration {
        self.skipped
            .as_ref()
            .map_or(Duration::ZERO, |s| *s.lock().expect("clock"))
    }

    /// Now, in UTC.
    pub fn now(&self) -> DateTime<Utc> {
        let offset = chrono::Duration::from_std(self.offset()).unwrap_or_default();
        Utc::now() + offset
    }

    /// Now, as a [`SystemTime`] (for a stand-in that stamps what it answers).
    pub fn system_time(&self) -> SystemTime {
        SystemTime::now() + self.offset()
    }

    /// Waits `duration`, or moves a virtual clock forward by it.
    pub async fn sleep(&self, duration: Duration) {
        match &self.skipped {
            None => tokio::time::sleep(duration).await,
            Some(skipped) => {
                *skipped.lock().expect("clock") += duration;
                tokio::task::yield_now().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_skipping_clock_moves_by_each_sleep_at_once() {
        let clock = Clock::skipping();
        let (before, started) = (clock.now(), std::time::Instant::now());
        clock.sleep(Duration::from_secs(300)).await;
        let moved = clock.now() - before;
        assert!(moved >= chrono::Duration::seconds(300), "{moved}");
        assert!(started.elapsed() < Duration::from_secs(1));
        let copy = clock.clone();
        copy.sleep(Duration::from_secs(60)).await;
        assert!(clock.now() - before >= chrono::Duration::seconds(360));
    }
}
