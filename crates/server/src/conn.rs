//! Connections: the accept loop, and what keeps slow or idle clients from exhausting the
//! server. hyper serves each connection (HTTP/1.1, or HTTP/2 when TLS negotiates it); this
//! module decides which connections may exist and for how long:
//!
//! - **Descriptors**: at start the soft `RLIMIT_NOFILE` is raised to the hard limit, and at
//!   most [`Limits::max_connections`] connections are kept (the limit minus a reserve for the
//!   database and files). When a new connection arrives at the cap — or `accept` fails for want
//!   of descriptors — the oldest connection that is only *waiting on its client* (reading a
//!   request head or body, or idle between requests) is closed to make room. Connections whose
//!   request is being worked on are never evicted, so slow clients can only push out each
//!   other, not the people being served.
//! - **Time**: a request head must arrive within [`Limits::header_timeout`] of the
//!   connection opening or of the previous response (hyper's header read timeout, which also
//!   bounds keep-alive idleness), a body within [`Limits::body_timeout`] of its head, a TLS
//!   handshake within [`Limits::handshake_timeout`], and the whole request within
//!   [`Limits::request_timeout`].
//! - **hyper's own answers** to requests it cannot parse (a malformed request line, too many
//!   or too large headers) would be a bare status line; [`Guarded`] replaces them on the way
//!   out with the same JSON error and security headers as every other answer.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt as _;

/// Connection limits and timeouts.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections kept open at most (0: derived from the descriptor limit).
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub handshake_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 0,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Descriptors kept back for the database pools, the vault's files and logging.
const RESERVED_DESCRIPTORS: u64 = 64;

/// Raise the soft descriptor limit to the hard one; returns the limit now in force.
pub fn raise_descriptor_limit() -> u64 {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut lim = getrlimit(Resource::Nofile);
        if let (Some(cur), max) = (lim.current, lim.maximum)
            && max.is_none_or(|m| m > cur)
        {
            // "Unlimited" hard limits are capped where the kernel caps them anyway.
            lim.current = Some(max.unwrap_or(1 << 20).min(1 << 20));
            if let Err(e) = setrlimit(Resource::Nofile, lim) {
                tracing::warn!(error = %e, "could not raise the open-file limit");
            }
        }
        getrlimit(Resource::Nofile).current.unwrap_or(1 << 20)
    }
    #[cfg(not(unix))]
    {
        1 << 16
    }
}

/// What one connection is doing, as far as eviction cares.
#[derive(Default)]
struct ConnState {
    /// Requests whose head and body have arrived and whose answer is being worked out.
    working: AtomicUsize,
}

struct Entry {
    opened: Instant,
    state: Arc<ConnState>,
    kill: Arc<Notify>,
}

/// Every open connection, for the cap and eviction.
#[derive(Default)]
struct Registry {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Entry>>,
}

impl Registry {
    fn len(&self) -> usize {
        self.conns.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn insert(&self, state: Arc<ConnState>, kill: Arc<Notify>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut c) = self.conns.lock() {
            c.insert(
                id,
                Entry {
                    opened: Instant::now(),
                    state,
                    kill,
                },
            );
        }
        id
    }

    fn remove(&self, id: u64) {
        if let Ok(mut c) = self.conns.lock() {
            c.remove(&id);
        }
    }

