//! The server's key and what it seals: a MAC on every log record, the anchors of the
//! chain heads, and the receipts handed to seats.
//!
//! The key lives in a file outside the database (created with mode 0600 on the first
//! start), so that someone who can change the database but not read that file cannot
//! rewrite a log and seal it again. Every commit appends the new chain heads to an
//! anchor file next to the key; a log whose last anchored head is gone was truncated,
//! and a session with anchors but no log was deleted.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::store::{hex, Record, StoreError};

/// The server's key and its anchor file.
pub struct Seal {
    key: [u8; 32],
    key_path: PathBuf,
    anchors_path: PathBuf,
    anchors: Mutex<Option<std::fs::File>>,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seal")
            .field("key_path", &self.key_path)
            .field("anchors_path", &self.anchors_path)
            .finish_non_exhaustive()
    }
}

/// The last anchored head of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// The sequence number of the anchored record.
    pub seq: i64,
    /// Its hash.
    pub head: String,
}

/// The anchor file of a key file: `X.key` → `X.anchors`, else `<key>.anchors`.
pub fn anchors_path(key_path: &Path) -> PathBuf {
    match key_path.extension() {
        Some(ext) if ext == "key" => key_path.with_extension("anchors"),
        _ => {
            let mut p = key_path.as_os_str().to_owned();
            p.push(".anchors");
            PathBuf::from(p)
        }
    }
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

impl Seal {
    /// Opens the key at `key_path`; with `create`, makes a new one (mode 0600) if there
    /// is none. The anchor file is opened for appending.
    pub fn open(key_path: &Path, create: bool) -> Result<Seal, StoreError> {
        let key = match std::fs::read(key_path) {
            Ok(bytes) => parse_key(&bytes).ok_or_else(|| {
                corrupt(format!(
                    "{}: not a parley server key (64 hex digits)",
                    key_path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let mut key = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
                write_new_key(key_path, &key)?;
                tracing::info!(key = %key_path.display(), "created a new server key");
                key
            }
            Err(e) => {
                return Err(corrupt(format!(
                    "cannot read the server key {}: {e}",
                    key_path.display()
                )))
            }
        };
        let anchors_path = anchors_path(key_path);
        Ok(Seal {
            key,
            key_path: key_path.to_path_buf(),
            anchors_path,
            anchors: Mutex::new(None),
        })
    }

    /// Where the anchors are.
    pub fn anchors_file(&self) -> &Path {
        &self.anchors_path
    }

    fn mac(&self, domain: &str, parts: &[&[u8]]) -> String {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        for part in std::iter::once(domain.as_bytes()).chain(parts.iter().copied()) {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part);
        }
        hex(&m.finalize().into_bytes())
    }

    fn check(&self, expected: &str, domain: &str, parts: &[&[u8]]) -> bool {
        use subtle::ConstantTimeEq;
        let actual = self.mac(domain, parts);
        actual.len() == expected.len() && bool::from(actual.as_bytes().ct_eq(expected.as_bytes()))
    }

    /// The MAC of a record of `session` (its hash covers everything stored with it).
    pub fn record_mac(&self, session: &str, hash: &str) -> String {
        self.mac("parley-record-v1", &[session.as_bytes(), hash.as_bytes()])
    }

    /// Whether `mac` is the MAC of that record.
    pub fn record_mac_ok(&self, session: &str, hash: &str, mac: &str) -> bool {
        self.check(
            mac,
            "parley-record-v1",
            &[session.as_bytes(), hash.as_bytes()],
        )
    }

    fn anchor_mac(&self, session: &str, seq: i64, head: &str) -> String {
        self.mac(
            "parley-anchor-v1",
            &[session.as_bytes(), &seq.to_be_bytes(), head.as_bytes()],
        )
    }

    /// Appends the heads of sessions whose logs were just committed.
    pub fn anchor(&self, heads: &[(&str, &Record)]) -> std::io::Result<()> {
        let mut lines = String::new();
        for (session, r) in heads {
            lines.push_str(
                &json!({
                    "session": session,
                    "seq": r.seq,
                    "head": r.hash,
                    "mac": self.anchor_mac(session, r.seq, &r.hash),
                })
                .to_string(),
            );
            lines.push('\n');
        }
        let mut file = self.anchors.lock().unwrap_or_else(|e| e.into_inner());
        if file.is_none() {
            *file = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.anchors_path)?,
            );
        }
        match file.as_mut() {
            Some(f) => f.write_all(lines.as_bytes()),
            None => Ok(()),
        }
    }

    /// Every session's last anchored head, and the lines that do not verify (a forged
    /// or damaged anchor; a torn last line after a crash is not counted).
    pub fn read_anchors(&self) -> Result<(BTreeMap<String, Anchor>, Vec<String>), StoreError> {
        let text = match std::fs::read_to_string(&self.anchors_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(corrupt(format!(
                    "cannot read the anchors {}: {e}",
                    self.anchors_path.display()
                )))
            }
        };
        let mut heads = BTreeMap::new();
        let mut bad = Vec::new();
        let complete = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let torn = i + 1 == lines.len() && !complete;
            let parsed = serde_json::from_str::<Value>(line).ok().and_then(|v| {
                Some((
                    v["session"].as_str()?.to_string(),
                    v["seq"].as_i64()?,
                    v["head"].as_str()?.to_string(),
                    v["mac"].as_str()?.to_string(),
                ))
            });
            match parsed {
                Some((session, seq, head, mac))
                    if self.check(
                        &mac,
                        "parley-anchor-v1",
                        &[session.as_bytes(), &seq.to_be_bytes(), head.as_bytes()],
                    ) =>
                {
                    let newer = heads.get(&session).is_none_or(|a: &Anchor| a.seq <= seq);
                    if newer {
                        heads.insert(session, Anchor { seq, head });
                    }
                }
                _ if torn => {}
                _ => bad.push(format!("anchor line {} does not verify", i + 1)),
            }
        }
        Ok((heads, bad))
    }

    /// Rewrites the anchor file with one line per session (its last head), atomically.
    pub fn compact(&self, heads: &BTreeMap<String, Anchor>) -> std::io::Result<()> {
        let mut text = String::new();
        for (session, a) in heads {
            text.push_str(
                &json!({
                    "session": session,
                    "seq": a.seq,
                    "head": a.head,
                    "mac": self.anchor_mac(session, a.seq, &a.head),
                })
                .to_string(),
            );
            text.push('\n');
        }
        let mut tmp = self.anchors_path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        let mut file = self.anchors.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::rename(&tmp, &self.anchors_path)?;
        *file = None;
        Ok(())
    }

    /// A receipt for a record a seat caused: the seat keeps it, and `parley audit
    /// --receipt` later proves that the record was logged as acknowledged.
    pub fn receipt(&self, session: &str, role: &str, r: &Record) -> Value {
        json!({
            "session": session,
            "role": role,
            "kind": r.kind,
            "hash": r.hash,
            "at": r.at,
            "mac": self.receipt_mac(session, role, &r.kind, &r.hash, &r.at),
        })
    }

    fn receipt_mac(&self, session: &str, role: &str, kind: &str, hash: &str, at: &str) -> String {
        self.mac(
            "parley-receipt-v1",
            &[
                session.as_bytes(),
                role.as_bytes(),
                kind.as_bytes(),
                hash.as_bytes(),
                at.as_bytes(),
            ],
        )
    }

    /// Checks a receipt's MAC: `(session, hash)` to look up in the log.
    pub fn verify_receipt(&self, receipt: &Value) -> Result<(String, String, String), String> {
        let field = |name: &str| {
            receipt[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("the receipt has no {name:?}"))
        };
        let (session, role, kind, hash, at, mac) = (
            field("session")?,
            field("role")?,
            field("kind")?,
            field("hash")?,
            field("at")?,
            field("mac")?,
        );
        let expected = self.receipt_mac(&session, &role, &kind, &hash, &at);
        use subtle::ConstantTimeEq;
        if expected.len() != mac.len() || !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) {
            return Err(
                "the receipt's MAC does not verify: it was not issued by this server's \
                        key, or it was altered"
                    .into(),
            );
        }
        Ok((session, hash, at))
    }
}

fn parse_key(bytes: &[u8]) -> Option<[u8; 32]> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    if text.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

fn write_new_key(path: &Path, key: &[u8; 32]) -> Result<(), StoreError> {
    let fail = |e: std::io::Error| {
        corrupt(format!(
            "cannot create the server key {}: {e}",
            path.display()
        ))
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(fail)?;
    f.write_all(format!("{}\n", hex(key)).as_bytes())
        .map_err(fail)?;
    f.sync_all().map_err(fail)?;
    Ok(())
}
