//! The Tailscale policy file as the audit log carries it (`TAILNET.UPDATE.ACL`: `old` / `new` are
//! the whole file as HuJSON text), read into a small view the policy-file detections share.
//!
//! HuJSON is JSON plus `//` and `/* */` comments and trailing commas. [`parse`] strips those
//! (respecting strings and escapes) and hands the rest to serde_json, so hostile text costs at most
//! one linear pass over [`MAX_POLICY_BYTES`] and serde_json's recursion limit (128) bounds nesting.
//!
//! Tailscale decodes the file with Go's `encoding/json`, which matches member names
//! case-insensitively (old docs write `"ACLs"`, `"Action"`, `"Users"`, `"Ports"`): every lookup here
//! is case-insensitive too, so a capitalised section cannot hide a rule.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::lake::AuditRow;
use crate::record::{Action, TargetProperty, TargetType};

/// Policy text larger than this is not parsed (Tailscale's own limit is far smaller).
pub const MAX_POLICY_BYTES: usize = 1 << 20;

/// Longest one-line rule rendering, in characters.
const MAX_LINE_CHARS: usize = 200;

/// A successful policy-file update: TAILNET, UPDATE, `ACL`, no `error`.
pub fn is_policy_update(row: &AuditRow) -> bool {
    row.target_type == Some(TargetType::Tailnet)
        && row.action == Action::Update
        && row.target_property == Some(TargetProperty::Acl)
        && row.error.is_none()
}

