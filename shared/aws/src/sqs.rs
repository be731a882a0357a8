//! The one SQS batch wrapper both SQS-triggered functions use: messages in, one core stage call per
//! S3 object they name, the ids of the messages to retry out (partial batch failures).

use std::future::Future;

use tailwatch_core::ports::PortError;

use crate::s3_objects;

/// Runs `stage(bucket, key)` for every object of every message (S3 event notifications, direct or
/// in an SNS envelope; S3 test events are skipped) and returns the ids of the messages that failed.
/// A message stops at its first failing object; the others go on.
pub async fn for_each_object<M, F, Fut>(messages: M, mut stage: F) -> Vec<String>
where
    M: IntoIterator<Item = (String, String)>,
    F: FnMut(String, String) -> Fut,
    Fut: Future<Output = Result<(), PortError>>,
{
    let mut failures = Vec::new();
    for (id, body) in messages {
        let objects = match s3_objects(&body) {
            Ok(Some(objects)) => objects,
            Ok(None) => continue,
            Err(e) => {
                // Not an S3 notification: retrying cannot help; the DLQ keeps it for a human.
                tracing::error!(message_id = %id, error = %e, "unrecognized SQS message");
                failures.push(id);
                continue;
            }
        };
        for (bucket, key) in objects {
            if let Err(e) = stage(bucket, key.clone()).await {
                tracing::warn!(key = %key, error = %e, retryable = e.retryable, "stage failed; message will be retried");
                failures.push(id.clone());
                break;
            }
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_are_per_message_and_sns_envelopes_are_unwrapped() {
        let s3 = |key: &str| format!(r#"{{"Records":[{{"s3":{{"bucket":{{"name":"b"}},"object":{{"key":"{key}"}}}}}}]}}"#);
        let sns = serde_json::json!({"Type": "Notification", "Message": s3("raw/x/ok2")}).to_string();
        let messages = vec![
            ("1".to_owned(), s3("raw/x/ok")),
            ("2".to_owned(), s3("raw/x/bad")),
            ("3".to_owned(), sns),
            ("4".to_owned(), "not json".to_owned()),
            ("5".to_owned(), r#"{"Event":"s3:TestEvent"}"#.to_owned()),
        ];
        let mut seen = Vec::new();
        let failed = for_each_object(messages, |bucket, key| {
            seen.push(format!("{bucket}/{key}"));
            let fail = key.ends_with("bad");
            async move {
                if fail {
                    Err(PortError::retryable("x", "y"))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(failed, ["2", "4"]);
        assert_eq!(seen, ["b/raw/x/ok", "b/raw/x/bad", "b/raw/x/ok2"]);
    }
}
