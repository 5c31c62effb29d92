//! The audit trail: append-only and tamper-evident. Each entry carries the hash of the one
//! before it and its own (SHA-256 of its fields and that hash), so an entry changed or removed
//! with a database client breaks the chain where it was; [`Tx::verify_audit`] finds the place.

use crate::sql::Row;
use crate::{Result, Tx};
use sha2::{Digest, Sha256};

/// One entry of the audit trail.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// A JSON object.
    pub details: String,
    /// The hash of the entry before (empty for the first chained one).
    pub prev: Option<String>,
    /// This entry's hash; `None` for an entry written before the trail was chained.
    pub hash: Option<String>,
}

/// Which entries [`Tx::audit_trail`] reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditQuery {
    /// Only entries after this id (0: from the first).
    pub after: i64,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub since: Option<i64>,
}

/// Where the chain is broken: the first entry that does not hold, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Broken {
    pub entry: i64,
    pub why: String,
}

/// What a whole trail's check found.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// Entries checked in the chain.
    pub chained: u64,
    /// Entries from before the chain (written by a version without it).
    pub before_chain: u64,
}

fn entry_hash(e: &AuditEntry, prev: &str) -> String {
    let canonical = serde_json::json!([e.id, e.at, e.actor, e.action, e.subject, e.details, prev]);
    Sha256::digest(canonical.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const COLUMNS: &str = "id, at, actor, action, subject, details, prev, hash";

fn entry(r: &Row) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.int(0)?,
        at: r.int(1)?,
        actor: r.text(2)?,
        action: r.text(3)?,
        subject: r.text(4)?,
        details: r.text(5)?,
        prev: r.opt_text(6)?,
        hash: r.opt_text(7)?,
    })
}

impl Tx<'_> {
    /// Appends an entry, chained to the last one.
    pub fn audit(
        &mut self,
        at: i64,
        actor: &str,
        action: &str,
        subject: &str,
        details: &str,
    ) -> Result<()> {
        self.db.serialize_audit()?;
        let prev = self
            .db
            .opt("SELECT hash FROM audit ORDER BY id DESC LIMIT 1", &[])?
            .map(|r| r.opt_text(0))
            .transpose()?
            .flatten()
            .unwrap_or_default();
        let id = self
            .db
            .one(
                "INSERT INTO audit (at, actor, action, subject, details, prev) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                &[at.into(), actor.into(), action.into(), subject.into(), details.into(), prev.as_str().into()],
            )?
            .int(0)?;
        let e = AuditEntry {
            id,
            at,
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            details: details.into(),
            prev: None,
            hash: None,
        };
        let hash = entry_hash(&e, &prev);
        self.db.exec(
            "UPDATE audit SET hash = ?2 WHERE id = ?1",
            &[id.into(), hash.into()],
        )?;
        Ok(())
    }

    /// The audit trail, oldest first: entries after `after` (an id), of one actor, of one
    /// subject, at or after `since`, at most `limit`.
    pub fn audit_trail(&mut self, q: &AuditQuery, limit: u32) -> Result<Vec<AuditEntry>> {
        let mut params: Vec<crate::sql::Val> = vec![i64::from(limit).into(), q.after.into()];
        let mut sql = format!("SELECT {COLUMNS} FROM audit WHERE id > ?2");
        for (column, value) in [("actor", &q.actor), ("subject", &q.subject)] {
            if let Some(v) = value {
                params.push(v.into());
                sql.push_str(&format!(" AND {column} = ?{}", params.len()));
            }
        }
        if let Some(t) = q.since {
            params.push(t.into());
            sql.push_str(&format!(" AND at >= ?{}", params.len()));
        }
        sql.push_str(" ORDER BY id LIMIT ?1");
        self.db.query(&sql, &params)?.iter().map(entry).collect()
    }

    /// Checks the whole chain, oldest first: each entry's hash is of its own fields and the
    /// hash before, and each names the hash of the entry before it. The first that does not
    /// hold is where an entry was changed or removed.
    pub fn verify_audit(&mut self) -> Result<std::result::Result<Verified, Broken>> {
        let mut found = Verified {
            chained: 0,
            before_chain: 0,
        };
        let mut last: Option<(i64, String)> = None;
        let mut after = 0;
        loop {
            let page = self.db.query(
                &format!("SELECT {COLUMNS} FROM audit WHERE id > ?1 ORDER BY id LIMIT 1000"),
                &[after.into()],
            )?;
            if page.is_empty() {
                return Ok(Ok(found));
            }
            for r in &page {
                let e = entry(r)?;
                after = e.id;
                let (Some(hash), Some(prev)) = (&e.hash, &e.prev) else {
                    if last.is_some() {
                        return Ok(Err(Broken {
                            entry: e.id,
                            why: "it has no hash, though entries before it do: it was written or changed outside Steward".into(),
                        }));
                    }
                    found.before_chain += 1;
                    continue;
                };
                let expected_prev = last.as_ref().map_or("", |(_, h)| h.as_str());
                if prev != expected_prev {
                    return Ok(Err(Broken {
                        entry: e.id,
                        why: match &last {
                            Some((id, _)) => format!(
                                "it was chained to another entry than {id}, the one before it now: an entry between them was removed, or {id} was changed"
                            ),
                            None => "it was chained to an entry that is no longer there: the entries before it were removed".into(),
                        },
                    }));
                }
                if *hash != entry_hash(&e, prev) {
                    return Ok(Err(Broken {
                        entry: e.id,
                        why: "its fields do not match its hash: it was changed".into(),
                    }));
                }
                found.chained += 1;
                last = Some((e.id, hash.clone()));
            }
        }
    }
}
