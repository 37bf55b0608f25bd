//! The HTTP binding of the service (protocol-09 §5.2): POST `/.well-known/mmm/`, the body a
//! sealed request; the response carries the payload's status as its HTTP status too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;

use crate::host::ServiceHost;

/// How long a request may wait, from its arrival, before it starts to change anything: past
/// that it is refused (503) with nothing applied. A request that has started writing is always
/// carried through and answered with what happened, never with a time-out.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The network address a connection came from (set by [`accept_loop`]).
#[derive(Debug, Clone, Copy)]
pub struct Source(pub std::net::IpAddr);

/// A trusted proxy as the operator names it: an address, or a network `ADDRESS/BITS` (without
/// bits set past its prefix: `10.0.0.1/8` is refused rather than widened; IPv4 networks in
/// IPv4 form, as addresses are compared).
pub fn trusted_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let net = text
        .parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            format!("--trusted-proxy takes an address or a network (ADDRESS/BITS), not '{text}'")
        })?;
    if net != net.trunc() {
        return Err(format!(
            "--trusted-proxy {text}: the address has bits set past the prefix; the network is {}",
            net.trunc()
        ));
    }
    if let ipnet::IpNet::V6(v6) = net {
        if v6.addr().to_ipv4_mapped().is_some() {
            return Err(format!(
                "--trusted-proxy {text}: write an IPv4 network in IPv4 form"
            ));
        }
    }
    Ok(net)
}

/// One address of an `X-Forwarded-For` list, as proxies write them: `192.0.2.1`,
/// `192.0.2.1:5678`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:443`, with or without a
/// zone (`%eth0`).
fn forwarded_hop(text: &str) -> Option<std::net::IpAddr> {
    let text = text.trim();
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .map_or(text, |(inside, _port)| inside);
    let bare = bare
        .split_once('%')
        .map_or(bare, |(address, _zone)| address);
    bare.parse().ok()
}

/// The address a request is metered by: the connection's, or — where the connection comes from
/// a proxy the operator trusts — the client the trusted chain received it from: read from the
/// right of `X-Forwarded-For`, past the addresses of trusted proxies, the first that is not one.
/// Entries further left were written by the client and are never read; an entry a trusted proxy
/// wrote that cannot be read, or no header, and the request is metered as the proxy's own.
pub fn client_address(
    connection: std::net::IpAddr,
    forwarded_for: Option<&str>,
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| {
        let ip = ip.to_canonical();
        trusted.iter().any(|net| net.contains(&ip))
    };
    if !is_trusted(&connection) {
        return connection;
    }
    let Some(list) = forwarded_for else {
        return connection;
    };
    for hop in list.rsplit(',') {
        match forwarded_hop(hop) {
            Some(ip) if is_trusted(&ip) => continue,
            Some(ip) => return ip,
            None => return connection,
        }
    }
    connection
}

