"""TOML declarations: a good file runs; every bad one is rejected naming the key and the fix."""

import textwrap
from pathlib import Path

import pytest

from liveloop.graph import GraphDeclarationError, GraphValidationError, VirtualClock
from liveloop.graph.declare import load_graph

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

GOOD = """
[graph]
name = "t"

[nodes.src]
class = "liveloop.graph.nodes:Inlet"

[nodes.up]
class = "liveloop.graph.nodes:Map"
params = { fn = "ignored" }

[[edges]]
from = "src.out"
to = "up.inp"
policy = "drop_oldest(3)"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "g.toml"
    p.write_text(textwrap.dedent(text))
    return p


def test_example_file_loads_with_policies_and_budgets():
    g, duration = load_graph(EXAMPLES / "audio_knobs.toml", clock=VirtualClock())
    assert duration is None
    assert set(g.nodes) == {"mic", "pitch", "meter"}
    assert {e.policy.name for e in g.edges} == {"block(8)", "drop_oldest(2)"}
    assert [b.name for b in g.budgets] == ["mic_to_pitch", "mic_to_meter"]
    assert g.node_budgets == {"pitch": 3.0}


async def test_example_graph_runs_on_virtual_time_and_counts_drops():
    g, _ = load_graph(EXAMPLES / "audio_knobs.toml", clock=VirtualClock())
    meter = g.nodes["meter"]
    meter.stall_ms = 70  # 3 frames (20 ms apart) arrive during each stall; drop_oldest(2) keeps 2
    report = await g.run()
    budgets = {b["name"]: b for b in report.budgets()}
    assert budgets["mic_to_pitch"]["count"] == 200  # 4 s of 20 ms frames
    edges = {e["input"]: e for e in report.edges()}
    stalls = meter.n // meter.stall_every
    assert edges["meter.pitch"]["drops"] == stalls == 200 - meter.n


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[graph]\nnmae = 'x'\n[nodes.a]\nclass='liveloop.graph.nodes:Inlet'", r"\[graph\]: unknown key 'nmae'"),
        ("[nodes.a]\nclass='liveloop.graph.nodes:Inlet'\ncolour=1", r"\[nodes.a\]: unknown key 'colour'"),
        ("[nodes.a]\nparams={}", r"\[nodes.a\]: missing required key 'class'"),
        ("[nodes.a]\nclass='no_such_module_x:Thing'", r"cannot import module 'no_such_module_x'"),
        ("[nodes.a]\nclass='liveloop.graph.nodes:Nope'", r"has no class 'Nope'"),
        ("[nodes.a]\nclass='pathlib:Path'", r"is not a liveloop Node subclass"),
        ("[nodes.a]\nclass='liveloop.graph.nodes:Inlet'\nparams={sped=3}", r"unknown parameter 'sped' for Inlet"),
        ("[graph]\nduration_s = -1\n[nodes.a]\nclass='liveloop.graph.nodes:Inlet'", r"duration_s must be"),
        ("", r"\[nodes\] must declare at least one node"),
        ("[nodes.a]\nclass='liveloop.graph.nodes:Inlet'\n[[edges]]\nfrom='a.out'", r"missing required key 'to'"),
        (GOOD.replace("drop_oldest(3)", "fifo"), r"\[\[edges\]\] #1 policy: unknown policy 'fifo'"),
        (GOOD.replace('to = "up.inp"', 'to = "up.input"'), r"\[\[edges\]\] #1: .*has no input 'input'"),
        (GOOD + "\n[[budgets]]\nfrom='src.out'\nto='up.out'\n", r"\[\[budgets\]\] #1: missing required key 'ms'"),
        (GOOD + "\n[[budgets]]\nfrom='src.out'\nto='up.zz'\nms=3\n", r"budget .* has no port 'zz'"),
        (GOOD + "\n[[budgets]]\nfrom='src.out'\nto='up.out'\nms=3\nkind='x'\n", r"kind must be data"),
        ("[nodes.a]\nclass='liveloop.graph.nodes:Map'\nparams={fn=1}", r"input a.inp is not connected"),
        ("[nodes.a\nclass='x'", r"not valid TOML"),
    ],
)
def test_bad_declarations_name_the_key(tmp_path, text, message):
    with pytest.raises(GraphDeclarationError, match=message):
        load_graph(write(tmp_path, text))


def test_lossless_cycle_is_rejected_with_the_fix(tmp_path):
    text = """
    [nodes.a]
    class = "liveloop.graph.nodes:Map"
    params = { fn = "x" }
    [nodes.b]
    class = "liveloop.graph.nodes:Map"
    params = { fn = "x" }
    [[edges]]
    from = "a.out"
    to = "b.inp"
    [[edges]]
    from = "b.out"
    to = "a.inp"
    """
    with pytest.raises(GraphValidationError, match="make one of them policy latest or drop_oldest"):
        load_graph(write(tmp_path, text))
    fixed = text.replace('to = "a.inp"', 'to = "a.inp"\n    policy = "latest"')
    g, _ = load_graph(write(tmp_path, fixed))
    assert len(g.edges) == 2


def test_missing_file_is_named(tmp_path):
    with pytest.raises(GraphDeclarationError, match="does not exist"):
        load_graph(tmp_path / "nope.toml")
