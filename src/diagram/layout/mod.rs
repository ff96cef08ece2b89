//! A layered (Sugiyama-style) layout, top to bottom, for boxes of known size.
//!
//! 1. **Cycles**: a depth-first search from the nodes in their given order reverses the edges
//!    that close a cycle (a retry loop becomes an edge drawn upwards).
//! 2. **Layers**: longest path from the sources, so every edge points down and a state sits just
//!    below the deepest state that leads to it. Every layer is two ranks: nodes on even ranks,
//!    and on the odd rank between two layers the edges' bends and labels, laid out like nodes, so
//!    labels never cover a box or each other.
//! 3. **Dummies**: an edge spanning several ranks gets a point on each rank it crosses; an edge
//!    over the [`MAX_DUMMIES`] budget (only in huge graphs) is drawn as one direct curve instead.
//! 4. **Order**: starting from the given order (file order), barycenter sweeps down and up plus
//!    adjacent swaps ("transpose"), ties kept in the current order (stable sorts); the order with
//!    the fewest crossings seen is kept, so the result never has more crossings than the start.
//! 5. **Coordinates**: each rank is placed as close as possible to the mean of its neighbours
//!    above, then below, several times, under the constraint that neighbours in a rank keep their
//!    separation (a weighted isotonic regression, solved exactly by pool-adjacent-violators), so no
//!    two boxes overlap by construction. Bends weigh more than boxes, which straightens long edges.
//! 6. **Routes**: ports spread over a box's bottom and top in the order of where the edges go;
//!    between ranks a cubic curve with vertical tangents, through a rank a straight line.
//!
//! Everything is deterministic: no hashing, stable sorts, and plain `f64` arithmetic in a fixed
//! order.

mod model;
mod order;
mod place;
mod route;

pub use model::{Edge, Layout, MAX_DUMMIES, Node, Point, Route, Seg};
use model::{Item, Kind, LABEL_PAD, LOOP_OUT, LOOP_STEP, Placed};
use order::{crossings, order};
use place::{coordinates, rank_bands, straighten};
use route::{Geometry, ports};

