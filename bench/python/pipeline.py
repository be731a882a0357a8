"""The Python baseline of tailwatch's network path, for `tailwatch-bench` (stdlib only).

The same work as normalize + the network detections, written the way a small Python pipeline would
be: parse the HEC body (concatenated JSON envelopes), one row per connection with the lake's
network columns, NDJSON out (to memory), and the network detections' logic in simple form
(per-hour sets and sums in dicts). Prints one JSON line: bytes, rows, alerts, cpu_seconds (the
median of the runs, process CPU time), runs.

    python3 bench/python/pipeline.py BODY.hec [MIN_SECONDS]
"""

import datetime
import hashlib
import ipaddress
import json
import sys
import time

ADMIN_PORTS = {22, 3389, 5985, 5986, 445, 135, 5900}
PROTO = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp"}
KINDS = (("virtualTraffic", "virtual"), ("subnetTraffic", "subnet"),
         ("exitTraffic", "exit"), ("physicalTraffic", "physical"))


def envelopes(body):
    """The envelopes of a HEC body: JSON objects with or without whitespace between them."""
    dec = json.JSONDecoder()
    text = body.decode("utf-8")
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            break
        obj, i = dec.raw_decode(text, i)
        yield obj


def split_hostport(s):
    host, _, port = s.rpartition(":")
    host = host.strip("[]")
    return str(ipaddress.ip_address(host)), int(port or 0)


def hour(ts):
    return ts[:13]


def normalize(body, label, source_file, parse_time):
    rows = []
    for env in envelopes(body):
        rec = env.get("event") or {}
        node_id = rec.get("nodeId")
        if not node_id:
            continue
        src = rec.get("srcNode") or {}
        peers = {}
        for peer in rec.get("dstNodes") or []:
            for a in peer.get("addresses") or []:
                peers[a] = peer
        start = rec.get("start", "")
        end = rec.get("end", "")
        event_time = datetime.datetime.fromisoformat(end[:26].rstrip("Z") if end else "1970-01-01")
        for field, kind in KINDS:
            for c in rec.get(field) or []:
                src_ip, src_port = split_hostport(c.get("src", "0.0.0.0:0"))
                dst_ip, dst_port = split_hostport(c.get("dst", "0.0.0.0:0"))
                peer = peers.get(dst_ip) or {}
                proto = c.get("proto", 0)
                row = {
                    "p_log_type": "Tailscale.Network",
                    "p_row_id": hashlib.blake2b(json.dumps(c, sort_keys=True).encode() + node_id.encode(), digest_size=16).hexdigest(),
                    "p_event_time": event_time.isoformat() + "Z",
                    "p_parse_time": parse_time,
                    "p_source_label": label,
                    "p_source_file": source_file,
                    "node_id": node_id,
                    "node_name": src.get("name"),
                    "node_os": src.get("os"),
                    "node_user": src.get("user"),
                    "node_tags": src.get("tags") or [],
                    "window_start": start,
                    "window_end": end,
                    "traffic_kind": kind,
                    "proto": proto,
                    "proto_name": PROTO.get(proto, str(proto)),
                    "src_ip": src_ip,
                    "src_port": src_port,
                    "dst_ip": dst_ip,
                    "dst_port": dst_port,
                    "tx_pkts": c.get("txPkts", 0),
                    "tx_bytes": c.get("txBytes", 0),
                    "rx_pkts": c.get("rxPkts", 0),
                    "rx_bytes": c.get("rxBytes", 0),
                    "peer_node_id": peer.get("nodeId"),
                    "peer_node_name": peer.get("name"),
                    "peer_os": peer.get("os"),
                    "peer_user": peer.get("user"),
                    "peer_tags": peer.get("tags") or [],
                }
                rows.append(row)
    return rows


def detect(rows, state):
    """LateralAdminPort, PortScan, NewUnderlayEndpoint, LargeTransfer, ExitEgressSpike, simply."""
    alerts = []
    for r in rows:
        h = hour(r["window_start"])
        kind = r["traffic_kind"]
        if kind == "virtual" and r["dst_port"] in ADMIN_PORTS and r["peer_node_id"]:
            key = ("lateral", r["node_id"], h)
            s = state.setdefault(key, set())
            s.add((r["peer_node_id"], r["dst_port"]))
            if len(s) == 3 or (r["node_tags"] and not r["peer_tags"] and len(s) == 1):
                alerts.append(("LateralAdminPort", r["node_id"]))
        if kind in ("virtual", "subnet") and r["proto"] in (6, 17):
            key = ("scan", r["node_id"], r["dst_ip"], h)
            s = state.setdefault(key, set())
            s.add(r["dst_port"])
            if len(s) == 25:
                alerts.append(("PortScan", r["node_id"]))
        if kind == "physical":
            key = ("underlay", r["node_id"])
            s = state.setdefault(key, set())
            if r["dst_ip"] not in s:
                s.add(r["dst_ip"])
                if len(s) > 1:
                    alerts.append(("NewUnderlayEndpoint", r["node_id"]))
        if kind == "exit":
            key = ("egress", r["node_id"], h)
            state[key] = state.get(key, 0) + r["tx_bytes"]
            if state[key] - r["tx_bytes"] < 10 << 30 <= state[key]:
                alerts.append(("ExitEgressSpike", r["node_id"]))
        if r["tx_bytes"] + r["rx_bytes"] >= 5 << 30:
            alerts.append(("LargeTransfer", r["node_id"]))
    return alerts


def run_once(body):
    rows = normalize(body, "tailscale-http", "raw/tailscale-http/dt=2025-03-04/hour=17/batch.ndjson.zst",
                     "2025-03-04T17:45:00Z")
    out = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
    alerts = detect(rows, {})
    return len(rows), len(out), len(alerts)


def main():
    path = sys.argv[1]
    min_seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    with open(path, "rb") as f:
        body = f.read()
    samples = []
    started = time.process_time()
    while True:
        t0 = time.process_time()
        rows, out_bytes, alerts = run_once(body)
        samples.append(time.process_time() - t0)
        if len(samples) >= 3 and time.process_time() - started >= min_seconds:
            break
    samples.sort()
    print(json.dumps({"bytes": len(body), "rows": rows, "ndjson_bytes": out_bytes, "alerts": alerts,
                      "cpu_seconds": samples[len(samples) // 2], "runs": len(samples),
                      "python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
