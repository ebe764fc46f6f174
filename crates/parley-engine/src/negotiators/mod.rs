//! Built-in negotiators and mediators, and the parser of their specifications
//! (`boulware`, `conceder:e=3`, `linear:accept=0.8`, …). See `docs/negotiators.md`.

mod anac;
mod best;
mod bids;
mod boa;
mod mediators;
mod model;
mod strategies;

use rand::rngs::SmallRng;
use rand::SeedableRng;

pub use anac::{AgentGG, AgentK, Agreeable, Atlas3, Cuhk, HardHeaded, Micro, PonPoko, TheFawkes};
pub use best::{Best, BestParams};
pub use bids::{BidCache, BidSpace};
pub use boa::{
    ac_combi_max_w, ac_next, BayesianModel, Bid, Classic, Common, Heard, ReservationEstimate,
    Tactic,
};
pub use mediators::{HillClimber, ShuttleMediator};
pub use model::OpponentModel;
pub use strategies::{Acceptance, FrequencyModel, RandomNegotiator, TimeBased, TitForTat};

use crate::negotiator::{Mediator, Negotiator};
use crate::{Error, Result};

/// A negotiator made outside parley's built-ins (a strategy in Python, a NegMAS agent
/// through the Python package): given the scenario, the party it plays and a seed, a
/// fresh negotiator for one session, or why not.
pub type External = std::sync::Arc<
    dyn Fn(
            &parley_core::Scenario,
            usize,
            u64,
        ) -> std::result::Result<Box<dyn Negotiator + Send>, String>
        + Send
        + Sync,
>;

fn externals() -> &'static std::sync::RwLock<std::collections::BTreeMap<String, External>> {
    static EXTERNALS: std::sync::OnceLock<
        std::sync::RwLock<std::collections::BTreeMap<String, External>>,
    > = std::sync::OnceLock::new();
    EXTERNALS.get_or_init(Default::default)
}

/// Registers an outside negotiator under `name` (replacing one of that name), so that
/// tournaments may name it as a competitor; [`unregister_external`] takes it back.
pub fn register_external(name: &str, factory: External) {
    externals()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string(), factory);
}

/// Takes back an outside negotiator registered under `name`.
pub fn unregister_external(name: &str) {
    externals()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .remove(name);
}

/// Whether `name` is a registered outside negotiator.
pub fn is_external(name: &str) -> bool {
    externals()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .contains_key(name)
}

/// A family of negotiators made outside the engine and named by the first word of a
/// specification (`llm:model=…`, registered by the `parley-llm` crate): given the
/// whole specification and a seed, a fresh party negotiator or mediator, or why not.
#[derive(Clone)]
pub struct Family {
    /// Makes a party's negotiator.
    pub negotiator: MakeNegotiator,
    /// Makes a mediator.
    pub mediator: MakeMediator,
}

/// Makes a family's party negotiator from its specification and a seed.
pub type MakeNegotiator = std::sync::Arc<
    dyn Fn(&str, u64) -> std::result::Result<Box<dyn Negotiator + Send>, String> + Send + Sync,
>;

/// Makes a family's mediator from its specification and a seed.
pub type MakeMediator = std::sync::Arc<
    dyn Fn(&str, u64) -> std::result::Result<Box<dyn Mediator + Send>, String> + Send + Sync,
>;

fn families() -> &'static std::sync::RwLock<std::collections::BTreeMap<String, Family>> {
    static FAMILIES: std::sync::OnceLock<
        std::sync::RwLock<std::collections::BTreeMap<String, Family>>,
    > = std::sync::OnceLock::new();
    FAMILIES.get_or_init(Default::default)
}

/// Registers a family of negotiators under `name` (replacing one of that name): from
/// then on [`negotiator`] and [`mediator`] hand every specification whose first word
/// is `name` to it. The engine itself does no I/O; a family may.
pub fn register_family(name: &str, family: Family) {
    families()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string(), family);
}

fn family(name: &str) -> Option<Family> {
    families()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .cloned()
}

/// The names of the registered families (see [`register_family`]).
pub fn family_names() -> Vec<String> {
    families()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .keys()
        .cloned()
        .collect()
}

/// The negotiator `spec` names for party `party` of `scenario`: a registered outside
/// one, else a built-in ([`negotiator`]).
pub fn negotiator_for(
    spec: &str,
    scenario: &parley_core::Scenario,
    party: usize,
    seed: u64,
) -> Result<Box<dyn Negotiator>> {
    let factory = externals()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(spec)
        .cloned();
    match factory {
        Some(make) => make(scenario, party, seed)
            .map(|n| n as Box<dyn Negotiator>)
            .map_err(|e| Error::UnknownNegotiator(format!("{spec:?}: {e}"))),
        None => negotiator(spec, seed),
    }
}

