//! Creating and joining sessions, and the simulated seats that play them
//! (the same policy as `bench/server_load.py`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde::de::IgnoredAny;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::http::{Http, Kind, Stats};

/// An issue of the scenario: its name and value labels.
#[derive(Clone, Debug, Deserialize)]
pub struct Issue {
    /// Issue name.
    pub name: String,
    /// Value labels.
    pub values: Vec<String>,
}

/// A bundled scenario as `GET /api/scenarios` lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct ScenarioInfo {
    /// Its id.
    pub id: String,
    /// Party names, in order (the first offers first in saop).
    pub parties: Vec<String>,
    /// Its issues.
    pub issues: Vec<Issue>,
}

/// A created and joined session: its id, each seat's token in party order, and
/// the seed of its clients' offers.
#[derive(Clone, Debug)]
pub struct Sess {
    /// Session id.
    pub id: String,
    /// Seat tokens in party order.
    pub seats: Vec<String>,
    /// Seed of the session and of the clients' random offers.
    pub seed: u64,
}

#[derive(Deserialize)]
struct Created {
    id: String,
    seats: std::collections::HashMap<String, SeatTokens>,
}

#[derive(Deserialize)]
struct SeatTokens {
    token: String,
}

/// What the seats need to decide, deserialised from a view (everything else in
/// the view is skipped).
#[derive(Deserialize)]
struct View {
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    round: Option<i64>,
    #[serde(default)]
    rounds: Option<i64>,
    #[serde(default)]
    role: Option<RoleV>,
    #[serde(default)]
    events: Vec<EventV>,
    #[serde(default)]
    events_total: Option<usize>,
    #[serde(default)]
    pending: Option<PendingV>,
    #[serde(default)]
    result: Option<ResultV>,
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Status {
    Running,
    Ended,
    Failed,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct RoleV {
    #[serde(default)]
    reservation: Option<f64>,
}

#[derive(Deserialize, PartialEq, Eq)]
enum EventType {
    #[serde(rename = "offer")]
    Offer,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct EventV {
    #[serde(rename = "type", default)]
    kind: Option<EventType>,
    #[serde(default)]
    my_utility: Option<f64>,
}

#[derive(Deserialize)]
struct PendingV {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    standing: Option<IgnoredAny>,
    #[serde(default)]
    standing_utility: Option<f64>,
}

#[derive(Deserialize)]
struct ResultV {
    #[serde(default)]
    reason: Option<String>,
}

/// An outcome as the JSON object issue → value label.
struct Outcome<'a> {
    issues: &'a [Issue],
    pick: &'a [usize],
}

impl Serialize for Outcome<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.issues.len()))?;
        for (issue, &k) in self.issues.iter().zip(self.pick) {
            m.serialize_entry(&issue.name, &issue.values[k])?;
        }
        m.end()
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Action<'a> {
    Offer { outcome: Outcome<'a> },
    Accept,
}

#[derive(Serialize)]
struct Evaluate<'a> {
    outcome: Outcome<'a>,
}

/// Shared state of the drive.
pub struct Ctx {
    /// The client (its pool holds the connections the warm-up opened).
    pub http: Arc<Http>,
    /// The scenario's issues.
    pub issues: Vec<Issue>,
    /// `POST /evaluate` before each offer.
    pub evaluate: bool,
    /// Read whole views (else only the events not yet read).
    pub full_views: bool,
    /// Give up at this time.
    pub deadline: Instant,
    /// Actions answered `200` so far (for the progress lines).
    pub actions: AtomicU64,
    /// Sessions being driven now.
    pub active: AtomicUsize,
    /// Peak of `active`.
    pub peak: AtomicUsize,
}

/// How to set sessions up.
#[derive(Clone, Copy)]
pub struct SetupCfg {
    /// Deadline of each session in rounds.
    pub rounds: u32,
    /// How many sessions.
    pub n: usize,
    /// Session `i` gets seed `seed0 + i`.
    pub seed0: u64,
    /// Sessions in setup at once.
    pub concurrency: usize,
    /// Progress lines on stderr.
    pub progress: bool,
}

