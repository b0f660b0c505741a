//! Monotonic clocks for flow control: the real one ([`MonotonicClock`]) and a [`FakeClock`] for tests.
//! The scheduler and the rate limiter read time only through [`Clock`], so their tests are deterministic and never sleep.
//!
//! A time is a [`Duration`] since the clock's own origin (only differences and
//! order matter). [`MonotonicClock`] reads `tokio::time::Instant`, which is the
//! std monotonic clock (and tokio's paused clock when a test pauses time).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A monotonic time source. `now()` never goes backwards.
pub trait Clock: Send + Sync + 'static {
    /// Time elapsed since this clock's origin.
    fn now(&self) -> Duration;
}

/// The real clock (monotonic; origin = when it was created).
#[derive(Debug, Clone)]
pub struct MonotonicClock {
    origin: tokio::time::Instant,
}

impl MonotonicClock {
    pub fn new() -> Self {
        MonotonicClock { origin: tokio::time::Instant::now() }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.origin)
    }
}

/// A clock that moves only when told to. Cloning shares the same time.
#[derive(Debug, Clone, Default)]
pub struct FakeClock {
    nanos: Arc<AtomicU64>,
}

impl FakeClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }

    /// Sets the time to `to` if that is later than now (time never goes back).
    pub fn advance_to(&self, to: Duration) {
        self.nanos.fetch_max(to.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// Adapter so governor's GCRA limiters read the same [`Clock`] as the scheduler.
#[derive(Clone)]
pub struct GovernorClock(pub Arc<dyn Clock>);

impl std::fmt::Debug for GovernorClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("GovernorClock").field(&self.0.now()).finish()
    }
}

impl governor::clock::Clock for GovernorClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.0.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_moves_only_forward() {
        let c = FakeClock::new();
        assert_eq!(c.now(), Duration::ZERO);
        c.advance(Duration::from_millis(1500));
        let c2 = c.clone();
        assert_eq!(c2.now(), Duration::from_millis(1500));
        c2.advance_to(Duration::from_secs(1));
        assert_eq!(c.now(), Duration::from_millis(1500));
        c2.advance_to(Duration::from_secs(3));
        assert_eq!(c.now(), Duration::from_secs(3));
    }

    #[test]
    fn monotonic_clock_does_not_go_back() {
        let c = MonotonicClock::new();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
    }
}
