//! L3 book from Databento MBO: every resting order by id, in time priority at its level.
//!
//! Layout chosen for the hot path: orders live in a slab (`Vec`) linked per level as an
//! intrusive doubly linked list (O(1) add/cancel, queue position by walking from the head);
//! levels per side are a `VecDeque` sorted so that the best level is last: live activity is
//! at the top (the back), and a snapshot arrives best first, so its deeper levels land at
//! the front; a deque makes both ends cheap (a `Vec` shifted the whole ladder per deep
//! level of a snapshot).

use std::collections::VecDeque;

use dbn::MboMsg;
use rustc_hash::FxHashMap;

use super::{
    bookable_price, AnomalyCounts, BookView, Health, Integrity, LevelView, Side, MAX_ORDER_SIZE,
};

const NIL: u32 = u32::MAX;
/// Orders to make room for when a snapshot starts (an ES day opens with ~9k).
const SNAPSHOT_RESERVE: usize = 1 << 14;

#[derive(Debug, Clone, Copy)]
struct Order {
    id: u64,
    price: i64,
    size: u32,
    side: Side,
    prev: u32,
    next: u32,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    /// Sort key: price for bids, -price for asks, so the best level has the largest key.
    key: i64,
    size: u64,
    count: u32,
    head: u32,
    tail: u32,
}

#[derive(Debug, Default, Clone)]
struct Ladder {
    levels: VecDeque<Level>,
}

impl Ladder {
    /// Finds `key`; scans the top few levels linearly first (where almost all events land).
    #[inline]
    fn find(&self, key: i64) -> Result<usize, usize> {
        let n = self.levels.len();
        for (j, l) in self.levels.iter().rev().take(4).enumerate() {
            if l.key == key {
                return Ok(n - 1 - j);
            }
            if l.key < key {
                return Err(n - j);
            }
        }
        // A new worst level (deep orders, a snapshot arriving best first) goes to the front.
        match self.levels.front() {
            Some(f) if key < f.key => return Err(0),
            Some(f) if key == f.key => return Ok(0),
            _ => {}
        }
        // std searches the deque's two contiguous halves as slices: no per-probe wrap.
        self.levels.binary_search_by_key(&key, |l| l.key)
    }

    #[inline]
    fn get_or_insert(&mut self, key: i64) -> usize {
        match self.find(key) {
            Ok(i) => i,
            Err(i) => {
                self.levels.insert(
                    i,
                    Level {
                        key,
                        size: 0,
                        count: 0,
                        head: NIL,
                        tail: NIL,
                    },
                );
                i
            }
        }
    }
}

/// Where an order stands in its level's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePosition {
    pub side: Side,
    pub price: i64,
    /// Orders ahead of this one at the same price.
    pub orders_ahead: u32,
    /// Total size of the orders ahead.
    pub size_ahead: u64,
    /// This order's remaining size.
    pub size: u32,
}

#[derive(Debug, Default, Clone)]
pub struct L3Book {
    orders: Vec<Order>,
    free: Vec<u32>,
    index: FxHashMap<u64, u32>,
    ladders: [Ladder; 2],
    health: Health,
}

#[inline]
fn key_of(side: Side, price: i64) -> i64 {
    match side {
        Side::Bid => price,
        Side::Ask => -price,
    }
}

impl L3Book {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one MBO record. Expected oddities (unknown ids, bad sides) are counted in
    /// [`AnomalyCounts`], never raised: a live book must keep going.
    #[inline]
    pub fn apply(&mut self, m: &MboMsg) {
        let flags = m.flags;
        if self.health.begin_record(flags) {
            // A snapshot replaces whatever we had: start clean and trusted. Sizing the
            // index up front spares the rehashes of a full-depth snapshot.
            self.clear();
            self.index.reserve(SNAPSHOT_RESERVE);
            self.orders.reserve(SNAPSHOT_RESERVE);
        }
        match m.action as u8 {
            b'A' => self.add(m.order_id, m.side, m.price, m.size),
            b'C' => self.cancel(m.order_id, m.size),
            b'M' => self.modify(m.order_id, m.side, m.price, m.size),
            b'R' => self.clear(),
            b'T' | b'F' | b'N' => {}
            _ => self.health.anomalies.unknown_action += 1,
        }
        self.health.end_record(flags);
    }

