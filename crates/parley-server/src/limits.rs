//! Resource limits: what one client may ask of the server and what a session may be
//! (`docs/api.md`, "Limits").
//!
//! [`Limits`] holds every setting (with its default); [`Limiter`] is the state that
//! enforces the per-request ones: token buckets per client address and per token,
//! the count of open WebSockets per token and of sessions being created. Every map
//! here is bounded, so that the limiter cannot itself be used to exhaust memory.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// A rate: `per_second` on average, `burst` at once (a token bucket).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Requests a second, on average.
    pub per_second: f64,
    /// Requests at once, after a quiet spell (the bucket's size; at least 1).
    pub burst: f64,
}

impl Rate {
    /// `per_second` with a burst of `burst`.
    pub const fn new(per_second: f64, burst: f64) -> Rate {
        Rate { per_second, burst }
    }

    /// A rate from command-line numbers: `None` (no limit) when `per_second` is 0;
    /// the burst is at least 1.
    pub fn from_flags(per_second: f64, burst: f64) -> Option<Rate> {
        (per_second > 0.0 && per_second.is_finite()).then(|| Rate::new(per_second, burst.max(1.0)))
    }
}

/// Every resource limit of the server, with the defaults `docs/api.md` lists.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Open connections (WebSockets included); beyond it a new connection is
    /// answered `503` at once and closed (`--max-connections`).
    pub max_connections: usize,
    /// The time a client has to send a request's headers, from the moment the
    /// connection opens or its previous answer was sent (`--header-timeout`).
    pub header_timeout: Duration,
    /// How long an idle keep-alive connection is kept open; zero closes every
    /// connection after one answer (`--keep-alive-timeout`).
    pub keep_alive_timeout: Duration,
    /// The time a client has to send a request's body once its headers are in
    /// (`--body-timeout`): `408` past it.
    pub body_timeout: Duration,
    /// `POST /api/sessions` per client address (`--create-rate`, `--create-burst`);
    /// `None`: unlimited.
    pub create_rate: Option<Rate>,
    /// Requests without a valid token (none, unknown, malformed) per client address
    /// (`--address-rate`, `--address-burst`); `None`: unlimited.
    pub address_rate: Option<Rate>,
    /// Requests per token of a session (`--token-rate`, `--token-burst`); `None`:
    /// unlimited.
    pub token_rate: Option<Rate>,
    /// Sessions waiting or running at once (`--max-live-sessions`): `503` beyond.
    pub max_live_sessions: usize,
    /// Outcomes in a session's space: the product of its issues' numbers of values
    /// (`--max-outcomes`).
    pub max_outcomes: u64,
    /// Values of one issue (`--max-issue-values`).
    pub max_issue_values: u64,
    /// Issues of a scenario (`--max-issues`).
    pub max_issues: usize,
    /// Roles of a session: its parties, and the mediator if any (`--max-roles`).
    pub max_roles: usize,
    /// Rounds × roles of a session, a bound on what it can write to its log
    /// (`--max-role-rounds`).
    pub max_role_rounds: u64,
    /// Open WebSockets per token (`--max-sockets-per-token`): the next is closed
    /// with 4429.
    pub max_sockets_per_token: usize,
    /// How often an open WebSocket is pinged (`--ws-ping`).
    pub ws_ping_interval: Duration,
    /// A WebSocket whose client sent nothing (a pong included) for this long is
    /// closed with 4408 (`--ws-idle-timeout`).
    pub ws_idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            create_rate: Some(Rate::new(10.0, 20.0)),
            address_rate: Some(Rate::new(50.0, 100.0)),
            token_rate: Some(Rate::new(200.0, 400.0)),
            max_live_sessions: 10_000,
            max_outcomes: 1_000_000,
            max_issue_values: 10_000,
            max_issues: 64,
            max_roles: 16,
            max_role_rounds: 20_000,
            max_sockets_per_token: 16,
            ws_ping_interval: Duration::from_secs(30),
            ws_idle_timeout: Duration::from_secs(90),
        }
    }
}

/// The most keys (addresses, tokens) one table of token buckets holds. Keys whose
/// bucket is full again (idle long enough to have refilled) are dropped when the
/// table fills up; a key that finds it full of active ones shares one overflow
/// bucket with every other such key.
pub const MAX_TRACKED: usize = 65_536;

/// Who a client is, for the per-address limits: an IPv4 address, or the /64 prefix
/// of an IPv6 address (one subscriber usually holds a whole /64), or unknown (a
/// router served without peer addresses: all such requests share one bucket).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 address (IPv4-mapped IPv6 addresses included).
    V4(u32),
    /// The first 64 bits of an IPv6 address.
    V6(u64),
    /// No peer address known.
    Unknown,
}

impl ClientKey {
    /// The key of a peer address.
    pub fn of(ip: Option<IpAddr>) -> ClientKey {
        match ip {
            Some(IpAddr::V4(v4)) => ClientKey::V4(u32::from(v4)),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(u32::from(v4)),
                None => ClientKey::V6((u128::from(v6) >> 64) as u64),
            },
            None => ClientKey::Unknown,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            tokens: rate.burst,
            at: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.at = now;
    }

