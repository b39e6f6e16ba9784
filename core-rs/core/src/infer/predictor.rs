//! A model behind the engine's [`Predictor`]: the registry's production version of a family
//! (through a [`ModelSlot`], so a promotion hot-swaps between events) or a model folder.
//! Construction refuses a model trained on other features than the engine streams; gated
//! predictions are no signal (`Ok(None)`) and are counted per reason across swaps.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bars::Timeframe;
use crate::engine::{EngineConfig, Predictor};
use crate::error::{CoreError, Result};
use crate::features::FeatureSet;
use crate::infer::gate::GateCounters;
use crate::infer::manifest::{Manifest, ModelKind};
use crate::infer::model::{LoadOptions, Model};
use crate::infer::swap::{production_version, ModelSlot, SlotControl};
use crate::orders::InstrumentId;

enum Source {
    Slot(ModelSlot),
    Folder(Box<Model>),
}

pub struct ModelPredictor {
    source: Source,
    classes: Vec<i8>,
    /// The model writes f64 probabilities; the engine reads f32.
    out: Vec<f64>,
    /// Outcomes of every call, whichever version served it (a swap brings a model with
    /// fresh counters of its own; these span the run).
    counters: Arc<GateCounters>,
}

/// Where an engine's model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The version under the `production` alias of `family` in the registry at `root`.
    Registry { root: PathBuf, family: String },
    /// An export folder.
    Folder(PathBuf),
}

impl ModelSource {
    /// From optional settings (a config, a binding): `registry` + `family`, or `path`, or
    /// none of them (no model); any other combination is a config error.
    pub fn from_parts(
        registry: Option<PathBuf>,
        family: Option<String>,
        path: Option<PathBuf>,
    ) -> Result<Option<ModelSource>> {
        match (registry, family, path) {
            (Some(root), Some(family), None) => Ok(Some(ModelSource::Registry { root, family })),
            (None, None, Some(dir)) => Ok(Some(ModelSource::Folder(dir))),
            (None, None, None) => Ok(None),
            (r, f, p) => Err(CoreError::Config(format!(
                "model signals: give registry and family, or path (got registry {r:?}, family {f:?}, path {p:?})"
            ))),
        }
    }

    /// The folder of the version this source names now.
    pub fn dir(&self) -> Result<PathBuf> {
        match self {
            ModelSource::Registry { root, family } => production_dir(root, family),
            ModelSource::Folder(dir) => Ok(dir.clone()),
        }
    }
}

impl ModelPredictor {
    /// The model of `source` for an engine configured by `cfg`, whose feature set and bar
    /// timeframe are set to the ones the model was trained on (from its manifest), so the
    /// engine streams exactly the model's inputs.
    pub fn for_engine(
        source: &ModelSource,
        cfg: &mut EngineConfig,
        opts: LoadOptions,
    ) -> Result<ModelPredictor> {
        let (features, timeframe) = engine_features(&source.dir()?)?;
        cfg.features = features;
        cfg.bar_timeframe = timeframe;
        match source {
            ModelSource::Registry { root, family } => {
                ModelPredictor::from_registry(root, family, &cfg.features, opts)
            }
            ModelSource::Folder(dir) => ModelPredictor::from_dir(dir, &cfg.features, opts),
        }
    }

    /// Serves the version under the `production` alias of `family` in the registry at
    /// `root`. `features` is the engine's feature set; the model (and every version swapped
    /// in later) must have been trained on exactly it.
    pub fn from_registry(
        root: &Path,
        family: &str,
        features: &FeatureSet,
        mut opts: LoadOptions,
    ) -> Result<ModelPredictor> {
        opts.feature_set = Some(features.clone());
        let slot = ModelSlot::open(root, family, opts)?;
        let classes = classes_of(slot.model())?;
        Self::build(Source::Slot(slot), classes)
    }

    /// Serves the model exported to `dir` (no hot swap).
    pub fn from_dir(
        dir: &Path,
        features: &FeatureSet,
        mut opts: LoadOptions,
    ) -> Result<ModelPredictor> {
        opts.feature_set = Some(features.clone());
        let model = Model::load(dir, &opts)?;
        let classes = classes_of(&model)?;
        Self::build(Source::Folder(Box::new(model)), classes)
    }

