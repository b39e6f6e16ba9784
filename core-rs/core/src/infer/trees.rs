//! Native evaluator for LightGBM tree ensembles, read from LightGBM's text model dump
//! (`Booster.save_model`). The trees are flattened into one node array (threshold, feature,
//! children, missing-value rule) and one leaf array, so a prediction is a walk over a few
//! contiguous cache lines per tree with no allocation. Decisions follow LightGBM's
//! `Tree::NumericalDecision` exactly and leaf values are summed in f64 like LightGBM, so
//! outputs match `Booster.predict` to rounding; anything this evaluator does not implement (categorical splits, linear
//! trees, objectives other than binary/multiclass) is refused at load with a typed error.

use std::path::{Path, PathBuf};

use crate::error::{CoreError, Result};

/// LightGBM's `kZeroThreshold` (|x| <= 1e-35 counts as zero for `missing_type=Zero`),
/// rounded down to f32 (see [`f32_floor`]).
const ZERO_F32: f32 = 9.999_999_5e-36;

/// Trees walked in lockstep by [`TreeEnsemble::raw_scores`].
const LANES: usize = 8;

/// The largest f32 <= `t`. Inputs are f32, so for any f32 `x` (widened exactly to f64),
/// `x <= t` in f64 exactly when `x <= f32_floor(t)` in f32: comparing in f32 against the
/// rounded-down threshold is the same decision as LightGBM's f64 comparison, with a node
/// half the size.
fn f32_floor(t: f64) -> f32 {
    let r = t as f32; // round to nearest
    if f64::from(r) <= t {
        r
    } else {
        // Rounded up: step one f32 down (r is never -inf here since t > f64::from(r) fails).
        let b = r.to_bits();
        if r == 0.0 {
            -f32::from_bits(1)
        } else if r > 0.0 {
            f32::from_bits(b - 1)
        } else {
            f32::from_bits(b + 1)
        }
    }
}

// Missing type 0 (None): NaN is treated as 0.0 and compared with the threshold.
const MISSING_ZERO: u8 = 1;
const MISSING_NAN: u8 = 2;

/// One split node, 16 bytes (four per cache line). `children[0]` is the left child,
/// `children[1]` the right; >= 0 is a node index (global, into `nodes`), < 0 a leaf (`!child`
/// = global leaf index). Children sit in an array so the walk picks one by index instead of
/// by a branch: the direction is data-dependent and would mispredict about half the time.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// [`f32_floor`] of LightGBM's f64 threshold.
    threshold: f32,
    feature: u16,
    default_left: bool,
    missing: u8,
    children: [i32; 2],
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// One raw score; probability of class 1 = sigmoid(sigmoid * raw).
    Binary { sigmoid: f64 },
    /// One raw score per class; probabilities = softmax.
    Multiclass { num_class: usize },
}

#[derive(Debug, Clone)]
pub struct TreeEnsemble {
    nodes: Vec<Node>,
    leaves: Vec<f64>,
    /// Root of each tree: a node index, or `!leaf` for a single-leaf tree.
    roots: Vec<i32>,
    pub objective: Objective,
    /// Raw scores per row (1 for binary, num_class for multiclass).
    pub num_tree_per_iteration: usize,
    /// Input features the model was trained on (`max_feature_idx + 1`).
    pub num_features: usize,
    pub feature_names: Vec<String>,
}

/// A parse error at a line of the dump.
fn bad(path: &Path, line: usize, detail: impl Into<String>) -> CoreError {
    CoreError::BadLine {
        path: path.to_path_buf(),
        line: line as u64,
        detail: detail.into(),
    }
}

