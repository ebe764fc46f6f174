//! The server's key and what it seals: a MAC on every log record, the anchors of the
//! chain heads, and the receipts handed to seats.
//!
//! The key lives in a file outside the database (created with mode 0600 on the first
//! start), so that someone who can change the database but not read that file cannot
//! rewrite a log and seal it again. Every commit appends the new chain heads to an
//! anchor file next to the key; a log whose last anchored head is gone was truncated,
//! and a session with anchors but no log was deleted. The anchor lines are chained
//! too (each line's MAC covers its number and the line before it), so lines cannot be
//! removed or edited in the middle without the audit seeing it.

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
    anchors: Mutex<Writer>,
    /// Whether this start made the key (no key existed: nothing was sealed before).
    pub created: bool,
}

/// The anchor file as the server appends to it: the open file and the chain's tip.
struct Writer {
    file: Option<std::fs::File>,
    /// The number and MAC of the last line written.
    tip: Option<(u64, String)>,
    /// Every session's last anchored head, as the file says (kept once the server has
    /// read the file at start: see [`Seal::compact`]).
    heads: Option<BTreeMap<String, Anchor>>,
    /// Lines appended since the file was last compacted.
    appended: u64,
    /// Never rewritten: the server found the file damaged, and keeps it as evidence.
    evidence: bool,
    /// Rewritten once this many lines were appended (and more than four a session).
    compact_after: u64,
}

impl Default for Writer {
    fn default() -> Writer {
        Writer {
            file: None,
            tip: None,
            heads: None,
            appended: 0,
            evidence: false,
            compact_after: COMPACT_AFTER_LINES,
        }
    }
}

/// The anchor file is compacted (while the server runs) once this many lines have
/// been appended since the last compaction, and more than four lines a session.
const COMPACT_AFTER_LINES: u64 = 100_000;

/// What the anchor file says.
#[derive(Debug, Default)]
pub struct Anchors {
    /// Each session's last anchored head.
    pub heads: BTreeMap<String, Anchor>,
    /// Lines that do not verify, or do not follow the line before them.
    pub problems: Vec<String>,
    /// A last line cut short (a crash during a write, or a cut file).
    pub warnings: Vec<String>,
    /// The number and MAC of the last good line.
    pub tip: Option<(u64, String)>,
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
        let mut created = false;
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
                created = true;
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
            anchors: Mutex::new(Writer::default()),
            created,
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
        same(&self.mac(domain, parts), expected)
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

    fn anchor_mac(&self, n: u64, prev: &str, session: &str, seq: i64, head: &str) -> String {
        self.mac(
            "parley-anchor-v2",
            &[
                &n.to_be_bytes(),
                prev.as_bytes(),
                session.as_bytes(),
                &seq.to_be_bytes(),
                head.as_bytes(),
            ],
        )
    }

    /// The lines for `heads`, continuing the chain from `tip`; the new tip.
    fn anchor_lines(
        &self,
        tip: Option<(u64, String)>,
        heads: &[(&str, i64, &str)],
    ) -> (String, Option<(u64, String)>) {
        let mut tip = tip;
        let mut lines = String::new();
        for (session, seq, head) in heads {
            let (n, prev) = match &tip {
                Some((n, mac)) => (n + 1, mac.clone()),
                None => (0, String::new()),
            };
            let mac = self.anchor_mac(n, &prev, session, *seq, head);
            lines.push_str(
                &json!({"n": n, "prev": prev, "session": session, "seq": seq, "head": head, "mac": mac})
                    .to_string(),
            );
            lines.push('\n');
            tip = Some((n, mac));
        }
        (lines, tip)
    }

    /// Sets where the chain of anchor lines stands (after reading the file at start).
    pub fn set_tip(&self, tip: Option<(u64, String)>) {
        self.anchors.lock().unwrap_or_else(|e| e.into_inner()).tip = tip;
    }