    /// Close the oldest connection that is only waiting on its client. False if every
    /// connection is busy with a request.
    fn evict_one(&self) -> bool {
        let Ok(mut c) = self.conns.lock() else {
            return false;
        };
        let victim = c
            .iter()
            .filter(|(_, e)| e.state.working.load(Ordering::Acquire) == 0)
            .min_by_key(|(_, e)| e.opened)
            .map(|(id, _)| *id);
        match victim.and_then(|id| c.remove(&id)) {
            Some(e) => {
                e.kill.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Accept connections until `shutdown`, then let open requests finish (at most 30 s).
pub async fn run(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let nofile = raise_descriptor_limit();
    let max = if limits.max_connections > 0 {
        limits.max_connections
    } else {
        usize::try_from(nofile.saturating_sub(RESERVED_DESCRIPTORS).max(16)).unwrap_or(16)
    };
    tracing::info!(
        max_connections = max,
        open_file_limit = nofile,
        "accepting connections"
    );
    let registry = Arc::new(Registry::default());
    let limits = Arc::new(limits);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors (or a transient network error): make room and retry
                // after a moment rather than spinning.
                tracing::warn!(error = %e, connections = registry.len(), "accept failed");
                registry.evict_one();
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        if registry.len() >= max && !registry.evict_one() {
            // Every connection is being served: this one must wait for a later try.
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let state = Arc::new(ConnState::default());
        let kill = Arc::new(Notify::new());
        let id = registry.insert(state.clone(), kill.clone());
        let registry = registry.clone();
        let app = app.clone();
        let tls = tls.clone();
        let limits = limits.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = serve_connection(stream, peer, app, tls, limits, state, stop) => {}
                () = kill.notified() => {}
            }
            registry.remove(id);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + Duration::from_secs(30);
    while registry.len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Arc<Limits>,
    state: Arc<ConnState>,
    stop: watch::Receiver<bool>,
) {
    let service = {
        let limits = limits.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            handle(app.clone(), req, peer, limits.clone(), state.clone())
        })
    };
    match tls {
        None => http1(Guarded::new(stream), service, &limits, stop).await,
        Some(acceptor) => {
            let Ok(Ok(tls_stream)) =
                tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream)).await
            else {
                return;
            };
            let h2 = tls_stream.get_ref().1.alpn_protocol() == Some(b"h2");
            if h2 {
                http2(tls_stream, service, stop).await;
            } else {
                http1(Guarded::new(tls_stream), service, &limits, stop).await;
            }
        }
    }
}

async fn http1<I, S>(io: I, service: S, limits: &Limits, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            hyper::Request<Incoming>,
            Response = hyper::Response<Body>,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(100)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(30), conn).await;
}

async fn http2<I, S>(io: I, service: S, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            hyper::Request<Incoming>,
            Response = hyper::Response<Body>,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .max_concurrent_streams(64)
        .serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(30), conn).await;
}

/// One request: the peer address for the extractors, the body under its deadline, the
/// connection marked busy from the end of the body to the answer.
async fn handle(
    app: Router,
    mut req: hyper::Request<Incoming>,
    peer: SocketAddr,
    limits: Arc<Limits>,
    state: Arc<ConnState>,
) -> Result<hyper::Response<Body>, std::convert::Infallible> {
    req.extensions_mut().insert(ConnectInfo(peer));
    let busy = Arc::new(BusyGuard::new(state));
    if http_body::Body::is_end_stream(req.body()) {
        busy.start();
    }
    let req = req.map(|b| Body::new(DeadlineBody::new(b, limits.body_timeout, busy.clone())));
    let answered = tokio::time::timeout(limits.request_timeout, app.oneshot(req)).await;
    // Answer worked out: the connection waits on its client again.
    busy.stop();
    Ok(match answered {
        Ok(Ok(resp)) => resp,
        Ok(Err(never)) => match never {},
        Err(_) => {
            use axum::response::IntoResponse as _;
            let mut resp = crate::error::ApiError::Http(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the request took too long; try again".into(),
            )
            .into_response();
            crate::add_security_headers(resp.headers_mut());
            resp
        }
    })
}

/// Marks its connection as working once (body complete) and unmarks it once.
struct BusyGuard {
    state: Arc<ConnState>,
    started: std::sync::atomic::AtomicBool,
}

impl BusyGuard {
    fn new(state: Arc<ConnState>) -> Self {
        Self {
            state,
            started: std::sync::atomic::AtomicBool::new(false),
        }
    }
    fn start(&self) {
        if !self.started.swap(true, Ordering::AcqRel) {
            self.state.working.fetch_add(1, Ordering::AcqRel);
        }
    }
    fn stop(&self) {
        if self.started.swap(false, Ordering::AcqRel) {
            self.state.working.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A request body that must be complete within a deadline from the request head; marks the
/// connection working when it ends.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    busy: Arc<BusyGuard>,
}

impl DeadlineBody {
    fn new(inner: Incoming, within: Duration, busy: Arc<BusyGuard>) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(within)),
            busy,
        }
    }
}

