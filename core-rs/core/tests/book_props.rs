//! Property tests of the L3 book: random MBO event streams (A/C/M/R/T/F/N with random ids,
//! including unknown ones, random sides, undefined prices and random flags including
//! F_SNAPSHOT and F_MAYBE_BAD_BOOK) never panic, keep every structural invariant, and agree
//! after every event with a naive model of price-time priority (order by order, queue
//! positions, level totals, the crossed flag at event boundaries).

use std::collections::BTreeMap;

use dbn::{FlagSet, MboMsg, UNDEF_PRICE};
use proptest::prelude::*;
use tradecore::book::{BookView, L3Book, LevelView, Side, MAX_ORDER_SIZE};

const F_LAST: u8 = 1 << 7;
const F_SNAPSHOT: u8 = 1 << 5;
const F_MAYBE_BAD_BOOK: u8 = 1 << 2;
const TICK: i64 = 250_000_000;

#[derive(Debug, Clone)]
struct Ev {
    action: u8,
    side: u8,
    price: i64,
    size: u32,
    id: u64,
    flags: u8,
}

impl Ev {
    fn msg(&self) -> MboMsg {
        MboMsg {
            order_id: self.id,
            price: self.price,
            size: self.size,
            flags: FlagSet::new(self.flags),
            action: self.action as _,
            side: self.side as _,
            ..Default::default()
        }
    }
}

fn event() -> impl Strategy<Value = Ev> {
    let action = prop_oneof![
        6 => Just(b'A'),
        3 => Just(b'C'),
        3 => Just(b'M'),
        1 => Just(b'T'),
        1 => Just(b'F'),
        1 => Just(b'N'),
        1 => Just(b'R'),
        1 => Just(b'X'),
    ];
    let side = prop_oneof![8 => Just(b'B'), 8 => Just(b'A'), 1 => Just(b'N')];
    // A narrow band of prices so that books cross and levels hold several orders.
    let price = prop_oneof![20 => (95i64..106).prop_map(|t| t * TICK), 1 => Just(UNDEF_PRICE)];
    let size = prop_oneof![1 => Just(0u32), 10 => 1u32..60, 1 => Just(u32::MAX)];
    let flags = (
        any::<bool>(),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(last, snap, bad)| {
            (if last { F_LAST } else { 0 })
                | (if snap { F_SNAPSHOT } else { 0 })
                | (if bad { F_MAYBE_BAD_BOOK } else { 0 })
        });
    (action, side, price, size, 0u64..24, flags).prop_map(
        |(action, side, price, size, id, flags)| Ev {
            action,
            side,
            price,
            size,
            id,
            flags,
        },
    )
}

/// The naive model: per side, price -> orders (id, size) in priority order.
#[derive(Default, Debug)]
struct Model {
    levels: [BTreeMap<i64, Vec<(u64, u32)>>; 2],
    orders: BTreeMap<u64, (Side, i64)>,
    in_snapshot: bool,
    untrusted: bool,
}

fn side_of(c: u8) -> Option<Side> {
    match c {
        b'B' => Some(Side::Bid),
        b'A' => Some(Side::Ask),
        _ => None,
    }
}

impl Model {
    fn clear(&mut self) {
        self.levels = Default::default();
        self.orders.clear();
        self.untrusted = false;
    }

    fn remove(&mut self, id: u64) -> Option<u32> {
        let (side, price) = self.orders.remove(&id)?;
        let q = self.levels[side as usize].get_mut(&price).unwrap();
        let i = q.iter().position(|(o, _)| *o == id).unwrap();
        let (_, size) = q.remove(i);
        if q.is_empty() {
            self.levels[side as usize].remove(&price);
        }
        Some(size)
    }

    fn push(&mut self, id: u64, side: Side, price: i64, size: u32) {
        self.levels[side as usize]
            .entry(price)
            .or_default()
            .push((id, size));
        self.orders.insert(id, (side, price));
    }

    fn entry(&mut self, id: u64) -> Option<&mut (u64, u32)> {
        let (side, price) = *self.orders.get(&id)?;
        self.levels[side as usize]
            .get_mut(&price)?
            .iter_mut()
            .find(|(o, _)| *o == id)
    }

    fn add(&mut self, e: &Ev) {
        let Some(side) = side_of(e.side) else { return };
        // Undefined prices and absurd sizes (a damaged record) are counted, never booked.
        if e.price == UNDEF_PRICE || e.size > MAX_ORDER_SIZE {
            return;
        }
        self.remove(e.id);
        if e.size > 0 {
            self.push(e.id, side, e.price, e.size);
        }
    }

    fn apply(&mut self, e: &Ev) {
        if e.flags & F_SNAPSHOT != 0 {
            if !self.in_snapshot {
                self.clear();
                self.in_snapshot = true;
            }
        } else {
            self.in_snapshot = false;
        }
        match e.action {
            b'A' => self.add(e),
            b'C' => {
                if let Some(entry) = self.entry(e.id) {
                    if e.size >= entry.1 {
                        self.remove(e.id);
                    } else {
                        entry.1 -= e.size;
                    }
                }
            }
            b'M' => {
                if !self.orders.contains_key(&e.id) {
                    self.add(e);
                } else if let Some(side) = side_of(e.side) {
                    if e.price != UNDEF_PRICE && e.size <= MAX_ORDER_SIZE {
                        let (old_side, old_price) = self.orders[&e.id];
                        let old_size = self.entry(e.id).unwrap().1;
                        if e.size == 0 {
                            self.remove(e.id);
                        } else if old_price != e.price || old_side != side || e.size > old_size {
                            self.remove(e.id);
                            self.push(e.id, side, e.price, e.size);
                        } else {
                            self.entry(e.id).unwrap().1 = e.size;
                        }
                    }
                }
            }
            b'R' => self.clear(),
            _ => {}
        }
        if e.flags & F_MAYBE_BAD_BOOK != 0 {
            self.untrusted = true;
        }
    }

