//! SNS alert sink: one `Publish` per alert with `MessageStructure=json` (`default` = the alert
//! JSON, `email` = readable text, `https` = CloudWatch-alarm-shaped JSON PagerDuty understands) and
//! message attributes a subscription filter policy can route on.

use aws_sdk_sns::types::MessageAttributeValue;
use tailwatch_core::engine::Alert;
use tailwatch_core::ports::{AlertSink, PortError};

use crate::classify;

/// Publishes alerts to one topic.
#[derive(Clone, Debug)]
pub struct SnsAlertSink {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsAlertSink {
    /// A sink for `topic_arn`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsAlertSink {
            client,
            topic_arn: topic_arn.into(),
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
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(alert.sns_subject())
            .message(alert.sns_message())
            .message_structure("json")
            .message_attributes("severity", attr(alert.severity.as_str())?)
            .message_attributes("rule_id", attr(&alert.id)?)
            .message_attributes("log_type", attr(if log_type.is_empty() { "unknown" } else { log_type })?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(format!("publish alert {} to {}", alert.alert_id, self.topic_arn), &e))
    }
}
