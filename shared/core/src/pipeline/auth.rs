//! Ingest authentication: `Basic base64(user:TOKEN)` (Tailscale's Splunk destination; the password
//! is the token, the user is ignored), `Bearer TOKEN` (Panther destination), `Splunk TOKEN`.
//!
//! Comparison is constant-time and independent of the token's length: both sides are hashed with
//! BLAKE3 under a per-process key and the 32-byte digests compared with `subtle`; every configured
//! token is compared, never stopping at the first match. Tokens never appear in errors.

use base64::Engine as _;
use subtle::ConstantTimeEq;

/// Longest `Authorization` value considered (a longer one is malformed, not parsed).
pub const MAX_AUTHORIZATION_BYTES: usize = 4096;

/// Why a request is not authenticated (messages never contain the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("Token is required: send Authorization: Basic base64(user:token), Bearer token or Splunk token")]
    Missing,
    /// A header that cannot be read.
    #[error("Invalid authorization: {0}")]
    Malformed(&'static str),
    /// Well-formed, but not one of the configured tokens.
    #[error("Invalid token")]
    WrongToken,
}

/// The accepted tokens: the current one and, during rotation, the previous one.
#[derive(Clone)]
pub struct Tokens {
    key: [u8; 32],
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} configured, redacted)", self.digests.len())
    }
}

impl Tokens {
    /// Tokens from their values; empty values are ignored (an empty token never authenticates).
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<[u8]>>(tokens: I) -> Self {
        // A per-process key: digests in memory are useless elsewhere, and equal tokens of other
        // processes do not produce comparable digests.
        let mut key = [0u8; 32];
        let seed = format!(
            "{:?}{:?}{}",
            std::time::SystemTime::now(),
            std::thread::current().id(),
            std::process::id()
        );
        key.copy_from_slice(blake3::hash(seed.as_bytes()).as_bytes());
        let digests = tokens
            .into_iter()
            .filter(|t| !t.as_ref().is_empty())
            .map(|t| *blake3::keyed_hash(&key, t.as_ref()).as_bytes())
            .collect();
        Tokens { key, digests }
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// True when none is configured (then nothing authenticates).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Constant-time membership: compares against every configured token.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let digest = blake3::keyed_hash(&self.key, candidate);
        let mut any = subtle::Choice::from(0u8);
        for d in &self.digests {
            any |= d.ct_eq(digest.as_bytes());
        }
        bool::from(any)
    }
}

/// Extracts the token from one `Authorization` value.
///
/// # Errors
/// [`AuthError::Malformed`] for unknown schemes or undecodable Basic credentials.
pub fn token_from_header(value: &[u8]) -> Result<Vec<u8>, AuthError> {
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(AuthError::Malformed("Authorization header is too long"));
    }
    let value = value.trim_ascii();
    let (scheme, rest) = match value.iter().position(|b| *b == b' ') {
        Some(i) => (&value[..i], value[i + 1..].trim_ascii()),
        None => return Err(AuthError::Malformed("expected `Basic …`, `Bearer …` or `Splunk …`")),
    };
    if scheme.eq_ignore_ascii_case(b"basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| AuthError::Malformed("Basic credentials are not base64"))?;
        match decoded.iter().position(|b| *b == b':') {
            Some(i) => Ok(decoded[i + 1..].to_vec()),
            None => Err(AuthError::Malformed("Basic credentials must be user:token")),
        }
    } else if scheme.eq_ignore_ascii_case(b"bearer") || scheme.eq_ignore_ascii_case(b"splunk") {
        Ok(rest.to_vec())
    } else {
        Err(AuthError::Malformed("expected `Basic …`, `Bearer …` or `Splunk …`"))
    }
}