    /// Called at an event boundary (F_LAST): updates and returns the crossed state.
    /// A crossed book is reported (counted and flagged), never silently kept.
    #[inline]
    pub fn end_event(&mut self) -> bool {
        let crossed = self.is_crossed_now();
        self.health.end_event(crossed)
    }

    /// Removes every order and restores trust (Clear action, or start of a snapshot).
    pub fn clear(&mut self) {
        self.orders.clear();
        self.free.clear();
        self.index.clear();
        self.ladders[0].levels.clear();
        self.ladders[1].levels.clear();
        self.health.integrity = Integrity::default();
    }

    pub fn anomalies(&self) -> AnomalyCounts {
        self.health.anomalies
    }

    /// Records whose action was none of A, C, M, R, T, F, N (also in [`AnomalyCounts`]).
    pub fn unknown_actions(&self) -> u64 {
        self.health.anomalies.unknown_action
    }

    pub fn order_count(&self) -> usize {
        self.index.len()
    }

    /// Side, price and remaining size of a resting order.
    pub fn order(&self, id: u64) -> Option<(Side, i64, u32)> {
        self.index.get(&id).map(|&i| {
            let o = &self.orders[i as usize];
            (o.side, o.price, o.size)
        })
    }

    /// Queue position of a resting order: what is ahead of it at its price.
    pub fn queue_position(&self, id: u64) -> Option<QueuePosition> {
        let &idx = self.index.get(&id)?;
        let o = self.orders[idx as usize];
        let ladder = &self.ladders[o.side as usize];
        let li = ladder.find(key_of(o.side, o.price)).ok()?;
        let mut cur = ladder.levels[li].head;
        let (mut n, mut sz) = (0u32, 0u64);
        while cur != idx && cur != NIL {
            let c = &self.orders[cur as usize];
            n += 1;
            sz += c.size as u64;
            cur = c.next;
        }
        Some(QueuePosition {
            side: o.side,
            price: o.price,
            orders_ahead: n,
            size_ahead: sz,
            size: o.size,
        })
    }

    /// Order ids resting at `price` on `side`, in priority order.
    pub fn orders_at(&self, side: Side, price: i64) -> Vec<u64> {
        let ladder = &self.ladders[side as usize];
        let mut out = Vec::new();
        if let Ok(li) = ladder.find(key_of(side, price)) {
            let mut cur = ladder.levels[li].head;
            while cur != NIL {
                let o = &self.orders[cur as usize];
                out.push(o.id);
                cur = o.next;
            }
        }
        out
    }

