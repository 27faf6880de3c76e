//! What stored data really costs in memory, for `max_memory_bytes`: the block the allocator sets
//! aside for each allocation, and hash tables' slots, spare ones included.
//!
//! The figures follow the allocator the `sessiondb` binary ships with (mimalloc, the v2 line):
//! a request is rounded up to its size class (exact up to 64 bytes in 8-byte steps, then four
//! classes per power of two), and blocks are carved from pages (64 KiB for blocks up to 8 KiB,
//! 512 KiB up to 64 KiB) that hold a whole number of them; larger blocks take whole 64 KiB slices.
//! Under another allocator the figures are still close: every allocator rounds, and the table
//! and page terms do not depend on it.

/// Bytes of a word: size classes are counted in words.
const WORD: usize = 8;
/// Blocks up to this size come from small pages.
const SMALL_MAX: usize = 8 << 10;
/// Size of a small page.
const SMALL_PAGE: usize = 64 << 10;
/// Blocks up to this size come from medium pages.
const MEDIUM_MAX: usize = 64 << 10;
/// Size of a medium page.
const MEDIUM_PAGE: usize = 512 << 10;
/// Larger blocks take whole slices of this size.
const SLICE: usize = 64 << 10;
/// The OS's page: a large block is resident a page at a time, as it is written.
const OS_PAGE: usize = 4 << 10;

/// Bytes the allocator sets aside for an allocation of `n` bytes (0 for none: Rust does not
/// allocate zero-sized values).
pub fn alloc(n: usize) -> u64 {
    if n == 0 {
        return 0;
    }
    let block = size_class(n);
    let page = if block <= SMALL_MAX {
        SMALL_PAGE
    } else if block <= MEDIUM_MAX {
        MEDIUM_PAGE
    } else {
        return n.div_ceil(SLICE).saturating_mul(SLICE) as u64;
    };
    // A page holds a whole number of blocks; what is left over is spread over them.
    (page / (page / block)) as u64
}

/// Bytes resident for a vector's block of `capacity` elements of `elem` bytes whose first
/// `written` elements were ever written. A block of medium size or less comes from pages shared
/// with other blocks and counts whole; a larger one is fresh memory from the OS, resident only
/// where it was written, so its spare room costs nothing until it is used.
pub fn vec(written: usize, capacity: usize, elem: usize) -> u64 {
    let block = capacity * elem;
    if block <= MEDIUM_MAX {
        alloc(block)
    } else {
        (written * elem).next_multiple_of(OS_PAGE) as u64
    }
}

/// The size class of an `n`-byte request (`1 ≤ n ≤ MEDIUM_MAX`): whole words up to 8 words,
/// then four classes per power of two (at most 25% rounding, 12.5% on average).
fn size_class(n: usize) -> usize {
    let words = n.div_ceil(WORD);
    if words <= 8 {
        return words * WORD;
    }
    let w = words - 1;
    let top = usize::BITS - 1 - w.leading_zeros();
    let step = 1usize << (top - 2);
    ((w >> (top - 2)) + 1) * step * WORD
}

/// Bytes of a hash table (hashbrown's layout, used by `HashTable`, `HashMap` and `IndexMap`'s
/// index) whose `capacity()` is `capacity`, with `slot`-byte slots: a slot and a control byte per
/// bucket, and one 16-byte group of control bytes more.
pub fn table(capacity: usize, slot: usize) -> u64 {
    let buckets = buckets(capacity);
    if buckets == 0 {
        return 0;
    }
    const GROUP: usize = 16;
    alloc((buckets * slot).next_multiple_of(GROUP) + buckets + GROUP)
}

/// Buckets of a hashbrown table whose `capacity()` is `capacity`: up to 8 buckets it holds one
/// less than it has, beyond that seven eighths of them.
fn buckets(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        1..=7 => capacity + 1,
        _ => capacity / 7 * 8,
    }
}

/// The `capacity()` a hashbrown table has after inserting up to `len` items one at a time into
/// a table of capacity `capacity` (it doubles when full), for estimates made before a write.
pub fn grown_capacity(capacity: usize, len: usize) -> usize {
    let mut capacity = capacity;
    while capacity < len {
        capacity = match buckets(capacity) {
            0 => 3,
            b if b < 8 => b * 2 - 1,
            b => b * 2 / 8 * 7,
        };
    }
    capacity
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_requests_round_to_words_then_to_four_classes_per_power_of_two() {
        for (n, class) in [
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 24),
            (64, 64),
            (65, 80),
            (80, 80),
            (81, 96),
            (113, 128),
            (129, 160),
            (1024, 1024),
            (1025, 1280),
            (1032, 1280),
            (1281, 1536),
            (8192, 8192),
        ] {
            assert_eq!(size_class(n), class, "{n}");
            assert_eq!(alloc(n), (SMALL_PAGE / (SMALL_PAGE / class)) as u64, "{n}");
        }
        assert_eq!(alloc(0), 0);
        // 64 KiB pages hold 2,730 blocks of 24 bytes: the rest is too little to show.
        assert_eq!(alloc(20), 24);
    }

    #[test]
    fn pages_that_hold_few_blocks_spread_what_is_left() {
        // 7 KiB blocks: nine in a 64 KiB page, 1 KiB left over.
        assert_eq!(alloc(7 << 10), (SMALL_PAGE / 9) as u64);
        // 40 KiB blocks: twelve in a 512 KiB page.
        assert_eq!(size_class(40 << 10), 40 << 10);
        assert_eq!(alloc(40 << 10), (MEDIUM_PAGE / 12) as u64);
        // Beyond 64 KiB, whole 64 KiB slices.
        assert_eq!(alloc((100 << 10) + 16), 128 << 10);
        assert_eq!(alloc(1 << 20), 1 << 20);
    }

    #[test]
    fn large_vectors_count_what_was_written() {
        assert_eq!(vec(0, 0, 40), 0);
        assert_eq!(vec(1, 16, 40), alloc(640));
        // 1,000 of 40 bytes: a medium block, whole.
        assert_eq!(vec(10, 1000, 40), alloc(40_000));
        // 100,000 of 40 bytes: pages as far as written.
        assert_eq!(
            vec(50_000, 100_000, 40),
            2_000_000_u64.next_multiple_of(4096)
        );
    }

    #[test]
    fn tables_count_every_bucket() {
        assert_eq!(table(0, 24), 0);
        // Capacity 3: 4 buckets of 24 bytes, 4 + 16 control bytes.
        assert_eq!(table(3, 24), alloc(96 + 4 + 16));
        // Capacity 14: 16 buckets.
        assert_eq!(table(14, 8), alloc(128 + 16 + 16));
        // Capacity 917,504: 2^20 buckets.
        assert_eq!(table(917_504, 24), alloc((24 << 20) + (1 << 20) + 16));
    }

    #[test]
    fn grown_capacity_follows_doubling() {
        assert_eq!(grown_capacity(0, 0), 0);
        assert_eq!(grown_capacity(0, 1), 3);
        assert_eq!(grown_capacity(3, 4), 7);
        assert_eq!(grown_capacity(7, 8), 14);
        assert_eq!(grown_capacity(14, 15), 28);
        assert_eq!(grown_capacity(14, 100), 112);
        assert_eq!(grown_capacity(112, 100), 112);
        // The same as a real table's.
        let mut t = hashbrown::HashTable::<u64>::new();
        for i in 0..1000u64 {
            let before = t.capacity();
            t.insert_unique(i, i, |&x| x);
            assert_eq!(t.capacity(), grown_capacity(before, t.len()), "{i}");
        }
    }
}
