//! Drawing a [`Spec`] on any plotters backend: axes with units, a legend, the Okabe–Ito
//! palette (distinguishable with every common colour-vision deficiency), a sequential
//! single-hue scale for the heatmap, and the honest empty state. Every data point's box is
//! returned as a [`Hit`] so the SVG can carry hover values.

use crate::spec::{Plot, Spec, WEEKDAYS};
use crate::{FONT, Theme};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One data point's box in pixels, with what hovering it says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hit {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
    pub label: String,
    pub value: String,
}

/// Okabe & Ito's colour-blind-safe palette, in the order series take it (light theme).
const LIGHT: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x99, 0x99, 0x99),
];
/// The same hues for a dark background (the deep blue swapped for the sky blue).
const DARK: [RGBColor; 7] = [
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0xF0, 0xE4, 0x42),
    RGBColor(0xAA, 0xAA, 0xAA),
];

struct Colours {
    bg: RGBColor,
    fg: RGBColor,
    muted: RGBColor,
    grid: RGBColor,
    palette: [RGBColor; 7],
    /// The heatmap's empty and full ends.
    cold: RGBColor,
    hot: RGBColor,
}

fn colours(t: Theme) -> Colours {
    match t {
        Theme::Light => Colours {
            bg: RGBColor(0xFF, 0xFF, 0xFF),
            fg: RGBColor(0x1F, 0x29, 0x33),
            muted: RGBColor(0x52, 0x60, 0x6D),
            grid: RGBColor(0xE4, 0xE7, 0xEB),
            palette: LIGHT,
            cold: RGBColor(0xF1, 0xF5, 0xF9),
            hot: RGBColor(0x08, 0x30, 0x6B),
        },
        Theme::Dark => Colours {
            bg: RGBColor(0x1B, 0x1E, 0x29),
            fg: RGBColor(0xE6, 0xED, 0xF3),
            muted: RGBColor(0xA0, 0xAB, 0xB8),
            grid: RGBColor(0x30, 0x36, 0x3D),
            palette: DARK,
            cold: RGBColor(0x1F, 0x26, 0x2E),
            hot: RGBColor(0x9E, 0xCA, 0xE1),
        },
    }
}

/// A series' colour: outcomes and decisions keep theirs across charts.
fn colour_of(c: &Colours, key: &str, i: usize) -> RGBColor {
    let p = |n: usize| c.palette.get(n).copied().unwrap_or(c.fg);
    match key {
        "success" | "allow" | "registered" | "active" | "MFA" => p(0),
        "challenged" | "challenge" | "verified" | "with MFA" => p(1),
        "review" | "with a passkey" | "passkey" => p(2),
        "failure" | "deny" => p(3),
        _ => p(i % 7),
    }
}

fn mix(a: RGBColor, b: RGBColor, t: f64) -> RGBColor {
    let l = |x: u8, y: u8| {
        let v = f64::from(x) + (f64::from(y) - f64::from(x)) * t.clamp(0.0, 1.0);
        v.round().clamp(0.0, 255.0) as u8
    };
    RGBColor(l(a.0, b.0), l(a.1, b.1), l(a.2, b.2))
}

fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 { format!("-{out}") } else { out }
}

type Fail = String;

fn err<E: std::fmt::Debug>(e: E) -> Fail {
    format!("{e:?}")
}

