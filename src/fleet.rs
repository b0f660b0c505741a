//! Replicas of one fleet: membership through etcd leases, and each replica's share of the fleet's
//! seats and rate caps.
//!
//! Several vcproxy replicas behind one load balancer share one etcd and one policy. The policy's
//! seats and rate caps are for the whole fleet, so that N replicas never put more concurrency on
//! the super master than one would. Each replica:
//! 1. puts `<prefix>/fleet/<name>/replicas/<id>` under a lease it keeps alive ([`FleetConfig::lease`]);
//! 2. lists that prefix every second: the live replicas, sorted by id, and its own rank among them;
//! 3. applies [`share`] of the policy for that view, so seats split as evenly as whole seats allow
//!    (the remainder goes to the lowest ranks) and every rate cap is divided by N.
//!
//! A replica that stops revokes its lease (the others re-split within a second); one that dies
//! is dropped when its lease expires. While etcd is unreachable the last view stays in force.

use std::time::Duration;

use etcd_client::{Client, GetOptions, PutOptions};
use tokio::sync::watch;

use crate::flowcontrol::{FlowControlConfig, RateQuota};

/// `[fleet]` in vcproxy.toml.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// Replicas with the same etcd prefix and fleet name share the policy's seats and caps.
    pub name: String,
    /// Time to live of a replica's registration: how long a dead replica keeps its share.
    pub lease: Duration,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig { name: "default".into(), lease: Duration::from_secs(4) }
    }
}

/// What one replica knows of its fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetView {
    /// Live replicas, this one included (≥ 1).
    pub replicas: usize,
    /// This replica's place among them, `0..replicas`.
    pub rank: usize,
}

impl FleetView {
    /// A replica on its own (and the view before etcd has answered).
    pub const ALONE: FleetView = FleetView { replicas: 1, rank: 0 };
}

/// This replica's part of the fleet-wide `policy`: every non-exempt level's seats and queue limits
/// split across the replicas, every rate cap divided by their number. With one replica it is
/// `policy` itself.
pub fn share(policy: &FlowControlConfig, view: FleetView) -> FlowControlConfig {
    let n = view.replicas.max(1);
    let rank = view.rank.min(n - 1);
    let mut mine = policy.clone();
    if n == 1 {
        return mine;
    }
    for level in mine.levels.values_mut().filter(|l| !l.exempt) {
        // Whole seats: the sum over the ranks is exactly the policy's seats. A level with fewer
        // seats than replicas still needs one per replica to serve at all.
        let seats = level.seats as usize;
        level.seats = (seats / n + usize::from(rank < seats % n)).max(1) as u32;
        // A queue drained by 1/N of the seats holds 1/N of the requests for the same wait.
        if level.queue_length_limit > 0 {
            level.queue_length_limit = level.queue_length_limit.div_ceil(n);
        }
        level.queued_work_limit = level.queued_work_limit.div_ceil(n as u64).max(1);
    }
    let split =
        |q: &RateQuota| RateQuota { per_second: q.per_second / n as f64, burst: q.burst.div_ceil(n as u32).max(1) };
    let rates = &mut mine.rate_limits;
    rates.per_tenant = rates.per_tenant.as_ref().map(split);
    rates.global = rates.global.as_ref().map(split);
    for q in rates.overrides.values_mut() {
        *q = q.as_ref().map(split);
    }
    mine
}

/// How often a replica renews its lease and lists the others.
const TICK: Duration = Duration::from_secs(1);

/// One replica's membership: registered in etcd, publishing the fleet it sees.
pub struct Membership {
    client: Client,
    /// `<prefix>/fleet/<name>/replicas/`
    members_prefix: String,
    id: String,
    lease_ttl: i64,
    lease: Option<i64>,
    view: watch::Sender<FleetView>,
}

impl Membership {
    /// Registers this replica and lists the fleet once, so the first policy applied is already
    /// this replica's share. Returns the membership (run it with [`Membership::run`]) and the view.
    pub async fn join(
        client: Client,
        etcd_prefix: &str,
        cfg: &FleetConfig,
        about: &str,
    ) -> anyhow::Result<(Membership, watch::Receiver<FleetView>)> {
        let (tx, rx) = watch::channel(FleetView::ALONE);
        let mut m = Membership {
            client,
            members_prefix: format!("{etcd_prefix}/fleet/{}/replicas/", cfg.name),
            // Sorted ids give the ranks; a random id never collides with a restarted replica's.
            id: uuid::Uuid::new_v4().to_string(),
            lease_ttl: cfg.lease.as_secs().max(2) as i64,
            lease: None,
            view: tx,
        };
        m.register(about).await?;
        m.refresh().await?;
        Ok((m, rx))
    }

