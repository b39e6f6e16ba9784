//! A backtest: one or more DBN MBO files merged by `ts_recv` and fed to the engine in
//! chunks (so a caller can report progress), finished at the end of the data.

use std::path::PathBuf;

use dbn::{rtype, MboMsg};

use crate::decode::DbnReader;
use crate::error::{CoreError, Position, Result};

use super::Engine;

/// One file's reader and its next MBO record.
struct Source {
    reader: DbnReader,
    head: Option<MboMsg>,
    prev_ts: u64,
}

impl Source {
    fn advance(&mut self) -> Result<()> {
        loop {
            let at: Position = self.reader.position();
            let Some(rec) = self.reader.next_record()? else {
                self.head = None;
                return Ok(());
            };
            if rec.header().rtype != rtype::MBO {
                continue;
            }
            let Some(m) = rec.get::<MboMsg>().cloned() else {
                continue;
            };
            if m.ts_recv < self.prev_ts {
                return Err(CoreError::OutOfOrder {
                    path: self.reader.path().to_path_buf(),
                    at,
                    prev: self.prev_ts,
                    ts: m.ts_recv,
                });
            }
            self.prev_ts = m.ts_recv;
            self.head = Some(m);
            return Ok(());
        }
    }
}

/// A backtest over one or more MBO files, merged by `ts_recv` (ties: file order).
pub struct Backtest {
    sources: Vec<Source>,
    pub engine: Engine,
    done: bool,
}

impl Backtest {
    pub fn new(paths: &[PathBuf], engine: Engine) -> Result<Backtest> {
        if paths.is_empty() {
            return Err(CoreError::Config("backtest: no data files".into()));
        }
        let mut sources = Vec::new();
        for p in paths {
            let reader = DbnReader::open(p)?;
            if reader.metadata().schema != Some(dbn::Schema::Mbo) {
                return Err(CoreError::UnknownFormat {
                    path: p.clone(),
                    detail: format!(
                        "the simulated exchange needs MBO (L3) data, this file is {:?}",
                        reader.metadata().schema
                    ),
                });
            }
            let mut s = Source {
                reader,
                head: None,
                prev_ts: 0,
            };
            s.advance()?;
            sources.push(s);
        }
        Ok(Backtest {
            sources,
            engine,
            done: false,
        })
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds up to `max_records` records; returns how many. At the end of the data the
    /// engine is finished (flatten, final equity) and later calls return 0.
    pub fn step(&mut self, max_records: u64) -> Result<u64> {
        let mut n = 0;
        while n < max_records {
            let mut best: Option<usize> = None;
            for (i, s) in self.sources.iter().enumerate() {
                if let Some(h) = &s.head {
                    if best.is_none_or(|b| {
                        h.ts_recv < self.sources[b].head.as_ref().expect("head").ts_recv
                    }) {
                        best = Some(i);
                    }
                }
            }
            // the end of the trading window is the end of the data
            let end = self.engine.config().trade_window.1;
            let best = best.filter(|&b| self.sources[b].head.as_ref().expect("head").ts_recv < end);
            let Some(b) = best else {
                if !self.done {
                    self.engine.finish();
                    self.done = true;
                }
                return Ok(n);
            };
            let m = self.sources[b].head.take().expect("head");
            self.engine.on_mbo(&m)?;
            self.sources[b].advance()?;
            n += 1;
        }
        Ok(n)
    }

    /// Runs to the end.
    pub fn run(&mut self) -> Result<()> {
        while !self.done {
            self.step(1 << 16)?;
        }
        Ok(())
    }
}
