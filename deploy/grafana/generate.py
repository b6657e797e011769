#!/usr/bin/env python3
"""Writes the Grafana dashboards for the sightline agent's metrics (one place for their panels).

    python3 deploy/grafana/generate.py          # rewrite the JSON files beside this script
    python3 deploy/grafana/generate.py --check  # exit 1 if a committed file differs

Every dashboard has a Prometheus data source variable and an instance variable; import them
in Grafana (Dashboards > New > Import) or provision this folder. tests/e2e/deploy.sh checks
that every metric a panel names is one the agent exports.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'instance=~"$instance"'
SERVER = 'role="server"'


def panel(title, exprs, unit="short", kind="timeseries", w=12, h=8, desc="", stack=False):
    targets = [{"refId": chr(65 + i), "expr": e, "legendFormat": l, "datasource": DS} for i, (e, l) in enumerate(exprs)]
    p = {"type": kind, "title": title, "description": desc, "datasource": DS, "targets": targets,
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}, "options": {}, "gridPos": {"w": w, "h": h}}
    if kind == "timeseries":
        p["fieldConfig"]["defaults"]["custom"] = {"fillOpacity": 10, "stacking": {"mode": "normal" if stack else "none"}}
        p["options"] = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
                        "tooltip": {"mode": "multi"}}
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value", "graphMode": "area"}
    if kind == "table":
        for t in targets:
            t["format"] = "table"
            t["instant"] = True
    return p


def dashboard(uid, title, rows, extra_vars=()):
    panels, y = [], 0
    for row in rows:
        x, hmax = 0, 0
        for p in row:
            p["gridPos"].update({"x": x, "y": y})
            p["id"] = len(panels) + 1
            x += p["gridPos"]["w"]
            hmax = max(hmax, p["gridPos"]["h"])
            panels.append(p)
        y += hmax
    variables = [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
        {"name": "instance", "type": "query", "datasource": DS, "label": "Node",
         "query": {"query": "label_values(sightline_build_info, instance)", "refId": "instance"},
         "definition": "label_values(sightline_build_info, instance)",
         "includeAll": True, "multi": True, "refresh": 2, "current": {"text": "All", "value": "$__all"}},
    ] + list(extra_vars)
    return {"uid": uid, "title": title, "tags": ["sightline"], "schemaVersion": 38, "version": 1, "editable": True,
            "time": {"from": "now-1h", "to": "now"}, "refresh": "30s", "timezone": "",
            "templating": {"list": variables}, "panels": panels, "annotations": {"list": []}}


def q(metric, extra=""):
    return metric + "{" + SEL + ("," + extra if extra else "") + "}"


DASHBOARDS = {
    "node-overview.json": dashboard("sightline-node", "Sightline / Node overview", [
        [panel("CPU by process (top 10)", [(f"topk(10, sum by (comm) (rate({q('sightline_cpu_seconds_total')}[$__rate_interval])))", "{{comm}}")], "percentunit", w=12, stack=True),
         panel("Run-queue wait p50 / p99", [
             (f"histogram_quantile(0.5, sum by (le) (rate({q('sightline_runqueue_latency_seconds_bucket')}[$__rate_interval])))", "p50"),
             (f"histogram_quantile(0.99, sum by (le) (rate({q('sightline_runqueue_latency_seconds_bucket')}[$__rate_interval])))", "p99")], "s", w=12)],
        [panel("Disk I/O latency p99 by device", [(f"histogram_quantile(0.99, sum by (device, le) (rate({q('sightline_block_io_latency_seconds_bucket')}[$__rate_interval])))", "{{device}}")], "s", w=8),
         panel("Network bytes by interface", [(f"sum by (interface, direction) (rate({q('sightline_network_bytes_total')}[$__rate_interval]))", "{{interface}} {{direction}}")], "Bps", w=8),
         panel("TCP retransmits", [(f"sum(rate({q('sightline_tcp_retransmits_total')}[$__rate_interval]))", "retransmits/s")], "short", w=8)],
        [panel("Top processes by socket traffic", [(f"topk(10, sum by (comm) (rate({q('sightline_socket_bytes_total')}[$__rate_interval])))", "{{comm}}")], "Bps", kind="table", w=12),
         panel("Security alerts (1h)", [(f"sum by (rule, priority) (increase({q('sightline_alerts_total')}[1h]))", "{{rule}}")], "short", kind="table", w=12)],
    ]),
    "red.json": dashboard("sightline-red", "Sightline / Services (RED)", [
        [panel("Requests/s by service", [(f"sum by (comm, protocol) (rate({q('sightline_l7_requests_total', SERVER)}[$__rate_interval]))", "{{comm}} {{protocol}}")], "reqps", w=8),
         panel("Errors/s by service", [(f"sum by (comm, protocol) (rate({q('sightline_l7_errors_total', SERVER)}[$__rate_interval]))", "{{comm}} {{protocol}}")], "reqps", w=8),
         panel("Latency p99 by service", [(f"histogram_quantile(0.99, sum by (comm, protocol, le) (rate({q('sightline_l7_request_duration_seconds_bucket', SERVER)}[$__rate_interval])))", "{{comm}} {{protocol}}")], "s", w=8)],
        [panel("Slowest endpoints (p99, of the exchanges sent in detail)", [(f"topk(20, histogram_quantile(0.99, sum by (comm, method, target, le) (rate({q('sightline_l7_route_duration_seconds_bucket', SERVER)}[5m]))))", "")], "s", kind="table", w=12),
         panel("Status classes", [(f"sum by (status) (rate({q('sightline_l7_requests_total', SERVER)}[$__rate_interval]))", "{{status}}")], "reqps", w=12, stack=True)],
        [panel("Service map: requests/s per edge", [(f"sum by (client, server, protocol) (rate({q('sightline_service_map_requests_total')}[$__rate_interval]))", "{{client}} -> {{server}} ({{protocol}})")], "reqps", w=12),
         panel("Service map: mean latency per edge", [(f"sum by (client, server) (rate({q('sightline_service_map_request_seconds_total')}[$__rate_interval])) / sum by (client, server) (rate({q('sightline_service_map_requests_total')}[$__rate_interval]))", "{{client}} -> {{server}}")], "s", w=12)],
    ]),
    "tcp.json": dashboard("sightline-tcp", "Sightline / TCP", [
        [panel("Connections/s by process and result", [(f"sum by (comm, role, result) (rate({q('sightline_tcp_connections_total')}[$__rate_interval]))", "{{comm}} {{role}} {{result}}")], "short", w=12),
         panel("Connect latency p50 / p99", [
             (f"histogram_quantile(0.5, sum by (le) (rate({q('sightline_tcp_connect_latency_seconds_bucket')}[$__rate_interval])))", "p50"),
             (f"histogram_quantile(0.99, sum by (le) (rate({q('sightline_tcp_connect_latency_seconds_bucket')}[$__rate_interval])))", "p99")], "s", w=12)],
        [panel("Bytes by process", [(f"sum by (comm, direction) (rate({q('sightline_tcp_bytes_total')}[$__rate_interval]))", "{{comm}} {{direction}}")], "Bps", w=12),
         panel("Retransmits by process", [(f"sum by (comm) (rate({q('sightline_tcp_retransmits_total')}[$__rate_interval]))", "{{comm}}")], "short", w=12)],
        [panel("Top peers", [(f"topk(20, sum by (comm, peer, port) (increase({q('sightline_tcp_peer_connections_total')}[1h])))", "")], "short", kind="table", w=24)],
    ]),
    "disk.json": dashboard("sightline-disk", "Sightline / Disk", [
        [panel("I/O latency p50 / p99", [
            (f"histogram_quantile(0.5, sum by (device, le) (rate({q('sightline_block_io_latency_seconds_bucket')}[$__rate_interval])))", "{{device}} p50"),
            (f"histogram_quantile(0.99, sum by (device, le) (rate({q('sightline_block_io_latency_seconds_bucket')}[$__rate_interval])))", "{{device}} p99")], "s", w=12),
         panel("IOPS by device and op", [(f"sum by (device, op) (rate({q('sightline_block_ios_total')}[$__rate_interval]))", "{{device}} {{op}}")], "iops", w=12)],
        [panel("Throughput by process", [(f"topk(10, sum by (comm) (rate({q('sightline_block_io_bytes_total')}[$__rate_interval])))", "{{comm}}")], "Bps", w=12),
         panel("Errors by device", [(f"sum by (device, op) (rate({q('sightline_block_io_errors_total')}[$__rate_interval]))", "{{device}} {{op}}")], "short", w=12)],
    ]),
    "agent-health.json": dashboard("sightline-agent", "Sightline / Agent health", [
        [panel("Sources up", [(f"sum by (source) ({q('sightline_source_up')})", "{{source}}")], "short", kind="stat", w=8),
         panel("Agent CPU", [(f"rate({q('process_cpu_seconds_total')}[$__rate_interval]) and on (instance) {q('sightline_build_info')}", "{{instance}}")], "percentunit", w=8),
         panel("Agent memory", [(f"{q('process_resident_memory_bytes')} and on (instance) {q('sightline_build_info')}", "{{instance}}")], "bytes", w=8)],
        [panel("Events/s by source", [(f"sum by (source) (rate({q('sightline_events_total')}[$__rate_interval]))", "{{source}}")], "short", w=12),
         panel("Events lost/s (should be 0)", [(f"sum by (source, reason) (rate({q('sightline_events_lost_total')}[$__rate_interval]))", "{{source}} {{reason}}")], "short", w=12)],
        [panel("BPF program time (share of a CPU)", [(f"sum by (source) (rate({q('sightline_bpf_program_run_seconds_total')}[$__rate_interval]))", "{{source}}")], "percentunit", w=12),
         panel("Label sets folded into __overflow__", [(f"sum by (source) (rate({q('sightline_series_overflow_total')}[$__rate_interval]))", "{{source}}")], "short", w=12)],
        [panel("Store: rows written/s and dropped/s", [
            (f"sum by (table) (rate({q('sightline_store_rows_written_total')}[$__rate_interval]))", "{{table}}"),
            (f"sum(rate({q('sightline_store_rows_dropped_total')}[$__rate_interval]))", "dropped")], "short", w=8),
         panel("Store file size", [(q('sightline_store_file_bytes'), "{{instance}}")], "bytes", w=8),
         panel("Exporters: spool and drops", [
             (f"sum by (exporter) ({q('sightline_exporter_spool_batches')})", "{{exporter}} spooled"),
             (f"sum by (exporter) (rate({q('sightline_exporter_dropped_total')}[$__rate_interval]))", "{{exporter}} dropped/s")], "short", w=8)],
    ]),
}


def main():
    check = "--check" in sys.argv[1:]
    bad = 0
    for name, d in DASHBOARDS.items():
        text = json.dumps(d, indent=2, sort_keys=True) + "\n"
        path = os.path.join(HERE, name)
        if check:
            with open(path) as f:
                if f.read() != text:
                    print(f"{path}: differs from generate.py (run it)", file=sys.stderr)
                    bad = 1
        else:
            with open(path, "w") as f:
                f.write(text)
    return bad


if __name__ == "__main__":
    sys.exit(main())
