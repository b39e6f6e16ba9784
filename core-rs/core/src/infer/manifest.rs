//! The export manifest (`manifest.json`, docs/model-manifest.md) as the core reads it: only
//! the fields inference needs, each checked for type and consistency. Every problem found is
//! collected, so a bad manifest is refused with the full list rather than the first error.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{CoreError, Result};

/// One tensor of the model's declared IO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    /// ONNX element type name: "float32", "int64", ...
    pub dtype: String,
    /// -1 for a dynamic dimension (the batch).
    pub shape: Vec<i64>,
}

impl std::fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}{:?}", self.name, self.dtype, self.shape)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    LightGbm,
    Lstm,
    Gru,
    Transformer,
    Stacking,
    /// scikit-learn base learners (tabular rows, ONNX only).
    RandomForest,
    Svm,
    Mlp,
}

impl ModelKind {
    pub fn parse(s: &str) -> Option<ModelKind> {
        Some(match s {
            "lightgbm" => ModelKind::LightGbm,
            "lstm" => ModelKind::Lstm,
            "gru" => ModelKind::Gru,
            "transformer" => ModelKind::Transformer,
            "stacking" => ModelKind::Stacking,
            "random_forest" => ModelKind::RandomForest,
            "svm" => ModelKind::Svm,
            "mlp" => ModelKind::Mlp,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            ModelKind::LightGbm => "lightgbm",
            ModelKind::Lstm => "lstm",
            ModelKind::Gru => "gru",
            ModelKind::Transformer => "transformer",
            ModelKind::Stacking => "stacking",
            ModelKind::RandomForest => "random_forest",
            ModelKind::Svm => "svm",
            ModelKind::Mlp => "mlp",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NativeSpec {
    pub file: String,
    pub format: String,
    pub sha256: Option<String>,
}

/// A stacking model's member, in input order.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    pub model_id: String,
    pub kind: String,
}

#[derive(Debug, Clone)]
pub struct Manifest {
    pub dir: PathBuf,
    pub schema_version: i64,
    pub family: String,
    pub model_id: String,
    pub created_at: String,
    /// `created_at` as UTC nanoseconds since the epoch.
    pub created_at_ns: i64,
    pub kind: ModelKind,
    pub classes: Vec<String>,
    pub class_values: Vec<i64>,
    pub feature_hash: String,
    pub feature_names: Vec<String>,
    pub onnx_file: String,
    pub onnx_sha256: Option<String>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub native: Option<NativeSpec>,
    /// Sequence models: rows of history per input.
    pub lookback: Option<usize>,
    pub members: Vec<MemberSpec>,
    /// Per-feature training minimum and maximum (the out-of-distribution gate).
    pub input_bounds: Option<(Vec<f64>, Vec<f64>)>,
    pub max_age_days: Option<f64>,
    /// The manifest text as read, for callers that want every field.
    pub text: String,
}

const MANIFEST_FILE: &str = "manifest.json";

impl Manifest {
    /// Reads and checks `<dir>/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| CoreError::io(&path, e))?;
        Manifest::parse(dir, &text)
    }

    /// Checks a manifest's text; `dir` is where its files live.
    pub fn parse(dir: &Path, text: &str) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let v: Value = serde_json::from_str(text).map_err(|e| CoreError::ModelContract {
            path: path.clone(),
            mismatches: vec![format!("manifest.json is not JSON: {e}")],
        })?;
        let mut r = Reader {
            problems: Vec::new(),
        };
        let root = &v;
        let schema_version = r.int(root, "schema_version").unwrap_or(0);
        if schema_version != 1 && r.problems.is_empty() {
            r.problems
                .push(format!("schema_version: {schema_version} (supported: 1)"));
        }
        let family = r.string(root, "family").unwrap_or_default();
        let model_id = r.string(root, "model_id").unwrap_or_default();
        let created_at = r.string(root, "created_at").unwrap_or_default();
        let created_at_ns = match parse_rfc3339_utc(&created_at) {
            Some(ns) => ns,
            None => {
                r.problems.push(format!(
                    "created_at: {created_at:?} is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SS[.f]Z)"
                ));
                0
            }
        };
        let kind_s = r.string(root, "kind").unwrap_or_default();
        let kind = ModelKind::parse(&kind_s).unwrap_or_else(|| {
            r.problems.push(format!(
                "kind: {kind_s:?} (known: lightgbm, lstm, gru, transformer, stacking, \
                 random_forest, svm, mlp)"
            ));
            ModelKind::LightGbm
        });
        let classes = r.strings(root, "classes").unwrap_or_default();
        if classes.len() < 2 {
            r.problems
                .push(format!("classes: {} class(es), need >= 2", classes.len()));
        }
        let class_values = r.ints(root, "class_values").unwrap_or_default();
        if class_values.len() != classes.len() {
            r.problems.push(format!(
                "class_values: {} value(s) for {} classes",
                class_values.len(),
                classes.len()
            ));
        }
        let fs = r.object(root, "feature_set");
        let feature_hash = fs.and_then(|f| r.string(f, "hash")).unwrap_or_default();
        let feature_names = fs.and_then(|f| r.strings(f, "names")).unwrap_or_default();
        let onnx = r.object(root, "onnx");
        let onnx_file = onnx.and_then(|o| r.string(o, "file")).unwrap_or_default();
        let onnx_sha256 = onnx.and_then(|o| o.get("sha256")).and_then(Value::as_str);
        let inputs = onnx
            .and_then(|o| r.tensors(o, "inputs"))
            .unwrap_or_default();
        let outputs = onnx
            .and_then(|o| r.tensors(o, "outputs"))
            .unwrap_or_default();
        let native = match root.get("native") {
            None | Some(Value::Null) => None,
            Some(n) if n.is_object() => {
                let file = r.string(n, "file").unwrap_or_default();
                let format = r.string(n, "format").unwrap_or_default();
                if format != "lightgbm-text" {
                    r.problems.push(format!(
                        "native.format: {format:?} (supported: lightgbm-text)"
                    ));
                }
                Some(NativeSpec {
                    file,
                    format,
                    sha256: n.get("sha256").and_then(Value::as_str).map(str::to_string),
                })
            }
            Some(_) => {
                r.problems.push("native: not an object or null".into());
                None
            }
        };
        let lookback = match root.get("sequence") {
            None | Some(Value::Null) => None,
            Some(s) => match s.get("lookback").and_then(Value::as_u64) {
                Some(n) if n > 0 => Some(n as usize),
                _ => {
                    r.problems
                        .push("sequence.lookback: not a positive integer".into());
                    None
                }
            },
        };
        let members = match root.get("members") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, m)| MemberSpec {
                    model_id: m
                        .get("model_id")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            r.problems.push(format!("members[{i}].model_id: missing"));
                            String::new()
                        }),
                    kind: m
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                })
                .collect(),
            Some(_) => {
                r.problems.push("members: not a list or null".into());
                Vec::new()
            }
        };
        if kind == ModelKind::Stacking && members.is_empty() {
            r.problems
                .push("members: a stacking model must list its members".into());
        }
        let input_bounds = match root.get("input_bounds") {
            None | Some(Value::Null) => None,
            Some(b) => {
                let min = r.floats(b, "input_bounds.min", "min").unwrap_or_default();
                let max = r.floats(b, "input_bounds.max", "max").unwrap_or_default();
                if min.len() != feature_names.len() || max.len() != feature_names.len() {
                    r.problems.push(format!(
                        "input_bounds: {} min / {} max values for {} features",
                        min.len(),
                        max.len(),
                        feature_names.len()
                    ));
                }
                if let Some(i) = min.iter().zip(&max).position(|(a, b)| a > b) {
                    r.problems.push(format!(
                        "input_bounds: min > max for feature {i} ({})",
                        feature_names.get(i).map_or("?", String::as_str)
                    ));
                }
                Some((min, max))
            }
        };
        let max_age_days = match root.get("max_age_days") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_f64() {
                Some(d) if d > 0.0 => Some(d),
                _ => {
                    r.problems
                        .push(format!("max_age_days: {v} is not a positive number"));
                    None
                }
            },
        };
        if !r.problems.is_empty() {
            return Err(CoreError::ModelContract {
                path,
                mismatches: r.problems,
            });
        }
        Ok(Manifest {
            dir: dir.to_path_buf(),
            schema_version,
            family,
            model_id,
            created_at,
            created_at_ns,
            kind,
            classes,
            class_values,
            feature_hash,
            feature_names,
            onnx_file,
            onnx_sha256: onnx_sha256.map(str::to_string),
            inputs,
            outputs,
            native,
            lookback,
            members,
            input_bounds,
            max_age_days,
            text: text.to_string(),
        })
    }

    pub fn onnx_path(&self) -> PathBuf {
        self.dir.join(&self.onnx_file)
    }

    pub fn native_path(&self) -> Option<PathBuf> {
        self.native.as_ref().map(|n| self.dir.join(&n.file))
    }
}

