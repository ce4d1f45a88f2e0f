//! Running the service: bind first, load the engine in the background
//! (readiness says when it is there), stop gracefully on SIGTERM or SIGINT.
//!
//! Shutdown order: stop accepting connections; requests in flight finish
//! (up to `server.shutdown_timeout_seconds`); the node is taken out of the
//! shared state so new requests get 503; then `Node::shutdown` drains the
//! engine, saves the index graphs and flushes the store.

use super::state::{AppState, SetupError};
use crate::cluster::PeerDeletionSink;
use crate::engine::Node;
use actix_web::HttpServer;
use stackherd::settings::Settings;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ServeError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("cannot listen on {listen}: {message}")]
    Bind { listen: String, message: String },
    #[error("the server stopped with an error: {0}")]
    Server(String),
    #[error("the engine failed to start: {0}")]
    Engine(String),
    #[error("the engine failed to shut down cleanly: {0}")]
    Shutdown(String),
}

/// Serves until SIGTERM or SIGINT, then shuts down gracefully. Call it
/// inside an actix (or tokio) runtime, e.g. `actix_web::rt::System::new().block_on(…)`.
pub async fn serve(settings: Settings) -> Result<(), ServeError> {
    let state = AppState::new(settings.clone())?;
    // Deletions recorded for other nodes (also those left from before a
    // restart) are delivered in the background until acknowledged.
    let cluster = std::sync::Arc::clone(state.cluster());
    let retry_loop = cluster.spawn_retry_loop(PeerDeletionSink::new(cluster.client().clone()));
    let listen = settings.server.listen.clone();
    let factory_state = state.clone();
    let mut server = HttpServer::new(move || super::app(factory_state.clone()))
        .disable_signals()
        .shutdown_timeout(settings.server.shutdown_timeout_seconds);
    if settings.server.workers > 0 {
        server = server.workers(settings.server.workers);
    }
    let server = match server.bind(&listen) {
        Ok(server) => server.run(),
        Err(error) => {
            retry_loop.stop().await;
            return Err(ServeError::Bind {
                listen: listen.clone(),
                message: error.to_string(),
            });
        }
    };
    let handle = server.handle();
    tracing::info!(%listen, data_dir = %settings.storage.data_dir.display(), node_id = %cluster.ring().local().id, peers = cluster.ring().peers().len(), "listening; loading the engine");

    let (loaded, load_result) = tokio::sync::oneshot::channel();
    let node_settings = settings.clone();
    // A plain thread, not the runtime's blocking pool: a shutdown during a
    // long model download must not wait for it.
    std::thread::Builder::new()
        .name("stackherd-load".to_string())
        .spawn(move || {
            let started = Instant::now();
            let result = Node::start(node_settings).map_err(|e| e.to_string());
            if let Err(Ok(node)) = loaded.send(result.map(|node| (node, started.elapsed()))) {
                // Nobody waits any more (the server stopped first).
                let (node, _) = node;
                if let Err(error) = node.shutdown(Duration::from_secs(5)) {
                    tracing::error!(%error, "engine shutdown failed");
                }
            }
        })
        .map_err(|e| ServeError::Engine(format!("cannot start the loader thread: {e}")))?;

    let failure: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let install_state = state.clone();
    let install_handle = handle.clone();
    let install_failure = Arc::clone(&failure);
    actix_web::rt::spawn(async move {
        match load_result.await {
            Ok(Ok((node, took))) => {
                let node = Arc::new(node);
                install_state.set_node(Arc::clone(&node));
                match super::seer::probe(&install_state, &node).await {
                    Ok(()) => tracing::info!(seconds = took.as_secs_f64(), "engine ready"),
                    Err(error) => {
                        tracing::error!(%error, "engine loaded but the test embedding failed");
                    }
                }
            }
            Ok(Err(message)) => {
                tracing::error!(error = %message, "the engine failed to start; stopping");
                install_state.set_failed(message.clone());
                *install_failure
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(message);
                install_handle.stop(false).await;
            }
            Err(_) => tracing::error!("the engine loader thread ended without an answer"),
        }
    });

    let signal_handle = handle.clone();
    actix_web::rt::spawn(async move {
        let name = wait_for_signal().await;
        tracing::info!(signal = name, "stopping: finishing requests in flight");
        signal_handle.stop(true).await;
    });

    let served = server.await;
    retry_loop.stop().await;
    drop(cluster);
    let node = state.take_node();
    drop(state);
    if let Some(message) = failure
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
    {
        return Err(ServeError::Engine(message));
    }
    served.map_err(|e| ServeError::Server(e.to_string()))?;
    if let Some(node) = node {
        shut_down(
            node,
            Duration::from_secs(settings.server.shutdown_timeout_seconds),
        )
        .await?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Waits until only this reference to the node is left (requests hold
/// clones while they run), then shuts it down off the async threads.
async fn shut_down(mut node: Arc<Node>, drain: Duration) -> Result<(), ServeError> {
    let deadline = Instant::now() + drain;
    let owned = loop {
        match Arc::try_unwrap(node) {
            Ok(owned) => break Some(owned),
            Err(shared) if Instant::now() < deadline => {
                node = shared;
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
            Err(_) => break None,
        }
    };
    let Some(owned) = owned else {
        tracing::warn!(
            "requests still hold the engine after the drain time; it stops when they end"
        );
        return Ok(());
    };
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    actix_web::rt::task::spawn_blocking(move || owned.shutdown(remaining))
        .await
        .map_err(|e| ServeError::Shutdown(e.to_string()))?
        .map_err(|e| ServeError::Shutdown(e.to_string()))
}

/// The first of SIGTERM and SIGINT (Ctrl-C); its name.
async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => "SIGTERM",
                    _ = tokio::signal::ctrl_c() => "SIGINT",
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
