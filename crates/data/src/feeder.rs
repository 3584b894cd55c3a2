//! [`Feeder`]: hands out row indices of one shared [`Table`] to every VU.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Table;

/// How a [`Feeder`] picks the next row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Rows in file order, one shared cursor for all VUs, wrapping after the last row.
    Sequential,
    /// A uniformly random row on every pick; rows repeat.
    Random,
    /// Each row handed out at most once across the whole run (across all VUs); what happens
    /// after the last one is [`OnExhausted`]'s choice.
    Unique,
}

impl Mode {
    /// The names a plan spells the modes with, in declaration order.
    pub const NAMES: [&'static str; 3] = ["sequential", "random", "unique"];

    /// The mode spelled `name` (one of [`Mode::NAMES`]).
    pub fn from_name(name: &str) -> Option<Mode> {
        match name {
            "sequential" => Some(Mode::Sequential),
            "random" => Some(Mode::Random),
            "unique" => Some(Mode::Unique),
            _ => None,
        }
    }
}

/// What a [`Mode::Unique`] feeder does once every row has been handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnExhausted {
    /// Hand out nothing more: [`Feeder::next`] returns `None`, and the caller stops the
    /// scenario (or the VU).
    Stop,
    /// Start over from the first row (from then on the feeder behaves like
    /// [`Mode::Sequential`]).
    Recycle,
}

impl OnExhausted {
    /// The names a plan spells the policies with.
    pub const NAMES: [&'static str; 2] = ["stop", "recycle"];

    /// The policy spelled `name` (one of [`OnExhausted::NAMES`]).
    pub fn from_name(name: &str) -> Option<OnExhausted> {
        match name {
            "stop" => Some(OnExhausted::Stop),
            "recycle" => Some(OnExhausted::Recycle),
            _ => None,
        }
    }
}

/// Picks rows of one shared table for all VUs of a run.
///
/// One `Feeder` per data file per run, shared by reference (`Arc<Feeder>`) among VUs; a pick is
/// a single atomic `fetch_add` on a shared cursor, no lock, and yields a row *index*: VUs read
/// cells through [`Feeder::table`] and never copy a row.
pub struct Feeder {
    table: Arc<Table>,
    mode: Mode,
    on_exhausted: OnExhausted,
    /// Picks so far (for `Unique` + `Stop`, it may run past the table's length; see
    /// [`Feeder::handed_out`]).
    cursor: AtomicU64,
}

impl Feeder {
    /// A feeder over `table`; `on_exhausted` matters only for [`Mode::Unique`].
    pub fn new(table: Arc<Table>, mode: Mode, on_exhausted: OnExhausted) -> Self {
        Feeder { table, mode, on_exhausted, cursor: AtomicU64::new(0) }
    }

    /// The next row index, or `None` when the table is empty or a unique feeder with
    /// [`OnExhausted::Stop`] has handed out every row. `rng` is only used by [`Mode::Random`]
    /// (pass the VU's own generator, so picks need no shared RNG state).
    pub fn next(&self, rng: &mut impl rand::Rng) -> Option<usize> {
        let len = self.table.len() as u64;
        if len == 0 {
            return None;
        }
        // Relaxed is enough: the read-modify-write alone guarantees every caller a distinct
        // count; no other memory is published through the cursor.
        match self.mode {
            Mode::Random => {
                self.cursor.fetch_add(1, Ordering::Relaxed);
                Some(rng.random_range(0..self.table.len()))
            }
            Mode::Sequential => Some(self.wrap(self.cursor.fetch_add(1, Ordering::Relaxed))),
            Mode::Unique => {
                let stop = self.on_exhausted == OnExhausted::Stop;
                // Once exhausted, stop writing the shared cache line on every call.
                if stop && self.cursor.load(Ordering::Relaxed) >= len {
                    return None;
                }
                let n = self.cursor.fetch_add(1, Ordering::Relaxed);
                if n < len {
                    Some(n as usize)
                } else if stop {
                    None
                } else {
                    Some(self.wrap(n))
                }
            }
        }
    }

    fn wrap(&self, n: u64) -> usize {
        (n % self.table.len() as u64) as usize
    }

    /// The table rows come from.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The picking mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The exhaustion policy (meaningful for [`Mode::Unique`] only).
    pub fn on_exhausted(&self) -> OnExhausted {
        self.on_exhausted
    }

    /// How many rows have been handed out so far (counting repeats; a unique feeder that
    /// stopped reports the table's length, not the refused calls).
    pub fn handed_out(&self) -> u64 {
        let n = self.cursor.load(Ordering::Relaxed);
        match (self.mode, self.on_exhausted) {
            (Mode::Unique, OnExhausted::Stop) => n.min(self.table.len() as u64),
            _ => n,
        }
    }

    /// Whether a unique feeder with [`OnExhausted::Stop`] has no row left to hand out.
    pub fn is_exhausted(&self) -> bool {
        self.mode == Mode::Unique
            && self.on_exhausted == OnExhausted::Stop
            && self.handed_out() >= self.table.len() as u64
    }
}

impl fmt::Debug for Feeder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feeder")
            .field("table", &self.table)
            .field("mode", &self.mode)
            .field("on_exhausted", &self.on_exhausted)
            .field("handed_out", &self.handed_out())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn numbers(rows: usize) -> Arc<Table> {
        let mut text = String::from("n,word\n");
        for i in 0..rows {
            text.push_str(&format!("{i},w{i}\n"));
        }
        Arc::new(Table::from_csv(&text).unwrap())
    }

