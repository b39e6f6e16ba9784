//! JSON-Logic evaluation for model promotion gates (`models/gates/<family>.json`).
//!
//! One evaluator, the maintained `datalogic-rs` crate, serves both the Python registry
//! (through `pycontrol._core.json_logic`) and the engine, so a rule can never pass in one
//! and fail in the other. Only the JSON-Logic baseline operators are compiled in (the
//! crate's default features are off), which is the set jsonlogic.com's official tests cover.

use serde_json::Value;

use crate::error::{CoreError, Result};

/// Longest rule text quoted in an error when the rule has no name.
const ANON_RULE_CHARS: usize = 80;

/// Evaluates `rule` (JSON-Logic as JSON text) over `data` (JSON text). Errors name the rule
/// by its (shortened) text; use [`evaluate_named`] when the rule has a name.
pub fn evaluate(rule: &str, data: &str) -> Result<Value> {
    let name: String = if rule.chars().count() > ANON_RULE_CHARS {
        rule.chars()
            .take(ANON_RULE_CHARS)
            .chain("...".chars())
            .collect()
    } else {
        rule.to_owned()
    };
    evaluate_named(&name, rule, data)
}

/// Evaluates `rule` over `data`; every error is [`CoreError::JsonLogic`] naming `name` and
/// saying whether the rule text, the data text or the evaluation failed.
pub fn evaluate_named(name: &str, rule: &str, data: &str) -> Result<Value> {
    let fail = |detail: String| CoreError::JsonLogic {
        rule: name.to_owned(),
        detail,
    };
    // Parse both first so a syntax error says which input it is in, with serde's line and
    // column (the evaluator's own parse error reports only a byte offset in either).
    serde_json::from_str::<Value>(rule).map_err(|e| fail(format!("rule is not JSON: {e}")))?;
    serde_json::from_str::<Value>(data).map_err(|e| fail(format!("data is not JSON: {e}")))?;
    // datalogic's message names the failing operator ("... (in operator: +)").
    let out =
        datalogic_rs::eval_str(rule, data).map_err(|e| fail(format!("evaluation failed: {e}")))?;
    serde_json::from_str(&out).map_err(|e| fail(format!("result is not JSON ({out:?}): {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_a_gate_shaped_rule_over_nested_data() {
        let rule = r#"{">=": [{"var": "manifest.metrics.gain"}, 0.01]}"#;
        let v = evaluate_named("gain", rule, r#"{"manifest": {"metrics": {"gain": 0.02}}}"#);
        assert_eq!(v.unwrap(), json!(true));
        let v = evaluate_named("gain", rule, r#"{"manifest": {"metrics": {"gain": 0.0}}}"#);
        assert_eq!(v.unwrap(), json!(false));
    }

    #[test]
    fn missing_values_fail_closed() {
        // A floor over an absent metric must be false, never an accidental pass.
        let v = evaluate(r#"{">=": [{"var": "a.b"}, 0.01]}"#, "{}").unwrap();
        assert_eq!(v, json!(false));
    }

    #[test]
    fn bad_rule_text_names_the_rule_and_the_input() {
        let e = evaluate_named("floor", r#"{">": [1, "#, "{}").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, CoreError::JsonLogic { ref rule, .. } if rule == "floor"));
        assert!(
            msg.contains("floor") && msg.contains("rule is not JSON"),
            "{msg}"
        );
    }

    #[test]
    fn bad_data_text_is_reported_as_data() {
        let e = evaluate_named("floor", r#"{">": [1, 0]}"#, "{").unwrap_err();
        assert!(e.to_string().contains("data is not JSON"), "{e}");
    }

    #[test]
    fn unknown_operator_is_a_typed_error_naming_the_operator() {
        let e = evaluate_named("r1", r#"{"no_such_op": [1]}"#, "{}").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("r1") && msg.contains("no_such_op"), "{msg}");
    }

    #[test]
    fn unnamed_rules_are_named_by_their_shortened_text() {
        let long = format!(r#"{{"cat": ["{}", {{"x": 1}}]}}"#, "a".repeat(200));
        let e = evaluate(&long, "{}").unwrap_err();
        match e {
            CoreError::JsonLogic { rule, .. } => {
                assert!(rule.ends_with("...") && rule.chars().count() == ANON_RULE_CHARS + 3)
            }
            other => panic!("unexpected error {other:?}"),
        }
    }
}
