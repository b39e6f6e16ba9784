//! The model registry's audit trail as the core checks it before serving a version.
//!
//! `pycontrol.registry` appends one JSON line per alias move to `<root>/audit.jsonl`; each
//! line names its index (`seq`) and the sha256 of the line before it (`prev`, 64 zeros for
//! the first), so an edited, removed or reordered line breaks the chain. The core serves
//! the version `<root>/<family>/aliases.json` names only when the chain is whole, the
//! alias's last audited move (moves push, rollbacks pop) lands on that same version, and
//! the version's `manifest.json` still has the sha256 recorded when it was registered. A
//! hand-edited `aliases.json` or a manifest rewritten after registration (say, to match an
//! edited model file) is refused with [`CoreError::AuditChain`], never served.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};

/// The audit trail's file name under the registry root.
pub const AUDIT_FILE: &str = "audit.jsonl";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn refuse(path: &Path, detail: String) -> CoreError {
    CoreError::AuditChain {
        path: path.to_path_buf(),
        detail,
    }
}

/// The entries of `<root>/audit.jsonl` after checking that every line is JSON and follows
/// the one before it; the first break is an error naming its line.
pub fn read_chain(root: &Path) -> Result<Vec<Value>> {
    let path = root.join(AUDIT_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse(
                &path,
                "the registry has no audit trail, so nothing vouches for any version".into(),
            ))
        }
        Err(e) => return Err(CoreError::io(&path, e)),
    };
    let mut prev = GENESIS.to_string();
    let mut out = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let n = i + 1;
        let entry: Value = serde_json::from_slice(line)
            .map_err(|e| refuse(&path, format!("line {n} is not JSON ({e}): torn or edited")))?;
        let seq_ok = entry.get("seq").and_then(Value::as_u64) == Some(out.len() as u64);
        let prev_ok = entry.get("prev").and_then(Value::as_str) == Some(prev.as_str());
        if !seq_ok || !prev_ok {
            return Err(refuse(
                &path,
                format!("line {n} breaks the chain (seq/prev do not follow the line before)"),
            ));
        }
        prev = hex(line);
        out.push(entry);
    }
    Ok(out)
}

/// The version `alias` of `family` points at per the audit trail (None when it never moved).
pub fn audited_alias(chain: &[Value], family: &str, alias: &str) -> Option<String> {
    let mut stack: Vec<String> = Vec::new();
    for e in chain {
        let s = |k: &str| e.get(k).and_then(Value::as_str);
        if s("family") != Some(family)
            || s("alias") != Some(alias)
            || e.get("moved").and_then(Value::as_bool) != Some(true)
        {
            continue;
        }
        if s("action") == Some("rollback") {
            stack.pop();
        } else if let Some(to) = s("to") {
            stack.push(to.to_string());
        }
    }
    stack.pop()
}