/// Creates `cfg.n` sessions (seeds `seed0 + i`) and joins every seat, at most
/// `concurrency` sessions in setup at once (each one's requests are
/// sequential). Returns the sessions that were created and joined, in order.
pub async fn setup(
    http: Arc<Http>,
    create_token: Arc<str>,
    scenario: &ScenarioInfo,
    cfg: &SetupCfg,
) -> (Vec<Sess>, Stats) {
    let SetupCfg {
        rounds,
        n,
        seed0,
        concurrency,
        progress,
    } = *cfg;
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let parties: Arc<[String]> = scenario.parties.clone().into();
    let scenario_id: Arc<str> = scenario.id.as_str().into();
    let done = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for i in 0..n {
        let (http, sem, parties, scen, token, done) = (
            Arc::clone(&http),
            Arc::clone(&sem),
            Arc::clone(&parties),
            Arc::clone(&scenario_id),
            Arc::clone(&create_token),
            Arc::clone(&done),
        );
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let mut st = Stats::default();
            let seed = seed0 + i as u64;
            let sess = create_one(&http, &token, &scen, &parties, rounds, seed, &mut st).await;
            let k = done.fetch_add(1, Ordering::Relaxed) + 1;
            if progress && k % 1000 == 0 {
                eprintln!("  {k} / {n} sessions set up");
            }
            (i, sess, st)
        });
    }
    let mut out: Vec<Option<Sess>> = vec![None; n];
    let mut stats = Stats::default();
    while let Some(res) = set.join_next().await {
        match res {
            Ok((i, sess, st)) => {
                out[i] = sess;
                stats.merge(st);
            }
            Err(e) => stats.error_msg(Kind::PostSessions, 0, &format!("setup task: {e}")),
        }
    }
    (out.into_iter().flatten().collect(), stats)
}

async fn create_one(
    http: &Http,
    create_token: &str,
    scenario: &str,
    parties: &[String],
    rounds: u32,
    seed: u64,
    st: &mut Stats,
) -> Option<Sess> {
    let roles: serde_json::Map<String, serde_json::Value> = parties
        .iter()
        .map(|p| (p.clone(), serde_json::json!({"seat": "program"})))
        .collect();
    let body = serde_json::json!({
        "scenario": scenario,
        "protocol": "saop",
        "rounds": rounds,
        "seed": seed,
        "roles": roles,
    });
    let body = serde_json::to_vec(&body).ok()?;
    let ans = http
        .call(
            Method::POST,
            "/api/sessions",
            Some(create_token),
            Some(&body),
            st,
            Kind::PostSessions,
        )
        .await
        .ok()?;
    if ans.status != 201 {
        st.error(Kind::PostSessions, ans.status, &ans.body);
        return None;
    }
    let created: Created = match serde_json::from_slice(&ans.body) {
        Ok(c) => c,
        Err(e) => {
            st.error_msg(Kind::PostSessions, 201, &format!("unexpected answer: {e}"));
            return None;
        }
    };
    let mut seats = Vec::with_capacity(parties.len());
    for p in parties {
        let Some(s) = created.seats.get(p) else {
            st.error_msg(Kind::PostSessions, 201, &format!("no seat for {p}"));
            return None;
        };
        seats.push(s.token.clone());
    }
    let join = format!("/api/sessions/{}/join", created.id);
    for token in &seats {
        let ans = http
            .call(
                Method::POST,
                &join,
                Some(token),
                Some(b"{}"),
                st,
                Kind::PostJoin,
            )
            .await
            .ok()?;
        if ans.status != 200 {
            st.error(Kind::PostJoin, ans.status, &ans.body);
            return None;
        }
    }
    Some(Sess {
        id: created.id,
        seats,
        seed,
    })
}

/// My utility of the standing offer: the view's `standing_utility`, else the
/// `my_utility` of the latest visible offer event.
fn standing_utility(view: &View, pending: &PendingV) -> Option<f64> {
    pending.standing_utility.or_else(|| {
        view.events
            .iter()
            .rev()
            .find(|e| e.kind == Some(EventType::Offer) && e.my_utility.is_some())
            .and_then(|e| e.my_utility)
    })
}

