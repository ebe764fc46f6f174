//! The log's records, typed: what each kind of record holds, as it is written and as
//! a restarted server reads it back. The `created` record says which version of these
//! bodies the log was written with (`"log_schema"`; a log without it is version 1,
//! the same bodies); a log written by a later parley is refused with a clear message
//! instead of being misread. An unknown record kind is refused the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::live::{ActionBody, InputRecord};
use crate::store::Record;

/// The version of the record bodies this parley writes and reads.
pub const LOG_SCHEMA: u64 = 1;

/// `joined`: a seat joined (and whether its party confided in the mediator).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Joined {
    /// The role.
    pub role: String,
    /// Whether the party confided its preferences to the mediator.
    #[serde(default)]
    pub confide: bool,
}

/// `preferences`: a party's seat set its preferences (an agenda session). Only that
/// seat reads them back; no view, push or answer to anyone else carries them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferencesSet {
    /// The party's role.
    pub role: String,
    /// What it set, in the native format.
    pub preferences: parley_formats::native::Preferences,
}

/// `token`: the owner re-issued a seat's (or a principal's) link: the old token is
/// revoked, the new one listed, as the `created` record lists the first ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenIssued {
    /// Whose it is, as the tokens table writes it (`seat:NAME`, `principal:NAME`).
    pub role: String,
    /// SHA-256 of the new token, hex.
    pub hash: String,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
    /// SHA-256 of the token it replaces, hex.
    pub revokes: String,
}

/// `started`: every seat had joined; the talks began.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Started {
    /// Per party, whether it confided in the mediator.
    #[serde(default)]
    pub confide: Vec<bool>,
    /// When the talks began (Unix seconds): a wall-clock limit counts from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_unix: Option<i64>,
}

/// `notice`: a delegate's acceptance held for its principal, and the answer; a message
/// between roles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Notice {
    /// An acceptance outside the mandate, held.
    RatificationPending {
        /// The delegate's role.
        role: String,
        /// The held action.
        action: ActionBody,
        /// The delegate's `Idempotency-Key`, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// The principal confirmed it.
    Ratified {
        /// The delegate's role.
        role: String,
        /// The principal's `Idempotency-Key`, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// The principal refused it.
    RatificationRefused {
        /// The delegate's role.
        role: String,
        /// The principal's `Idempotency-Key`, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// A message from one role to another, or to every role (`to`: a role's name or
    /// `all`).
    Message {
        /// The sender's role.
        role: String,
        /// The recipient's role, or `all`.
        to: String,
        /// The message.
        text: String,
        /// The sender's `Idempotency-Key`, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// A seat did not act within the session's `seat_timeout_seconds`: it forfeits
    /// its turn (the forfeit follows as its input).
    Timeout {
        /// The seat's role.
        role: String,
    },
}

impl Notice {
    /// The role it is about (a message's sender).
    pub fn role(&self) -> &str {
        match self {
            Notice::RatificationPending { role, .. }
            | Notice::Ratified { role, .. }
            | Notice::RatificationRefused { role, .. }
            | Notice::Message { role, .. }
            | Notice::Timeout { role } => role,
        }
    }

    /// The client's key, if it sent one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Notice::RatificationPending { key, .. }
            | Notice::Ratified { key, .. }
            | Notice::RatificationRefused { key, .. }
            | Notice::Message { key, .. } => key.as_deref(),
            Notice::Timeout { .. } => None,
        }
    }

    /// What viewers see: the notice without the client's key.
    pub fn shown(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(fields) = v.as_object_mut() {
            fields.remove("key");
        }
        v
    }
}

/// `ended`: the outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ended {
    /// Issue → value label, if there is an agreement.
    pub agreement: Option<BTreeMap<String, String>>,
    /// Why the talks ended.
    pub reason: String,
    /// Every party's utility of the outcome.
    pub utilities: Vec<f64>,
}