/// The body did not arrive in time.
#[derive(Debug)]
struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.busy.start();
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => {
                if this.inner.is_end_stream() {
                    this.busy.start();
                }
                Poll::Ready(Some(frame.map_err(Into::into)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's byte stream, with hyper's automatic error answers (400, 414, 431 for
/// requests it could not parse — a bare status line) replaced by a JSON error with the
/// security headers every other answer has. Every answer the application makes carries
/// `x-content-type-options`, so a 4xx head without it can only be hyper's own.
pub(crate) struct Guarded<S> {
    inner: S,
    /// A replacement being written: (bytes, written so far).
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> Guarded<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

/// The status of a bare automatic error head from hyper, if `buf` is one.
fn hyper_error_status(buf: &[u8]) -> Option<u16> {
    // hyper writes its own error heads whole, in one small buffer: short, and without the
    // headers every answer of ours carries. (Ours can be long: a CSP with hashes and cookies
    // come before the security headers, so looking only at the first bytes misjudged them.)
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(buf.get(..end)?).ok()?;
    let status: u16 = head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let bare = !head.to_ascii_lowercase().contains("x-content-type-options");
    (bare && matches!(status, 400 | 414 | 431)).then_some(status)
}

fn replacement(status: u16) -> Vec<u8> {
    let (reason, message) = match status {
        414 => ("URI Too Long", "the request URI is too long"),
        431 => (
            "Request Header Fields Too Large",
            "the request has too many or too large headers",
        ),
        _ => ("Bad Request", "the request could not be read as HTTP"),
    };
    let body = serde_json::json!({"code": "bad_request", "message": message}).to_string();
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for (k, v) in crate::SECURITY_HEADERS {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    out
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> Guarded<S> {
    /// Write out a pending replacement; Ready(Ok) once it is all written.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.pending {
            let rest = bytes.get(*done..).unwrap_or_default();
            if rest.is_empty() {
                self.pending = None;
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        if let Some(status) = hyper_error_status(buf) {
            // hyper closes the connection after this answer: nothing else follows it.
            this.pending = Some((replacement(status), 0));
            return match this.poll_pending(cx)? {
                Poll::Ready(()) | Poll::Pending => Poll::Ready(Ok(buf.len())),
            };
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        // One buffer per write, so an automatic head is seen whole.
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_bare_automatic_heads_are_replaced() {
        assert_eq!(
            hyper_error_status(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            hyper_error_status(b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n"),
            Some(431)
        );
        assert_eq!(
            hyper_error_status(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nx-content-type-options: nosniff\r\n\r\n{}"
            ),
            None
        );
        assert_eq!(hyper_error_status(b"HTTP/1.1 200 OK\r\n\r\n"), None);
        // One of our error pages: a long CSP and a cookie before the security headers.
        let long = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-security-policy: {}\r\nset-cookie: a=b\r\nx-content-type-options: nosniff\r\n\r\n<html>",
            "x".repeat(700)
        );
        assert_eq!(hyper_error_status(long.as_bytes()), None);
        let r = String::from_utf8(replacement(400)).unwrap();
        assert!(r.contains("x-content-type-options: nosniff"), "{r}");
        assert!(
            r.ends_with(r#""message":"the request could not be read as HTTP"}"#)
                || r.contains("bad_request")
        );
    }

    proptest! {
        #[test]
        fn the_head_sniffer_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = hyper_error_status(&bytes);
        }

        #[test]
        fn application_answers_are_never_replaced(status in 100u16..600, extra in "[a-z-]{0,20}") {
            let head = format!("HTTP/1.1 {status} X\r\n{extra}: y\r\nX-Content-Type-Options: nosniff\r\n\r\n");
            prop_assert_eq!(hyper_error_status(head.as_bytes()), None);
        }
    }
}
