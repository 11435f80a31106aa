//! Latency percentiles (HdrHistogram, microsecond resolution).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

pub struct Latencies(Histogram<u64>);

impl Latencies {
    pub fn new() -> Self {
        Self(Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds"))
    }

    pub fn record(&mut self, d: Duration) {
        let _ = self.0.record((d.as_micros() as u64).clamp(1, 600_000_000));
    }

    pub fn merge(&mut self, other: &Latencies) {
        let _ = self.0.add(&other.0);
    }

    /// Count and p50/p95/p99/max in milliseconds.
    pub fn summary(&self) -> Value {
        let ms = |q: f64| (self.0.value_at_quantile(q) as f64 / 1000.0 * 100.0).round() / 100.0;
        json!({ "count": self.0.len(), "p50": ms(0.5), "p95": ms(0.95), "p99": ms(0.99), "max": ms(1.0) })
    }
}
