//! Hot-swap of a family's production model. The engine serves only the version that
//! `<root>/<family>/aliases.json` names `production` (registry layout, docs/model-manifest.md)
//! and the registry's audit chain vouches for ([`super::audit`]).
//! A swap request is a command to a loader thread, which reads the alias, loads and warms the
//! new version off the hot path and hands it over a channel. The hot path polls that channel
//! once per event, before predicting, so a swap lands atomically between two events: no lock
//! is held while predicting, no event is skipped or seen twice. A failed load keeps the old
//! model and becomes an alert (recorded, readable by the control plane).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::gate::GateReason;
use super::model::{LoadOptions, Model};
use crate::error::{CoreError, Result};

/// A load that failed; the old model stayed in service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapAlert {
    pub family: String,
    pub version: String,
    pub error: String,
    /// Events the slot had served when the load failed.
    pub at_event: u64,
}

/// What the loader thread hands the hot path: a loaded, warmed-up model. Failures never
/// reach the hot path; the loader records them as alerts itself.
type Loaded = Box<Model>;

/// The production version named by `<root>/<family>/aliases.json`, once the registry's
/// audit trail vouches for it (see [`super::audit`]): a version the chain does not vouch
/// for is refused, at open and at every swap.
pub fn production_version(root: &Path, family: &str) -> Result<String> {
    super::audit::vouched_version(root, family, "production")
}

/// The command side of a slot: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct SlotControl {
    commands: Sender<()>,
    alerts: Arc<Mutex<Vec<SwapAlert>>>,
    /// Events served so far, published by the hot path (one relaxed store per event) so
    /// the control side can read progress without touching the slot.
    events: Arc<AtomicU64>,
}

impl SlotControl {
    /// Asks the loader to re-read the alias and load the production version if it changed.
    /// Returns at once; the swap lands at a later event.
    pub fn request_swap(&self) -> Result<()> {
        self.commands
            .send(())
            .map_err(|_| CoreError::Config("model slot is closed".into()))
    }

    pub fn alerts(&self) -> Vec<SwapAlert> {
        self.alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Events the slot has served.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }
}

/// The hot-path side: owns the model in service.
pub struct ModelSlot {
    model: Box<Model>,
    loaded: Receiver<Loaded>,
    control: SlotControl,
    loader: Option<JoinHandle<()>>,
    events: u64,
    swaps: u64,
}

impl ModelSlot {
    /// Loads the current production version of `family` under `root` (synchronously: the
    /// engine cannot start without a model) and starts the loader thread.
    pub fn open(root: &Path, family: &str, opts: LoadOptions) -> Result<ModelSlot> {
        let version = production_version(root, family)?;
        let model = Box::new(Model::load(&root.join(family).join(&version), &opts)?);
        let (cmd_tx, cmd_rx) = mpsc::channel::<()>();
        let (tx, rx) = mpsc::channel::<Loaded>();
        let control = SlotControl {
            commands: cmd_tx,
            alerts: Arc::new(Mutex::new(Vec::new())),
            events: Arc::new(AtomicU64::new(0)),
        };
        // The loader gets the alert list and the event counter, not a command sender:
        // it must end when the slot's side of the channel closes.
        let report = Reporter {
            family: family.to_string(),
            alerts: control.alerts.clone(),
            events: control.events.clone(),
        };
        let root: PathBuf = root.to_path_buf();
        let fam = family.to_string();
        let loader = std::thread::Builder::new()
            .name(format!("model-loader-{family}"))
            .spawn(move || loader_loop(&root, &fam, &opts, version, &cmd_rx, &tx, &report))
            .map_err(|e| CoreError::Config(format!("cannot start the model loader thread: {e}")))?;
        Ok(ModelSlot {
            model,
            loaded: rx,
            control,
            loader: Some(loader),
            events: 0,
            swaps: 0,
        })
    }

    pub fn control(&self) -> SlotControl {
        self.control.clone()
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn version(&self) -> &str {
        self.model.model_id()
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn swaps(&self) -> u64 {
        self.swaps
    }

    /// Takes a model the loader finished, if any (one non-blocking channel read). Called
    /// by [`ModelSlot::infer_row`] at the start of each event.
    #[inline]
    pub fn poll(&mut self) {
        // Several ready models (loads finished between two events): the newest wins.
        while let Ok(m) = self.loaded.try_recv() {
            // The old model drops here, between events; a real engine would hand it to a
            // reaper thread to keep the free off the hot path.
            self.model = m;
            self.swaps += 1;
        }
    }

    /// One event: swap in a ready model if there is one, then predict with the model in
    /// service. Returns the gate outcome; the version that served it is [`Self::version`].
    pub fn infer_row(
        &mut self,
        row: &[f32],
        now_ns: i64,
        out: &mut [f64],
    ) -> Result<Option<GateReason>> {
        self.poll();
        self.events += 1;
        self.control.events.store(self.events, Ordering::Relaxed);
        self.model.infer_row(row, now_ns, out)
    }
}

impl Drop for ModelSlot {
    fn drop(&mut self) {
        // Closing the command channel ends the loader loop.
        let (dead, _) = mpsc::channel();
        self.control.commands = dead;
        if let Some(h) = self.loader.take() {
            // Other SlotControl clones may keep the channel open; do not wait for them.
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

/// Where the loader records failed loads.
struct Reporter {
    family: String,
    alerts: Arc<Mutex<Vec<SwapAlert>>>,
    events: Arc<AtomicU64>,
}

impl Reporter {
    fn alert(&self, version: String, error: String) {
        let alert = SwapAlert {
            family: self.family.clone(),
            version,
            error,
            at_event: self.events.load(Ordering::Relaxed),
        };
        self.alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(alert);
    }
}

fn loader_loop(
    root: &Path,
    family: &str,
    opts: &LoadOptions,
    mut current: String,
    commands: &Receiver<()>,
    out: &Sender<Loaded>,
    report: &Reporter,
) {
    while commands.recv().is_ok() {
        // Requests that piled up while loading collapse into one re-read of the alias.
        while commands.try_recv().is_ok() {}
        match production_version(root, family) {
            Err(e) => report.alert("?".into(), e.to_string()),
            Ok(v) if v == current => {}
            Ok(v) => match Model::load(&root.join(family).join(&v), opts) {
                Ok(m) => {
                    current = v;
                    if out.send(Box::new(m)).is_err() {
                        return;
                    }
                }
                Err(e) => report.alert(v, e.to_string()),
            },
        }
    }
}
