//! What every service runs besides its own logic: the gRPC server with health and
//! reflection, an HTTP port with `/metrics` and `/health`, background workers (consumers,
//! the outbox relay), and one orderly shutdown.

mod api_error;
mod command;
mod config;
mod http;
mod infrastructure;

use std::{
    net::SocketAddr,
    panic::AssertUnwindSafe,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use futures::{FutureExt, future::BoxFuture};
use serde::{Deserialize, Serialize};
use settings::SettingsError;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::{service::Routes, transport::server::TcpIncoming};
use tonic_health::ServingStatus;

pub use api_error::ApiError;
pub use command::{Command, shutdown_on_signals};
pub use config::{BaseConfig, ClockSettings, Deployment};
pub use infrastructure::{Infrastructure, StartupError, migrate};

/// Every service, and every test binary that runs one, allocates with mimalloc: under a load of
/// kiosk scans glibc's allocator spent a fifth of the process's time on its locks and free
/// lists, where mimalloc's per-thread heaps do not contend.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where a service listens, the `[server]` section of its configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ServerSettings {
    /// Interface to bind.
    pub host: String,
    /// gRPC port; 0 picks a free one (tests).
    pub grpc_port: u16,
    /// HTTP port for `/metrics` and `/health`; 0 picks a free one.
    pub http_port: u16,
}

impl ServerSettings {
    /// Loopback on the given ports.
    pub fn local(grpc_port: u16, http_port: u16) -> Self {
        Self {
            host: "127.0.0.1".into(),
            grpc_port,
            http_port,
        }
    }

    /// Checks the values that would otherwise fail later and less clearly.
    pub fn validate(&self) -> Result<(), SettingsError> {
        settings::validate_host("server.host", &self.host)?;
        if self.grpc_port != 0 && self.grpc_port == self.http_port {
            return Err(SettingsError::invalid(
                "server.http_port",
                "must differ from server.grpc_port",
            ));
        }
        Ok(())
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self::local(0, 0)
    }
}

/// Why a service could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A port could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The reflection service could not read the descriptors.
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    /// A background worker ended before the service was told to stop.
    #[error("a background worker ended unexpectedly")]
    WorkerEnded,
    /// A task panicked or was aborted.
    #[error("task {name} ended abnormally: {source}")]
    Task {
        /// Which task.
        name: &'static str,
        /// The cause.
        source: tokio::task::JoinError,
    },
}

/// A background worker: started with a stop token, returns once it has wound down.
pub type Worker = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>;

/// Wraps `run` as a [`Worker`].
pub fn worker<F, Fut>(run: F) -> Worker
where
    F: FnOnce(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Box::new(move |stop| Box::pin(run(stop)))
}

/// Everything one service serves and runs.
pub struct Workload {
    /// The service's own gRPC services.
    pub routes: Routes,
    /// Their fully qualified names, reported by the health service.
    pub service_names: Vec<&'static str>,
    /// Encoded descriptors for reflection.
    pub file_descriptor_set: &'static [u8],
    /// Kafka consumers; stopped after the gRPC server has drained.
    pub consumers: Vec<Worker>,
    /// The outbox relay; stopped last, so events written by the last requests go out.
    pub relay: Option<Worker>,
}

/// A service built and bound, ready to run: what every service's `build` returns.
pub struct App {
    server: Server,
    workload: Workload,
}

impl App {
    /// Binds the ports for `workload`, so a caller (a test) can learn them before it runs.
    pub async fn bind(settings: &ServerSettings, workload: Workload) -> Result<Self, ServeError> {
        Ok(Self {
            server: Server::bind(settings).await?,
            workload,
        })
    }

    /// The bound gRPC address.
    pub fn grpc_address(&self) -> SocketAddr {
        self.server.grpc_address()
    }

    /// The bound HTTP (`/metrics`, `/health`) address.
    pub fn http_address(&self) -> SocketAddr {
        self.server.http_address()
    }

    /// Serves until `shutdown` is cancelled, then stops in order (see [`Server::run`]).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), ServeError> {
        self.server.run(self.workload, shutdown).await
    }
}

/// Bound listeners, ready to serve.
pub struct Server {
    grpc: TcpListener,
    http: TcpListener,
}

impl Server {
    /// Binds both ports now, so a caller (a test) can learn them before serving.
    pub async fn bind(settings: &ServerSettings) -> Result<Self, ServeError> {
        Ok(Self {
            grpc: bind(&settings.host, settings.grpc_port).await?,
            http: bind(&settings.host, settings.http_port).await?,
        })
    }

    /// The bound gRPC address.
    pub fn grpc_address(&self) -> SocketAddr {
        address_of(&self.grpc)
    }

    /// The bound HTTP address.
    pub fn http_address(&self) -> SocketAddr {
        address_of(&self.http)
    }

