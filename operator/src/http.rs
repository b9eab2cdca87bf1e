//! `/healthz`, `/readyz` and `/metrics` over plain HTTP/1.1.
//!
//! Three fixed GET endpoints for kubelet probes and Prometheus do not need an HTTP framework:
//! read the request head (bounded in size and time), answer, close the connection.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info};

use crate::controller::Health;
use crate::metrics::Metrics;

/// The largest request head read; probes and scrapes send a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What the endpoints read.
#[derive(Clone)]
pub struct State {
    /// Readiness.
    pub health: Arc<Health>,
    /// The metrics to expose.
    pub metrics: Arc<Metrics>,
}

/// A response: status line, content type, body.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

/// Answers one request line (`GET /path HTTP/1.1`).
pub fn respond(state: &State, request_line: &str) -> Response {
    let text = |status, body: &str| Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.to_string(),
    };
    let mut parts = request_line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = target.split('?').next().unwrap_or_default();
    if method != "GET" && method != "HEAD" {
        return text(405, "only GET\n");
    }
    match path {
        "/healthz" => text(200, "ok\n"),
        "/readyz" if state.health.ready() => text(200, "ready\n"),
        "/readyz" => text(503, "watches not synced yet\n"),
        "/metrics" => Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: state.metrics.encode(),
        },
        _ => text(404, "not found: try /healthz, /readyz or /metrics\n"),
    }
}

/// Binds `addr` (fails at once when it cannot) and returns the bound address and the server,
/// which runs until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    state: State,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<(SocketAddr, impl Future<Output = ()>)> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    info!(%addr, "serving /healthz, /readyz and /metrics");
    Ok((addr, async move {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let state = state.clone();
                        tokio::spawn(async move {
                            if let Err(e) = handle(stream, &state).await {
                                debug!(error = %e, "HTTP connection ended early");
                            }
                        });
                    }
                    Err(e) => debug!(error = %e, "accept failed"),
                },
            }
        }
    }))
}

async fn handle(mut stream: TcpStream, state: &State) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head"))??;
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default();
    let response = respond(state, line);
    let reason = match response.status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let body = if line.starts_with("HEAD ") {
        ""
    } else {
        response.body.as_str()
    };
    let out = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        response.status,
        response.content_type,
        response.body.len(),
    );
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(leader_election: bool) -> State {
        State {
            health: Arc::new(Health::new(leader_election)),
            metrics: Arc::new(Metrics::default()),
        }
    }

    #[test]
    fn readiness_follows_sync_and_standby() {
        let s = state(false);
        assert_eq!(respond(&s, "GET /readyz HTTP/1.1").status, 503);
        s.health.set_synced(true);
        assert_eq!(respond(&s, "GET /readyz HTTP/1.1").status, 200);
        let le = state(true);
        assert_eq!(
            respond(&le, "GET /readyz HTTP/1.1").status,
            200,
            "standby is ready"
        );
        le.health.set_leading(true);
        assert_eq!(
            respond(&le, "GET /readyz HTTP/1.1").status,
            503,
            "leader waits for sync"
        );
        assert_eq!(respond(&le, "GET /healthz HTTP/1.1").status, 200);
        assert_eq!(respond(&le, "GET /nope HTTP/1.1").status, 404);
        assert_eq!(respond(&le, "POST /healthz HTTP/1.1").status, 405);
    }

    #[tokio::test]
    async fn serves_metrics_over_tcp_until_shutdown() {
        let s = state(false);
        s.metrics.record(Duration::from_millis(1), Ok(()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr, server) = serve("127.0.0.1:0".parse().unwrap(), s, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
        let task = tokio::spawn(server);
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("fbplugin_reconciles_total{result=\"success\"} 1"));
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
