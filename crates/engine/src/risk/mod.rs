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