/// The strategy: accept the standing offer when it is worth at least a target
/// falling linearly from 1 to the seat's reservation value over the deadline,
/// otherwise offer a random outcome (`pick` is filled with value indices).
fn decide(
    view: &View,
    pending: &PendingV,
    issues: &[Issue],
    rng: &mut SmallRng,
    pick: &mut Vec<usize>,
) -> bool {
    let reservation = view
        .role
        .as_ref()
        .and_then(|r| r.reservation)
        .unwrap_or(0.0);
    let rounds = view.rounds.unwrap_or(1).max(1) as f64;
    let t = ((view.round.unwrap_or(0) + 1) as f64 / rounds).min(1.0);
    let target = 1.0 - (1.0 - reservation) * t;
    let su = if pending.standing.is_some() {
        standing_utility(view, pending)
    } else {
        None
    };
    if su.is_some_and(|u| u >= target) {
        return true;
    }
    pick.clear();
    pick.extend(
        issues
            .iter()
            .map(|i| rng.gen_range(0..i.values.len().max(1))),
    );
    false
}

/// Plays both seats of one session until it ends, one request at a time, as
/// `drive_session` of `bench/server_load.py` does: read the view of the seat
/// whose turn it is, answer its pending `act` request, switch to the other
/// seat; with nothing pending, poll again at once, then backing off from 1 to
/// 8 ms (every 16th empty poll looks at the other seat).
pub async fn drive_session(ctx: Arc<Ctx>, sess: Sess) -> Stats {
    let mut st = Stats::default();
    let mut rng = SmallRng::seed_from_u64(sess.seed);
    let view_path = format!("/api/sessions/{}", sess.id);
    let urls = (
        ctx.http.url(&view_path),
        ctx.http.url(&format!("{view_path}/actions")),
        ctx.http.url(&format!("{view_path}/evaluate")),
    );
    let (Ok(view_url), Ok(act_url), Ok(eval_url)) = urls else {
        st.error_msg(Kind::GetView, 0, &format!("bad session id {:?}", sess.id));
        st.bump("sessions_failed", 1);
        return st;
    };
    let n = sess.seats.len();
    let mut turn = 0usize;
    let mut idle = 0u32;
    let mut handoff: Option<Instant> = None;
    let mut first = vec![true; n];
    let mut seen = vec![0usize; n];
    let mut pick = Vec::with_capacity(ctx.issues.len());
    let now_active = ctx.active.fetch_add(1, Ordering::Relaxed) + 1;
    ctx.peak.fetch_max(now_active, Ordering::Relaxed);
    loop {
        if Instant::now() > ctx.deadline {
            st.bump("sessions_unfinished", 1);
            break;
        }
        let token = sess.seats[turn].as_str();
        let since_url;
        let url = if ctx.full_views || seen[turn] == 0 {
            &view_url
        } else {
            let mut u = view_url.clone();
            u.set_query(Some(&format!("since={}", seen[turn])));
            since_url = u;
            &since_url
        };
        let Ok(ans) = ctx
            .http
            .call_url(Method::GET, url, Some(token), None, &mut st, Kind::GetView)
            .await
        else {
            st.bump("sessions_failed", 1);
            break;
        };
        if ans.status != 200 {
            st.error(Kind::GetView, ans.status, &ans.body);
            st.bump("sessions_failed", 1);
            break;
        }
        let view: View = match serde_json::from_slice(&ans.body) {
            Ok(v) => v,
            Err(e) => {
                st.error_msg(Kind::GetView, 200, &format!("unreadable view: {e}"));
                st.bump("sessions_failed", 1);
                break;
            }
        };
        seen[turn] = view.events_total.unwrap_or(0);
        if first[turn] {
            first[turn] = false;
            if turn == 0 && view.status == Some(Status::Running) {
                st.bump("sessions_running_at_start", 1);
            }
        }
        match view.status {
            Some(Status::Ended) => {
                st.bump("sessions_ended", 1);
                let reason = view
                    .result
                    .as_ref()
                    .and_then(|r| r.reason.as_deref())
                    .unwrap_or("None");
                st.bump(&format!("result: {reason}"), 1);
                break;
            }
            Some(Status::Failed) => {
                st.error_msg(Kind::GetView, 200, "the session failed on the server");
                st.bump("sessions_failed", 1);
                break;
            }
            _ => {}
        }
        let Some(pending) = view.pending.as_ref() else {
            st.bump("views_without_pending", 1);
            idle += 1;
            if idle > 1 && idle % 16 <= 1 {
                turn = (turn + 1) % n;
            }
            if idle == 1 {
                tokio::task::yield_now().await;
            } else {
                let ms = 1u64 << (idle - 2).min(3);
                tokio::time::sleep(Duration::from_millis(ms.min(8))).await;
            }
            continue;
        };
        idle = 0;
        if let Some(h) = handoff.take() {
            st.add(Kind::Handoff, h.elapsed().as_secs_f64());
        }
        if pending.kind.as_deref() != Some("act") {
            st.error_msg(
                Kind::GetView,
                0,
                &format!("unexpected pending kind {:?}", pending.kind),
            );
            st.bump("sessions_failed", 1);
            break;
        }
        let accept = decide(&view, pending, &ctx.issues, &mut rng, &mut pick);
        let outcome = Outcome {
            issues: &ctx.issues,
            pick: &pick,
        };
        if ctx.evaluate && !accept {
            let body = serde_json::to_vec(&Evaluate {
                outcome: Outcome {
                    issues: &ctx.issues,
                    pick: &pick,
                },
            })
            .unwrap_or_default();
            if let Ok(a) = ctx
                .http
                .call_url(
                    Method::POST,
                    &eval_url,
                    Some(token),
                    Some(&body),
                    &mut st,
                    Kind::PostEvaluate,
                )
                .await
            {
                if a.status != 200 {
                    st.error(Kind::PostEvaluate, a.status, &a.body);
                }
            }
        }
        let action = if accept {
            Action::Accept
        } else {
            Action::Offer { outcome }
        };
        let body = serde_json::to_vec(&action).unwrap_or_default();
        let Ok(ans) = ctx
            .http
            .call_url(
                Method::POST,
                &act_url,
                Some(token),
                Some(&body),
                &mut st,
                Kind::PostActions,
            )
            .await
        else {
            st.bump("sessions_failed", 1);
            break;
        };
        match ans.status {
            200 => {
                st.bump("actions", 1);
                st.bump(
                    if accept {
                        "actions: accept"
                    } else {
                        "actions: offer"
                    },
                    1,
                );
                ctx.actions.fetch_add(1, Ordering::Relaxed);
                turn = (turn + 1) % n;
                handoff = Some(Instant::now());
            }
            409 => st.bump("conflicts (409)", 1),
            s => {
                st.error(Kind::PostActions, s, &ans.body);
                st.bump("sessions_failed", 1);
                break;
            }
        }
    }
    ctx.active.fetch_sub(1, Ordering::Relaxed);
    st
}

