-- Top talkers over the last 24 hours: bytes by reporting node and peer, per kind of traffic.
-- The WireGuard underlay (traffic_kind 'physical') carries the same bytes as the virtual,
-- subnet and exit traffic inside it, so it is left out to avoid counting them twice.
-- Names come from tailscale_nodes (one row per node per lake object): the latest name each node
-- had in the window, joined on node_id (reporting node) and peer_node_id (peer).
-- Athena (engine v3) and DuckDB; the dt predicates limit the partitions Athena reads.
WITH names AS (
  SELECT node_id, max_by(node_name, last_seen) AS node_name
  FROM tailscale_nodes
  WHERE dt >= cast(cast(current_timestamp - interval '1' day AS date) AS varchar)
    AND last_seen >= current_timestamp - interval '1' day
    AND node_name IS NOT NULL
  GROUP BY node_id
)
SELECT
  coalesce(n.node_name, c.node_id) AS node,
  coalesce(p.node_name, c.dst_ip, '(not reported)') AS peer,
  c.traffic_kind,
  sum(c.tx_bytes) AS tx_bytes,
  sum(c.rx_bytes) AS rx_bytes,
  sum(c.tx_bytes + c.rx_bytes) AS total_bytes,
  count(*) AS connections
FROM tailscale_network c
LEFT JOIN names n ON n.node_id = c.node_id
LEFT JOIN names p ON p.node_id = c.peer_node_id
WHERE c.dt >= cast(cast(current_timestamp - interval '1' day AS date) AS varchar)
  AND c.p_event_time >= current_timestamp - interval '1' day
  AND c.traffic_kind <> 'physical'
GROUP BY 1, 2, 3
ORDER BY total_bytes DESC, node, peer
LIMIT 50;
