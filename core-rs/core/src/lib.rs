//! tradecore: the pure-Rust engine of the trading system (no PyO3 here).
//!
//! Data path: [`decode`] streams DBN files, [`book`] rebuilds L3/L2 books, [`replay`] drives
//! files through books in batch. [`lobster`] replays NASDAQ LOBSTER files against their
//! ground-truth order book files, [`synth`] writes synthetic MBO order flow as real DBN.
//! [`scan`] summarises a DBN file in one pass; [`records`] decodes it into typed columns.
//! [`decision`] turns model probabilities into BUY/SELL/HOLD, [`sizing`] sizes entries and
//! their brackets, [`risk`] gates every order before it leaves. [`instruments`] holds the
//! contract specs table and the front-month roll rule. [`sim`] is the simulated
//! exchange (L3 queue position) and [`engine`] the one event loop for backtest/paper/live.

pub mod bars;
pub mod book;
pub mod decision;
pub mod decode;
pub mod drift;
pub mod engine;
pub mod error;
pub mod features;
pub mod gates;
pub mod infer;
pub mod instruments;
pub mod lobster;
pub mod orders;
pub mod records;
pub mod replay;
pub mod risk;
pub mod riskmodel;
pub mod scan;
pub mod sim;
pub mod sizing;
pub mod synth;

pub use error::{CoreError, Position, Result};