/// Removes HuJSON comments and trailing commas, leaving plain JSON bytes. `None` when the text is
/// too large or a string or block comment never ends.
pub fn strip_hujson(text: &str) -> Option<Vec<u8>> {
    let b = text.strip_prefix('\u{feff}').unwrap_or(text).as_bytes();
    if b.len() > MAX_POLICY_BYTES {
        return None;
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => {
                out.push(c);
                i += 1;
                loop {
                    let &c = b.get(i)?;
                    out.push(c);
                    i += 1;
                    match c {
                        b'\\' => {
                            out.push(*b.get(i)?);
                            i += 1;
                        }
                        b'"' => break,
                        _ => {}
                    }
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                // The newline stays: it is whitespace.
                while b.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let len = b.get(i + 2..)?.windows(2).position(|w| w == b"*/")?;
                i += 2 + len + 2;
                // A comment separates tokens like whitespace does.
                out.push(b' ');
            }
            b']' | b'}' => {
                // The last non-blank byte before a closing bracket is a comma only when it is a
                // structural one (a string always ends in `"`): blank it.
                if let Some(last) = out.iter().rposition(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r')) {
                    if out[last] == b',' {
                        out[last] = b' ';
                    }
                }
                out.push(c);
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Parses HuJSON text into a JSON value; `None` for anything that is not valid HuJSON.
pub fn parse(text: &str) -> Option<Value> {
    serde_json::from_slice(&strip_hujson(text)?).ok()
}

/// The rule lists of a policy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// `acls`: the legacy accept rules.
    Acls,
    /// `grants`: the newer capability rules.
    Grants,
    /// `ssh`: Tailscale SSH rules.
    Ssh,
    /// `nodeAttrs`: node attributes (funnel, …).
    NodeAttrs,
}

impl Section {
    /// Every rule list.
    pub const ALL: [Section; 4] = [Section::Acls, Section::Grants, Section::Ssh, Section::NodeAttrs];

    /// The member name in the policy file.
    pub fn key(self) -> &'static str {
        match self {
            Section::Acls => "acls",
            Section::Grants => "grants",
            Section::Ssh => "ssh",
            Section::NodeAttrs => "nodeAttrs",
        }
    }
}

/// Rule counts of one policy file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `acls` rules.
    pub acls: usize,
    /// `grants` rules.
    pub grants: usize,
    /// `ssh` rules.
    pub ssh: usize,
    /// `tagOwners` entries.
    pub tag_owners: usize,
    /// `nodeAttrs` entries.
    pub node_attrs: usize,
}

impl Counts {
    /// Each count with its section name, in a fixed order.
    pub fn named(&self) -> [(&'static str, usize); 5] {
        [
            ("acls", self.acls),
            ("grants", self.grants),
            ("ssh", self.ssh),
            ("tagOwners", self.tag_owners),
            ("nodeAttrs", self.node_attrs),
        ]
    }
}

/// A parsed policy file (a JSON object).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    root: Map<String, Value>,
}

impl Policy {
    /// Parses policy text; `None` unless it is HuJSON with an object at the top.
    pub fn parse(text: &str) -> Option<Policy> {
        match parse(text)? {
            Value::Object(root) => Some(Policy { root }),
            _ => None,
        }
    }

    /// Reads an audit row's `old` / `new` column: JSON text of a string holding the policy file
    /// (also accepted: the policy as a JSON object).
    pub fn from_field(field: Option<&str>) -> Option<Policy> {
        if let Some(text) = crate::engine::json_string(field) {
            return Policy::parse(&text);
        }
        match crate::engine::json_value(field)? {
            Value::Object(root) => Some(Policy { root }),
            _ => None,
        }
    }

    /// Top-level members named `key`, in any letter case.
    fn members<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.root.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
    }

    /// The rules of a section (non-arrays read as empty).
    pub fn rules(&self, section: Section) -> Vec<&Value> {
        self.members(section.key()).filter_map(Value::as_array).flatten().collect()
    }

    /// `tagOwners` entries: (tag, owners).
    pub fn tag_owners(&self) -> Vec<(&str, &Value)> {
        self.members("tagOwners")
            .filter_map(Value::as_object)
            .flatten()
            .map(|(k, v)| (k.as_str(), v))
            .collect()
    }

    /// How many rules each section holds.
    pub fn counts(&self) -> Counts {
        Counts {
            acls: self.rules(Section::Acls).len(),
            grants: self.rules(Section::Grants).len(),
            ssh: self.rules(Section::Ssh).len(),
            tag_owners: self.tag_owners().len(),
            node_attrs: self.rules(Section::NodeAttrs).len(),
        }
    }

    /// Some rule lets any source reach any destination on any port: an `acls` accept with src `*`
    /// and dst `*:*`, or a grant with src, dst and ip all `*`.
    pub fn allows_all(&self) -> bool {
        self.rules(Section::Acls)
            .into_iter()
            .any(|r| is_accept(r) && has(r, &["src", "users"], "*") && has(r, &["dst", "ports"], "*:*"))
            || self
                .rules(Section::Grants)
                .into_iter()
                .any(|r| has(r, &["src"], "*") && has(r, &["dst"], "*") && has(r, &["ip"], "*"))
    }

    /// Some rule lets everyone (`*` or `autogroup:member`) use exit nodes to reach the whole
    /// internet: an `acls` accept to `autogroup:internet:*`, or a grant to `autogroup:internet` with
    /// ip `*`.
    pub fn grants_internet_broadly(&self) -> bool {
        let broad_src = |r: &Value| has(r, &["src", "users"], "*") || has(r, &["src", "users"], "autogroup:member");
        self.rules(Section::Acls)
            .into_iter()
            .any(|r| is_accept(r) && broad_src(r) && has(r, &["dst", "ports"], "autogroup:internet:*"))
            || self.rules(Section::Grants).into_iter().any(|r| {
                broad_src(r) && (has(r, &["dst"], "autogroup:internet") || has(r, &["dst"], "autogroup:internet:*")) && has(r, &["ip"], "*")
            })
    }

    /// Some rule lets every user (`autogroup:member`) reach every destination on every port: an
    /// `acls` accept to `*:*`, or a grant to `*` with ip `*`.
    pub fn member_reaches_all(&self) -> bool {
        let member = |r: &Value| has(r, &["src", "users"], "autogroup:member");
        self.rules(Section::Acls)
            .into_iter()
            .any(|r| is_accept(r) && member(r) && has(r, &["dst", "ports"], "*:*"))
            || self
                .rules(Section::Grants)
                .into_iter()
                .any(|r| member(r) && has(r, &["dst"], "*") && has(r, &["ip"], "*"))
    }

    /// Tags anyone may apply: `tagOwners` entries owned by `*` or `autogroup:member`.
    pub fn open_tags(&self) -> BTreeSet<String> {
        self.tag_owners()
            .into_iter()
            .filter(|(_, owners)| {
                let owners = match owners {
                    Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                    Value::String(s) => vec![s.as_str()],
                    _ => Vec::new(),
                };
                owners.iter().any(|o| matches!(*o, "*" | "autogroup:member"))
            })
            .map(|(tag, _)| tag.to_owned())
            .collect()
    }

    /// `autoApprovers` approves exit nodes without an admin: an `exitNode` list, or a `routes`
    /// entry for `0.0.0.0/0` or `::/0`.
    pub fn auto_approves_exit(&self) -> bool {
        self.members("autoApprovers").filter_map(Value::as_object).any(|a| {
            a.iter().any(|(k, v)| {
                (k.eq_ignore_ascii_case("exitNode") && v.as_array().is_some_and(|l| !l.is_empty()))
                    || (k.eq_ignore_ascii_case("routes")
                        && v.as_object()
                            .is_some_and(|routes| routes.keys().any(|r| matches!(r.as_str(), "0.0.0.0/0" | "::/0"))))
            })
        })
    }

    /// Targets of `nodeAttrs` entries whose `attr` list holds `funnel`.
    pub fn funnel_targets(&self) -> BTreeSet<String> {
        self.rules(Section::NodeAttrs)
            .into_iter()
            .filter(|r| strings(r, &["attr"]).iter().any(|a| a.eq_ignore_ascii_case("funnel")))
            .flat_map(|r| strings(r, &["target"]))
            .map(str::to_owned)
            .collect()
    }

    /// Every rule and `tagOwners` entry, by a canonical key (section + sorted JSON), with its
    /// one-line rendering.
    pub fn rule_lines(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for section in Section::ALL {
            for rule in self.rules(section) {
                out.insert(format!("{}\u{1f}{}", section.key(), canonical(rule)), rule_line(section, rule));
            }
        }
        for (tag, owners) in self.tag_owners() {
            out.insert(
                format!("tagOwners\u{1f}{tag}\u{1f}{}", canonical(owners)),
                truncate(format!("tagOwners: {tag} <- {}", list(owners))),
            );
        }
        out
    }

    /// Top-level members by lower-case name, as canonical JSON (to tell which sections changed).
    pub fn sections(&self) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &self.root {
            out.entry(k.to_ascii_lowercase()).or_default().push_str(&canonical(v));
        }
        out
    }
}

