"""A real engine that is not ours (DuckDB) reads the lake `tailwatch replay` writes: hive
partitions, gzip NDJSON, typed columns."""
import json

import duckdb

from conftest import FIXTURES


def table(data, name):
    return f"read_json('{data}/lake/{name}/*/*/*.json.gz', format='newline_delimited', hive_partitioning=true, union_by_name=true)"


def test_audit_rows_counts_and_types(replay):
    data = replay("audit-stream.hec", "audit-api-response.json", "audit-s3-export.ndjson")
    con = duckdb.connect()
    t = table(data, "tailscale_audit")
    assert con.sql(f"select count(*) from {t}").fetchone()[0] == 15 + 3 + 2
    # Partition columns come from the path; timestamps are typed.
    dt, hour, ts_type = con.sql(f"select distinct dt, hour, typeof(p_event_time) from {t}").fetchone()
    assert (str(dt), hour, ts_type) == ("2025-03-04", 17, "TIMESTAMP")
    row = con.sql(
        f"select actor_login_name, origin, strftime(p_event_time, '%Y-%m-%d %H:%M:%S.%g') "
        f"from {t} where event_name = 'TAILNET.DISABLE.MAGIC_DNS' and p_source_file like '%audit-stream.hec'"
    ).fetchone()
    assert row == ("alice@example.com", "ADMIN_CONSOLE", "2025-03-04 17:21:09.412")
    # The policy file's new value is JSON text that DuckDB's JSON functions read.
    acl = con.sql(f"select json_extract_string(new, '$') from {t} where event_name = 'TAILNET.UPDATE.ACL' and error is null").fetchone()[0]
    assert '"*:*"' in acl
    emails = con.sql(f"select count(*) from {t} where list_contains(p_any_emails, 'bob@example.com')").fetchone()[0]
    # bob created an auth key (stream and export copies) and was the target of alice's role change.
    assert emails == 3


def test_network_rows_counts_and_counters(replay):
    data = replay("network-stream.hec.gz")
    con = duckdb.connect()
    t = table(data, "tailscale_network")
    assert con.sql(f"select count(*) from {t}").fetchone()[0] == 15
    # Sum of bytes sent, computed independently from the fixture with Python's json module.
    expected = 0
    body = (FIXTURES / "network-stream.hec").read_text()
    decoder = json.JSONDecoder()
    pos = 0
    while pos < len(body):
        env, pos = decoder.raw_decode(body, pos)
        for k, v in env["event"].items():
            if k.endswith("Traffic"):
                expected += sum(e.get("txBytes", 0) for e in v)
    assert con.sql(f"select sum(tx_bytes)::bigint from {t}").fetchone()[0] == expected
    assert con.sql(f"select typeof(tx_bytes) from {t} limit 1").fetchone()[0] in ("BIGINT", "UBIGINT")
    by_kind = dict(con.sql(f"select traffic_kind, count(*) from {t} group by 1").fetchall())
    assert by_kind == {"virtual": 5, "physical": 5, "subnet": 3, "exit": 2}
    derp = con.sql(f"select derp_region, peer_node_id from {t} where derp_region is not null").fetchall()
    assert derp == [(1, "nLaptop42CNTRL")]


def test_connections_join_nodes_for_names(replay):
    """Connection rows carry node ids only; tailscale_nodes (one row per node per lake object)
    gives names, OS, users and tags by a join on node_id / peer_node_id."""
    data = replay("network-stream.hec.gz", "network-s3-export.ndjson")
    con = duckdb.connect()
    t = table(data, "tailscale_network")
    nodes = table(data, "tailscale_nodes")
    # Nodes are deduplicated per lake object: one row per node id per file.
    per_file = con.sql(
        f"select count(*), count(distinct (node_id, filename)) from read_json('{data}/lake/tailscale_nodes/*/*/*.json.gz', "
        f"format='newline_delimited', hive_partitioning=true, union_by_name=true, filename=true)"
    ).fetchone()
    assert per_file[0] == per_file[1] > 0
    columns = {c[0] for c in con.sql(f"describe select * from {t}").fetchall()}
    assert not columns & {"node_name", "node_os", "node_user", "node_tags", "peer_node_name", "peer_user", "peer_tags"}
    got = con.sql(
        f"""
        with names as (select node_id, max_by(node_name, last_seen) as name, max_by(node_tags, last_seen) as tags,
                              max_by(node_user, last_seen) as usr
                       from {nodes} group by node_id)
        select c.derp_region, n.name, n.tags, p.name, p.usr
        from {t} c left join names n on n.node_id = c.node_id left join names p on p.node_id = c.peer_node_id
        where c.derp_region is not null
        """
    ).fetchall()
    assert (1, "web-01.tail1a2b.ts.net", ["tag:web"], "laptop-42.tail1a2b.ts.net", "alice@example.com") in got


def test_quarantine_is_a_queryable_table(replay):
    data = replay("bad/mixed-good-and-bad.ndjson", "bad/wrong-types.hec")
    con = duckdb.connect()
    rows = con.sql(
        f"select reason, field, line from read_json('{data}/quarantine/tailwatch_quarantine/*/*/*.json.gz', "
        f"format='newline_delimited', hive_partitioning=true, union_by_name=true) order by reason"
    ).fetchall()
    assert rows == [("invalid_field", "nodeId", 1), ("invalid_json", None, 2)]
