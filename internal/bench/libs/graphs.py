# networkx: shortest paths, components, a spanning tree and betweenness
# centrality over a seeded random graph (pure-Python algorithms; no numpy).
import networkx as nx


def _graph(n, m, seed):
    g = nx.Graph()
    g.add_nodes_from(range(n))
    x = seed
    for _ in range(m):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        a = x % n
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        b = x % n
        if a != b:
            g.add_edge(a, b, weight=1 + x % 17)
    return g


def run():
    g = _graph(1500, 6000, 7)
    dist = nx.single_source_dijkstra_path_length(g, 0)
    comps = sorted(len(c) for c in nx.connected_components(g))
    mst = nx.minimum_spanning_tree(g)
    small = _graph(150, 450, 11)
    bc = nx.betweenness_centrality(small)
    top = sorted(bc, key=lambda k: (-round(bc[k], 9), k))[:5]
    return [sum(dist.values()), len(dist), comps[-1], len(comps),
            round(mst.size(weight='weight')), top]
