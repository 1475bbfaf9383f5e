//! Stored time: UTC microseconds since the Unix epoch in a BIGINT, on both backends, so
//! comparisons and ranges are plain integer comparisons.

use chrono::{DateTime, Utc};

pub(crate) fn to_us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_us(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}
