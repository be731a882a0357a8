//! SNS alert sink: one `Publish` per alert with `MessageStructure=json` (`default` = the alert
//! JSON, `email` = readable text, `https` = CloudWatch-alarm-shaped JSON PagerDuty understands),
//! subject `ALARM: [SEV] title`, and message attributes a subscription filter policy can route on:
//! `severity`, `rule_id`, `log_type`, and `email`.
//!
//! `email` is `yes` for at most one alert per severity every [`EMAIL_INTERVAL`] in this instance and
//! `capped` for the rest; the stack's email subscription takes only `yes`. SNS suspends an email
//! endpoint that receives more than 10 messages per second, and a flood must not cut the mailbox
//! off: 5 severities x 5 detect instances (the SQS MaximumConcurrency) / 3 s stays under 10 per
//! second. Capped alerts still reach PagerDuty (no `email` condition) and the alerts table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_sns::types::MessageAttributeValue;
use tailwatch_core::engine::Alert;
use tailwatch_core::ports::{AlertSink, PortError};

use crate::classify;

/// How often one severity may be email-eligible in one instance.
pub const EMAIL_INTERVAL: Duration = Duration::from_secs(3);

/// Publishes alerts to one topic.
#[derive(Clone, Debug)]
pub struct SnsAlertSink {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    last_email: Arc<Mutex<HashMap<&'static str, Instant>>>,
}

impl SnsAlertSink {
    /// A sink for `topic_arn`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsAlertSink {
            client,
            topic_arn: topic_arn.into(),
            last_email: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// `yes` when an alert of `severity` may go to email now, else `capped`.
    fn email_slot(&self, severity: &'static str, now: Instant) -> &'static str {
        let mut last = self.last_email.lock().unwrap_or_else(PoisonError::into_inner);
        match last.get(severity) {
            Some(t) if now.saturating_duration_since(*t) < EMAIL_INTERVAL => "capped",
            _ => {
                last.insert(severity, now);
                "yes"
            }
        }
    }
}

fn attr(value: &str) -> Result<MessageAttributeValue, PortError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| PortError::permanent("build message attribute", e.to_string()))
}

impl AlertSink for SnsAlertSink {
    fn name(&self) -> &str {
        "sns"
    }

    async fn deliver(&self, alert: &Alert) -> Result<(), PortError> {
        let log_type = alert.log_types.first().map_or("", String::as_str);
        let email = self.email_slot(alert.severity.as_str(), Instant::now());
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(alert.sns_subject())
            .message(alert.sns_message())
            .message_structure("json")
            .message_attributes("severity", attr(alert.severity.as_str())?)
            .message_attributes("rule_id", attr(&alert.id)?)
            .message_attributes("log_type", attr(if log_type.is_empty() { "unknown" } else { log_type })?)
            .message_attributes("email", attr(email)?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(format!("publish alert {} to {}", alert.alert_id, self.topic_arn), &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_email_eligible_alert_per_severity_per_interval() {
        let conf = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .build();
        let sink = SnsAlertSink::new(aws_sdk_sns::Client::from_conf(conf), "arn:aws:sns:us-east-1:123456789012:t");
        let t0 = Instant::now();
        assert_eq!(sink.email_slot("HIGH", t0), "yes");
        assert_eq!(sink.email_slot("HIGH", t0 + Duration::from_millis(10)), "capped");
        assert_eq!(
            sink.email_slot("CRITICAL", t0 + Duration::from_millis(10)),
            "yes",
            "each severity has its own slot"
        );
        assert_eq!(sink.email_slot("HIGH", t0 + EMAIL_INTERVAL), "yes");
        // Clones (one per invocation) share the instance's slots.
        assert_eq!(sink.clone().email_slot("CRITICAL", t0 + Duration::from_millis(20)), "capped");
    }
}
