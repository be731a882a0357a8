//! Declarative rules: "alert when X" as a TOML file, without Rust, compiled to the same engine as
//! the built-in detections.
//!
//! ```toml
//! id = "Acme.Node.DeletedByOAuthClient"
//! name = "Node deleted by an OAuth client"
//! log_type = "audit"                      # or "network"
//! severity = "MEDIUM"
//! description = "An OAuth client deleted a node."
//! runbook = "1. Find the client (actor_id).\n2. Ask its owner."
//! tags = ["T1485"]
//! title = "Node {target_name} deleted by {actor_display_name} {actor_id}"
//! dedup = "{actor_id}"                    # default: actor id|target id (audit), the title (network)
//! context = ["target_name"]               # extra columns for the responder
//!
//! [[match]]                               # every condition must hold
//! field = "action"
//! equals = "DELETE"
//! [[match]]
//! field = "actor_type"
//! in = ["OAUTH_CLIENT"]
//!
//! [[test]]
//! name = "deleted by a client"
//! record = '{"eventTime":"2025-03-04T17:00:00Z","actor":{"id":"k1","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"n1","name":"web-1","type":"NODE"},"action":"DELETE"}'
//! expect = "fire"
//! title = "Node web-1 deleted by OAuth client k1"
//! severity = "MEDIUM"
//! dedup = "k1"
//! [[test]]
//! name = "near miss: deleted by a person"
//! record = '{"eventTime":"2025-03-04T17:00:00Z","actor":{"id":"u1","type":"USER"},"target":{"id":"n1","type":"NODE"},"action":"DELETE"}'
//! expect = "quiet"
//! ```
//!
//! Conditions: `equals`, `not_equals`, `in`, `not_in`, `matches` (a regular expression, `regex`
//! crate syntax), `gt`, `gte`, `lt`, `lte` (numbers), `exists` (true / false). Array columns
//! (`node_tags`, `p_any_emails`, …) match when any element does. Field names are the lake columns
//! (`tailwatch ddl athena` lists them), plus on network rows the node facts `node_name`, `node_os`,
//! `node_user`, `node_tags`, `peer_node_name`, `peer_os`, `peer_user`, `peer_tags` (in the lake
//! they are in `tailscale_nodes`); templates use `{column}`. Every mistake is an error with
//! the file and line. Tuning (`[detections."<id>"]`: enabled, severity, dedup_minutes,
//! threshold) applies as to every other detection.

use std::fmt;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::engine::config::{ConfigError, Params};
use crate::engine::{Detection, Expect, LogType, Meta, Severity, StateAnswer, TestCase, Verdict};
use crate::lake::{LakeRow, Table, NETWORK_NODE_FACTS, TAILSCALE_AUDIT, TAILSCALE_NETWORK};
use crate::rule::{Definition, Row};

/// A mistake in a rule file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct RuleError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    id: Spanned<String>,
    name: Option<String>,
    log_type: Spanned<String>,
    severity: Spanned<String>,
    description: Option<String>,
    runbook: Option<String>,
    reference: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    title: Spanned<String>,
    dedup: Option<Spanned<String>>,
    dedup_minutes: Option<u32>,
    threshold: Option<u32>,
    enabled: Option<bool>,
    #[serde(default)]
    context: Vec<Spanned<String>>,
    #[serde(rename = "match", default)]
    conditions: Vec<Spanned<ConditionFile>>,
    #[serde(rename = "test", default)]
    tests: Vec<Spanned<TestFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionFile {
    field: Spanned<String>,
    equals: Option<toml::Value>,
    not_equals: Option<toml::Value>,
    #[serde(rename = "in")]
    one_of: Option<Vec<toml::Value>>,
    not_in: Option<Vec<toml::Value>>,
    matches: Option<Spanned<String>>,
    gt: Option<f64>,
    gte: Option<f64>,
    lt: Option<f64>,
    lte: Option<f64>,
    exists: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    name: String,
    #[serde(default)]
    setup: Vec<String>,
    record: String,
    expect: Spanned<String>,
    title: Option<String>,
    severity: Option<Spanned<String>>,
    dedup: Option<String>,
    #[serde(default)]
    context_keys: Vec<String>,
}

