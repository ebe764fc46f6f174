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
        self.end_now("cancelled", Some("owner")).await
    }

    /// Ends the session now with no deal, for `reason`, logged; the receipt is
    /// written for `who` (the owner), or the session's own when the server ends it.
    pub(super) async fn end_now(
        self: &Arc<Self>,
        reason: &str,
        who: Option<&str>,
    ) -> Result<Value, ApiError> {
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
                "reason": reason,
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
        let receipt = self.receipt_as(who.unwrap_or("server"), &records)?;
        let engine = {
            let mut inner = self.lock();
            inner.ended_logged = true;
            inner.status = Status::Ended;
            inner.result = Some((None, reason.to_string(), utilities));
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

impl Live {
    /// The wall-clock limit: once `time_limit_seconds` have passed since the talks
    /// began, they end with no deal (`reason: "time-up"`). Called about once a second.
    pub async fn check_time_limit(self: &Arc<Self>) {
        let Some(limit) = self.spec.time_limit_seconds else {
            return;
        };
        let due = {
            let inner = self.lock();
            inner.status == Status::Running
                && !inner.cancelled
                && inner.failed.is_none()
                && inner
                    .started_at
                    .is_some_and(|t| crate::unix_now() >= t + limit as i64)
        };
        if due {
            if let Err(e) = self.end_now("time-up", None).await {
                tracing::warn!(session = %self.id, "the time limit: {}", e.message);
            }
        }
    }

    /// When the talks end at the latest by the clock (Unix seconds), if they have a
    /// wall-clock limit and have begun.
    pub(super) fn ends_at(&self, inner: &Inner) -> Option<i64> {
        Some(inner.started_at? + self.spec.time_limit_seconds? as i64)
    }

    /// Whether the token with this hash was revoked (its link re-issued).
    pub fn revoked(&self, hash: &[u8; 32]) -> bool {
        self.tokens()
            .iter()
            .any(|t| t.hash == *hash && t.expires_at == crate::store::REVOKED)
    }

    /// `POST /reissue`: a new link for a seat (or a principal): the token with hash
    /// `new_hash` replaces the one `access` holds now, which stops working at once
    /// (its open sockets close). Logged as a `token` record and stored with the tokens
    /// table's change in one transaction, before it is answered.
    pub async fn reissue(
        self: &Arc<Self>,
        access: Access,
        new_hash: [u8; 32],
    ) -> Result<Value, ApiError> {
        if !matches!(access, Access::Seat(_) | Access::Principal(_)) {
            return Err(ApiError::bad_request(
                "only a seat's or a principal's link is re-issued",
            ));
        }
        let now = crate::unix_now();
        let mut chain = self.chain.lock().await;
        let old = self
            .tokens()
            .iter()
            .rev()
            .find(|t| t.access == access && t.expires_at != crate::store::REVOKED)
            .map(|t| t.hash)
            .ok_or_else(|| ApiError::not_found("this role has no link to re-issue"))?;
        let expires_at = now + self.spec.token_ttl_seconds as i64;
        let role = access.encode(&self.spec);
        let body = records::TokenIssued {
            role: role.clone(),
            hash: crate::store::hex(&new_hash),
            expires_at,
            revokes: crate::store::hex(&old),
        };
        let records = chain.records(vec![(
            "token",
            serde_json::to_string(&body).map_err(ApiError::internal)?,
        )]);
        let record = records
            .first()
            .ok_or_else(|| ApiError::internal("no token record"))?;
        let change = crate::store::TokenChange {
            add: TokenRow {
                hash: body.hash.clone(),
                session_id: self.id.clone(),
                role,
                expires_at,
            },
            revoke: body.revokes.clone(),
        };
        self.store.reissue(&self.id, record, change).await?;
        chain.advance(&records);
        drop(chain);
        {
            let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
            for t in tokens.iter_mut().filter(|t| t.hash == old) {
                t.expires_at = crate::store::REVOKED;
            }
            tokens.push(TokenEntry {
                hash: new_hash,
                access,
                expires_at,
            });
        }
        self.changed();
        self.receipt_as("owner", &records)
    }
}
