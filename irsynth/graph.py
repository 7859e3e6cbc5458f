"""Connectivity of a treatment network (nodes 0..n-1, edges = pairs of treatments compared in a trial), by one
union-find: how many connected parts, whether it has a closed loop, and which comparisons lie on one."""

from __future__ import annotations

from collections.abc import Iterable


class UnionFind:
    """Disjoint sets of the nodes 0..n-1 (path halving)."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> bool:
        """Join the sets of a and b; False if they were already one set (the edge a-b closes a loop)."""
        ra, rb = self.root(a), self.root(b)
        if ra == rb:
            return False
        self.parent[ra] = rb
        return True

    def parts(self) -> int:
        return len({self.root(i) for i in range(len(self.parent))})


def _edges(pairs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Distinct undirected edges, sorted (a trial comparing a and b twice, or b and a, is one edge)."""
    return sorted({tuple(sorted(pair)) for pair in pairs})


def _joined(edges: Iterable[tuple[int, int]], n: int) -> UnionFind:
    sets = UnionFind(n)
    for a, b in edges:
        sets.union(a, b)
    return sets


def connected_parts(pairs: Iterable[tuple[int, int]], n: int) -> int:
    """Number of connected parts of the network (1: every treatment is linked to every other)."""
    return _joined(_edges(pairs), n).parts()


def closed_loops(pairs: Iterable[tuple[int, int]], n: int) -> bool:
    """Whether the network has a cycle (only then can consistency be checked)."""
    sets = UnionFind(n)
    return any(not sets.union(a, b) for a, b in _edges(pairs))


def loop_edges(pairs: Iterable[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """Comparisons that lie on a closed loop (direct and indirect evidence both exist): candidates for node-splitting.
    An edge is on a loop when its two ends are still connected without it."""
    edges = _edges(pairs)
    return [
        edge
        for edge in edges
        if (sets := _joined((e for e in edges if e != edge), n)).root(edge[0]) == sets.root(edge[1])
    ]
