//! `refresh_ahead` for batches: the records a batch answered past their refresh point,
//! refreshed by one background body call.

use std::collections::HashMap;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use super::super::fill::CatchUnwind;
use super::super::flight::{Settled, panic_message};
use super::{Batch, BatchOutput, Claimed, RecordKind, RecordTicket};
use crate::clock;
use crate::stats::Counters;
use crate::tier::remote::{Found, Read};

impl<O: BatchOutput, D: RecordKind<O::Value>> Batch<O, D> {
    /// Whether records were answered past their refresh point, for
    /// [`refresh_async`](Self::refresh_async) or [`refresh_sync`](Self::refresh_sync).
    pub fn needs_refresh(&self) -> bool {
        !self.refresh.is_empty()
    }

    /// Refreshes the records answered past their refresh point in the background, on the
    /// current tokio runtime, with ONE call of `body` for all of them: each record's
    /// refresh is led as a single call's is (a record another call is already computing
    /// is left to it); the records are read from Redis for their generations in one
    /// round trip, stored, and written back in one pipeline. An `Err` or a panic keeps
    /// the current records and lets a later hit try again; a record the body does not
    /// return keeps its entry until its TTL.
    pub fn refresh_async<F, Fut>(&mut self, body: F)
    where
        F: FnOnce(Vec<O::Id>) -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: Send + 'static,
        O::Id: Send,
        O::Value: Send,
        D: Send,
    {
        let refresh = std::mem::take(&mut self.refresh);
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            refresh.iter().for_each(|(_, t)| t.release_refresh());
            return;
        };
        let Some((mut bg, claimed)) = self.lead_refresh(refresh) else {
            return;
        };
        handle.spawn(async move {
            let claimed = bg.refresh_stamps(claimed).await;
            let ids = claimed.iter().map(|c| c.id.clone()).collect();
            let began = clock::now_raw();
            let result = CatchUnwind { fut: body(ids) }.await;
            bg.finish_refresh(claimed, began, result);
        });
    }

    /// [`refresh_async`](Self::refresh_async) for synchronous functions, on a thread of
    /// its own (the remote tier is not used, as for a sync call's refresh).
    pub fn refresh_sync<F>(&mut self, body: F)
    where
        F: FnOnce(Vec<O::Id>) -> O + Send + 'static,
        O: Send + 'static,
        O::Id: Send,
        O::Value: Send,
        D: Send,
    {
        let refresh = std::mem::take(&mut self.refresh);
        let Some((mut bg, claimed)) = self.lead_refresh(refresh) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("cache-refresh".into())
            .spawn(move || {
                let ids = claimed.iter().map(|c| c.id.clone()).collect();
                let began = clock::now_raw();
                let result = catch_unwind(AssertUnwindSafe(|| body(ids)));
                bg.finish_refresh(claimed, began, result);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start a refresh thread");
        }
    }

    /// Leads the refresh of each record (one another call computes is skipped); the
    /// batch the refresh stores into, and the led records (`None`: none).
    #[allow(clippy::type_complexity)]
    fn lead_refresh(
        &self,
        refresh: Vec<(O::Id, RecordTicket<O, D>)>,
    ) -> Option<(Self, Vec<Claimed<O, D>>)> {
        let claimed: Vec<_> = refresh
            .into_iter()
            .filter_map(|(id, ticket)| {
                let lead = ticket.lead_refresh()?;
                let start = ticket.start(&lead);
                Some(Claimed {
                    id,
                    ticket,
                    lead,
                    start,
                })
            })
            .collect();
        if claimed.is_empty() {
            return None;
        }
        let bg = Batch {
            name: self.name,
            tags: self.tags,
            found: HashMap::new(),
            missing: Vec::new(),
            refresh: Vec::new(),
        };
        Some((bg, claimed))
    }

    /// A refresh's right to write: the generations read from Redis for every record in
    /// one round trip (the values read are not used: a refresh computes, as a single
    /// call's refresh does).
    async fn refresh_stamps(&mut self, mut claimed: Vec<Claimed<O, D>>) -> Vec<Claimed<O, D>> {
        let remote: Vec<_> = claimed
            .iter_mut()
            .filter(|c| c.ticket.remote_allowed())
            .collect();
        if let Some(first) = remote.first() {
            let engine = Arc::clone(&first.ticket.site.engine);
            let keys = remote.iter().map(|c| c.ticket.remote_entry_key()).collect();
            let began = Instant::now();
            let reads = engine.remote.read_many(keys, self.name).await;
            for (c, read) in remote.into_iter().zip(reads) {
                let read = match read {
                    Read::Done { stamp, .. } => Read::Done {
                        stamp,
                        found: Found::Nothing,
                    },
                    other => other,
                };
                let _ = c
                    .ticket
                    .take_remote(read, began, false, &mut c.start, false);
            }
        }
        let now = clock::now_raw();
        claimed.iter_mut().for_each(|c| c.start.at = now);
        claimed
    }

    /// Ends a refresh's body call: stores each record returned (their remote writes in
    /// one pipeline); on an `Err` or a panic keeps the current records and releases each
    /// refresh, so that a later hit tries again.
    fn finish_refresh(
        &mut self,
        claimed: Vec<Claimed<O, D>>,
        began: u64,
        result: Result<O, Box<dyn std::any::Any + Send>>,
    ) {
        let Some(site) = claimed.first().map(|c| Arc::clone(&c.ticket.site)) else {
            return;
        };
        let counters = &site.cache.counters;
        counters.record_compute(clock::nanos_since(began));
        let records = match result.map(BatchOutput::into_records) {
            Ok(Ok(records)) => records,
            Ok(Err(_)) => {
                Counters::bump(&counters.errors_not_cached);
                for c in claimed {
                    c.ticket.release_refresh();
                    c.lead.settle(Settled::Failed);
                }
                return;
            }
            Err(panic) => {
                tracing::error!(cache = self.name, "background refresh of a batch panicked");
                let message = panic_message(&*panic);
                for c in claimed {
                    c.ticket.release_refresh();
                    c.lead.settle(Settled::Panicked(Arc::clone(&message)));
                }
                return;
            }
        };
        self.store_all(claimed, records);
    }

    /// The refreshes not taken by `refresh_async`/`refresh_sync`: a later hit tries again.
    pub(super) fn release_refresh(&mut self) {
        for (_, ticket) in std::mem::take(&mut self.refresh) {
            ticket.release_refresh();
        }
    }
}
