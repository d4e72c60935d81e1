"""Random prefix-chain traces for property tests: requests extend a random earlier prefix, so every block
has one fixed parent, as with real prefix hashes."""

import random


def random_chains(
    rng: random.Random, requests: int, *, max_new: int = 4, reuse: float = 0.7
) -> list[tuple[int, ...]]:
    paths: list[tuple[int, ...]] = []
    chains: list[tuple[int, ...]] = []
    next_id = 0
    for _ in range(requests):
        prefix: tuple[int, ...] = ()
        if paths and rng.random() < reuse:
            chosen = rng.choice(paths)
            prefix = chosen[: rng.randint(1, len(chosen))]
        new = tuple(range(next_id, next_id + rng.randint(0 if prefix else 1, max_new)))
        next_id += len(new)
        chain = prefix + new
        for end in range(len(prefix) + 1, len(chain) + 1):
            paths.append(chain[:end])
        chains.append(chain)
    return chains
