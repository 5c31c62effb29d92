//! Console passwords, kept as argon2id hashes (PHC strings with their own salt and
//! parameters). Setting a password ends the user's sessions.

use crate::tokens::random;
use crate::{Result, StoreError, Tx};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// The argon2id hash of `password`, with a fresh salt and the crate's default parameters
/// (19 MiB, 2 passes, 1 lane: OWASP's first choice).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&random::<16>()?)
        .map_err(|e| StoreError::Corrupt(format!("a password salt could not be encoded: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Corrupt(format!("the password could not be hashed: {e}")))
}

/// Whether `password` is the one `hash` was made from. A hash that is not a PHC string
/// matches nothing.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash no password matches, checked against when the user has none (or does not exist),
/// so that a wrong name costs as long as a wrong password and tells nothing.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        hash_password(&format!("{:?}", std::time::SystemTime::now())).unwrap_or_default()
    })
}

impl Tx<'_> {
    /// Sets `principal`'s password hash and revokes its sessions.
    pub fn set_password(&mut self, principal: &str, hash: &str, at: i64) -> Result<()> {
        self.db.exec(
            "INSERT INTO passwords (principal, hash, set_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (principal) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at",
            &[principal.into(), hash.into(), at.into()],
        )?;
        self.revoke_sessions(principal, at)?;
        Ok(())
    }

    /// `principal`'s password hash, if it has one.
    pub fn password_hash(&mut self, principal: &str) -> Result<Option<String>> {
        self.db
            .opt(
                "SELECT hash FROM passwords WHERE principal = ?1",
                &[principal.into()],
            )?
            .map(|r| r.text(0))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_matches_its_own_hash_only() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horse "));
        assert!(!verify_password(&h, ""));
        assert!(!verify_password("not a hash", "correct horse"));
        assert!(!verify_password(decoy_hash(), ""));
        assert_ne!(h, hash_password("correct horse").unwrap(), "salted");
    }
}
