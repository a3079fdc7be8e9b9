//! Train/val/test splits for folder exports: stratified per class, reproducible with a seed,
//! and stable — an item's place depends only on the seed, its id and its class's size, drawn
//! by sorting each class on a keyed hash of the item id.

use std::collections::HashMap;

use super::{ExchangeError, Result};

/// Split names, in order.
pub const SPLIT_NAMES: [&str; 3] = ["train", "val", "test"];

/// Fractions of train, val and test (normalised to sum to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitFractions(pub [f64; 3]);

impl SplitFractions {
    /// Parse `0.8,0.1,0.1` or `0.8,0.2` (train, val).
    pub fn parse(s: &str) -> Result<SplitFractions> {
        let bad = || ExchangeError::BadSplit(s.to_string());
        let parts: Vec<f64> = s
            .split(',')
            .map(|p| p.trim().parse::<f64>().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return Err(bad());
        }
        let sum: f64 = parts.iter().sum();
        if sum <= 0.0 || parts[0] <= 0.0 {
            return Err(bad());
        }
        let mut f = [0.0; 3];
        for (i, x) in parts.iter().enumerate() {
            f[i] = x / sum;
        }
        Ok(SplitFractions(f))
    }

    /// How many of `n` items go to each split: largest remainders, and every split with a
    /// positive fraction gets at least one item when the class is large enough.
    pub fn counts(&self, n: usize) -> [usize; 3] {
        let mut c = [0usize; 3];
        let mut rema = [(0.0f64, 0usize); 3];
        for i in 0..3 {
            let x = self.0[i] * n as f64;
            c[i] = x.floor() as usize;
            rema[i] = (x - x.floor(), i);
        }
        let mut left = n - c.iter().sum::<usize>();
        rema.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in rema.iter() {
            if left == 0 {
                break;
            }
            if self.0[i] > 0.0 {
                c[i] += 1;
                left -= 1;
            }
        }
        c[0] += left;
        let wanted = self.0.iter().filter(|x| **x > 0.0).count();
        if n >= wanted {
            for i in 1..3 {
                if self.0[i] > 0.0 && c[i] == 0 {
                    let donor = (0..3).max_by_key(|&j| c[j]).unwrap_or(0);
                    if c[donor] > 1 {
                        c[donor] -= 1;
                        c[i] += 1;
                    }
                }
            }
        }
        c
    }
}

fn key(seed: u64, item_id: i64) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(&item_id.to_le_bytes());
    let b = h.finalize();
    u64::from_le_bytes(b.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// Collects (item id, class) pairs, then assigns each item a split index (0 train, 1 val,
/// 2 test).
#[derive(Debug, Default)]
pub struct SplitPlanner {
    by_class: HashMap<String, Vec<i64>>,
}

impl SplitPlanner {
    pub fn add(&mut self, item_id: i64, class: &str) {
        if let Some(v) = self.by_class.get_mut(class) {
            v.push(item_id);
        } else {
            self.by_class.insert(class.to_string(), vec![item_id]);
        }
    }

    pub fn assign(self, f: SplitFractions, seed: u64) -> HashMap<i64, u8> {
        let mut out = HashMap::new();
        for (_, mut ids) in self.by_class {
            ids.sort_by_key(|&id| (key(seed, id), id));
            let c = f.counts(ids.len());
            let mut it = ids.into_iter();
            for (s, &n) in c.iter().enumerate() {
                for id in it.by_ref().take(n) {
                    out.insert(id, s as u8);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_and_refuses_nonsense() {
        assert_eq!(
            SplitFractions::parse("0.8,0.1,0.1").unwrap().0,
            [0.8, 0.1, 0.1]
        );
        assert_eq!(SplitFractions::parse("8,2").unwrap().0, [0.8, 0.2, 0.0]);
        for bad in ["", "1", "0.5,x", "-1,2", "0,1", "1,1,1,1", "NaN,1"] {
            assert!(SplitFractions::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_add_up_and_small_classes_reach_every_split() {
        let f = SplitFractions::parse("0.8,0.1,0.1").unwrap();
        assert_eq!(f.counts(100), [80, 10, 10]);
        assert_eq!(f.counts(3), [1, 1, 1]);
        assert_eq!(f.counts(1), [1, 0, 0]);
        for n in 0..200 {
            assert_eq!(f.counts(n).iter().sum::<usize>(), n);
        }
    }

    #[test]
    fn assignment_is_stratified_and_reproducible() {
        let f = SplitFractions::parse("0.5,0.25,0.25").unwrap();
        let plan = |seed| {
            let mut p = SplitPlanner::default();
            for id in 0..40 {
                p.add(id, if id < 20 { "a" } else { "b" });
            }
            p.assign(f, seed)
        };
        let a = plan(7);
        assert_eq!(a, plan(7));
        assert_ne!(a, plan(8));
        for class in [0..20, 20..40] {
            let n_val = class.clone().filter(|id| a[id] == 1).count();
            assert_eq!(n_val, 5);
        }
    }
}
