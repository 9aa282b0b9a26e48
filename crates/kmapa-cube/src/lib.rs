//! The cube: distinct persons per unit × category × year, from the active batches.
//!
//! Counting rules (see the domain brief): a person counts once per unit, category and
//! year however many records they have; a sub-row (large family, single-parent family,
//! the art. 49 groups) is also counted in its parent category; unit totals count
//! distinct persons with any category of a source, which is not the sum of categories.
//! Each person is placed at one location per year (their first record's) for every
//! category, so a district's count is the sum of its hexagons' and the districts add up
//! to their parent area and the city, and a sub-row never exceeds its parent category
//! nor a category the unit total in any unit: the relations the audit relies on hold
//! exactly.
//! Every count carries its cell key (the sum of its persons' record keys), so the
//! Cell Key Method gives the same noise to the same people in any query.
//!
//! Records never leave this crate: it hands counts to the protection core.

pub mod analyst;
pub mod analyst_audit;
pub mod atoms;
pub mod public;

use std::path::Path;

use h3o::{CellIndex, Resolution};
use kmapa_geo::DistrictLayer;
use kmapa_ingest::batch::Codes;
use kmapa_model::records::{AgeBand, Sex};
use kmapa_model::{Source, Vocabulary};
use kmapa_protect::ckm::{CellKey, RecordKey, RecordKeyer};
use polars::prelude::*;
use rayon::slice::ParallelSliceMut;
use rustc_hash::FxHashMap;

/// One person counted in one category in one year, at one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Fact {
    year: u16,
    category: u16,
    person: u32,
    district: u16,
    /// The finest H3 cell: its index in `Cube::cells` (0 when located by district
    /// only; set in `CubeBuilder::build`, 0 while loading). A number of four bytes
    /// instead of the cell's eight: facts are most of the cube's memory.
    cell: u32,
    /// 0 unknown, 1 female (K), 2 male (M).
    sex: u8,
    /// 0 unknown, else 1 + index in `AgeBand::ALL`.
    age: u8,
    /// The person's household that year (a number; a person without one is a
    /// household of their own). While loading: the index of the person's place.
    household: u32,
}

/// A breakdown group of persons: everyone, or one value (known or not) of sex or age
/// band. A person's sex and age band in a year are their first record's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Group {
    All,
    Sex(Option<Sex>),
    Age(Option<AgeBand>),
}

impl Group {
    /// Every group of a breakdown dimension, unknown last.
    pub fn of(dimension: kmapa_protect::policy::Breakdown) -> Vec<Group> {
        use kmapa_protect::policy::Breakdown;
        match dimension {
            Breakdown::Sex => [Some(Sex::Female), Some(Sex::Male), None]
                .into_iter()
                .map(Group::Sex)
                .collect(),
            Breakdown::AgeBand => AgeBand::ALL
                .into_iter()
                .map(Some)
                .chain([None])
                .map(Group::Age)
                .collect(),
        }
    }

    /// `all`, `sex=K`, `sex=unknown`, `age=18-29`, …
    pub fn code(self) -> String {
        match self {
            Group::All => "all".into(),
            Group::Sex(s) => format!("sex={}", s.map_or("unknown", Sex::code)),
            Group::Age(a) => format!("age={}", a.map_or("unknown", AgeBand::code)),
        }
    }

    /// Parses [`Group::code`].
    pub fn parse(text: &str) -> Option<Group> {
        if text == "all" {
            return Some(Group::All);
        }
        let (k, v) = text.split_once('=')?;
        match (k, v) {
            ("sex", "unknown") => Some(Group::Sex(None)),
            ("sex", v) => v.parse().ok().map(|s| Group::Sex(Some(s))),
            ("age", "unknown") => Some(Group::Age(None)),
            ("age", v) => v.parse().ok().map(|a| Group::Age(Some(a))),
            _ => None,
        }
    }

    fn holds(self, f: &Fact) -> bool {
        self.holds_codes(f.sex, f.age)
    }

    /// Whether a person of sex and age band `sex`, `age` (as [`Fact`] codes them) is in
    /// this group.
    fn holds_codes(self, sex: u8, age: u8) -> bool {
        match self {
            Group::All => true,
            Group::Sex(s) => sex == sex_code(s),
            Group::Age(a) => age == age_code(a),
        }
    }
}

fn sex_code(s: Option<Sex>) -> u8 {
    match s {
        None => 0,
        Some(Sex::Female) => 1,
        Some(Sex::Male) => 2,
    }
}

fn age_code(a: Option<AgeBand>) -> u8 {
    a.and_then(|a| AgeBand::ALL.iter().position(|x| *x == a))
        .map_or(0, |i| i as u8 + 1)
}

/// A geographic unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Unit {
    City,
    Parent(u16),
    District(u16),
    /// An H3 cell (at the resolution asked for).
    Hex(u64),
}

/// What is counted: a category, or all categories of a source (unit totals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Measure {
    Category(u16),
    AnyOf(Source),
}

/// What a count counts: distinct persons, or distinct households (families, as the
/// welfare centres' MRPiPS-03 report counts them beside the persons in them).
pub use kmapa_protect::output::Counted;

/// A count of distinct persons and its cell key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Count {
    pub unit: Unit,
    pub measure: Measure,
    pub year: u16,
    pub persons: u32,
    #[serde(skip)]
    pub key: CellKey,
}

/// Layers a count can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    City,
    Parents,
    Districts,
    Hexagons(Resolution),
}

/// The facts: one sorted run per shard. A person's facts are all in one run (persons
/// are split between shards), so what is counted per person is counted within a run;
/// the runs are not merged, which took a second copy of every fact at the peak of
/// memory.
struct Facts {
    runs: Vec<Vec<Fact>>,
}

impl Facts {
    fn len(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    fn iter(&self) -> impl Iterator<Item = &Fact> {
        self.runs.iter().flatten()
    }

    /// The facts of a year, or of a category in a year: a slice per run.
    fn slices(&self, year: u16, category: Option<u16>) -> impl Iterator<Item = &[Fact]> {
        self.runs.iter().map(move |run| {
            let (lo, hi) = match category {
                Some(c) => (
                    run.partition_point(|f| (f.year, f.category) < (year, c)),
                    run.partition_point(|f| (f.year, f.category) <= (year, c)),
                ),
                None => (
                    run.partition_point(|f| f.year < year),
                    run.partition_point(|f| f.year <= year),
                ),
            };
            &run[lo..hi]
        })
    }
}

pub struct Cube {
    facts: Facts,
    /// The finest cells facts are placed in, in order (`Fact::cell` numbers them).
    cells: Vec<u64>,
    /// Households numbered (named ones, then one per person-year without a household).
    households: u32,
    /// Per person number: the record key (a number no person has, a zero key, never used).
    keys: Vec<RecordKey>,
    /// Per category: its source.
    sources: Vec<Source>,
    /// Per district: index of its parent area.
    parent_of: Vec<Option<u16>>,
    pub parent_codes: Vec<String>,
    pub district_codes: Vec<String>,
    pub category_codes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CubeError {
    #[error("{file}: {message}")]
    Batch { file: String, message: String },
    #[error(transparent)]
    Store(#[from] kmapa_ingest::IngestError),
}

/// Rows of a batch read at a time, by default.
const BATCH_SLICE: usize = 1 << 18;

/// Collects records before they become a cube.
pub struct CubeBuilder<'a> {
    vocabulary: &'a Vocabulary,
    keyer: RecordKeyer,
    categories: FxHashMap<String, u16>,
    /// Per category: itself and its ancestors (a sub-row is counted in its parents).
    counted_in: Vec<Vec<u16>>,
    districts: FxHashMap<String, u16>,
    /// Persons split by a hash of their identifier: shards fill in parallel, each with
    /// all the records of its persons in load order.
    shards: Vec<Shard>,
    /// Rows of a batch read at a time.
    slice_rows: usize,
    layer: &'a DistrictLayer,
    /// Records seen so far (the load order that decides whose record is first).
    seq: u64,
}

/// Identifiers numbered in the order first seen. One that fits in 23 bytes is its own
/// key, packed in three words: a pseudonym from `kmapa pseudonymise` (32 lowercase
/// hexadecimal digits) as the 16 bytes it spells, any other text of up to 23 bytes as
/// it is. No allocation per identifier (2.5 M on a 10 M-record store), and a lookup
/// compares in place instead of following a pointer to the text (docs/benchmarks.md,
/// session 21), in a table where a lookup is usually one cache line ([`PackedTable`]).
#[derive(Default)]
struct Ids {
    packed: PackedTable,
    boxed: FxHashMap<Box<str>, u32>,
}

impl Ids {
    /// Reads the slot where `id` is or would go (a value to pass to
    /// `std::hint::black_box`): ahead of [`Ids::number_of`], so that the lookups of
    /// several identifiers wait for memory together.
    fn touch(&self, id: Id<'_>) -> u64 {
        match id {
            Id::Packed(key) => self.packed.touch(&key),
            Id::Text(_) => 0,
        }
    }