/// Draw `s` filling `root`; sizes in pixels are multiplied by `k` (print resolution).
pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Spec,
    theme: Theme,
    k: f64,
) -> Result<Vec<Hit>, Fail> {
    let c = colours(theme);
    let px = |n: f64| (n * k).round() as i32;
    let size = |n: f64| n * k;
    root.fill(&c.bg).map_err(err)?;
    let (w, h) = root.dim_in_pixel();
    let title = (FONT, size(17.0))
        .into_font()
        .style(FontStyle::Bold)
        .color(&c.fg);
    let text = (FONT, size(13.0)).into_font().color(&c.fg);
    let small = (FONT, size(12.0)).into_font().color(&c.muted);
    root.draw(&Text::new(
        s.title.clone(),
        (px(16.0), px(12.0)),
        title.clone(),
    ))
    .map_err(err)?;
    if let Some(message) = s.empty {
        let centre = Pos::new(HPos::Center, VPos::Center);
        root.draw(&Text::new(
            message.to_owned(),
            (
                i32::try_from(w / 2).unwrap_or(0),
                i32::try_from(h / 2).unwrap_or(0),
            ),
            text.clone().pos(centre),
        ))
        .map_err(err)?;
        return Ok(Vec::new());
    }
    let body = root.margin(px(40.0), px(12.0), px(12.0), px(16.0));
    let mut hits = Vec::new();
    match &s.plot {
        Plot::Bars { series, unit } => {
            let n = s.buckets.len().max(1);
            let mut top = 0.0f64;
            for i in 0..n {
                let sum: f64 = series.iter().filter_map(|(_, v)| v.get(i)).sum();
                top = top.max(sum);
            }
            let top = nice_top(top);
            let (legend, plot_area) = split_legend(&body, series.len(), k);
            let mut chart = ChartBuilder::on(&plot_area)
                .x_label_area_size(px(34.0))
                .y_label_area_size(px(56.0))
                .build_cartesian_2d(0f64..n as f64, 0f64..top)
                .map_err(err)?;
            let labels = s.buckets.clone();
            chart
                .configure_mesh()
                .disable_x_mesh()
                .bold_line_style(c.grid)
                .light_line_style(c.bg)
                .axis_style(c.muted)
                .label_style(small.clone())
                .axis_desc_style(text.clone())
                .y_desc(*unit)
                .y_label_formatter(&|v| thousands(*v))
                .x_labels(n.min(8))
                .x_label_formatter(&|x| {
                    let i = x.floor() as usize;
                    if (x - x.floor()).abs() < 1e-9 {
                        labels.get(i).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .draw()
                .map_err(err)?;
            let mut base = vec![0.0f64; n];
            for (si, (key, values)) in series.iter().enumerate() {
                let colour = colour_of(&c, key, si);
                let mut rects = Vec::new();
                for (i, &v) in values.iter().enumerate().take(n) {
                    let b = base.get(i).copied().unwrap_or(0.0);
                    if v > 0.0 {
                        let (x0, x1) = (i as f64 + 0.12, i as f64 + 0.88);
                        rects.push(Rectangle::new([(x0, b), (x1, b + v)], colour.filled()));
                        let a = chart.backend_coord(&(x0, b + v));
                        let z = chart.backend_coord(&(x1, b));
                        hits.push(Hit {
                            x: a.0,
                            y: a.1,
                            w: (z.0 - a.0).max(1),
                            h: (z.1 - a.1).max(1),
                            label: format!(
                                "{} · {key}",
                                s.buckets.get(i).cloned().unwrap_or_default()
                            ),
                            value: thousands(v),
                        });
                    }
                    if let Some(x) = base.get_mut(i) {
                        *x += v;
                    }
                }
                chart.draw_series(rects).map_err(err)?;
            }
            draw_legend(&legend, series.iter().map(|(k, _)| k.as_str()), &c, k)?;
        }
        Plot::Lines {
            series,
            unit,
            percent,
            area,
        } => {
            let n = s.buckets.len().max(1);
            let top = if *percent {
                100.0
            } else {
                nice_top(
                    series
                        .iter()
                        .flat_map(|(_, v)| v.iter().copied())
                        .fold(0.0, f64::max),
                )
            };
            let (legend, plot_area) = split_legend(&body, series.len(), k);
            let last = (n - 1).max(1) as f64;
            let mut chart = ChartBuilder::on(&plot_area)
                .x_label_area_size(px(34.0))
                .y_label_area_size(px(56.0))
                .build_cartesian_2d(-0.02 * last..last * 1.02, 0f64..top)
                .map_err(err)?;
            let labels = s.buckets.clone();
            let pct = *percent;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .bold_line_style(c.grid)
                .light_line_style(c.bg)
                .axis_style(c.muted)
                .label_style(small.clone())
                .axis_desc_style(text.clone())
                .y_desc(*unit)
                .y_label_formatter(&|v| {
                    if pct {
                        format!("{v:.0}%")
                    } else {
                        thousands(*v)
                    }
                })
                .x_labels(n.min(8))
                .x_label_formatter(&|x| {
                    if x.fract().abs() < 1e-9 && *x >= 0.0 {
                        labels.get(*x as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .draw()
                .map_err(err)?;
            for (si, (key, values)) in series.iter().enumerate() {
                let colour = colour_of(&c, key, si);
                let points: Vec<(f64, f64)> = values
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| (i as f64, v))
                    .collect();
                if *area && si == 0 {
                    chart
                        .draw_series(AreaSeries::new(
                            points.clone(),
                            0.0,
                            colour.mix(0.18).filled(),
                        ))
                        .map_err(err)?;
                }
                chart
                    .draw_series(LineSeries::new(
                        points.clone(),
                        colour.stroke_width(px(2.0).max(1) as u32),
                    ))
                    .map_err(err)?;
                if n <= 60 {
                    chart
                        .draw_series(
                            points
                                .iter()
                                .map(|&p| Circle::new(p, px(2.5), colour.filled())),
                        )
                        .map_err(err)?;
                }
                let r = px(6.0);
                for (i, &(x, y)) in points.iter().enumerate() {
                    let p = chart.backend_coord(&(x, y));
                    hits.push(Hit {
                        x: p.0 - r,
                        y: p.1 - r,
                        w: 2 * r,
                        h: 2 * r,
                        label: format!("{} · {key}", s.buckets.get(i).cloned().unwrap_or_default()),
                        value: if pct {
                            format!("{y:.1}%")
                        } else {
                            thousands(y)
                        },
                    });
                }
            }
            draw_legend(&legend, series.iter().map(|(k, _)| k.as_str()), &c, k)?;
        }
        Plot::Rows { rows, unit } => {
            let n = rows.len().max(1);
            let top = nice_top(rows.iter().map(|r| r.1).fold(0.0, f64::max));
            let label_w = px(170.0);
            let mut chart = ChartBuilder::on(&body)
                .x_label_area_size(px(34.0))
                .y_label_area_size(label_w)
                .build_cartesian_2d(0f64..top * 1.45, 0f64..n as f64)
                .map_err(err)?;
            let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
            chart
                .configure_mesh()
                .disable_y_mesh()
                .bold_line_style(c.grid)
                .light_line_style(c.bg)
                .axis_style(c.muted)
                .label_style(small.clone())
                .axis_desc_style(text.clone())
                .x_desc(*unit)
                .x_label_formatter(&|v| {
                    if *v <= top {
                        thousands(*v)
                    } else {
                        String::new()
                    }
                })
                .y_labels(n * 2 + 1)
                .y_label_formatter(&|y| {
                    let slot = (y - 0.5).round();
                    if (y - 0.5 - slot).abs() < 1e-6 && slot >= 0.0 {
                        // Rows run top to bottom.
                        names
                            .get(n.saturating_sub(1 + slot as usize))
                            .cloned()
                            .unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .draw()
                .map_err(err)?;
            for (i, (name, v, note)) in rows.iter().enumerate() {
                let y = (n - 1 - i) as f64;
                let colour = colour_of(&c, "", 0);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(0.0, y + 0.18), (*v, y + 0.82)],
                        colour.filled(),
                    )))
                    .map_err(err)?;
                let end = chart.backend_coord(&(*v, y + 0.5));
                let a = chart.backend_coord(&(0.0, y + 0.82));
                let z = chart.backend_coord(&(*v, y + 0.18));
                root.draw(&Text::new(
                    note.clone(),
                    (end.0 + px(8.0), end.1),
                    text.clone().pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(err)?;
                hits.push(Hit {
                    x: a.0,
                    y: a.1,
                    w: (z.0 - a.0).max(px(4.0)),
                    h: (z.1 - a.1).max(1),
                    label: name.clone(),
                    value: note.clone(),
                });
            }
        }
        Plot::Heat { cells } => {
            let max = cells.iter().flatten().copied().fold(0.0, f64::max).max(1.0);
            let mut chart = ChartBuilder::on(&body)
                .x_label_area_size(px(34.0))
                .y_label_area_size(px(48.0))
                .build_cartesian_2d(0f64..24.0, 0f64..7.0)
                .map_err(err)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .axis_style(c.muted)
                .label_style(small.clone())
                .axis_desc_style(text.clone())
                .x_desc("hour of day (UTC)")
                .x_labels(25)
                .x_label_formatter(&|x| {
                    let hx = *x as i64;
                    if x.fract().abs() < 1e-9 && hx % 3 == 0 && hx < 24 {
                        format!("{hx:02}")
                    } else {
                        String::new()
                    }
                })
                .y_labels(15)
                .y_label_formatter(&|y| {
                    let slot = (y - 0.5).round();
                    if (y - 0.5 - slot).abs() < 1e-6 && (0.0..7.0).contains(&slot) {
                        WEEKDAYS
                            .get(6 - slot as usize)
                            .map(|d| (*d).to_owned())
                            .unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .draw()
                .map_err(err)?;
            for (d, row) in cells.iter().enumerate() {
                let y = (6 - d.min(6)) as f64;
                for (hr, &v) in row.iter().enumerate() {
                    let x = hr as f64;
                    let fill = mix(c.cold, c.hot, (v / max).sqrt());
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x + 0.04, y + 0.06), (x + 0.96, y + 0.94)],
                            fill.filled(),
                        )))
                        .map_err(err)?;
                    let a = chart.backend_coord(&(x, y + 1.0));
                    let z = chart.backend_coord(&(x + 1.0, y));
                    hits.push(Hit {
                        x: a.0,
                        y: a.1,
                        w: (z.0 - a.0).max(1),
                        h: (z.1 - a.1).max(1),
                        label: format!(
                            "{} {hr:02}:00–{:02}:00",
                            WEEKDAYS.get(d).copied().unwrap_or(""),
                            (hr + 1) % 24
                        ),
                        value: thousands(v),
                    });
                }
            }
            // The scale: cold to hot, with its ends.
            let (x0, y0) = (i32::try_from(w).unwrap_or(0) - px(220.0), px(14.0));
            for i in 0..20 {
                let fill = mix(c.cold, c.hot, f64::from(i) / 19.0);
                root.draw(&Rectangle::new(
                    [
                        (x0 + px(6.0) * i, y0),
                        (x0 + px(6.0) * (i + 1), y0 + px(10.0)),
                    ],
                    fill.filled(),
                ))
                .map_err(err)?;
            }
            root.draw(&Text::new(
                "0".to_owned(),
                (x0 - px(6.0), y0 + px(5.0)),
                small.clone().pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(err)?;
            root.draw(&Text::new(
                format!("{} sign-ins", thousands(max)),
                (x0 + px(126.0), y0 + px(5.0)),
                small.clone().pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(err)?;
        }
    }
    root.present().map_err(err)?;
    Ok(hits)
}

/// A round upper bound a little above `max` (and 1 for an empty series).
fn nice_top(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let m = max * 1.1;
    let mag = 10f64.powf(m.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m <= step * mag {
            return step * mag;
        }
    }
    10.0 * mag
}

/// A legend strip along the top of a plot with several series.
fn split_legend<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    series: usize,
    k: f64,
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    let strip = if series > 1 { (24.0 * k) as u32 } else { 0 };
    body.split_vertically(strip)
}

fn draw_legend<'k, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    keys: impl Iterator<Item = &'k str>,
    c: &Colours,
    k: f64,
) -> Result<(), Fail> {
    let keys: Vec<&str> = keys.collect();
    if keys.len() < 2 {
        return Ok(());
    }
    let px = |n: f64| (n * k).round() as i32;
    let style = (FONT, 13.0 * k).into_font().color(&c.fg);
    let mut x = px(60.0);
    for (i, key) in keys.iter().enumerate() {
        let colour = colour_of(c, key, i);
        area.draw(&Rectangle::new(
            [(x, px(6.0)), (x + px(12.0), px(18.0))],
            colour.filled(),
        ))
        .map_err(err)?;
        area.draw(&Text::new(
            (*key).to_owned(),
            (x + px(18.0), px(12.0)),
            style.clone().pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(err)?;
        let width = area
            .estimate_text_size(key, &style)
            .map(|(w, _)| i32::try_from(w).unwrap_or(0))
            .unwrap_or(px(60.0));
        x += width + px(36.0);
    }
    Ok(())
}

/// A sparkline filling `root` (transparent background: it sits on the tile's colour).
pub(crate) fn sparkline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    values: &[f64],
    theme: Theme,
) -> Result<(), Fail> {
    let c = colours(theme);
    let colour = colour_of(&c, "", 0);
    let n = values.len().max(2);
    let top = values.iter().copied().fold(0.0, f64::max).max(1.0) * 1.08;
    let mut chart = ChartBuilder::on(root)
        .margin(2)
        .build_cartesian_2d(0f64..(n - 1) as f64, 0f64..top)
        .map_err(err)?;
    let points: Vec<(f64, f64)> = if values.is_empty() {
        vec![(0.0, 0.0), ((n - 1) as f64, 0.0)]
    } else {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64, v))
            .collect()
    };
    chart
        .draw_series(AreaSeries::new(
            points.clone(),
            0.0,
            colour.mix(0.16).filled(),
        ))
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(points, colour.stroke_width(2)))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
