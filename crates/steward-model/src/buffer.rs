//! Tiered ring buffers of cumulative counts: every window is a difference of two slots.
//!
//! A [`Tier`] keeps, for each bucket of `resolution` seconds, the cumulative counts of every
//! event that happened before the end of that bucket. The counts of the last `n` buckets are
//! `cum[i] - cum[i - n]`: constant time, whatever the window length.
//!
//! [`SliBuffer`] holds four tiers, fine for short windows and coarse for long ones:
//!
//! | tier | resolution | span kept | windows served |
//! |------|-----------:|----------:|----------------|
//! | 0    | 5 s        | 1 h 5 m   | 5m, 30m, 1h    |
//! | 1    | 1 min      | 6 h 5 m   | 2h, 6h         |
//! | 2    | 10 min     | 3 d 10 m  | 1d, 3d         |
//! | 3    | 1 h        | SLO window + 2 h | the rolling SLO window |
//!
//! A window of length `W` served at resolution `r` covers the `W / r` buckets ending with the
//! bucket that holds `now`: it starts between `now - W` and `now - W + r`. So at most the first
//! `r` seconds of a window can be left out; for a 5m window that is 5 s (1.7 % of its span), for
//! 1h 0.14 %, for 2h 0.83 %, for 6h 0.28 %, for 1d 0.69 %, for 3d 0.23 %, for 30d 0.14 %.
//! A burn rate is a ratio, so with steady traffic the error is nil; the largest error it can
//! take is the share of the window's events that fell into those left-out seconds.

use crate::counts::Counts;
use crate::duration::Duration;

/// How far in the future a sample may be stamped (clock skew between senders and Steward).
pub const MAX_FUTURE: Duration = Duration::minutes(5);

/// The most windows one tier keeps running sums for.
const MAX_TRACKED: usize = 3;

/// How far the evaluator's clock may trail ingest's while every window stays whole: a ring
/// keeps [`MAX_FUTURE`] plus this beyond its longest window, so a sample at the future limit,
/// taken just after an evaluation, overwrites nothing the next evaluation reads.
const EVALUATOR_LAG: i64 = 5;

/// Buckets a ring keeps ahead of the window that ends now.
fn headroom(resolution: i64) -> i64 {
    div_ceil(MAX_FUTURE.secs() + EVALUATOR_LAG, resolution)
}

/// One ring of cumulative counts at a fixed resolution.
#[derive(Clone, Debug)]
pub struct Tier {
    resolution: i64,
    /// `ring[k % len]` = cumulative counts of all events before the end of bucket `k`,
    /// for `k` in `(head - len, head]`.
    ring: Box<[Counts]>,
    head: i64,
    /// Running sums of the tracked windows (in buckets) as of bucket `at`. Moving them one
    /// bucket reads the bucket that enters and the ones that leave, so an evaluation touches
    /// these few hot words instead of two scattered ring slots per window.
    tracked: [(i64, Counts); MAX_TRACKED],
    tracked_len: usize,
    at: i64,
}

impl Tier {
    /// A tier that can answer windows of up to `max_window` ending at any time up to
    /// [`MAX_FUTURE`] before its newest sample.
    pub fn new(resolution: Duration, max_window: Duration, now: i64) -> Tier {
        let res = resolution.secs();
        assert!(res > 0, "tier resolution must be positive");
        let buckets = div_ceil(max_window.secs(), res) + headroom(res) + 1;
        Tier {
            resolution: res,
            ring: vec![Counts::ZERO; buckets as usize].into_boxed_slice(),
            head: now.div_euclid(res),
            tracked: [(0, Counts::ZERO); MAX_TRACKED],
            tracked_len: 0,
            at: now.div_euclid(res),
        }
    }

