//! Driving the engine: its coroutine, the records it queues for the log, what it
//! waits for (a seat's action, its records stored), and its end.

use super::agents::{Inbox, MediatorInbox};
use super::seats::{MediatorSeat, Seat};
use super::*;

impl Live {
    pub(super) fn start_engine(self: &Arc<Self>) {
        // The mediator's plane (shown to a mediator when both parties confide); the
        // closing analysis of other sessions is computed when they end.
        if self.spec.mediator_index().is_some() && self.n_parties() == 2 {
            self.prepare_analysis();
        }
        let receivers: Vec<Option<Receiver<Input>>> = {
            let mut inner = self.lock();
            if inner.engine_started {
                return;
            }
            inner.engine_started = true;
            let mut slots = self.receivers.lock().unwrap_or_else(|e| e.into_inner());
            slots.iter_mut().map(Option::take).collect()
        };
        let live = Arc::clone(self);
        let stopped = Arc::clone(self);
        // The engine is registered before it can first suspend: the worker runs it
        // only after this call returns the lock.
        let mut inner = self.lock();
        // A session with a language-model seat blocks while the model answers: it runs
        // on a thread of its own, not on a worker other sessions share.
        let blocking = self
            .spec
            .roles
            .iter()
            .any(|r| matches!(&r.holder, Holder::Agent { spec } if parley_llm::is_llm(spec)));
        let body = move |suspend: &Suspend| live.run_engine(receivers, suspend);
        let on_panic = move |panic: String| stopped.fail(format!("the engine stopped: {panic}"));
        let started = if blocking {
            Pool::global().start_alone(body, on_panic)
        } else {
            Pool::global().start(body, on_panic)
        };
        match started {
            Ok(engine) => inner.engine = Some(engine),
            Err(e) => {
                drop(inner);
                self.fail(format!("could not start the engine: {e}"));
            }
        }
    }

    /// Wakes the engine to look again at what it waits for.
    pub(super) fn resume(&self) {
        if let Some(engine) = self.lock().engine {
            Pool::global().resume(engine);
        }
    }

    /// Waits until the first `n` records queued through [`Live::pipeline`] are stored;
    /// an error if the session failed first (then they may never be).
    pub(super) async fn until_stored(&self, n: u64) -> Result<(), ApiError> {
        loop {
            // Registered before the check, so that a store in between still wakes it.
            let stored = self.stored_notify.notified();
            tokio::pin!(stored);
            stored.as_mut().enable();
            {
                let inner = self.lock();
                if inner.durable >= n {
                    return Ok(());
                }
                if inner.failed.is_some() {
                    return Err(ApiError::conflict(FAILED));
                }
            }
            if !self.store.healthy() {
                // Kept for the log until the database stores again: the outcome is
                // not known yet.
                return Err(ApiError::unavailable(NOT_YET_STORED));
            }
            // Woken by every store (and, while the database fails, by the check of
            // its health above, every 100 ms).
            let _ = tokio::time::timeout(std::time::Duration::from_millis(100), stored).await;
        }
    }

    /// Suspends the engine until every record it queued is stored (or the session
    /// failed).
    pub(super) fn until_durable(&self, suspend: &Suspend) {
        loop {
            {
                let inner = self.lock();
                if inner.durable >= inner.appended || inner.failed.is_some() {
                    return;
                }
            }
            suspend.suspend(());
        }
    }

    /// Queues the engine's records for the log; when they are stored, the views may
    /// show the events up to `events_after`, and an engine waiting for them resumes.
    pub(super) fn pipeline(
        self: &Arc<Self>,
        records: Vec<Record>,
        status: Option<&str>,
        events_after: usize,
    ) {
        let n = records.len() as u64;
        self.lock().appended += n;
        match self.store.append_pipelined(&self.id, records, status) {
            Ok(stored) => {
                let live = Arc::clone(self);
                self.runtime.spawn(async move {
                    let result = stored.await;
                    live.stored(n, events_after, result);
                });
            }
            Err(e) => self.fail(format!("could not log: {e}")),
        }
    }

    pub(super) fn stored(
        &self,
        n: u64,
        events_after: usize,
        result: Result<
            Result<(), crate::store::StoreError>,
            tokio::sync::oneshot::error::RecvError,
        >,
    ) {
        match result {
            Ok(Ok(())) => {
                let all = {
                    let mut inner = self.lock();
                    inner.durable += n;
                    inner.durable_events = inner.durable_events.max(events_after);
                    inner.durable >= inner.appended
                };
                self.changed();
                self.stored_notify.notify_waiters();
                if all {
                    self.resume();
                }
            }
            Ok(Err(e)) => {
                self.fail(format!("could not log: {e}"));
                self.stored_notify.notify_waiters();
                self.resume();
            }
            Err(_) => {
                self.fail("the database writer stopped".into());
                self.resume();
            }
        }
    }

