//! Contract terms of the instruments in the data: DBN definitions first (by instrument id,
//! then by product), then the core's specs table (`tradecore::instruments`).

use std::path::{Path, PathBuf};

use crate::decode::DbnReader;
use crate::error::{CoreError, Result};
use crate::orders::{InstrumentId, InstrumentSpec};

/// Instrument ids and symbols of a DBN file (from its metadata mappings).
pub fn file_symbols(path: &Path) -> Result<Vec<(InstrumentId, String)>> {
    let reader = DbnReader::open(path)?;
    let mut out = Vec::new();
    for m in &reader.metadata().mappings {
        for iv in &m.intervals {
            if let Ok(id) = iv.symbol.parse::<u32>() {
                if !out.iter().any(|(k, _)| *k == id) {
                    out.push((id, m.raw_symbol.clone()));
                }
            }
        }
    }
    Ok(out)
}

/// Product root of a CME futures symbol: `ESH4` -> `ES`, `ESZ26` -> `ES`.
pub fn symbol_root(sym: &str) -> &str {
    let t = sym.trim_end_matches(|c: char| c.is_ascii_digit());
    if t.len() >= 2 && t.ends_with(|c: char| "FGHJKMNQUVXZ".contains(c)) {
        &t[..t.len() - 1]
    } else {
        t
    }
}

/// Where an instrument's contract terms came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecSource {
    /// A definition of the same instrument id.
    Definition,
    /// A definition of another contract of the same product (same `asset`).
    ProductDefinition(String),
    /// The core's specs table of the product root (`tradecore::instruments::SPECS`).
    SpecsTable,
}

/// Contract terms for each `(id, symbol)`: a definition with the same instrument id, else
/// one of the same product root (`asset`, e.g. the ESM3 definition for ESH4: tick and
/// multiplier are per product), else the core's specs table (`tradecore::instruments`).
/// An instrument with none is an error naming it.
pub fn resolve_specs(
    instruments: &[(InstrumentId, String)],
    definitions: &[crate::scan::InstrumentInfo],
    fee_per_contract: f64,
) -> Result<Vec<(InstrumentSpec, SpecSource)>> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (id, sym) in instruments {
        let root = symbol_root(sym);
        let def = definitions
            .iter()
            .find(|d| d.instrument_id == *id)
            .map(|d| (d, SpecSource::Definition))
            .or_else(|| {
                definitions
                    .iter()
                    .find(|d| d.asset == root)
                    .map(|d| (d, SpecSource::ProductDefinition(d.raw_symbol.clone())))
            });
        if let Some((d, src)) = def {
            if let (Some(mult), true) = (d.multiplier, d.tick_size_fixed > 0) {
                out.push((
                    InstrumentSpec {
                        instrument_id: *id,
                        tick_size: d.tick_size_fixed,
                        multiplier: mult,
                        fee_per_contract,
                    },
                    src,
                ));
                continue;
            }
        }
        match crate::instruments::product(root) {
            Ok(p) => out.push((
                InstrumentSpec {
                    instrument_id: *id,
                    tick_size: p.tick_fixed(),
                    multiplier: p.multiplier,
                    fee_per_contract,
                },
                SpecSource::SpecsTable,
            )),
            Err(_) => missing.push(format!("{id} ({sym})")),
        }
    }
    if !missing.is_empty() {
        return Err(CoreError::Config(format!(
            "no tick size / multiplier for instrument(s) {}: pass a definitions file",
            missing.join(", ")
        )));
    }
    Ok(out)
}

/// Specs for every instrument of `paths`: definitions first (by id, then by product), then
/// the core's specs table. Also returns each instrument's symbol.
pub fn specs_for_files(
    paths: &[PathBuf],
    definitions: Option<&Path>,
    fee_per_contract: f64,
) -> Result<Vec<(InstrumentSpec, SpecSource, String)>> {
    let mut ids: Vec<(InstrumentId, String)> = Vec::new();
    for p in paths {
        for (id, sym) in file_symbols(p)? {
            if !ids.iter().any(|(k, _)| *k == id) {
                ids.push((id, sym));
            }
        }
    }
    let defs = match definitions {
        Some(d) => crate::scan::scan(d)?.instruments,
        None => Vec::new(),
    };
    let specs = resolve_specs(&ids, &defs, fee_per_contract)?;
    Ok(specs
        .into_iter()
        .zip(ids)
        .map(|((spec, src), (_, sym))| (spec, src, sym))
        .collect())
}