    /// Keeps a running sum for `window`, so that [`Tier::window`] at the time of the last
    /// [`Tier::advance_sums`] costs nothing.
    pub fn track(&mut self, window: Duration) {
        let n = div_ceil(window.secs(), self.resolution);
        if self.tracked_len < MAX_TRACKED
            && !self.tracked[..self.tracked_len].iter().any(|t| t.0 == n)
        {
            let sum = self.cum_at(self.at) - self.cum_at(self.at - n);
            self.tracked[self.tracked_len] = (n, sum);
            self.tracked_len += 1;
        }
    }

    /// Moves the running sums to the bucket holding `now`.
    pub fn advance_sums(&mut self, now: i64) {
        self.advance_sums_to(now.div_euclid(self.resolution));
    }

    /// Moves the running sums to end with bucket `i`. Every bucket it reads (down to
    /// `at − n` for the longest tracked window `n`) is still in the ring: [`Tier::advance`]
    /// moves the sums along before it overwrites one of them.
    fn advance_sums_to(&mut self, i: i64) {
        if i <= self.at {
            return;
        }
        if i - self.at > 8 {
            // A long quiet gap (or the first evaluation): recomputing is cheaper than walking.
            for k in 0..self.tracked_len {
                let n = self.tracked[k].0;
                self.tracked[k].1 = self.cum_at(i) - self.cum_at(i - n);
            }
        } else {
            for b in self.at + 1..=i {
                let entering = self.cum_at(b) - self.cum_at(b - 1);
                for k in 0..self.tracked_len {
                    let n = self.tracked[k].0;
                    let leaving = self.cum_at(b - n) - self.cum_at(b - n - 1);
                    self.tracked[k].1 = self.tracked[k].1 + entering - leaving;
                }
            }
        }
        self.at = i;
    }

    pub fn resolution(&self) -> i64 {
        self.resolution
    }

    fn len(&self) -> i64 {
        self.ring.len() as i64
    }

    fn slot(&self, bucket: i64) -> usize {
        bucket.rem_euclid(self.len()) as usize
    }

    /// Moves the head forward to `bucket`, carrying the cumulative counts.
    fn advance(&mut self, bucket: i64) {
        if bucket <= self.head {
            return;
        }
        // The new head overwrites the buckets up to `bucket − len`. The running sums still
        // need the bucket before their oldest one, so they move first if they would lose it.
        let longest = self.tracked[..self.tracked_len]
            .iter()
            .map(|t| t.0)
            .max()
            .unwrap_or(0);
        let needs = bucket - self.len() + 1 + longest;
        if self.tracked_len > 0 && self.at < needs {
            self.advance_sums_to(needs);
        }
        let carry = self.ring[self.slot(self.head)];
        let from = (self.head + 1).max(bucket - self.len() + 1);
        for k in from..=bucket {
            let s = self.slot(k);
            self.ring[s] = carry;
        }
        self.head = bucket;
    }

    /// Adds counts at time `t` (unix seconds). Late samples update every later slot, so they
    /// cost O(lateness / resolution); samples older than the ring update the whole ring.
    pub fn add(&mut self, t: i64, c: Counts) {
        let bucket = t.div_euclid(self.resolution);
        self.advance(bucket);
        let from = bucket.max(self.head - self.len() + 1);
        for k in from..=self.head {
            let s = self.slot(k);
            self.ring[s] += c;
        }
        // A sample in a bucket the running sums have passed already counts in every tracked
        // window that still holds that bucket; later buckets are read when the sums advance.
        if bucket <= self.at {
            for k in 0..self.tracked_len {
                if bucket > self.at - self.tracked[k].0 {
                    self.tracked[k].1 += c;
                }
            }
        }
    }

    /// Cumulative counts of all events before the end of `bucket`.
    fn cum_at(&self, bucket: i64) -> Counts {
        let oldest = self.head - self.len() + 1;
        self.ring[self.slot(bucket.clamp(oldest, self.head))]
    }

