//! A platform account's request budget: a rolling window (HubSpot 100
//! requests per 10 s, Pipedrive 20–480 per 2 s), pauses when the vendor
//! says so (429 and friends, `Retry-After`, remaining = 0 in its headers).
//!
//! A sliding log rather than a token bucket (`governor`): vendors count
//! requests in a rolling window, and a bucket refilling at N per window with
//! a burst of N lets 2N through in one window, which is exactly what gets an
//! account throttled.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub struct Limiter {
    max: usize,
    window: Duration,
    inner: Mutex<Inner>,
}

struct Inner {
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

impl Limiter {
    /// At most `max` requests in any `window` (`max` 0 = unlimited). The
    /// window is kept 1 % longer than the vendor's: it counts a request when
    /// it arrives, a little after we sent it.
    pub fn new(max: usize, window: Duration) -> Limiter {
        let window = window + window / 100;
        Limiter { max, window, inner: Mutex::new(Inner { sent: VecDeque::with_capacity(max), paused_until: None }) }
    }

    /// Waits until a request may go, and counts it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                match inner.paused_until {
                    Some(until) if until > now => Some(until - now),
                    _ => {
                        inner.paused_until = None;
                        while inner.sent.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                            inner.sent.pop_front();
                        }
                        if self.max == 0 || inner.sent.len() < self.max {
                            if self.max > 0 {
                                inner.sent.push_back(now);
                            }
                            None
                        } else {
                            inner.sent.front().map(|oldest| self.window - now.duration_since(*oldest))
                        }
                    }
                }
            };
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d.max(Duration::from_millis(1))).await,
            }
        }
    }

    /// No request goes for `d` (a throttle answer, `Retry-After`).
    pub fn pause(&self, d: Duration) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let until = Instant::now() + d;
        inner.paused_until = Some(inner.paused_until.map_or(until, |u| u.max(until)));
    }

    /// The vendor's own count: none left means wait for its reset — unless
    /// our own log is full too, then it already holds the next request back
    /// exactly until the oldest one leaves the window (a pause of a whole
    /// window from now would waste most of one).
    pub fn observe(&self, remaining: Option<u64>, reset: Option<Duration>) {
        if remaining != Some(0) {
            return;
        }
        let full = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            while inner.sent.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                inner.sent.pop_front();
            }
            self.max > 0 && inner.sent.len() >= self.max
        };
        if !full {
            self.pause(reset.unwrap_or(self.window));
        }
    }

    /// When the limiter lets the next request through (for status reports).
    pub fn paused_for(&self) -> Option<Duration> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.paused_until.and_then(|u| u.checked_duration_since(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_max_in_any_window() {
        let limiter = Limiter::new(3, Duration::from_secs(10));
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..7 {
            limiter.acquire().await;
            at.push(start.elapsed().as_secs());
        }
        assert_eq!(at, vec![0, 0, 0, 10, 10, 10, 20], "each window 1 % longer: 10.1 s, 20.2 s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request_and_the_vendors_count_pauses_too() {
        let limiter = Limiter::new(0, Duration::from_secs(2));
        limiter.pause(Duration::from_secs(5));
        let start = Instant::now();
        limiter.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 5);
        limiter.observe(Some(0), Some(Duration::from_secs(3)));
        limiter.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 8);
        limiter.observe(Some(4), None);
        limiter.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 8);
    }

    #[tokio::test(start_paused = true)]
    async fn none_left_with_our_own_log_full_waits_only_for_the_oldest_to_leave() {
        let limiter = Limiter::new(2, Duration::from_secs(10));
        let start = Instant::now();
        limiter.acquire().await;
        tokio::time::sleep(Duration::from_secs(4)).await;
        limiter.acquire().await;
        limiter.observe(Some(0), Some(Duration::from_secs(10)));
        limiter.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 10, "not 14: the first request leaves the window at 10.1 s");
    }
}
