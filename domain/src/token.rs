//! The text of a bearer token: `hlt_<id>_<secret>`, where the id (12 hex
//! digits) names the token in lists, the audit log and `token revoke`, and
//! the secret (64 hex digits, 256 random bits) proves it. Only a SHA-256 of
//! the secret is stored: a copy of the database lets nobody in.
//!
//! A fast hash is right here, unlike for passwords: the secret is random and
//! long, so there is nothing to guess. Comparing digests in plain time leaks
//! nothing useful either, since a caller controls the secret, not its digest.
//!
//! It lives here, beside the other identifiers, because both services read
//! tokens (ticketing checks them, the IVR's admin API passes them on) and
//! the fuzz target reaches it without building a server.

use rand::Rng;
use sha2::{Digest, Sha256};

const PREFIX: &str = "hlt_";
const ID_HEX: usize = 12;
const SECRET_HEX: usize = 64;
/// The length of every token's text.
pub const TOKEN_LEN: usize = PREFIX.len() + ID_HEX + 1 + SECRET_HEX;

/// A token as presented by a client: its id and its secret's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedToken {
    pub id: String,
    pub secret_sha256: String,
}

/// Why a presented token's text is not a token at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    #[error("a token starts with `hlt_`; copy it whole from `hotline token create`")]
    Prefix,
    #[error("a token is {TOKEN_LEN} characters: `hlt_`, 12 hex digits, `_`, 64 hex digits")]
    Shape,
}

/// A new token: the text to hand out once, its id, and what to store.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub text: String,
    pub id: String,
    pub secret_sha256: String,
}

/// Makes a token from `rng`, which must be a CSPRNG in production
/// (`rand::rng()`); tests pass a seeded one.
pub fn issue(rng: &mut impl Rng) -> IssuedToken {
    let mut id = [0u8; ID_HEX / 2];
    let mut secret = [0u8; SECRET_HEX / 2];
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let id = hex::encode(id);
    let secret = hex::encode(secret);
    IssuedToken {
        text: format!("{PREFIX}{id}_{secret}"),
        secret_sha256: digest(&secret),
        id,
    }
}

/// Reads a token's text (surrounding whitespace, as a file or a pasted
/// line leaves it, is ignored).
pub fn parse(text: &str) -> Result<PresentedToken, TokenFormatError> {
    let text = text.trim();
    let rest = text.strip_prefix(PREFIX).ok_or(TokenFormatError::Prefix)?;
    let (id, secret) = rest.split_once('_').ok_or(TokenFormatError::Shape)?;
    let lower_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !lower_hex(id, ID_HEX) || !lower_hex(secret, SECRET_HEX) {
        return Err(TokenFormatError::Shape);
    }
    Ok(PresentedToken {
        id: id.to_owned(),
        secret_sha256: digest(secret),
    })
}

/// Whether `text` could be a token id (for `token revoke ID`).
pub fn is_id(text: &str) -> bool {
    text.len() == ID_HEX && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn an_issued_token_parses_back_to_its_id_and_digest() {
        let issued = issue(&mut StdRng::seed_from_u64(7));
        assert_eq!(issued.text.len(), TOKEN_LEN);
        let presented = parse(&format!("  {}\n", issued.text)).unwrap();
        assert_eq!(presented.id, issued.id);
        assert_eq!(presented.secret_sha256, issued.secret_sha256);
        assert!(!issued.secret_sha256.contains(&issued.text[17..]));
        assert!(is_id(&issued.id));
    }

    #[test]
    fn tokens_differ_and_malformed_text_is_refused() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = issue(&mut rng);
        let b = issue(&mut rng);
        assert_ne!(a.text, b.text);
        assert_eq!(parse("Bearer x"), Err(TokenFormatError::Prefix));
        assert_eq!(parse("hlt_"), Err(TokenFormatError::Shape));
        let upper = a.text.to_uppercase().replacen("HLT_", "hlt_", 1);
        assert_eq!(parse(&upper), Err(TokenFormatError::Shape));
        assert_eq!(
            parse(&a.text[..a.text.len() - 1]),
            Err(TokenFormatError::Shape)
        );
        assert_eq!(parse(&format!("{}0", a.text)), Err(TokenFormatError::Shape));
        assert_eq!(
            parse(&a.text.replacen('_', "-", 2)),
            Err(TokenFormatError::Prefix)
        );
    }
}
