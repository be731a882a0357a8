-- tailwatch lake in Snowflake: the file format and the stage the external tables read through.
-- Generated from shared/core/src/lake.rs by `tailwatch ddl`: do not edit; see infra/README.md.
-- Lake bucket: ${LakeBucket} (the stack's LakeBucketName output; `tailwatch ddl snowflake --lake-bucket NAME`
-- fills it in). Run this file, then every <table>.sql beside it, in a database and schema of your choice.
--
-- One-time setup by an ACCOUNTADMIN (not generated: it names an IAM role in your AWS account):
--   CREATE STORAGE INTEGRATION tailwatch_lake_s3
--     TYPE = EXTERNAL_STAGE
--     STORAGE_PROVIDER = 'S3'
--     ENABLED = TRUE
--     STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::<account-id>:role/<role-snowflake-assumes>'
--     STORAGE_ALLOWED_LOCATIONS = ('s3://${LakeBucket}/');
--   DESC INTEGRATION tailwatch_lake_s3;
--     -- STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID go into that role's trust policy
--     -- (sts:AssumeRole, condition sts:ExternalId). The role needs s3:GetObject and
--     -- s3:GetObjectVersion on arn:aws:s3:::${LakeBucket}/*, s3:ListBucket and s3:GetBucketLocation on
--     -- arn:aws:s3:::${LakeBucket}, and kms:Decrypt on the stack's DataKeyArn output (the lake is SSE-KMS).
--   GRANT USAGE ON INTEGRATION tailwatch_lake_s3 TO ROLE <role that runs these files>;
--
-- AUTO_REFRESH: every external table is created with AUTO_REFRESH = TRUE, which registers new
-- files when S3 notifies the SQS queue Snowflake owns (SHOW EXTERNAL TABLES, column
-- notification_channel; one queue per account and region). tailwatch's stack already sends the
-- lake bucket's ObjectCreated events for tailscale_audit/ and tailscale_network/ to its detect
-- queue, and S3 rejects a second destination for overlapping prefixes and event types, so:
--   * tailwatch_alerts/ and tailwatch_quarantine/ do not overlap: an S3 event notification
--     (s3:ObjectCreated:*, one per prefix) to notification_channel refreshes those two tables;
--   * for tailscale_audit/ and tailscale_network/, route the bucket's notifications through an SNS
--     topic that both the detect queue (raw message delivery) and Snowflake subscribe to, and add
--     AWS_SNS_TOPIC = '<topic arn>' to those two tables' CREATE statements; or
--   * without touching AWS, refresh on a schedule (files are registered within the interval):
--       CREATE TASK tailwatch_refresh WAREHOUSE = <warehouse> SCHEDULE = '5 MINUTE' AS
--         ALTER EXTERNAL TABLE tailscale_audit REFRESH;  -- one task per table, then ALTER TASK … RESUME
--   Manage notifications the stack owns in template.yaml, not by hand: CloudFormation replaces the
--   bucket's notification configuration on every deploy.
--
-- Files are gzip NDJSON (one JSON object per line) under <table>/dt=YYYY-MM-DD/hour=HH/; the stage
-- must point at the bucket's root so that the external tables' partition expressions find dt and
-- hour as the second and third segments of METADATA$FILENAME.
CREATE FILE FORMAT IF NOT EXISTS tailwatch_ndjson_gzip
  TYPE = JSON
  COMPRESSION = GZIP
  STRIP_OUTER_ARRAY = FALSE
  COMMENT = 'tailwatch lake rows: gzip NDJSON';

CREATE STAGE IF NOT EXISTS tailwatch_lake
  URL = 's3://${LakeBucket}/'
  STORAGE_INTEGRATION = tailwatch_lake_s3
  FILE_FORMAT = (FORMAT_NAME = 'tailwatch_ndjson_gzip')
  COMMENT = 'tailwatch lake bucket (root): <table>/dt=YYYY-MM-DD/hour=HH/';
