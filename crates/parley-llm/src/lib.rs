//! Language-model seats for parley: a party negotiator and a mediator that ask any
//! OpenAI-compatible chat-completions endpoint for each move, inside guardrails
//! parley enforces in code (see `docs/llm.md`).
//!
//! The engine does no I/O: this crate registers the `llm` family with it
//! ([`install`]), and every front end (the CLI, tournaments, the server, the Python
//! package) calls [`install`] at start, after which `llm:model=…:persona=…` is a
//! negotiator or mediator name like any built-in.
//!
//! ```text
//! OPENAI_BASE_URL=http://127.0.0.1:18080/v1 parley run scenarios/job-offer.toml --negotiators llm,conceder
//! ```

mod ask;
mod client;
mod draft;
mod mediator;
mod party;
pub mod words;

use std::time::Duration;

pub use client::{Client, Endpoint, Request};
pub use draft::{draft, Draft};
pub use mediator::LlmMediator;
pub use party::LlmNegotiator;

use parley_engine::negotiators::{self, Family};
use parley_engine::{Mediator, Negotiator};

/// The name of the family (the first word of a specification).
pub const NAME: &str = "llm";

/// How a seat leans: how fast its suggested packages come down towards what walking
/// away pays, and the words of its instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persona {
    /// Holds out: concessions come late.
    Hawkish,
    /// Firm but fair.
    Neutral,
    /// Looks for a deal early.
    Cooperative,
}

impl Persona {
    /// The exponent of the aspiration curve (as a time-based strategy's `e`).
    pub fn exponent(self) -> f64 {
        match self {
            Persona::Hawkish => 0.1,
            Persona::Neutral => 0.3,
            Persona::Cooperative => 1.0,
        }
    }

    /// The persona's sentence in the system prompt.
    pub fn words(self) -> &'static str {
        match self {
            Persona::Hawkish => "You are a tough negotiator: you concede slowly and only when time runs short.",
            Persona::Neutral => "You are firm but fair: you look for a deal good for you that the other side can accept.",
            Persona::Cooperative => "You are cooperative: you look for a fair deal early and explain your offers kindly.",
        }
    }

    /// The persona named `s` (`hawkish`, `neutral` or `cooperative`).
    pub fn parse(s: &str) -> Option<Persona> {
        match s {
            "hawkish" => Some(Persona::Hawkish),
            "neutral" => Some(Persona::Neutral),
            "cooperative" => Some(Persona::Cooperative),
            _ => None,
        }
    }
}

/// A seat's settings, from its specification.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The specification as given.
    pub spec: String,
    /// `model=` (default: `$OPENAI_MODEL`, else `gpt-4o-mini`).
    pub model: String,
    /// `temperature=` (default 0).
    pub temperature: f64,
    /// `max_tokens=` per reply (default 800).
    pub max_tokens: u32,
    /// `timeout=` seconds for a whole turn, retries included (default 60).
    pub timeout: Duration,
    /// `retries=`: how many times an invalid reply is asked again (default 2).
    pub retries: u32,
    /// `persona=` hawkish, neutral (default) or cooperative.
    pub persona: Persona,
    /// `patience=`: before this normalised time a party seat does not walk away while
    /// some deal beats walking away (default 0.95).
    pub patience: f64,
    /// `fallback=`: the built-in that moves when the model gives no valid answer
    /// (default `boulware` for a party, `hill-climber` for a mediator).
    pub fallback: String,
    /// `history=`: how many recent events a prompt shows (default 8).
    pub history: usize,
    /// `message_chars=`: the longest message the seat sends (default 200).
    pub max_message_chars: usize,
}

/// The role a seat plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A party.
    Party,
    /// The mediator.
    Mediator,
}

