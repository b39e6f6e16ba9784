//! Decodes a DBN file into typed columns, one [`Frame`] per record type, for DataFrames and
//! bar loaders. Column names follow databento's `DBNStore.to_df()`; prices become f64 in
//! price units (NaN for `UNDEF_PRICE`), timestamps stay ns integers.
//!
//! A file mixing record types (e.g. a live capture with definitions, statistics and MBO)
//! yields one frame per record type, in order of first appearance; choosing among them is
//! the caller's business. A file without records yields an empty frame of its metadata
//! schema, so callers still get the right columns. Record types without a column layout
//! here (error, system, symbol-mapping messages) are counted in [`Frames::skipped`].

use std::ffi::c_char;
use std::path::Path;

use dbn::{
    rtype, BboMsg, BidAskPair, CbboMsg, Cmbp1Msg, HasRType, ImbalanceMsg, InstrumentDefMsg, MboMsg,
    Mbp10Msg, Mbp1Msg, OhlcvMsg, RType, Record, RecordHeader, RecordRef, Schema, StatMsg,
    StatusMsg, TradeMsg, UNDEF_PRICE,
};

use crate::book::PRICE_SCALE;
use crate::decode::DbnReader;
use crate::error::{CoreError, Result};
use crate::scan::cstr;

/// One column of values. Prices are f64 price units (NaN = undefined); `Char` holds the raw
/// byte of a one-character code (action, side, ...), 0 when unset.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    U64(Vec<u64>),
    I64(Vec<i64>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    Price(Vec<f64>),
    Char(Vec<u8>),
    Str(Vec<String>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::U64(v) => v.len(),
            Column::I64(v) => v.len(),
            Column::U32(v) => v.len(),
            Column::I32(v) => v.len(),
            Column::U16(v) => v.len(),
            Column::I16(v) => v.len(),
            Column::U8(v) => v.len(),
            Column::I8(v) => v.len(),
            Column::Price(v) => v.len(),
            Column::Char(v) => v.len(),
            Column::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// All records of one record type, column by column.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub rtype: u8,
    /// Schema name of the record type ("mbo", "mbp-1", "trades", "ohlcv-1m", "definition", ...).
    pub schema: String,
    pub columns: Vec<(&'static str, Column)>,
}

impl Frame {
    pub fn len(&self) -> usize {
        self.columns.first().map_or(0, |(_, c)| c.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| c)
    }
}

/// Every frame of a file, plus what could not be framed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frames {
    pub frames: Vec<Frame>,
    /// Records of record types without a column layout, by rtype.
    pub skipped: Vec<(u8, u64)>,
}

impl Frames {
    pub fn get(&self, schema: &str) -> Option<&Frame> {
        self.frames.iter().find(|f| f.schema == schema)
    }
}

/// How one column is read out of a record of type `T`.
enum Get<T> {
    U64(fn(&T) -> u64),
    I64(fn(&T) -> i64),
    U32(fn(&T) -> u32),
    I32(fn(&T) -> i32),
    U16(fn(&T) -> u16),
    I16(fn(&T) -> i16),
    U8(fn(&T) -> u8),
    I8(fn(&T) -> i8),
    Price(fn(&T) -> i64),
    Char(fn(&T) -> c_char),
    Str(fn(&T) -> String),
}

impl<T> Get<T> {
    fn empty(&self) -> Column {
        match self {
            Get::U64(_) => Column::U64(Vec::new()),
            Get::I64(_) => Column::I64(Vec::new()),
            Get::U32(_) => Column::U32(Vec::new()),
            Get::I32(_) => Column::I32(Vec::new()),
            Get::U16(_) => Column::U16(Vec::new()),
            Get::I16(_) => Column::I16(Vec::new()),
            Get::U8(_) => Column::U8(Vec::new()),
            Get::I8(_) => Column::I8(Vec::new()),
            Get::Price(_) => Column::Price(Vec::new()),
            Get::Char(_) => Column::Char(Vec::new()),
            Get::Str(_) => Column::Str(Vec::new()),
        }
    }

    #[inline]
    fn push(&self, m: &T, col: &mut Column) {
        match (self, col) {
            (Get::U64(f), Column::U64(v)) => v.push(f(m)),
            (Get::I64(f), Column::I64(v)) => v.push(f(m)),
            (Get::U32(f), Column::U32(v)) => v.push(f(m)),
            (Get::I32(f), Column::I32(v)) => v.push(f(m)),
            (Get::U16(f), Column::U16(v)) => v.push(f(m)),
            (Get::I16(f), Column::I16(v)) => v.push(f(m)),
            (Get::U8(f), Column::U8(v)) => v.push(f(m)),
            (Get::I8(f), Column::I8(v)) => v.push(f(m)),
            (Get::Price(f), Column::Price(v)) => v.push(price(f(m))),
            (Get::Char(f), Column::Char(v)) => v.push(f(m) as u8),
            (Get::Str(f), Column::Str(v)) => v.push(f(m)),
            // Columns are created from their getters in `Builder::new`.
            _ => unreachable!("column type does not match its getter"),
        }
    }
}

/// Fixed-point price to price units; `UNDEF_PRICE` becomes NaN.
#[inline]
pub fn price(p: i64) -> f64 {
    if p == UNDEF_PRICE {
        f64::NAN
    } else {
        p as f64 / PRICE_SCALE as f64
    }
}

type Fields<T> = Vec<(&'static str, Get<T>)>;

/// Appends rows of one record type.
trait Sink {
    fn push(&mut self, rec: &RecordRef<'_>);
    fn finish(self: Box<Self>) -> Frame;
}

struct Builder<T> {
    rtype: u8,
    fields: Fields<T>,
    cols: Vec<Column>,
}

impl<T> Builder<T> {
    fn new(rtype: u8, fields: Fields<T>) -> Self {
        let cols = fields.iter().map(|(_, g)| g.empty()).collect();
        Builder {
            rtype,
            fields,
            cols,
        }
    }

    #[inline]
    fn push_msg(&mut self, m: &T) {
        for ((_, g), c) in self.fields.iter().zip(self.cols.iter_mut()) {
            g.push(m, c);
        }
    }
}

impl<T: HasRType<Header = RecordHeader>> Sink for Builder<T> {
    #[inline]
    fn push(&mut self, rec: &RecordRef<'_>) {
        if let Some(m) = rec.get::<T>() {
            self.push_msg(m);
        }
    }

    fn finish(self: Box<Self>) -> Frame {
        let Builder {
            rtype,
            fields,
            cols,
        } = *self;
        Frame {
            rtype,
            schema: schema_name(rtype),
            columns: fields.into_iter().map(|(n, _)| n).zip(cols).collect(),
        }
    }
}

/// TBBO records of rtype 0xC5 share the MBP-1 layout, which `RecordRef::get` only accepts
/// under rtype 0x01.
struct TbboBuilder(Builder<Mbp1Msg>);

impl Sink for TbboBuilder {
    fn push(&mut self, rec: &RecordRef<'_>) {
        if rec.record_size() >= std::mem::size_of::<Mbp1Msg>() {
            // SAFETY: the record is at least as long as `Mbp1Msg`, and rtype 0xC5 is defined
            // by DBN as the MBP-1 layout; `RecordRef` buffers are aligned for records.
            let m = unsafe { rec.get_unchecked::<Mbp1Msg>() };
            self.0.push_msg(m);
        }
    }

    fn finish(self: Box<Self>) -> Frame {
        Box::new(self.0).finish()
    }
}

/// Schema name of a record type ("trades" for rtype 0), else the record type's own name.
pub fn schema_name(rt: u8) -> String {
    match RType::try_into_schema(rt as u16) {
        Some(s) => s.as_str().to_string(),
        None => crate::scan::rtype_name(rt),
    }
}

/// Name of the records of type `rt` in a file whose metadata declares `declared`: the
/// declared schema when its records have that type (a TBBO file's MBP-1 records are
/// "tbbo"), else [`schema_name`].
pub fn frame_name(declared: Option<Schema>, rt: u8) -> String {
    match declared {
        Some(s) if RType::from(s) as u8 == rt => s.as_str().to_string(),
        _ => schema_name(rt),
    }
}

fn header<T: Record>() -> Fields<T> {
    vec![
        ("ts_event", Get::U64(|m: &T| m.raw_ts_event())),
        ("rtype", Get::U8(|m: &T| m.raw_rtype() as u8)),
        ("publisher_id", Get::U16(|m: &T| m.publisher_id())),
        ("instrument_id", Get::U32(|m: &T| m.instrument_id() as u32)),
    ]
}

/// `ts_recv` first (databento's index), then the header.
fn recv_header<T: Record>(ts_recv: fn(&T) -> u64) -> Fields<T> {
    let mut f = vec![("ts_recv", Get::U64(ts_recv))];
    f.extend(header::<T>());
    f
}

const BID_PX: [&str; 10] = [
    "bid_px_00",
    "bid_px_01",
    "bid_px_02",
    "bid_px_03",
    "bid_px_04",
    "bid_px_05",
    "bid_px_06",
    "bid_px_07",
    "bid_px_08",
    "bid_px_09",
];
const ASK_PX: [&str; 10] = [
    "ask_px_00",
    "ask_px_01",
    "ask_px_02",
    "ask_px_03",
    "ask_px_04",
    "ask_px_05",
    "ask_px_06",
    "ask_px_07",
    "ask_px_08",
    "ask_px_09",
];
const BID_SZ: [&str; 10] = [
    "bid_sz_00",
    "bid_sz_01",
    "bid_sz_02",
    "bid_sz_03",
    "bid_sz_04",
    "bid_sz_05",
    "bid_sz_06",
    "bid_sz_07",
    "bid_sz_08",
    "bid_sz_09",
];
const ASK_SZ: [&str; 10] = [
    "ask_sz_00",
    "ask_sz_01",
    "ask_sz_02",
    "ask_sz_03",
    "ask_sz_04",
    "ask_sz_05",
    "ask_sz_06",
    "ask_sz_07",
    "ask_sz_08",
    "ask_sz_09",
];
const BID_CT: [&str; 10] = [
    "bid_ct_00",
    "bid_ct_01",
    "bid_ct_02",
    "bid_ct_03",
    "bid_ct_04",
    "bid_ct_05",
    "bid_ct_06",
    "bid_ct_07",
    "bid_ct_08",
    "bid_ct_09",
];
const ASK_CT: [&str; 10] = [
    "ask_ct_00",
    "ask_ct_01",
    "ask_ct_02",
    "ask_ct_03",
    "ask_ct_04",
    "ask_ct_05",
    "ask_ct_06",
    "ask_ct_07",
    "ask_ct_08",
    "ask_ct_09",
];

/// Records that carry `[BidAskPair; N]`, so level columns can be read generically.
trait Levels {
    fn pair(&self, i: usize) -> &BidAskPair;
}
impl Levels for Mbp1Msg {
    fn pair(&self, i: usize) -> &BidAskPair {
        &self.levels[i]
    }
}
impl Levels for Mbp10Msg {
    fn pair(&self, i: usize) -> &BidAskPair {
        &self.levels[i]
    }
}
impl Levels for BboMsg {
    fn pair(&self, i: usize) -> &BidAskPair {
        &self.levels[i]
    }
}

/// Level columns, in databento's order: per level bid_px, ask_px, bid_sz, ask_sz, bid_ct, ask_ct.
/// Getters are plain fn pointers, so each level index is spelled out by a macro.
macro_rules! level_fields {
    ($T:ty; $($i:literal),+) => {{
        let mut f: Fields<$T> = Vec::new();
        $(
            f.extend([
                (BID_PX[$i], Get::Price(|m: &$T| m.pair($i).bid_px)),
                (ASK_PX[$i], Get::Price(|m: &$T| m.pair($i).ask_px)),
                (BID_SZ[$i], Get::U32(|m: &$T| m.pair($i).bid_sz)),
                (ASK_SZ[$i], Get::U32(|m: &$T| m.pair($i).ask_sz)),
                (BID_CT[$i], Get::U32(|m: &$T| m.pair($i).bid_ct)),
                (ASK_CT[$i], Get::U32(|m: &$T| m.pair($i).ask_ct)),
            ]);
        )+
        f
    }};
}

fn mbo_fields() -> Fields<MboMsg> {
    let mut f = recv_header::<MboMsg>(|m| m.ts_recv);
    f.extend([
        ("action", Get::Char(|m: &MboMsg| m.action)),
        ("side", Get::Char(|m: &MboMsg| m.side)),
        ("price", Get::Price(|m: &MboMsg| m.price)),
        ("size", Get::U32(|m: &MboMsg| m.size)),
        ("channel_id", Get::U8(|m: &MboMsg| m.channel_id)),
        ("order_id", Get::U64(|m: &MboMsg| m.order_id)),
        ("flags", Get::U8(|m: &MboMsg| m.flags.raw())),
        ("ts_in_delta", Get::I32(|m: &MboMsg| m.ts_in_delta)),
        ("sequence", Get::U32(|m: &MboMsg| m.sequence)),
    ]);
    f
}

fn mbp1_fields() -> Fields<Mbp1Msg> {
    let mut f = recv_header::<Mbp1Msg>(|m| m.ts_recv);
    f.extend([
        ("action", Get::Char(|m: &Mbp1Msg| m.action)),
        ("side", Get::Char(|m: &Mbp1Msg| m.side)),
        ("depth", Get::U8(|m: &Mbp1Msg| m.depth)),
        ("price", Get::Price(|m: &Mbp1Msg| m.price)),
        ("size", Get::U32(|m: &Mbp1Msg| m.size)),
        ("flags", Get::U8(|m: &Mbp1Msg| m.flags.raw())),
        ("ts_in_delta", Get::I32(|m: &Mbp1Msg| m.ts_in_delta)),
        ("sequence", Get::U32(|m: &Mbp1Msg| m.sequence)),
    ]);
    f.extend(level_fields!(Mbp1Msg; 0));
    f
}

fn mbp10_fields() -> Fields<Mbp10Msg> {
    let mut f = recv_header::<Mbp10Msg>(|m| m.ts_recv);
    f.extend([
        ("action", Get::Char(|m: &Mbp10Msg| m.action)),
        ("side", Get::Char(|m: &Mbp10Msg| m.side)),
        ("depth", Get::U8(|m: &Mbp10Msg| m.depth)),
        ("price", Get::Price(|m: &Mbp10Msg| m.price)),
        ("size", Get::U32(|m: &Mbp10Msg| m.size)),
        ("flags", Get::U8(|m: &Mbp10Msg| m.flags.raw())),
        ("ts_in_delta", Get::I32(|m: &Mbp10Msg| m.ts_in_delta)),
        ("sequence", Get::U32(|m: &Mbp10Msg| m.sequence)),
    ]);
    f.extend(level_fields!(Mbp10Msg; 0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    f
}

fn bbo_fields() -> Fields<BboMsg> {
    let mut f = recv_header::<BboMsg>(|m| m.ts_recv);
    f.extend([
        ("side", Get::Char(|m: &BboMsg| m.side)),
        ("price", Get::Price(|m: &BboMsg| m.price)),
        ("size", Get::U32(|m: &BboMsg| m.size)),
        ("flags", Get::U8(|m: &BboMsg| m.flags.raw())),
        ("sequence", Get::U32(|m: &BboMsg| m.sequence)),
    ]);
    f.extend(level_fields!(BboMsg; 0));
    f
}

fn cmbp1_fields() -> Fields<Cmbp1Msg> {
    let mut f = recv_header::<Cmbp1Msg>(|m| m.ts_recv);
    f.extend([
        ("action", Get::Char(|m: &Cmbp1Msg| m.action)),
        ("side", Get::Char(|m: &Cmbp1Msg| m.side)),
        ("price", Get::Price(|m: &Cmbp1Msg| m.price)),
        ("size", Get::U32(|m: &Cmbp1Msg| m.size)),
        ("flags", Get::U8(|m: &Cmbp1Msg| m.flags.raw())),
        ("ts_in_delta", Get::I32(|m: &Cmbp1Msg| m.ts_in_delta)),
        ("bid_px_00", Get::Price(|m: &Cmbp1Msg| m.levels[0].bid_px)),
        ("ask_px_00", Get::Price(|m: &Cmbp1Msg| m.levels[0].ask_px)),
        ("bid_sz_00", Get::U32(|m: &Cmbp1Msg| m.levels[0].bid_sz)),
        ("ask_sz_00", Get::U32(|m: &Cmbp1Msg| m.levels[0].ask_sz)),
        ("bid_pb_00", Get::U16(|m: &Cmbp1Msg| m.levels[0].bid_pb)),
        ("ask_pb_00", Get::U16(|m: &Cmbp1Msg| m.levels[0].ask_pb)),
    ]);
    f
}

fn cbbo_fields() -> Fields<CbboMsg> {
    let mut f = recv_header::<CbboMsg>(|m| m.ts_recv);
    f.extend([
        ("side", Get::Char(|m: &CbboMsg| m.side)),
        ("price", Get::Price(|m: &CbboMsg| m.price)),
        ("size", Get::U32(|m: &CbboMsg| m.size)),
        ("flags", Get::U8(|m: &CbboMsg| m.flags.raw())),
        ("bid_px_00", Get::Price(|m: &CbboMsg| m.levels[0].bid_px)),
        ("ask_px_00", Get::Price(|m: &CbboMsg| m.levels[0].ask_px)),
        ("bid_sz_00", Get::U32(|m: &CbboMsg| m.levels[0].bid_sz)),
        ("ask_sz_00", Get::U32(|m: &CbboMsg| m.levels[0].ask_sz)),
        ("bid_pb_00", Get::U16(|m: &CbboMsg| m.levels[0].bid_pb)),
        ("ask_pb_00", Get::U16(|m: &CbboMsg| m.levels[0].ask_pb)),
    ]);
    f
}

fn trade_fields() -> Fields<TradeMsg> {
    let mut f = recv_header::<TradeMsg>(|m| m.ts_recv);
    f.extend([
        ("action", Get::Char(|m: &TradeMsg| m.action)),
        ("side", Get::Char(|m: &TradeMsg| m.side)),
        ("depth", Get::U8(|m: &TradeMsg| m.depth)),
        ("price", Get::Price(|m: &TradeMsg| m.price)),
        ("size", Get::U32(|m: &TradeMsg| m.size)),
        ("flags", Get::U8(|m: &TradeMsg| m.flags.raw())),
        ("ts_in_delta", Get::I32(|m: &TradeMsg| m.ts_in_delta)),
        ("sequence", Get::U32(|m: &TradeMsg| m.sequence)),
    ]);
    f
}

fn ohlcv_fields() -> Fields<OhlcvMsg> {
    let mut f = header::<OhlcvMsg>();
    f.extend([
        ("open", Get::Price(|m: &OhlcvMsg| m.open)),
        ("high", Get::Price(|m: &OhlcvMsg| m.high)),
        ("low", Get::Price(|m: &OhlcvMsg| m.low)),
        ("close", Get::Price(|m: &OhlcvMsg| m.close)),
        ("volume", Get::U64(|m: &OhlcvMsg| m.volume)),
    ]);
    f
}

fn status_fields() -> Fields<StatusMsg> {
    let mut f = recv_header::<StatusMsg>(|m| m.ts_recv);
    f.extend([
        ("action", Get::U16(|m: &StatusMsg| m.action)),
        ("reason", Get::U16(|m: &StatusMsg| m.reason)),
        ("trading_event", Get::U16(|m: &StatusMsg| m.trading_event)),
        ("is_trading", Get::Char(|m: &StatusMsg| m.is_trading)),
        ("is_quoting", Get::Char(|m: &StatusMsg| m.is_quoting)),
        (
            "is_short_sell_restricted",
            Get::Char(|m: &StatusMsg| m.is_short_sell_restricted),
        ),
    ]);
    f
}

fn stat_fields() -> Fields<StatMsg> {
    let mut f = recv_header::<StatMsg>(|m| m.ts_recv);
    f.extend([
        ("ts_ref", Get::U64(|m: &StatMsg| m.ts_ref)),
        ("price", Get::Price(|m: &StatMsg| m.price)),
        ("quantity", Get::I64(|m: &StatMsg| m.quantity)),
        ("sequence", Get::U32(|m: &StatMsg| m.sequence)),
        ("ts_in_delta", Get::I32(|m: &StatMsg| m.ts_in_delta)),
        ("stat_type", Get::U16(|m: &StatMsg| m.stat_type)),
        ("channel_id", Get::U16(|m: &StatMsg| m.channel_id)),
        ("update_action", Get::U8(|m: &StatMsg| m.update_action)),
        ("stat_flags", Get::U8(|m: &StatMsg| m.stat_flags)),
    ]);
    f
}

fn imbalance_fields() -> Fields<ImbalanceMsg> {
    let mut f = recv_header::<ImbalanceMsg>(|m| m.ts_recv);
    f.extend([
        ("ref_price", Get::Price(|m: &ImbalanceMsg| m.ref_price)),
        ("auction_time", Get::U64(|m: &ImbalanceMsg| m.auction_time)),
        (
            "cont_book_clr_price",
            Get::Price(|m: &ImbalanceMsg| m.cont_book_clr_price),
        ),
        (
            "auct_interest_clr_price",
            Get::Price(|m: &ImbalanceMsg| m.auct_interest_clr_price),
        ),
        (
            "ssr_filling_price",
            Get::Price(|m: &ImbalanceMsg| m.ssr_filling_price),
        ),
        (
            "ind_match_price",
            Get::Price(|m: &ImbalanceMsg| m.ind_match_price),
        ),
        (
            "upper_collar",
            Get::Price(|m: &ImbalanceMsg| m.upper_collar),
        ),
        (
            "lower_collar",
            Get::Price(|m: &ImbalanceMsg| m.lower_collar),
        ),
        ("paired_qty", Get::U32(|m: &ImbalanceMsg| m.paired_qty)),
        (
            "total_imbalance_qty",
            Get::U32(|m: &ImbalanceMsg| m.total_imbalance_qty),
        ),
        (
            "market_imbalance_qty",
            Get::U32(|m: &ImbalanceMsg| m.market_imbalance_qty),
        ),
        ("unpaired_qty", Get::U32(|m: &ImbalanceMsg| m.unpaired_qty)),
        ("auction_type", Get::Char(|m: &ImbalanceMsg| m.auction_type)),
        ("side", Get::Char(|m: &ImbalanceMsg| m.side)),
        (
            "auction_status",
            Get::U8(|m: &ImbalanceMsg| m.auction_status),
        ),
        ("freeze_status", Get::U8(|m: &ImbalanceMsg| m.freeze_status)),
        (
            "num_extensions",
            Get::U8(|m: &ImbalanceMsg| m.num_extensions),
        ),
        (
            "unpaired_side",
            Get::Char(|m: &ImbalanceMsg| m.unpaired_side),
        ),
        (
            "significant_imbalance",
            Get::Char(|m: &ImbalanceMsg| m.significant_imbalance),
        ),
    ]);
    f
}

fn definition_fields() -> Fields<InstrumentDefMsg> {
    type D = InstrumentDefMsg;
    let mut f = recv_header::<D>(|m| m.ts_recv);
    f.extend([
        ("raw_symbol", Get::Str(|m: &D| cstr(&m.raw_symbol))),
        (
            "security_update_action",
            Get::Char(|m: &D| m.security_update_action),
        ),
        ("instrument_class", Get::Char(|m: &D| m.instrument_class)),
        (
            "min_price_increment",
            Get::Price(|m: &D| m.min_price_increment),
        ),
        ("display_factor", Get::Price(|m: &D| m.display_factor)),
        ("expiration", Get::U64(|m: &D| m.expiration)),
        ("activation", Get::U64(|m: &D| m.activation)),
        ("high_limit_price", Get::Price(|m: &D| m.high_limit_price)),
        ("low_limit_price", Get::Price(|m: &D| m.low_limit_price)),
        (
            "max_price_variation",
            Get::Price(|m: &D| m.max_price_variation),
        ),
        (
            "unit_of_measure_qty",
            Get::Price(|m: &D| m.unit_of_measure_qty),
        ),
        (
            "min_price_increment_amount",
            Get::Price(|m: &D| m.min_price_increment_amount),
        ),
        ("price_ratio", Get::Price(|m: &D| m.price_ratio)),
        ("strike_price", Get::Price(|m: &D| m.strike_price)),
        ("raw_instrument_id", Get::U64(|m: &D| m.raw_instrument_id)),
        ("inst_attrib_value", Get::I32(|m: &D| m.inst_attrib_value)),
        ("underlying_id", Get::U32(|m: &D| m.underlying_id)),
        (
            "market_depth_implied",
            Get::I32(|m: &D| m.market_depth_implied),
        ),
        ("market_depth", Get::I32(|m: &D| m.market_depth)),
        ("market_segment_id", Get::U32(|m: &D| m.market_segment_id)),
        ("max_trade_vol", Get::U32(|m: &D| m.max_trade_vol)),
        ("min_lot_size", Get::I32(|m: &D| m.min_lot_size)),
        ("min_lot_size_block", Get::I32(|m: &D| m.min_lot_size_block)),
        (
            "min_lot_size_round_lot",
            Get::I32(|m: &D| m.min_lot_size_round_lot),
        ),
        ("min_trade_vol", Get::U32(|m: &D| m.min_trade_vol)),
        (
            "contract_multiplier",
            Get::I32(|m: &D| m.contract_multiplier),
        ),
        ("decay_quantity", Get::I32(|m: &D| m.decay_quantity)),
        (
            "original_contract_size",
            Get::I32(|m: &D| m.original_contract_size),
        ),
        ("appl_id", Get::I16(|m: &D| m.appl_id)),
        ("maturity_year", Get::U16(|m: &D| m.maturity_year)),
        ("decay_start_date", Get::U16(|m: &D| m.decay_start_date)),
        ("channel_id", Get::U16(|m: &D| m.channel_id)),
        ("currency", Get::Str(|m: &D| cstr(&m.currency))),
        ("settl_currency", Get::Str(|m: &D| cstr(&m.settl_currency))),
        ("secsubtype", Get::Str(|m: &D| cstr(&m.secsubtype))),
        ("group", Get::Str(|m: &D| cstr(&m.group))),
        ("exchange", Get::Str(|m: &D| cstr(&m.exchange))),
        ("asset", Get::Str(|m: &D| cstr(&m.asset))),
        ("cfi", Get::Str(|m: &D| cstr(&m.cfi))),
        ("security_type", Get::Str(|m: &D| cstr(&m.security_type))),
        (
            "unit_of_measure",
            Get::Str(|m: &D| cstr(&m.unit_of_measure)),
        ),
        ("underlying", Get::Str(|m: &D| cstr(&m.underlying))),
        (
            "strike_price_currency",
            Get::Str(|m: &D| cstr(&m.strike_price_currency)),
        ),
        ("match_algorithm", Get::Char(|m: &D| m.match_algorithm)),
        ("main_fraction", Get::U8(|m: &D| m.main_fraction)),
        (
            "price_display_format",
            Get::U8(|m: &D| m.price_display_format),
        ),
        ("sub_fraction", Get::U8(|m: &D| m.sub_fraction)),
        ("underlying_product", Get::U8(|m: &D| m.underlying_product)),
        ("maturity_month", Get::U8(|m: &D| m.maturity_month)),
        ("maturity_day", Get::U8(|m: &D| m.maturity_day)),
        ("maturity_week", Get::U8(|m: &D| m.maturity_week)),
        (
            "user_defined_instrument",
            Get::Char(|m: &D| m.user_defined_instrument),
        ),
        (
            "contract_multiplier_unit",
            Get::I8(|m: &D| m.contract_multiplier_unit),
        ),
        ("flow_schedule_type", Get::I8(|m: &D| m.flow_schedule_type)),
        ("tick_rule", Get::U8(|m: &D| m.tick_rule)),
        ("leg_count", Get::U16(|m: &D| m.leg_count)),
        ("leg_index", Get::U16(|m: &D| m.leg_index)),
        ("leg_instrument_id", Get::U32(|m: &D| m.leg_instrument_id)),
        ("leg_raw_symbol", Get::Str(|m: &D| cstr(&m.leg_raw_symbol))),
        (
            "leg_instrument_class",
            Get::Char(|m: &D| m.leg_instrument_class),
        ),
        ("leg_side", Get::Char(|m: &D| m.leg_side)),
        ("leg_price", Get::Price(|m: &D| m.leg_price)),
        ("leg_delta", Get::Price(|m: &D| m.leg_delta)),
        (
            "leg_ratio_price_numerator",
            Get::I32(|m: &D| m.leg_ratio_price_numerator),
        ),
        (
            "leg_ratio_price_denominator",
            Get::I32(|m: &D| m.leg_ratio_price_denominator),
        ),
        (
            "leg_ratio_qty_numerator",
            Get::I32(|m: &D| m.leg_ratio_qty_numerator),
        ),
        (
            "leg_ratio_qty_denominator",
            Get::I32(|m: &D| m.leg_ratio_qty_denominator),
        ),
        ("leg_underlying_id", Get::U32(|m: &D| m.leg_underlying_id)),
    ]);
    f
}

/// A column builder for record type `rt`, or `None` for types without a layout here.
fn sink_for(rt: u8) -> Option<Box<dyn Sink>> {
    Some(match rt {
        rtype::MBO => Box::new(Builder::new(rt, mbo_fields())),
        rtype::MBP_0 => Box::new(Builder::new(rt, trade_fields())),
        rtype::MBP_1 => Box::new(Builder::new(rt, mbp1_fields())),
        rtype::TBBO => Box::new(TbboBuilder(Builder::new(rt, mbp1_fields()))),
        rtype::MBP_10 => Box::new(Builder::new(rt, mbp10_fields())),
        rtype::BBO_1S | rtype::BBO_1M => Box::new(Builder::new(rt, bbo_fields())),
        rtype::CMBP_1 | rtype::TCBBO => Box::new(Builder::new(rt, cmbp1_fields())),
        rtype::CBBO_1S | rtype::CBBO_1M => Box::new(Builder::new(rt, cbbo_fields())),
        rtype::OHLCV_1S
        | rtype::OHLCV_1M
        | rtype::OHLCV_1H
        | rtype::OHLCV_1D
        | rtype::OHLCV_EOD
        | rtype::OHLCV_DEPRECATED => Box::new(Builder::new(rt, ohlcv_fields())),
        rtype::STATUS => Box::new(Builder::new(rt, status_fields())),
        rtype::INSTRUMENT_DEF => Box::new(Builder::new(rt, definition_fields())),
        rtype::STATISTICS => Box::new(Builder::new(rt, stat_fields())),
        rtype::IMBALANCE => Box::new(Builder::new(rt, imbalance_fields())),
        _ => return None,
    })
}

/// Streams records from `reader` into frames (see the module docs for mixed files).
///
/// Records must be in time order (ts_recv, or ts_event where a record has no ts_recv), as
/// Databento writes them: a step back is an [`CoreError::OutOfOrder`] naming the record, not
/// a frame whose rows silently disagree with their file's promise.
pub fn read_frames(mut reader: DbnReader) -> Result<Frames> {
    let mut sinks: Vec<(u8, Box<dyn Sink>)> = Vec::new();
    let mut skipped: Vec<(u8, u64)> = Vec::new();
    let mut last = usize::MAX;
    let mut prev_ts = 0u64;
    loop {
        let at = reader.position();
        let Some(rec) = reader.next_record()? else {
            break;
        };
        let ts = crate::scan::index_ts(&rec);
        if ts != dbn::UNDEF_TIMESTAMP {
            if ts < prev_ts {
                return Err(CoreError::OutOfOrder {
                    path: reader.path().to_path_buf(),
                    at,
                    prev: prev_ts,
                    ts,
                });
            }
            prev_ts = ts;
        }
        let rt = rec.header().rtype;
        // Files are nearly always one record type: check the last one used first.
        let i = if last < sinks.len() && sinks[last].0 == rt {
            last
        } else if let Some(i) = sinks.iter().position(|(r, _)| *r == rt) {
            i
        } else if let Some(s) = sink_for(rt) {
            sinks.push((rt, s));
            sinks.len() - 1
        } else {
            match skipped.iter_mut().find(|(r, _)| *r == rt) {
                Some((_, n)) => *n += 1,
                None => skipped.push((rt, 1)),
            }
            continue;
        };
        last = i;
        sinks[i].1.push(&rec);
    }
    if sinks.is_empty() {
        if let Some(schema) = reader.metadata().schema {
            let rt = RType::from(schema) as u8;
            if let Some(s) = sink_for(rt) {
                sinks.push((rt, s));
            }
        }
    }
    let declared = reader.metadata().schema;
    let frames = sinks
        .into_iter()
        .map(|(rt, s)| {
            let mut f = s.finish();
            f.schema = frame_name(declared, rt);
            f
        })
        .collect();
    Ok(Frames { frames, skipped })
}

/// Opens `path` and decodes it into frames.
pub fn read_dbn(path: impl AsRef<Path>) -> Result<Frames> {
    read_frames(DbnReader::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::char_str;

    #[test]
    fn undefined_price_is_nan_and_scale_is_1e9() {
        assert!(price(UNDEF_PRICE).is_nan());
        assert_eq!(price(4_799_250_000_000), 4799.25);
        assert_eq!(price(-250_000_000), -0.25);
    }

    #[test]
    fn every_layout_builds_equal_length_empty_columns() {
        for rt in [
            rtype::MBO,
            rtype::MBP_0,
            rtype::MBP_1,
            rtype::TBBO,
            rtype::MBP_10,
            rtype::BBO_1S,
            rtype::CMBP_1,
            rtype::CBBO_1S,
            rtype::OHLCV_1M,
            rtype::STATUS,
            rtype::INSTRUMENT_DEF,
            rtype::STATISTICS,
            rtype::IMBALANCE,
        ] {
            let f = sink_for(rt).expect("layout").finish();
            assert!(f.is_empty());
            let mut names: Vec<_> = f.columns.iter().map(|(n, _)| *n).collect();
            let n = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), n, "duplicate column in {}", f.schema);
        }
        assert!(sink_for(rtype::ERROR).is_none());
    }

    #[test]
    fn char_and_cstr_helpers() {
        assert_eq!(char_str(0), "");
        assert_eq!(char_str(b'F' as c_char), "F");
        let mut sym = [0 as c_char; 8];
        for (d, s) in sym.iter_mut().zip(b"ESU4") {
            *d = *s as c_char;
        }
        assert_eq!(cstr(&sym), "ESU4");
    }
}
