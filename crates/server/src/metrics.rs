//! Prometheus metrics at `/metrics`: sign-ins by outcome and request latency per route.
//! Labels are route templates and outcome codes only, never personal data.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    method: String,
    route: String,
    status: String,
}

pub struct Metrics {
    registry: Registry,
    sign_ins: Family<Outcome, Counter>,
    latency: Family<Route, Histogram>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("vestibule");
        let sign_ins = Family::<Outcome, Counter>::default();
        registry.register(
            "sign_ins",
            "Customer password sign-ins by outcome (success or the error code)",
            sign_ins.clone(),
        );
        let latency = Family::<Route, Histogram>::new_with_constructor(|| {
            // 0.5 ms … ~4 s
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route template and status",
            latency.clone(),
        );
        Self {
            registry,
            sign_ins,
            latency,
        }
    }

    /// Count one sign-in attempt's outcome.
    pub fn sign_in(&self, outcome: &str) {
        self.sign_ins
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Middleware: observe every request's latency under its route template.
pub async fn observe(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    s.metrics
        .latency
        .get_or_create(&Route {
            method,
            route,
            status: resp.status().as_u16().to_string(),
        })
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// Prometheus metrics (OpenMetrics text): sign-ins by outcome, request latency by route.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics in the OpenMetrics text format",
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String)))]
pub async fn render(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}
