//! DDL for the lake tables, generated from [`lake::TABLES`](crate::lake::TABLES): Athena (Glue) tables
//! over the JSON SerDe with partition projection, and Snowflake external tables. Pure functions
//! returning text; `tailwatch ddl` prints or writes them and `infra/athena`, `infra/snowflake` hold
//! the committed copies (a test fails when those drift from `lake.rs`; see infra/README.md).
//!
//! The lake bucket's name is not known until the stack is deployed, so the text carries the
//! placeholder [`LAKE_BUCKET_PLACEHOLDER`] (the CloudFormation spelling, so the same text reads
//! naturally next to `template.yaml`); [`with_lake_bucket`] substitutes it.

use crate::lake::{Column, ColumnType, Table, TABLES};

/// Placeholder for the lake bucket's name in generated DDL.
pub const LAKE_BUCKET_PLACEHOLDER: &str = "${LakeBucket}";

/// First day partition projection enumerates (`projection.dt.range`): the start of the lake's range
/// ([`LAKE_RANGE_START`](crate::time::LAKE_RANGE_START)); normalization writes nothing older.
pub const PROJECTION_START: &str = "2019-01-01";

/// Last day partition projection enumerates: a day after now, as normalization writes no event
/// more than [`MAX_FUTURE_SECONDS`](crate::time::MAX_FUTURE_SECONDS) after its parse time.
pub const PROJECTION_END: &str = "NOW+1DAYS";

/// The Athena SerDe. OpenX rather than Hive's `JsonSerDe`: it parses our `YYYY-MM-DD HH:MM:SS.fff`
/// text into `timestamp` and returns nested JSON (alert payloads) as its text in a `string`
/// column, where Hive's SerDe fails the query.
pub const ATHENA_SERDE: &str = "org.openx.data.jsonserde.JsonSerDe";
/// Input format of the Athena / Glue tables (gzip is recognized by the `.gz` object suffix).
pub const ATHENA_INPUT_FORMAT: &str = "org.apache.hadoop.mapred.TextInputFormat";
/// Output format of the Athena / Glue tables (never written by Athena; required by Glue).
pub const ATHENA_OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";

/// Snowflake file format created by `00_stage_and_format.sql`.
pub const SNOWFLAKE_FILE_FORMAT: &str = "tailwatch_ndjson_gzip";
/// Snowflake stage over the lake bucket's root created by `00_stage_and_format.sql`.
pub const SNOWFLAKE_STAGE: &str = "tailwatch_lake";
/// Snowflake storage integration the stage uses (created once by an account admin).
pub const SNOWFLAKE_INTEGRATION: &str = "tailwatch_lake_s3";
/// Name of the Snowflake file that must run before the table files.
pub const SNOWFLAKE_SETUP_FILE: &str = "00_stage_and_format.sql";

/// A SQL dialect the lake's DDL is generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Amazon Athena / AWS Glue (Hive DDL).
    Athena,
    /// Snowflake external tables.
    Snowflake,
}

/// One generated file: its name inside the dialect's folder and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlFile {
    /// File name, e.g. `tailscale_audit.sql`.
    pub name: String,
    /// SQL text, ending with a newline.
    pub sql: String,
}

/// Every file of a dialect, in the order they must run.
pub fn files(dialect: Dialect) -> Vec<DdlFile> {
    let mut out = Vec::new();
    if dialect == Dialect::Snowflake {
        out.push(DdlFile {
            name: SNOWFLAKE_SETUP_FILE.to_string(),
            sql: snowflake_stage_and_format(),
        });
    }
    for table in TABLES {
        let sql = match dialect {
            Dialect::Athena => athena_table(table),
            Dialect::Snowflake => snowflake_table(table),
        };
        out.push(DdlFile {
            name: format!("{}.sql", table.name),
            sql,
        });
    }
    out
}

/// Replaces [`LAKE_BUCKET_PLACEHOLDER`] with a bucket name.
pub fn with_lake_bucket(sql: &str, bucket: &str) -> String {
    sql.replace(LAKE_BUCKET_PLACEHOLDER, bucket)
}

