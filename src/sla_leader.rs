//! One live SLA runner per database: when several nodes share one PostgreSQL database, only
//! the node holding the SLA lease (`guichet_tickets::sla_lease`) runs the clocks; the others
//! retry every few seconds and take over when the holder is gone, restoring the clocks from
//! `sla_state` as at start. On SQLite (a single node) the runner always runs.

use std::sync::Arc;
use std::time::Duration;

use guichet_tickets::Store;
use guichet_tickets::sla_lease::SlaLease;

use crate::clock::Clock;
use crate::config::Config;
use crate::sla_runner::{LivePolicies, SlaChannel, SlaRunner};

/// How often a node that does not lead tries again, and how often the leader checks that
/// its lease still holds.
pub const RETRY: Duration = Duration::from_secs(5);

/// What a node needs to run the SLA clocks when it leads.
pub struct SlaNode {
    /// The shared database.
    pub store: Store,
    /// The configuration (grids, calendars); the settings saved by administrators are read
    /// from the database at each takeover.
    pub config: Arc<Config>,
    /// The policies of live tickets (`crate::sla_runner::live_policies`).
    pub policies: LivePolicies,
    /// The server's clock.
    pub clock: Clock,
    /// How this node is named in the logs.
    pub name: String,
    /// How often to retry, and to check the lease (`RETRY` in production).
    pub retry: Duration,
}

/// How a node is named in the logs: host name, process id and HTTP address.
pub fn node_name(http: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned());
    format!("{host} (pid {}, HTTP {http})", std::process::id())
}

/// Runs the SLA clocks whenever this node leads, until the task is aborted. `leading` tells
/// whether it leads now.
pub async fn lead(
    node: SlaNode,
    mut changes: SlaChannel,
    leading: tokio::sync::watch::Sender<bool>,
) {
    let mut told_follower = false;
    loop {
        match node.store.try_lead_sla().await {
            Ok(Some(lease)) => {
                tracing::info!(node = %node.name, "this node runs the SLA clocks");
                told_follower = false;
                // The runner reads the administrators' settings from the database.
                changes.discard_queued();
                let _ = leading.send(true);
                run_while_held(&node, lease, &mut changes).await;
                let _ = leading.send(false);
                tracing::info!(node = %node.name, "this node no longer runs the SLA clocks");
            }
            Ok(None) => {
                if !told_follower {
                    tracing::info!(
                        node = %node.name,
                        "another node runs the SLA clocks; this one takes over if it stops"
                    );
                    told_follower = true;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot ask for the SLA lease; retrying"),
        }
        tokio::time::sleep(node.retry).await;
    }
}

/// Starts a runner and runs it while `lease` holds, lending it the node's channel.
async fn run_while_held(node: &SlaNode, mut lease: SlaLease, changes: &mut SlaChannel) {
    let engine = match crate::live_settings::sla_engine(&node.store, &node.config).await {
        Ok((engine, newest)) => (
            engine,
            crate::live_settings::with_versions(node.policies.clone(), newest),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the SLA engine; giving the lead back");
            lease.release().await;
            return;
        }
    };
    let (engine, policies) = engine;
    let started = SlaRunner::start(node.store.clone(), engine, policies, node.clock.now()).await;
    let mut runner = match started {
        Ok(runner) => runner,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the SLA runner; giving the lead back");
            lease.release().await;
            return;
        }
    };
    runner.swap_channel(changes);
    tokio::select! {
        () = crate::sla_runner::run(&mut runner, node.clock) => {}
        () = watch_lease(&mut lease, node.retry) => {
            tracing::warn!(node = %node.name, "SLA lease lost (database session gone)");
        }
    }
    lease.release().await;
    runner.swap_channel(changes);
}

/// Returns when the lease no longer holds.
async fn watch_lease(lease: &mut SlaLease, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if !lease.still_held().await {
            return;
        }
    }
}