    /// Appends the heads of sessions whose logs were just committed; with `durable`,
    /// waits until the lines are on disk (a new session's first anchor).
    pub fn anchor(&self, heads: &[(&str, &Record)], durable: bool) -> std::io::Result<()> {
        let heads: Vec<(&str, i64, &str)> = heads
            .iter()
            .map(|(s, r)| (*s, r.seq, r.hash.as_str()))
            .collect();
        let mut writer = self.anchors.lock().unwrap_or_else(|e| e.into_inner());
        let (lines, tip) = self.anchor_lines(writer.tip.clone(), &heads);
        if let Some(known) = writer.heads.as_mut() {
            for (session, seq, head) in &heads {
                known.insert(
                    (*session).to_string(),
                    Anchor {
                        seq: *seq,
                        head: (*head).to_string(),
                    },
                );
            }
        }
        writer.appended += heads.len() as u64;
        if writer.file.is_none() {
            writer.file = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.anchors_path)?,
            );
        }
        if let Some(f) = writer.file.as_mut() {
            f.write_all(lines.as_bytes())?;
            if durable {
                f.sync_data()?;
            }
        }
        writer.tip = tip;
        // The file grows with every commit: rewrite it as one line per session now and
        // then (never if the server found it damaged: then it is evidence).
        let sessions = writer.heads.as_ref().map_or(0, BTreeMap::len) as u64;
        if writer.heads.is_some()
            && !writer.evidence
            && writer.appended > writer.compact_after
            && writer.appended > 4 * sessions
        {
            self.rewrite(&mut writer)?;
        }
        Ok(())
    }

    /// The last anchored head of `session`, as the server knows it (`None` before
    /// [`Seal::compact`] has run, or for a session never anchored).
    pub fn head(&self, session: &str) -> Option<Anchor> {
        let writer = self.anchors.lock().unwrap_or_else(|e| e.into_inner());
        writer.heads.as_ref()?.get(session).cloned()
    }

    /// Reads the anchor file: every session's last anchored head, the lines that do not
    /// verify or do not follow the line before them, and the chain's tip.
    pub fn read_anchors(&self) -> Result<Anchors, StoreError> {
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
        let mut out = Anchors::default();
        let complete = text.is_empty() || text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let torn = i + 1 == lines.len() && !complete;
            let parsed = serde_json::from_str::<Value>(line).ok().and_then(|v| {
                Some((
                    v["n"].as_u64()?,
                    v["prev"].as_str()?.to_string(),
                    v["session"].as_str()?.to_string(),
                    v["seq"].as_i64()?,
                    v["head"].as_str()?.to_string(),
                    v["mac"].as_str()?.to_string(),
                ))
            });
            // A line as parley wrote them before anchors were chained (no "n", a v1
            // MAC): accepted only before the first chained line; the next start
            // rewrites the file chained.
            if parsed.is_none() && out.tip.is_none() {
                if let Some((session, seq, head)) = self.legacy_anchor(line) {
                    let newer = out.heads.get(&session).is_none_or(|a| a.seq <= seq);
                    if newer {
                        out.heads.insert(session, Anchor { seq, head });
                    }
                    continue;
                }
            }
            let Some((n, prev, session, seq, head, mac)) = parsed else {
                if torn {
                    out.warnings.push(format!(
                        "the last anchor line ({}) is cut short: a crash during a write, or \
                         the file was cut",
                        i + 1
                    ));
                } else {
                    out.problems
                        .push(format!("anchor line {} is not an anchor", i + 1));
                }
                continue;
            };
            if !same(&self.anchor_mac(n, &prev, &session, seq, &head), &mac) {
                out.problems
                    .push(format!("anchor line {} does not verify", i + 1));
                continue;
            }
            // The file begins with line 0 or with the mark a compaction writes (its
            // chain continues the one compacted away); every later line must follow
            // the last good line.
            if out.tip.is_none() && n != 0 && !session.is_empty() {
                out.problems.push(format!(
                    "anchor line {} is the first in the file but neither line 0 nor a \
                     compaction mark: the first lines were removed",
                    i + 1
                ));
            }
            if let Some((tip_n, tip_mac)) = &out.tip {
                if n != tip_n + 1 || prev != *tip_mac {
                    out.problems.push(format!(
                        "anchor line {} does not follow the line before it: anchor lines \
                         were removed, reordered or copied",
                        i + 1
                    ));
                }
            }
            out.tip = Some((n, mac));
            if session.is_empty() {
                continue; // a compaction mark
            }
            let newer = out.heads.get(&session).is_none_or(|a| a.seq <= seq);
            if newer {
                out.heads.insert(session, Anchor { seq, head });
            }
        }
        Ok(out)
    }

    /// A verified anchor line of the first format (`{"session", "seq", "head",
    /// "mac"}`, MAC "parley-anchor-v1"): its session, sequence number and head.
    fn legacy_anchor(&self, line: &str) -> Option<(String, i64, String)> {
        let v: Value = serde_json::from_str(line).ok()?;
        if v.get("n").is_some() {
            return None;
        }
        let session = v["session"].as_str()?;
        let seq = v["seq"].as_i64()?;
        let head = v["head"].as_str()?;
        let mac = v["mac"].as_str()?;
        self.check(
            mac,
            "parley-anchor-v1",
            &[session.as_bytes(), &seq.to_be_bytes(), head.as_bytes()],
        )
        .then(|| (session.to_string(), seq, head.to_string()))
    }

    /// Rewrites the anchor file atomically: a compaction mark (a line with no session),
    /// then one line per session (its last head), continuing the chain.
    /// From then on the server keeps every session's head in memory, and rewrites the
    /// file the same way whenever it has grown a lot.
    pub fn compact(&self, heads: &BTreeMap<String, Anchor>) -> std::io::Result<()> {
        let mut writer = self.anchors.lock().unwrap_or_else(|e| e.into_inner());
        writer.heads = Some(heads.clone());
        self.rewrite(&mut writer)
    }

    /// Keeps the heads of a file the server will not rewrite (it found it damaged),
    /// for [`Seal::head`].
    pub fn keep_heads(&self, heads: &BTreeMap<String, Anchor>) {
        let mut writer = self.anchors.lock().unwrap_or_else(|e| e.into_inner());
        writer.heads = Some(heads.clone());
        writer.evidence = true;
    }

    fn rewrite(&self, writer: &mut Writer) -> std::io::Result<()> {
        let Some(heads) = writer.heads.as_ref() else {
            return Ok(());
        };
        // The mark first: a file that does not begin with line 0 or a mark lost lines.
        let list: Vec<(&str, i64, &str)> = std::iter::once(("", -1, "compacted"))
            .chain(
                heads
                    .iter()
                    .map(|(s, a)| (s.as_str(), a.seq, a.head.as_str())),
            )
            .collect();
        let (text, tip) = self.anchor_lines(writer.tip.clone(), &list);
        let mut tmp = self.anchors_path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.anchors_path)?;
        writer.file = None;
        writer.tip = tip;
        writer.appended = 0;
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
        if !same(&expected, &mac) {
            return Err(
                "the receipt's MAC does not verify: it was not issued by this server's \
                        key, or it was altered"
                    .into(),
            );
        }
        Ok((session, hash, at))
    }
}