    /// Serves until `shutdown` is cancelled, then stops in order: health turns NOT_SERVING,
    /// the gRPC server finishes in-flight calls, consumers finish the message in hand, the
    /// relay flushes the outbox, and the HTTP port closes last.
    pub async fn run(
        self,
        workload: Workload,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError> {
        let grpc_address = self.grpc_address();
        let http_address = self.http_address();
        let (reporter, health_service) = tonic_health::server::health_reporter();
        for name in &workload.service_names {
            reporter
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(workload.file_descriptor_set)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;

        let ready = Arc::new(AtomicBool::new(true));
        let http_stop = CancellationToken::new();
        let http_task = tokio::spawn(http::serve(self.http, ready.clone(), http_stop.clone()));

        // A worker that ends (or panics) before it was told to stop takes the service down,
        // so the orchestrator restarts it instead of it serving without its consumers.
        let failed = CancellationToken::new();
        let consumers_stop = CancellationToken::new();
        let consumer_tasks: Vec<JoinHandle<()>> = workload
            .consumers
            .into_iter()
            .map(|consumer| supervise("consumer", consumer, &consumers_stop, &failed))
            .collect();
        let relay_stop = CancellationToken::new();
        let relay_task = workload
            .relay
            .map(|relay| supervise("relay", relay, &relay_stop, &failed));

        let grpc_stop = CancellationToken::new();
        let mut builder = tonic::transport::Server::builder().trace_fn(telemetry::server_span);
        let mut grpc_task = tokio::spawn(
            builder
                .add_routes(workload.routes)
                .add_service(health_service)
                .add_service(reflection)
                .serve_with_incoming_shutdown(
                    // A listener handed over keeps Nagle's algorithm on, which with delayed
                    // acknowledgements holds each small answer back ~40 ms (a kiosk scan).
                    TcpIncoming::from(self.grpc).with_nodelay(Some(true)),
                    grpc_stop.clone().cancelled_owned(),
                ),
        );
        tracing::info!(grpc = %grpc_address, http = %http_address, "serving");

        let early_end = tokio::select! {
            () = shutdown.cancelled() => None,
            () = failed.cancelled() => None,
            ended = &mut grpc_task => Some(ended),
        };

        tracing::info!("shutting down");
        ready.store(false, Ordering::SeqCst);
        for name in &workload.service_names {
            reporter
                .set_service_status(*name, ServingStatus::NotServing)
                .await;
        }
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        grpc_stop.cancel();
        let grpc_result = match early_end {
            Some(ended) => ended,
            None => grpc_task.await,
        };
        consumers_stop.cancel();
        for task in consumer_tasks {
            join("consumer", task).await?;
        }
        relay_stop.cancel();
        if let Some(task) = relay_task {
            join("relay", task).await?;
        }
        http_stop.cancel();
        join("http", http_task).await?;
        grpc_result
            .map_err(|source| ServeError::Task {
                name: "grpc",
                source,
            })?
            .map_err(ServeError::from)?;
        if failed.is_cancelled() {
            return Err(ServeError::WorkerEnded);
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Runs `worker` until `stop`; cancels `failed` if it ends or panics before that.
fn supervise(
    kind: &'static str,
    worker: Worker,
    stop: &CancellationToken,
    failed: &CancellationToken,
) -> JoinHandle<()> {
    let (stop, failed) = (stop.clone(), failed.clone());
    tokio::spawn(async move {
        let ended = AssertUnwindSafe(worker(stop.clone())).catch_unwind().await;
        if ended.is_err() {
            tracing::error!(worker = kind, "worker panicked; stopping the service");
            failed.cancel();
        } else if !stop.is_cancelled() {
            tracing::error!(
                worker = kind,
                "worker ended on its own; stopping the service"
            );
            failed.cancel();
        }
    })
}

async fn join(name: &'static str, task: JoinHandle<()>) -> Result<(), ServeError> {
    task.await
        .map_err(|source| ServeError::Task { name, source })
}

async fn bind(host: &str, port: u16) -> Result<TcpListener, ServeError> {
    let address = format!("{host}:{port}");
    TcpListener::bind(&address)
        .await
        .map_err(|source| ServeError::Bind { address, source })
}

fn address_of(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_workload(consumers: Vec<Worker>) -> Workload {
        Workload {
            routes: Routes::default(),
            service_names: vec![],
            file_descriptor_set: tonic_health::pb::FILE_DESCRIPTOR_SET,
            consumers,
            relay: None,
        }
    }

    #[tokio::test]
    async fn a_worker_that_ends_by_itself_stops_the_service_with_an_error() {
        let app = App::bind(
            &ServerSettings::local(0, 0),
            empty_workload(vec![worker(|_stop| async {})]),
        )
        .await
        .unwrap();

        let ended = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            app.run_until_stopped(CancellationToken::new()),
        )
        .await
        .expect("the service stops without being told to");

        assert!(matches!(ended, Err(ServeError::WorkerEnded)));
    }

    #[tokio::test]
    async fn workers_finish_their_work_before_the_service_returns() {
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        let slow = worker(move |stop| async move {
            stop.cancelled().await;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            flag.store(true, Ordering::SeqCst);
        });
        let app = App::bind(&ServerSettings::local(0, 0), empty_workload(vec![slow]))
            .await
            .unwrap();
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));

        shutdown.cancel();
        running.await.unwrap().unwrap();

        assert!(finished.load(Ordering::SeqCst));
    }
}