    #[inline]
    fn add(&mut self, id: u64, side: std::ffi::c_char, price: i64, size: u32) {
        let Some(side) = Side::from_dbn(side) else {
            self.health.anomalies.bad_side += 1;
            return;
        };
        if !bookable_price(price) {
            self.health.anomalies.bad_price += 1;
            return;
        }
        if size > MAX_ORDER_SIZE {
            self.health.anomalies.bad_size += 1;
            return;
        }
        if let Some(&old) = self.index.get(&id) {
            self.health.anomalies.duplicate_add += 1;
            self.detach(old);
            self.release(old);
        }
        if size == 0 {
            self.health.anomalies.zero_size_add += 1;
            return;
        }
        let order = Order {
            id,
            price,
            size,
            side,
            prev: NIL,
            next: NIL,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.orders[i as usize] = order;
                i
            }
            None => {
                self.orders.push(order);
                (self.orders.len() - 1) as u32
            }
        };
        self.index.insert(id, idx);
        self.attach(idx);
    }

    /// Links order `idx` at the back of the queue of its (side, price) level.
    #[inline]
    fn attach(&mut self, idx: u32) {
        let Order {
            side, price, size, ..
        } = self.orders[idx as usize];
        let ladder = &mut self.ladders[side as usize];
        let li = ladder.get_or_insert(key_of(side, price));
        let level = &mut ladder.levels[li];
        let tail = level.tail;
        level.size += size as u64;
        level.count += 1;
        level.tail = idx;
        if tail == NIL {
            level.head = idx;
        } else {
            self.orders[tail as usize].next = idx;
        }
        let o = &mut self.orders[idx as usize];
        o.prev = tail;
        o.next = NIL;
    }

    /// Unlinks order `idx` from its level (dropping the level when it empties). The
    /// order keeps its slot and index entry: a re-priced order is re-attached without
    /// touching the hash map.
    #[inline]
    fn detach(&mut self, idx: u32) {
        let o = self.orders[idx as usize];
        let ladder = &mut self.ladders[o.side as usize];
        if let Ok(li) = ladder.find(key_of(o.side, o.price)) {
            let level = &mut ladder.levels[li];
            level.size -= o.size as u64;
            level.count -= 1;
            if o.prev == NIL {
                level.head = o.next;
            }
            if o.next == NIL {
                level.tail = o.prev;
            }
            if level.count == 0 {
                ladder.levels.remove(li);
            }
        }
        if o.prev != NIL {
            self.orders[o.prev as usize].next = o.next;
        }
        if o.next != NIL {
            self.orders[o.next as usize].prev = o.prev;
        }
    }

    /// Frees the slot of a detached order.
    #[inline]
    fn release(&mut self, idx: u32) {
        self.index.remove(&self.orders[idx as usize].id);
        self.free.push(idx);
    }

    #[inline]
    fn cancel(&mut self, id: u64, size: u32) {
        let Some(&idx) = self.index.get(&id) else {
            self.health.anomalies.unknown_cancel += 1;
            return;
        };
        let o = &mut self.orders[idx as usize];
        if size >= o.size {
            if size > o.size {
                self.health.anomalies.cancel_exceeds_size += 1;
            }
            self.detach(idx);
            self.release(idx);
        } else {
            o.size -= size;
            let (side, price) = (o.side, o.price);
            let ladder = &mut self.ladders[side as usize];
            if let Ok(li) = ladder.find(key_of(side, price)) {
                ladder.levels[li].size -= size as u64;
            }
        }
    }

    #[inline]
    fn modify(&mut self, id: u64, side: std::ffi::c_char, price: i64, size: u32) {
        let Some(&idx) = self.index.get(&id) else {
            // The record carries the order's full new state, so it can stand in for an add.
            self.health.anomalies.unknown_modify += 1;
            self.add(id, side, price, size);
            return;
        };
        let Some(new_side) = Side::from_dbn(side) else {
            self.health.anomalies.bad_side += 1;
            return;
        };
        if !bookable_price(price) {
            self.health.anomalies.bad_price += 1;
            return;
        }
        if size > MAX_ORDER_SIZE {
            self.health.anomalies.bad_size += 1;
            return;
        }
        let o = self.orders[idx as usize];
        if size == 0 {
            self.detach(idx);
            self.release(idx);
        } else if o.price != price || o.side != new_side || size > o.size {
            // Price change or size increase: to the back of the (new) queue.
            self.detach(idx);
            let o = &mut self.orders[idx as usize];
            (o.side, o.price, o.size) = (new_side, price, size);
            self.attach(idx);
        } else if size < o.size {
            // Size decrease keeps priority.
            let delta = (o.size - size) as u64;
            self.orders[idx as usize].size = size;
            let ladder = &mut self.ladders[o.side as usize];
            if let Ok(li) = ladder.find(key_of(o.side, o.price)) {
                ladder.levels[li].size -= delta;
            }
        }
    }

    /// Checks every structural invariant; used by tests and property tests.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut seen = 0usize;
        for side in [Side::Bid, Side::Ask] {
            let ladder = &self.ladders[side as usize];
            for (a, b) in ladder.levels.iter().zip(ladder.levels.iter().skip(1)) {
                if a.key >= b.key {
                    return Err(format!("{side:?} levels not strictly sorted"));
                }
            }
            for l in &ladder.levels {
                let (mut n, mut sz, mut cur, mut prev) = (0u32, 0u64, l.head, NIL);
                while cur != NIL {
                    let o = &self.orders[cur as usize];
                    if o.prev != prev || o.side != side || key_of(side, o.price) != l.key {
                        return Err(format!("order {} misplaced in level {}", o.id, l.key));
                    }
                    if o.size == 0 {
                        return Err(format!("order {} has zero size", o.id));
                    }
                    if self.index.get(&o.id) != Some(&cur) {
                        return Err(format!("order {} not indexed", o.id));
                    }
                    n += 1;
                    sz += o.size as u64;
                    prev = cur;
                    cur = o.next;
                }
                if prev != l.tail || n != l.count || sz != l.size || n == 0 {
                    return Err(format!(
                        "level {} inconsistent: count {} vs {}, size {} vs {}",
                        l.key, l.count, n, l.size, sz
                    ));
                }
                seen += n as usize;
            }
        }
        if seen != self.index.len() {
            return Err(format!(
                "{} orders indexed, {} linked",
                self.index.len(),
                seen
            ));
        }
        Ok(())
    }
}

