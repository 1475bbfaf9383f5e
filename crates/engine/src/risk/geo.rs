//! Where an address is: the country, coordinates and network operator (ASN) a MaxMind-format
//! `.mmdb` database gives (GeoLite2/GeoIP2 City or Country, and an ASN database; the operator
//! configures the files, read with the `maxminddb` crate), and the network prefix an address
//! belongs to (IPv4 /24, IPv6 /48) — what novelty falls back to without a database.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::Path;

/// What the databases say about one address (each part absent when unknown).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Place {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// Latitude and longitude in degrees.
    pub coordinates: Option<(f64, f64)>,
    /// Autonomous system number of the network.
    pub asn: Option<u32>,
}

#[derive(Deserialize)]
struct Record {
    country: Option<Country>,
    registered_country: Option<Country>,
    location: Option<Location>,
    /// A uint32, as MaxMind's ASN databases store it.
    autonomous_system_number: Option<u32>,
}

#[derive(Deserialize)]
struct Country {
    iso_code: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

/// One or more MaxMind-format databases, consulted in order (the first to know a part wins).
pub struct GeoIp {
    readers: Vec<maxminddb::Reader<Vec<u8>>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("databases", &self.readers.len())
            .finish()
    }
}

impl GeoIp {
    /// Read databases from files. A file that is missing or not a MaxMind database is refused
    /// with its name and what is wrong.
    pub fn open(paths: &[&Path]) -> Result<GeoIp> {
        let mut files = Vec::new();
        for p in paths {
            let bytes = std::fs::read(p).map_err(|e| {
                Error::invalid("geoip", format!("cannot read {}: {e}", p.display()))
            })?;
            files.push((p.display().to_string(), bytes));
        }
        GeoIp::from_files(files)
    }

    /// Databases already in memory, each with the name errors should give it.
    pub fn from_files(files: Vec<(String, Vec<u8>)>) -> Result<GeoIp> {
        let mut readers = Vec::new();
        for (name, bytes) in files {
            let reader = maxminddb::Reader::from_source(bytes).map_err(|e| {
                Error::invalid(
                    "geoip",
                    format!("{name} is not a MaxMind database (.mmdb): {e}"),
                )
            })?;
            readers.push(reader);
        }
        if readers.is_empty() {
            return Err(Error::invalid("geoip", "no GeoIP database was given"));
        }
        Ok(GeoIp { readers })
    }

    /// What the databases know about `ip` (nothing for an unparsable or unknown address; a
    /// record the database cannot decode counts as unknown).
    pub fn locate(&self, ip: &str) -> Place {
        let mut place = Place::default();
        let Ok(addr) = ip.parse::<IpAddr>() else {
            return place;
        };
        for reader in &self.readers {
            let Ok(found) = reader.lookup(addr) else {
                continue;
            };
            let Ok(Some(r)) = found.decode::<Record>() else {
                continue;
            };
            if place.country.is_none() {
                place.country = r
                    .country
                    .and_then(|c| c.iso_code)
                    .or_else(|| r.registered_country.and_then(|c| c.iso_code))
                    .filter(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()))
                    .map(|c| c.to_ascii_uppercase());
            }
            if place.coordinates.is_none()
                && let Some(Location {
                    latitude: Some(lat),
                    longitude: Some(lon),
                }) = r.location
                && (-90.0..=90.0).contains(&lat)
                && (-180.0..=180.0).contains(&lon)
            {
                place.coordinates = Some((lat, lon));
            }
            if place.asn.is_none() {
                place.asn = r.autonomous_system_number;
            }
        }
        place
    }
}

/// The network an address belongs to, as text: the IPv4 /24 or IPv6 /48 (IPv4-mapped IPv6
/// addresses as IPv4). Empty for anything that is not an address.
pub fn network_of(ip: &str) -> String {
    match ip.parse::<IpAddr>().map(|a| a.to_canonical()) {
        Ok(IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            let seg = |i: usize| s.get(i).copied().unwrap_or(0);
            format!("{:x}:{:x}:{:x}::/48", seg(0), seg(1), seg(2))
        }
        Err(_) => String::new(),
    }
}

/// Great-circle distance in kilometres (haversine, mean Earth radius).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_the_24_or_the_48() {
        assert_eq!(network_of("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(network_of("::ffff:198.51.100.9"), "198.51.100.0/24");
        assert_eq!(network_of("2001:db8:1:2::5"), "2001:db8:1::/48");
        assert_eq!(network_of("not an address"), "");
        assert_eq!(network_of(""), "");
    }

    #[test]
    fn distances_are_great_circles() {
        let paris = (48.8566, 2.3522);
        let berlin = (52.52, 13.405);
        let tokyo = (35.6762, 139.6503);
        assert!((distance_km(paris, berlin) - 878.0).abs() < 10.0);
        assert!((distance_km(paris, tokyo) - 9712.0).abs() < 30.0);
        assert!(distance_km(paris, paris).abs() < 1e-6);
    }

    #[test]
    fn garbage_is_not_a_database() {
        let err =
            GeoIp::from_files(vec![("bad.mmdb".into(), b"not a database".to_vec())]).unwrap_err();
        assert!(err.to_string().contains("bad.mmdb"), "{err}");
        assert!(GeoIp::from_files(vec![]).is_err());
    }
}
