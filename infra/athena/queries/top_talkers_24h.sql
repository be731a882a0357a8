-- Top talkers over the last 24 hours: bytes by reporting node and peer, per kind of traffic.
-- The WireGuard underlay (traffic_kind 'physical') carries the same bytes as the virtual,
-- subnet and exit traffic inside it, so it is left out to avoid counting them twice.
-- Athena (engine v3) and DuckDB; the dt predicate limits the partitions Athena reads.
SELECT
  coalesce(node_name, node_id) AS node,
  coalesce(peer_node_name, dst_ip, '(not reported)') AS peer,
  traffic_kind,
  sum(tx_bytes) AS tx_bytes,
  sum(rx_bytes) AS rx_bytes,
  sum(tx_bytes + rx_bytes) AS total_bytes,
  count(*) AS connections
FROM tailscale_network
WHERE dt >= cast(cast(current_timestamp - interval '1' day AS date) AS varchar)
  AND p_event_time >= current_timestamp - interval '1' day
  AND traffic_kind <> 'physical'
GROUP BY 1, 2, 3
ORDER BY total_bytes DESC, node, peer
LIMIT 50;