    /// Takes one token, or says how many whole seconds until one is there.
    fn take(&mut self, rate: Rate, now: Instant) -> Result<(), u32> {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / rate.per_second;
            Err(wait.ceil().clamp(1.0, f64::from(u32::MAX)) as u32)
        }
    }

    /// Whether the bucket has refilled: forgetting it changes nothing.
    fn is_full(&self, rate: Rate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens + elapsed * rate.per_second >= rate.burst
    }
}

struct Table<K> {
    buckets: HashMap<K, Bucket>,
    overflow: Bucket,
    swept: Instant,
}

/// Token buckets, one per key, at most [`MAX_TRACKED`] of them (`capacity`).
pub struct Buckets<K> {
    rate: Rate,
    capacity: usize,
    table: Mutex<Table<K>>,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    /// Buckets of `rate`, at most `capacity` keys.
    pub fn new(rate: Rate, capacity: usize) -> Buckets<K> {
        let now = Instant::now();
        Buckets {
            rate,
            capacity: capacity.max(1),
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                overflow: Bucket::full(rate, now),
                swept: now,
            }),
        }
    }

    /// Takes one request's token for `key`: `Err(seconds)` to wait when its bucket
    /// is empty.
    pub fn take(&self, key: K, now: Instant) -> Result<(), u32> {
        let rate = self.rate;
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let table = &mut *table;
        if let Some(bucket) = table.buckets.get_mut(&key) {
            return bucket.take(rate, now);
        }
        // Forget the buckets that refilled: when the table is full (at most once a
        // second, so that a full table of active keys costs no sweep per request),
        // and once a minute anyway, so that memory goes back after a burst.
        let since = now.saturating_duration_since(table.swept);
        if (table.buckets.len() >= self.capacity && since >= Duration::from_secs(1))
            || since >= Duration::from_secs(60)
        {
            table.buckets.retain(|_, b| !b.is_full(rate, now));
            table
                .buckets
                .shrink_to(self.capacity.min(table.buckets.len() * 2));
            table.swept = now;
        }
        if table.buckets.len() < self.capacity {
            table
                .buckets
                .entry(key)
                .or_insert_with(|| Bucket::full(rate, now))
                .take(rate, now)
        } else {
            table.overflow.take(rate, now)
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .buckets
            .len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The limits of one router, and the state that enforces them.
pub struct Limiter {
    /// The settings.
    pub limits: Limits,
    create: Option<Buckets<ClientKey>>,
    address: Option<Buckets<ClientKey>>,
    tokens: Option<Buckets<[u8; 32]>>,
    sockets: Mutex<HashMap<[u8; 32], usize>>,
    creating: Arc<AtomicUsize>,
}

fn per(rate: Rate) -> String {
    let n = |x: f64| {
        if x.fract() == 0.0 {
            format!("{x:.0}")
        } else {
            format!("{x}")
        }
    };
    format!(
        "{} a second (bursts of {})",
        n(rate.per_second),
        n(rate.burst)
    )
}

impl Limiter {
    /// The state for `limits`.
    pub fn new(limits: Limits) -> Limiter {
        Limiter {
            create: limits.create_rate.map(|r| Buckets::new(r, MAX_TRACKED)),
            address: limits.address_rate.map(|r| Buckets::new(r, MAX_TRACKED)),
            tokens: limits.token_rate.map(|r| Buckets::new(r, MAX_TRACKED)),
            sockets: Mutex::new(HashMap::new()),
            creating: Arc::new(AtomicUsize::new(0)),
            limits,
        }
    }

    /// One `POST /api/sessions` from `client`: 429 over `create_rate`.
    pub fn create(&self, client: ClientKey) -> Result<(), ApiError> {
        let (Some(buckets), Some(rate)) = (&self.create, self.limits.create_rate) else {
            return Ok(());
        };
        buckets.take(client, Instant::now()).map_err(|wait| {
            ApiError::too_many(
                format!(
                    "too many sessions created from this address: at most {} (--create-rate); \
                     retry after {wait} s",
                    per(rate)
                ),
                wait,
            )
        })
    }

    /// One request without a valid token from `client`: 429 over `address_rate`.
    pub fn address(&self, client: ClientKey) -> Result<(), ApiError> {
        let (Some(buckets), Some(rate)) = (&self.address, self.limits.address_rate) else {
            return Ok(());
        };
        buckets.take(client, Instant::now()).map_err(|wait| {
            ApiError::too_many(
                format!(
                    "too many requests without a valid token from this address: at most {} \
                     (--address-rate); retry after {wait} s",
                    per(rate)
                ),
                wait,
            )
        })
    }

    /// One request with the token whose hash is `token`: 429 over `token_rate`.
    pub fn token(&self, token: [u8; 32]) -> Result<(), ApiError> {
        let (Some(buckets), Some(rate)) = (&self.tokens, self.limits.token_rate) else {
            return Ok(());
        };
        buckets.take(token, Instant::now()).map_err(|wait| {
            ApiError::too_many(
                format!(
                    "too many requests with this token: at most {} (--token-rate); retry \
                     after {wait} s",
                    per(rate)
                ),
                wait,
            )
        })
    }

    /// Opens a WebSocket for the token whose hash is `token`: `None` when it has
    /// `max_sockets_per_token` open already. The socket counts until the guard drops.
    pub fn open_socket(self: &Arc<Self>, token: [u8; 32]) -> Option<SocketGuard> {
        let mut open = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(token).or_insert(0);
        if *count >= self.limits.max_sockets_per_token {
            if *count == 0 {
                open.remove(&token);
            }
            return None;
        }
        *count += 1;
        Some(SocketGuard {
            limiter: Arc::clone(self),
            token,
        })
    }

    /// Open WebSockets of the token whose hash is `token`.
    pub fn open_sockets(&self, token: &[u8; 32]) -> usize {
        let open = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        open.get(token).copied().unwrap_or(0)
    }

    /// A place for one more live session, given `live` sessions waiting or running
    /// now: 503 when they (and the sessions being created) reach
    /// `max_live_sessions`. The place is held until the guard drops (once the new
    /// session is counted among the live ones).
    pub fn reserve_session(&self, live: usize) -> Result<SessionSlot, ApiError> {
        let slot = SessionSlot(Arc::clone(&self.creating));
        let creating = self.creating.fetch_add(1, Ordering::SeqCst);
        if live.saturating_add(creating) >= self.limits.max_live_sessions {
            // `slot` drops here and gives its place back.
            return Err(ApiError {
                retry_after: Some(30),
                ..ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "the server holds as many live sessions as it may ({}, waiting or \
                         running; --max-live-sessions): try again once some have ended",
                        self.limits.max_live_sessions
                    ),
                )
            });
        }
        Ok(slot)
    }
}