fn unsupported(path: &Path, detail: impl Into<String>) -> CoreError {
    CoreError::UnsupportedModel {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// The key=value lines of one block (header or tree), with their line numbers.
struct Block<'a> {
    start: usize,
    kv: Vec<(usize, &'a str, &'a str)>,
}

impl<'a> Block<'a> {
    fn get(&self, key: &str) -> Option<(usize, &'a str)> {
        self.kv
            .iter()
            .find(|(_, k, _)| *k == key)
            .map(|(l, _, v)| (*l, *v))
    }

    fn need(&self, path: &Path, key: &str) -> Result<(usize, &'a str)> {
        self.get(key)
            .ok_or_else(|| bad(path, self.start, format!("missing `{key}=`")))
    }

    fn list<T: std::str::FromStr>(&self, path: &Path, key: &str, n: usize) -> Result<Vec<T>> {
        let (line, v) = self.need(path, key)?;
        let out: Vec<T> = v
            .split(' ')
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<T>()
                    .map_err(|_| bad(path, line, format!("`{key}`: bad value {t:?}")))
            })
            .collect::<Result<_>>()?;
        if out.len() != n {
            return Err(bad(
                path,
                line,
                format!("`{key}` has {} values, expected {n}", out.len()),
            ));
        }
        Ok(out)
    }
}

impl TreeEnsemble {
    /// Reads a `model.lgbm.txt` file.
    pub fn load(path: &Path) -> Result<TreeEnsemble> {
        let text = std::fs::read_to_string(path).map_err(|e| CoreError::io(path, e))?;
        TreeEnsemble::parse(path, &text)
    }

