//! Huge pages for graph memory (Linux).
//!
//! A graph search reads a few thousand nodes scattered over hundreds of
//! megabytes; with 4 KiB pages nearly every read also misses the TLB. Where
//! transparent huge pages are in `madvise` mode (the common default), memory
//! gets 2 MiB pages only if it asks, and usearch maps its arenas itself
//! without asking. Off by default (`index.huge_pages`): at 400k × 64 the
//! same search ran 1.6×, 1.1× and 0.77× as fast in three runs on the shared
//! dev machine (`cargo bench --bench store -- layout`, `benches/README.md`).
//!
//! [`advise_huge_pages`] therefore asks for them on the process's large
//! anonymous mappings (the brk heap included) and collapses the pages already there (`MADV_COLLAPSE`,
//! Linux 6.1+; older kernels leave that to `khugepaged`). It cannot tell
//! usearch's mappings from others', so it advises every private anonymous
//! read-write mapping of at least [`LARGE_MAPPING`] bytes: in a process that
//! embeds the store, that includes the host's large heaps. With transparent huge
//! pages `never` (or on other systems) it does nothing; with `always` the
//! pages are huge already.
//!
//! [`advise_huge_pages_for`] advises one buffer of our own instead (the
//! search copy's records, `super::flat_graph`), before it is first written.

/// Smallest mapping advised: usearch's arenas start at 8 MiB.
pub const LARGE_MAPPING: usize = 8 << 20;

/// What one call advised.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HugePageAdvice {
    /// Bytes now eligible for huge pages.
    pub advised: usize,
    /// Bytes already mapped that were collapsed into huge pages.
    pub collapsed: usize,
}

/// Asks for huge pages on large anonymous mappings (see the module docs).
/// Best effort: mappings the kernel refuses are skipped.
#[cfg(target_os = "linux")]
pub fn advise_huge_pages() -> HugePageAdvice {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return HugePageAdvice::default();
    };
    let mut advice = HugePageAdvice::default();
    for (start, end) in maps.lines().filter_map(large_anonymous_mapping) {
        if madvise(start, end - start, libc::MADV_HUGEPAGE) {
            advice.advised += end - start;
            if madvise(start, end - start, MADV_COLLAPSE) {
                advice.collapsed += end - start;
            }
        }
    }
    advice
}

#[cfg(not(target_os = "linux"))]
pub fn advise_huge_pages() -> HugePageAdvice {
    HugePageAdvice::default()
}

/// Asks for huge pages on the 2 MiB-aligned part of `buffer`, a fresh
/// allocation of our own not yet written (its pages then come huge as they
/// are first touched). Returns the bytes advised (0 below
/// [`LARGE_MAPPING`], or where the kernel refused).
#[cfg(target_os = "linux")]
pub fn advise_huge_pages_for(buffer: &[u8]) -> usize {
    let start = buffer.as_ptr() as usize;
    let end = start + buffer.len();
    let (Some(first), last) = (
        start.checked_next_multiple_of(HUGE_PAGE),
        end / HUGE_PAGE * HUGE_PAGE,
    ) else {
        return 0;
    };
    if buffer.len() < LARGE_MAPPING || last <= first {
        return 0;
    }
    match madvise(first, last - first, libc::MADV_HUGEPAGE) {
        true => last - first,
        false => 0,
    }
}

#[cfg(not(target_os = "linux"))]
pub fn advise_huge_pages_for(_buffer: &[u8]) -> usize {
    0
}

/// `MADV_COLLAPSE` (Linux 6.1); not every libc target names it.
#[cfg(target_os = "linux")]
const MADV_COLLAPSE: libc::c_int = 25;

const HUGE_PAGE: usize = 2 << 20;

/// The huge-page-aligned part of a `/proc/self/maps` line's range, if the
/// line is a private anonymous read-write mapping of at least
/// [`LARGE_MAPPING`] bytes.
fn large_anonymous_mapping(line: &str) -> Option<(usize, usize)> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let permissions = fields.next()?;
    // offset, device, inode; a path (or [stack], …) follows for anything
    // that is not anonymous. The brk heap counts: glibc serves allocations
    // below its (growing) mmap threshold there, usearch's slot tables too.
    let inode = fields.nth(2)?;
    let label = fields.next();
    if permissions != "rw-p" || inode != "0" || label.is_some_and(|l| l != "[heap]") {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    if end.saturating_sub(start) < LARGE_MAPPING {
        return None;
    }
    let (start, end) = (
        start.checked_next_multiple_of(HUGE_PAGE)?,
        end / HUGE_PAGE * HUGE_PAGE,
    );
    (end > start).then_some((start, end))
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn madvise(start: usize, length: usize, advice: libc::c_int) -> bool {
    // SAFETY: the range lies inside a mapping of this process, and these
    // advices change how pages are backed, never their contents.
    unsafe { libc::madvise(start as *mut libc::c_void, length, advice) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_large_private_anonymous_read_write_mappings_are_chosen() {
        let mb = 1 << 20;
        let line =
            |range: &str, perms: &str, rest: &str| format!("{range} {perms} 00000000 00:00 {rest}");
        let big = format!("{:x}-{:x}", 3 * mb, 3 * mb + 64 * mb);
        assert_eq!(
            large_anonymous_mapping(&line(&big, "rw-p", "0")),
            Some((4 * mb, 66 * mb))
        );
        assert_eq!(large_anonymous_mapping(&line(&big, "r--p", "0")), None);
        assert_eq!(large_anonymous_mapping(&line(&big, "rw-s", "0")), None);
        assert_eq!(
            large_anonymous_mapping(&line(&big, "rw-p", "0 [stack]")),
            None
        );
        assert_eq!(
            large_anonymous_mapping(&line(&big, "rw-p", "1234 /data/db")),
            None
        );
        let small = format!("{:x}-{:x}", 2 * mb, 6 * mb);
        assert_eq!(large_anonymous_mapping(&line(&small, "rw-p", "0")), None);
    }

    proptest! {
        #[test]
        fn any_line_is_parsed_without_panicking(line in "\\PC{0,120}") {
            if let Some((start, end)) = large_anonymous_mapping(&line) {
                prop_assert!(start < end && start % HUGE_PAGE == 0 && end % HUGE_PAGE == 0);
            }
        }
    }

    #[test]
    fn advising_keeps_memory_contents() {
        let data: Vec<u64> = (0..(LARGE_MAPPING as u64 / 2)).collect();
        let advice = advise_huge_pages();
        assert!(advice.collapsed <= advice.advised);
        assert!(data.iter().enumerate().all(|(i, &x)| x == i as u64));
    }
}
