//! Checking stored sessions: one session against its log ([`check_session`], which the
//! server runs before it serves a session), a whole database (`parley audit`), and a
//! receipt a seat was given.

use super::*;

/// What the checks of one session found.
#[derive(Debug, Default)]
pub struct SessionReport {
    /// Tampering or damage: the session is not served.
    pub problems: Vec<String>,
    /// Weaker guarantees (a log from before sealing, a missing anchor).
    pub warnings: Vec<String>,
}

/// Checks one stored session against its log: the hash chain and the MACs, the
/// configuration against the hash pinned in the first record, the tokens table
/// against the tokens the first record lists, the status against the log, and the
/// last anchored head (gone: the log was truncated or rewritten).
pub fn check_session(
    row: &SessionRow,
    log: &[Record],
    tokens: &[TokenRow],
    seal: &Seal,
    anchor: Option<&Anchor>,
) -> SessionReport {
    use sha2::{Digest, Sha256};
    let mut report = SessionReport::default();
    if let Err(e) = store::verify_chain(log, &row.id, Some(seal)) {
        report.problems.push(e);
    }
    let first = log
        .first()
        .filter(|r| r.kind == "created")
        .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok());
    let Some(first) = first else {
        report
            .problems
            .push("the log does not begin with its `created` record".into());
        return report;
    };
    let actual = store::hex(&Sha256::digest(row.config.as_bytes()));
    if first["config_sha256"].as_str() != Some(actual.as_str()) {
        report.problems.push(
            "the session's configuration does not match the hash pinned in its first record".into(),
        );
    }
    match first["tokens"].as_array() {
        Some(listed) => {
            let mut listed: BTreeSet<(String, String, i64)> = listed
                .iter()
                .filter_map(|t| {
                    Some((
                        t["hash"].as_str()?.to_string(),
                        t["role"].as_str()?.to_string(),
                        t["expires_at"].as_i64()?,
                    ))
                })
                .collect();
            // Links re-issued later: the old token revoked, the new one listed.
            for r in log.iter().filter(|r| r.kind == "token") {
                match serde_json::from_str::<records::TokenIssued>(&r.body) {
                    Ok(t) => {
                        let old: Vec<_> = listed
                            .iter()
                            .filter(|(hash, _, _)| *hash == t.revokes)
                            .cloned()
                            .collect();
                        for (hash, role, expires) in old {
                            listed.remove(&(hash.clone(), role.clone(), expires));
                            listed.insert((hash, role, store::REVOKED));
                        }
                        listed.insert((t.hash, t.role, t.expires_at));
                    }
                    Err(e) => report.problems.push(format!(
                        "record {}: a token record that does not read: {e}",
                        r.seq
                    )),
                }
            }
            let stored: BTreeSet<(String, String, i64)> = tokens
                .iter()
                .map(|t| (t.hash.clone(), t.role.clone(), t.expires_at))
                .collect();
            for (_, role, expires) in stored.difference(&listed) {
                report.problems.push(format!(
                    "the tokens table has a token ({role}, expiring {expires}) that the log \
                     does not list: planted or altered"
                ));
            }
            for (_, role, _) in listed.difference(&stored) {
                report.problems.push(format!(
                    "the log lists a token ({role}) that the tokens table lost or altered"
                ));
            }
        }
        None => report
            .warnings
            .push("written before tokens were logged: the tokens table is not checked".into()),
    }
    let status = if log.iter().any(|r| r.kind == "ended") {
        "ended"
    } else if log.iter().any(|r| r.kind == "started") {
        "running"
    } else {
        "waiting"
    };
    if row.status != status {
        report.problems.push(format!(
            "the session's status is {:?} but its log says {status:?}",
            row.status
        ));
    }
    match anchor {
        Some(a) => match log.get(a.seq as usize) {
            Some(r) if r.hash == a.head => {}
            Some(_) => report.problems.push(format!(
                "record {} is not the one anchored: the log was rewritten",
                a.seq
            )),
            None => report.problems.push(format!(
                "truncated: the log ends at record {} but record {} was anchored",
                log.len() as i64 - 1,
                a.seq
            )),
        },
        None => report.problems.push(
            "no anchor: the session's anchor lines are gone (or the anchor file is not the \
             one this database was written with), so truncation cannot be ruled out"
                .into(),
        ),
    }
    report
}

