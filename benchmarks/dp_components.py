"""Cluster statistics of the `dp` generator's defaults (and of ER/BA/WS for contrast).

For each generator, samples ``--seeds`` graphs of ``--n`` vertices and reports the mean and
standard deviation of the number of connected components, the mean within-graph spread
(standard deviation) of component sizes, the mean size of the largest component and the mean
density inside components. These are the figures quoted in docs/generators.md.

    python benchmarks/dp_components.py --seeds 1000 --n 40
"""

from __future__ import annotations

import argparse

import networkx as nx
import numpy as np

from parawire.graphs import create_generator


def component_stats(name: str, n: int, seeds: int, **params: float) -> dict[str, float]:
    """Component statistics of ``seeds`` samples of one generator."""
    gen = create_generator(name, n=n, **params)
    counts, spreads, largest, density = [], [], [], []
    for seed in range(seeds):
        g = gen.sample(seed)
        comps = [g.subgraph(c) for c in nx.connected_components(g)]
        sizes = [c.number_of_nodes() for c in comps]
        counts.append(len(comps))
        spreads.append(float(np.std(sizes)))
        largest.append(max(sizes))
        multi = [nx.density(c) for c in comps if c.number_of_nodes() > 1]
        density.append(float(np.mean(multi)) if multi else 0.0)
    return {
        "components_mean": float(np.mean(counts)),
        "components_std": float(np.std(counts)),
        "size_spread_mean": float(np.mean(spreads)),
        "largest_mean": float(np.mean(largest)),
        "density_mean": float(np.mean(density)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()
    print(f"n={args.n}, {args.seeds} seeds")
    print("| generator | components (mean ± sd) | size spread | largest | density in components |")
    print("|---|---|---|---|---|")
    for name in ("dp", "er", "ba", "ws"):
        s = component_stats(name, args.n, args.seeds)
        print(
            f"| {name} | {s['components_mean']:.2f} ± {s['components_std']:.2f} | "
            f"{s['size_spread_mean']:.2f} | {s['largest_mean']:.1f} | {s['density_mean']:.3f} |"
        )


if __name__ == "__main__":
    main()
