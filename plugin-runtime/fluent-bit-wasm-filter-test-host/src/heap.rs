//! WAMR's app heap, emulated: where it sits in linear memory and what each allocation costs,
//! so a record that does not fit in Fluent Bit does not fit here either.
//!
//! WAMR 2.4.1 (`ems` allocator, release build, `gc_init_with_struct_and_pool`): the pool starts
//! 4 bytes in (`GC_HEAD_PADDING`) and is one free block of the rest rounded down to 8 (8184
//! bytes of an 8192 heap); each allocation takes its size plus a 4-byte header, rounded up to
//! 8 bytes, at least 16 (`GC_GET_REAL_SIZE`). First fit, blocks split when the rest can hold a
//! block, freed blocks merge with free neighbours.

use std::collections::BTreeMap;

const HEADER: u32 = 4;
const HEAD_PADDING: u32 = 4;
const SMALLEST: u32 = 16;

/// A first-fit heap over `[base, base + size)` of linear memory.
#[derive(Debug)]
pub struct AppHeap {
    base: u32,
    size: u32,
    /// Free blocks: offset → length, never adjacent (merged).
    free: BTreeMap<u32, u32>,
    /// Allocated blocks: payload address → (offset, length).
    used: BTreeMap<u32, (u32, u32)>,
}

impl AppHeap {
    /// A heap of `size` bytes at `base` (8-byte aligned, as WAMR requires).
    pub fn new(base: u32, size: u32) -> Self {
        let pool = base + HEAD_PADDING;
        let size = size.saturating_sub(HEAD_PADDING) & !7;
        AppHeap {
            base,
            size,
            free: BTreeMap::from([(pool, size)]),
            used: BTreeMap::new(),
        }
    }

    /// Where the heap starts in linear memory.
    pub fn base(&self) -> u32 {
        self.base
    }

    /// Its usable size in bytes (the configured size less WAMR's padding, rounded down to 8).
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Bytes taken by live allocations, headers and rounding included.
    pub fn in_use(&self) -> u32 {
        self.used.values().map(|&(_, len)| len).sum()
    }

    /// The payload address of `n` bytes, or `None` when no free block is large enough (WAMR
    /// then returns 0).
    pub fn alloc(&mut self, n: u32) -> Option<u32> {
        let need = n.checked_add(HEADER + 7)? / 8 * 8;
        let need = need.max(SMALLEST);
        let (&offset, &len) = self.free.iter().find(|&(_, &len)| len >= need)?;
        self.free.remove(&offset);
        let taken = if len - need >= SMALLEST {
            self.free.insert(offset + need, len - need);
            need
        } else {
            len
        };
        let payload = offset + HEADER;
        self.used.insert(payload, (offset, taken));
        Some(payload)
    }

    /// Frees an allocation; unknown addresses are ignored, as WAMR ignores them.
    pub fn free(&mut self, payload: u32) {
        let Some((mut offset, mut len)) = self.used.remove(&payload) else {
            return;
        };
        if let Some((&next, &next_len)) = self.free.range(offset + len..).next()
            && next == offset + len
        {
            self.free.remove(&next);
            len += next_len;
        }
        if let Some((&prev, &prev_len)) = self.free.range(..offset).next_back()
            && prev + prev_len == offset
        {
            self.free.remove(&prev);
            offset = prev;
            len += prev_len;
        }
        self.free.insert(offset, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_heap_holds_tag_and_record_up_to_its_size() {
        let mut heap = AppHeap::new(1 << 20, 8192);
        assert_eq!(heap.size(), 8184);
        // tag "app" + NUL: the smallest block, 16 bytes; leaves 8168 for the record block.
        let tag = heap.alloc(4).expect("tag fits");
        assert!(
            heap.alloc(8168 - HEADER).is_some(),
            "exactly fitting record"
        );
        heap.free(tag);
        assert_eq!(heap.in_use(), 8168);
        let mut heap = AppHeap::new(1 << 20, 8192);
        heap.alloc(4).expect("tag fits");
        assert_eq!(heap.alloc(8168 - HEADER + 1), None, "one byte too many");
    }

    #[test]
    fn freeing_merges_blocks_back_into_one() {
        let mut heap = AppHeap::new(0, 8192);
        let a = heap.alloc(100).unwrap();
        let b = heap.alloc(200).unwrap();
        let c = heap.alloc(300).unwrap();
        heap.free(b);
        heap.free(a);
        heap.free(c);
        assert_eq!(heap.in_use(), 0);
        assert!(heap.alloc(8184 - HEADER).is_some());
    }
}