/// One record, read.
#[derive(Clone, Debug)]
pub enum LogRecord {
    /// `created`: the session's first record (read by the audit, not here).
    Created(Value),
    /// `joined`.
    Joined(Joined),
    /// `preferences`.
    Preferences(PreferencesSet),
    /// `token`.
    Token(TokenIssued),
    /// `started`.
    Started(Started),
    /// `input`: a seat's action.
    Input(InputRecord),
    /// `notice`.
    Notice(Notice),
    /// `event`: an engine event, as the engine's JSON (checked on replay).
    Event(Value),
    /// `ended`.
    Ended(Ended),
}

impl LogRecord {
    /// Reads a record; a clear error if it is not what this parley writes.
    pub fn parse(r: &Record) -> Result<LogRecord, String> {
        let bad = |e: serde_json::Error| format!("record {} ({}): {e}", r.seq, r.kind);
        Ok(match r.kind.as_str() {
            "created" => {
                let v: Value = serde_json::from_str(&r.body).map_err(bad)?;
                let schema = v.get("log_schema").and_then(Value::as_u64).unwrap_or(1);
                if schema > LOG_SCHEMA {
                    return Err(format!(
                        "the log was written with record schema {schema}, newer than this \
                         parley's ({LOG_SCHEMA}): serve it with that parley or a later one"
                    ));
                }
                LogRecord::Created(v)
            }
            "joined" => LogRecord::Joined(serde_json::from_str(&r.body).map_err(bad)?),
            "token" => LogRecord::Token(serde_json::from_str(&r.body).map_err(bad)?),
            "preferences" => LogRecord::Preferences(serde_json::from_str(&r.body).map_err(bad)?),
            "started" => LogRecord::Started(serde_json::from_str(&r.body).map_err(bad)?),
            "input" => LogRecord::Input(serde_json::from_str(&r.body).map_err(bad)?),
            "notice" => LogRecord::Notice(serde_json::from_str(&r.body).map_err(bad)?),
            "event" => LogRecord::Event(serde_json::from_str(&r.body).map_err(bad)?),
            "ended" => LogRecord::Ended(serde_json::from_str(&r.body).map_err(bad)?),
            other => {
                return Err(format!(
                    "record {}: unknown kind {other:?} (written by a newer parley?)",
                    r.seq
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, body: &str) -> Record {
        Record {
            seq: 3,
            kind: kind.into(),
            body: body.into(),
            prev_hash: String::new(),
            hash: String::new(),
            at: String::new(),
            mac: None,
        }
    }

    #[test]
    fn a_log_from_a_newer_parley_is_refused_clearly() {
        let newer = LogRecord::parse(&record("created", r#"{"log_schema": 2}"#));
        let error = newer.expect_err("refused");
        assert!(
            error.contains("record schema 2, newer than this parley's (1)"),
            "{error}"
        );
        // Before the schema was written: version 1.
        assert!(LogRecord::parse(&record("created", r#"{"chain": 2}"#)).is_ok());
        let unknown = LogRecord::parse(&record("vote-tally", "{}")).expect_err("refused");
        assert!(unknown.contains("unknown kind \"vote-tally\""), "{unknown}");
        let broken =
            LogRecord::parse(&record("joined", r#"{"confide": true}"#)).expect_err("refused");
        assert!(
            broken.contains("record 3 (joined): missing field `role`"),
            "{broken}"
        );
    }

    #[test]
    fn notices_read_back_as_written_and_hide_the_key() {
        let written = r#"{"type":"ratification-pending","role":"candidate","action":{"type":"accept"},"key":"k-1"}"#;
        let LogRecord::Notice(notice) =
            LogRecord::parse(&record("notice", written)).expect("reads")
        else {
            panic!("a notice");
        };
        assert_eq!(notice.role(), "candidate");
        assert_eq!(notice.key(), Some("k-1"));
        assert_eq!(
            notice.shown(),
            serde_json::json!({"type": "ratification-pending", "role": "candidate", "action": {"type": "accept"}})
        );
    }
}
