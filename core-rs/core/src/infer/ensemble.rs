//! The ensemble step: member models produce class probabilities, a stacking meta-learner
//! (manifest kind "stacking", input = the members' probabilities concatenated in `members`
//! order) turns them into one calibrated probability per class. A gated member gates the
//! whole ensemble: a stacker fed a made-up member output would be a made-up signal.

use std::path::Path;
use std::sync::Arc;

use super::gate::{GateCounters, GateReason};
use super::manifest::ModelKind;
use super::model::{LoadOptions, Model};
use crate::error::{CoreError, Result};

pub struct Ensemble {
    members: Vec<Model>,
    meta: Model,
    counters: Arc<GateCounters>,
    /// Member probabilities of one row, concatenated (the meta-learner's input).
    stacked: Vec<f32>,
    member_out: Vec<f64>,
}

impl Ensemble {
    /// Checks that `meta` stacks exactly `members` (ids in order, widths adding up).
    pub fn new(members: Vec<Model>, meta: Model) -> Result<Ensemble> {
        let path = meta.manifest.dir.join("manifest.json");
        let mut bad = Vec::new();
        if meta.manifest.kind != ModelKind::Stacking {
            bad.push(format!(
                "meta-learner kind is {:?}, expected \"stacking\"",
                meta.manifest.kind.label()
            ));
        }
        let declared: Vec<&str> = meta
            .manifest
            .members
            .iter()
            .map(|m| m.model_id.as_str())
            .collect();
        let given: Vec<&str> = members.iter().map(Model::model_id).collect();
        if declared != given {
            bad.push(format!(
                "members: the meta-learner stacks {declared:?}, given {given:?}"
            ));
        }
        let width: usize = members.iter().map(Model::n_classes).sum();
        if width != meta.row_len() {
            bad.push(format!(
                "members give {width} probabilities, the meta-learner takes {}",
                meta.row_len()
            ));
        }
        if !bad.is_empty() {
            return Err(CoreError::ModelContract {
                path,
                mismatches: bad,
            });
        }
        let max_k = members.iter().map(Model::n_classes).max().unwrap_or(0);
        Ok(Ensemble {
            members,
            meta,
            counters: Arc::new(GateCounters::default()),
            stacked: vec![0.0; width],
            member_out: vec![0.0; max_k],
        })
    }

    pub fn load(member_dirs: &[&Path], meta_dir: &Path, opts: &LoadOptions) -> Result<Ensemble> {
        let members = member_dirs
            .iter()
            .map(|d| Model::load(d, opts))
            .collect::<Result<Vec<_>>>()?;
        let meta = Model::load(meta_dir, opts)?;
        Ensemble::new(members, meta)
    }

    pub fn members(&self) -> &[Model] {
        &self.members
    }

    pub fn meta(&self) -> &Model {
        &self.meta
    }

    pub fn n_classes(&self) -> usize {
        self.meta.n_classes()
    }

    /// Whole-ensemble gate counts (each member and the meta keep their own too).
    pub fn counters(&self) -> &Arc<GateCounters> {
        &self.counters
    }

    fn check_inputs(&self, inputs: &[&[f32]]) -> Result<()> {
        if inputs.len() != self.members.len() {
            return Err(CoreError::InputShape {
                model: self.meta.model_id().to_string(),
                detail: format!(
                    "{} member inputs for {} members",
                    inputs.len(),
                    self.members.len()
                ),
            });
        }
        Ok(())
    }

    /// One event: `inputs[i]` is member i's row. Gated if any member or the meta is.
    pub fn infer_row(
        &mut self,
        inputs: &[&[f32]],
        now_ns: i64,
        out: &mut [f64],
    ) -> Result<Option<GateReason>> {
        self.check_inputs(inputs)?;
        let mut at = 0;
        for (m, x) in self.members.iter_mut().zip(inputs) {
            let k = m.n_classes();
            if let Some(r) = m.infer_row(x, now_ns, &mut self.member_out[..k])? {
                self.counters.record(Some(r));
                return Ok(Some(r));
            }
            for (s, &p) in self.stacked[at..at + k]
                .iter_mut()
                .zip(&self.member_out[..k])
            {
                *s = p as f32;
            }
            at += k;
        }
        let r = self.meta.infer_row(&self.stacked, now_ns, out)?;
        self.counters.record(r);
        Ok(r)
    }

    /// Ungated batch: `inputs[i]` holds `n_rows` rows for member i.
    pub fn predict_proba(
        &mut self,
        inputs: &[&[f32]],
        n_rows: usize,
        out: &mut [f64],
    ) -> Result<()> {
        self.check_inputs(inputs)?;
        let width = self.stacked.len();
        let mut stacked = vec![0f32; n_rows * width];
        let mut at = 0;
        for (m, x) in self.members.iter_mut().zip(inputs) {
            let k = m.n_classes();
            let mut p = vec![0.0; n_rows * k];
            m.predict_proba(x, n_rows, &mut p)?;
            for (row, probs) in stacked.chunks_exact_mut(width).zip(p.chunks_exact(k)) {
                for (s, &v) in row[at..at + k].iter_mut().zip(probs) {
                    *s = v as f32;
                }
            }
            at += k;
        }
        self.meta.predict_proba(&stacked, n_rows, out)
    }
}