/// The Athena (Hive DDL) type of a column type.
pub fn athena_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::String => "string",
        ColumnType::BigInt => "bigint",
        ColumnType::Int => "int",
        ColumnType::Boolean => "boolean",
        ColumnType::Timestamp => "timestamp",
        ColumnType::StringArray => "array<string>",
        // JSON text stays text: query it with json_extract / json_extract_scalar.
        ColumnType::JsonText => "string",
        // The OpenX SerDe hands a nested object to a string column as its JSON text, so the
        // alert payload needs no struct schema that would break whenever a detection adds a
        // context key; json_parse() turns it back into JSON.
        ColumnType::Json => "string",
    }
}

/// The Snowflake type of a column type.
pub fn snowflake_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::String | ColumnType::JsonText => "VARCHAR",
        // Counters are u64 on the wire: NUMBER(20,0) holds all of them.
        ColumnType::BigInt => "NUMBER(20,0)",
        ColumnType::Int => "NUMBER(10,0)",
        ColumnType::Boolean => "BOOLEAN",
        // The lake's timestamps are UTC without an offset.
        ColumnType::Timestamp => "TIMESTAMP_NTZ(3)",
        ColumnType::StringArray => "ARRAY",
        ColumnType::Json => "VARIANT",
    }
}

/// `s3://${LakeBucket}/<table>/`.
pub fn table_location(table: &Table) -> String {
    format!("s3://{LAKE_BUCKET_PLACEHOLDER}/{}/", table.name)
}

/// Partition columns `(name, comment)`: the `dt=YYYY-MM-DD/hour=HH` layout of every table.
pub const PARTITION_COLUMNS: [(&str, &str); 2] = [
    (
        "dt",
        "Event date (UTC), YYYY-MM-DD: the partition; filter on it to limit the data scanned",
    ),
    ("hour", "Event hour (UTC), 00-23: the partition under dt"),
];

/// The table properties of an Athena table: partition projection over `dt=/hour=`, so neither a
/// crawler nor `MSCK REPAIR TABLE` is needed. `template.yaml`'s Glue tables carry the same.
pub fn athena_table_properties(table: &Table) -> Vec<(&'static str, String)> {
    vec![
        ("classification", "json".to_string()),
        ("projection.enabled", "true".to_string()),
        ("projection.dt.type", "date".to_string()),
        ("projection.dt.format", "yyyy-MM-dd".to_string()),
        ("projection.dt.range", format!("{PROJECTION_START},{PROJECTION_END}")),
        ("projection.dt.interval", "1".to_string()),
        ("projection.dt.interval.unit", "DAYS".to_string()),
        ("projection.hour.type", "integer".to_string()),
        ("projection.hour.range", "0,23".to_string()),
        ("projection.hour.digits", "2".to_string()),
        (
            "storage.location.template",
            format!("{}dt=${{dt}}/hour=${{hour}}/", table_location(table)),
        ),
    ]
}

/// A Hive string literal (single-quoted, backslash escapes).
fn hive_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A Snowflake string literal (single-quoted, quotes doubled).
fn snowflake_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

const GENERATED: &str = "Generated from shared/core/src/lake.rs by `tailwatch ddl`: do not edit; see infra/README.md.";

