"""The end-of-run report: budgets against measured latency, per node costs, edges."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liveloop.graph.graph import Graph


def _ms(v: float) -> str:
    return "-" if v != v else f"{v:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*header), "  ".join("-" * w for w in widths)]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(lines)


class RunReport:
    """What a run measured. `table()` is what `liveloop run` prints at the end."""

    def __init__(self, graph: Graph, elapsed_ns: int) -> None:
        self.graph = graph
        self.elapsed_ns = elapsed_ns

    def budgets(self) -> list[dict[str, Any]]:
        out = []
        for b in self.graph.budgets:
            q = b.stats.latency.quantiles_ms()
            out.append(
                {
                    "name": b.name,
                    "path": b.path,
                    "kind": b.kind.name.lower(),
                    "budget_ms": b.ms,
                    "count": b.stats.total,
                    "p50_ms": q[0.5],
                    "p95_ms": q[0.95],
                    "p99_ms": q[0.99],
                    "misses": b.stats.misses,
                    "goodput": b.stats.goodput,
                }
            )
        return out

    def nodes(self) -> list[dict[str, Any]]:
        out = []
        for n, ctx in self.graph.runtimes.items():
            st = ctx.stats
            q = st.service.quantiles_ms()
            w = st.queue_wait.quantiles_ms()
            out.append(
                {
                    "node": n,
                    "events_in": st.events_in,
                    "events_out": st.events_out,
                    "service_p50_ms": q[0.5],
                    "service_p99_ms": q[0.99],
                    "wait_p50_ms": w[0.5],
                    "errors": st.errors,
                    "restarts": st.restarts,
                    "modes": dict(st.mode_counts),
                }
            )
        return out

    def edges(self) -> list[dict[str, Any]]:
        out = []
        for ctx in self.graph.runtimes.values():
            for ch in ctx.channels.values():
                out.append(
                    {
                        "input": ch.name,
                        "policy": ch.policy.name,
                        "puts": ch.stats.puts,
                        "peak": ch.stats.peak,
                        "drops": ch.stats.drops,
                    }
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "graph": self.graph.name,
            "elapsed_s": self.elapsed_ns / 1e9,
            "budgets": self.budgets(),
            "nodes": self.nodes(),
            "edges": self.edges(),
        }

    def table(self) -> str:
        parts = [f"graph {self.graph.name!r}: {self.elapsed_ns / 1e9:.2f} s"]
        b_rows = [
            [
                b["name"],
                b["kind"],
                f"{b['budget_ms']:g}",
                str(b["count"]),
                _ms(b["p50_ms"]),
                _ms(b["p95_ms"]),
                _ms(b["p99_ms"]),
                str(b["misses"]),
                "-" if b["goodput"] != b["goodput"] else f"{100 * b['goodput']:.1f}%",
            ]
            for b in self.budgets()
        ]
        if b_rows:
            parts.append(_table(["budget", "kind", "ms", "n", "p50", "p95", "p99", "misses", "goodput"], b_rows))
        n_rows = [
            [
                n["node"],
                str(n["events_in"]),
                str(n["events_out"]),
                _ms(n["service_p50_ms"]),
                _ms(n["service_p99_ms"]),
                _ms(n["wait_p50_ms"]),
                str(n["errors"]),
                " ".join(f"{k}:{v}" for k, v in n["modes"].items()) or "-",
            ]
            for n in self.nodes()
        ]
        parts.append(_table(["node", "in", "out", "svc p50", "svc p99", "wait p50", "errors", "modes"], n_rows))
        e_rows = [[e["input"], e["policy"], str(e["puts"]), str(e["peak"]), str(e["drops"])] for e in self.edges()]
        if e_rows:
            parts.append(_table(["input", "policy", "puts", "peak", "drops"], e_rows))
        return "\n\n".join(parts)
