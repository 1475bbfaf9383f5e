//! Adaptive security: every sign-in attempt scored by explainable signals under the
//! organisation's policy. This module owns the policy document (`policy`: weights, switches,
//! thresholds, limits, enforce or audit-only), the signals themselves (`signals`: pure
//! functions from an attempt and its recorded history to evidence in words), and where an
//! address is (`geo`: MaxMind-format GeoIP databases the operator configures, the /24 or /48
//! network of an address). The engine keeps the GeoIP databases it was given; a database
//! that does not load is refused and the one in use stays.

pub(crate) mod assess;
pub mod blocks;
pub mod geo;
pub(crate) mod notices;
pub mod overview;
pub mod policy;
pub mod replay;
pub mod review;
pub mod signals;
pub mod throttle;

use crate::Engine;
use crate::error::Result;
use std::path::Path;
use std::sync::Arc;

impl Engine {
    /// Use these GeoIP databases from now on (the operator's configuration). A file that is
    /// missing or not a MaxMind database is refused with its name, and the databases in use
    /// (if any) stay.
    pub fn load_geoip(&self, paths: &[&Path]) -> Result<()> {
        let db = geo::GeoIp::open(paths)?;
        *self
            .geoip
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(db));
        Ok(())
    }

    /// The GeoIP databases in use, if any.
    pub fn geoip(&self) -> Option<Arc<geo::GeoIp>> {
        self.geoip
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The queries that look attempts up by address, IP, network or user agent use the partial
/// indexes that leave blank (erased) values out: a query the planner cannot match to its
/// index would scan millions of rows on every sign-in.
#[cfg(test)]
mod plans {
    use crate::storage::Store;

    async fn plan(store: &Store, sql: &str, params: usize) -> String {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(explain));
        for _ in 0..params {
            q = q.bind("x");
        }
        let rows = q.fetch_all(store.reader()).await.unwrap();
        rows.iter()
            .map(|r| sqlx::Row::try_get::<String, _>(r, 3).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn attempt_lookups_use_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.vault"), &[7; 32], true)
            .await
            .unwrap();
        let cases: Vec<(String, usize, &[&str])> = vec![
            (
                super::assess::scoring_sql(true),
                10,
                &[
                    "attempts_failed_ip",
                    "attempts_failed_network",
                    "attempts_failed_agent",
                    "attempts_failed_asn",
                    "attempts_success",
                    "attempts_email",
                ],
            ),
            (
                super::throttle::source_failures_sql(),
                3,
                &["attempts_failed_ip", "attempts_failed_network"],
            ),
            (
                super::throttle::FAMILIAR_FAILURES_SQL.to_owned(),
                3,
                &["attempts_email"],
            ),
            (
                super::throttle::UNFAMILIAR_FAILURES_SQL.to_owned(),
                2,
                &["attempts_email"],
            ),
            (super::review::wave_sql("ip"), 1, &["attempts_review_ip"]),
            (
                super::review::wave_sql("network"),
                1,
                &["attempts_review_network"],
            ),
        ];
        for (sql, params, indexes) in cases {
            let p = plan(&store, &sql, params).await;
            assert!(
                !p.contains("SCAN a\n") && !p.contains("SCAN sign_in_attempts"),
                "{p}"
            );
            for index in indexes {
                assert!(
                    p.contains(&format!("USING INDEX {index} "))
                        || p.contains(&format!("USING COVERING INDEX {index} ")),
                    "{index} not used:\n{p}"
                );
            }
        }
        // Closed before the process ends (an open SQLCipher store races its exit handler).
        store.close().await;
    }
}
