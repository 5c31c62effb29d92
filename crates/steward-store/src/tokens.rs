//! API tokens: `stw_` and 64 hex digits (256 random bits), so secret scanners know them. The
//! store keeps only a SHA-256 of each; the token itself is returned once, when it is made.

use crate::alerts::word;
use crate::sql::Row;
use crate::{Result, StoreError, Tx};
use sha2::{Digest, Sha256};

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "stw_";

steward_model::words! {
    /// Whom a token speaks for.
    pub enum TokenKind {
        /// A user: it may do what the user's role allows.
        User = "user",
        /// A sample sender: it may post samples for its services' SLOs and nothing else.
        Sender = "sender",
        /// A console session: its user's, from the session cookie; it also ends when idle for
        /// [`SESSION_IDLE`] seconds.
        Session = "session",
        /// A one-time login link (`steward demo` prints one): it makes a session once.
        Login = "login",
        /// A calendar feed's secret URL: it reads one schedule's or one user's on-call
        /// calendar (its `services` column names which: `schedule:NAME` or `user:NAME`).
        Feed = "feed",
    }
}

/// How long a session may go unused before it is refused (seconds).
pub const SESSION_IDLE: i64 = 12 * 3600;

/// A token as stored (never the token itself).
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub id: i64,
    pub kind: TokenKind,
    /// The user's name, or the sender's label.
    pub principal: String,
    pub name: String,
    /// A sender's services.
    pub services: Vec<String>,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// A single sign-on session's role, from its groups (`None`: the User's own).
    pub role: Option<steward_model::catalog::Role>,
}

impl Token {
    /// Why it may not be used at `now`, if it may not.
    pub fn refusal(&self, now: i64) -> Option<&'static str> {
        if self.revoked_at.is_some() {
            Some("the token was revoked")
        } else if self.expires_at.is_some_and(|e| e <= now) {
            Some("the token has expired")
        } else if self.kind == TokenKind::Session
            && now - self.last_used_at.unwrap_or(self.created_at) > SESSION_IDLE
        {
            Some("the session was idle for too long")
        } else {
            None
        }
    }
}

/// A token to make.
#[derive(Clone, Debug, PartialEq)]
pub struct NewToken {
    pub kind: TokenKind,
    pub principal: String,
    pub name: String,
    pub services: Vec<String>,
    pub created_by: String,
    pub at: i64,
    pub expires_at: Option<i64>,
    /// A session's role from its groups (single sign-on); `None` otherwise.
    pub role: Option<steward_model::catalog::Role>,
}

/// The hash a token is stored and found by: SHA-256, hex. (A token has 256 random bits, so
/// a slow password hash would add nothing but cost on every request.)
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `N` random bytes from the system.
pub(crate) fn random<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| {
        StoreError::Driver(std::sync::Arc::new(std::io::Error::other(format!(
            "the system has no randomness to make a secret from: {e}"
        ))))
    })?;
    Ok(bytes)
}

/// 256 random bits as 64 hex digits: a nonce nothing stores.
pub fn random_hex() -> Result<String> {
    Ok(random::<32>()?.iter().map(|b| format!("{b:02x}")).collect())
}

/// A new random token.
fn mint() -> Result<String> {
    Ok(format!("{TOKEN_PREFIX}{}", random_hex()?))
}

const TOKEN_COLUMNS: &str = "id, kind, principal, name, services, created_at, created_by, expires_at, last_used_at, revoked_at, role";

fn token(r: &Row) -> Result<Token> {
    let services = r.text(4)?;
    Ok(Token {
        id: r.int(0)?,
        kind: word(r, 1, TokenKind::parse, "token kind")?,
        principal: r.text(2)?,
        name: r.text(3)?,
        services: services
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: r.int(5)?,
        created_by: r.text(6)?,
        expires_at: r.opt_int(7)?,
        last_used_at: r.opt_int(8)?,
        revoked_at: r.opt_int(9)?,
        role: r
            .opt_text(10)?
            .map(|w| {
                steward_model::catalog::Role::parse(&w).ok_or_else(|| {
                    StoreError::Corrupt(format!("a token's role `{w}` is not a role"))
                })
            })
            .transpose()?,
    })
}

impl Tx<'_> {
    /// Makes a token: what is stored, and the token itself, which nothing keeps.
    pub fn create_token(&mut self, t: &NewToken) -> Result<(Token, String)> {
        let secret = mint()?;
        let id = self
            .db
            .one(
                "INSERT INTO tokens (hash, kind, principal, name, services, created_at, created_by, expires_at, role)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
                &[
                    token_hash(&secret).into(),
                    t.kind.as_str().into(),
                    (&t.principal).into(),
                    (&t.name).into(),
                    t.services.join(",").into(),
                    t.at.into(),
                    (&t.created_by).into(),
                    t.expires_at.into(),
                    t.role.map(|r| r.as_str()).into(),
                ],
            )?
            .int(0)?;
        let stored = self
            .token(id)?
            .ok_or_else(|| StoreError::Corrupt(format!("token {id} vanished")))?;
        Ok((stored, secret))
    }

    pub fn token(&mut self, id: i64) -> Result<Option<Token>> {
        self.db
            .opt(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"),
                &[id.into()],
            )?
            .map(|r| token(&r))
            .transpose()
    }

    /// The token a caller presented, found by its hash (revoked and expired ones too: the
    /// caller says why they are refused).
    pub fn token_of(&mut self, secret: &str) -> Result<Option<Token>> {
        self.db
            .opt(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1"),
                &[token_hash(secret).into()],
            )?
            .map(|r| token(&r))
            .transpose()
    }

    /// Notes a use; at most once a minute, so a busy token does not write on every request.
    pub fn touch_token(&mut self, id: i64, at: i64) -> Result<()> {
        self.db.exec(
            "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?2 - 60)",
            &[id.into(), at.into()],
        )?;
        Ok(())
    }

    /// Every token, or one principal's, oldest first.
    pub fn tokens(&mut self, principal: Option<&str>) -> Result<Vec<Token>> {
        let rows = match principal {
            Some(p) => self.db.query(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE principal = ?1 ORDER BY id"),
                &[p.into()],
            )?,
            None => self.db.query(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"),
                &[],
            )?,
        };
        rows.iter().map(token).collect()
    }

    /// Revokes every live session of `principal` (its password changed, or it was removed);
    /// how many.
    pub fn revoke_sessions(&mut self, principal: &str, at: i64) -> Result<u64> {
        self.db.exec(
            "UPDATE tokens SET revoked_at = ?2 WHERE principal = ?1 AND kind = 'session' AND revoked_at IS NULL",
            &[principal.into(), at.into()],
        )
    }

    /// Revokes a token; whether it was live until now.
    pub fn revoke_token(&mut self, id: i64, at: i64) -> Result<bool> {
        Ok(self.db.exec(
            "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            &[id.into(), at.into()],
        )? == 1)
    }
}
