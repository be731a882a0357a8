//! Normalization tests: every fixture's documented outcome, field by field, plus properties.

use super::*;
use crate::lake::{AuditRow, NetworkRow, TABLES};
use crate::pipeline::{normalize_body, normalize_object, NormalizeOutcome};
use crate::quarantine::ReasonCode;
use crate::wire::DecodeLimits;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/fixtures/tailscale/", $name)).as_slice()
    };
}

fn ctx() -> SourceContext<'static> {
    SourceContext {
        label: "test",
        file: "raw/test/object",
        parse_time: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
    }
}

fn run(bytes: &[u8]) -> NormalizeOutcome {
    normalize_object(bytes, &DecodeLimits::default(), &ctx())
}

fn audit(out: &NormalizeOutcome) -> Vec<&AuditRow> {
    out.rows
        .iter()
        .filter_map(|r| if let LakeRow::Audit(a) = r { Some(a) } else { None })
        .collect()
}

fn network(out: &NormalizeOutcome) -> Vec<&NetworkRow> {
    out.rows
        .iter()
        .filter_map(|r| if let LakeRow::Network(n) = r { Some(n) } else { None })
        .collect()
}

fn ids(out: &NormalizeOutcome) -> Vec<String> {
    out.rows.iter().map(|r| r.standard().p_row_id.clone()).collect()
}