/// Authenticates a request from all of its `Authorization` header values.
///
/// # Errors
/// [`AuthError`]; more than one header is malformed (ambiguous), and with no token configured
/// every request is refused.
pub fn authenticate(headers: &[&[u8]], tokens: &Tokens) -> Result<(), AuthError> {
    let value = match headers {
        [] => return Err(AuthError::Missing),
        [one] => one,
        _ => return Err(AuthError::Malformed("more than one Authorization header")),
    };
    let token = token_from_header(value)?;
    if tokens.matches(&token) {
        Ok(())
    } else {
        Err(AuthError::WrongToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, token: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
        )
        .into_bytes()
    }

    #[test]
    fn all_three_schemes_and_both_rotation_tokens() {
        let tokens = Tokens::new(["current-token", "previous-token"]);
        for header in [
            basic("user", "current-token"),
            basic("", "previous-token"),
            b"Bearer current-token".to_vec(),
            b"splunk previous-token".to_vec(),
        ] {
            assert_eq!(authenticate(&[&header], &tokens), Ok(()), "{}", String::from_utf8_lossy(&header));
        }
        assert_eq!(
            authenticate(&[&basic("user", "pass:with:colons")], &Tokens::new(["pass:with:colons"])),
            Ok(())
        );
    }

    #[test]
    fn failures_are_classified_and_never_echo_the_token() {
        let tokens = Tokens::new(["s3cret"]);
        assert_eq!(authenticate(&[], &tokens), Err(AuthError::Missing));
        assert_eq!(authenticate(&[b"Bearer nope"], &tokens), Err(AuthError::WrongToken));
        assert!(matches!(authenticate(&[b"Digest abc"], &tokens), Err(AuthError::Malformed(_))));
        assert!(matches!(authenticate(&[b"Basic !!!"], &tokens), Err(AuthError::Malformed(_))));
        assert!(matches!(
            authenticate(&[b"Bearer s3cret", b"Bearer s3cret"], &tokens),
            Err(AuthError::Malformed(_))
        ));
        let long = [b"Bearer ".as_slice(), &vec![b'a'; 10_000]].concat();
        assert!(matches!(authenticate(&[&long], &tokens), Err(AuthError::Malformed(_))));
        // The errors authentication actually returns for headers carrying the token or a guess,
        // and the answers built from them, never contain either.
        let guess = basic("user", "s3cret-guess");
        let long_with_token = [b"Bearer s3cret".as_slice(), &vec![b'a'; 10_000]].concat();
        let headers: [&[&[u8]]; 5] = [
            &[b"Bearer s3cret-guess"],
            &[&guess],
            &[b"Bearer s3cret", b"Bearer s3cret"],
            &[&long_with_token],
            &[b"Digest s3cret"],
        ];
        for h in headers {
            let e = authenticate(h, &tokens).expect_err("refused");
            let answer = crate::pipeline::ingest::HecResponse::from(&e).body;
            for shown in [e.to_string(), format!("{e:?}"), answer] {
                assert!(!shown.contains("s3cret"), "{shown}");
            }
        }
        assert!(!format!("{tokens:?}").contains("s3cret"));
    }

    #[test]
    fn empty_tokens_never_authenticate() {
        let none = Tokens::new([""]);
        assert!(none.is_empty());
        assert!(authenticate(&[b"Bearer "], &none).is_err());
        assert_eq!(authenticate(&[&basic("user", "")], &none), Err(AuthError::WrongToken));
    }

    #[test]
    fn comparison_visits_every_token_regardless_of_where_the_match_is() {
        // Constant time: the match result is computed over all digests with `subtle` (no early
        // return), so a match in first or last position, or none, does the same work. We check the
        // observable half of that: position does not change the answer, and length does not either.
        let many: Vec<String> = (0..64).map(|i| format!("token-{i}")).collect();
        let tokens = Tokens::new(&many);
        assert!(tokens.matches(b"token-0") && tokens.matches(b"token-63"));
        assert!(!tokens.matches(b"token-64") && !tokens.matches(b"t") && !tokens.matches(&[b'x'; 5000]));
    }
}