    /// Counts of the `window` ending with the bucket that holds `now`.
    pub fn window(&self, now: i64, window: Duration) -> Counts {
        let i = now.div_euclid(self.resolution);
        let n = div_ceil(window.secs(), self.resolution);
        if i == self.at {
            if let Some((_, sum)) = self.tracked[..self.tracked_len].iter().find(|t| t.0 == n) {
                return *sum;
            }
        }
        self.cum_at(i) - self.cum_at(i - n)
    }

    /// Counts between the start of the bucket holding `from` and the end of the bucket holding
    /// `to` (both inclusive).
    pub fn range(&self, from: i64, to: i64) -> Counts {
        self.cum_at(to.div_euclid(self.resolution))
            - self.cum_at(from.div_euclid(self.resolution) - 1)
    }

    /// Bytes held by the ring.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.ring)
    }
}

fn div_ceil(a: i64, b: i64) -> i64 {
    (a + b - 1).div_euclid(b)
}

/// The four tiers of one SLO, able to answer every burn window and the rolling SLO window.
#[derive(Clone, Debug)]
pub struct SliBuffer {
    tiers: [Tier; 4],
}

/// (resolution, longest window served) of the three fixed tiers; the fourth serves the SLO
/// window at one hour.
const FIXED_TIERS: [(Duration, Duration); 3] = [
    (Duration::from_secs(5), Duration::hours(1)),
    (Duration::minutes(1), Duration::hours(6)),
    (Duration::minutes(10), Duration::days(3)),
];
const COARSE_RESOLUTION: Duration = Duration::hours(1);

impl SliBuffer {
    /// `long_span` is the longest span the coarse tier must answer (the rolling window, or the
    /// history shown for a calendar window).
    pub fn new(long_span: Duration, now: i64) -> SliBuffer {
        let [a, b, c] = FIXED_TIERS.map(|(res, span)| Tier::new(res, span, now));
        let coarse_span = Duration::from_secs(long_span.secs() + COARSE_RESOLUTION.secs());
        SliBuffer {
            tiers: [a, b, c, Tier::new(COARSE_RESOLUTION, coarse_span, now)],
        }
    }

    pub fn add(&mut self, t: i64, c: Counts) {
        for tier in &mut self.tiers {
            tier.add(t, c);
        }
    }

    /// Adds stored history while rebuilding at `now`. A tier skips what is older than any of
    /// its windows can reach, now or later: such a row would raise every cumulative slot
    /// alike and change no difference, and skipping it spares moving the ring over weeks.
    pub fn add_history(&mut self, t: i64, c: Counts, now: i64) {
        for tier in &mut self.tiers {
            let reach = span_of(tier) / tier.resolution;
            if t.div_euclid(tier.resolution) >= now.div_euclid(tier.resolution) - reach {
                tier.add(t, c);
            }
        }
    }

    /// Keeps a running sum for `window` in the tier that serves it.
    pub fn track(&mut self, window: Duration) {
        let i = self.tier_index(window);
        self.tiers[i].track(window);
    }

    /// Moves every running window sum to `now`.
    pub fn advance_sums(&mut self, now: i64) {
        for tier in &mut self.tiers {
            tier.advance_sums(now);
        }
    }

    /// The finest tier that keeps the whole window.
    fn tier_index(&self, window: Duration) -> usize {
        self.tiers
            .iter()
            .position(|t| window.secs() <= span_of(t))
            .unwrap_or(3)
    }

    fn tier_for(&self, window: Duration) -> &Tier {
        &self.tiers[self.tier_index(window)]
    }

    pub fn window(&self, now: i64, window: Duration) -> Counts {
        self.tier_for(window).window(now, window)
    }

    /// Counts from `from` to `to` (both inclusive, at the resolution of the finest tier that
    /// still holds `from`).
    pub fn between(&self, from: i64, to: i64) -> Counts {
        let keeps = |tier: &&Tier| from.div_euclid(tier.resolution) - 1 > tier.head - tier.len();
        let tier = self.tiers.iter().find(keeps).unwrap_or(&self.tiers[3]);
        tier.range(from, to)
    }