/// One compiled condition.
#[derive(Debug, Clone)]
enum Op {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Matches(Regex),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
    Exists(bool),
}

#[derive(Debug, Clone)]
struct Condition {
    field: String,
    op: Op,
}

/// A `{column}` template.
#[derive(Debug, Clone)]
struct Template(Vec<Piece>);

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Field(String),
}

/// A TOML rule, validated and compiled.
#[derive(Debug, Clone)]
pub struct TomlRule {
    meta: Meta,
    source: String,
    title: Template,
    dedup: Option<Template>,
    context: Vec<String>,
    conditions: Vec<Condition>,
    tests: &'static [TestCase],
}

/// Text that lives as long as the process: rules are loaded once at start-up and their metadata
/// is `'static` like the built-ins'.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, offset: usize, message: impl Into<String>) -> RuleError {
        RuleError {
            file: self.file.to_owned(),
            line: line_of(self.text, offset),
            message: message.into(),
        }
    }
}

fn scalar_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The fields a rule may read: the table's lake columns, and for network rows the node facts they
/// carry in memory (the lake keeps those in `tailscale_nodes`; detections see them on the row).
fn columns(table: &Table) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = table.all_columns().map(|c| c.name).collect();
    if table.name == TAILSCALE_NETWORK.name {
        names.extend(NETWORK_NODE_FACTS);
    }
    names
}

fn check_field(ctx: &Ctx<'_>, table: &Table, field: &str, offset: usize) -> Result<(), RuleError> {
    if columns(table).contains(&field) {
        Ok(())
    } else {
        Err(ctx.err(
            offset,
            format!(
                "unknown field `{field}` for {}: valid fields are {}",
                table.name,
                columns(table).join(", ")
            ),
        ))
    }
}

fn template(ctx: &Ctx<'_>, table: &Table, text: &Spanned<String>) -> Result<Template, RuleError> {
    let mut pieces = Vec::new();
    let mut rest = text.get_ref().as_str();
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_owned()));
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| ctx.err(text.span().start, format!("template `{}`: `{{` without `}}`", text.get_ref())))?;
        let field = &rest[open + 1..open + close];
        check_field(ctx, table, field, text.span().start)?;
        pieces.push(Piece::Field(field.to_owned()));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(Template(pieces))
}

fn condition(ctx: &Ctx<'_>, table: &Table, c: &Spanned<ConditionFile>) -> Result<Condition, RuleError> {
    let at = c.span().start;
    let c = c.get_ref();
    check_field(ctx, table, c.field.get_ref(), c.field.span().start)?;
    let texts = |vs: &[toml::Value]| -> Result<Vec<String>, RuleError> {
        vs.iter()
            .map(|v| scalar_text(v).ok_or_else(|| ctx.err(at, "`in` / `not_in` take a list of strings or numbers")))
            .collect()
    };
    let scalar = |v: &toml::Value| scalar_text(v).ok_or_else(|| ctx.err(at, "`equals` / `not_equals` take a string or a number"));
    let mut ops = Vec::new();
    if let Some(v) = &c.equals {
        ops.push(Op::Equals(scalar(v)?));
    }
    if let Some(v) = &c.not_equals {
        ops.push(Op::NotEquals(scalar(v)?));
    }
    if let Some(v) = &c.one_of {
        ops.push(Op::In(texts(v)?));
    }
    if let Some(v) = &c.not_in {
        ops.push(Op::NotIn(texts(v)?));
    }
    if let Some(re) = &c.matches {
        let compiled =
            Regex::new(re.get_ref()).map_err(|e| ctx.err(re.span().start, format!("`matches` is not a regular expression: {e}")))?;
        ops.push(Op::Matches(compiled));
    }
    for (v, op) in [(c.gt, Op::Gt as fn(f64) -> Op), (c.gte, Op::Gte), (c.lt, Op::Lt), (c.lte, Op::Lte)] {
        if let Some(v) = v {
            ops.push(op(v));
        }
    }
    if let Some(b) = c.exists {
        ops.push(Op::Exists(b));
    }
    match ops.len() {
        1 => Ok(Condition {
            field: c.field.get_ref().clone(),
            op: ops.remove(0),
        }),
        0 => Err(ctx.err(
            at,
            "a [[match]] needs one of equals, not_equals, in, not_in, matches, gt, gte, lt, lte, exists",
        )),
        _ => Err(ctx.err(
            at,
            "a [[match]] takes exactly one operator; write two [[match]] tables for two conditions",
        )),
    }
}