/// The settings `spec` names (`llm:model=…:temperature=…`).
pub fn settings(spec: &str, role: Role) -> Result<Settings, String> {
    let mut parts = spec.trim().split(':');
    let name = parts.next().unwrap_or_default().trim();
    if name != NAME {
        return Err(format!("{spec:?} is not an {NAME} specification"));
    }
    let mut s = Settings {
        spec: spec.trim().to_string(),
        model: std::env::var("OPENAI_MODEL")
            .ok()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| "gpt-4o-mini".into()),
        temperature: 0.0,
        max_tokens: 800,
        timeout: Duration::from_secs(60),
        retries: 2,
        persona: Persona::Neutral,
        patience: 0.95,
        fallback: match role {
            Role::Party => "boulware".into(),
            Role::Mediator => "hill-climber".into(),
        },
        history: 8,
        max_message_chars: 200,
    };
    for part in parts {
        let (key, value) = part
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| format!("{spec:?}: parameter {part:?} is not key=value"))?;
        let number = || {
            value
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("{spec:?}: {key}={value:?} is not a number ≥ 0"))
        };
        let whole = |max: u64| {
            value
                .parse::<u64>()
                .ok()
                .filter(|x| *x <= max)
                .ok_or_else(|| format!("{spec:?}: {key}={value:?} is not a whole number ≤ {max}"))
        };
        match key {
            "model" if !value.is_empty() => s.model = value.to_string(),
            "temperature" => s.temperature = number()?.min(2.0),
            "max_tokens" => s.max_tokens = whole(100_000)?.max(16) as u32,
            "timeout" => s.timeout = Duration::from_secs_f64(number()?.clamp(0.5, 3600.0)),
            "retries" => s.retries = whole(10)? as u32,
            "persona" => {
                s.persona = Persona::parse(value).ok_or_else(|| {
                    format!("{spec:?}: persona={value:?}: hawkish, neutral or cooperative")
                })?
            }
            "patience" => s.patience = number()?.min(1.0),
            "fallback" if !value.is_empty() => s.fallback = value.to_string(),
            "history" => s.history = whole(200)? as usize,
            "message_chars" => {
                s.max_message_chars =
                    (whole(parley_engine::negotiator::MAX_MESSAGE_CHARS as u64)? as usize).max(1)
            }
            _ => {
                return Err(format!(
                    "{spec:?}: unknown parameter {key:?} (model, temperature, max_tokens, \
                     timeout, retries, persona, patience, fallback, history, message_chars)"
                ))
            }
        }
    }
    Ok(s)
}

/// The settings of `spec`, with its fallback checked: everything but the endpoint.
fn checked(spec: &str, role: Role, seed: u64) -> Result<Settings, String> {
    let settings = settings(spec, role)?;
    if settings.fallback.split(':').next() == Some(NAME) {
        return Err(format!("{spec:?}: the fallback must be a built-in"));
    }
    match role {
        Role::Party => negotiators::negotiator_send(&settings.fallback, seed)
            .map(drop)
            .map_err(|e| format!("{spec:?}: fallback: {e}"))?,
        Role::Mediator => builtin_mediator(&settings.fallback, seed)
            .map(drop)
            .map_err(|e| format!("{spec:?}: fallback: {e}"))?,
    }
    Ok(settings)
}

fn client(settings: &Settings, seed: u64, endpoint: Endpoint) -> Client {
    Client::new(
        endpoint,
        Request {
            model: settings.model.clone(),
            temperature: settings.temperature,
            max_tokens: settings.max_tokens,
            timeout: settings.timeout,
            seed,
        },
    )
}

/// A party seat played by a model, as `spec` says, with `seed` sent to the endpoint.
pub fn negotiator(spec: &str, seed: u64) -> Result<Box<dyn Negotiator + Send>, String> {
    checked(spec, Role::Party, seed)?;
    negotiator_with(spec, seed, Endpoint::from_env()?)
}

/// [`negotiator`], asking `endpoint` instead of the one the environment names.
pub fn negotiator_with(
    spec: &str,
    seed: u64,
    endpoint: Endpoint,
) -> Result<Box<dyn Negotiator + Send>, String> {
    let settings = checked(spec, Role::Party, seed)?;
    let fallback = negotiators::negotiator_send(&settings.fallback, seed)
        .map_err(|e| format!("{spec:?}: fallback: {e}"))?;
    let client = client(&settings, seed, endpoint);
    Ok(Box::new(LlmNegotiator::new(settings, client, fallback)))
}