    /// Parses the text of a dump; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<TreeEnsemble> {
        let path: PathBuf = path.to_path_buf();
        let path = path.as_path();
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end()));
        match lines.next() {
            Some((_, "tree")) => {}
            _ => {
                return Err(bad(
                    path,
                    1,
                    "not a LightGBM text model (first line is not `tree`)",
                ))
            }
        }
        // Split into blocks: the header, then one per `Tree=<i>`, up to `end of trees`.
        let mut header = Block {
            start: 1,
            kv: Vec::new(),
        };
        let mut trees: Vec<Block> = Vec::new();
        let mut ended = false;
        for (no, line) in lines {
            if line == "end of trees" {
                ended = true;
                break;
            }
            if line.is_empty() {
                continue;
            }
            if let Some(idx) = line.strip_prefix("Tree=") {
                if idx.parse::<usize>().ok() != Some(trees.len()) {
                    return Err(bad(path, no, format!("expected Tree={}", trees.len())));
                }
                trees.push(Block {
                    start: no,
                    kv: Vec::new(),
                });
                continue;
            }
            let (k, v) = match line.split_once('=') {
                Some(kv) => kv,
                // Header flags without a value (e.g. `average_output`).
                None => (line, ""),
            };
            match trees.last_mut() {
                Some(t) => t.kv.push((no, k, v)),
                None => header.kv.push((no, k, v)),
            }
        }
        if !ended {
            return Err(bad(
                path,
                text.lines().count(),
                "truncated: no `end of trees` line",
            ));
        }
        if header.get("average_output").is_some() {
            return Err(unsupported(
                path,
                "average_output (random-forest boosting) is not evaluated natively",
            ));
        }
        let parse_usize = |key: &str| -> Result<usize> {
            let (line, v) = header.need(path, key)?;
            v.parse()
                .map_err(|_| bad(path, line, format!("`{key}`: bad value {v:?}")))
        };
        let num_class = parse_usize("num_class")?;
        let per_iter = parse_usize("num_tree_per_iteration")?;
        let (fline, max_feature) = header.need(path, "max_feature_idx")?;
        let num_features = max_feature
            .parse::<usize>()
            .map_err(|_| bad(path, fline, "`max_feature_idx`: not an integer"))?
            + 1;
        let feature_names: Vec<String> = header
            .get("feature_names")
            .map(|(_, v)| v.split(' ').map(str::to_string).collect())
            .unwrap_or_default();
        let (oline, objective_s) = header.need(path, "objective")?;
        let mut words = objective_s.split(' ');
        let objective = match words.next().unwrap_or("") {
            "binary" => {
                let mut sigmoid = 1.0;
                for w in words {
                    if let Some(s) = w.strip_prefix("sigmoid:") {
                        sigmoid = s
                            .parse()
                            .map_err(|_| bad(path, oline, format!("bad sigmoid {s:?}")))?;
                    }
                }
                if num_class != 1 || per_iter != 1 {
                    return Err(bad(
                        path,
                        oline,
                        format!("binary objective with num_class={num_class}"),
                    ));
                }
                Objective::Binary { sigmoid }
            }
            "multiclass" | "softmax" => {
                if num_class < 2 || per_iter != num_class {
                    return Err(bad(
                        path,
                        oline,
                        format!(
                            "multiclass with num_class={num_class}, \
                             num_tree_per_iteration={per_iter}"
                        ),
                    ));
                }
                Objective::Multiclass { num_class }
            }
            other => {
                return Err(unsupported(
                    path,
                    format!("objective {other:?} (line {oline}); supported: binary, multiclass"),
                ))
            }
        };
        if trees.is_empty() || trees.len() % per_iter != 0 {
            return Err(bad(
                path,
                header.start,
                format!(
                    "{} trees is not a multiple of num_tree_per_iteration={per_iter}",
                    trees.len()
                ),
            ));
        }

        let mut ens = TreeEnsemble {
            nodes: Vec::new(),
            leaves: Vec::new(),
            roots: Vec::with_capacity(trees.len()),
            objective,
            num_tree_per_iteration: per_iter,
            num_features,
            feature_names,
        };
        for (t, block) in trees.iter().enumerate() {
            ens.push_tree(path, t, block)?;
        }
        Ok(ens)
    }

    fn push_tree(&mut self, path: &Path, t: usize, b: &Block) -> Result<()> {
        let (nl_line, nl) = b.need(path, "num_leaves")?;
        let num_leaves: usize = nl
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| bad(path, nl_line, format!("tree {t}: bad num_leaves {nl:?}")))?;
        if let Some((line, v)) = b.get("num_cat") {
            if v != "0" {
                return Err(unsupported(
                    path,
                    format!("tree {t} (line {line}) has categorical splits (num_cat={v})"),
                ));
            }
        }
        if let Some((line, v)) = b.get("is_linear") {
            if v != "0" {
                return Err(unsupported(
                    path,
                    format!("tree {t} (line {line}) is a linear tree"),
                ));
            }
        }
        let leaf_values: Vec<f64> = b.list(path, "leaf_value", num_leaves)?;
        if let Some(i) = leaf_values.iter().position(|v| !v.is_finite()) {
            return Err(bad(
                path,
                b.need(path, "leaf_value")?.0,
                format!("tree {t}: leaf {i} value is not finite"),
            ));
        }
        let leaf_base = self.leaves.len();
        self.leaves.extend_from_slice(&leaf_values);
        let leaf_ref = |leaf: usize| -> i32 { !((leaf_base + leaf) as i32) };
        if num_leaves == 1 {
            self.roots.push(leaf_ref(0));
            return Ok(());
        }
        let n = num_leaves - 1;
        let feature: Vec<u32> = b.list(path, "split_feature", n)?;
        let threshold: Vec<f64> = b.list(path, "threshold", n)?;
        let decision: Vec<u8> = b.list(path, "decision_type", n)?;
        let left: Vec<i32> = b.list(path, "left_child", n)?;
        let right: Vec<i32> = b.list(path, "right_child", n)?;
        let node_base = self.nodes.len();
        let child = |c: i32, line: usize| -> Result<i32> {
            if c >= 0 {
                if (c as usize) < n {
                    Ok((node_base + c as usize) as i32)
                } else {
                    Err(bad(path, line, format!("tree {t}: child node {c} >= {n}")))
                }
            } else {
                let leaf = !c as usize;
                if leaf < num_leaves {
                    Ok(leaf_ref(leaf))
                } else {
                    Err(bad(
                        path,
                        line,
                        format!("tree {t}: child leaf {leaf} >= {num_leaves}"),
                    ))
                }
            }
        };
        let (dline, _) = b.need(path, "decision_type")?;
        let (lline, _) = b.need(path, "left_child")?;
        let (rline, _) = b.need(path, "right_child")?;
        for i in 0..n {
            let d = decision[i];
            if d & 1 != 0 {
                return Err(unsupported(
                    path,
                    format!("tree {t} (line {dline}) node {i} is a categorical split"),
                ));
            }
            let missing = (d >> 2) & 3;
            if missing > MISSING_NAN {
                return Err(bad(
                    path,
                    dline,
                    format!("tree {t}: missing type {missing}"),
                ));
            }
            if feature[i] as usize >= self.num_features || feature[i] > u32::from(u16::MAX) {
                return Err(bad(
                    path,
                    b.need(path, "split_feature")?.0,
                    format!("tree {t}: split feature {} > max_feature_idx", feature[i]),
                ));
            }
            if threshold[i].is_nan() {
                return Err(bad(path, dline, format!("tree {t}: NaN threshold")));
            }
            self.nodes.push(Node {
                threshold: f32_floor(threshold[i]),
                children: [child(left[i], lline)?, child(right[i], rline)?],
                feature: feature[i] as u16,
                default_left: d & 2 != 0,
                missing,
            });
        }
        self.roots.push(node_base as i32);
        Ok(())
    }

    pub fn num_trees(&self) -> usize {
        self.roots.len()
    }

    /// Number of probability columns (2 for binary).
    pub fn num_classes(&self) -> usize {
        match self.objective {
            Objective::Binary { .. } => 2,
            Objective::Multiclass { num_class } => num_class,
        }
    }

    /// One step of LightGBM's `NumericalDecision` walk from internal node `at`: the child
    /// the row goes to, chosen without a data-dependent branch.
    #[inline(always)]
    fn step(&self, at: i32, row: &[f32]) -> i32 {
        // In bounds by construction: children were range-checked at parse time.
        let node = &self.nodes[at as usize];
        let raw = row[usize::from(node.feature)];
        let nan = raw.is_nan();
        let nan_type = node.missing == MISSING_NAN;
        // NaN counts as 0.0 unless the node has a NaN rule.
        let x = if nan && !nan_type { 0.0 } else { raw };
        let to_default =
            (nan_type & nan) | ((node.missing == MISSING_ZERO) & (x.abs() <= ZERO_F32));
        let left = if to_default {
            node.default_left
        } else {
            x <= node.threshold
        };
        node.children[usize::from(!left)]
    }

    /// Raw scores of one row (`row.len() == num_features`) into `raw`
    /// (`num_tree_per_iteration` values). Trees are walked [`LANES`] at a time in lockstep:
    /// one walk is a chain of dependent loads (node, then feature, then child), so
    /// interleaving independent walks lets their latencies overlap.
    pub fn raw_scores(&self, row: &[f32], raw: &mut [f64]) {
        debug_assert_eq!(row.len(), self.num_features);
        raw.fill(0.0);
        let k = self.num_tree_per_iteration;
        for (c, chunk) in self.roots.chunks(LANES).enumerate() {
            let mut at = [-1i32; LANES];
            at[..chunk.len()].copy_from_slice(chunk);
            loop {
                let mut active = false;
                for a in at.iter_mut() {
                    if *a >= 0 {
                        *a = self.step(*a, row);
                        active = true;
                    }
                }
                if !active {
                    break;
                }
            }
            for (l, &leaf) in at[..chunk.len()].iter().enumerate() {
                raw[(c * LANES + l) % k] += self.leaves[!leaf as usize];
            }
        }
    }

    /// Class probabilities of one row into `out` (`num_classes()` values).
    pub fn predict_row(&self, row: &[f32], out: &mut [f64]) {
        match self.objective {
            Objective::Binary { sigmoid } => {
                let mut raw = [0.0];
                self.raw_scores(row, &mut raw);
                let p = 1.0 / (1.0 + (-sigmoid * raw[0]).exp());
                out[0] = 1.0 - p;
                out[1] = p;
            }
            Objective::Multiclass { .. } => {
                self.raw_scores(row, out);
                softmax(out);
            }
        }
    }
}

