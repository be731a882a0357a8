"""The saved Athena queries in infra/athena/queries run unchanged in DuckDB over the lake
`tailwatch replay` writes, through views named and typed exactly like the Athena tables (columns
from infra/athena/<table>.sql, dt/hour as strings), and give the answers the fixtures imply.

The only substitution: `current_timestamp` becomes a fixed time just after the newest row of the
table the query reads, because the fixtures are from 2025-03-04 (quarantine rows carry the time
they were rejected)."""
import gzip
import json
import re

import duckdb
import pytest

from infra_support import DUCKDB_TYPES, QUERIES, athena_tables

FIXTURES = [
    "audit-stream.hec",
    "audit-api-response.json",
    "audit-s3-export.ndjson",
    "network-stream.hec.gz",
    "network-api-response.json",
    "network-s3-export.ndjson",
    "bad/mixed-good-and-bad.ndjson",
    "bad/wrong-types.hec",
    "bad/unknown-shape.hec",
]


def table_dir(data, name):
    return data / ("quarantine" if name == "tailwatch_quarantine" else "lake") / name


@pytest.fixture()
def lake(replay):
    data = replay(*FIXTURES)
    con = duckdb.connect()
    for name, t in athena_tables().items():
        columns = ", ".join(f"'{c}': '{DUCKDB_TYPES[ty]}'" for c, ty, _ in t["columns"])
        con.sql(
            f"create view {name} as select * from read_json('{table_dir(data, name)}/*/*/*.json.gz', "
            f"format='newline_delimited', hive_partitioning=true, hive_types={{'dt': 'VARCHAR', 'hour': 'VARCHAR'}}, "
            f"columns={{{columns}}})"
        )
    return data, con


def rows(data, name):
    out = []
    for f in sorted(table_dir(data, name).glob("*/*/*.json.gz")):
        out += [json.loads(line) for line in gzip.decompress(f.read_bytes()).splitlines()]
    return out


def run(con, path, params=()):
    sql = path.read_text()
    table = re.search(r"\bFROM (\w+)", sql).group(1)
    now = con.sql(f"select strftime(max(p_event_time) + interval 1 minute, '%Y-%m-%d %H:%M:%S') from {table}").fetchone()[0]
    assert "current_timestamp" in sql, f"{path.name}: time windows are relative to current_timestamp"
    sql = sql.replace("current_timestamp", f"TIMESTAMP '{now}'")
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def test_policy_file_changes_this_week(lake):
    data, con = lake
    got = run(con, QUERIES / "policy_file_changes_this_week.sql")
    expected = [r for r in rows(data, "tailscale_audit") if r.get("target_property") == "ACL"]
    assert len(got) == len(expected) == 2
    assert {(r["actor"], r["succeeded"]) for r in got} == {("alice@example.com", True), ("k3F261FC38A07CNTRL", False)}
    assert [r["p_event_time"] for r in got] == sorted((r["p_event_time"] for r in got), reverse=True)
    assert all(r["new_policy_chars"] > 0 for r in got if r["succeeded"])


def test_top_talkers_24h(lake):
    data, con = lake
    got = run(con, QUERIES / "top_talkers_24h.sql")
    assert got and all(r["traffic_kind"] != "physical" for r in got)
    totals = [r["total_bytes"] for r in got]
    assert totals == sorted(totals, reverse=True)
    # Independently, from the lake files.
    # Names from tailscale_nodes: per node, the name of its row seen last.
    names = {}
    for n in sorted(rows(data, "tailscale_nodes"), key=lambda n: n["last_seen"]):
        if n.get("node_name"):
            names[n["node_id"]] = n["node_name"]
    assert names, "the network fixtures name their nodes"
    expected = {}
    for r in rows(data, "tailscale_network"):
        if r["traffic_kind"] == "physical":
            continue
        assert "node_name" not in r and "peer_node_name" not in r, "names live in tailscale_nodes"
        key = (names.get(r["node_id"], r["node_id"]), names.get(r.get("peer_node_id")) or r.get("dst_ip") or "(not reported)", r["traffic_kind"])
        expected[key] = expected.get(key, 0) + r.get("tx_bytes", 0) + r.get("rx_bytes", 0)
    assert {(r["node"], r["peer"], r["traffic_kind"]): r["total_bytes"] for r in got} == expected
    assert sum(r["connections"] for r in got) == sum(1 for r in rows(data, "tailscale_network") if r["traffic_kind"] != "physical")
    assert "web-01.tail1a2b.ts.net" in {r["node"] for r in got}


def test_actor_activity(lake):
    data, con = lake
    path = QUERIES / "actor_activity.sql"
    alice = [r for r in rows(data, "tailscale_audit") if r.get("actor_login_name") == "alice@example.com"]
    by_login = run(con, path, ["alice@example.com"])
    assert len(by_login) == len(alice) > 5
    assert {r["p_row_id"] for r in by_login} == {r["p_row_id"] for r in alice}
    assert "TAILNET.DISABLE.MAGIC_DNS" in {r["event_name"] for r in by_login}
    # The same actor by id; an OAuth client (no login name) by its id.
    assert len(run(con, path, [alice[0]["actor_id"]])) == len(alice)
    oauth = run(con, path, ["k3F261FC38A07CNTRL"])
    assert oauth and {r["origin"] for r in oauth} == {"CONFIG_API"}
    assert run(con, path, ["nobody@example.com"]) == []


def test_alerts_by_detection_this_week(lake):
    data, con = lake
    got = run(con, QUERIES / "alerts_by_detection_this_week.sql")
    alerts = rows(data, "tailwatch_alerts")
    assert alerts, "replay of audit-stream.hec raises alerts"
    assert {r["detection"] for r in got} == {a["id"] for a in alerts}
    assert sum(r["notifications"] for r in got) == len(alerts)
    assert "Tailscale.MagicDNS.Disabled" in {r["detection"] for r in got}
    assert all(r["alerts"] >= 1 and r["events"] >= 1 for r in got)


def test_quarantine_reasons(lake):
    data, con = lake
    got = run(con, QUERIES / "quarantine_reasons.sql")
    assert {(r["reason"], r["field"], r["rejected"]) for r in got} == {
        ("invalid_json", "", 1),
        ("invalid_field", "nodeId", 1),
        ("unrecognized_record", "", 1),
    }
    assert all(r["example_message"] and r["example_source"] for r in got)


def test_every_saved_query_is_tested():
    tested = {n[len("test_") :] for n in globals() if n.startswith("test_") and n != "test_every_saved_query_is_tested"}
    assert {p.stem for p in QUERIES.glob("*.sql")} == tested