/// `CREATE EXTERNAL TABLE IF NOT EXISTS` for one table, for Athena.
pub fn athena_table(table: &Table) -> String {
    let mut s = String::new();
    s.push_str(&format!("-- {}: {}\n", table.name, table.doc));
    s.push_str(&format!("-- {GENERATED}\n"));
    s.push_str(&format!(
        "-- Lake bucket: {LAKE_BUCKET_PLACEHOLDER} (the stack's LakeBucketName output; `tailwatch ddl athena --lake-bucket NAME` fills it in).\n"
    ));
    s.push_str("-- The SAM template already creates this table in its Glue database; this file is for other accounts and engines.\n");
    s.push_str(&format!("CREATE EXTERNAL TABLE IF NOT EXISTS `{}` (\n", table.name));
    let columns: Vec<&Column> = table.all_columns().collect();
    for (i, c) in columns.iter().enumerate() {
        let sep = if i + 1 < columns.len() { "," } else { "" };
        s.push_str(&format!(
            "  `{}` {} COMMENT {}{sep}\n",
            c.name,
            athena_type(c.ty),
            hive_string(c.doc)
        ));
    }
    s.push_str(")\n");
    s.push_str(&format!("COMMENT {}\n", hive_string(table.doc)));
    s.push_str("PARTITIONED BY (\n");
    for (i, (name, doc)) in PARTITION_COLUMNS.iter().enumerate() {
        let sep = if i + 1 < PARTITION_COLUMNS.len() { "," } else { "" };
        s.push_str(&format!("  `{name}` string COMMENT {}{sep}\n", hive_string(doc)));
    }
    s.push_str(")\n");
    s.push_str(&format!("ROW FORMAT SERDE '{ATHENA_SERDE}'\n"));
    s.push_str(&format!("STORED AS INPUTFORMAT '{ATHENA_INPUT_FORMAT}'\n"));
    s.push_str(&format!("OUTPUTFORMAT '{ATHENA_OUTPUT_FORMAT}'\n"));
    s.push_str(&format!("LOCATION '{}'\n", table_location(table)));
    s.push_str("TBLPROPERTIES (\n");
    let props = athena_table_properties(table);
    for (i, (k, v)) in props.iter().enumerate() {
        let sep = if i + 1 < props.len() { "," } else { "" };
        s.push_str(&format!("  '{k}' = {}{sep}\n", hive_string(v)));
    }
    s.push_str(");\n");
    s
}

/// The expression of a Snowflake partition column: the `name=value` path segment of the object's
/// key relative to the stage (`<table>/dt=…/hour=…/<file>`), so segment 2 is `dt`, 3 is `hour`.
fn snowflake_partition_expr(segment: usize) -> String {
    format!("SPLIT_PART(SPLIT_PART(METADATA$FILENAME, '/', {segment}), '=', 2)")
}

/// `CREATE OR REPLACE EXTERNAL TABLE` for one table, for Snowflake.
pub fn snowflake_table(table: &Table) -> String {
    let mut s = String::new();
    s.push_str(&format!("-- {}: {}\n", table.name, table.doc));
    s.push_str(&format!("-- {GENERATED}\n"));
    s.push_str(&format!(
        "-- Run {SNOWFLAKE_SETUP_FILE} first (file format, stage, and the notes on AUTO_REFRESH).\n"
    ));
    s.push_str(&format!("CREATE OR REPLACE EXTERNAL TABLE {} (\n", table.name));
    let mut lines: Vec<(String, &str)> = Vec::new();
    for (i, (name, doc)) in PARTITION_COLUMNS.iter().enumerate() {
        lines.push((format!("{name} VARCHAR AS ({})", snowflake_partition_expr(i + 2)), doc));
    }
    for c in table.all_columns() {
        let ty = snowflake_type(c.ty);
        lines.push((format!("{} {ty} AS (value:\"{}\"::{ty})", c.name, c.name), c.doc));
    }
    let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 1;
    for (i, (line, doc)) in lines.iter().enumerate() {
        let text = if i + 1 < lines.len() { format!("{line},") } else { line.clone() };
        s.push_str(&format!("  {text:<width$} -- {doc}\n"));
    }
    s.push_str(")\n");
    s.push_str(&format!("PARTITION BY ({})\n", PARTITION_COLUMNS.map(|(n, _)| n).join(", ")));
    s.push_str(&format!("LOCATION = @{SNOWFLAKE_STAGE}/{}/\n", table.name));
    s.push_str("AUTO_REFRESH = TRUE\n");
    s.push_str(&format!("FILE_FORMAT = (FORMAT_NAME = '{SNOWFLAKE_FILE_FORMAT}')\n"));
    s.push_str(&format!("COMMENT = {};\n", snowflake_string(table.doc)));
    s
}