/// Whether two MACs are equal, in constant time.
fn same(actual: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    actual.len() == expected.len() && bool::from(actual.as_bytes().ct_eq(expected.as_bytes()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: i64, hash: &str) -> Record {
        Record {
            seq,
            kind: "event".into(),
            body: "{}".into(),
            prev_hash: String::new(),
            hash: hash.into(),
            at: String::new(),
            mac: None,
        }
    }

    /// The anchor file is rewritten as one line per session once it has grown, and
    /// still verifies, with every session's last head.
    #[test]
    fn the_anchor_file_is_compacted_while_the_server_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seal = Seal::open(&dir.path().join("t.key"), true).expect("a key");
        seal.compact(&BTreeMap::new()).expect("compact");
        seal.anchors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .compact_after = 50;
        for seq in 0..200 {
            for session in ["s_a", "s_b"] {
                let r = record(seq, &format!("{session}-{seq}"));
                seal.anchor(&[(session, &r)], false).expect("anchor");
            }
        }
        let text = std::fs::read_to_string(seal.anchors_file()).expect("read");
        assert!(text.lines().count() < 60, "{} lines", text.lines().count());
        let read = seal.read_anchors().expect("reads");
        assert!(read.problems.is_empty(), "{:?}", read.problems);
        assert_eq!(read.heads["s_a"].head, "s_a-199");
        assert_eq!(read.heads["s_b"].seq, 199);
        assert_eq!(seal.head("s_b").map(|a| a.seq), Some(199));
        // A damaged file is kept as it is.
        seal.keep_heads(&read.heads);
        let before = std::fs::read_to_string(seal.anchors_file()).expect("read");
        for seq in 200..400 {
            seal.anchor(&[("s_a", &record(seq, "x"))], false)
                .expect("anchor");
        }
        let after = std::fs::read_to_string(seal.anchors_file()).expect("read");
        assert!(
            after.starts_with(&before) && after.lines().count() >= before.lines().count() + 200
        );
    }
}
