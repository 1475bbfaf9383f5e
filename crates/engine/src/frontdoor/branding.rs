//! The organisation's branding on the hosted pages: its name, logo, accent colour and support
//! link. Stored as the `branding` settings document (one per store, so every server agrees);
//! anyone may read it (the pages are public), changing it needs `ManageSettings` and is
//! audited. The accent must keep WCAG 2.2 AA contrast (4.5:1) with the white text drawn on it,
//! and the logo is a small PNG, JPEG or SVG served by Vestibule itself (no third-party
//! resources on the pages).

use crate::Engine;
use crate::error::{Error, Result};
use crate::staff::settings::{read_raw, write_raw};
use crate::staff::{Permission, Staff, audit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;

const KEY: &str = "branding";
/// Largest logo accepted, decoded.
pub const MAX_LOGO_BYTES: usize = 48 * 1024;
/// The accent used until an organisation chooses one (contrast 7.0:1 with white).
pub const DEFAULT_ACCENT: &str = "#3346c8";

/// How the hosted pages present the organisation. `version` increases with every change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Branding {
    /// The organisation's name, shown in every page's header and title.
    pub name: String,
    /// `#rrggbb`; buttons and focus rings.
    pub accent: String,
    /// Where customers get help (`https://…` or `mailto:…`), linked in every page's footer.
    pub support_url: Option<String>,
    /// The logo, if any.
    pub logo: Option<Logo>,
    #[serde(default)]
    pub version: i64,
}

/// A logo image: its media type and the image, base64-encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Logo {
    /// `image/png`, `image/jpeg` or `image/svg+xml`.
    pub content_type: String,
    pub base64: String,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            name: "Vestibule".into(),
            accent: DEFAULT_ACCENT.into(),
            support_url: None,
            logo: None,
            version: 0,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    name: String,
    accent: String,
    support_url: Option<String>,
    logo: Option<Logo>,
}

fn channel(c: u8) -> f64 {
    let c = f64::from(c) / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// `#rrggbb` as its three channels.
pub fn parse_hex(colour: &str) -> Option<[u8; 3]> {
    let hex = colour.strip_prefix('#')?;
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
    };
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// WCAG 2.x contrast ratio of a colour against white.
pub fn contrast_with_white(rgb: [u8; 3]) -> f64 {
    let [r, g, b] = rgb;
    let l = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    1.05 / (l + 0.05)
}

/// The media type the image's first bytes show, if it is one we serve.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else {
        let head = String::from_utf8_lossy(bytes.get(..bytes.len().min(512))?);
        let head = head.trim_start_matches('\u{feff}').trim_start();
        (head.starts_with("<svg") || head.starts_with("<?xml")).then_some("image/svg+xml")
    }
}

fn validate(b: &Branding) -> Result<()> {
    let name = b.name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "the name must be 1 to 80 characters without control characters",
        ));
    }
    let rgb = parse_hex(&b.accent)
        .ok_or_else(|| Error::invalid("accent", "the accent must be a colour like #3346c8"))?;
    let ratio = contrast_with_white(rgb);
    if ratio < 4.5 {
        return Err(Error::invalid(
            "accent",
            format!(
                "white text on this accent has contrast {ratio:.1}:1; WCAG AA needs 4.5:1 — choose a darker colour"
            ),
        ));
    }
    if let Some(u) = &b.support_url {
        let ok = u.len() <= 300
            && !u.chars().any(|c| c.is_control() || c.is_whitespace())
            && (u.starts_with("https://") || u.starts_with("mailto:"))
            && url::Url::parse(u).is_ok();
        if !ok {
            return Err(Error::invalid(
                "support_url",
                "the support link must be an https:// or mailto: address",
            ));
        }
    }
    if let Some(logo) = &b.logo {
        let bytes = STANDARD
            .decode(logo.base64.as_bytes())
            .map_err(|_| Error::invalid("logo", "the logo is not valid base64"))?;
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(Error::invalid(
                "logo",
                format!("the logo must be at most {} KiB", MAX_LOGO_BYTES / 1024),
            ));
        }
        if sniff(&bytes) != Some(logo.content_type.as_str()) {
            return Err(Error::invalid(
                "logo",
                "the logo must be a PNG, JPEG or SVG image of the type it claims",
            ));
        }
    }
    Ok(())
}

impl Engine {
    /// The branding of the hosted pages (defaults until an admin sets it). Public.
    pub async fn branding(&self) -> Result<Branding> {
        Ok(match read_raw(self.store.reader(), KEY).await? {
            None => Branding::default(),
            Some((value, version)) => {
                let s: Stored = serde_json::from_str(&value)
                    .map_err(|e| Error::Internal(format!("stored branding: {e}")))?;
                Branding {
                    name: s.name,
                    accent: s.accent,
                    support_url: s.support_url,
                    logo: s.logo,
                    version,
                }
            }
        })
    }

    /// Change the branding (admins). `new.version` must be the version read.
    pub async fn update_branding(&self, staff: &Staff, new: &Branding) -> Result<Branding> {
        staff.require(Permission::ManageSettings)?;
        let mut new = new.clone();
        new.name = new.name.trim().to_owned();
        new.support_url = new.support_url.filter(|u| !u.trim().is_empty());
        new.accent = new.accent.to_ascii_lowercase();
        validate(&new)?;
        let before = self.branding().await?;
        let value = serde_json::to_string(&Stored {
            name: new.name.clone(),
            accent: new.accent.clone(),
            support_url: new.support_url.clone(),
            logo: new.logo.clone(),
        })
        .map_err(|e| Error::Internal(e.to_string()))?;
        let mut tx = self.store.begin().await?;
        write_raw(&mut tx, KEY, &value, new.version, "the branding").await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "settings.branding_updated",
            "settings:branding",
            None,
            audit::diff(&[
                ("name", json!(before.name), json!(new.name)),
                ("accent", json!(before.accent), json!(new.accent)),
                (
                    "support_url",
                    json!(before.support_url),
                    json!(new.support_url),
                ),
                (
                    "logo",
                    json!(before.logo.as_ref().map(|l| l.content_type.clone())),
                    json!(new.logo.as_ref().map(|l| l.content_type.clone())),
                ),
            ]),
        )
        .await?;
        tx.commit().await?;
        self.branding().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_follows_wcag() {
        assert!((contrast_with_white([0, 0, 0]) - 21.0).abs() < 0.01);
        assert!((contrast_with_white([255, 255, 255]) - 1.0).abs() < 0.01);
        // #767676 is the classic lightest grey that passes AA on white.
        assert!(contrast_with_white([0x76, 0x76, 0x76]) >= 4.5);
        assert!(contrast_with_white([0x77, 0x77, 0x77]) < 4.5);
        assert!(parse_hex(DEFAULT_ACCENT).is_some_and(|c| contrast_with_white(c) >= 4.5));
        assert_eq!(parse_hex("#12345"), None);
        assert_eq!(parse_hex("123456"), None);
    }

    #[test]
    fn logos_are_sniffed() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(
            sniff(b"  <svg xmlns='http://www.w3.org/2000/svg'/>"),
            Some("image/svg+xml")
        );
        assert_eq!(sniff(b"<html><script>"), None);
    }
}