fn severity(ctx: &Ctx<'_>, s: &Spanned<String>) -> Result<Severity, RuleError> {
    Severity::parse(s.get_ref()).ok_or_else(|| {
        ctx.err(
            s.span().start,
            format!("severity `{}`: expected one of INFO, LOW, MEDIUM, HIGH, CRITICAL", s.get_ref()),
        )
    })
}

impl TomlRule {
    /// Parses and validates one rule file's text.
    ///
    /// # Errors
    /// The first mistake, with `file` and the line.
    pub fn parse(file: &str, text: &str) -> Result<TomlRule, RuleError> {
        let ctx = Ctx { file, text };
        let raw: RuleFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            RuleError {
                file: file.to_owned(),
                line,
                message: e.message().to_owned(),
            }
        })?;
        let (log_type, table): (LogType, &Table) = match raw.log_type.get_ref().as_str() {
            "audit" | "Tailscale.Audit" => (LogType::Audit, &TAILSCALE_AUDIT),
            "network" | "Tailscale.Network" => (LogType::Network, &TAILSCALE_NETWORK),
            other => {
                return Err(ctx.err(
                    raw.log_type.span().start,
                    format!("log_type `{other}`: expected \"audit\" or \"network\""),
                ))
            }
        };
        let id = raw.id.get_ref();
        if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c == '"') {
            return Err(ctx.err(
                raw.id.span().start,
                "id must be non-empty, without spaces or quotes (e.g. \"Acme.Node.Deleted\")",
            ));
        }
        if raw.conditions.is_empty() {
            return Err(ctx.err(0, "a rule needs at least one [[match]] condition"));
        }
        let conditions = raw
            .conditions
            .iter()
            .map(|c| condition(&ctx, table, c))
            .collect::<Result<Vec<_>, _>>()?;
        for c in &raw.context {
            check_field(&ctx, table, c.get_ref(), c.span().start)?;
        }
        let mut tests = Vec::new();
        for t in &raw.tests {
            let at = t.span().start;
            let t = t.get_ref();
            let expect = match t.expect.get_ref().as_str() {
                "quiet" => Expect::Quiet,
                "fire" => Expect::Fire {
                    title: leak(
                        t.title
                            .clone()
                            .ok_or_else(|| ctx.err(at, format!("test `{}`: expect = \"fire\" needs title", t.name)))?,
                    ),
                    severity: severity(&ctx, t.severity.as_ref().unwrap_or(&raw.severity))?,
                    dedup: t.dedup.clone().map(leak),
                    context_keys: Box::leak(t.context_keys.iter().cloned().map(leak).collect::<Vec<_>>().into_boxed_slice()),
                },
                other => {
                    return Err(ctx.err(
                        t.expect.span().start,
                        format!("test expect `{other}`: expected \"fire\" or \"quiet\""),
                    ))
                }
            };
            tests.push(TestCase {
                name: leak(t.name.clone()),
                setup: Box::leak(t.setup.iter().cloned().map(leak).collect::<Vec<_>>().into_boxed_slice()),
                record: leak(t.record.clone()),
                params: "",
                expect,
            });
        }
        let meta = Meta {
            id: leak(id.clone()),
            name: leak(raw.name.clone().unwrap_or_else(|| id.clone())),
            log_types: match log_type {
                LogType::Audit => &[LogType::Audit],
                LogType::Network => &[LogType::Network],
            },
            severity: severity(&ctx, &raw.severity)?,
            description: leak(raw.description.unwrap_or_default()),
            runbook: leak(raw.runbook.unwrap_or_default()),
            reference: leak(raw.reference.unwrap_or_default()),
            tags: Box::leak(raw.tags.into_iter().map(leak).collect::<Vec<_>>().into_boxed_slice()),
            dedup_minutes: raw.dedup_minutes.unwrap_or(60).max(1),
            threshold: raw.threshold.unwrap_or(1).max(1),
            enabled_by_default: raw.enabled.unwrap_or(true),
            params: &[],
        };
        Ok(TomlRule {
            meta,
            source: file.to_owned(),
            title: template(&ctx, table, &raw.title)?,
            dedup: raw.dedup.as_ref().map(|d| template(&ctx, table, d)).transpose()?,
            context: raw.context.iter().map(|c| c.get_ref().clone()).collect(),
            conditions,
            tests: Box::leak(tests.into_boxed_slice()),
        })
    }
}