/// The Snowflake file format and stage every external table reads through, with the one-time
/// setup (storage integration, IAM role) and the auto-refresh notes as comments.
pub fn snowflake_stage_and_format() -> String {
    let b = LAKE_BUCKET_PLACEHOLDER;
    let integration = SNOWFLAKE_INTEGRATION;
    let stage = SNOWFLAKE_STAGE;
    let format = SNOWFLAKE_FILE_FORMAT;
    format!(
        "\
-- tailwatch lake in Snowflake: the file format and the stage the external tables read through.
-- {GENERATED}
-- Lake bucket: {b} (the stack's LakeBucketName output; `tailwatch ddl snowflake --lake-bucket NAME`
-- fills it in). Run this file, then every <table>.sql beside it, in a database and schema of your choice.
--
-- One-time setup by an ACCOUNTADMIN (not generated: it names an IAM role in your AWS account):
--   CREATE STORAGE INTEGRATION {integration}
--     TYPE = EXTERNAL_STAGE
--     STORAGE_PROVIDER = 'S3'
--     ENABLED = TRUE
--     STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::<account-id>:role/<role-snowflake-assumes>'
--     STORAGE_ALLOWED_LOCATIONS = ('s3://{b}/');
--   DESC INTEGRATION {integration};
--     -- STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID go into that role's trust policy
--     -- (sts:AssumeRole, condition sts:ExternalId). The role needs s3:GetObject and
--     -- s3:GetObjectVersion on arn:aws:s3:::{b}/*, s3:ListBucket and s3:GetBucketLocation on
--     -- arn:aws:s3:::{b}, and kms:Decrypt on the stack's DataKeyArn output (the lake is SSE-KMS).
--   GRANT USAGE ON INTEGRATION {integration} TO ROLE <role that runs these files>;
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
CREATE FILE FORMAT IF NOT EXISTS {format}
  TYPE = JSON
  COMPRESSION = GZIP
  STRIP_OUTER_ARRAY = FALSE
  COMMENT = 'tailwatch lake rows: gzip NDJSON';

CREATE STAGE IF NOT EXISTS {stage}
  URL = 's3://{b}/'
  STORAGE_INTEGRATION = {integration}
  FILE_FORMAT = (FORMAT_NAME = '{format}')
  COMMENT = 'tailwatch lake bucket (root): <table>/dt=YYYY-MM-DD/hour=HH/';
"
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::lake::{ColumnType, STANDARD_COLUMNS, TAILSCALE_AUDIT, TAILSCALE_NETWORK, TAILSCALE_NODES};

    fn column_lines<'a>(sql: &'a str, prefix: &str) -> Vec<&'a str> {
        sql.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn the_projection_covers_every_partition_normalization_can_write() {
        let start = crate::time::LAKE_RANGE_START.partition().0;
        assert_eq!(PROJECTION_START, start);
        assert_eq!(crate::time::MAX_FUTURE_SECONDS, 86_400, "PROJECTION_END is NOW+1DAYS");
        let props = athena_table_properties(&TAILSCALE_AUDIT);
        let range = props.iter().find(|(k, _)| *k == "projection.dt.range").unwrap();
        assert_eq!(range.1, "2019-01-01,NOW+1DAYS");
    }

    #[test]
    fn athena_has_every_column_once_with_its_type_and_comment() {
        for table in TABLES {
            let sql = athena_table(table);
            for c in table.all_columns() {
                let line = format!("  `{}` {} COMMENT {}", c.name, athena_type(c.ty), hive_string(c.doc));
                let hits = sql.lines().filter(|l| l.trim_end_matches(',') == line).count();
                assert_eq!(hits, 1, "{}.{}: expected `{line}` once in\n{sql}", table.name, c.name);
            }
            // Columns plus the two partition columns, and nothing else.
            let n = column_lines(&sql, "  `").len();
            assert_eq!(n, table.all_columns().count() + 2, "{}", table.name);
        }
    }

    #[test]
    fn athena_types_follow_the_column_types() {
        let sql = athena_table(&TAILSCALE_NETWORK);
        for needle in [
            "`p_event_time` timestamp",
            "`p_any_ip_addresses` array<string>",
            "`tx_bytes` bigint",
            "`dst_port` int",
            "`unknown_fields` string",
        ] {
            assert!(sql.contains(needle), "{needle}");
        }
        let alerts = athena_table(crate::lake::table_by_name("tailwatch_alerts").unwrap());
        assert!(alerts.contains("`alert` string"));
        assert!(athena_table(&TAILSCALE_AUDIT).contains("`target_is_ephemeral` boolean"));
    }

    #[test]
    fn athena_location_partitions_and_projection() {
        for table in TABLES {
            let sql = athena_table(table);
            assert!(sql.contains(&format!("CREATE EXTERNAL TABLE IF NOT EXISTS `{}` (", table.name)));
            assert!(sql.contains(&format!("LOCATION 's3://${{LakeBucket}}/{}/'", table.name)));
            assert!(sql.contains(&format!(
                "'storage.location.template' = 's3://${{LakeBucket}}/{}/dt=${{dt}}/hour=${{hour}}/'",
                table.name
            )));
            assert!(sql.contains("PARTITIONED BY (\n  `dt` string COMMENT"));
            assert!(sql.contains("\n  `hour` string COMMENT"));
            assert!(sql.contains("ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'"));
            for p in [
                "'projection.enabled' = 'true'",
                "'projection.dt.type' = 'date'",
                "'projection.dt.format' = 'yyyy-MM-dd'",
                "'projection.dt.range' = '2019-01-01,NOW+1DAYS'",
                "'projection.dt.interval.unit' = 'DAYS'",
                "'projection.hour.type' = 'integer'",
                "'projection.hour.range' = '0,23'",
                "'projection.hour.digits' = '2'",
            ] {
                assert!(sql.contains(p), "{}: {p}", table.name);
            }
            assert!(sql.ends_with(");\n"));
        }
    }

    #[test]
    fn comments_with_quotes_are_escaped() {
        // "Node's user" must not end the literal.
        let sql = athena_table(&TAILSCALE_NODES);
        assert!(sql.contains(r"COMMENT 'Node\'s user (untagged nodes)'"));
        assert_eq!(snowflake_string("it's"), "'it''s'");
        assert_eq!(hive_string(r"a\b"), r"'a\\b'");
    }

    #[test]
    fn snowflake_has_every_column_once_with_its_type() {
        for table in TABLES {
            let sql = snowflake_table(table);
            for c in table.all_columns() {
                let ty = snowflake_type(c.ty);
                let expr = format!("  {} {ty} AS (value:\"{}\"::{ty})", c.name, c.name);
                let hits = sql.lines().filter(|l| l.starts_with(&expr)).count();
                assert_eq!(hits, 1, "{}.{}: expected `{expr}` once in\n{sql}", table.name, c.name);
            }
            let n = sql.lines().filter(|l| l.contains(" AS (")).count();
            assert_eq!(n, table.all_columns().count() + 2, "{}", table.name);
        }
    }

    #[test]
    fn snowflake_table_location_partitions_and_refresh() {
        for table in TABLES {
            let sql = snowflake_table(table);
            assert!(sql.contains(&format!("CREATE OR REPLACE EXTERNAL TABLE {} (", table.name)));
            assert!(sql.contains(&format!("LOCATION = @tailwatch_lake/{}/\n", table.name)));
            assert!(sql.contains("dt VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, '/', 2), '=', 2))"));
            assert!(sql.contains("hour VARCHAR AS (SPLIT_PART(SPLIT_PART(METADATA$FILENAME, '/', 3), '=', 2))"));
            assert!(sql.contains("PARTITION BY (dt, hour)\n"));
            assert!(sql.contains("AUTO_REFRESH = TRUE\n"));
            assert!(sql.contains("FILE_FORMAT = (FORMAT_NAME = 'tailwatch_ndjson_gzip')"));
        }
        let types: BTreeMap<&str, &str> = [
            ColumnType::String,
            ColumnType::BigInt,
            ColumnType::Int,
            ColumnType::Boolean,
            ColumnType::Timestamp,
            ColumnType::StringArray,
            ColumnType::JsonText,
            ColumnType::Json,
        ]
        .into_iter()
        .map(|t| (athena_type(t), snowflake_type(t)))
        .collect();
        assert_eq!(types["timestamp"], "TIMESTAMP_NTZ(3)");
        assert_eq!(types["array<string>"], "ARRAY");
    }

    #[test]
    fn snowflake_setup_has_format_stage_and_placeholder() {
        let sql = snowflake_stage_and_format();
        assert!(sql.contains("CREATE FILE FORMAT IF NOT EXISTS tailwatch_ndjson_gzip\n  TYPE = JSON\n  COMPRESSION = GZIP"));
        assert!(sql.contains("CREATE STAGE IF NOT EXISTS tailwatch_lake\n  URL = 's3://${LakeBucket}/'"));
        assert!(sql.contains("STORAGE_INTEGRATION = tailwatch_lake_s3"));
        let files = files(Dialect::Snowflake);
        assert_eq!(files[0].name, SNOWFLAKE_SETUP_FILE);
        assert_eq!(files.len(), TABLES.len() + 1);
    }

    #[test]
    fn placeholder_substitution() {
        let sql = with_lake_bucket(&athena_table(&TAILSCALE_AUDIT), "tailwatch-lake-123");
        assert!(sql.contains("LOCATION 's3://tailwatch-lake-123/tailscale_audit/'"));
        assert!(sql.contains("dt=${dt}/hour=${hour}/"), "projection variables are kept");
        assert!(!sql.contains(LAKE_BUCKET_PLACEHOLDER));
    }

    #[test]
    fn standard_columns_come_first() {
        let sql = athena_table(&TAILSCALE_AUDIT);
        let first = column_lines(&sql, "  `")[0];
        assert!(first.starts_with(&format!("  `{}`", STANDARD_COLUMNS[0].name)));
    }

    fn infra_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra")
    }

    /// The committed files under infra/ are exactly the generated ones. With
    /// `TAILWATCH_REGENERATE_DDL=1` the test rewrites them instead (see infra/README.md).
    #[test]
    fn committed_ddl_files_are_current() {
        let regenerate = std::env::var("TAILWATCH_REGENERATE_DDL").is_ok_and(|v| v == "1");
        let mut problems = Vec::new();
        for (dialect, folder) in [(Dialect::Athena, "athena"), (Dialect::Snowflake, "snowflake")] {
            let dir = infra_dir().join(folder);
            let generated = files(dialect);
            if regenerate {
                std::fs::create_dir_all(&dir).unwrap();
            }
            for f in &generated {
                let path = dir.join(&f.name);
                if regenerate {
                    std::fs::write(&path, &f.sql).unwrap();
                    continue;
                }
                match std::fs::read_to_string(&path) {
                    Ok(text) if text == f.sql => {}
                    Ok(_) => problems.push(format!("infra/{folder}/{} differs from the generated DDL", f.name)),
                    Err(e) => problems.push(format!("infra/{folder}/{}: {e}", f.name)),
                }
            }
            // A table removed from lake.rs leaves no stale file behind.
            let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            on_disk.retain(|n| n.ends_with(".sql") && !generated.iter().any(|f| &f.name == n));
            for n in on_disk {
                if regenerate {
                    std::fs::remove_file(dir.join(&n)).unwrap();
                } else {
                    problems.push(format!("infra/{folder}/{n} is not generated from lake.rs any more"));
                }
            }
        }
        assert!(
            problems.is_empty(),
            "{}\nlake.rs changed: regenerate with `make ddl` (`TAILWATCH_REGENERATE_DDL=1 cargo test -p tailwatch-core --lib ddl`) \
             (or `tailwatch ddl athena --out-dir infra/athena` and `tailwatch ddl snowflake --out-dir infra/snowflake`), \
             then update template.yaml's Glue tables to match (`python3 infra/glue_tables_yaml.py` prints them; \
             tests/infra/test_template.py checks them)",
            problems.join("\n")
        );
    }
}
