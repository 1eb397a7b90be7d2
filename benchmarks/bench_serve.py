"""Speed of the serving simulator (issue 5 target: 100,000 requests on an 8-chip deployment in under 10 s).

Prints wall time, simulated time and their ratio. Run: python benchmarks/bench_serve.py
"""

from __future__ import annotations

from suanli.api import simulate


def main() -> None:
    cases = [
        ("llama-3.1-8b on dgx-h100, dp=8 (8 replicas), fp8, Poisson 150 req/s", dict(
            model="llama-3.1-8b", system="dgx-h100", dp=8, precision="fp8", rate=150.0,
            input="lognormal:mean=1000,sigma=0.6", output="lognormal:mean=200,sigma=0.6")),
        ("llama-3.1-70b on dgx-h100, tp=4 dp=2, fp8, Poisson 12 req/s", dict(
            model="llama-3.1-70b", system="dgx-h100", tp=4, dp=2, precision="fp8", rate=12.0,
            input="lognormal:mean=1500,sigma=0.8", output="lognormal:mean=300,sigma=0.6")),
    ]
    for label, kw in cases:
        s, _ = simulate(**kw, requests=100_000, seed=1)
        print(f"{label}: 100,000 requests, {s['completed']} completed; wall {s['wall_s']:.2f} s "
              f"[target < 10 s]; simulated {s['simulated_s']:.0f} s; simulated/wall {s['sim_to_wall']:.0f}x; "
              f"{s['throughput']['output_tok_s']:,.0f} output tok/s; TTFT p99 {s['ttft_ms']['p99']:.0f} ms")


if __name__ == "__main__":
    main()