/// Field readers that record a problem instead of failing on the first.
struct Reader {
    problems: Vec<String>,
}

impl Reader {
    fn get<'v>(&mut self, v: &'v Value, key: &str) -> Option<&'v Value> {
        let got = v.get(key);
        if got.is_none() {
            self.problems.push(format!("{key}: missing"));
        }
        got
    }

    fn string(&mut self, v: &Value, key: &str) -> Option<String> {
        let x = self.get(v, key)?;
        match x.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.problems.push(format!("{key}: {x} is not a string"));
                None
            }
        }
    }

    fn int(&mut self, v: &Value, key: &str) -> Option<i64> {
        let x = self.get(v, key)?;
        let got = x.as_i64();
        if got.is_none() {
            self.problems.push(format!("{key}: {x} is not an integer"));
        }
        got
    }

    fn object<'v>(&mut self, v: &'v Value, key: &str) -> Option<&'v Value> {
        let x = self.get(v, key)?;
        if x.is_object() {
            Some(x)
        } else {
            self.problems.push(format!("{key}: not an object"));
            None
        }
    }

    fn list<'v>(&mut self, v: &'v Value, key: &str) -> Option<&'v Vec<Value>> {
        let x = self.get(v, key)?;
        let got = x.as_array();
        if got.is_none() {
            self.problems.push(format!("{key}: not a list"));
        }
        got
    }

    fn strings(&mut self, v: &Value, key: &str) -> Option<Vec<String>> {
        let a = self.list(v, key)?;
        let out: Option<Vec<String>> = a.iter().map(|x| x.as_str().map(str::to_string)).collect();
        if out.is_none() {
            self.problems.push(format!("{key}: not a list of strings"));
        }
        out
    }

    fn ints(&mut self, v: &Value, key: &str) -> Option<Vec<i64>> {
        let a = self.list(v, key)?;
        let out: Option<Vec<i64>> = a.iter().map(Value::as_i64).collect();
        if out.is_none() {
            self.problems.push(format!("{key}: not a list of integers"));
        }
        out
    }

    fn floats(&mut self, v: &Value, label: &str, key: &str) -> Option<Vec<f64>> {
        let a = match v.get(key).and_then(Value::as_array) {
            Some(a) => a,
            None => {
                self.problems
                    .push(format!("{label}: missing or not a list"));
                return None;
            }
        };
        let out: Option<Vec<f64>> = a.iter().map(Value::as_f64).collect();
        if out.is_none() {
            self.problems
                .push(format!("{label}: not a list of numbers"));
        }
        out
    }

    fn tensors(&mut self, v: &Value, key: &str) -> Option<Vec<TensorSpec>> {
        let a = self.list(v, key)?;
        let mut out = Vec::with_capacity(a.len());
        for (i, t) in a.iter().enumerate() {
            let name = t.get("name").and_then(Value::as_str);
            let dtype = t.get("dtype").and_then(Value::as_str);
            let shape: Option<Vec<i64>> = t
                .get("shape")
                .and_then(Value::as_array)
                .and_then(|s| s.iter().map(Value::as_i64).collect());
            match (name, dtype, shape) {
                (Some(n), Some(d), Some(s)) => out.push(TensorSpec {
                    name: n.to_string(),
                    dtype: d.to_string(),
                    shape: s,
                }),
                _ => self.problems.push(format!(
                    "onnx.{key}[{i}]: needs name (string), dtype (string), shape (list of ints)"
                )),
            }
        }
        Some(out)
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)` to UTC nanoseconds; None for anything else.
pub fn parse_rfc3339_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac_ns = 0i64;
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, c) in f[..digits].bytes().enumerate().take(9) {
            frac_ns += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
        }
        rest = &f[digits..];
    }
    if rest != "Z" && rest != "+00:00" {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) * 1_000_000_000) + frac_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses_utc_only() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_utc("2026-11-21T00:45:00Z"),
            Some(1_795_221_900_000_000_000)
        );
        assert_eq!(
            parse_rfc3339_utc("2026-11-21T00:45:00.5+00:00"),
            Some(1_795_221_900_500_000_000)
        );
        assert_eq!(parse_rfc3339_utc("2026-11-21T00:45:00+01:00"), None);
        assert_eq!(parse_rfc3339_utc("2026-13-21T00:45:00Z"), None);
        assert_eq!(parse_rfc3339_utc("yesterday"), None);
    }

    #[test]
    fn every_problem_is_listed() {
        let err = Manifest::parse(
            Path::new("/m"),
            r#"{"schema_version": 1, "kind": "xgboost", "classes": ["a"], "class_values": [1, 2]}"#,
        )
        .unwrap_err();
        let CoreError::ModelContract { mismatches, .. } = err else {
            panic!("wrong error {err}");
        };
        let all = mismatches.join("\n");
        for needle in [
            "family: missing",
            "kind: \"xgboost\"",
            "classes: 1",
            "class_values: 2",
        ] {
            assert!(all.contains(needle), "{needle} not in {all}");
        }
    }
}