/// The `action` is `accept` (any letter case).
pub fn is_accept(rule: &Value) -> bool {
    strings(rule, &["action"]).iter().any(|a| a.eq_ignore_ascii_case("accept"))
}

/// The strings of a rule's members named any of `names` (any letter case): a string array or a
/// lone string.
pub fn strings<'a>(rule: &'a Value, names: &[&str]) -> Vec<&'a str> {
    let Some(obj) = rule.as_object() else { return Vec::new() };
    obj.iter()
        .filter(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .flat_map(|(_, v)| match v {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Whether a rule's members named any of `names` hold exactly `value`.
pub fn has(rule: &Value, names: &[&str], value: &str) -> bool {
    strings(rule, names).contains(&value)
}

/// JSON with object members sorted, so the same rule always reads the same.
pub fn canonical(value: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // Inserting in sorted order keeps keys sorted even if serde_json's `preserve_order` is on
    // (feature unification). Depth is bounded by serde_json's recursion limit on the way in.
    serde_json::to_string(&sorted(value)).unwrap_or_default()
}

fn list(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| canonical(i), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        other => canonical(other),
    }
}

fn truncate(mut s: String) -> String {
    if let Some((idx, _)) = s.char_indices().nth(MAX_LINE_CHARS) {
        s.truncate(idx);
        s.push('…');
    }
    s
}

/// One short line for a rule, e.g. `acls: accept group:eng -> tag:prod:22` or
/// `ssh: accept autogroup:member -> autogroup:self as root`; members the line does not name follow
/// as `key=json`.
pub fn rule_line(section: Section, rule: &Value) -> String {
    let Some(obj) = rule.as_object() else {
        return truncate(format!("{}: {}", section.key(), canonical(rule)));
    };
    let pick = |names: &[&str]| {
        let v: Vec<&str> = strings(rule, names);
        if v.is_empty() {
            "?".to_owned()
        } else {
            v.join(",")
        }
    };
    let (mut line, named): (String, &[&str]) = match section {
        Section::Acls => (
            format!(
                "acls: {} {} -> {}",
                pick(&["action"]),
                pick(&["src", "users"]),
                pick(&["dst", "ports"])
            ),
            &["action", "src", "users", "dst", "ports"],
        ),
        Section::Grants => (format!("grants: {} -> {}", pick(&["src"]), pick(&["dst"])), &["src", "dst"]),
        Section::Ssh => (
            format!(
                "ssh: {} {} -> {} as {}",
                pick(&["action"]),
                pick(&["src"]),
                pick(&["dst"]),
                pick(&["users"])
            ),
            &["action", "src", "dst", "users"],
        ),
        Section::NodeAttrs => (
            format!("nodeAttrs: {} attr={}", pick(&["target"]), pick(&["attr"])),
            &["target", "attr"],
        ),
    };
    let mut extra: Vec<(&String, &Value)> = obj
        .iter()
        .filter(|(k, _)| !named.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .collect();
    extra.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in extra {
        line.push_str(&format!(" {k}={}", list(v)));
        if line.len() > MAX_LINE_CHARS * 4 {
            break;
        }
    }
    truncate(line)
}

/// The old and new policy of an update row (either may fail to parse).
#[derive(Debug, Clone)]
pub struct PolicyChange {
    /// Before (`old`).
    pub old: Option<Policy>,
    /// After (`new`).
    pub new: Option<Policy>,
}

impl PolicyChange {
    /// Reads `old` and `new`.
    pub fn of(row: &AuditRow) -> PolicyChange {
        PolicyChange {
            old: Policy::from_field(row.old.as_deref()),
            new: Policy::from_field(row.new.as_deref()),
        }
    }

    /// New allow-all (any source to any destination) that the old policy did not have.
    pub fn allow_all_introduced(&self) -> bool {
        self.new.as_ref().is_some_and(Policy::allows_all) && !self.old.as_ref().is_some_and(Policy::allows_all)
    }

    /// New broad `autogroup:internet` access that the old policy did not have.
    pub fn internet_introduced(&self) -> bool {
        self.new.as_ref().is_some_and(Policy::grants_internet_broadly) && !self.old.as_ref().is_some_and(Policy::grants_internet_broadly)
    }

    /// Every way the new policy is wider than the old, as short phrases for a title: allow-all,
    /// everyone to the internet, every member to everything, tags anyone may apply, exit nodes
    /// approved without an admin. Empty when nothing widened (or `new` did not parse).
    pub fn widenings(&self) -> Vec<String> {
        let (Some(new), old) = (self.new.as_ref(), self.old.as_ref()) else {
            return Vec::new();
        };
        let was = |f: fn(&Policy) -> bool| old.is_some_and(f);
        let mut out = Vec::new();
        if new.allows_all() && !was(Policy::allows_all) {
            out.push("allow all traffic".to_owned());
        }
        if new.grants_internet_broadly() && !was(Policy::grants_internet_broadly) {
            out.push("give everyone internet access".to_owned());
        }
        if new.member_reaches_all() && !was(Policy::member_reaches_all) && !new.allows_all() {
            out.push("let every member reach everything".to_owned());
        }
        let old_open = old.map(Policy::open_tags).unwrap_or_default();
        let opened: Vec<String> = new.open_tags().difference(&old_open).cloned().collect();
        if !opened.is_empty() {
            out.push(format!("let anyone apply {}", opened.join(",")));
        }
        if new.auto_approves_exit() && !was(Policy::auto_approves_exit) {
            out.push("auto-approve exit nodes".to_owned());
        }
        out
    }

    /// Rule lines added and removed (all of them; callers cap what they show).
    pub fn rule_diff(&self) -> (Vec<String>, Vec<String>) {
        let old = self.old.as_ref().map(Policy::rule_lines).unwrap_or_default();
        let new = self.new.as_ref().map(Policy::rule_lines).unwrap_or_default();
        let added = new.iter().filter(|(k, _)| !old.contains_key(*k)).map(|(_, l)| l.clone()).collect();
        let removed = old.iter().filter(|(k, _)| !new.contains_key(*k)).map(|(_, l)| l.clone()).collect();
        (added, removed)
    }

    /// Top-level members whose value changed (added, removed or edited), lower-case.
    pub fn sections_changed(&self) -> Vec<String> {
        let old = self.old.as_ref().map(Policy::sections).unwrap_or_default();
        let new = self.new.as_ref().map(Policy::sections).unwrap_or_default();
        let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        keys.into_iter().filter(|k| old.get(*k) != new.get(*k)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_comments_and_trailing_commas() {
        let text = "// header\n{\n  /* block\n comment */ \"acls\": [\n    {\"action\": \"accept\", // why\n     \"src\": [\"*\",], \"dst\": [\"*:*\"],},\n  ],\n}\n";
        let v = parse(text).unwrap();
        assert_eq!(v["acls"][0]["src"][0], "*");
        assert_eq!(v["acls"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn comment_markers_and_escapes_inside_strings_are_text() {
        let v = parse(r#"{"a": "http://x/*y*/", "b": "say \"hi\" // not a comment", "c": "\\", "d": ",]"}"#).unwrap();
        assert_eq!(v["a"], "http://x/*y*/");
        assert_eq!(v["b"], "say \"hi\" // not a comment");
        assert_eq!(v["c"], "\\");
        assert_eq!(v["d"], ",]");
    }

    #[test]
    fn block_comment_separates_tokens() {
        assert_eq!(parse("[1/**/2]"), None);
        assert_eq!(parse("[1,/**/2]").unwrap(), serde_json::json!([1, 2]));
    }

    #[test]
    fn garbage_is_none() {
        for bad in ["", "{", "\"open", "/* open", "{\"a\": 1 /* x", "{\"a\" 1}", "nope", "[\"\\", "{}}"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(Policy::parse("[1, 2]"), None);
    }

    #[test]
    fn limits_hold() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse(&deep), None);
        let big = format!("{{\"a\": \"{}\"}}", "x".repeat(MAX_POLICY_BYTES));
        assert_eq!(parse(&big), None);
    }

    #[test]
    fn policy_view_reads_any_letter_case() {
        let p = Policy::parse(
            r#"{"ACLs": [{"Action": "accept", "Users": ["*"], "Ports": ["*:*"]}],
                "tagOwners": {"tag:web": ["group:eng"], "tag:db": []},
                "nodeAttrs": [{"target": ["tag:web"], "attr": ["funnel"]}, {"target": ["*"], "attr": ["mullvad"]}],
                "ssh": [{"action": "check", "src": ["group:eng"], "dst": ["tag:web"], "users": ["root"]}]}"#,
        )
        .unwrap();
        assert!(p.allows_all());
        assert!(!p.grants_internet_broadly());
        assert_eq!(
            p.counts(),
            Counts {
                acls: 1,
                grants: 0,
                ssh: 1,
                tag_owners: 2,
                node_attrs: 2
            }
        );
        assert_eq!(p.funnel_targets().into_iter().collect::<Vec<_>>(), vec!["tag:web"]);
        assert_eq!(rule_line(Section::Acls, p.rules(Section::Acls)[0]), "acls: accept * -> *:*");
        assert_eq!(
            rule_line(Section::Ssh, p.rules(Section::Ssh)[0]),
            "ssh: check group:eng -> tag:web as root"
        );
    }

    #[test]
    fn grants_forms() {
        let p = Policy::parse(r#"{"grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"]}]}"#).unwrap();
        assert!(p.allows_all());
        let p = Policy::parse(r#"{"grants": [{"src": ["autogroup:member"], "dst": ["autogroup:internet"], "ip": ["*"]}]}"#).unwrap();
        assert!(!p.allows_all() && p.grants_internet_broadly());
        let p = Policy::parse(r#"{"grants": [{"src": ["group:eng"], "dst": ["*"], "ip": ["*"]}]}"#).unwrap();
        assert!(!p.allows_all() && !p.grants_internet_broadly());
    }

    #[test]
    fn diff_names_added_and_removed_rules() {
        let change = PolicyChange {
            old: Policy::parse(r#"{"acls": [{"action": "accept", "src": ["group:eng"], "dst": ["tag:prod:22"]}], "groups": {}}"#),
            new: Policy::parse(r#"{"acls": [{"dst": ["*:*"], "src": ["*"], "action": "accept"}]}"#),
        };
        let (added, removed) = change.rule_diff();
        assert_eq!(added, vec!["acls: accept * -> *:*"]);
        assert_eq!(removed, vec!["acls: accept group:eng -> tag:prod:22"]);
        assert_eq!(change.sections_changed(), vec!["acls", "groups"]);
        assert!(change.allow_all_introduced());
    }

    #[test]
    fn long_lines_are_cut() {
        let src: Vec<String> = (0..100).map(|i| format!("user{i}@example.com")).collect();
        let rule = serde_json::json!({"action": "accept", "src": src, "dst": ["*:*"], "proto": "tcp"});
        let line = rule_line(Section::Acls, &rule);
        assert!(line.chars().count() <= MAX_LINE_CHARS + 1 && line.ends_with('…'));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(s in "\\PC{0,300}") {
            let _ = parse(&s);
            if let Some(p) = Policy::parse(&s) {
                let _ = (p.counts(), p.allows_all(), p.grants_internet_broadly(), p.funnel_targets(), p.rule_lines());
            }
        }

        #[test]
        fn never_panics_on_json_like_text(s in "[\\[\\]{}\",:/*\\\\ \na-z0-9]{0,300}") {
            let _ = parse(&s);
            let _ = Policy::from_field(Some(&s));
        }
    }
}
