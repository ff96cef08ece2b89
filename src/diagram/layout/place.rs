//! Step 5 of the layout: x of every item (a weighted isotonic regression per rank, swept down
//! and up), long edges straightened, and the height of every rank.

use super::model::{BEND_GAP, Item, Kind, NODE_GAP, Placed, RANK_GAP};

/// Rounds of coordinate assignment (each one down and one up).
const COORDINATE_ROUNDS: usize = 8;

/// The least distance between the centres of two neighbours in a rank.
fn separation(a: &Item, b: &Item) -> f64 {
    let gap = match (a.kind, b.kind) {
        (Kind::Node, Kind::Node) => NODE_GAP,
        _ => BEND_GAP,
    };
    a.right + gap + b.left
}

/// How strongly an edge pulls its ends into line: bends most, so long edges run straight.
fn weight(a: &Item, b: &Item) -> f64 {
    match (a.kind, b.kind) {
        (Kind::Bend, Kind::Bend) => 32.0,
        (Kind::Node, Kind::Node) => 1.0,
        _ => 2.0,
    }
}

/// x of every item's centre (see the module documentation, step 5).
pub(super) fn coordinates(items: &[Item], ranks: &[Vec<usize>]) -> Vec<f64> {
    let mut x = vec![0.0f64; items.len()];
    for r in ranks {
        let mut at = 0.0;
        for (i, &id) in r.iter().enumerate() {
            if i > 0 {
                at += separation(&items[r[i - 1]], &items[id]);
            }
            x[id] = at;
        }
    }
    for _ in 0..COORDINATE_ROUNDS {
        for rank in ranks.iter().skip(1) {
            place_rank(items, rank, &mut x, true);
        }
        for rank in ranks.iter().rev().skip(1) {
            place_rank(items, rank, &mut x, false);
        }
    }
    let min = items
        .iter()
        .enumerate()
        .map(|(id, it)| x[id] - it.left)
        .fold(f64::INFINITY, f64::min);
    if min.is_finite() {
        for v in &mut x {
            *v -= min;
        }
    }
    x
}

/// Moves one rank toward its neighbours above (`up`) or below, keeping separations.
fn place_rank(items: &[Item], rank: &[usize], x: &mut [f64], up: bool) {
    if rank.is_empty() {
        return;
    }
    let mut targets = Vec::with_capacity(rank.len());
    let mut offsets = Vec::with_capacity(rank.len());
    let mut offset = 0.0;
    for (i, &id) in rank.iter().enumerate() {
        if i > 0 {
            offset += separation(&items[rank[i - 1]], &items[id]);
        }
        let nb = if up { &items[id].up } else { &items[id].down };
        let (mut sum, mut w) = (0.0, 0.0);
        for &v in nb {
            let k = weight(&items[id], &items[v]);
            sum += k * x[v];
            w += k;
        }
        let (target, w) = if w > 0.0 {
            (sum / w, w)
        } else {
            // Nothing pulls it: stay, weakly.
            (x[id], 0.1)
        };
        targets.push((target - offset, w));
        offsets.push(offset);
    }
    let fitted = isotonic(&targets);
    for (i, &id) in rank.iter().enumerate() {
        x[id] = fitted[i] + offsets[i];
    }
}

/// Weighted least-squares non-decreasing fit (pool adjacent violators).
fn isotonic(values: &[(f64, f64)]) -> Vec<f64> {
    // Blocks of (mean, weight, count).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(values.len());
    for &(v, w) in values {
        blocks.push((v, w, 1));
        while blocks.len() > 1 {
            let (m2, w2, c2) = blocks[blocks.len() - 1];
            let (m1, w1, c1) = blocks[blocks.len() - 2];
            if m1 <= m2 {
                break;
            }
            blocks.pop();
            let w = w1 + w2;
            *blocks.last_mut().expect("two blocks") = ((m1 * w1 + m2 * w2) / w, w, c1 + c2);
        }
    }
    blocks
        .into_iter()
        .flat_map(|(m, _, c)| std::iter::repeat_n(m, c))
        .collect()
}

/// Puts the bends of each long edge on one vertical line wherever the neighbours in their ranks
/// leave room for it, so a long edge runs straight instead of jogging at each rank.
pub(super) fn straighten(
    items: &[Item],
    ranks: &[Vec<usize>],
    placed: &[Option<Placed>],
    x: &mut [f64],
) {
    let mut slot = vec![0usize; items.len()];
    for r in ranks {
        for (i, &id) in r.iter().enumerate() {
            slot[id] = i;
        }
    }
    for _ in 0..2 {
        for p in placed.iter().flatten() {
            if p.bends.len() < 2 {
                continue;
            }
            let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
            for &b in &p.bends {
                let rank = &ranks[items[b].rank];
                let i = slot[b];
                if i > 0 {
                    let left = rank[i - 1];
                    lo = lo.max(x[left] + separation(&items[left], &items[b]));
                }
                if let Some(&right) = rank.get(i + 1) {
                    hi = hi.min(x[right] - separation(&items[b], &items[right]));
                }
            }
            if lo > hi {
                continue;
            }
            let mean = p.bends.iter().map(|&b| x[b]).sum::<f64>() / p.bends.len() as f64;
            let to = mean.clamp(lo, hi);
            for &b in &p.bends {
                x[b] = to;
            }
        }
    }
}

/// Top and height of every rank, and the height of the whole.
pub(super) fn rank_bands(items: &[Item], ranks: &[Vec<usize>]) -> (Vec<f64>, Vec<f64>, f64) {
    let heights: Vec<f64> = ranks
        .iter()
        .map(|r| r.iter().map(|&id| items[id].height).fold(0.0, f64::max))
        .collect();
    let mut tops = Vec::with_capacity(ranks.len());
    let mut y = 0.0;
    for (i, h) in heights.iter().enumerate() {
        if i > 0 {
            y += RANK_GAP;
        }
        tops.push(y);
        y += h;
    }
    (tops, heights, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_fit_pools_violators() {
        assert_eq!(
            isotonic(&[(1.0, 1.0), (3.0, 1.0), (2.0, 1.0)]),
            [1.0, 2.5, 2.5]
        );
        assert_eq!(isotonic(&[(5.0, 3.0), (1.0, 1.0)]), [4.0, 4.0]);
    }
}
