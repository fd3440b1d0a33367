"""`liveloop run` end to end in a subprocess: the budget table, the trace file, the metrics file."""

import json
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def liveloop(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "liveloop", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_run_prints_budget_table_and_writes_trace_and_metrics(tmp_path):
    trace, prom = tmp_path / "t.json", tmp_path / "m.prom"
    r = liveloop("run", "examples/audio_knobs.toml", "--duration", "1", "--trace", str(trace), "--metrics", str(prom))
    assert r.returncode == 0, r.stderr
    assert "budget" in r.stdout and "mic_to_pitch" in r.stdout and "goodput" in r.stdout
    assert "drop_oldest(2)" in r.stdout
    assert json.loads(trace.read_text())["traceEvents"]
    names = {f.name for f in text_string_to_metric_families(prom.read_text())}
    assert "liveloop_path_latency_seconds" in names


def test_run_json_report(tmp_path):
    r = liveloop("run", "examples/audio_knobs.toml", "--duration", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {b["name"] for b in doc["budgets"]} == {"mic_to_pitch", "mic_to_meter"}
    assert sum(sum(n["modes"].values()) for n in doc["nodes"]) == doc["nodes"][1]["events_in"]


def test_bad_graph_file_exits_2_naming_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[nodes.a]\nclass = 'liveloop.graph.nodes:Inlet'\nspeed = 3\n")
    r = liveloop("run", str(bad))
    assert r.returncode == 2
    assert "unknown key 'speed'" in r.stderr