/// [`negotiator`] for a session replayed from its log: its first requests are
/// answered with `recorded` (the seat's model calls as logged, in order), so it makes
/// the same moves; then it asks the endpoint as usual.
pub fn negotiator_replaying(
    spec: &str,
    seed: u64,
    recorded: Vec<parley_engine::ModelCall>,
) -> Result<Box<dyn Negotiator + Send>, String> {
    checked(spec, Role::Party, seed)?;
    negotiator_replaying_with(spec, seed, Endpoint::from_env()?, recorded)
}

/// [`negotiator_replaying`], asking `endpoint` once the recorded calls are used up.
pub fn negotiator_replaying_with(
    spec: &str,
    seed: u64,
    endpoint: Endpoint,
    recorded: Vec<parley_engine::ModelCall>,
) -> Result<Box<dyn Negotiator + Send>, String> {
    let settings = checked(spec, Role::Party, seed)?;
    let fallback = negotiators::negotiator_send(&settings.fallback, seed)
        .map_err(|e| format!("{spec:?}: fallback: {e}"))?;
    let client = client(&settings, seed, endpoint).replaying(recorded);
    Ok(Box::new(LlmNegotiator::new(settings, client, fallback)))
}

/// [`mediator`] for a session replayed from its log (see [`negotiator_replaying`]).
pub fn mediator_replaying(
    spec: &str,
    seed: u64,
    recorded: Vec<parley_engine::ModelCall>,
) -> Result<Box<dyn Mediator + Send>, String> {
    let settings = checked(spec, Role::Mediator, seed)?;
    let fallback = builtin_mediator(&settings.fallback, seed)
        .map_err(|e| format!("{spec:?}: fallback: {e}"))?;
    let client = client(&settings, seed, Endpoint::from_env()?).replaying(recorded);
    Ok(Box::new(LlmMediator::new(settings, client, fallback)))
}

/// Whether `spec` names a language-model seat.
pub fn is_llm(spec: &str) -> bool {
    spec.trim().split(':').next().map(str::trim) == Some(NAME)
}

/// A mediator played by a model, as `spec` says.
pub fn mediator(spec: &str, seed: u64) -> Result<Box<dyn Mediator + Send>, String> {
    checked(spec, Role::Mediator, seed)?;
    mediator_with(spec, seed, Endpoint::from_env()?)
}

/// [`mediator`], asking `endpoint` instead of the one the environment names.
pub fn mediator_with(
    spec: &str,
    seed: u64,
    endpoint: Endpoint,
) -> Result<Box<dyn Mediator + Send>, String> {
    let settings = checked(spec, Role::Mediator, seed)?;
    let fallback = builtin_mediator(&settings.fallback, seed)
        .map_err(|e| format!("{spec:?}: fallback: {e}"))?;
    let client = client(&settings, seed, endpoint);
    Ok(Box::new(LlmMediator::new(settings, client, fallback)))
}

fn builtin_mediator(spec: &str, seed: u64) -> Result<Box<dyn Mediator + Send>, String> {
    use rand::SeedableRng;
    let rng = rand::rngs::SmallRng::seed_from_u64(seed);
    match spec {
        "hill-climber" => Ok(Box::new(negotiators::HillClimber::new(rng))),
        "shuttle" => Ok(Box::new(negotiators::ShuttleMediator::new(rng))),
        other => Err(format!(
            "unknown mediator {other:?} (built-ins: {})",
            negotiators::MEDIATORS.join(", ")
        )),
    }
}

/// Registers the `llm` family with the engine, so that `llm:…` names a negotiator or
/// a mediator everywhere a built-in's name is taken. Idempotent.
pub fn install() {
    negotiators::register_family(
        NAME,
        Family {
            negotiator: std::sync::Arc::new(negotiator),
            mediator: std::sync::Arc::new(mediator),
        },
    );
}