/// The names of the built-in negotiators.
pub const NEGOTIATORS: &[&str] = &[
    "boulware",
    "linear",
    "conceder",
    "hardliner",
    "random",
    "tit-for-tat",
    "frequency",
    "best",
    "agentk",
    "hardheaded",
    "cuhk",
    "thefawkes",
    "atlas3",
    "ponpoko",
    "agreeable",
    "agentgg",
    "micro",
];

/// The ANAC champions among [`NEGOTIATORS`], with the competition they won (see
/// `docs/negotiators.md`).
pub const CLASSICS: &[(&str, &str)] = &[
    ("agentk", "AgentK, ANAC 2010"),
    ("hardheaded", "HardHeaded, ANAC 2011"),
    ("cuhk", "CUHKAgent, ANAC 2012"),
    ("thefawkes", "TheFawkes, ANAC 2013"),
    ("atlas3", "Atlas3, ANAC 2015"),
    ("ponpoko", "PonPokoAgent, ANAC 2017"),
    ("agreeable", "AgreeableAgent2018, ANAC 2018"),
    ("agentgg", "AgentGG, ANAC 2019"),
    ("micro", "MiCRO, de Jonge 2022"),
];

/// The strategy `best` plays by default.
pub const BEST: &str =
    "best:e=0.03:endgame=1:nash=1:predict=0:fresh=1:grace=1:ultimatum=0.25:reach=0.5:blind=1";

/// The names of the built-in mediators.
pub const MEDIATORS: &[&str] = &["hill-climber", "shuttle"];

/// The seed of one role of a session (`role` is the party index, `u64::MAX` for the
/// mediator): a splitmix64 mix of both, so that roles draw independent streams.
pub fn role_seed(seed: u64, role: u64) -> u64 {
    let mut z = seed ^ role.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A parsed specification: a name and `key=value` parameters.
struct Spec<'a> {
    name: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

fn parse_spec(spec: &str) -> Result<Spec<'_>> {
    let mut parts = spec.trim().split(':');
    let name = parts.next().unwrap_or_default().trim();
    let params = parts
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| {
                    Error::UnknownNegotiator(format!("{spec:?}: parameter {p:?} is not key=value"))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Spec { name, params })
}

fn number(spec: &str, key: &str, value: &str) -> Result<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| {
            Error::UnknownNegotiator(format!("{spec:?}: {key}={value:?} is not a number"))
        })
}

/// Builds a negotiator from its specification; `seed` seeds its randomness.
pub fn negotiator(spec: &str, seed: u64) -> Result<Box<dyn Negotiator>> {
    negotiator_send(spec, seed).map(|n| n as Box<dyn Negotiator>)
}

/// [`negotiator`], for a caller that moves it between threads (every built-in may be).
pub fn negotiator_send(spec: &str, seed: u64) -> Result<Box<dyn Negotiator + Send>> {
    let parsed = parse_spec(spec)?;
    if let Some(family) = family(parsed.name) {
        return (family.negotiator)(spec, seed).map_err(Error::UnknownNegotiator);
    }
    if let Some(made) = classic(spec, &parsed, seed)? {
        return Ok(made);
    }
    let rng = SmallRng::seed_from_u64(seed);
    let mut exponent: Option<f64> = None;
    let mut acceptance = Acceptance::Next;
    for &(key, value) in &parsed.params {
        match key {
            "e" => {
                let e = number(spec, key, value)?;
                if e < 0.0 {
                    return Err(Error::UnknownNegotiator(format!("{spec:?}: e must be ≥ 0")));
                }
                exponent = Some(e);
            }
            "accept" => {
                acceptance = match value {
                    "next" => Acceptance::Next,
                    other => Acceptance::Threshold(number(spec, key, other)?),
                }
            }
            "after" => acceptance = Acceptance::NextOrAfter(number(spec, key, value)?),
            other => {
                return Err(Error::UnknownNegotiator(format!(
                    "{spec:?}: unknown parameter {other:?} (expected e, accept or after)"
                )))
            }
        }
    }
    let time_based = |name: &str, default_e: f64| -> Box<dyn Negotiator + Send> {
        Box::new(TimeBased::new(
            name,
            exponent.unwrap_or(default_e),
            acceptance,
            rng.clone(),
        ))
    };
    Ok(match parsed.name {
        "boulware" => time_based("boulware", 0.2),
        "linear" => time_based("linear", 1.0),
        "conceder" => time_based("conceder", 3.0),
        "hardliner" => time_based("hardliner", 0.0),
        "random" => Box::new(RandomNegotiator::new(rng)),
        "tit-for-tat" => Box::new(TitForTat::new(acceptance, rng)),
        "frequency" => Box::new(FrequencyModel::new(exponent.unwrap_or(0.5), acceptance)),
        other => {
            return Err(Error::UnknownNegotiator(format!(
                "unknown negotiator {other:?} (expected one of {})",
                NEGOTIATORS.join(", ")
            )))
        }
    })
}

