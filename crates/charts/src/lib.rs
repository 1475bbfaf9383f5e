//! Vestibule's analytics charts, drawn with plotters from an engine
//! [`AnalyticsReport`](vestibule_engine::analytics::AnalyticsReport): SVG for the console (each
//! data point carries `data-label` and `data-value` for hover values, and a `<title>`),
//! SVG and PNG at print resolution for export, and the data behind each chart as CSV.
//!
//! Text is set in Atkinson Hyperlegible (SIL OFL 1.1, `fonts/`), shipped with the crate and
//! registered with plotters' ab_glyph text; no system font is read. Exported SVGs embed it.

mod draw;
mod spec;

pub use spec::{Chart, csv};

use base64::Engine as _;
use plotters::prelude::*;
use std::sync::Once;
use vestibule_engine::analytics::AnalyticsReport;

/// The family every chart's text is set in.
pub const FONT: &str = "Atkinson Hyperlegible";
static REGULAR: &[u8] = include_bytes!("../fonts/AtkinsonHyperlegible-Regular.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/AtkinsonHyperlegible-Bold.ttf");
static FONTS: Once = Once::new();

/// The console's light or dark theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
}

impl Theme {
    pub fn parse(s: &str) -> Option<Theme> {
        match s {
            "light" => Some(Theme::Light),
            "dark" => Some(Theme::Dark),
            _ => None,
        }
    }
}

/// Drawing failed (a plotters error, in words).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the chart could not be drawn: {0}")]
    Draw(String),
    #[error("{0}")]
    Size(&'static str),
}

pub type Result<T> = std::result::Result<T, Error>;

fn fonts() {
    FONTS.call_once(|| {
        // The files are ours and parse (a unit test draws text with them).
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, REGULAR);
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, BOLD);
    });
}

fn check(w: u32, h: u32) -> Result<()> {
    if !(160..=16_000).contains(&w)
        || !(100..=16_000).contains(&h)
        || u64::from(w) * u64::from(h) > 16_000_000
    {
        return Err(Error::Size(
            "a chart is at least 160 × 100 pixels and at most 16 million",
        ));
    }
    Ok(())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart as SVG, `w`×`h` CSS pixels. With `embed_font` the font travels inside the file
/// (for export); without it the page showing it supplies [`FONT`].
pub fn svg(
    r: &AnalyticsReport,
    c: Chart,
    theme: Theme,
    (w, h): (u32, u32),
    embed_font: bool,
) -> Result<String> {
    check(w, h)?;
    fonts();
    let spec = spec::spec(r, c);
    let mut out = String::new();
    let hits = {
        let root = SVGBackend::with_string(&mut out, (w, h)).into_drawing_area();
        draw::draw(&root, &spec, theme, 1.0).map_err(Error::Draw)?
    };
    let summary = escape(&format!(
        "{}: {}",
        spec.title,
        spec.empty.unwrap_or("see the data table")
    ));
    let mut extra = format!("<title>{}</title>", escape(&spec.title));
    if embed_font {
        let b64 = base64::engine::general_purpose::STANDARD;
        extra.push_str(&format!(
            "<style>@font-face{{font-family:'{FONT}';font-weight:normal;src:url(data:font/ttf;base64,{})}}\
             @font-face{{font-family:'{FONT}';font-weight:bold;src:url(data:font/ttf;base64,{})}}</style>",
            b64.encode(REGULAR),
            b64.encode(BOLD)
        ));
    }
    let mut points = String::from("<g class=\"points\" fill=\"transparent\">");
    for p in &hits {
        points.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" data-label=\"{}\" data-value=\"{}\"><title>{}: {}</title></rect>",
            p.x,
            p.y,
            p.w,
            p.h,
            escape(&p.label),
            escape(&p.value),
            escape(&p.label),
            escape(&p.value)
        ));
    }
    points.push_str("</g>");
    // The root gets its role and name; the hover boxes go on top of everything drawn.
    let out = out.replacen(
        "<svg ",
        &format!(
            "<svg role=\"img\" aria-label=\"{summary}\" data-chart=\"{}\" ",
            c.name()
        ),
        1,
    );
    let out = match out.find('>') {
        Some(i) => format!("{}{extra}{}", &out[..=i], &out[i + 1..]),
        None => out,
    };
    Ok(match out.rfind("</svg>") {
        Some(i) => format!("{}{points}{}", &out[..i], &out[i..]),
        None => out,
    })
}

/// The chart as PNG: `w`×`h` at `scale` (2 doubles every dimension, 300 dpi for a 6.4-inch
/// wide chart at w = 960).
pub fn png(
    r: &AnalyticsReport,
    c: Chart,
    theme: Theme,
    (w, h): (u32, u32),
    scale: u32,
) -> Result<Vec<u8>> {
    let (pw, ph) = (w.saturating_mul(scale), h.saturating_mul(scale));
    check(w, h)?;
    check(pw, ph)?;
    fonts();
    let spec = spec::spec(r, c);
    let mut buf = vec![0u8; pw as usize * ph as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (pw, ph)).into_drawing_area();
        draw::draw(&root, &spec, theme, f64::from(scale)).map_err(Error::Draw)?;
    }
    let img = image::RgbImage::from_raw(pw, ph, buf).ok_or(Error::Size("buffer size"))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::Draw(e.to_string()))?;
    Ok(png)
}

/// A KPI's sparkline: its values as a small line over a faint area, no axes, as SVG (the
/// dashboard's tiles). Empty or flat-zero series draw a flat baseline.
pub fn sparkline(values: &[f64], theme: Theme, (w, h): (u32, u32)) -> Result<String> {
    if !(24..=800).contains(&w) || !(12..=400).contains(&h) {
        return Err(Error::Size("a sparkline is 24–800 × 12–400 pixels"));
    }
    fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (w, h)).into_drawing_area();
        draw::sparkline(&root, values, theme).map_err(Error::Draw)?;
    }
    let label = escape(&format!(
        "trend: {}",
        values
            .iter()
            .map(|v| format!("{v:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(out.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" "),
        1,
    ))
}