    /// The identifier's number, and whether it is new.
    fn number_of(&mut self, id: Id<'_>) -> (u32, bool) {
        let next = self.len() as u32;
        match id {
            Id::Packed(key) => self.packed.number(key, next),
            Id::Text(id) => match self.boxed.get(id) {
                Some(&n) => (n, false),
                None => {
                    self.boxed.insert(id.into(), next);
                    (next, true)
                }
            },
        }
    }

    /// The identifiers in the order they were numbered.
    fn in_order(&self) -> Vec<Id<'_>> {
        let mut all: Vec<(u32, Id<'_>)> = self
            .packed
            .iter()
            .map(|(k, n)| (n, Id::Packed(k)))
            .chain(self.boxed.iter().map(|(k, &n)| (n, Id::Text(k))))
            .collect();
        all.sort_unstable_by_key(|&(n, _)| n);
        all.into_iter().map(|(_, id)| id).collect()
    }

    fn len(&self) -> usize {
        self.packed.len() + self.boxed.len()
    }

    fn reserve(&mut self, n: usize) {
        self.packed.reserve(n);
    }
}

/// Packed identifiers and their numbers: open addressing with linear probing, a key
/// and its number side by side in 32 bytes, so that a lookup is usually one cache line
/// where the standard library's map reads its control bytes and then the entry, two
/// (on a large store each is a cache miss: loading its batches took 10 % less,
/// docs/benchmarks.md, session 25).
#[derive(Default)]
struct PackedTable {
    slots: Slots,
    len: usize,
}

/// A slot: the key's three words, then its number + 1 (0: an empty slot, so that a new
/// table is zeroed memory).
type Slot = [u64; 4];

/// A table's slots. One of a few megabytes and more is a mapping of its own, for which
/// the kernel is asked for transparent huge pages: a lookup lands anywhere in it, and
/// with 4 kB pages nearly every one also missed the TLB (a walk of the page tables
/// before the cache miss itself; docs/benchmarks.md, session 26). The rest of the
/// process keeps 4 kB pages (`no_thp` in Cargo.toml: room reserved but never used
/// costs nothing then).
enum Slots {
    Heap(Vec<Slot>),
    Mapped(memmap2::MmapMut),
}

impl Default for Slots {
    fn default() -> Self {
        Slots::Heap(Vec::new())
    }
}

/// From this size on a table is mapped with huge pages (two of them).
const HUGE_FROM: usize = 4 << 20;

impl Slots {
    fn zeroed(n: usize) -> Slots {
        let bytes = n * std::mem::size_of::<Slot>();
        if bytes >= HUGE_FROM
            && let Ok(map) = memmap2::MmapOptions::new().len(bytes).map_anon()
        {
            // Only advice: without huge pages the table works the same, slower.
            #[cfg(target_os = "linux")]
            let _ = map.advise(memmap2::Advice::HugePage);
            return Slots::Mapped(map);
        }
        Slots::Heap(vec![[0; 4]; n])
    }

    fn get(&self) -> &[Slot] {
        match self {
            Slots::Heap(v) => v,
            Slots::Mapped(m) => bytemuck::cast_slice(&m[..]),
        }
    }

    fn get_mut(&mut self) -> &mut [Slot] {
        match self {
            Slots::Heap(v) => v,
            Slots::Mapped(m) => bytemuck::cast_slice_mut(&mut m[..]),
        }
    }
}

impl PackedTable {
    /// Where a key's probe starts: each word multiplied and folded in (keys of text
    /// differ in few bits), then mixed.
    fn hash(key: &[u64; 3]) -> u64 {
        let mut h = key[0].wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h = (h.rotate_left(23) ^ key[1]).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        h = (h.rotate_left(23) ^ key[2]).wrapping_mul(0x1656_67b1_9e37_79f9);
        h ^ (h >> 29)
    }

    /// `key`'s number, or `next` (then new) if it has none yet.
    fn number(&mut self, key: [u64; 3], next: u32) -> (u32, bool) {
        debug_assert!(next != u32::MAX, "numbers are stored plus one");
        self.reserve(self.len + 1);
        let at = self.probe(&key);
        let slot = &mut self.slots.get_mut()[at];
        if slot[3] != 0 {
            return ((slot[3] - 1) as u32, false);
        }
        *slot = [key[0], key[1], key[2], next as u64 + 1];
        self.len += 1;
        (next, true)
    }

    /// The first word of the slot where `key`'s probe starts (see [`Ids::touch`]).
    fn touch(&self, key: &[u64; 3]) -> u64 {
        let slots = self.slots.get();
        match slots.len() {
            0 => 0,
            n => slots[Self::hash(key) as usize & (n - 1)][0],
        }
    }

    /// The slot holding `key`, or the empty one where it goes (the table is never
    /// full: at most 5/8 of its slots are used).
    fn probe(&self, key: &[u64; 3]) -> usize {
        let slots = self.slots.get();
        let mask = slots.len() - 1;
        let mut at = Self::hash(key) as usize & mask;
        while slots[at][3] != 0 && slots[at][..3] != key[..] {
            at = (at + 1) & mask;
        }
        at
    }

    /// Room for `n` keys in all without growing (at most 5/8 of the slots are used).
    fn reserve(&mut self, n: usize) {
        if n * 8 > self.slots.get().len() * 5 {
            self.grow(n * 8 / 5 + 1);
        }
    }