    fn levels(&self, side: Side) -> Vec<LevelView> {
        let agg = |(p, q): (&i64, &Vec<(u64, u32)>)| LevelView {
            price: *p,
            size: q.iter().map(|(_, s)| *s as u64).sum(),
            count: q.len() as u32,
        };
        match side {
            Side::Bid => self.levels[0].iter().rev().map(agg).collect(),
            Side::Ask => self.levels[1].iter().map(agg).collect(),
        }
    }

    /// (orders ahead, size ahead, own size) of `id`.
    fn queue(&self, id: u64) -> Option<(u32, u64, u32)> {
        let (side, price) = *self.orders.get(&id)?;
        let q = &self.levels[side as usize][&price];
        let i = q.iter().position(|(o, _)| *o == id)?;
        Some((
            i as u32,
            q[..i].iter().map(|(_, s)| *s as u64).sum(),
            q[i].1,
        ))
    }
}

fn agree(book: &L3Book, model: &Model) -> Result<(), TestCaseError> {
    book.check_invariants().map_err(TestCaseError::fail)?;
    prop_assert_eq!(book.order_count(), model.orders.len());
    for side in [Side::Bid, Side::Ask] {
        let want = model.levels(side);
        prop_assert_eq!(book.depth(side), want.len());
        prop_assert_eq!(book.top(side, want.len() + 1), want);
    }
    for (&id, &(side, price)) in &model.orders {
        let (n, ahead, size) = model.queue(id).unwrap();
        let q = book
            .queue_position(id)
            .expect("resting order has a queue position");
        prop_assert_eq!((q.side, q.price), (side, price));
        prop_assert_eq!((q.orders_ahead, q.size_ahead, q.size), (n, ahead, size));
        prop_assert_eq!(book.order(id), Some((side, price, size)));
    }
    prop_assert_eq!(book.integrity().untrusted, model.untrusted);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn book_matches_the_naive_model(events in prop::collection::vec(event(), 1..160)) {
        let mut book = L3Book::new();
        let mut model = Model::default();
        for e in &events {
            let before = model.queue(e.id).zip(model.orders.get(&e.id).copied());
            book.apply(&e.msg());
            model.apply(e);
            agree(&book, &model)?;
            if e.flags & F_LAST != 0 {
                let crossed = book.end_event();
                let (b, a) = (model.levels(Side::Bid), model.levels(Side::Ask));
                let want = matches!((b.first(), a.first()), (Some(b), Some(a)) if b.price >= a.price);
                prop_assert_eq!(crossed, want);
                prop_assert_eq!(book.integrity().crossed, want);
            }
            // Priority rules, stated on the book itself for a modify of a resting order
            // (a snapshot start clears the book first, so it is left out).
            let valid = side_of(e.side).is_some()
                && e.price != UNDEF_PRICE
                && e.size > 0
                && e.size <= MAX_ORDER_SIZE
                && e.flags & F_SNAPSHOT == 0;
            if let (b'M', true, Some(((n0, _, s0), (side0, p0)))) = (e.action, valid, before) {
                if let Some(q) = book.queue_position(e.id) {
                    let count = book.top(q.side, book.depth(q.side)).into_iter()
                        .find(|l| l.price == q.price).unwrap().count;
                    if p0 != e.price || Some(side0) != side_of(e.side) || e.size > s0 {
                        prop_assert_eq!(q.orders_ahead + 1, count, "re-queued order is not last");
                    } else {
                        prop_assert_eq!(q.orders_ahead, n0, "size decrease lost its place");
                    }
                }
            }
        }
    }

    #[test]
    fn size_decrease_keeps_place_and_increase_goes_last(
        sizes in prop::collection::vec(2u32..50, 3..8),
        pick in 0usize..8,
        grow in any::<bool>(),
    ) {
        let mut book = L3Book::new();
        for (i, &s) in sizes.iter().enumerate() {
            let e = Ev { action: b'A', side: b'B', price: 100 * TICK, size: s, id: i as u64, flags: F_LAST };
            book.apply(&e.msg());
        }
        let id = (pick % sizes.len()) as u64;
        let before = book.queue_position(id).unwrap();
        let new_size = if grow { sizes[id as usize] + 1 } else { sizes[id as usize] - 1 };
        let m = Ev { action: b'M', side: b'B', price: 100 * TICK, size: new_size, id, flags: F_LAST };
        book.apply(&m.msg());
        let after = book.queue_position(id).unwrap();
        if grow {
            prop_assert_eq!(after.orders_ahead as usize, sizes.len() - 1);
            let others: u64 = sizes.iter().map(|&s| s as u64).sum::<u64>() - sizes[id as usize] as u64;
            prop_assert_eq!(after.size_ahead, others);
        } else {
            prop_assert_eq!((after.orders_ahead, after.size_ahead), (before.orders_ahead, before.size_ahead));
        }
        prop_assert_eq!(after.size, new_size);
        // A price change always goes to the back of the new level.
        let p = Ev { action: b'M', side: b'B', price: 101 * TICK, size: 1, id, flags: F_LAST };
        book.apply(&p.msg());
        book.apply(&Ev { action: b'A', side: b'B', price: 101 * TICK, size: 5, id: 99, flags: F_LAST }.msg());
        let q = book.queue_position(id).unwrap();
        prop_assert_eq!((q.price, q.orders_ahead), (101 * TICK, 0));
        prop_assert_eq!(book.queue_position(99).unwrap().size_ahead, 1);
        book.check_invariants().map_err(TestCaseError::fail)?;
    }
}
