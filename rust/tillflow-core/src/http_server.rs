//! A small HTTP/1.1 server on loopback: the demo shop runs on it, and the
//! tests use it to script faults (429s, 5xx, slow or dropped responses).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::error::{CoreError, Result};

/// A request as handlers see it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: hyper::HeaderMap,
    /// The whole request body (empty for a GET).
    pub body: Bytes,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub type Hold = Arc<dyn std::any::Any + Send + Sync>;

#[derive(Clone)]
pub enum Reply {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
        delay: Option<Duration>,
        /// Kept alive until the answer (and its delay) is done: a server
        /// counting requests in flight frees its slot when this drops.
        hold: Option<Hold>,
    },
    /// Close the connection without answering.
    Hangup,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Respond {
                status,
                headers,
                body,
                delay,
                hold,
            } => f
                .debug_struct("Respond")
                .field("status", status)
                .field("headers", headers)
                .field("body", body)
                .field("delay", delay)
                .field("hold", &hold.is_some())
                .finish(),
            Reply::Hangup => f.write_str("Hangup"),
        }
    }
}

impl Reply {
    pub fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Reply::Respond {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.into(),
            delay: None,
            hold: None,
        }
    }

    /// Keeps `guard` alive until this answer has been given.
    pub fn holding(mut self, guard: Hold) -> Self {
        if let Reply::Respond { hold, .. } = &mut self {
            *hold = Some(guard);
        }
        self
    }

    /// The status, or `None` for a hangup.
    pub fn status(&self) -> Option<u16> {
        match self {
            Reply::Respond { status, .. } => Some(*status),
            Reply::Hangup => None,
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        if let Reply::Respond { headers, .. } = &mut self {
            headers.push((name.to_string(), value.into()));
        }
        self
    }

    pub fn delayed(mut self, by: Duration) -> Self {
        if let Reply::Respond { delay, .. } = &mut self {
            *delay = Some(by);
        }
        self
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A running server; dropping it (or `stop`) shuts it down.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl ServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds `host:port` (port 0 picks a free one) and serves on the shared
/// runtime until the handle is dropped.
pub fn serve(host: &str, port: u16, handler: Handler) -> Result<ServerHandle> {
    let rt = crate::runtime::handle();
    let std_listener = std::net::TcpListener::bind((host, port))
        .map_err(|e| CoreError::config("port", format!("cannot listen on {host}:{port}: {e}")))?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let listener = {
        let _guard = rt.enter();
        TcpListener::from_std(std_listener)?
    };
    rt.spawn(async move {
        loop {
            let conn = tokio::select! {
                c = listener.accept() => c,
                _ = stopped.changed() => break,
            };
            let Ok((stream, _)) = conn else { continue };
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            let mut stopped_conn = stopped.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<Incoming>| {
                    let handler = handler.clone();
                    async move { answer(&handler, req).await }
                });
                let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                tokio::select! {
                    _ = conn => {},
                    _ = stopped_conn.changed() => {},
                }
            });
        }
    });
    Ok(ServerHandle { addr, stop })
}

#[derive(Debug)]
struct Hangup;
impl std::fmt::Display for Hangup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hangup")
    }
}
impl std::error::Error for Hangup {}

async fn answer(
    handler: &Handler,
    req: hyper::Request<Incoming>,
) -> std::result::Result<hyper::Response<Full<Bytes>>, Hangup> {
    let query = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    // A body that breaks off mid-way is answered like a dropped connection.
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(Hangup),
    };
    let request = Request {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query,
        headers: parts.headers,
        body,
    };
    match handler(&request) {
        Reply::Hangup => Err(Hangup),
        Reply::Respond {
            status,
            headers,
            body,
            delay,
            hold,
        } => {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            drop(hold);
            let mut resp = hyper::Response::new(Full::new(body));
            *resp.status_mut() = hyper::StatusCode::from_u16(status)
                .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
            for (k, v) in headers {
                if let (Ok(k), Ok(v)) = (
                    hyper::header::HeaderName::from_bytes(k.as_bytes()),
                    hyper::header::HeaderValue::from_str(&v),
                ) {
                    resp.headers_mut().append(k, v);
                }
            }
            Ok(resp)
        }
    }
}
