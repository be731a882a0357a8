//! Harness for the AWS end-to-end tests: an isolated set of resources (buckets, delivery stream,
//! table, topic, queue) in the AWS API emulator that `make test-aws` starts, named uniquely per
//! test so tests can run in parallel.

pub mod proxy;

use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_s3::primitives::ByteStream;
use tailwatch_aws::AwsClients;

/// Every resource one test uses.
pub struct Env {
    /// Clients, configured like the functions' (from the environment).
    pub clients: AwsClients,
    /// SQS client (to read what SNS delivered).
    pub sqs: aws_sdk_sqs::Client,
    /// Raw bucket.
    pub raw_bucket: String,
    /// Lake bucket.
    pub lake_bucket: String,
    /// Delivery stream.
    pub stream: String,
    /// Alert-state table.
    pub table: String,
    /// Topic.
    pub topic_arn: String,
    /// Queue subscribed to the topic.
    pub queue_url: String,
    /// Token secret.
    pub secret_arn: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The emulator's endpoint, or a panic explaining how to run these tests.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL")
        .unwrap_or_else(|_| panic!("AWS_ENDPOINT_URL is not set: run these tests with `make test-aws`, which starts the AWS API emulator"))
}

impl Env {
    /// Creates a fresh set of resources.
    pub async fn new(name: &str) -> Env {
        endpoint();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("{name}-{}-{n}", std::process::id()).to_lowercase().replace('_', "-");
        let clients = AwsClients::from_env().await;
        let config = aws_config::load_from_env().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let raw_bucket = format!("raw-{id}");
        let lake_bucket = format!("lake-{id}");
        for b in [&raw_bucket, &lake_bucket] {
            clients.s3.create_bucket().bucket(b).send().await.expect("create bucket");
        }
        let stream = format!("lake-{id}");
        clients
            .firehose
            .create_delivery_stream()
            .delivery_stream_name(&stream)
            .extended_s3_destination_configuration(
                aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
                    .bucket_arn(format!("arn:aws:s3:::{lake_bucket}"))
                    .role_arn("arn:aws:iam::123456789012:role/firehose")
                    .prefix("firehose/")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("create delivery stream");
        let table = format!("state-{id}");
        use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
        clients
            .dynamodb
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("sk")
                    .key_type(KeyType::Range)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("create table");
        let topic_arn = clients
            .sns
            .create_topic()
            .name(format!("alerts-{id}"))
            .send()
            .await
            .expect("create topic")
            .topic_arn
            .unwrap();
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("alerts-{id}"))
            .send()
            .await
            .expect("create queue")
            .queue_url
            .unwrap();
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        clients
            .sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribe");
        let secret_arn = clients
            .secrets
            .create_secret()
            .name(format!("token-{id}"))
            .secret_string(r#"{"token":"tok-current","previous_token":"tok-previous"}"#)
            .send()
            .await
            .expect("create secret")
            .arn
            .unwrap();
        Env {
            clients,
            sqs,
            raw_bucket,
            lake_bucket,
            stream,
            table,
            topic_arn,
            queue_url,
            secret_arn,
        }
    }

    /// Deletes the delivery stream (the emulator allows 50 at once; tests that make many
    /// environments delete theirs when done).
    pub async fn delete_stream(&self) {
        self.clients
            .firehose
            .delete_delivery_stream()
            .delivery_stream_name(&self.stream)
            .send()
            .await
            .expect("delete delivery stream");
    }

    /// Keys under a prefix.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let out = self
            .clients
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("list");
        let mut keys: Vec<String> = out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
        keys.sort();
        keys
    }

    /// An object's bytes.
    pub async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.clients
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("get")
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes()
            .to_vec()
    }

    /// Puts an object.
    pub async fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        self.clients
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .expect("put");
    }

    /// Every message currently in the alert queue (SNS envelopes), removed from the queue.
    pub async fn drain_alerts(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        loop {
            let r = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive");
            let messages = r.messages.unwrap_or_default();
            if messages.is_empty() {
                return out;
            }
            for m in messages {
                out.push(serde_json::from_str(m.body().unwrap_or_default()).expect("SNS envelope"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .ok();
            }
        }
    }
}

/// An SQS event whose messages each carry one S3 `ObjectCreated` notification.
pub fn sqs_s3_event(bucket: &str, keys: &[String]) -> aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<serde_json::Value> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let notification = serde_json::json!({"Records": [{
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
                "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")}, "object": {"key": key.replace(' ', "+"), "size": 1}}
            }]});
            serde_json::json!({
                "messageId": format!("msg-{i}"), "receiptHandle": "rh", "body": notification.to_string(),
                "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("SQS event")
}