/// An open WebSocket, counted against its token's limit until dropped.
pub struct SocketGuard {
    limiter: Arc<Limiter>,
    token: [u8; 32],
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let mut open = self
            .limiter
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.token) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.token);
            }
        }
    }
}

/// A session being created, counted against the live-session cap until dropped.
pub struct SessionSlot(Arc<AtomicUsize>);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let b: Buckets<u8> = Buckets::new(Rate::new(2.0, 3.0), 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.take(1, t0), Ok(()));
        }
        assert_eq!(b.take(1, t0), Err(1));
        // Another key has its own bucket.
        assert_eq!(b.take(2, t0), Ok(()));
        // Half a second later one token is back.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(b.take(1, t1), Ok(()));
        assert_eq!(b.take(1, t1), Err(1));
    }

    #[test]
    fn the_wait_is_rounded_up_to_whole_seconds() {
        let b: Buckets<u8> = Buckets::new(Rate::new(0.1, 1.0), 10);
        let t0 = Instant::now();
        assert_eq!(b.take(1, t0), Ok(()));
        assert_eq!(b.take(1, t0), Err(10));
        assert_eq!(b.take(1, t0 + Duration::from_secs(4)), Err(6));
    }

    #[test]
    fn the_table_is_bounded_and_forgets_idle_keys() {
        let b: Buckets<u32> = Buckets::new(Rate::new(1.0, 2.0), 100);
        let t0 = Instant::now();
        for k in 0..1000 {
            // Every key past the first 100 shares the overflow bucket.
            let _ = b.take(k, t0);
        }
        assert_eq!(b.len(), 100);
        assert!(b.take(5000, t0).is_err(), "the overflow bucket is spent");
        // Two seconds later every bucket has refilled: the full table is swept and
        // the new key gets a bucket of its own.
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(b.take(5000, t1), Ok(()));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_bit_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(ClientKey::of(Some(a)), ClientKey::of(Some(b)));
        assert_ne!(ClientKey::of(Some(a)), ClientKey::of(Some(c)));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        let v4: IpAddr = "10.0.0.1".parse().expect("ip");
        assert_eq!(ClientKey::of(Some(mapped)), ClientKey::of(Some(v4)));
        assert_eq!(ClientKey::of(None), ClientKey::Unknown);
    }

    #[test]
    fn sockets_are_counted_per_token_until_dropped() {
        let limiter = Arc::new(Limiter::new(Limits {
            max_sockets_per_token: 2,
            ..Limits::default()
        }));
        let a = limiter.open_socket([1; 32]).expect("first");
        let _b = limiter.open_socket([1; 32]).expect("second");
        assert!(limiter.open_socket([1; 32]).is_none());
        assert!(limiter.open_socket([2; 32]).is_some());
        drop(a);
        assert!(limiter.open_socket([1; 32]).is_some());
    }

    #[test]
    fn live_sessions_are_capped_with_those_being_created() {
        let limiter = Limiter::new(Limits {
            max_live_sessions: 3,
            ..Limits::default()
        });
        let one = limiter.reserve_session(1).expect("room for two more");
        let two = limiter.reserve_session(1).expect("room for one more");
        let refused = limiter.reserve_session(1).err().expect("full");
        assert_eq!(refused.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        drop((one, two));
        assert!(limiter.reserve_session(2).is_ok());
    }
}