/// The manifest sha256 recorded when `version` of `family` was registered.
pub fn registered_manifest_sha256(chain: &[Value], family: &str, version: &str) -> Option<String> {
    chain.iter().rev().find_map(|e| {
        let s = |k: &str| e.get(k).and_then(Value::as_str);
        (s("action") == Some("register") && s("family") == Some(family) && s("to") == Some(version))
            .then(|| {
                e.get("evaluation")
                    .and_then(|v| v.get("manifest_sha256"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .flatten()
    })
}

/// The version `aliases.json` names for `alias`, after checking the audit trail vouches for
/// it (see the module docs). Every refusal is [`CoreError::AuditChain`] naming the file.
pub fn vouched_version(root: &Path, family: &str, alias: &str) -> Result<String> {
    let aliases: PathBuf = root.join(family).join("aliases.json");
    let text = std::fs::read_to_string(&aliases).map_err(|e| CoreError::io(&aliases, e))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| CoreError::ModelContract {
        path: aliases.clone(),
        mismatches: vec![format!("aliases.json is not JSON: {e}")],
    })?;
    let version = match v.get(alias).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => {
            return Err(CoreError::ModelContract {
                path: aliases,
                mismatches: vec![format!("family {family:?} has no {alias} version")],
            })
        }
    };
    let chain = read_chain(root)?;
    match audited_alias(&chain, family, alias) {
        Some(a) if a == version => {}
        audited => {
            return Err(refuse(
                &aliases,
                format!(
                    "{alias} names {version:?} but the audit trail's last {alias} move is \
                     {audited:?}: aliases.json was changed outside the registry"
                ),
            ))
        }
    }
    let manifest = root.join(family).join(&version).join("manifest.json");
    let Some(recorded) = registered_manifest_sha256(&chain, family, &version) else {
        return Err(refuse(
            &manifest,
            format!("the audit trail has no registration of {family}/{version}"),
        ));
    };
    let bytes = std::fs::read(&manifest).map_err(|e| CoreError::io(&manifest, e))?;
    let now = hex(&bytes);
    if now != recorded {
        return Err(refuse(
            &manifest,
            format!(
                "sha256 {now} differs from {recorded} recorded when {version} was registered: \
                 the manifest (and perhaps the model it vouches for) was edited"
            ),
        ));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a chain of `entries` as the registry does (seq, prev, then the entry).
    fn write_chain(root: &Path, entries: &[Value]) {
        let mut prev = GENESIS.to_string();
        let mut text = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let mut e = e.clone();
            e["seq"] = i.into();
            e["prev"] = prev.clone().into();
            let line = e.to_string();
            prev = hex(line.as_bytes());
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
        std::fs::write(root.join(AUDIT_FILE), text).unwrap();
    }

    fn registry(tag: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("tradecore-audit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for v in ["v1", "v2"] {
            std::fs::create_dir_all(root.join("fam").join(v)).unwrap();
            std::fs::write(
                root.join("fam").join(v).join("manifest.json"),
                format!("{{\"model_id\": \"{v}\"}}"),
            )
            .unwrap();
        }
        let sha =
            |v: &str| hex(&std::fs::read(root.join("fam").join(v).join("manifest.json")).unwrap());
        let reg = |v: &str| serde_json::json!({"action": "register", "family": "fam", "alias": "candidate", "to": v, "moved": true, "evaluation": {"manifest_sha256": sha(v)}});
        let mv = |v: &str| serde_json::json!({"action": "promote", "family": "fam", "alias": "production", "to": v, "moved": true});
        write_chain(&root, &[reg("v1"), mv("v1"), reg("v2")]);
        std::fs::write(root.join("fam/aliases.json"), r#"{"production": "v1"}"#).unwrap();
        root
    }

    #[test]
    fn a_vouched_version_is_served() {
        let root = registry("ok");
        assert_eq!(vouched_version(&root, "fam", "production").unwrap(), "v1");
    }

    #[test]
    fn a_hand_edited_alias_is_refused() {
        let root = registry("alias");
        std::fs::write(root.join("fam/aliases.json"), r#"{"production": "v2"}"#).unwrap();
        let e = vouched_version(&root, "fam", "production").unwrap_err();
        assert!(matches!(e, CoreError::AuditChain { .. }), "{e}");
        assert!(e.to_string().contains("outside the registry"), "{e}");
    }

    #[test]
    fn an_edited_manifest_is_refused() {
        let root = registry("manifest");
        std::fs::write(
            root.join("fam/v1/manifest.json"),
            r#"{"model_id": "v1", "x": 1}"#,
        )
        .unwrap();
        let e = vouched_version(&root, "fam", "production").unwrap_err();
        assert!(matches!(e, CoreError::AuditChain { .. }), "{e}");
        assert!(e.to_string().contains("registered"), "{e}");
    }

    #[test]
    fn a_broken_or_torn_chain_is_refused() {
        let root = registry("chain");
        let path = root.join(AUDIT_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"v1\"", "\"v9\"", 1)).unwrap();
        let e = vouched_version(&root, "fam", "production").unwrap_err();
        assert!(e.to_string().contains("line 2 breaks the chain"), "{e}");
        std::fs::write(&path, format!("{text}{{\"seq\": 3, \"pr")).unwrap();
        let e = vouched_version(&root, "fam", "production").unwrap_err();
        assert!(e.to_string().contains("line 4 is not JSON"), "{e}");
        std::fs::remove_file(&path).unwrap();
        let e = vouched_version(&root, "fam", "production").unwrap_err();
        assert!(e.to_string().contains("no audit trail"), "{e}");
    }
}
