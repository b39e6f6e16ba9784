//! The official JSON-Logic test cases (jsonlogic.com `tests.json`, vendored in
//! `tests/data/jsonlogic/`, see its README) through `tradecore::gates`: the evaluator the
//! registry's promotion gates and the engine share. The Python twin is
//! `tests/unit/test_jsonlogic.py`; both must agree with the same file.

use std::path::PathBuf;

use serde_json::Value;
use tradecore::gates;

/// Operators excluded from the run, with the reason. Empty: datalogic-rs passes every case
/// of the vendored file. A case is skipped only if its rule uses one of these.
const EXCLUDED_OPERATORS: &[(&str, &str)] = &[];

/// Cases in the vendored file (its commit is named in the README); a changed file must
/// change this number on purpose.
const EXPECTED_CASES: usize = 267;

fn official_cases() -> Vec<(Value, Value, Value)> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/jsonlogic/tests.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let all: Vec<Value> = serde_json::from_str(&text).expect("tests.json is JSON");
    all.into_iter()
        // Strings are section headings ("# Compound Tests"), not cases.
        .filter_map(|c| match c {
            Value::Array(mut v) if v.len() == 3 => {
                let expected = v.pop().unwrap();
                let data = v.pop().unwrap();
                let rule = v.pop().unwrap();
                Some((rule, data, expected))
            }
            Value::String(_) => None,
            other => panic!("unexpected entry in tests.json: {other}"),
        })
        .collect()
}

fn operators(rule: &Value, out: &mut Vec<String>) {
    match rule {
        Value::Object(m) if m.len() == 1 => {
            let (op, args) = m.iter().next().unwrap();
            out.push(op.clone());
            operators(args, out);
        }
        Value::Array(items) => items.iter().for_each(|r| operators(r, out)),
        _ => {}
    }
}

#[test]
fn every_official_case_for_the_supported_operators_passes() {
    let cases = official_cases();
    assert_eq!(cases.len(), EXPECTED_CASES);
    let (mut passed, mut excluded, mut failures) = (0usize, 0usize, Vec::new());
    for (i, (rule, data, expected)) in cases.iter().enumerate() {
        let mut ops = Vec::new();
        operators(rule, &mut ops);
        if ops
            .iter()
            .any(|op| EXCLUDED_OPERATORS.iter().any(|(x, _)| x == op))
        {
            excluded += 1;
            continue;
        }
        match gates::evaluate(&rule.to_string(), &data.to_string()) {
            Ok(got) if &got == expected => passed += 1,
            Ok(got) => failures.push(format!(
                "case {i}: {rule} over {data}: want {expected}, got {got}"
            )),
            Err(e) => failures.push(format!(
                "case {i}: {rule} over {data}: want {expected}, error {e}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed + excluded, EXPECTED_CASES);
    assert_eq!(excluded, 0, "no operator is excluded today");
}
