//! Ingest tokens from Secrets Manager, fetched at cold start and refreshed on an interval, so a
//! rotation reaches running functions without a deploy. The secret is JSON
//! `{"token": "…", "previous_token": "…"}` (both accepted while rotating) or a plain string.

use std::time::{Duration, Instant};

use tailwatch_core::pipeline::ingest::Tokens;
use tailwatch_core::ports::PortError;
use tokio::sync::Mutex;

use crate::classify;

/// A cached token set.
#[derive(Debug)]
pub struct SecretsTokenSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    refresh: Duration,
    cache: Mutex<Option<(Instant, Tokens)>>,
}

/// Parses a secret's value into tokens.
///
/// # Errors
/// When it holds no usable token (the message never contains the value).
pub fn parse_secret(value: &str) -> Result<Tokens, PortError> {
    let tokens = match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(map)) => {
            let get = |k: &str| map.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            Tokens::new([get("token"), get("previous_token")].into_iter().flatten())
        }
        _ => Tokens::new([value.trim()]),
    };
    if tokens.is_empty() {
        return Err(PortError::permanent(
            "read ingest token secret",
            "the secret holds no token: expected {\"token\": \"…\"}",
        ));
    }
    Ok(tokens)
}

impl SecretsTokenSource {
    /// A source for `secret_id`, re-read every `refresh`.
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>, refresh: Duration) -> Self {
        SecretsTokenSource {
            client,
            secret_id: secret_id.into(),
            refresh,
            cache: Mutex::new(None),
        }
    }

    /// The current tokens (cached; re-fetched after the refresh interval). When a refresh fails,
    /// the cached tokens keep working and the error is logged.
    ///
    /// # Errors
    /// Only when no token was ever fetched.
    pub async fn tokens(&self) -> Result<Tokens, PortError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, tokens)) = cache.as_ref() {
            if at.elapsed() < self.refresh {
                return Ok(tokens.clone());
            }
        }
        match self.fetch().await {
            Ok(tokens) => {
                *cache = Some((Instant::now(), tokens.clone()));
                Ok(tokens)
            }
            Err(e) => match cache.as_mut() {
                Some((at, tokens)) => {
                    tracing::error!(error = %e, "refreshing the ingest token failed; keeping the cached token");
                    *at = Instant::now();
                    Ok(tokens.clone())
                }
                None => Err(e),
            },
        }
    }

    async fn fetch(&self) -> Result<Tokens, PortError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| classify("read ingest token secret", &e))?;
        parse_secret(out.secret_string().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_plain_and_empty_secrets() {
        let t = parse_secret(r#"{"token":"a","previous_token":"b"}"#).unwrap();
        assert!(t.matches(b"a") && t.matches(b"b") && t.len() == 2);
        assert!(parse_secret("plain-token\n").unwrap().matches(b"plain-token"));
        let e = parse_secret(r#"{"token":""}"#).unwrap_err();
        assert!(!e.retryable);
    }
}
