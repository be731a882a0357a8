//! # tailwatch-aws
//!
//! Adapters implementing tailwatch-core's ports with the AWS SDK (S3 raw store, Firehose lake sink,
//! DynamoDB alert state, SNS alert sink, Secrets Manager tokens). Not written yet: see the AWS path
//! issue. The crate exists so the workspace layout is the final one.
