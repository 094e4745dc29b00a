//! Round-trip histograms (HDR: 1 µs to 100 s, 3 significant digits) and the
//! percentiles reported from them.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latency percentiles, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Samples.
    pub count: u64,
}

/// A round-trip histogram: 1 µs to 100 s, 3 significant digits. Values outside are
/// clamped into it.
#[derive(Clone)]
pub struct Rtt(Histogram<u64>);

impl Rtt {
    /// An empty histogram.
    pub fn new() -> Rtt {
        Rtt(Histogram::new_with_bounds(1, 100_000_000, 3).expect("histogram bounds"))
    }

    /// Records one round trip.
    pub fn record(&mut self, rtt: Duration) {
        let us = (rtt.as_micros() as u64).clamp(1, 100_000_000);
        self.0.record(us).expect("clamped into bounds");
    }

    /// The percentiles so far.
    pub fn percentiles(&self) -> Percentiles {
        Percentiles {
            p50_us: self.0.value_at_quantile(0.50),
            p99_us: self.0.value_at_quantile(0.99),
            p999_us: self.0.value_at_quantile(0.999),
            max_us: self.0.max(),
            count: self.0.len(),
        }
    }

    /// The value at quantile `q` (0.0 to 1.0), µs; 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        self.0.value_at_quantile(q)
    }

    /// The smallest value recorded, µs; 0 when empty.
    pub fn min_us(&self) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.min()
        }
    }

    /// The mean, µs; 0 when empty.
    pub fn mean_us(&self) -> f64 {
        self.0.mean()
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }
}

impl Default for Rtt {
    fn default() -> Rtt {
        Rtt::new()
    }
}

impl std::fmt::Debug for Rtt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Rtt").field(&self.percentiles()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut rtt = Rtt::new();
        assert_eq!((rtt.min_us(), rtt.count()), (0, 0));
        for ms in 1..=100 {
            rtt.record(Duration::from_millis(ms));
        }
        let p = rtt.percentiles();
        assert_eq!(p.count, 100);
        assert!((49_900..=50_100).contains(&p.p50_us), "{p:?}");
        assert!((98_900..=99_100).contains(&p.p99_us), "{p:?}");
        assert!((99_900..=100_100).contains(&p.max_us), "{p:?}");
        assert!((999..=1001).contains(&rtt.min_us()));
        // Out of range values are clamped, not lost.
        rtt.record(Duration::ZERO);
        rtt.record(Duration::from_secs(1000));
        assert_eq!(rtt.count(), 102);
    }
}