fn row_json(row: &LakeRow) -> serde_json::Map<String, serde_json::Value> {
    let value = match row {
        LakeRow::Audit(a) => serde_json::to_value(a),
        LakeRow::Network(n) => serde_json::to_value(n),
    };
    match value {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// A column's values as text: one for a scalar, each element for an array, none when empty.
fn values(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items.iter().flat_map(|i| values(Some(i))).collect(),
        Some(other) => vec![other.to_string()],
    }
}

impl Condition {
    fn holds(&self, row: &serde_json::Map<String, serde_json::Value>) -> bool {
        let vals = values(row.get(&self.field));
        let num = |f: &dyn Fn(f64) -> bool| vals.iter().filter_map(|v| v.parse::<f64>().ok()).any(f);
        match &self.op {
            Op::Equals(x) => vals.iter().any(|v| v == x),
            Op::NotEquals(x) => !vals.iter().any(|v| v == x),
            Op::In(xs) => vals.iter().any(|v| xs.contains(v)),
            Op::NotIn(xs) => !vals.iter().any(|v| xs.contains(v)),
            Op::Matches(re) => vals.iter().any(|v| re.is_match(v)),
            Op::Gt(x) => num(&|v| v > *x),
            Op::Gte(x) => num(&|v| v >= *x),
            Op::Lt(x) => num(&|v| v < *x),
            Op::Lte(x) => num(&|v| v <= *x),
            Op::Exists(b) => vals.is_empty() != *b,
        }
    }
}

impl Template {
    fn render(&self, row: &serde_json::Map<String, serde_json::Value>) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => {
                    let vals = values(row.get(f));
                    out.push_str(if vals.is_empty() { "-" } else { "" });
                    out.push_str(&vals.join(","));
                }
            }
        }
        out
    }
}

impl fmt::Display for TomlRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.meta.id, self.source)
    }
}

impl Definition for TomlRule {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn build(&self, _params: &Params<'_>) -> Result<Box<dyn Detection>, ConfigError> {
        Ok(Box::new(self.clone()))
    }

    fn tests(&self) -> &[TestCase] {
        self.tests
    }

    fn source(&self) -> &str {
        &self.source
    }
}

impl Detection for TomlRule {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn evaluate(&self, row: &LakeRow) -> Verdict {
        if !self.meta.log_types.contains(&LogType::of(row)) {
            return Verdict::No;
        }
        let json = row_json(row);
        self.conditions.iter().all(|c| c.holds(&json)).into()
    }

    fn title(&self, row: &LakeRow, _answer: Option<StateAnswer>) -> String {
        self.title.render(&row_json(row))
    }

    fn dedup(&self, row: &LakeRow, answer: Option<StateAnswer>) -> String {
        match (&self.dedup, row) {
            (Some(t), _) => t.render(&row_json(row)),
            (None, LakeRow::Audit(a)) => a.default_dedup(String::new()),
            (None, LakeRow::Network(_)) => self.title(row, answer),
        }
    }