/// Reads the first seat's view of every held session (at most `concurrency`
/// at once) and counts those `running` with an `act` request pending.
pub async fn check_held(http: Arc<Http>, held: &[Sess], concurrency: usize) -> Stats {
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    for s in held {
        let (http, sem) = (Arc::clone(&http), Arc::clone(&sem));
        let path = format!("/api/sessions/{}", s.id);
        let token = s.seats[0].clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let mut st = Stats::default();
            if let Ok(a) = http
                .call(
                    Method::GET,
                    &path,
                    Some(&token),
                    None,
                    &mut st,
                    Kind::GetViewHeld,
                )
                .await
            {
                if a.status != 200 {
                    st.error(Kind::GetViewHeld, a.status, &a.body);
                } else if let Ok(v) = serde_json::from_slice::<View>(&a.body) {
                    if v.status == Some(Status::Running) {
                        st.bump("held sessions running", 1);
                        if v.pending.and_then(|p| p.kind).as_deref() == Some("act") {
                            st.bump("held sessions waiting for a seat's action", 1);
                        }
                    }
                }
            }
            st
        });
    }
    let mut stats = Stats::default();
    while let Some(res) = set.join_next().await {
        if let Ok(st) = res {
            stats.merge(st);
        }
    }
    stats
}

/// Opens up to `n` keep-alive connections before the clock starts: `n`
/// concurrent `GET /healthz` (each needs a connection of its own while the
/// others are in flight).
pub async fn warm_up(http: Arc<Http>, n: usize) -> Stats {
    let mut set = JoinSet::new();
    for _ in 0..n {
        let http = Arc::clone(&http);
        set.spawn(async move {
            let mut st = Stats::default();
            let _ = http
                .call(Method::GET, "/healthz", None, None, &mut st, Kind::Warmup)
                .await;
            st
        });
    }
    let mut stats = Stats::default();
    while let Some(res) = set.join_next().await {
        if let Ok(st) = res {
            stats.merge(st);
        }
    }
    stats
}