    /// Keeps the lease alive and the view current until `stop` flips; then revokes the lease so
    /// the others take over this replica's share at once.
    pub async fn run(mut self, about: String, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {},
                _ = stop.changed() => break,
            }
            if let Err(e) = self.renew(&about).await {
                tracing::warn!(error = %e, "fleet: cannot renew this replica's lease; keeping the last view");
                continue;
            }
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "fleet: cannot list the replicas; keeping the last view");
            }
        }
        if let Some(lease) = self.lease {
            let _ = tokio::time::timeout(Duration::from_secs(2), self.client.lease_revoke(lease)).await;
        }
    }

    async fn register(&mut self, about: &str) -> anyhow::Result<()> {
        let lease = self.client.lease_grant(self.lease_ttl, None).await?.id();
        let key = format!("{}{}", self.members_prefix, self.id);
        self.client.put(key, about, Some(PutOptions::new().with_lease(lease))).await?;
        self.lease = Some(lease);
        Ok(())
    }

    /// One keep-alive; a lease etcd no longer knows (it expired while etcd or this replica was
    /// stalled) is replaced by a new registration.
    async fn renew(&mut self, about: &str) -> anyhow::Result<()> {
        let Some(lease) = self.lease else { return self.register(about).await };
        let (mut keeper, mut responses) = self.client.lease_keep_alive(lease).await?;
        keeper.keep_alive().await?;
        let alive = match tokio::time::timeout(TICK, responses.message()).await {
            Ok(Ok(Some(resp))) => resp.ttl() > 0,
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(None)) | Err(_) => anyhow::bail!("no keep-alive answer from etcd"),
        };
        if !alive {
            tracing::warn!("fleet: this replica's lease expired; registering again");
            self.lease = None;
            return self.register(about).await;
        }
        Ok(())
    }

    async fn refresh(&mut self) -> anyhow::Result<()> {
        let resp = self
            .client
            .get(self.members_prefix.as_str(), Some(GetOptions::new().with_prefix().with_keys_only()))
            .await?;
        let mut ids: Vec<&str> =
            resp.kvs().iter().filter_map(|kv| kv.key_str().ok()?.strip_prefix(self.members_prefix.as_str())).collect();
        ids.sort_unstable();
        let view = view_of(&ids, &self.id);
        self.view.send_if_modified(|old| {
            let changed = *old != view;
            if changed {
                tracing::info!(replicas = view.replicas, rank = view.rank, "fleet: seats and rate caps re-split");
            }
            *old = view;
            changed
        });
        Ok(())
    }
}

/// The view from `me` of the sorted live `ids`. A replica missing from the list (its lease was
/// lost a moment ago) counts itself in, at the end, until it is registered again.
fn view_of(ids: &[&str], me: &str) -> FleetView {
    match ids.binary_search(&me) {
        Ok(rank) => FleetView { replicas: ids.len(), rank },
        Err(_) => FleetView { replicas: ids.len() + 1, rank: ids.len() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowcontrol::LevelConfig;

    fn policy() -> FlowControlConfig {
        let mut p = FlowControlConfig::default();
        p.levels.insert("workload".into(), LevelConfig { seats: 10, queue_length_limit: 50, ..LevelConfig::default() });
        p.levels.insert("tiny".into(), LevelConfig { seats: 2, queue_length_limit: 0, ..LevelConfig::default() });
        p.rate_limits.per_tenant = Some(RateQuota::new(30.0, 10));
        p.rate_limits.global = Some(RateQuota::new(300.0, 100));
        p.rate_limits.overrides.insert("big".into(), Some(RateQuota::new(90.0, 1)));
        p.rate_limits.overrides.insert("free".into(), None);
        p
    }

    #[test]
    fn one_replica_keeps_the_whole_policy() {
        assert_eq!(share(&policy(), FleetView::ALONE), policy());
    }

    #[test]
    fn seats_over_the_fleet_add_up_to_the_policy() {
        let p = policy();
        for n in 1..=7 {
            let views = (0..n).map(|rank| share(&p, FleetView { replicas: n, rank }));
            let total: u32 = views.clone().map(|c| c.levels["workload"].seats).sum();
            assert_eq!(total, 10, "{n} replicas");
            let seats: Vec<u32> = views.map(|c| c.levels["workload"].seats).collect();
            let (lo, hi) = (seats.iter().min().unwrap(), seats.iter().max().unwrap());
            assert!(hi - lo <= 1, "{n} replicas: even split, got {seats:?}");
        }
    }

    #[test]
    fn a_level_smaller_than_the_fleet_keeps_one_seat_per_replica() {
        let c = share(&policy(), FleetView { replicas: 3, rank: 2 });
        assert_eq!(c.levels["tiny"].seats, 1);
        assert_eq!(c.levels["tiny"].queue_length_limit, 0, "no queuing stays no queuing");
    }

    #[test]
    fn exempt_levels_and_weights_are_untouched() {
        let p = policy();
        let c = share(&p, FleetView { replicas: 3, rank: 0 });
        assert_eq!(c.levels["exempt"], p.levels["exempt"]);
        assert_eq!(c.tenants, p.tenants);
        assert_eq!(c.default_weight, p.default_weight);
    }

    #[test]
    fn rate_caps_are_divided_by_the_replicas() {
        let c = share(&policy(), FleetView { replicas: 3, rank: 1 });
        let r = &c.rate_limits;
        assert_eq!(r.per_tenant, Some(RateQuota::new(10.0, 4)));
        assert_eq!(r.global, Some(RateQuota::new(100.0, 34)));
        assert_eq!(r.overrides["big"], Some(RateQuota::new(30.0, 1)), "a burst never drops below 1");
        assert_eq!(r.overrides["free"], None, "an exemption stays an exemption");
        assert_eq!(c.levels["workload"].queue_length_limit, 17);
        c.validate().expect("a share is a valid config");
    }

    #[test]
    fn ranks_follow_the_sorted_ids() {
        assert_eq!(view_of(&["a", "b", "c"], "b"), FleetView { replicas: 3, rank: 1 });
        assert_eq!(view_of(&["a", "c"], "b"), FleetView { replicas: 3, rank: 2 }, "not yet listed: counted in");
        assert_eq!(view_of(&[], "b"), FleetView::ALONE);
    }
}