    #[test]
    fn unique_hands_out_each_row_exactly_once_across_threads() {
        const ROWS: usize = 20_000;
        let feeder = Feeder::new(numbers(ROWS), Mode::Unique, OnExhausted::Stop);
        let picked: Vec<Vec<usize>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..8)
                .map(|seed| {
                    let feeder = &feeder;
                    s.spawn(move || {
                        let mut rng = SmallRng::seed_from_u64(seed);
                        let mut mine = Vec::new();
                        // Bounded: more calls than rows can ever be needed.
                        for _ in 0..=ROWS {
                            match feeder.next(&mut rng) {
                                Some(row) => mine.push(row),
                                None => break,
                            }
                        }
                        mine
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let mut all: Vec<usize> = picked.concat();
        assert_eq!(all.len(), ROWS, "rows handed out");
        all.sort_unstable();
        assert!(all.iter().copied().eq(0..ROWS), "every row exactly once");
        // The handed-out index really is the row: the cell holds its own number.
        let first = picked.iter().find(|p| !p.is_empty()).unwrap()[0];
        assert_eq!(feeder.table().cell(first, 0), first.to_string());
        assert_eq!(feeder.handed_out(), ROWS as u64);
        assert!(feeder.is_exhausted());
        assert_eq!(feeder.next(&mut SmallRng::seed_from_u64(9)), None);
        assert_eq!(feeder.handed_out(), ROWS as u64, "refused calls are not counted");
    }

    #[test]
    fn unique_recycle_wraps_to_the_first_row() {
        let feeder = Feeder::new(numbers(3), Mode::Unique, OnExhausted::Recycle);
        let mut rng = SmallRng::seed_from_u64(1);
        let got: Vec<_> = (0..7).map(|_| feeder.next(&mut rng).unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(feeder.handed_out(), 7);
        assert!(!feeder.is_exhausted());
    }

    #[test]
    fn sequential_cursor_is_shared_by_all_threads() {
        const ROWS: usize = 5;
        const ROUNDS: usize = 400;
        let feeder = Feeder::new(numbers(ROWS), Mode::Sequential, OnExhausted::Stop);
        let mut counts = [0usize; ROWS];
        let picked: Vec<Vec<usize>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let feeder = &feeder;
                    s.spawn(move || {
                        let mut rng = SmallRng::seed_from_u64(0);
                        (0..ROWS * ROUNDS / 4).map(|_| feeder.next(&mut rng).unwrap()).collect()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        for row in picked.concat() {
            counts[row] += 1;
        }
        // No pick is lost or doubled under contention.
        assert_eq!(counts, [ROUNDS; ROWS]);
        assert_eq!(feeder.handed_out(), (ROWS * ROUNDS) as u64);
    }

    #[test]
    fn sequential_vus_continue_each_others_cursor() {
        let feeder = Feeder::new(numbers(3), Mode::Sequential, OnExhausted::Stop);
        let (mut vu_a, mut vu_b) = (SmallRng::seed_from_u64(1), SmallRng::seed_from_u64(2));
        let got =
            [feeder.next(&mut vu_a), feeder.next(&mut vu_b), feeder.next(&mut vu_a), feeder.next(&mut vu_b)];
        assert_eq!(got, [Some(0), Some(1), Some(2), Some(0)]);
    }

    #[test]
    fn random_stays_in_range_and_reaches_every_row() {
        let feeder = Feeder::new(numbers(7), Mode::Random, OnExhausted::Stop);
        let mut rng = SmallRng::seed_from_u64(42);
        let mut seen = [false; 7];
        for _ in 0..2_000 {
            let row = feeder.next(&mut rng).unwrap();
            assert!(row < 7, "row {row} out of range");
            seen[row] = true;
        }
        assert_eq!(seen, [true; 7]);
        assert_eq!(feeder.handed_out(), 2_000);
    }

    #[test]
    fn all_vus_read_the_one_shared_table() {
        let table = numbers(100);
        let feeder = Arc::new(Feeder::new(Arc::clone(&table), Mode::Sequential, OnExhausted::Stop));
        // Many VUs hold the feeder; the table itself is referenced only by us and the feeder.
        let vus: Vec<Arc<Feeder>> = (0..50).map(|_| Arc::clone(&feeder)).collect();
        assert_eq!(Arc::strong_count(&table), 2);
        // A cell read through any VU's feeder is the very same bytes as in our table: no copy.
        let mut rng = SmallRng::seed_from_u64(3);
        for vu in &vus {
            let row = vu.next(&mut rng).unwrap();
            let through_vu = vu.table().cell(row, 1);
            assert_eq!(through_vu.as_ptr(), table.cell(row, 1).as_ptr());
            assert_eq!(through_vu, format!("w{row}"));
        }
    }

    #[test]
    fn names_round_trip() {
        for name in Mode::NAMES {
            assert!(Mode::from_name(name).is_some(), "{name}");
        }
        for name in OnExhausted::NAMES {
            assert!(OnExhausted::from_name(name).is_some(), "{name}");
        }
        assert_eq!(Mode::from_name("shuffle"), None);
    }
}