#[test]
fn audit_stream_gives_15_rows_with_typed_columns() {
    let out = run(fixture!("audit-stream.hec"));
    assert_eq!((out.audit_records, out.network_records, out.quarantined.len()), (15, 0, 0));
    let rows = audit(&out);
    assert_eq!(rows.len(), 15);
    let first = rows[0];
    assert_eq!(first.event_name, "TAILNET.DISABLE.MAGIC_DNS");
    assert_eq!(first.origin, Some(crate::record::Origin::AdminConsole));
    assert_eq!(first.actor_login_name.as_deref(), Some("alice@example.com"));
    assert_eq!(first.p.p_event_time.to_string(), "2025-03-04 17:21:09.412");
    assert_eq!(first.recorded_time.unwrap().to_string(), "2025-03-04 17:21:09.871");
    assert_eq!(first.p.p_log_type, "Tailscale.Audit");
    assert_eq!(first.p.p_source_file, "raw/test/object");
    assert_eq!(first.p.p_any_emails, vec!["alice@example.com"]);
    assert_eq!(first.p.p_any_actor_ids, vec!["uodc9f3CNTRL"]);
    assert!(first.p.p_any_domain_names.contains(&"example.com".to_owned()));

    let acl = rows.iter().find(|r| r.event_name == "TAILNET.UPDATE.ACL").unwrap();
    let new: String = serde_json::from_str(acl.new.as_deref().unwrap()).unwrap();
    assert!(new.contains(r#""dst": ["*:*"]"#), "{new}");

    let key = rows.iter().find(|r| r.event_name == "API_KEY.CREATE").unwrap();
    let new: serde_json::Value = serde_json::from_str(key.new.as_deref().unwrap()).unwrap();
    assert_eq!(new["capabilities"]["devices"]["create"]["reusable"], true);
    assert_eq!(key.target_property, None);

    let tags = rows.iter().find(|r| r.event_name == "NODE.UPDATE.ACL_TAGS").unwrap();
    assert_eq!(tags.old.as_deref(), Some(r#""""#));
    assert_eq!(tags.target_is_ephemeral, Some(false));

    let worker = rows.iter().find(|r| r.event_name == "NODE.EXPIRED.KEY_EXPIRY_TIME").unwrap();
    assert_eq!(worker.actor_id, None, "empty actor id is absent, not \"\"");
    assert_eq!(worker.actor_type, Some(crate::record::ActorType::AutomatedWorker));

    let oauth = rows.iter().find(|r| r.event_name == "OAUTH_ACCESS_TOKEN.CREATE").unwrap();
    assert_eq!(oauth.action_details.as_deref(), Some("scopes - all:read"));
    assert_eq!(oauth.origin, Some(crate::record::Origin::ConfigApi));
}

#[test]
fn zstd_audit_stream_gives_the_same_rows_and_ids() {
    let plain = run(fixture!("audit-stream.hec"));
    let zst = run(fixture!("audit-stream.hec.zst"));
    assert_eq!(zst.audit_records, 15);
    assert_eq!(ids(&plain), ids(&zst));
    assert_eq!(plain.rows, zst.rows);
}

#[test]
fn row_ids_are_stable_and_distinct() {
    let a = ids(&run(fixture!("audit-stream.hec")));
    let b = ids(&run(fixture!("audit-stream.hec")));
    assert_eq!(a, b, "the same record always gets the same id");
    let mut all = a.clone();
    all.extend(ids(&run(fixture!("network-stream.hec"))));
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "no two rows share an id");
    assert!(a.iter().all(|id| id.len() == 32 && id.bytes().all(|c| c.is_ascii_hexdigit())));
}

#[test]
fn reindented_copies_of_a_record_share_an_id() {
    let compact = br#"{"eventTime":"2025-03-04T17:21:09Z","actor":{"id":"u1"},"action":"LOGIN","target":{"type":"ADMIN_CONSOLE"}}"#;
    let pretty = b"{\n  \"eventTime\": \"2025-03-04T17:21:09Z\",\n  \"actor\": {\"id\": \"u1\"},\n  \"action\": \"LOGIN\",\n  \"target\": {\"type\": \"ADMIN_CONSOLE\"}\n}\n";
    assert_eq!(ids(&run(compact)), ids(&run(pretty)));
    let other = br#"{"eventTime":"2025-03-04T17:21:09Z","actor":{"id":"u2"},"action":"LOGIN","target":{"type":"ADMIN_CONSOLE"}}"#;
    assert_ne!(ids(&run(compact)), ids(&run(other)));
}

#[test]
fn api_response_gives_3_rows_with_event_time_from_event_time() {
    let out = run(fixture!("audit-api-response.json"));
    assert_eq!((out.audit_records, out.quarantined.len()), (3, 0));
    let rows = audit(&out);
    assert_eq!(rows[0].p.p_event_time.to_string(), "2025-03-04 17:21:09.412");
    assert_eq!(rows[0].deferred_at, None, "Go zero time means unset");
    assert_eq!(rows[0].unknown_fields.as_deref(), Some(r#"{"type":"CONFIG"}"#));
    assert!(rows[2].error.as_deref().unwrap().starts_with("policy file test failed"));
}

#[test]
fn s3_export_gives_2_rows_with_logged_as_recorded_time() {
    let out = run(fixture!("audit-s3-export.ndjson"));
    let rows = audit(&out);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].p.p_event_time.to_string(), "2025-03-04 17:23:15.903");
    assert_eq!(rows[0].recorded_time.unwrap().to_string(), "2025-03-04 17:23:17.541");
    assert_eq!(rows[1].new.as_deref(), Some("{}"));
}

#[test]
fn network_stream_gives_15_rows_with_peers_and_derp() {
    let out = run(fixture!("network-stream.hec"));
    assert_eq!((out.network_records, out.quarantined.len()), (4, 0));
    let rows = network(&out);
    assert_eq!(rows.len(), 15);
    let kinds: Vec<&str> = rows.iter().map(|r| r.traffic_kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "virtual").count(), 5);
    assert_eq!(kinds.iter().filter(|k| **k == "physical").count(), 5);
    assert_eq!(kinds.iter().filter(|k| **k == "subnet").count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == "exit").count(), 2);

    let db = rows[0];
    assert_eq!(
        (db.node_id.as_str(), db.node_name.as_deref(), db.node_os.as_deref()),
        ("nWeb01aaCNTRL", Some("web-01.tail1a2b.ts.net"), Some("linux"))
    );
    assert_eq!(db.node_tags, vec!["tag:web"]);
    assert_eq!((db.proto, db.proto_name.as_deref()), (Some(6), Some("tcp")));
    assert_eq!(
        (db.src_ip.as_deref(), db.src_port, db.dst_ip.as_deref(), db.dst_port),
        (Some("100.101.7.12"), Some(51544), Some("100.88.20.5"), Some(5432))
    );
    assert_eq!((db.tx_pkts, db.tx_bytes, db.rx_pkts, db.rx_bytes), (212, 48811, 198, 1304457));
    assert_eq!(db.peer_node_id.as_deref(), Some("nBLYviWLGB21CNTRL"));
    assert_eq!(db.peer_tags, vec!["tag:db", "tag:prod"]);
    assert_eq!(db.window_start.unwrap().to_string(), "2025-03-04 17:40:00.118");
    assert_eq!(db.p.p_event_time.to_string(), "2025-03-04 17:40:02.619");

    let v6 = rows
        .iter()
        .find(|r| r.proto == Some(17) && r.traffic_kind == TrafficKind::Virtual)
        .unwrap();
    assert_eq!((v6.src_ip.as_deref(), v6.src_port), (Some("fd7a:115c:a1e0::6501:70c"), Some(41000)));
    assert_eq!(
        v6.peer_node_name.as_deref(),
        Some("db-01.tail1a2b.ts.net"),
        "peer resolved by IPv6 address"
    );
    assert_eq!((v6.rx_pkts, v6.rx_bytes), (0, 0), "omitted zero counters are 0");

    let derp = rows.iter().find(|r| r.derp_region.is_some()).unwrap();
    assert_eq!(derp.derp_region, Some(1));
    assert_eq!(
        derp.peer_user.as_deref(),
        Some("alice@example.com"),
        "physical peer resolved from src"
    );
    assert_eq!(derp.proto, None);

    let anonymized = rows
        .iter()
        .find(|r| r.traffic_kind == TrafficKind::Exit && r.src_ip.is_none())
        .unwrap();
    assert_eq!(
        (anonymized.dst_ip.as_deref(), anonymized.dst_port),
        (Some("100.92.240.74"), Some(0))
    );
    assert_eq!(anonymized.peer_node_name.as_deref(), Some("laptop-42.tail1a2b.ts.net"));

    let old = rows.iter().find(|r| r.node_id == "nOldNas1CNTRL").unwrap();
    assert_eq!(
        (old.node_name.as_deref(), old.peer_node_id.as_deref()),
        (None, None),
        "old clients carry no node info"
    );
    assert_eq!(
        (old.src_ip.as_deref(), old.dst_ip.as_deref()),
        (Some("100.77.3.9"), Some("100.92.240.74"))
    );
    assert!(
        old.p.p_any_ip_addresses.is_empty(),
        "network rows carry no indicator arrays: the columns are the indicators"
    );
}

#[test]
fn gzip_network_stream_gives_the_same_rows() {
    let a = run(fixture!("network-stream.hec"));
    let b = run(fixture!("network-stream.hec.gz"));
    assert_eq!(a.rows, b.rows);
}

#[test]
fn network_api_and_export_shapes() {
    let api = run(fixture!("network-api-response.json"));
    assert_eq!((api.network_records, api.rows.len()), (1, 2));
    assert_eq!(
        api.rows[0].standard().p_event_time.to_string(),
        "2025-03-04 17:40:07.330",
        "logged when no envelope"
    );
    let export = run(fixture!("network-s3-export.ndjson"));
    assert_eq!((export.network_records, export.rows.len()), (1, 1));
}

#[test]
fn bad_truncated_is_quarantined_as_invalid_json() {
    let out = run(fixture!("bad/truncated.hec"));
    assert!(out.rows.is_empty());
    assert_eq!(out.quarantined.len(), 1);
    let q = &out.quarantined[0];
    assert_eq!(q.reason, ReasonCode::InvalidJson);
    assert!(q.message.contains("truncated"), "{}", q.message);
    assert_eq!(q.original.as_bytes(), fixture!("bad/truncated.hec").trim_ascii_end());
}

#[test]
fn bad_not_json_is_quarantined() {
    let out = run(fixture!("bad/not-json.txt"));
    assert_eq!(out.quarantined.len(), 1);
    assert_eq!(out.quarantined[0].reason, ReasonCode::InvalidJson);
    assert_eq!(out.quarantined[0].original, "this is not json");
}

#[test]
fn bad_wrong_types_names_the_field() {
    let out = run(fixture!("bad/wrong-types.hec"));
    assert_eq!(out.quarantined.len(), 1);
    let q = &out.quarantined[0];
    assert_eq!(q.reason, ReasonCode::InvalidField);
    // An unusable time is no longer fatal by itself (the next source is tried), so the record's
    // own wrong field is what is named.
    assert_eq!(q.field.as_deref(), Some("nodeId"));
    assert!(q.message.contains("expected a string"), "{}", q.message);
    // With a valid envelope the record's own field is named, with its path.
    let body = br#"{"time":1741108869.412,"event":{"nodeId":42,"virtualTraffic":[]}}"#;
    let q = &run(body).quarantined[0];
    assert_eq!(q.field.as_deref(), Some("nodeId"));
    assert!(q.message.contains("expected a string"), "{}", q.message);
    let body = br#"{"nodeId":"n","virtualTraffic":[{"txBytes":-5}]}"#;
    let q = &run(body).quarantined[0];
    assert_eq!(q.field.as_deref(), Some("virtualTraffic.txBytes"));
    // `fields` that is not an object is still a field error; a `recorded` that is no usable time
    // is kept in unknown_fields while `time` gives the event time.
    let body = br#"{"time":1741108869.412,"event":{"nodeId":"n","virtualTraffic":[]},"fields":7}"#;
    assert_eq!(run(body).quarantined[0].field.as_deref(), Some("fields"));
    let body = br#"{"time":1741108869.412,"event":{"actor":{"id":"a"},"action":"LOGIN"},"fields":{"recorded":7}}"#;
    let out = run(body);
    let row = audit(&out)[0];
    assert_eq!((row.event_time_source.as_str(), row.recorded_time), ("time", None));
    assert_eq!(row.unknown_fields.as_deref(), Some(r#"{"fields.recorded":7}"#));
    // Every time unusable: quarantined, naming each raw value.
    let body = br#"{"time":"yesterday","event":{"actor":{"id":"a"},"action":"LOGIN"},"fields":{"recorded":"soon"}}"#;
    let q = &run(body).quarantined[0];
    assert_eq!((q.reason, q.field.as_deref()), (ReasonCode::InvalidField, Some("time")));
    assert!(
        q.message.contains(r#""yesterday""#) && q.message.contains(r#""soon""#),
        "{}",
        q.message
    );
}

#[test]
fn bad_unknown_shape_is_kept_as_unrecognized() {
    let out = run(fixture!("bad/unknown-shape.hec"));
    assert_eq!(out.quarantined.len(), 1);
    let q = &out.quarantined[0];
    assert_eq!(q.reason, ReasonCode::UnrecognizedRecord);
    assert!(q.message.starts_with("unrecognized record"));
    assert!(q.original.contains(r#""hello":"world""#), "the whole envelope is kept");
}

#[test]
fn bad_mixed_ndjson_accepts_two_and_quarantines_line_two() {
    let out = run(fixture!("bad/mixed-good-and-bad.ndjson"));
    assert_eq!(out.audit_records, 2);
    assert_eq!(out.quarantined.len(), 1);
    assert_eq!(out.quarantined[0].line, 2);
    assert_eq!(out.quarantined[0].value_index, 1);
}

#[test]
fn bad_deep_nesting_is_quarantined_without_crashing() {
    let out = run(fixture!("bad/deep-nesting.json"));
    assert!(out.rows.is_empty());
    assert_eq!(out.quarantined.len(), 1);
    assert!(out.quarantined[0].original_bytes >= 199_000);
    // Deep nesting inside a record hits the parser's recursion limit and is named.
    // Deep nesting inside a known member hits the parser's recursion limit and is named; inside an
    // unknown member it is kept verbatim (it is skipped, never recursed into).
    let mut body = br#"{"nodeId":"n","virtualTraffic":[{"txBytes":1}],"srcNode":{"tags":"#.to_vec();
    body.extend(std::iter::repeat_n(b'[', 5000));
    body.extend(std::iter::repeat_n(b']', 5000));
    body.extend(b"}}");
    let out = run(&body);
    assert_eq!(out.quarantined.len(), 1);
    assert_eq!(
        out.quarantined[0].field.as_deref(),
        Some("srcNode.tags"),
        "{}",
        out.quarantined[0].message
    );
    let mut body = br#"{"nodeId":"n","virtualTraffic":[{"txBytes":1}],"x":"#.to_vec();
    body.extend(std::iter::repeat_n(b'[', 5000));
    body.extend(std::iter::repeat_n(b']', 5000));
    body.push(b'}');
    let out = run(&body);
    assert_eq!((out.rows.len(), out.quarantined.len()), (1, 0));
    assert_eq!(network(&out)[0].unknown_fields.as_ref().unwrap().len(), 10_006);
}

#[test]
fn unknown_members_are_kept_at_every_level() {
    let body = br#"{"eventTime":"2025-03-04T17:21:09Z","actor":{"id":"u1","mfa":true},"action":"LOGIN","target":{"type":"ADMIN_CONSOLE","region":"eu"},"futureField":{"x":[1,2]}}"#;
    let out = run(body);
    let row = audit(&out)[0];
    let unknown: serde_json::Value = serde_json::from_str(row.unknown_fields.as_deref().unwrap()).unwrap();
    assert_eq!(unknown["futureField"]["x"][1], 2);
    assert_eq!(unknown["actor.mfa"], true);
    assert_eq!(unknown["target.region"], "eu");

    let body =
        br#"{"nodeId":"n","virtualTraffic":[{"proto":"tcp","src":"100.64.0.1:1","dst":"100.64.0.2:2","newCounter":9}],"sampling":0.5}"#;
    let out = run(body);
    let row = network(&out)[0];
    let unknown: serde_json::Value = serde_json::from_str(row.unknown_fields.as_deref().unwrap()).unwrap();
    assert_eq!(unknown["sampling"], 0.5);
    assert_eq!(unknown["entry.newCounter"], 9);
    assert_eq!(row.proto, Some(6), "proto names map to numbers");
}

#[test]
fn open_enums_keep_new_values() {
    let body = br#"{"actor":{"type":"ROBOT"},"action":"TELEPORT","origin":"MARS","target":{"type":"STARSHIP","property":"WARP"}}"#;
    let out = run(body);
    let row = audit(&out)[0];
    assert_eq!(row.event_name, "STARSHIP.TELEPORT.WARP");
    assert_eq!(row.origin.as_ref().unwrap().as_str(), "MARS");
    assert_eq!(row.p.p_event_time, ctx().parse_time, "no time anywhere: parse time");
}

#[test]
fn counters_use_the_full_u64_range_and_reject_beyond() {
    let body = br#"{"nodeId":"n","virtualTraffic":[{"txBytes":18446744073709551615}]}"#;
    assert_eq!(network(&run(body))[0].tx_bytes, u64::MAX);
    let body = br#"{"nodeId":"n","virtualTraffic":[{"txBytes":18446744073709551616}]}"#;
    let out = run(body);
    assert_eq!(out.quarantined[0].reason, ReasonCode::InvalidField);
    assert_eq!(out.quarantined[0].field.as_deref(), Some("virtualTraffic.txBytes"));
}

fn tailwatch_time_range_start() -> crate::time::Timestamp {
    crate::time::LAKE_RANGE_START
}

#[test]
fn every_written_key_is_a_declared_column() {
    let mut out = run(fixture!("audit-stream.hec"));
    out.merge(run(fixture!("network-stream.hec")));
    out.merge(run(fixture!("bad/mixed-good-and-bad.ndjson")));
    let mut seen = std::collections::BTreeSet::new();
    for row in &out.rows {
        let mut line = Vec::new();
        row.write_json_line(&mut line);
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        for key in value.as_object().unwrap().keys() {
            // Network rows carry their nodes' facts in memory only (the lake has tailscale_nodes).
            assert!(
                row.table().all_columns().any(|c| c.name == key)
                    || (matches!(row, LakeRow::Network(_)) && crate::lake::NETWORK_NODE_FACTS.contains(&key.as_str())),
                "{key} is not a column of {}",
                row.table().name
            );
            seen.insert((row.table().name, key.clone()));
        }
        // And rows read back equal rows written (backtests and detect read the lake).
        assert_eq!(&LakeRow::from_json_line(row.table(), &line).unwrap(), row);
        // The lake's form: the same columns, less the per-object facts of network rows.
        let mut lake_line = Vec::new();
        row.write_lake_line(&mut lake_line);
        let back = LakeRow::from_json_line(row.table(), &lake_line).unwrap();
        match (row, back) {
            (LakeRow::Audit(_), back) => assert_eq!(&back, row),
            (LakeRow::Network(written), LakeRow::Network(mut back)) => {
                assert!(lake_line.len() < line.len());
                assert_eq!((back.p.p_source_file.as_str(), back.p.p_source_label.as_str()), ("", ""));
                assert_eq!(back.p.p_parse_time, tailwatch_time_range_start());
                back.p.p_source_file.clone_from(&written.p.p_source_file);
                back.p.p_source_label.clone_from(&written.p.p_source_label);
                back.p.p_parse_time = written.p.p_parse_time;
                // Node facts are not on the lake's connection rows: tailscale_nodes has them.
                let lake_keys: serde_json::Value = serde_json::from_slice(&lake_line).unwrap();
                for key in lake_keys.as_object().unwrap().keys() {
                    assert!(row.table().all_columns().any(|c| c.name == key), "lake line key {key}");
                }
                assert_eq!((back.node_name.as_deref(), back.peer_node_name.as_deref()), (None, None));
                back.node_name.clone_from(&written.node_name);
                back.node_os.clone_from(&written.node_os);
                back.node_user.clone_from(&written.node_user);
                back.node_tags.clone_from(&written.node_tags);
                back.peer_node_name.clone_from(&written.peer_node_name);
                back.peer_os.clone_from(&written.peer_os);
                back.peer_user.clone_from(&written.peer_user);
                back.peer_tags.clone_from(&written.peer_tags);
                assert_eq!(&back, written, "a network row reads back whole but for the per-object facts");
            }
            (LakeRow::Network(_), other) => panic!("read back as {other:?}"),
        }
    }
    for q in &out.quarantined {
        let value = serde_json::to_value(q).unwrap();
        for key in value.as_object().unwrap().keys() {
            assert!(crate::lake::TAILWATCH_QUARANTINE.all_columns().any(|c| c.name == key), "{key}");
        }
    }
    // Columns the fixtures exercise: most of each table.
    for table in &TABLES[..2] {
        let used = seen.iter().filter(|(t, _)| *t == table.name).count();
        assert!(
            used * 10 >= table.all_columns().count() * 8,
            "{}: only {used} columns exercised",
            table.name
        );
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn ident() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9@._:-]{1,24}"
    }

    fn endpoint() -> impl Strategy<Value = (String, String, u16)> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| {
                let ip = std::net::Ipv4Addr::from(ip).to_string();
                (format!("{ip}:{port}"), ip, port)
            }),
            (any::<[u16; 8]>(), any::<u16>()).prop_map(|(ip, port)| {
                let ip = std::net::Ipv6Addr::from(ip).to_string();
                (format!("[{ip}]:{port}"), ip, port)
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn audit_fields_round_trip(
            group in "[0-9a-f]{32}", actor_id in ident(), login in ident(), target_id in ident(), target_name in ident(),
            action in prop::sample::select(vec!["CREATE", "UPDATE", "DISABLE", "SOMETHING_NEW"]),
            property in prop::option::of(prop::sample::select(vec!["MAGIC_DNS", "ACL", "FUTURE_PROP"])),
            secs in 0i64..4_000_000_000, millis in 0i64..1000, details in prop::option::of("[ -~]{0,40}"),
            new in prop::option::of(any::<i64>()),
        ) {
            let mut event = serde_json::json!({
                "eventGroupID": group, "origin": "CONFIG_API", "action": action,
                "actor": {"id": actor_id, "type": "USER", "loginName": login},
                "target": {"id": target_id, "name": target_name, "type": "TAILNET"},
            });
            if let Some(p) = property { event["target"]["property"] = p.into(); }
            if let Some(d) = &details { event["actionDetails"] = d.clone().into(); }
            if let Some(n) = new { event["new"] = n.into(); }
            let time = secs as f64 + millis as f64 / 1000.0;
            let body = serde_json::to_vec(&serde_json::json!({"time": time, "event": event})).unwrap();
            let out = run(&body);
            // The lake holds 2019-01-01 up to a day after the parse time (2026-01-01 here).
            let ms = secs * 1000 + millis;
            if !(1_546_300_800_000..=1_767_225_600_000 + 86_400_000).contains(&ms) {
                prop_assert_eq!(out.rows.len(), 0);
                let q = &out.quarantined[0];
                prop_assert_eq!(q.reason, ReasonCode::TimeOutOfRange);
                prop_assert_eq!(q.field.as_deref(), Some("time"));
                prop_assert!(q.message.contains(&time.to_string()), "{}", q.message);
                return Ok(());
            }
            prop_assert_eq!(out.quarantined.len(), 0);
            let row = audit(&out)[0].clone();
            prop_assert_eq!(row.event_group_id.as_deref(), Some(group.as_str()));
            prop_assert_eq!(row.action.as_str(), action);
            prop_assert_eq!(row.actor_id.as_deref(), Some(actor_id.as_str()));
            prop_assert_eq!(row.actor_login_name.as_deref(), Some(login.as_str()));
            prop_assert_eq!(row.target_name.as_deref(), Some(target_name.as_str()));
            prop_assert_eq!(row.target_property.as_ref().map(|p| p.as_str()), property);
            prop_assert_eq!(row.action_details.as_deref(), details.as_deref().filter(|d| !d.is_empty()));
            prop_assert_eq!(row.new.as_deref().map(|n| n.parse::<i64>().unwrap()), new);
            prop_assert_eq!(row.p.p_event_time.unix_millis(), ms);
            prop_assert_eq!(row.event_time_source.as_str(), "time");
        }

        #[test]
        fn network_fields_round_trip(
            (src, src_ip, src_port) in endpoint(), (dst, dst_ip, dst_port) in endpoint(),
            counters in any::<[u64; 4]>(), proto in any::<u8>(),
            kind in prop::sample::select(vec!["virtualTraffic", "subnetTraffic", "exitTraffic", "physicalTraffic"]),
        ) {
            let mut entry = serde_json::json!({"proto": proto, "src": src, "dst": dst});
            for (k, v) in ["txPkts", "txBytes", "rxPkts", "rxBytes"].iter().zip(counters) {
                if v != 0 { entry[*k] = v.into(); }
            }
            let record = serde_json::json!({"nodeId": "nX", "start": "2025-03-04T17:40:00Z", "end": "2025-03-04T17:40:05Z", kind: [entry]});
            let out = run(&serde_json::to_vec(&record).unwrap());
            prop_assert_eq!(out.quarantined.len(), 0);
            let row = network(&out)[0].clone();
            prop_assert_eq!(row.traffic_kind.as_str(), kind.trim_end_matches("Traffic"));
            prop_assert_eq!(row.proto, Some(proto));
            prop_assert_eq!((row.src_ip.as_deref(), row.src_port), (Some(src_ip.as_str()), Some(src_port)));
            prop_assert_eq!((row.dst_ip.as_deref(), row.dst_port), (Some(dst_ip.as_str()), Some(dst_port)));
            prop_assert_eq!([row.tx_pkts, row.tx_bytes, row.rx_pkts, row.rx_bytes], counters);
            prop_assert_eq!(row.p.p_event_time.to_string(), "2025-03-04 17:40:00.000");
        }

        #[test]
        fn normalization_never_panics_on_arbitrary_json(value in arbitrary_json()) {
            let body = serde_json::to_vec(&value).unwrap();
            let out = normalize_body(&body, &ctx());
            // Every object is either a record or quarantined, unless it is an (empty) `logs` container.
            let container = value.get("logs").is_some_and(|l| l.is_array());
            prop_assert!(out.records() + out.quarantined.len() >= usize::from(value.is_object() && !container));
        }
    }

    fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            prop::sample::select(vec!["nodeId", "actor", "action", "tcp", "1.2.3.4:5", "2025-03-04T17:40:00Z"])
                .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "nodeId",
                        "actor",
                        "action",
                        "target",
                        "virtualTraffic",
                        "src",
                        "dst",
                        "proto",
                        "txBytes",
                        "event",
                        "logs",
                        "time",
                        "id"
                    ])
                    .prop_map(str::to_owned),
                    inner,
                    0..5
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}

#[test]
fn chunks_bound_rows_keep_records_whole_and_add_up_to_the_whole_body() {
    use crate::pipeline::normalize_chunks;
    let mut body = Vec::new();
    for f in [
        fixture!("network-stream.hec"),
        fixture!("audit-stream.hec"),
        b"{not json}\n".as_slice(),
    ] {
        body.extend_from_slice(f);
        body.push(b'\n');
    }
    let whole = normalize_body(&body, &ctx());
    assert!(whole.rows.len() > 10, "the body must span several chunks of 4 rows");
    let ctx = ctx();
    let chunks: Vec<NormalizeOutcome> = normalize_chunks(&body, &ctx, 4).collect();
    assert!(chunks.len() > 2);
    // A chunk closes after the record that reaches the limit: every chunk but the last has at least
    // 4 rows and fewer than 4 + the largest record's rows (with a limit of 1, a chunk is one record).
    let max_record_rows = normalize_chunks(&body, &ctx, 1).map(|c| c.rows.len()).max().unwrap();
    assert!(max_record_rows > 1 && max_record_rows < whole.rows.len());
    let (last, full) = chunks.split_last().unwrap();
    assert!(full.iter().all(|c| c.rows.len() >= 4 && c.rows.len() < 4 + max_record_rows));
    assert!(last.rows.len() < 4 + max_record_rows);
    let mut merged = NormalizeOutcome::default();
    for c in chunks {
        merged.merge(c);
    }
    let ids = |o: &NormalizeOutcome| o.rows.iter().map(|r| r.standard().p_row_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&merged), ids(&whole), "same rows, same order");
    assert_eq!(
        (merged.audit_records, merged.network_records, merged.quarantined.len()),
        (whole.audit_records, whole.network_records, whole.quarantined.len())
    );
    assert_eq!(merged.quarantined.len(), 1);
    // An empty body still yields one (empty) chunk, so callers always see an outcome.
    let empty: Vec<NormalizeOutcome> = normalize_chunks(b"", &ctx, 4).collect();
    assert_eq!(empty.len(), 1);
    assert!(empty[0].rows.is_empty() && empty[0].quarantined.is_empty());
}
