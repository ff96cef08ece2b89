//! Step 4 of the layout: the order of the items in each rank (barycenter sweeps, transposition,
//! the best order seen kept).

use super::model::Item;

/// Sweeps of the crossing reduction at most.
const MAX_SWEEPS: usize = 24;
/// Sweeps without improvement before the crossing reduction stops.
const PATIENCE: usize = 4;
/// Transpose (adjacent swaps) runs only below this many items: it is quadratic in degree.
const TRANSPOSE_LIMIT: usize = 4000;

/// Crossings between every pair of adjacent ranks (inversions counted with a Fenwick tree).
pub(super) fn crossings(items: &[Item], ranks: &[Vec<usize>]) -> usize {
    let mut pos = vec![0usize; items.len()];
    for r in ranks {
        for (i, &id) in r.iter().enumerate() {
            pos[id] = i;
        }
    }
    let mut total = 0;
    for pair in ranks.windows(2) {
        let mut segments: Vec<(usize, usize)> = pair[0]
            .iter()
            .flat_map(|&u| items[u].down.iter().map(move |&v| (u, v)))
            .map(|(u, v)| (pos[u], pos[v]))
            .collect();
        segments.sort_unstable();
        let mut tree = vec![0usize; pair[1].len() + 1];
        for (seen, &(_, v)) in segments.iter().enumerate() {
            // Segments seen so far that end right of v cross this one.
            let mut not_greater = 0;
            let mut i = v + 1;
            while i > 0 {
                not_greater += tree[i];
                i -= i & i.wrapping_neg();
            }
            total += seen - not_greater;
            let mut i = v + 1;
            while i < tree.len() {
                tree[i] += 1;
                i += i & i.wrapping_neg();
            }
        }
    }
    total
}

/// Barycenter sweeps and transposition from the initial order; returns the best order seen.
pub(super) fn order(
    items: &[Item],
    mut ranks: Vec<Vec<usize>>,
    initial: usize,
) -> (Vec<Vec<usize>>, usize) {
    let mut best = ranks.clone();
    let mut best_crossings = initial;
    let mut pos = vec![0.0f64; items.len()];
    let mut stale = 0;
    for sweep in 0..MAX_SWEEPS {
        if best_crossings == 0 {
            break;
        }
        let down = sweep % 2 == 0;
        let order: Vec<usize> = if down {
            (1..ranks.len()).collect()
        } else {
            (0..ranks.len().saturating_sub(1)).rev().collect()
        };
        for r in &ranks {
            for (i, &id) in r.iter().enumerate() {
                pos[id] = i as f64;
            }
        }
        for r in order {
            let mut keyed: Vec<(f64, usize)> = ranks[r]
                .iter()
                .map(|&id| {
                    let nb = if down { &items[id].up } else { &items[id].down };
                    let bary = if nb.is_empty() {
                        pos[id]
                    } else {
                        nb.iter().map(|&v| pos[v]).sum::<f64>() / nb.len() as f64
                    };
                    (bary, id)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            ranks[r] = keyed.into_iter().map(|(_, id)| id).collect();
            for (i, &id) in ranks[r].iter().enumerate() {
                pos[id] = i as f64;
            }
        }
        if items.len() <= TRANSPOSE_LIMIT {
            transpose(items, &mut ranks);
        }
        let c = crossings(items, &ranks);
        if c < best_crossings {
            best_crossings = c;
            best = ranks.clone();
            stale = 0;
        } else {
            stale += 1;
            if stale >= PATIENCE {
                break;
            }
        }
    }
    (best, best_crossings)
}

/// Swaps neighbours in a rank while that removes crossings with the ranks above and below.
fn transpose(items: &[Item], ranks: &mut [Vec<usize>]) {
    let mut pos = vec![0usize; items.len()];
    for r in ranks.iter() {
        for (i, &id) in r.iter().enumerate() {
            pos[id] = i;
        }
    }
    // Crossings among the edges of u and v (u left of v) toward one neighbouring rank.
    let pair = |pos: &[usize], a: &[usize], b: &[usize]| -> usize {
        a.iter()
            .map(|&x| b.iter().filter(|&&y| pos[x] > pos[y]).count())
            .sum()
    };
    for _ in 0..4 {
        let mut improved = false;
        for rank in ranks.iter_mut() {
            for i in 0..rank.len().saturating_sub(1) {
                let (u, v) = (rank[i], rank[i + 1]);
                let now = pair(&pos, &items[u].up, &items[v].up)
                    + pair(&pos, &items[u].down, &items[v].down);
                let swapped = pair(&pos, &items[v].up, &items[u].up)
                    + pair(&pos, &items[v].down, &items[u].down);
                if swapped < now {
                    rank.swap(i, i + 1);
                    pos[u] = i + 1;
                    pos[v] = i;
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
}