    /// Rebuilds the table with at least `slots` slots (a power of two).
    fn grow(&mut self, slots: usize) {
        let size = slots.next_power_of_two().max(16);
        let old = std::mem::replace(&mut self.slots, Slots::zeroed(size));
        for slot in old.get().iter().filter(|s| s[3] != 0) {
            let at = self.probe(&[slot[0], slot[1], slot[2]]);
            self.slots.get_mut()[at] = *slot;
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn iter(&self) -> impl Iterator<Item = ([u64; 3], u32)> + '_ {
        self.slots
            .get()
            .iter()
            .filter(|s| s[3] != 0)
            .map(|s| ([s[0], s[1], s[2]], (s[3] - 1) as u32))
    }
}

/// An identifier of [`Ids`]: packed, or its text.
#[derive(Clone, Copy)]
enum Id<'a> {
    Packed([u64; 3]),
    Text(&'a str),
}

impl<'a> Id<'a> {
    fn of(id: &'a str) -> Self {
        match pack(id) {
            Some(key) => Id::Packed(key),
            None => Id::Text(id),
        }
    }
}

/// An identifier in three words, if it fits: lowercase hexadecimal of up to 46 digits
/// as the bytes it spells, else text of up to 23 bytes as it is; the last byte holds
/// the length, with its top bit set for hexadecimal (so "00" and "\0" differ).
fn pack(id: &str) -> Option<[u64; 3]> {
    let b = id.as_bytes();
    let mut bytes = [0u8; 24];
    let mut hex = b.len().is_multiple_of(2) && b.len() <= 46;
    if hex {
        // Every pair decoded, and whether any digit was not one checked once: the
        // digits of a pseudonym are as random as its hash, and a branch on each one
        // was mispredicted half the time (docs/benchmarks.md, session 29).
        let mut bad = 0;
        for (i, pair) in b.chunks_exact(2).enumerate() {
            let (high, low) = (nibble(pair[0]), nibble(pair[1]));
            bad |= high | low;
            bytes[i] = (high << 4) | (low & 15);
        }
        hex = bad < 16;
    }
    if hex {
        bytes[23] = 0x80 | (b.len() / 2) as u8;
    } else if b.len() <= 23 {
        bytes = [0; 24];
        bytes[..b.len()].copy_from_slice(b);
        bytes[23] = b.len() as u8;
    } else {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Some([word(0), word(1), word(2)])
}

/// A lowercase hexadecimal digit's value, or 16 and more for any other byte (no
/// branch taken on the byte).
fn nibble(c: u8) -> u8 {
    let digit = c.wrapping_sub(b'0');
    let letter = c.wrapping_sub(b'a').wrapping_add(10);
    match (digit < 10, (10..16).contains(&letter)) {
        (true, _) => digit,
        (false, true) => letter,
        (false, false) => 16,
    }
}

/// The persons of one shard, with their facts (`person` numbered within the shard).
#[derive(Default)]
struct Shard {
    persons: Ids,
    keys: Vec<RecordKey>,
    /// Per person, the first of their places (one per year they have records in).
    first_place: Vec<u32>,
    places: Vec<Place>,
    facts: Vec<Fact>,
    /// Household pseudonyms seen in this shard, numbered in order.
    households: Ids,
    /// The last record's person and their number.
    last: Option<(String, u32)>,
    /// While a batch slice's rows are added a group at a time: the number of the
    /// person of the last group's last row (`u32::MAX` between slices: a slice's first
    /// row always has a new person).
    current: u32,
}

/// Where a person is counted in a year: their first record's place, sex and age band.
struct Place {
    year: u16,
    district: u16,
    sex: u8,
    age: u8,
    cell: u64,
    /// The person's next place (another year), or `u32::MAX`.
    next: u32,
    /// The household (numbered in the shard) of the person's first record of the year
    /// that names one, or `u32::MAX`.
    household: u32,
    /// Where the first record of the year stands in the load order.
    seq: u64,
}

/// A record as the cube counts it, its codes resolved.
#[derive(Clone, Copy)]
struct Resolved {
    year: u16,
    category: u16,
    district: u16,
    cell: u64,
    sex: u8,
    age: u8,
    /// Position of the record in the load order.
    seq: u64,
}

/// A row of a batch slice for one shard: its person, household and codes, and whether
/// its person differs from the shard's row before it.
struct Row<'a> {
    person: &'a str,
    household: Option<&'a str>,
    new_person: bool,
    r: Resolved,
}

/// Rows of a shard taken together (see [`Shard::add_group`]).
const ROW_GROUP: usize = 32;

impl Shard {
    fn new() -> Self {
        Shard {
            current: u32::MAX,
            ..Default::default()
        }
    }

    fn add(
        &mut self,
        keyer: &RecordKeyer,
        counted_in: &[Vec<u16>],
        person_id: &str,
        household: Option<&str>,
        r: Resolved,
    ) {
        // A person's records are mostly side by side in a batch: the last one's
        // number saves the lookup.
        let person = match &self.last {
            Some((id, p)) if **id == *person_id => *p,
            _ => {
                let p = self.person(keyer, person_id);
                match &mut self.last {
                    Some((id, last)) => {
                        id.clear();
                        id.push_str(person_id);
                        *last = p;
                    }
                    None => self.last = Some((person_id.to_string(), p)),
                }
                p
            }
        };
        self.record(counted_in, person, household, None, r);
    }