/// In-place softmax, max-subtracted like LightGBM's `Common::Softmax`.
pub fn softmax(v: &mut [f64]) {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in v.iter_mut() {
        *x /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two binary stumps written by hand in LightGBM's format: tree 0 splits feature 0 at
    /// 0.5 with NaN going left, tree 1 splits feature 1 at 0 with missing-as-zero going right.
    const STUMPS: &str = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\n\
label_index=0\nmax_feature_idx=1\nobjective=binary sigmoid:1\nfeature_names=a b\n\n\
Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=0.5\ndecision_type=10\n\
left_child=-1\nright_child=-2\nleaf_value=-1 1\nis_linear=0\nshrinkage=1\n\n\n\
Tree=1\nnum_leaves=2\nnum_cat=0\nsplit_feature=1\nthreshold=0\ndecision_type=4\n\
left_child=-1\nright_child=-2\nleaf_value=0.25 0.5\nis_linear=0\nshrinkage=1\n\n\n\
end of trees\n";

    fn raw(e: &TreeEnsemble, a: f32, b: f32) -> f64 {
        let mut r = [0.0];
        e.raw_scores(&[a, b], &mut r);
        r[0]
    }

    #[test]
    fn decisions_follow_lightgbm_missing_rules() {
        let e = TreeEnsemble::parse(Path::new("stumps.txt"), STUMPS).unwrap();
        assert_eq!(e.num_trees(), 2);
        // decision_type 10 = default_left (2) | NaN missing (8): NaN goes left.
        assert_eq!(raw(&e, f32::NAN, -1.0), -1.0 + 0.25);
        assert_eq!(raw(&e, 0.7, -1.0), 1.0 + 0.25);
        // decision_type 4 = Zero missing, default right: zero and NaN go right even
        // though 0 <= threshold 0.
        assert_eq!(raw(&e, 0.0, 0.0), -1.0 + 0.5);
        assert_eq!(raw(&e, 0.0, f32::NAN), -1.0 + 0.5);
        assert_eq!(raw(&e, 0.0, -0.1), -1.0 + 0.25);
        let mut out = [0.0; 2];
        e.predict_row(&[0.7, 1.0], &mut out);
        let p = 1.0 / (1.0 + (-1.5f64).exp());
        assert!((out[1] - p).abs() < 1e-15 && (out[0] + out[1] - 1.0).abs() < 1e-15);
    }

    #[test]
    fn zero_threshold_in_f32_is_the_f64_one_rounded_down() {
        assert_eq!(f32_floor(1e-35), ZERO_F32);
    }

    #[test]
    fn f32_floor_keeps_the_f64_decision() {
        for t in [
            0.1f64,
            -0.1,
            1e-35,
            -1e-35,
            0.0,
            1e300,
            -1e300,
            3.5,
            1.000_000_1,
        ] {
            let f = f32_floor(t);
            assert!(f64::from(f) <= t, "{t}");
            // The next f32 up is above t: no f32 lies between f and t.
            let up = if f == 0.0 {
                f32::from_bits(1)
            } else {
                f32::from_bits(if f > 0.0 {
                    f.to_bits() + 1
                } else {
                    f.to_bits() - 1
                })
            };
            assert!(
                t.is_infinite() || f.is_infinite() || f64::from(up) > t || f == f32::MAX,
                "{t}"
            );
        }
    }

    #[test]
    fn refuses_categorical_and_unknown_objectives() {
        let cat = STUMPS.replacen("decision_type=10", "decision_type=11", 1);
        let err = TreeEnsemble::parse(Path::new("m.txt"), &cat).unwrap_err();
        assert!(matches!(err, CoreError::UnsupportedModel { .. }), "{err}");
        assert!(err.to_string().contains("categorical"), "{err}");
        let obj = STUMPS.replace("objective=binary sigmoid:1", "objective=lambdarank");
        let err = TreeEnsemble::parse(Path::new("m.txt"), &obj).unwrap_err();
        assert!(err.to_string().contains("lambdarank"), "{err}");
    }

    #[test]
    fn corrupt_dumps_are_typed_errors_with_lines() {
        let trunc = &STUMPS[..STUMPS.len() - 14];
        let err = TreeEnsemble::parse(Path::new("m.txt"), trunc).unwrap_err();
        assert!(err.to_string().contains("end of trees"), "{err}");
        let badchild = STUMPS.replacen("right_child=-2", "right_child=-7", 1);
        let err = TreeEnsemble::parse(Path::new("m.txt"), &badchild).unwrap_err();
        let CoreError::BadLine { line, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(line, 17);
        let err = TreeEnsemble::parse(Path::new("m.txt"), "garbage").unwrap_err();
        assert!(matches!(err, CoreError::BadLine { line: 1, .. }));
    }
}