    /// The coarse (hourly) tier, for charts over the SLO window.
    pub fn coarse(&self) -> &Tier {
        &self.tiers[3]
    }

    pub fn heap_bytes(&self) -> usize {
        self.tiers.iter().map(Tier::heap_bytes).sum()
    }
}

/// The longest window a tier can answer.
fn span_of(t: &Tier) -> i64 {
    (t.len() - 1 - headroom(t.resolution)) * t.resolution
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A multiple of every tier resolution, so bucket edges are easy to reason about.
    const T0: i64 = 1_699_999_200;

    fn c(g: u64, t: u64) -> Counts {
        Counts::new(g, t)
    }

    #[test]
    fn window_is_the_sum_of_its_buckets() {
        let mut tier = Tier::new(Duration::from_secs(5), Duration::hours(1), T0);
        for i in 0..100 {
            tier.add(T0 + i * 5, c(9, 10));
        }
        let now = T0 + 99 * 5;
        assert_eq!(tier.window(now, Duration::minutes(5)), c(540, 600));
        assert_eq!(tier.window(now, Duration::hours(1)), c(900, 1000));
    }

    #[test]
    fn empty_window_is_zero_and_quiet_time_moves_the_window() {
        let mut tier = Tier::new(Duration::from_secs(5), Duration::hours(1), T0);
        assert_eq!(tier.window(T0, Duration::minutes(5)), Counts::ZERO);
        tier.add(T0, c(1, 2));
        assert_eq!(tier.window(T0 + 299, Duration::minutes(5)), c(1, 2));
        // The bucket holding T0 leaves the 5m window once `now` is 60 buckets later.
        assert_eq!(tier.window(T0 + 300, Duration::minutes(5)), Counts::ZERO);
    }

    #[test]
    fn late_sample_lands_in_its_own_bucket() {
        let mut tier = Tier::new(Duration::from_secs(5), Duration::hours(1), T0);
        tier.add(T0 + 1000, c(1, 1));
        tier.add(T0 + 400, c(0, 1)); // 600 s late
        assert_eq!(tier.window(T0 + 1000, Duration::minutes(5)), c(1, 1));
        assert_eq!(tier.window(T0 + 1000, Duration::minutes(30)), c(1, 2));
        assert_eq!(tier.window(T0 + 699, Duration::minutes(5)), c(0, 1));
        // At T0 + 700 the bucket [T0 + 400, T0 + 405) is the one left out at the window start.
        assert_eq!(tier.window(T0 + 700, Duration::minutes(5)), Counts::ZERO);
    }

    #[test]
    fn sample_older_than_the_ring_counts_in_no_window_it_keeps() {
        let mut tier = Tier::new(Duration::from_secs(5), Duration::hours(1), T0);
        tier.add(T0 + 10_000, c(1, 1));
        tier.add(T0, c(0, 5));
        assert_eq!(tier.window(T0 + 10_000, Duration::hours(1)), c(1, 1));
    }

    #[test]
    fn long_gap_resets_the_ring_without_looping_over_the_gap() {
        let mut tier = Tier::new(Duration::from_secs(5), Duration::hours(1), T0);
        tier.add(T0, c(1, 1));
        tier.add(T0 + 86_400 * 365, c(0, 1));
        assert_eq!(tier.window(T0 + 86_400 * 365, Duration::hours(1)), c(0, 1));
    }

    #[test]
    fn future_samples_are_not_in_windows_ending_before_them() {
        let mut tier = Tier::new(Duration::from_secs(5), Duration::hours(1), T0);
        tier.add(T0, c(1, 1));
        tier.add(T0 + 240, c(0, 1)); // 4 minutes ahead of `now`
        assert_eq!(tier.window(T0 + 10, Duration::minutes(5)), c(1, 1));
        assert_eq!(tier.window(T0 + 3599, Duration::hours(1)), c(1, 2));
    }

    #[test]
    fn buffer_picks_the_finest_tier_that_keeps_the_window() {
        let mut b = SliBuffer::new(Duration::days(30), T0);
        b.add(T0 - 86_400 * 29, c(0, 1));
        b.add(T0 - 86_400 * 2, c(0, 1));
        b.add(T0 - 3600 * 5, c(0, 1));
        b.add(T0 - 60 * 20, c(0, 1));
        b.add(T0, c(1, 1));
        assert_eq!(b.window(T0, Duration::minutes(5)), c(1, 1));
        assert_eq!(b.window(T0, Duration::hours(1)), c(1, 2));
        assert_eq!(b.window(T0, Duration::hours(6)), c(1, 3));
        assert_eq!(b.window(T0, Duration::days(3)), c(1, 4));
        assert_eq!(b.window(T0, Duration::days(30)), c(1, 5));
    }

    #[test]
    fn running_sums_equal_direct_differences_with_late_and_future_samples() {
        let windows: Vec<Duration> = crate::BURN_WINDOWS
            .into_iter()
            .chain([Duration::days(30)])
            .collect();
        let mut tracked = SliBuffer::new(Duration::days(30), T0);
        for &w in &windows {
            tracked.track(w);
        }
        let mut plain = SliBuffer::new(Duration::days(30), T0);
        let mut x: u64 = 7;
        let mut now = T0;
        for step in 0..20_000 {
            // Mostly current samples, some late (up to 2 days), some ahead (up to 4 minutes).
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let offset = match x >> 60 {
                0 => -((x >> 20) as i64 % 172_800),
                1 => (x >> 20) as i64 % 240,
                _ => 0,
            };
            let c = Counts::new((x >> 8) % 5, 5);
            tracked.add(now + offset, c);
            plain.add(now + offset, c);
            now += if step % 100 == 0 {
                4000
            } else {
                (x >> 40) as i64 % 7
            };
            tracked.advance_sums(now);
            for &w in &windows {
                assert_eq!(
                    tracked.window(now, w),
                    plain.window(now, w),
                    "{w} at step {step}"
                );
            }
        }
    }

    /// Problem 3 of the spine issue: a sample at the future limit, taken a bucket after the
    /// evaluator's last tick, moved the ring's head so far that the bucket leaving the 1h
    /// window had been overwritten, and the running sum never subtracted it again.
    #[test]
    fn running_sums_stay_exact_after_a_sample_at_the_future_limit() {
        let mut b = SliBuffer::new(Duration::days(30), T0);
        for w in crate::BURN_WINDOWS {
            b.track(w);
        }
        // Two hours of one bucket each 5 s, evaluated as they come.
        let mut now = T0;
        for _ in 0..1440 {
            b.advance_sums(now);
            b.add(now, c(1, 2));
            now += 5;
        }
        // Ingest runs a bucket ahead of the evaluator and takes a sample 5 minutes ahead.
        b.add(now + 5 + MAX_FUTURE.secs(), c(7, 7));
        // Until that sample's own bucket comes, the windows hold exactly the steady buckets.
        for _ in 0..60 {
            b.add(now, c(1, 2));
            b.advance_sums(now);
            assert_eq!(
                b.window(now, Duration::hours(1)),
                c(720, 1440),
                "at {}",
                now - T0
            );
            assert_eq!(b.window(now, Duration::minutes(5)), c(60, 120));
            now += 5;
        }
    }

    #[test]
    fn thirty_day_buffer_fits_in_64_kib() {
        let b = SliBuffer::new(Duration::days(30), T0);
        assert_eq!(b.heap_bytes(), (782 + 367 + 434 + 723) * 16);
        assert!(b.heap_bytes() < 64 * 1024);
    }
}
