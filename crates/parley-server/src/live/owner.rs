//! What the owner of a session does besides watching: cancel it.

use super::*;

/// How long a cancellation waits for the engine to pause (it pauses whenever it waits
/// for a seat; a session of built-in agents only runs to its end within this).
const CANCEL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Live {
    /// Whether the owner cancelled the session (nothing the engine does after is
    /// logged or shown).
    pub(super) fn is_cancelled(inner: &Inner) -> bool {
        inner.cancelled
    }

    /// `POST /cancel`: ends the session at once with no deal, `reason: "cancelled"`;
    /// every party gets what walking away is worth at that moment. Stored before it is
    /// answered; refused once the session is over.
    pub async fn cancel(self: &Arc<Self>) -> Result<Value, ApiError> {
        if !self.store.healthy() {
            return Err(crate::store::StoreError::Unavailable.into());
        }
        // Wait for the engine to pause: between two of its moves nothing is half done.
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + CANCEL_WAIT;
        loop {
            {
                let inner = self.lock();
                if inner.status == Status::Ended || inner.ended_logged {
                    return Err(ApiError::conflict("the session is over already"));
                }
                if inner.failed.is_some() {
                    return Err(ApiError::conflict(FAILED));
                }
                let paused = !inner.engine_started || inner.engine_idle;
                if paused && inner.durable >= inner.appended {
                    break;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::unavailable(
                    "the talks are busy: try cancelling again in a moment",
                ));
            }
            let _ =
                tokio::time::timeout(std::time::Duration::from_millis(50), changes.changed()).await;
        }
        let mut chain = self.chain.lock().await;
        let (utilities, body) = {
            let mut inner = self.lock();
            if inner.status == Status::Ended || inner.ended_logged || inner.failed.is_some() {
                return Err(ApiError::conflict("the session is over already"));
            }
            let now = inner.events.last().map_or(0.0, |e| e.time);
            let scenario = self.scenario();
            // Scored as the engine scores no deal: discounted to that time.
            let utilities: Vec<f64> = scenario
                .parties()
                .iter()
                .map(|p| p.reservation_at(now) * p.discount.powf(now))
                .collect();
            // From here the engine's moves are neither logged nor shown.
            inner.cancelled = true;
            let body = json!({
                "agreement": Value::Null,
                "reason": "cancelled",
                "utilities": utilities,
            })
            .to_string();
            (utilities, body)
        };
        let records = chain.records(vec![("ended", body)]);
        if let Err(e) = self.store.append(&self.id, &records, Some("ended")).await {
            drop(chain);
            // The engine may have moved unheard meanwhile: the session cannot go on
            // from its log. It stops; the log is intact.
            self.fail(format!("cancelling: {e}"));
            return Err(e.into());
        }
        chain.advance(&records);
        drop(chain);
        let receipt = self.receipt_as("owner", &records)?;
        let engine = {
            let mut inner = self.lock();
            inner.ended_logged = true;
            inner.status = Status::Ended;
            inner.result = Some((None, "cancelled".into(), utilities));
            inner.pending.iter_mut().for_each(|p| *p = None);
            inner.held.iter_mut().for_each(|h| *h = None);
            inner.engine
        };
        // A suspended engine wakes, sees the cancellation, and runs out unheard.
        if let Some(engine) = engine {
            Pool::global().resume(engine);
        }
        self.changed();
        self.prepare_analysis();
        self.publish();
        Ok(receipt)
    }
}