async fn handle(
    State(host): State<Arc<ServiceHost>>,
    source: Option<axum::Extension<Source>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let deadline = std::time::Instant::now() + REQUEST_TIMEOUT;
    let worker = host.clone();
    let source = source.map(|s| {
        // Several X-Forwarded-For headers are one list, in order.
        // (Read whatever the octets: an entry that is not text is one that does not parse.)
        let forwarded: Vec<String> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
        client_address(s.0 .0, forwarded.as_deref(), &host.trusted_proxies)
    });
    match tokio::task::spawn_blocking(move || worker.handle_from(&body, deadline, source)).await {
        Ok(reply) => {
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
            if reply.plain {
                // Refused before it was read: plain text, and when to come back.
                return (
                    status,
                    [
                        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                        (header::RETRY_AFTER, "60"),
                    ],
                    reply.body,
                )
                    .into_response();
            }
            (
                status,
                [(header::CONTENT_TYPE, mesh_protocol::binding::CONTENT_TYPE)],
                reply.body,
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!("request handler failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

pub fn router(host: Arc<ServiceHost>) -> Router {
    // Bodies up to four times the limit still reach the host, which answers 413 in a sealed
    // response; beyond that the HTTP layer refuses them unread (413, no payload).
    let limit = host.max_request.saturating_mul(4);
    Router::new()
        .route("/.well-known/mmm/", post(handle))
        .route("/.well-known/mmm", post(handle))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(host)
}

/// How connections are held: how many at once, how long one may take to send a request's
/// head, to finish the TLS handshake, and to send its body.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub handshake_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Serve plain HTTP until the process is stopped. `ready` is called with the bound address.
pub async fn serve(
    host: Arc<ServiceHost>,
    listen: SocketAddr,
    limits: ConnectionLimits,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    ready(listener.local_addr()?);
    accept_loop(
        listener,
        router_with(host, limits.body_timeout),
        None,
        limits,
    )
    .await
}

/// The router with a time limit on reading each request's body (and the same size limit as
/// [`router`]'s, checked as the body is read).
pub fn router_with(host: Arc<ServiceHost>, body_timeout: Duration) -> Router {
    let limit = host.max_request.saturating_mul(4);
    router(host).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| async move {
            let (parts, body) = request.into_parts();
            match tokio::time::timeout(body_timeout, axum::body::to_bytes(body, limit)).await {
                Ok(Ok(bytes)) => {
                    next.run(axum::extract::Request::from_parts(parts, bytes.into()))
                        .await
                }
                Ok(Err(_)) => StatusCode::PAYLOAD_TOO_LARGE.into_response(),
                Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
            }
        },
    ))
}

/// Accept connections (TLS ones when `tls` is given) while fewer than `max_connections` are
/// open; each must send its request head within `header_timeout` (an idle connection is closed),
/// and its TLS handshake within `handshake_timeout`. Accept errors (no descriptors left, say) are
/// met with a growing pause, and logged at most once a second.
pub async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut pause = Duration::from_millis(5);
    let mut last_log: Option<std::time::Instant> = None;
    let mut unlogged = 0u64;
    loop {
        let permit = open
            .clone()
            .acquire_owned()
            .await
            .map_err(std::io::Error::other)?;
        let (stream, peer) = match listener.accept().await {
            Ok((stream, peer)) => {
                pause = Duration::from_millis(5);
                (stream, peer)
            }
            Err(e) => {
                unlogged += 1;
                if last_log.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                    tracing::warn!("accept failed ({unlogged} times since the last report): {e}");
                    last_log = Some(std::time::Instant::now());
                    unlogged = 0;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        // A response goes out in several writes (TLS records, head and body): without this,
        // Nagle holds the last back until the client's delayed ACK, 40 ms later.
        let _ = stream.set_nodelay(true);
        let app = app.clone().layer(axum::Extension(Source(peer.ip())));
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = Builder::new(TokioExecutor::new()).http1_only();
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let service = TowerToHyperService::new(app);
            match tls {
                Some(acceptor) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream))
                            .await
                    else {
                        return;
                    };
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_are_believed_from_trusted_proxies_only() {
        let trusted = [
            trusted_proxy("10.0.0.0/8").unwrap(),
            trusted_proxy("192.0.2.7").unwrap(),
        ];
        // Straight from a client: its own address, whatever header it sends.
        assert_eq!(
            client_address(ip("203.0.113.9"), Some("198.51.100.1"), &trusted),
            ip("203.0.113.9")
        );
        // Through a trusted proxy: the client it received the request from.
        assert_eq!(
            client_address(ip("10.1.2.3"), Some("198.51.100.1"), &trusted),
            ip("198.51.100.1")
        );
        // A client that writes its own X-Forwarded-For through the proxy gets the address the
        // proxy appended, not the one it made up.
        assert_eq!(
            client_address(ip("10.1.2.3"), Some("1.2.3.4, 198.51.100.1"), &trusted),
            ip("198.51.100.1")
        );
        // Two trusted proxies in a row: the address before them.
        assert_eq!(
            client_address(ip("10.1.2.3"), Some("198.51.100.1, 192.0.2.7"), &trusted),
            ip("198.51.100.1")
        );
        // IPv4-mapped: the same proxy.
        assert_eq!(
            client_address(ip("::ffff:10.1.2.3"), Some("198.51.100.1"), &trusted),
            ip("198.51.100.1")
        );
        // What a client writes on the left is never read, junk included.
        assert_eq!(
            client_address(ip("10.1.2.3"), Some("junk, 198.51.100.1"), &trusted),
            ip("198.51.100.1")
        );
        // Proxies that write ports, brackets or zones.
        for (header, client) in [
            ("198.51.100.1:5678", "198.51.100.1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("fe80::1%eth0", "fe80::1"),
        ] {
            assert_eq!(
                client_address(ip("10.1.2.3"), Some(header), &trusted),
                ip(client),
                "{header}"
            );
        }
        // No header, or a last entry (the proxy's) that does not read: metered as the proxy.
        for header in [None, Some("unknown"), Some("198.51.100.1, junk"), Some("")] {
            assert_eq!(
                client_address(ip("10.1.2.3"), header, &trusted),
                ip("10.1.2.3"),
                "{header:?}"
            );
        }
        // Nothing trusted: the connection's address always.
        assert_eq!(
            client_address(ip("10.1.2.3"), Some("198.51.100.1"), &[]),
            ip("10.1.2.3")
        );
        assert!(trusted_proxy("10.0.0.0/33").is_err());
        assert!(trusted_proxy("proxy.example").is_err());
        // Not silently widened, nor written in a form that never matches.
        assert!(trusted_proxy("10.9.9.9/8").is_err());
        assert!(trusted_proxy("::ffff:10.0.0.0/104").is_err());
    }

    proptest::proptest! {
        /// Whatever a client puts in the header, a request that did not come through a trusted
        /// proxy is metered by its own address; one that did is metered by an address from the
        /// header or the proxy's, never by a trusted proxy's own address from the header.
        #[test]
        fn a_client_cannot_choose_its_address(
            header in proptest::option::of(".{0,80}"),
            client in proptest::prelude::any::<[u8; 4]>(),
        ) {
            let trusted = [trusted_proxy("10.0.0.0/8").unwrap()];
            let client = IpAddr::from(client);
            let got = client_address(client, header.as_deref(), &trusted);
            if !trusted[0].contains(&client) {
                proptest::prop_assert_eq!(got, client);
            } else if got != client {
                proptest::prop_assert!(!trusted[0].contains(&got));
            }
        }
    }
}