    fn context(&self, row: &LakeRow, _answer: Option<StateAnswer>) -> serde_json::Value {
        let mut ctx = match row {
            LakeRow::Audit(a) => a.default_context(),
            LakeRow::Network(n) => n.default_context(),
        };
        let json = row_json(row);
        if let Some(m) = ctx.as_object_mut() {
            for c in &self.context {
                m.insert(c.clone(), json.get(c).cloned().unwrap_or(serde_json::Value::Null));
            }
        }
        ctx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = r#"id = "Acme.Node.DeletedByOAuthClient"
log_type = "audit"
severity = "MEDIUM"
runbook = "1. Find the client.\n2. Ask its owner."
title = "Node {target_name} deleted by {actor_display_name} {actor_id}"
dedup = "{actor_id}"
context = ["target_name"]

[[match]]
field = "action"
equals = "DELETE"
[[match]]
field = "actor_type"
in = ["OAUTH_CLIENT"]
[[match]]
field = "target_name"
matches = "^web-"

[[test]]
name = "deleted by a client"
record = '{"eventTime":"2025-03-04T17:00:00Z","actor":{"id":"k1","type":"OAUTH_CLIENT","displayName":"OAuth client"},"target":{"id":"n1","name":"web-1","type":"NODE"},"action":"DELETE"}'
expect = "fire"
title = "Node web-1 deleted by OAuth client k1"
dedup = "k1"
context_keys = ["target_name", "actor_id"]
[[test]]
name = "near miss: deleted by a person"
record = '{"eventTime":"2025-03-04T17:00:00Z","actor":{"id":"u1","type":"USER"},"target":{"id":"n1","name":"web-1","type":"NODE"},"action":"DELETE"}'
expect = "quiet"
"#;

    #[test]
    fn a_rule_fires_with_its_title_severity_dedup_and_context_and_not_on_a_near_miss() {
        let rule = TomlRule::parse("rules/deleted.toml", RULE).unwrap();
        assert_eq!(rule.source(), "rules/deleted.toml");
        crate::engine::testing::assert_cases(&rule);
    }

    #[test]
    fn a_wrong_case_fails() {
        let wrong = RULE.replace("title = \"Node web-1 deleted by OAuth client k1\"", "title = \"something else\"");
        let rule = TomlRule::parse("r.toml", &wrong).unwrap();
        let e = crate::engine::testing::run_case(&rule, &rule.tests()[0]).unwrap_err();
        assert!(
            e.contains("title: expected `something else`, got `Node web-1 deleted by OAuth client k1`"),
            "{e}"
        );
    }

    #[test]
    fn numeric_conditions_on_network_rows() {
        let text = r#"id = "Acme.BigUpload"
log_type = "network"
severity = "LOW"
title = "{node_id} sent {tx_bytes} bytes to {dst_ip}"
[[match]]
field = "tx_bytes"
gte = 1000
[[match]]
field = "node_tags"
equals = "tag:db"
[[test]]
name = "big"
record = '{"nodeId":"n1","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"n1","tags":["tag:db"]},"virtualTraffic":[{"proto":6,"src":"100.64.0.1:5000","dst":"100.64.0.2:443","txBytes":5000}]}'
expect = "fire"
title = "n1 sent 5000 bytes to 100.64.0.2"
[[test]]
name = "near miss: small"
record = '{"nodeId":"n1","start":"2025-03-04T17:40:00Z","srcNode":{"nodeId":"n1","tags":["tag:db"]},"virtualTraffic":[{"proto":6,"src":"100.64.0.1:5000","dst":"100.64.0.2:443","txBytes":999}]}'
expect = "quiet"
"#;
        crate::engine::testing::assert_cases(&TomlRule::parse("big.toml", text).unwrap());
    }

    #[test]
    fn mistakes_name_the_file_and_line() {
        let e = TomlRule::parse("r.toml", &RULE.replace("field = \"actor_type\"", "field = \"actor_kind\"")).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("r.toml", 13));
        assert!(
            e.message.contains("unknown field `actor_kind`") && e.message.contains("actor_type"),
            "{e}"
        );
        let e = TomlRule::parse("r.toml", &RULE.replace("matches = \"^web-\"", "matches = \"(web\"")).unwrap_err();
        assert_eq!(e.line, 17, "{e}");
        let e = TomlRule::parse("r.toml", &RULE.replace("severity = \"MEDIUM\"", "severity = \"URGENT\"")).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let e = TomlRule::parse("r.toml", &RULE.replace("equals = \"DELETE\"", "equal = \"DELETE\"")).unwrap_err();
        assert_eq!(e.line, 11, "{e}");
        assert!(e.to_string().starts_with("r.toml:11: "), "{e}");
        let e = TomlRule::parse("r.toml", &RULE.replace("{actor_id}\"\ncontext", "{actor}\"\ncontext")).unwrap_err();
        assert_eq!(e.line, 6, "{e}");
    }
}