impl BookView for L3Book {
    #[inline]
    fn depth(&self, side: Side) -> usize {
        self.ladders[side as usize].levels.len()
    }

    #[inline]
    fn level(&self, side: Side, i: usize) -> Option<LevelView> {
        let levels = &self.ladders[side as usize].levels;
        let l = levels.get(levels.len().checked_sub(i + 1)?)?;
        Some(LevelView {
            price: key_of(side, l.key),
            size: l.size,
            count: l.count,
        })
    }

    fn integrity(&self) -> Integrity {
        self.health.integrity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbn::FlagSet;

    const LAST: u8 = dbn::flags::LAST;

    fn msg(action: u8, side: u8, price: i64, size: u32, id: u64, flags: u8) -> MboMsg {
        MboMsg {
            order_id: id,
            price: price * crate::book::PRICE_SCALE,
            size,
            flags: FlagSet::new(flags),
            action: action as _,
            side: side as _,
            ..Default::default()
        }
    }

    fn book(msgs: &[MboMsg]) -> L3Book {
        let mut b = L3Book::new();
        for m in msgs {
            b.apply(m);
            b.check_invariants().unwrap();
        }
        b
    }

    fn px(p: i64) -> i64 {
        p * crate::book::PRICE_SCALE
    }

    #[test]
    fn adds_aggregate_into_levels_best_first() {
        let b = book(&[
            msg(b'A', b'B', 100, 5, 1, 0),
            msg(b'A', b'B', 101, 2, 2, 0),
            msg(b'A', b'B', 101, 3, 3, 0),
            msg(b'A', b'A', 103, 4, 4, 0),
            msg(b'A', b'A', 102, 1, 5, LAST),
        ]);
        let bids = b.top(Side::Bid, 5);
        assert_eq!(bids.len(), 2);
        assert_eq!(
            bids[0],
            LevelView {
                price: px(101),
                size: 5,
                count: 2
            }
        );
        assert_eq!(
            bids[1],
            LevelView {
                price: px(100),
                size: 5,
                count: 1
            }
        );
        let (bb, ba) = b.bbo();
        assert_eq!(ba.unwrap().price, px(102));
        assert_eq!(bb.unwrap().price, px(101));
        assert_eq!(b.order_count(), 5);
    }

    #[test]
    fn partial_and_full_cancel() {
        let mut b = book(&[msg(b'A', b'A', 10, 10, 7, 0), msg(b'A', b'A', 10, 4, 8, 0)]);
        b.apply(&msg(b'C', b'A', 10, 3, 7, 0));
        assert_eq!(b.best(Side::Ask).unwrap().size, 11);
        assert_eq!(b.order(7), Some((Side::Ask, px(10), 7)));
        b.apply(&msg(b'C', b'A', 10, 7, 7, 0));
        assert_eq!(b.order(7), None);
        assert_eq!(
            b.best(Side::Ask).unwrap(),
            LevelView {
                price: px(10),
                size: 4,
                count: 1
            }
        );
        b.apply(&msg(b'C', b'A', 10, 9, 8, 0));
        assert_eq!(b.anomalies().cancel_exceeds_size, 1);
        assert_eq!(b.depth(Side::Ask), 0);
        b.check_invariants().unwrap();
    }

    #[test]
    fn unknown_ids_are_counted_anomalies() {
        let mut b = L3Book::new();
        b.apply(&msg(b'C', b'B', 10, 1, 99, 0));
        b.apply(&msg(b'M', b'B', 10, 2, 98, 0));
        b.apply(&msg(b'A', b'B', 10, 2, 98, 0));
        let a = b.anomalies();
        assert_eq!(
            (a.unknown_cancel, a.unknown_modify, a.duplicate_add),
            (1, 1, 1)
        );
        // The modify stood in for an add; the duplicate add replaced it.
        assert_eq!(
            b.best(Side::Bid).unwrap(),
            LevelView {
                price: px(10),
                size: 2,
                count: 1
            }
        );
        b.check_invariants().unwrap();
    }

    #[test]
    fn modify_priority_rules() {
        let mut b = book(&[
            msg(b'A', b'B', 50, 5, 1, 0),
            msg(b'A', b'B', 50, 5, 2, 0),
            msg(b'A', b'B', 50, 5, 3, 0),
        ]);
        // Size decrease keeps the place in the queue.
        b.apply(&msg(b'M', b'B', 50, 2, 1, 0));
        assert_eq!(b.orders_at(Side::Bid, px(50)), vec![1, 2, 3]);
        assert_eq!(b.queue_position(2).unwrap().size_ahead, 2);
        // Size increase goes to the back.
        b.apply(&msg(b'M', b'B', 50, 6, 1, 0));
        assert_eq!(b.orders_at(Side::Bid, px(50)), vec![2, 3, 1]);
        let q = b.queue_position(1).unwrap();
        assert_eq!((q.orders_ahead, q.size_ahead, q.size), (2, 10, 6));
        // Price change moves it to the back of the new level.
        b.apply(&msg(b'A', b'B', 49, 1, 4, 0));
        b.apply(&msg(b'M', b'B', 49, 6, 2, 0));
        assert_eq!(b.orders_at(Side::Bid, px(49)), vec![4, 2]);
        assert_eq!(b.orders_at(Side::Bid, px(50)), vec![3, 1]);
        b.check_invariants().unwrap();
    }

    #[test]
    fn trades_fills_and_none_leave_the_book_alone() {
        let mut b = book(&[msg(b'A', b'A', 10, 5, 1, LAST)]);
        let before = b.top(Side::Ask, 1);
        b.apply(&msg(b'T', b'B', 10, 2, 0, 0));
        b.apply(&msg(b'F', b'A', 10, 2, 1, 0));
        b.apply(&msg(b'N', b'N', 10, 2, 1, LAST));
        assert_eq!(b.top(Side::Ask, 1), before);
    }

    #[test]
    fn clear_and_snapshot_reset_the_book_and_trust() {
        let mut b = book(&[msg(b'A', b'B', 10, 5, 1, dbn::flags::MAYBE_BAD_BOOK)]);
        assert!(b.integrity().untrusted);
        b.apply(&msg(b'R', b'N', 0, 0, 0, 0));
        assert!(!b.integrity().untrusted);
        assert_eq!(b.order_count(), 0);
        b.apply(&msg(b'A', b'B', 11, 5, 2, dbn::flags::MAYBE_BAD_BOOK));
        assert!(b.integrity().untrusted);
        // A snapshot after live events starts from scratch.
        b.apply(&msg(b'A', b'A', 12, 1, 3, dbn::flags::SNAPSHOT));
        assert!(!b.integrity().untrusted);
        assert_eq!(b.order(2), None);
        b.apply(&msg(b'A', b'B', 11, 1, 4, dbn::flags::SNAPSHOT | LAST));
        assert_eq!(b.order_count(), 2);
    }

    #[test]
    fn crossed_book_is_reported_at_the_boundary() {
        let mut b = book(&[
            msg(b'A', b'B', 10, 5, 1, 0),
            msg(b'A', b'A', 10, 5, 2, LAST),
        ]);
        assert!(b.end_event());
        assert!(b.integrity().crossed);
        assert_eq!(b.anomalies().crossed_events, 1);
        b.apply(&msg(b'C', b'A', 10, 5, 2, LAST));
        assert!(!b.end_event());
        assert!(!b.integrity().crossed);
    }

    #[test]
    fn microprice_leans_to_the_thin_side() {
        let b = book(&[
            msg(b'A', b'B', 100, 1, 1, 0),
            msg(b'A', b'A', 101, 3, 2, LAST),
        ]);
        let mp = b.microprice().unwrap() / crate::book::PRICE_SCALE as f64;
        assert!((mp - 100.25).abs() < 1e-9, "{mp}");
    }
}