    fn build(source: Source, classes: Vec<i8>) -> Result<ModelPredictor> {
        let n = classes.len();
        Ok(ModelPredictor {
            source,
            classes,
            out: vec![0.0; n],
            counters: Arc::new(GateCounters::default()),
        })
    }

    pub fn model(&self) -> &Model {
        match &self.source {
            Source::Slot(s) => s.model(),
            Source::Folder(m) => m,
        }
    }

    /// The version serving now (its manifest's `model_id`).
    pub fn version(&self) -> &str {
        self.model().model_id()
    }

    /// Passed and gated calls over the whole run, readable from another thread.
    pub fn counters(&self) -> Arc<GateCounters> {
        self.counters.clone()
    }

    /// The hot-swap handle, when serving a registry family.
    pub fn control(&self) -> Option<SlotControl> {
        match &self.source {
            Source::Slot(s) => Some(s.control()),
            Source::Folder(_) => None,
        }
    }
}

/// The feature set (and the base bar timeframe, its finest) an engine must stream to serve
/// the model exported to `dir`: the names of its manifest, in order. A micro set has no
/// bars; its timeframe is then the engine's default and unused.
pub fn engine_features(dir: &Path) -> Result<(FeatureSet, Timeframe)> {
    let m = Manifest::load(dir)?;
    let fs = FeatureSet::from_names(&m.feature_names)?;
    let tf = match fs.timeframes().first() {
        Some(t) => *t,
        None => Timeframe::parse("1m")?,
    };
    Ok((fs, tf))
}

/// The folder of the version under `production` of `family` in the registry at `root`.
pub fn production_dir(root: &Path, family: &str) -> Result<PathBuf> {
    Ok(root.join(family).join(production_version(root, family)?))
}

/// The manifest's `class_values` as the engine's class labels: distinct values of -1, 0, +1
/// (a regression or a sequence model cannot drive the decision step).
fn classes_of(model: &Model) -> Result<Vec<i8>> {
    let m = &model.manifest;
    let mut bad = Vec::new();
    if m.kind == ModelKind::Stacking {
        bad.push("kind: a stacking model reads member probabilities, not engine features".into());
    }
    if m.lookback.is_some() {
        bad.push("sequence.lookback: the engine streams one feature row per event".into());
    }
    let classes: Vec<i8> = m
        .class_values
        .iter()
        .filter_map(|v| i8::try_from(*v).ok())
        .collect();
    let mut distinct = classes.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if classes.len() != m.class_values.len()
        || distinct.len() != classes.len()
        || classes.len() < 2
        || classes.iter().any(|c| !(-1..=1).contains(c))
    {
        bad.push(format!(
            "class_values: need 2 or 3 distinct values of -1, 0, 1 (sell, hold, buy), got {:?}",
            m.class_values
        ));
    }
    if bad.is_empty() {
        Ok(classes)
    } else {
        Err(CoreError::ModelContract {
            path: m.dir.clone(),
            mismatches: bad,
        })
    }
}

impl Predictor for ModelPredictor {
    fn classes(&self) -> &[i8] {
        &self.classes
    }

    fn version(&self) -> Option<&str> {
        Some(ModelPredictor::version(self))
    }

    fn predict(
        &mut self,
        _instrument_id: InstrumentId,
        ts_ns: u64,
        features: &[f32],
        out: &mut [f32],
    ) -> Result<Option<()>> {
        // Event time is the model's clock (the staleness gate), as it is live.
        let now = i64::try_from(ts_ns).unwrap_or(i64::MAX);
        let gated = match &mut self.source {
            Source::Slot(s) => s.infer_row(features, now, &mut self.out)?,
            Source::Folder(m) => m.infer_row(features, now, &mut self.out)?,
        };
        self.counters.record(gated);
        if gated.is_some() {
            return Ok(None);
        }
        for (d, p) in out.iter_mut().zip(&self.out) {
            *d = *p as f32;
        }
        Ok(Some(()))
    }
}