    pub(super) fn run_engine(
        self: Arc<Self>,
        mut receivers: Vec<Option<Receiver<Input>>>,
        suspend: &Suspend,
    ) {
        let spec = &self.spec;
        let scenario = self.scenario();
        let n = scenario.n_parties();
        let (confide, replaying) = {
            let inner = self.lock();
            (inner.confide.clone(), !inner.logged_events.is_empty())
        };
        let hook = Arc::clone(&self);
        let config = SessionConfig {
            protocol: spec.protocol,
            rounds: spec.rounds,
            time_limit: None,
            confide,
            post_settlement: spec.post_settlement,
            clock: None,
            bids: None,
            observer: Some(Arc::new(move |event: &Event| Live::on_event(&hook, event))),
            seed: spec.seed,
        };
        let mut negotiators: Vec<Box<dyn Negotiator + '_>> = Vec::with_capacity(n);
        for (index, role) in spec.roles.iter().enumerate().take(n) {
            let built: Box<dyn Negotiator + '_> = match &role.holder {
                Holder::Agent { spec: s } => {
                    let seed = role_seed(spec.seed, index as u64);
                    // A language-model seat replayed after a restart answers from its
                    // logged model calls (the same moves), then asks again.
                    let made = if parley_llm::is_llm(s) && replaying {
                        parley_llm::negotiator_replaying(
                            s,
                            seed,
                            self.logged_model_calls(Some(index)),
                        )
                        .map(|b| b as Box<dyn Negotiator>)
                    } else {
                        negotiator(s, seed).map_err(|e| e.to_string())
                    };
                    match made {
                        Ok(b) => Box::new(Inbox {
                            inner: b,
                            live: Arc::clone(&self),
                            role: index,
                            read: 0,
                        }),
                        Err(e) => return self.fail(format!("role {}: {e}", role.name)),
                    }
                }
                Holder::Seat { .. } => match receivers[index].take() {
                    Some(rx) => Box::new(Seat {
                        live: Arc::clone(&self),
                        role: index,
                        rx,
                        suspend,
                    }),
                    None => return self.fail("a seat has no channel".into()),
                },
            };
            negotiators.push(built);
        }
        let mediator_box: Option<Box<dyn Mediator + '_>> = match spec.mediator_index() {
            None => None,
            Some(m) => match &spec.roles[m].holder {
                Holder::Agent { spec: s } => {
                    let seed = role_seed(spec.seed, u64::MAX);
                    let made = if parley_llm::is_llm(s) && replaying {
                        parley_llm::mediator_replaying(s, seed, self.logged_model_calls(None))
                            .map(|b| b as Box<dyn Mediator>)
                    } else {
                        mediator(s, seed).map_err(|e| e.to_string())
                    };
                    match made {
                        Ok(b) => Some(Box::new(MediatorInbox {
                            inner: b,
                            live: Arc::clone(&self),
                            role: m,
                            read: 0,
                        })),
                        Err(e) => return self.fail(format!("mediator: {e}")),
                    }
                }
                Holder::Seat { .. } => match receivers[m].take() {
                    Some(rx) => Some(Box::new(MediatorSeat {
                        live: Arc::clone(&self),
                        role: m,
                        rx,
                        suspend,
                        progress: 0.0,
                        last: None,
                    })),
                    None => return self.fail("the mediator seat has no channel".into()),
                },
            },
        };
        match run_session(&scenario, &config, negotiators, mediator_box) {
            Ok(result) => self.finish(
                result.agreement,
                result.ended_by.name(),
                result.utilities,
                suspend,
            ),
            Err(e) => self.fail(format!("the engine refused the session: {e}")),
        }
    }

    pub(super) fn fail(&self, message: String) {
        tracing::error!(session = %self.id, "the session stopped: {message}");
        let mut inner = self.lock();
        inner.failed = Some(message);
        inner.engine_idle = true;
        drop(inner);
        self.changed();
        self.publish();
    }

    /// The engine's hook: log the event (or, replaying, check it against the log).
    pub(super) fn on_event(self: &Arc<Self>, event: &Event) {
        let json = event.to_json(self.scenario().space(), &self.parties);
        let body = json.to_string();
        let replayed = {
            let inner = self.lock();
            if inner.failed.is_some() || Live::is_cancelled(&inner) {
                // Stopped or cancelled: nothing more is logged or shown (the engine
                // may run on to its end, unheard).
                return;
            }
            match inner.logged_events.get(event.seq as usize) {
                Some(logged) if *logged == body => true,
                Some(_) => {
                    drop(inner);
                    self.fail(format!(
                        "replaying the log gave a different event {} than was logged \
                         (a session stored under other protocol rules, by another version \
                         of parley, cannot go on; its log is intact)",
                        event.seq
                    ));
                    true
                }
                None => false,
            }
        };
        if !replayed {
            // Queued, not waited for: the engine goes on, and waits for the log only
            // before it asks a seat or ends (see `until_durable`). The chain moves on
            // at once; the writer stores a session's records in order.
            let mut chain = self.chain.blocking_lock();
            let records = chain.records(vec![("event", body)]);
            chain.advance(&records);
            drop(chain);
            let events_after = self.lock().events.len() + 1;
            self.pipeline(records, None, events_after);
        }
        let mut inner = self.lock();
        if replayed {
            inner.durable_events = inner.events.len() + 1;
        }
        inner.round = event.round;
        match &event.kind {
            EventKind::Phase { to, .. } => inner.phase = *to,
            EventKind::Default { outcome } => inner.default = Some(outcome.clone()),
            _ => {}
        }
        inner.events.push(event.clone());
        inner.event_json.push(json);
        drop(inner);
        self.changed();
    }

    pub(super) fn finish(
        self: &Arc<Self>,
        agreement: Option<Vec<u32>>,
        reason: &str,
        utilities: Vec<f64>,
        suspend: &Suspend,
    ) {
        let (already, failed) = {
            let inner = self.lock();
            (
                inner.ended_logged,
                inner.failed.is_some() || Live::is_cancelled(&inner),
            )
        };
        if failed {
            return;
        }
        if !already {
            let body = json!({
                "agreement": agreement.as_ref().map(|a| outcome_map(&self.scenario(), a)),
                "reason": reason,
                "utilities": utilities,
            })
            .to_string();
            let mut chain = self.chain.blocking_lock();
            let records = chain.records(vec![("ended", body)]);
            chain.advance(&records);
            drop(chain);
            let events = self.lock().events.len();
            self.pipeline(records, Some("ended"), events);
        }
        // The end is shown only once it, and everything before it, is stored.
        self.until_durable(suspend);
        if self.lock().failed.is_some() {
            return;
        }
        // The closing analysis: computed on a blocking thread, never in a request nor
        // on the engines' workers; views say `"pending": true` until it is there, and
        // it is pushed when it is (the talks are over: that moment tells nothing).
        self.prepare_analysis();
        let mut inner = self.lock();
        inner.ended_logged = true;
        inner.engine_idle = true;
        inner.status = Status::Ended;
        inner.result = Some((agreement, reason.to_string(), utilities));
        inner.pending.iter_mut().for_each(|p| *p = None);
        drop(inner);
        self.changed();
        self.publish();
    }

    /// A seat waits for its holder: publish what is asked, then take the next action.
    pub(super) fn wait(
        &self,
        role: usize,
        pending: Pending,
        at: &State,
        rx: &Receiver<Input>,
        suspend: &Suspend,
    ) -> Option<Input> {
        // A seat is asked only once everything before is stored.
        self.until_durable(suspend);
        {
            let mut inner = self.lock();
            if inner.failed.is_some() || Live::is_cancelled(&inner) {
                return None;
            }
            inner.pending[role] = Some(pending);
            inner.pending_round[role] = at.round;
            inner.pending_time[role] = at.time;
            inner.pending_since[role] = Some(std::time::Instant::now());
            inner.engine_idle = true;
        }
        self.changed();
        self.publish();
        let input = loop {
            match rx.try_recv() {
                Ok(input) => break Some(input),
                Err(TryRecvError::Disconnected) => break None,
                Err(TryRecvError::Empty) => {
                    let inner = self.lock();
                    if inner.failed.is_some() || Live::is_cancelled(&inner) {
                        break None;
                    }
                    drop(inner);
                    suspend.suspend(());
                }
            }
        };
        {
            let mut inner = self.lock();
            if !Live::is_cancelled(&inner) {
                inner.pending[role] = None;
                inner.engine_idle = false;
            }
            inner.inputs_taken += 1;
        }
        self.changed();
        input
    }

    /// Hands an action to the engine: the number to wait for with [`Live::settled`].
    pub(super) fn deliver(&self, role: usize, input: Input) -> u64 {
        let (sent, engine) = {
            let mut inner = self.lock();
            if let Some(Some(tx)) = self.senders.get(role) {
                if tx.send(input).is_ok() {
                    inner.inputs_sent += 1;
                    inner.engine_idle = false;
                }
            }
            (inner.inputs_sent, inner.engine)
        };
        if let Some(engine) = engine {
            Pool::global().resume(engine);
        }
        sent
    }

    /// Waits until the engine has taken action number `sent` and logged everything it
    /// caused, up to its next wait for a seat (or its end): `false` if that took more
    /// than 30 s (the action itself is logged and delivered already; the answer says
    /// it has not settled).
    pub(super) async fn settled(&self, sent: u64) -> bool {
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            {
                let inner = self.lock();
                if inner.inputs_taken >= sent && inner.engine_idle {
                    return true;
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return false;
            }
            // Woken by every change; and it looks again every 50 ms in any case, so
            // that nothing it waits for can be missed for long.
            let wait = (deadline - now).min(std::time::Duration::from_millis(50));
            let _ = tokio::time::timeout(wait, changes.changed()).await;
        }
    }
}