    /// A group of (at most [`ROW_GROUP`]) rows of a batch slice that are this shard's,
    /// in order: as [`Shard::add`] each, stage by stage. On a large store nearly every
    /// lookup of a person, of their latest place or of a household misses the caches;
    /// a group's lookups of one kind, with nothing else between them, are in flight
    /// together, where a row's own work (a new person's record key, the facts) between
    /// two rows' lookups made each wait for the last.
    fn add_group(&mut self, keyer: &RecordKeyer, counted_in: &[Vec<u16>], group: &[Row<'_>]) {
        debug_assert!(group.len() <= ROW_GROUP);
        // Arrays of a group's length, not vectors: nothing allocated per group.
        let mut ids: [Option<Id<'_>>; ROW_GROUP] = [None; ROW_GROUP];
        let mut households: [Option<Id<'_>>; ROW_GROUP] = [None; ROW_GROUP];
        for ((row, id), household) in group.iter().zip(&mut ids).zip(&mut households) {
            if row.new_person {
                *id = Some(Id::of(row.person));
                // A household is looked up for a person's first record of a year,
                // mostly a new person's row.
                *household = row.household.filter(|h| !h.is_empty()).map(Id::of);
            }
        }
        let touched = ids
            .iter()
            .flatten()
            .fold(0, |t, &id| t ^ self.persons.touch(id));
        std::hint::black_box(touched);
        let mut persons = [0u32; ROW_GROUP];
        // The rows whose person is new, one bit each.
        let mut fresh = 0u32;
        let mut person = self.current;
        for (i, (id, number)) in ids.iter().zip(&mut persons).take(group.len()).enumerate() {
            if let &Some(id) = id {
                let (p, new) = self.number(id);
                fresh |= u32::from(new) << i;
                person = p;
            }
            debug_assert!(person != u32::MAX, "a slice's first row has a new person");
            *number = person;
        }
        self.current = person;
        for (i, row) in group
            .iter()
            .enumerate()
            .filter(|&(i, _)| fresh >> i & 1 == 1)
        {
            debug_assert_eq!(persons[i] as usize, self.keys.len(), "numbered in turn");
            self.keys.push(keyer.key(row.person));
        }
        // Each new person's latest place and household read ahead.
        let mut touched = 0;
        for ((id, &p), household) in ids.iter().zip(&persons).zip(&households).take(group.len()) {
            let head = self.first_place[p as usize];
            if id.is_some() && head != u32::MAX {
                touched ^= u64::from(self.places[head as usize].year);
            }
            if let &Some(h) = household {
                touched ^= self.households.touch(h);
            }
        }
        std::hint::black_box(touched);
        for ((row, &p), &packed) in group.iter().zip(&persons).zip(&households) {
            self.record(counted_in, p, row.household, packed, row.r);
        }
    }

    /// The number of a person (in this shard), numbered now if new.
    fn person(&mut self, keyer: &RecordKeyer, person_id: &str) -> u32 {
        let (p, new) = self.number(Id::of(person_id));
        if new {
            self.keys.push(keyer.key(person_id));
        }
        p
    }

    /// A person's number, and whether they are new (then without places yet; their
    /// record key is the caller's to push).
    fn number(&mut self, id: Id<'_>) -> (u32, bool) {
        let (p, new) = self.persons.number_of(id);
        if new {
            self.first_place.push(u32::MAX);
        }
        (p, new)
    }

    /// Counts a record of `person`, of `household` (`packed`, if known).
    fn record(
        &mut self,
        counted_in: &[Vec<u16>],
        person: u32,
        household: Option<&str>,
        packed: Option<Id<'_>>,
        r: Resolved,
    ) {
        // One place per person and year, the first record's, for every category they
        // are counted in: then a sub-row never exceeds its parent, nor a category the
        // unit total, in any unit (relations the public tier's audit relies on). A
        // person's places are chained latest year first: batches hold a year's records
        // after the year before's, so a new year's place is found without reading the
        // earlier ones.
        let head = self.first_place[person as usize];
        let mut before = u32::MAX;
        let mut at = head;
        while at != u32::MAX && self.places[at as usize].year > r.year {
            before = at;
            at = self.places[at as usize].next;
        }
        if at == u32::MAX || self.places[at as usize].year != r.year {
            let new = self.places.len() as u32;
            self.places.push(Place {
                year: r.year,
                district: r.district,
                sex: r.sex,
                age: r.age,
                cell: r.cell,
                next: at,
                household: u32::MAX,
                seq: r.seq,
            });
            match before {
                u32::MAX => self.first_place[person as usize] = new,
                b => self.places[b as usize].next = new,
            }
            at = new;
        }
        if let Some(h) = household.filter(|h| !h.is_empty())
            && self.places[at as usize].household == u32::MAX
        {
            let id = packed.unwrap_or_else(|| Id::of(h));
            self.places[at as usize].household = self.households.number_of(id).0;
        }
        let place = &self.places[at as usize];
        for &category in &counted_in[r.category as usize] {
            self.facts.push(Fact {
                year: r.year,
                category,
                person,
                district: place.district,
                cell: 0,
                sex: place.sex,
                age: place.age,
                household: at,
            });
        }
    }
}

/// The shard of a person (a hash of their identifier, independent of the hash maps').
fn shard_of(person_id: &str, shards: usize) -> usize {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    0x6b6d_6170_u32.hash(&mut h);
    person_id.hash(&mut h);
    ((h.finish() >> 32) % shards as u64) as usize
}

impl<'a> CubeBuilder<'a> {
    pub fn new(vocabulary: &'a Vocabulary, layer: &'a DistrictLayer, secret: &[u8]) -> Self {
        let categories: FxHashMap<String, u16> = vocabulary
            .categories()
            .iter()
            .enumerate()
            .map(|(i, c)| (c.code.clone(), i as u16))
            .collect();
        let counted_in = (0..vocabulary.categories().len() as u16)
            .map(|c| {
                let mut chain = vec![c];
                while let Some(p) = vocabulary.categories()[*chain.last().expect("one") as usize]
                    .parent
                    .as_deref()
                    .and_then(|p| categories.get(p).copied())
                {
                    chain.push(p);
                }
                chain
            })
            .collect();
        let shards = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            vocabulary,
            keyer: RecordKeyer::new(secret),
            categories,
            counted_in,
            districts: layer
                .districts
                .iter()
                .enumerate()
                .map(|(i, d)| (d.code.clone(), i as u16))
                .collect(),
            shards: (0..shards).map(|_| Shard::new()).collect(),
            slice_rows: BATCH_SLICE,
            layer,
            seq: 0,
        }
    }

    /// Splits persons into `shards` (one per core by default) and reads batches
    /// `slice_rows` rows at a time: neither changes any count, only speed and memory.
    pub fn with_layout(mut self, shards: usize, slice_rows: usize) -> Self {
        assert!(
            self.shards.iter().all(|s| s.keys.is_empty()),
            "set the layout before adding records"
        );
        self.shards = (0..shards.max(1)).map(|_| Shard::new()).collect();
        self.slice_rows = slice_rows.max(1);
        self
    }

    /// A record's codes, or `None` for an unknown category or district.
    #[allow(clippy::too_many_arguments)]
    fn resolve(
        categories: &FxHashMap<String, u16>,
        districts: &FxHashMap<String, u16>,
        year: i32,
        category: &str,
        district: &str,
        cell: Option<u64>,
        sex: Option<Sex>,
        age: Option<AgeBand>,
        seq: u64,
    ) -> Option<Resolved> {
        Some(Resolved {
            seq,
            year: year as u16,
            category: *categories.get(category)?,
            district: *districts.get(district)?,
            cell: cell.unwrap_or(0),
            sex: sex_code(sex),
            age: age_code(age),
        })
    }

    /// Adds one record of a person without a household; the category's ancestors are
    /// counted too. Returns false (and counts nothing) for an unknown category or
    /// district.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        person_id: &str,
        year: i32,
        category: &str,
        district: &str,
        cell: Option<u64>,
        sex: Option<Sex>,
        age: Option<AgeBand>,
    ) -> bool {
        self.add_member(person_id, None, year, category, district, cell, sex, age)
    }

    /// [`CubeBuilder::add`], for a person in a household (its pseudonym): the members
    /// of a household are counted where the household's first record of the year
    /// places it.
    #[allow(clippy::too_many_arguments)]
    pub fn add_member(
        &mut self,
        person_id: &str,
        household: Option<&str>,
        year: i32,
        category: &str,
        district: &str,
        cell: Option<u64>,
        sex: Option<Sex>,
        age: Option<AgeBand>,
    ) -> bool {
        let seq = self.seq;
        self.seq += 1;
        let Some(r) = Self::resolve(
            &self.categories,
            &self.districts,
            year,
            category,
            district,
            cell,
            sex,
            age,
            seq,
        ) else {
            return false;
        };
        let shard = shard_of(person_id, self.shards.len());
        self.shards[shard].add(&self.keyer, &self.counted_in, person_id, household, r);
        true
    }

    /// Adds contract records that carry coordinates or a district code (generated data,
    /// benchmarks), binning coordinates with `binner`. Rows located only by address, or
    /// outside the city, are not added; the number added is returned.
    pub fn add_located(
        &mut self,
        batch: &kmapa_model::records::RecordBatch,
        binner: &mut kmapa_geo::Binner<'_>,
    ) -> u64 {
        let mut n = 0;
        for i in 0..batch.len() {
            let (district, cell) = match (batch.lat[i], batch.lon[i], &batch.district[i]) {
                (Some(lat), Some(lon), _) => match binner.bin(lon, lat) {
                    Ok(b) => (
                        self.layer.districts[b.district as usize].code.as_str(),
                        Some(u64::from(b.cell)),
                    ),
                    Err(_) => continue,
                },
                (_, _, Some(d)) => (d.as_str(), None),
                _ => continue,
            };
            let year = batch.year[i];
            let age = batch.age_band[i]
                .or_else(|| batch.birth_year[i].and_then(|b| AgeBand::of_age(year - b)));
            if self.add_member(
                &batch.person_id[i],
                batch.household_id[i].as_deref(),
                year,
                &batch.category[i],
                district,
                cell,
                batch.sex[i],
                age,
            ) {
                n += 1;
            }
        }
        n
    }

    /// Adds every record of these batch files, in order, with room for all of them
    /// made first: no buffer of the shards grows by doubling (and copying) on the way,
    /// which was the peak of memory on large stores.
    pub fn add_batches<P: AsRef<Path>>(&mut self, files: &[P]) -> Result<u64, CubeError> {
        let mut rows = 0;
        for f in files {
            let f = f.as_ref();
            rows += kmapa_ingest::batch::rows(f).map_err(|e| CubeError::Batch {
                file: f.display().to_string(),
                message: e.to_string(),
            })?;
        }
        self.reserve(rows);
        let mut n = 0;
        for f in files {
            n += self.add_batch(f.as_ref())?;
        }
        Ok(n)
    }

    /// Room for about `rows` more records, split over the shards. The ratios are those
    /// of the synthetic city (per record: 1.2 facts with sub-rows counted in their
    /// parents, half a place, a quarter of a person); room never used costs address
    /// space, not memory.
    fn reserve(&mut self, rows: usize) {
        let per = rows / self.shards.len() + 1;
        for shard in &mut self.shards {
            shard.facts.reserve(per + per / 4);
            shard.places.reserve(per / 2);
            shard.persons.reserve(per / 4);
            shard.keys.reserve(per / 4);
            shard.first_place.reserve(per / 4);
        }
    }

    /// Adds every record of a batch file written by `kmapa ingest`.
    pub fn add_batch(&mut self, records: &Path) -> Result<u64, CubeError> {
        let failed = |message: String| CubeError::Batch {
            file: records.display().to_string(),
            message,
        };
        let err = |e: PolarsError| failed(e.to_string());
        let rows = kmapa_ingest::batch::rows(records).map_err(err)?;
        // A slice of the batch at a time, only the columns counted: memory stays
        // bounded whatever the batch's size.
        let columns = [
            "person_id",
            "household_id",
            "year",
            "category",
            "district",
            "h3",
            "sex",
            "age_band",
            "birth_year",
        ];
        let codes = kmapa_ingest::batch::codes(records).map_err(err)?;
        let mut n = 0;
        for offset in (0..rows.max(1)).step_by(self.slice_rows) {
            let slice = Some((offset, self.slice_rows));
            let df =
                kmapa_ingest::batch::read_stored(records, Some(&columns), slice).map_err(err)?;
            n += self.add_frame(&df, &codes).map_err(err)?;
        }
        Ok(n)
    }

    /// Adds the records of one slice of a batch.
    fn add_frame(&mut self, df: &DataFrame, codes: &Codes) -> PolarsResult<u64> {
        let person = df.column("person_id")?.str()?;
        let household = df.column("household_id")?.str()?;
        let year = df.column("year")?.i32()?;
        let h3 = df.column("h3")?.u64()?;
        let birth_year = df.column("birth_year")?.i32()?;
        // The coded columns, once per slice for every shard.
        let category = codes.per_row(df.column("category")?, None, |v| {
            self.categories.get(v).copied()
        })?;
        let district = codes.per_row(df.column("district")?, None, |v| {
            self.districts.get(v).copied()
        })?;
        let sex = codes.per_row(df.column("sex")?, 0, |v| sex_code(v.parse().ok()))?;
        let age_band =
            codes.per_row(df.column("age_band")?, None, |v| v.parse::<AgeBand>().ok())?;
        let (category, district, sex, age_band) = (&category, &district, &sex, &age_band);
        // Every shard reads every row and keeps its own persons' records.
        let (keyer, counted_in) = (&self.keyer, &self.counted_in);
        let count = self.shards.len();
        let base = self.seq;
        self.seq += person.len() as u64;
        let added: Vec<u64> = std::thread::scope(|scope| {
            let workers: Vec<_> = self
                .shards
                .iter_mut()
                .enumerate()
                .map(|(i, shard)| {
                    scope.spawn(move || {
                        shard
                            .facts
                            .reserve(person.len() / count + person.len() / (4 * count));
                        let rows = person
                            .iter()
                            .zip(household.iter())
                            .zip(year.iter())
                            .zip(category.iter())
                            .zip(district.iter())
                            .zip(h3.iter())
                            .zip(sex.iter())
                            .zip(age_band.iter())
                            .zip(birth_year.iter());
                        // The previous row's person and whether they are this shard's.
                        let mut previous: Option<(&str, bool)> = None;
                        let mut group = Vec::with_capacity(ROW_GROUP);
                        let mut n = 0;
                        for (row, ((((((((p, h), y), c), d), cell), s), a), b)) in rows.enumerate()
                        {
                            // An unknown category or district is not counted.
                            let (Some(p), Some(y), Some(c), Some(d)) = (p, y, *c, *d) else {
                                continue;
                            };
                            let new_person = previous.is_none_or(|(q, _)| q != p);
                            let mine = match previous {
                                Some((q, mine)) if q == p => mine,
                                _ => count == 1 || shard_of(p, count) == i,
                            };
                            previous = Some((p, mine));
                            if !mine {
                                continue;
                            }
                            let a = a.or_else(|| b.and_then(|b| AgeBand::of_age(y - b)));
                            group.push(Row {
                                person: p,
                                household: h,
                                new_person,
                                r: Resolved {
                                    seq: base + row as u64,
                                    year: y as u16,
                                    category: c,
                                    district: d,
                                    cell: cell.unwrap_or(0),
                                    sex: *s,
                                    age: age_code(a),
                                },
                            });
                            if group.len() == ROW_GROUP {
                                shard.add_group(keyer, counted_in, &group);
                                n += group.len() as u64;
                                group.clear();
                            }
                        }
                        shard.add_group(keyer, counted_in, &group);
                        shard.current = u32::MAX;
                        n + group.len() as u64
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a counting worker panicked"))
                .collect()
        });
        Ok(added.iter().sum())
    }

    pub fn build(mut self) -> Cube {
        // What only adding records needed goes first, before the peak of memory below.
        for shard in &mut self.shards {
            shard.persons = Ids::default();
            shard.first_place = Vec::new();
            shard.last = None;
        }
        // Households numbered across shards (a household's members may be in several),
        // and each household's place in each year: its first record's.
        let mut named = Ids::default();
        let global: Vec<Vec<u32>> = self
            .shards
            .iter()
            .map(|shard| {
                shard
                    .households
                    .in_order()
                    .into_iter()
                    .map(|h| named.number_of(h).0)
                    .collect()
            })
            .collect();
        let mut households = named.len() as u32;
        drop(named);
        for shard in &mut self.shards {
            shard.households = Ids::default();
        }
        let mut home: FxHashMap<(u32, u16), (u64, u16, u64)> = FxHashMap::default();
        for (shard, global) in self.shards.iter().zip(&global) {
            for p in shard.places.iter().filter(|p| p.household != u32::MAX) {
                let e = home
                    .entry((global[p.household as usize], p.year))
                    .or_insert((u64::MAX, 0, 0));
                if p.seq < e.0 {
                    *e = (p.seq, p.district, p.cell);
                }
            }
        }
        // Persons numbered shard by shard, interleaved: person i of shard s is
        // i × shards + s (numbers do not change any count, only their order).
        let count = self.shards.len();
        let most = self.shards.iter().map(|s| s.keys.len()).max().unwrap_or(0);
        // A household of their own for each place without one: numbers after the named
        // households, shard by shard.
        let mut single = Vec::with_capacity(count);
        for shard in &self.shards {
            single.push(households);
            households += shard
                .places
                .iter()
                .filter(|p| p.household == u32::MAX)
                .count() as u32;
        }
        // The finest cells of the city that anyone is placed in, in order (so a fact's
        // cell number sorts as the cell does); 0 first, for persons located by district.
        let mut cells: Vec<u64> = std::iter::once(0)
            .chain(
                self.shards
                    .iter()
                    .flat_map(|s| s.places.iter().map(|p| p.cell)),
            )
            .collect();
        cells.par_sort_unstable();
        cells.dedup();
        let mut shards = self.shards;
        // Each place's household, and where it puts the person: a member of a household
        // where the household is, anyone else a household of their own. Shards in
        // parallel, facts rewritten in place.
        std::thread::scope(|scope| {
            for (((i, shard), global), &first) in
                shards.iter_mut().enumerate().zip(&global).zip(&single)
            {
                let home = &home;
                let cells = &cells;
                scope.spawn(move || {
                    let mut next = first;
                    let number = |cell: u64| {
                        cells
                            .binary_search(&cell)
                            .expect("every place's cell is listed") as u32
                    };
                    let placed: Vec<(u32, u16, u32)> = shard
                        .places
                        .iter()
                        .map(|p| {
                            if p.household == u32::MAX {
                                next += 1;
                                (next - 1, p.district, number(p.cell))
                            } else {
                                let h = global[p.household as usize];
                                let (_, district, cell) = home[&(h, p.year)];
                                (h, district, number(cell))
                            }
                        })
                        .collect();
                    for f in &mut shard.facts {
                        let (household, district, cell) = placed[f.household as usize];
                        f.person = f.person * count as u32 + i as u32;
                        f.household = household;
                        f.district = district;
                        f.cell = cell;
                    }
                    // What only loading needed goes now: the peak of memory is here.
                    drop(placed);
                    shard.places = Vec::new();
                });
            }
        });
        drop(home);
        // Persons numbered shard by shard, interleaved: person i of shard s is
        // i × shards + s (numbers do not change any count, only their order).
        let mut keys = vec![RecordKey(0); most * count];
        let mut runs = Vec::with_capacity(count);
        for (i, mut shard) in shards.into_iter().enumerate() {
            for (p, key) in std::mem::take(&mut shard.keys).into_iter().enumerate() {
                keys[p * count + i] = key;
            }
            runs.push(std::mem::take(&mut shard.facts));
        }
        // A person counts once per category and year: every fact of a person in a year
        // has their first record's place, so theirs of a category and year are equal,
        // and adjacent once sorted. A person's facts are all in their shard's run.
        std::thread::scope(|scope| {
            for run in &mut runs {
                scope.spawn(move || {
                    // By (year, category, person) alone: the rest of a fact follows from
                    // the person and year, so this is the facts' own order, and cheaper.
                    run.sort_unstable_by_key(|f| {
                        (u64::from(f.year) << 48)
                            | (u64::from(f.category) << 32)
                            | u64::from(f.person)
                    });
                    run.dedup();
                });
            }
        });
        let facts = Facts { runs };
        let parents = self.layer.parents();
        let parent_of = self
            .layer
            .districts
            .iter()
            .map(|d| {
                d.parent
                    .as_ref()
                    .and_then(|p| parents.iter().position(|(c, _)| c == p))
                    .map(|i| i as u16)
            })
            .collect();
        Cube {
            facts,
            cells,
            households,
            keys,
            sources: self
                .vocabulary
                .categories()
                .iter()
                .map(|c| c.source)
                .collect(),
            parent_of,
            parent_codes: parents.into_iter().map(|(c, _)| c).collect(),
            district_codes: self
                .layer
                .districts
                .iter()
                .map(|d| d.code.clone())
                .collect(),
            category_codes: self
                .vocabulary
                .categories()
                .iter()
                .map(|c| c.code.clone())
                .collect(),
        }
    }
}

impl Cube {
    /// Persons counted (person-year-category facts, sub-rows included in parents).
    pub fn facts(&self) -> usize {
        self.facts.len()
    }

    fn unit_of(&self, f: &Fact, level: Level) -> Option<Unit> {
        match level {
            Level::City => Some(Unit::City),
            Level::Parents => self.parent_of[f.district as usize].map(Unit::Parent),
            Level::Districts => Some(Unit::District(f.district)),
            Level::Hexagons(r) => CellIndex::try_from(self.cells[f.cell as usize])
                .ok()
                .and_then(|c| c.parent(r))
                .map(|c| Unit::Hex(u64::from(c))),
        }
    }

    /// Distinct persons per unit of a level, per category and year. Only non-zero
    /// counts are listed; `filter` keeps one (category, year).
    pub fn counts(&self, level: Level, filter: Option<(u16, u16)>) -> Vec<Count> {
        self.group_counts(level, filter, Group::All)
    }

    /// [`Cube::counts`] of one breakdown group.
    pub fn group_counts(
        &self,
        level: Level,
        filter: Option<(u16, u16)>,
        group: Group,
    ) -> Vec<Count> {
        let runs: Vec<&[Fact]> = match filter {
            Some((c, y)) => self.facts.slices(y, Some(c)).collect(),
            None => self.facts.runs.iter().map(Vec::as_slice).collect(),
        };
        let mut acc: FxHashMap<(Unit, u16, u16), (u32, CellKey)> = FxHashMap::default();
        for run in runs {
            for f in run.iter().filter(|f| group.holds(f)) {
                if let Some(unit) = self.unit_of(f, level) {
                    let e = acc
                        .entry((unit, f.category, f.year))
                        .or_insert((0, CellKey::default()));
                    e.0 += 1;
                    e.1 = e.1.with(self.keys[f.person as usize]);
                }
            }
        }
        let mut out: Vec<Count> = acc
            .into_iter()
            .map(|((unit, c, year), (persons, key))| Count {
                unit,
                measure: Measure::Category(c),
                year,
                persons,
                key,
            })
            .collect();
        out.sort_by_key(|c| (c.year, c.measure, c.unit));
        out
    }

    /// Unit totals of one year and group, with their cell keys: distinct persons with any
    /// category of a source, counted where their first record of the year places them
    /// (as [`Cube::measure_atoms`] counts them for the public tier).
    pub fn total_counts(
        &self,
        level: Level,
        source: Source,
        year: u16,
        group: Group,
    ) -> Vec<Count> {
        let mut seen = rustc_hash::FxHashSet::default();
        let mut acc: FxHashMap<Unit, (u32, CellKey)> = FxHashMap::default();
        for run in self.facts.slices(year, None) {
            for f in run.iter().filter(|f| group.holds(f)) {
                if self.sources[f.category as usize] == source
                    && seen.insert(f.person)
                    && let Some(unit) = self.unit_of(f, level)
                {
                    let e = acc.entry(unit).or_insert((0, CellKey::default()));
                    e.0 += 1;
                    e.1 = e.1.with(self.keys[f.person as usize]);
                }
            }
        }
        let mut out: Vec<Count> = acc
            .into_iter()
            .map(|(unit, (persons, key))| Count {
                unit,
                measure: Measure::AnyOf(source),
                year,
                persons,
                key,
            })
            .collect();
        out.sort_by_key(|c| c.unit);
        out
    }

    /// Unit totals: distinct persons with any category of a source, per unit and year,
    /// placed where the person is placed that year.
    pub fn totals(&self, level: Level, source: Source) -> Vec<Count> {
        self.years()
            .into_iter()
            .flat_map(|year| self.total_counts(level, source, year, Group::All))
            .collect()
    }
}

/// Rate per 1,000 residents.
pub fn rate_per_1000(persons: u32, population: u64) -> Option<f64> {
    (population > 0).then(|| f64::from(persons) * 1000.0 / population as f64)
}

impl Cube {
    /// Every (district, hexagon at `r`) pair the data has persons in, for any measure and
    /// year, and (district, `None`) for districts with persons located by district only
    /// (every district with persons, when `r` is `None`).
    /// Using only pairs seen in the data gives the attacker fewer unknowns than the
    /// geometry would: the audit is conservative.
    pub fn atom_support(
        &self,
        r: Option<Resolution>,
    ) -> std::collections::BTreeSet<(u16, Option<u64>)> {
        self.facts
            .iter()
            .map(|f| (f.district, r.and_then(|r| self.hex_at(f, r))))
            .collect()
    }

    fn hex_at(&self, f: &Fact, r: Resolution) -> Option<u64> {
        CellIndex::try_from(self.cells[f.cell as usize])
            .ok()
            .and_then(|c| c.parent(r))
            .map(u64::from)
    }

    /// Parent area of each district.
    pub fn parent_of(&self) -> &[Option<u16>] {
        &self.parent_of
    }

    /// Years with any person counted, ascending.
    pub fn years(&self) -> Vec<u16> {
        // Each run is sorted by year: its years by leaps, then all runs' together.
        let mut y = Vec::new();
        for run in &self.facts.runs {
            let mut at = 0;
            while let Some(f) = run.get(at) {
                y.push(f.year);
                at += run[at..].partition_point(|g| g.year == f.year);
            }
        }
        y.sort_unstable();
        y.dedup();
        y
    }

    /// Persons of a measure and year by atom (district, hexagon at `r` or `None`);
    /// with `r` `None`, every atom is (district, `None`).
    pub fn measure_atoms(
        &self,
        r: Option<Resolution>,
        measure: Measure,
        year: u16,
        group: Group,
    ) -> std::collections::BTreeMap<(u16, Option<u64>), u64> {
        self.atom_keys(r, measure, year, group)
            .into_iter()
            .map(|(atom, (persons, _))| (atom, u64::from(persons)))
            .collect()
    }

    /// Households of a measure and year by atom (district, hexagon at `r` or `None`): a
    /// household counts where its members are placed that year (all of them in one
    /// place), in a category when any member is counted in it.
    pub fn household_atoms(
        &self,
        r: Option<Resolution>,
        measure: Measure,
        year: u16,
    ) -> std::collections::BTreeMap<(u16, Option<u64>), u64> {
        let mut out = std::collections::BTreeMap::new();
        self.for_each_household(measure, year, |f| {
            *out.entry((f.district, r.and_then(|r| self.hex_at(f, r))))
                .or_insert(0) += 1;
        });
        out
    }

    /// Households of a measure and year per unit of a level (non-zero only).
    pub fn household_counts(&self, level: Level, measure: Measure, year: u16) -> Vec<(Unit, u32)> {
        let mut acc: std::collections::BTreeMap<Unit, u32> = std::collections::BTreeMap::new();
        self.for_each_household(measure, year, |f| {
            if let Some(u) = self.unit_of(f, level) {
                *acc.entry(u).or_insert(0) += 1;
            }
        });
        acc.into_iter().collect()
    }

    /// [`Cube::measure_atoms`] of persons or of households (everyone only).
    pub fn counted_atoms(
        &self,
        r: Option<Resolution>,
        measure: Measure,
        year: u16,
        group: Group,
        counted: Counted,
    ) -> std::collections::BTreeMap<(u16, Option<u64>), u64> {
        match counted {
            Counted::Persons => self.measure_atoms(r, measure, year, group),
            Counted::Households => {
                assert_eq!(
                    group,
                    Group::All,
                    "households are counted for everyone only"
                );
                self.household_atoms(r, measure, year)
            }
        }
    }

    /// Calls `f` with one fact of each household counted in a measure and year (every
    /// fact of a household in a year has the same place).
    fn for_each_household(&self, measure: Measure, year: u16, mut f: impl FnMut(&Fact)) {
        let mut seen = vec![0u64; (self.households as usize).div_ceil(64)];
        let mut once = |fact: &Fact| {
            let (word, bit) = (fact.household as usize / 64, 1u64 << (fact.household % 64));
            if seen[word] & bit == 0 {
                seen[word] |= bit;
                f(fact);
            }
        };
        match measure {
            Measure::Category(c) => {
                for run in self.facts.slices(year, Some(c)) {
                    run.iter().for_each(&mut once);
                }
            }
            Measure::AnyOf(source) => {
                for run in self.facts.slices(year, None) {
                    run.iter()
                        .filter(|f| self.sources[f.category as usize] == source)
                        .for_each(&mut once);
                }
            }
        }
    }

    /// Persons and the sum of their record keys (the cell key) per atom (district,
    /// hexagon at `r` or `None`) of a measure, year and group: what the analyst tier
    /// needs instead of records ([`crate::atoms`]).
    pub fn atom_keys(
        &self,
        r: Option<Resolution>,
        measure: Measure,
        year: u16,
        group: Group,
    ) -> std::collections::BTreeMap<(u16, Option<u64>), (u32, CellKey)> {
        self.atom_keys_by_group(r, measure, year, &[group])
            .into_iter()
            .map(|(_, district, cell, persons, key)| ((district, cell), (persons, key)))
            .collect()
    }

    /// [`Cube::atom_keys`] of several groups in one pass over the facts: rows (index in
    /// `groups`, district, hexagon, persons, cell key), sorted.
    pub fn atom_keys_by_group(
        &self,
        r: Option<Resolution>,
        measure: Measure,
        year: u16,
        groups: &[Group],
    ) -> Vec<(u8, u16, Option<u64>, u32, CellKey)> {
        self.atom_keys_by_group_at(&self.hexes_at(r), measure, year, groups)
    }

    /// Each cell's hexagon at `r` (0 when located by district only, or without `r`),
    /// by the cell's number in the facts: for [`Cube::atom_keys_by_group_at`].
    pub fn hexes_at(&self, r: Option<Resolution>) -> Vec<u64> {
        self.cells
            .iter()
            .map(|&c| {
                r.and_then(|r| CellIndex::try_from(c).ok()?.parent(r))
                    .map_or(0, u64::from)
            })
            .collect()
    }

    /// [`Cube::atom_keys_by_group`] with each cell's hexagon looked up in `hexes` (by
    /// [`Cube::hexes_at`], made once for many calls).
    pub fn atom_keys_by_group_at(
        &self,
        hexes: &[u64],
        measure: Measure,
        year: u16,
        groups: &[Group],
    ) -> Vec<(u8, u16, Option<u64>, u32, CellKey)> {
        // Per district, hexagon, sex and age band first (one entry per person), then into
        // the groups (a person is in several). Hexagons as 0 when located by district
        // only, so that the sort puts them first in their district, as `None` sorts
        // before `Some`. Cell keys add up in any order.
        let mut places: FxHashMap<(u16, u64, u8, u8), (u32, CellKey)> = FxHashMap::default();
        self.for_each_counted(measure, year, |f| {
            let e = places
                .entry((f.district, hexes[f.cell as usize], f.sex, f.age))
                .or_insert((0, CellKey::default()));
            e.0 += 1;
            e.1 = e.1.with(self.keys[f.person as usize]);
        });
        let mut acc: FxHashMap<(u8, u16, u64), (u32, CellKey)> = FxHashMap::default();
        for ((district, cell, sex, age), (persons, key)) in places {
            for (g, group) in groups.iter().enumerate() {
                if group.holds_codes(sex, age) {
                    let e = acc
                        .entry((g as u8, district, cell))
                        .or_insert((0, CellKey::default()));
                    e.0 += persons;
                    e.1 = CellKey(e.1.0.wrapping_add(key.0));
                }
            }
        }
        let mut out: Vec<_> = acc
            .into_iter()
            .map(|((g, district, cell), (persons, key))| {
                (g, district, (cell != 0).then_some(cell), persons, key)
            })
            .collect();
        out.sort_unstable_by_key(|&(g, d, c, _, _)| (g, d, c));
        out
    }

    /// Calls `f` once for each person counted in a measure and year: the facts of a
    /// category, or one fact per person with any category of a source (every fact of
    /// a person in a year has the same place, sex and age band).
    fn for_each_counted(&self, measure: Measure, year: u16, mut f: impl FnMut(&Fact)) {
        match measure {
            Measure::Category(c) => {
                for run in self.facts.slices(year, Some(c)) {
                    run.iter().for_each(&mut f);
                }
            }
            Measure::AnyOf(source) => {
                let mut seen = vec![0u64; self.keys.len().div_ceil(64)];
                for run in self.facts.slices(year, None) {
                    for fact in run {
                        let (word, bit) = (fact.person as usize / 64, 1u64 << (fact.person % 64));
                        if self.sources[fact.category as usize] == source && seen[word] & bit == 0 {
                            seen[word] |= bit;
                            f(fact);
                        }
                    }
                }
            }
        }
    }
}

/// A count as the analyst tier shows it: perturbed with the Cell Key Method, hidden
/// when the perturbed value is under the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AnalystCount {
    pub unit: Unit,
    /// The perturbed count; `None` when hidden.
    pub value: Option<u64>,
    /// `perturbed`, or `hidden` when the perturbed count is under the threshold (a true
    /// zero included: the analyst tier never says "nobody", which would tell a reader
    /// that a count the p-table turned into 0 is not a true zero).
    pub status: kmapa_protect::PublicStatus,
}

impl AnalystCount {
    /// The answer for a unit with `persons` and cell key `key`: perturbed, and hidden
    /// under the threshold.
    pub fn of(
        unit: Unit,
        persons: u32,
        key: CellKey,
        ptable: &kmapa_protect::ckm::PTable,
        threshold: u64,
    ) -> Self {
        use kmapa_protect::PublicStatus;
        let v = ptable.perturb(u64::from(persons), key);
        let (value, status) = if v < threshold {
            (None, PublicStatus::Hidden)
        } else {
            (Some(v), PublicStatus::Perturbed)
        };
        AnalystCount {
            unit,
            value,
            status,
        }
    }
}

impl Cube {
    /// The analyst tier's answer for one category and year at one level: every cell
    /// perturbed by its cell key (the same people always get the same noise), then
    /// hidden if the perturbed count is below `threshold`.
    pub fn analyst_query(
        &self,
        level: Level,
        category: u16,
        year: u16,
        group: Group,
        ptable: &kmapa_protect::ckm::PTable,
        threshold: u64,
    ) -> Vec<AnalystCount> {
        self.analyst_measure_query(
            level,
            Measure::Category(category),
            year,
            group,
            ptable,
            threshold,
        )
    }

    /// As [`Cube::analyst_query`], for a category or a unit total (distinct persons with
    /// any category of a source, placed and grouped by their first record of the year, as
    /// in the public tier).
    pub fn analyst_measure_query(
        &self,
        level: Level,
        measure: Measure,
        year: u16,
        group: Group,
        ptable: &kmapa_protect::ckm::PTable,
        threshold: u64,
    ) -> Vec<AnalystCount> {
        let counts = match measure {
            Measure::Category(c) => self.group_counts(level, Some((c, year)), group),
            Measure::AnyOf(source) => self.total_counts(level, source, year, group),
        };
        counts
            .into_iter()
            .map(|c| AnalystCount::of(c.unit, c.persons, c.key, ptable, threshold))
            .collect()
    }
}

/// Runs `f(0..n)` on all cores; results in index order.
pub(crate) fn run_parallel<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(n.max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let parts: Vec<Vec<(usize, T)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        mine.push((i, f(i)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a worker panicked"))
            .collect()
    });
    for (i, t) in parts.into_iter().flatten() {
        out[i] = Some(t);
    }
    out.into_iter().map(|t| t.expect("every job ran")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use std::collections::HashMap;

    /// `Ids` against the standard library's map: the same numbers, in first-seen
    /// order, through the table's growth (on the heap, then in a mapping of its own),
    /// for pseudonyms, other short text and identifiers too long to pack, each seen
    /// several times.
    /// A pseudonym's digits are packed as the bytes they spell; any other byte at any
    /// place (those next to the digits' ranges, upper case) makes it text.
    #[test]
    fn only_lowercase_hexadecimal_is_packed_as_bytes() {
        let hex = "0123456789abcdef";
        let packed = pack(hex).unwrap();
        assert_eq!(packed[2] >> 56, 0x80 | 8, "hexadecimal, 8 bytes");
        let spelled: Vec<u8> = (0..8)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(packed[0].to_le_bytes(), spelled[..]);
        for at in 0..hex.len() {
            for other in ['/', ':', '`', 'g', 'A', 'F', 'G', '\0', 'ż'] {
                let mut id = hex.to_string();
                id.replace_range(at..at + 1, &other.to_string());
                match pack(&id) {
                    Some(key) => assert_eq!(key[2] >> 63, 0, "{id:?} is text"),
                    None => assert!(id.len() > 23, "{id:?}"),
                }
            }
        }
    }

    #[test]
    fn identifiers_are_numbered_as_a_map_would_number_them() {
        let mut ids = Ids::default();
        ids.reserve(100); // then grows far past it
        let mut reference: HashMap<String, u32> = HashMap::new();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(25);
        // Enough pseudonyms that the table outgrows the heap for its own mapping
        // (`HUGE_FROM`), grown again there.
        for _ in 0..200_000 {
            let (kind, r): (u8, u64) = (rng.random(), rng.random());
            let id = match kind % 4 {
                0 => format!("{:032x}", u128::from(r % 200_000) * 0x9e37_79b9),
                1 => format!("H{}", r % 30_000),
                2 => format!("{:x}", r % 20_000),
                _ => format!("a long identifier, not packed, number {}", r % 5_000),
            };
            let fresh = reference.len() as u32;
            let want = *reference.entry(id.clone()).or_insert(fresh);
            assert_eq!(ids.number_of(Id::of(&id)), (want, want == fresh), "{id}");
        }
        assert_eq!(ids.len(), reference.len());
        assert!(
            matches!(ids.packed.slots, Slots::Mapped(_))
                && std::mem::size_of_val(ids.packed.slots.get()) >= 2 * HUGE_FROM,
            "the test reaches a mapped table and grows it"
        );
        let mut by_number: Vec<(u32, String)> =
            reference.into_iter().map(|(id, n)| (n, id)).collect();
        by_number.sort();
        // Each identifier as `Ids` keeps it: packed where it fits, else its text.
        let kept = |id: Id<'_>| match id {
            Id::Packed(key) => Ok(key),
            Id::Text(t) => Err(t.to_string()),
        };
        let want: Vec<Result<[u64; 3], String>> = by_number
            .into_iter()
            .map(|(_, id)| pack(&id).ok_or(id))
            .collect();
        assert_eq!(
            ids.in_order().into_iter().map(kept).collect::<Vec<_>>(),
            want
        );
    }
}
