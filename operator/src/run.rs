//! `operator run`: the controller, the HTTP endpoints, optional leader election, and a clean
//! stop on SIGTERM / SIGINT (running reconciles finish, the Lease is released).

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use k8s_openapi::jiff::SignedDuration;
use kube::Client;
use operator::controller::{self, Context, Health};
use operator::gate::ImagePolicy;
use operator::http;
use operator::leader::{Elector, Timing};
use operator::metrics::Metrics;
use operator::rollback::Patience;
use operator::telemetry::{self, LogFormat};
use tokio::sync::{oneshot, watch};
use tracing::{error, info, warn};

/// Flags of `operator run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Watch only this namespace (needs only a Role there); all namespaces when absent.
    #[arg(long)]
    namespace: Option<String>,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Reconcile only while holding a coordination.k8s.io/v1 Lease (for more than one replica).
    #[arg(long)]
    leader_elect: bool,
    /// Name of the Lease.
    #[arg(long, default_value = "fbplugin-operator")]
    lease_name: String,
    /// Namespace of the Lease [default: --namespace, else $POD_NAMESPACE, else the
    /// ServiceAccount's namespace, else the kubeconfig's].
    #[arg(long)]
    lease_namespace: Option<String>,
    /// This replica's identity in the Lease and in Events [default: $POD_NAME, else the host name].
    #[arg(long)]
    identity: Option<String>,
    /// An image repository plugins may come from (repeatable): `ghcr.io/acme/out-jsonl` allows
    /// that repository, `ghcr.io/acme/` everything below it. None given: every plugin is
    /// refused (reason ImageNotAllowed) until the admin lists the trusted ones.
    #[arg(long = "allowed-image-repository", value_name = "REPOSITORY")]
    allowed_image_repositories: Vec<String>,
    /// How long a failure that will not heal (CrashLoopBackOff, a failed init container, an
    /// image that cannot be pulled) must show on a pod of a new rollout before the operator
    /// rolls the DaemonSet back to its last known good state.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    rollback_after: u32,
    /// Log line format; the level comes from RUST_LOG (default info).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

/// Runs the command; the exit code says whether it stopped cleanly.
pub fn main(args: RunArgs) -> ExitCode {
    telemetry::init(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> Result<(), String> {
    let client = Client::try_default().await.map_err(|e| {
        format!("cannot configure a Kubernetes client: {e}; run in a pod with a ServiceAccount or set KUBECONFIG")
    })?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("stopping: waiting for running reconciles");
        stop_tx.send_replace(true);
    });

    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let health = Arc::new(Health::new(args.leader_elect));
    let metrics = Arc::new(Metrics::default());
    let state = http::State {
        health: health.clone(),
        metrics: metrics.clone(),
    };
    let (_, server) = http::serve(args.listen, state, stopped(stop_rx.clone()))
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {}: {e}; pick another --listen",
                args.listen
            )
        })?;
    let server = tokio::spawn(server);
    let images = ImagePolicy::new(&args.allowed_image_repositories);
    if images.entries().is_empty() {
        warn!(
            "no --allowed-image-repository given: every FluentBitPlugin is refused until the \
             admin lists the trusted image repositories"
        );
    } else {
        info!(repositories = ?images.entries(), "image allow-list");
    }
    let patience = Patience(SignedDuration::from_secs(i64::from(args.rollback_after)));
    let ctx = Arc::new(
        Context::new(client.clone(), metrics, Some(identity.clone()))
            .with_images(images)
            .with_patience(patience),
    );
    let namespace = args.namespace.as_deref();

    let result = if args.leader_elect {
        let lease_namespace = args
            .lease_namespace
            .clone()
            .or_else(|| args.namespace.clone())
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .or_else(service_account_namespace)
            .unwrap_or_else(|| client.default_namespace().to_string());
        info!(lease = %args.lease_name, namespace = %lease_namespace, %identity, "leader election on");
        let elector = Elector::new(
            client,
            &lease_namespace,
            &args.lease_name,
            &identity,
            Timing::default(),
        );
        let (leading_tx, leading_rx) = watch::channel(false);
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let stop = stop_rx.clone();
        let election = tokio::spawn(elector.run(leading_tx, async move {
            tokio::select! {
                _ = stopped(stop) => {}
                _ = done_rx => {}
            }
        }));
        let result = lead_while_elected(ctx, namespace, health, leading_rx, stop_rx.clone()).await;
        // Stop campaigning (also after an error) and release the Lease.
        let _ = done_tx.send(());
        let _ = election.await;
        result
    } else {
        controller::run(
            ctx,
            namespace,
            health,
            sync_trigger(stopped(stop_rx.clone())),
        )
        .await
        .map_err(|e| e.to_string())
    };
    // Stop serving whether the controller ended by a signal or by an error.
    server.abort();
    result
}

async fn lead_while_elected(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    health: Arc<Health>,
    mut leading: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) -> Result<(), String> {
    loop {
        tokio::select! {
            _ = leading.wait_for(|l| *l) => {}
            _ = stopped(stop.clone()) => return Ok(()),
        }
        if *stop.borrow() {
            return Ok(());
        }
        health.set_leading(true);
        info!("leading: starting the controller");
        let mut lost = leading.clone();
        let stop_now = stop.clone();
        let until = sync_trigger(async move {
            tokio::select! {
                _ = lost.wait_for(|l| !*l) => {}
                _ = stopped(stop_now) => {}
            }
        });
        let result = controller::run(ctx.clone(), namespace, health.clone(), until).await;
        health.set_leading(false);
        result.map_err(|e| e.to_string())?;
        if *stop.borrow() {
            return Ok(());
        }
        warn!("lost the lease: controller stopped, campaigning again");
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The Controller wants a `Sync` shutdown future: run `trigger` as a task and wait on a
/// oneshot.
fn sync_trigger(
    trigger: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + Sync {
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        trigger.await;
        let _ = tx.send(());
    });
    async move {
        let _ = rx.await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => info!("SIGTERM"),
                    _ = tokio::signal::ctrl_c() => info!("SIGINT"),
                }
                return;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the operator")
            }
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn default_identity() -> String {
    std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("fbplugin-operator-{}", std::process::id()))
}

fn service_account_namespace() -> Option<String> {
    std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