/// Places `nodes` and routes `edges` (whose ends index `nodes`), in the steps above.
pub fn layout(nodes: &[Node], edges: &[Edge]) -> Layout {
    let n = nodes.len();
    // Self-loops are drawn beside their box, which grows to the right to make room.
    let mut loops: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in edges.iter().enumerate() {
        if e.from == e.to {
            loops[e.from].push(i);
        }
    }
    let extra_right: Vec<f64> = loops
        .iter()
        .map(|l| {
            if l.is_empty() {
                return 0.0;
            }
            let label = l
                .iter()
                .filter_map(|&i| edges[i].label.map(|(w, _)| w + LABEL_PAD))
                .fold(0.0, f64::max);
            LOOP_OUT + LOOP_STEP * (l.len() - 1) as f64 + label
        })
        .collect();

    let reversed = back_edges(n, edges);
    let mut placed: Vec<Option<Placed>> = edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (e.from != e.to).then(|| {
                let (upper, lower) = if reversed[i] {
                    (e.to, e.from)
                } else {
                    (e.from, e.to)
                };
                Placed {
                    upper,
                    lower,
                    reversed: reversed[i],
                    bends: Vec::new(),
                    label_bend: None,
                }
            })
        })
        .collect();
    let layer = layers(n, placed.iter().flatten());
    let direct = over_budget(&placed, &layer);

    // Items: nodes first (item id = node id), then bends.
    let mut items: Vec<Item> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| Item {
            kind: Kind::Node,
            rank: 2 * layer[i],
            left: node.width / 2.0,
            right: node.width / 2.0 + extra_right[i],
            height: node.height,
            key: (node.order, 0, 0),
            up: Vec::new(),
            down: Vec::new(),
        })
        .collect();
    for (i, p) in placed.iter_mut().enumerate() {
        let Some(p) = p else { continue };
        if direct[i] {
            continue;
        }
        let (top, bottom) = (2 * layer[p.upper], 2 * layer[p.lower]);
        let first = items.len();
        for rank in top + 1..bottom {
            items.push(Item {
                kind: Kind::Bend,
                rank,
                left: 1.0,
                right: 1.0,
                height: 0.0,
                key: (nodes[p.upper].order, 1 + i as u64, (rank - top) as u64),
                up: Vec::new(),
                down: Vec::new(),
            });
        }
        p.bends = (first..items.len()).collect();
        if let Some((w, h)) = edges[i].label {
            // Beside the original source: the first bend going down, the last going up.
            let at = if p.reversed { p.bends.len() - 1 } else { 0 };
            let item = &mut items[p.bends[at]];
            item.left = 2.0;
            item.right = LABEL_PAD + w + 2.0;
            item.height = h;
            p.label_bend = Some(at);
        }
        let chain: Vec<usize> = std::iter::once(p.upper)
            .chain(p.bends.iter().copied())
            .chain(std::iter::once(p.lower))
            .collect();
        for pair in chain.windows(2) {
            items[pair[0]].down.push(pair[1]);
            items[pair[1]].up.push(pair[0]);
        }
    }

    let rank_count = items.iter().map(|it| it.rank + 1).max().unwrap_or(0);
    let mut ranks: Vec<Vec<usize>> = vec![Vec::new(); rank_count];
    for (id, it) in items.iter().enumerate() {
        ranks[it.rank].push(id);
    }
    for r in &mut ranks {
        r.sort_by_key(|&id| items[id].key);
    }
    let initial_crossings = crossings(&items, &ranks);
    let (ranks, crossings) = order(&items, ranks, initial_crossings);

    let mut xs = coordinates(&items, &ranks);
    straighten(&items, &ranks, &placed, &mut xs);
    let (rank_top, rank_height, height) = rank_bands(&items, &ranks);
    let node_points: Vec<Point> = (0..n)
        .map(|i| {
            let it = &items[i];
            Point {
                x: xs[i] - nodes[i].width / 2.0,
                y: rank_top[it.rank] + (rank_height[it.rank] - it.height) / 2.0,
            }
        })
        .collect();
    let width = items
        .iter()
        .enumerate()
        .map(|(id, it)| xs[id] + it.right)
        .fold(0.0, f64::max);

    let node_rank: Vec<usize> = items[..n].iter().map(|it| it.rank).collect();
    let geometry = Geometry {
        nodes,
        node_rank: &node_rank,
        points: &node_points,
        xs: &xs,
        rank_top: &rank_top,
        rank_height: &rank_height,
    };
    let ports = ports(&geometry, &placed);
    let mut routes: Vec<Route> = edges
        .iter()
        .enumerate()
        .map(|(i, e)| match &placed[i] {
            None => geometry.self_loop(e.from, &loops[e.from], i, edges),
            Some(p) => geometry.route(p, ports[i], edges[i].label),
        })
        .collect();
    // A direct edge's label may reach past the bands; keep the picture around it.
    let mut width = width;
    for r in &mut routes {
        if let Some(l) = r.label {
            width = width.max(l.x);
        }
    }
    Layout {
        nodes: node_points,
        routes,
        width,
        height,
        crossings,
        initial_crossings,
    }
}

/// Marks the edges that close a cycle in a depth-first search (iterative: no recursion depth).
fn back_edges(n: usize, edges: &[Edge]) -> Vec<bool> {
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in edges.iter().enumerate() {
        if e.from != e.to {
            out_edges[e.from].push(i);
        }
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; n];
    let mut reversed = vec![false; edges.len()];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if mark[root] != Mark::New {
            continue;
        }
        mark[root] = Mark::Open;
        stack.push((root, 0));
        while let Some((v, next)) = stack.last_mut() {
            let v = *v;
            if let Some(&e) = out_edges[v].get(*next) {
                *next += 1;
                let w = edges[e].to;
                match mark[w] {
                    Mark::New => {
                        mark[w] = Mark::Open;
                        stack.push((w, 0));
                    }
                    Mark::Open => reversed[e] = true,
                    Mark::Done => {}
                }
            } else {
                mark[v] = Mark::Done;
                stack.pop();
            }
        }
    }
    reversed
}

/// Longest-path layers over the acyclic edges.
fn layers<'a>(n: usize, placed: impl Iterator<Item = &'a Placed>) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut below: Vec<Vec<usize>> = vec![Vec::new(); n];
    for p in placed {
        below[p.upper].push(p.lower);
        indegree[p.lower] += 1;
    }
    let mut layer = vec![0usize; n];
    let mut ready: std::collections::VecDeque<usize> =
        (0..n).filter(|&v| indegree[v] == 0).collect();
    while let Some(v) = ready.pop_front() {
        for &w in &below[v] {
            layer[w] = layer[w].max(layer[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                ready.push_back(w);
            }
        }
    }
    layer
}