/// What `parley audit` found.
#[derive(Debug, Default)]
pub struct AuditReport {
    /// Sessions checked.
    pub checked: usize,
    /// (session id, what is wrong) per problem.
    pub problems: Vec<(String, String)>,
    /// (session id, warning).
    pub warnings: Vec<(String, String)>,
}

/// Audits a database: every session (or `only`) as [`check_session`] does, plus
/// sessions deleted since they were anchored, tokens of no session and forged
/// anchors. `key` is the server key's file (default: next to a SQLite file).
pub async fn audit(
    db: &str,
    key: Option<&Path>,
    only: Option<&str>,
) -> Result<AuditReport, store::StoreError> {
    let url = database_url(db);
    let seal = Seal::open(&key_path(&url, key)?, false)?;
    let store = Store::connect(&url).await?;
    let mut report = AuditReport::default();
    let read = seal.read_anchors()?;
    if only.is_none() {
        for b in read.problems {
            report.problems.push(("(anchors)".into(), b));
        }
        for w in read.warnings {
            report.warnings.push(("(anchors)".into(), w));
        }
    }
    let anchors = read.heads;
    let mut tokens: BTreeMap<String, Vec<TokenRow>> = BTreeMap::new();
    for t in store.tokens().await? {
        tokens.entry(t.session_id.clone()).or_default().push(t);
    }
    let rows = store.sessions().await?;
    let stored: BTreeSet<String> = rows.iter().map(|r| r.id.clone()).collect();
    for row in &rows {
        if only.is_some_and(|id| id != row.id) {
            continue;
        }
        report.checked += 1;
        let log = store.log(&row.id).await?;
        let own = tokens.get(&row.id).map_or(&[][..], Vec::as_slice);
        let r = check_session(row, &log, own, &seal, anchors.get(&row.id));
        report
            .problems
            .extend(r.problems.into_iter().map(|p| (row.id.clone(), p)));
        report
            .warnings
            .extend(r.warnings.into_iter().map(|w| (row.id.clone(), w)));
    }
    let wanted = |id: &str| only.is_none_or(|o| o == id);
    for (id, a) in &anchors {
        if !stored.contains(id) && wanted(id) {
            report.problems.push((
                id.clone(),
                format!(
                    "deleted: the session is gone from the database (anchored at record {})",
                    a.seq
                ),
            ));
        }
    }
    for (id, rows) in &tokens {
        if !stored.contains(id) && wanted(id) {
            report.problems.push((
                id.clone(),
                format!("{} token(s) of no stored session: planted", rows.len()),
            ));
        }
    }
    Ok(report)
}

/// Checks a receipt a seat was given: that this server's key issued it and that the
/// record it names is in the session's log, as it was when acknowledged.
pub async fn verify_receipt(
    db: &str,
    key: Option<&Path>,
    receipt: &serde_json::Value,
) -> Result<Result<String, String>, store::StoreError> {
    let url = database_url(db);
    let seal = Seal::open(&key_path(&url, key)?, false)?;
    let (session, hash, at) = match seal.verify_receipt(receipt) {
        Ok(x) => x,
        Err(e) => return Ok(Err(e)),
    };
    let store = Store::connect(&url).await?;
    let log = store.log(&session).await?;
    Ok(match log.iter().find(|r| r.hash == hash) {
        Some(r) if r.at == at => Ok(format!(
            "the receipt is genuine and record {} ({}) of session {session} is in its log",
            r.seq, r.kind
        )),
        Some(_) => Err("the record is in the log with another time: it was altered".into()),
        None => Err(format!(
            "the receipt is genuine, but session {session}'s log has no such record: it was \
             removed or rewritten"
        )),
    })
}