/// `best` (parameters `e` and `endgame`) and the ANAC classics (no parameters);
/// `None` for any other name.
fn classic(spec: &str, parsed: &Spec<'_>, seed: u64) -> Result<Option<Box<dyn Negotiator + Send>>> {
    if parsed.name == "best" {
        let mut p = BestParams::default();
        for &(key, value) in &parsed.params {
            let x = number(spec, key, value)?;
            let flag = x == 0.0 || x == 1.0;
            let (ok, expected) = match key {
                "e" => (x > 0.0, "> 0"),
                "endgame" => (x >= 0.0, "≥ 0"),
                "grace" => ((0.0..=1.0).contains(&x), "in [0, 1]"),
                "ultimatum" | "reach" => ((0.0..=1.0).contains(&x), "in [0, 1]"),
                "nash" | "predict" | "bayes" | "fresh" | "blind" => (flag, "0 or 1"),
                other => {
                    return Err(Error::UnknownNegotiator(format!(
                        "{spec:?}: unknown parameter {other:?} (expected e, endgame, nash, predict, bayes, fresh, grace, ultimatum, reach or blind)"
                    )))
                }
            };
            if !ok {
                return Err(Error::UnknownNegotiator(format!(
                    "{spec:?}: {key} must be {expected}"
                )));
            }
            match key {
                "e" => p.exponent = x,
                "endgame" => p.endgame = x,
                "grace" => p.grace = x,
                "ultimatum" => p.ultimatum = x,
                "reach" => p.reach = x,
                "nash" => p.nash = x == 1.0,
                "predict" => p.predict = x == 1.0,
                "bayes" => p.bayes = Some(x == 1.0),
                "blind" => p.blind = x == 1.0,
                _ => p.fresh = x == 1.0,
            }
        }
        return Ok(Some(Box::new(Classic::new(Best::new(p), seed))));
    }
    if !CLASSICS.iter().any(|(name, _)| *name == parsed.name) {
        return Ok(None);
    }
    if let Some((key, _)) = parsed.params.first() {
        return Err(Error::UnknownNegotiator(format!(
            "{spec:?}: {} takes no parameters (got {key:?})",
            parsed.name
        )));
    }
    Ok(Some(match parsed.name {
        "agentk" => Box::new(Classic::new(AgentK, seed)),
        "hardheaded" => Box::new(Classic::new(HardHeaded, seed)),
        "cuhk" => Box::new(Classic::new(Cuhk, seed)),
        "thefawkes" => Box::new(Classic::new(TheFawkes, seed)),
        "atlas3" => Box::new(Classic::new(Atlas3::default(), seed)),
        "ponpoko" => Box::new(Classic::new(PonPoko::default(), seed)),
        "agreeable" => Box::new(Classic::new(Agreeable, seed)),
        "agentgg" => Box::new(Classic::new(AgentGG, seed)),
        _ => Box::new(Classic::new(Micro::default(), seed)),
    }))
}

/// Builds a mediator from its specification.
pub fn mediator(spec: &str, seed: u64) -> Result<Box<dyn Mediator>> {
    let parsed = parse_spec(spec)?;
    if let Some(family) = family(parsed.name) {
        return (family.mediator)(spec, seed)
            .map(|m| m as Box<dyn Mediator>)
            .map_err(Error::UnknownNegotiator);
    }
    if let Some((key, _)) = parsed.params.first() {
        return Err(Error::UnknownNegotiator(format!(
            "{spec:?}: unknown parameter {key:?}"
        )));
    }
    let rng = SmallRng::seed_from_u64(seed);
    Ok(match parsed.name {
        "hill-climber" => Box::new(HillClimber::new(rng)),
        "shuttle" => Box::new(ShuttleMediator::new(rng)),
        other => {
            return Err(Error::UnknownNegotiator(format!(
                "unknown mediator {other:?} (expected one of {})",
                MEDIATORS.join(", ")
            )))
        }
    })
}