/// Edges that get no bends, longest first, until the rest fit in [`MAX_DUMMIES`].
fn over_budget(placed: &[Option<Placed>], layer: &[usize]) -> Vec<bool> {
    let bends = |p: &Placed| 2 * (layer[p.lower] - layer[p.upper]) - 1;
    let mut total: usize = placed.iter().flatten().map(bends).sum();
    let mut direct = vec![false; placed.len()];
    if total <= MAX_DUMMIES {
        return direct;
    }
    let mut by_length: Vec<(usize, usize)> = placed
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.as_ref().map(|p| (bends(p), i)))
        .collect();
    by_length.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (count, i) in by_length {
        if total <= MAX_DUMMIES {
            break;
        }
        direct[i] = true;
        total -= count;
    }
    direct
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxes(n: usize) -> Vec<Node> {
        (0..n)
            .map(|i| Node {
                width: 100.0,
                height: 40.0,
                port_span: 60.0,
                order: i as u64,
            })
            .collect()
    }

    fn edge(from: usize, to: usize) -> Edge {
        Edge {
            from,
            to,
            label: None,
        }
    }

    fn overlaps(l: &Layout, nodes: &[Node]) -> bool {
        for i in 0..nodes.len() {
            for j in i + 1..nodes.len() {
                let (a, b) = (l.nodes[i], l.nodes[j]);
                if a.x < b.x + nodes[j].width
                    && b.x < a.x + nodes[i].width
                    && a.y < b.y + nodes[j].height
                    && b.y < a.y + nodes[i].height
                {
                    return true;
                }
            }
        }
        false
    }

    #[test]
    fn a_chain_runs_straight_down() {
        let nodes = boxes(3);
        let l = layout(&nodes, &[edge(0, 1), edge(1, 2)]);
        assert_eq!(l.nodes[0].x, l.nodes[1].x);
        assert_eq!(l.nodes[1].x, l.nodes[2].x);
        assert!(l.nodes[0].y < l.nodes[1].y && l.nodes[1].y < l.nodes[2].y);
        assert_eq!(l.crossings, 0);
    }

    #[test]
    fn a_loop_is_drawn_back_up_and_ends_at_its_target() {
        let nodes = boxes(3);
        let l = layout(&nodes, &[edge(0, 1), edge(1, 2), edge(2, 0)]);
        assert!(l.nodes[2].y > l.nodes[0].y);
        let back = &l.routes[2];
        // Leaves the top of 2, arrives at the bottom of 0.
        assert_eq!(back.start.y, l.nodes[2].y);
        let Seg::Cubic(_, _, end) = back.segs.last().unwrap() else {
            panic!()
        };
        assert_eq!(end.y, l.nodes[0].y + 40.0);
    }

    #[test]
    fn crossings_never_exceed_those_of_the_initial_order() {
        // 0 -> {3, 2}, 1 -> {2, 3}: file order crosses, the reduction removes it.
        let nodes = boxes(4);
        let l = layout(
            &nodes,
            &[edge(0, 3), edge(1, 2), edge(0, 4 - 2), edge(1, 3)],
        );
        assert!(l.crossings <= l.initial_crossings);
        let nodes = boxes(6);
        let edges = [edge(0, 5), edge(1, 4), edge(2, 3)];
        let l = layout(&nodes, &edges);
        assert_eq!(l.initial_crossings, 3);
        assert_eq!(l.crossings, 0);
    }

    #[test]
    fn wide_fans_and_labels_do_not_overlap() {
        let mut nodes = boxes(12);
        nodes[3].width = 300.0;
        let edges: Vec<Edge> = (1..12)
            .map(|i| Edge {
                from: 0,
                to: i,
                label: Some((80.0, 14.0)),
            })
            .collect();
        let l = layout(&nodes, &edges);
        assert!(!overlaps(&l, &nodes));
        assert!(l.routes.iter().all(|r| r.label.is_some()));
    }

    #[test]
    fn self_loops_widen_their_box_and_return_to_it() {
        let nodes = boxes(2);
        let l = layout(
            &nodes,
            &[
                Edge {
                    from: 0,
                    to: 0,
                    label: Some((50.0, 14.0)),
                },
                edge(0, 1),
            ],
        );
        assert!(l.width >= 100.0 + LOOP_OUT + 50.0);
        assert_eq!(l.routes[0].start.x, l.nodes[0].x + 100.0);
    }

    #[test]
    fn layout_is_deterministic() {
        let nodes = boxes(30);
        let edges: Vec<Edge> = (0..29)
            .flat_map(|i| [edge(i, i + 1), edge(i, (i * 7 + 3) % 30)])
            .collect();
        let a = layout(&nodes, &edges);
        let b = layout(&nodes, &edges);
        assert_eq!(a, b);
        assert!(!overlaps(&a, &nodes));
    }
}
