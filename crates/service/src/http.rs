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

async fn handle(State(host): State<Arc<ServiceHost>>, body: Bytes) -> impl IntoResponse {
    let deadline = std::time::Instant::now() + REQUEST_TIMEOUT;
    let worker = host.clone();
    match tokio::task::spawn_blocking(move || worker.handle_by(&body, deadline)).await {
        Ok(reply) => {
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
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

/// Serve until the process is stopped. `ready` is called with the bound address.
pub async fn serve(
    host: Arc<ServiceHost>,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    ready(listener.local_addr()?);
    axum::serve(listener, router(host)).await
}
