//! Saved HNSW graphs without their vectors.
//!
//! usearch serializes a dense index as its vector matrix (one row per slot)
//! followed by the graph: a 64-byte index head, a 40-byte graph header, one
//! level per slot (`i16`), then one node per slot (key `u64`, level `i16`, and
//! per level a `u32` neighbour count and a fixed-capacity array of `u32`
//! neighbour slots). The store already keeps every vector in sled, so saving
//! the matrix again doubled the bytes on disk; and most of a node is padding
//! (unused neighbour capacity, high bytes of small slot numbers).
//!
//! [`pack`] keeps only the graph, compactly, in one bit stream: key deltas
//! (gamma-coded: ~2 bits for consecutive record ids), levels in unary, and
//! each neighbour list as a count and its slots sorted, Rice-coded as the
//! first slot and the gaps (layout `V2`; `V1` files, with slots in list
//! order at a fixed width, still load). [`Unpacked`] turns that back into usearch's layout,
//! with an empty matrix that the loader fills from sled by key
//! ([`Unpacked::vector_mut`]). Slots whose vector cannot be filled (records
//! removed from the graph, or deleted from sled after the save) take a copy of
//! a graph neighbour's vector: they are only ever waypoints, never answers,
//! and a neighbour's vector keeps them where the graph expects them.
//!
//! Removed records are tombstones in the graph (see [`super::hnsw`]); they
//! are packed like any node and never filled. A slot that usearch itself had
//! freed (graphs saved before tombstones) is expanded as a tombstone too, so
//! usearch never re-links it in place.
//!
//! Every read is bounds-checked: a damaged file is an error (and the store
//! rebuilds from sled), never a panic.

use super::IndexError;
use super::hnsw::{free_slot_tombstone, is_tombstone};
use crate::bit_stream::{BitReader, BitWriter};
use std::collections::HashMap;

/// usearch's index head (magic, version, kinds, counts).
const DENSE_HEAD_BYTES: usize = 64;
/// usearch's graph header: size, connectivity, base connectivity, max level,
/// entry slot (`u64` each).
const GRAPH_HEADER_BYTES: usize = 40;
/// Bytes before a node's neighbour lists: key `u64` and level `i16`.
const NODE_HEAD_BYTES: usize = 10;
/// usearch's key for a slot it freed (`is_tombstone` holds for it too).
pub const FREE_KEY: u64 = u64::MAX;
/// Packed layouts (first byte). V1 (read, no longer written): keys as
/// zig-zag varint deltas and levels as bytes, then counts and neighbour
/// slots bit-packed at a fixed width. V2: see [`pack_in_slot_order`].
const PACKED_V1: u8 = 1;
const PACKED_V2: u8 = 2;
/// Largest Rice parameter (slot numbers are below 2^32).
const RICE_K_AT_MOST: u32 = 31;

fn corrupt(what: &str) -> IndexError {
    IndexError::Backend(format!("saved graph is damaged: {what}"))
}

/// The graph header fields the codec needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GraphShape {
    size: usize,
    connectivity: usize,
    connectivity_base: usize,
    max_level: usize,
}

/// No real graph comes near this many levels (about log_M of its size);
/// bounding it bounds what a damaged file can make us allocate.
const LEVELS_AT_MOST: usize = 64;

impl GraphShape {
    fn read(header: &[u8]) -> Result<Self, IndexError> {
        let field = |i: usize| -> Result<usize, IndexError> {
            let bytes = header
                .get(i * 8..i * 8 + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .ok_or_else(|| corrupt("short graph header"))?;
            usize::try_from(u64::from_le_bytes(bytes)).map_err(|_| corrupt("graph header"))
        };
        let shape = GraphShape {
            size: field(0)?,
            connectivity: field(1)?,
            connectivity_base: field(2)?,
            // An empty graph has no top level (usearch writes -1).
            max_level: if field(0)? == 0 { 0 } else { field(3)? },
        };
        if shape.max_level > LEVELS_AT_MOST {
            return Err(corrupt("too many levels"));
        }
        // Counts are packed in a byte's worth of bits at most.
        if shape.connectivity == 0
            || shape.connectivity > 255
            || shape.connectivity_base == 0
            || shape.connectivity_base > 255
        {
            return Err(corrupt("connectivity out of range"));
        }
        Ok(shape)
    }

    /// Neighbour slots a node has at `level` (capacity, not count).
    fn capacity(&self, level: usize) -> usize {
        if level == 0 {
            self.connectivity_base
        } else {
            self.connectivity
        }
    }

    fn node_bytes(&self, level: usize) -> usize {
        NODE_HEAD_BYTES + 4 + 4 * self.connectivity_base + level * (4 + 4 * self.connectivity)
    }

    /// Bits for one neighbour slot number.
    fn slot_bits(&self) -> u32 {
        bits_for(self.size.saturating_sub(1) as u64)
    }

    fn count_bits(&self) -> u32 {
        bits_for(self.connectivity_base.max(self.connectivity) as u64)
    }
}

fn bits_for(max: u64) -> u32 {
    (64 - max.leading_zeros()).max(1)
}

/// A little-endian reader over a byte slice that errors instead of panicking.
#[derive(Clone)]
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], IndexError> {
        let end = self.at.checked_add(n).ok_or_else(|| corrupt(what))?;
        let slice = self.bytes.get(self.at..end).ok_or_else(|| corrupt(what))?;
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self, what: &str) -> Result<u32, IndexError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn varint(&mut self, what: &str) -> Result<u64, IndexError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1, what)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt(what))
    }

    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.at.min(self.bytes.len())..]
    }
}

/// [`PACKED_V1`]'s key deltas (written only by the tests now).
#[cfg(test)]
fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
fn zigzag(delta: u64) -> u64 {
    let signed = delta as i64;
    ((signed << 1) ^ (signed >> 63)) as u64
}

fn unzigzag(value: u64) -> u64 {
    ((value >> 1) as i64 ^ -((value & 1) as i64)) as u64
}

/// Slots (nodes) in a buffer from usearch's `save_to_buffer`.
pub fn slot_count(usearch: &[u8]) -> Result<usize, IndexError> {
    Ok(Reader::new(usearch).u32("matrix rows")? as usize)
}

/// A usearch buffer's parts up to its nodes, checked; `nodes` reads on
/// from the first node.
struct Layout<'a> {
    columns: usize,
    dense_head: &'a [u8],
    graph_header: &'a [u8],
    shape: GraphShape,
    levels: &'a [u8],
    nodes: Reader<'a>,
}

impl<'a> Layout<'a> {
    fn read(usearch: &'a [u8]) -> Result<Self, IndexError> {
        let mut reader = Reader::new(usearch);
        let rows = reader.u32("matrix rows")? as usize;
        let columns = reader.u32("matrix columns")? as usize;
        let matrix = rows
            .checked_mul(columns)
            .ok_or_else(|| corrupt("matrix size"))?;
        reader.take(matrix, "vector matrix")?;
        let dense_head = reader.take(DENSE_HEAD_BYTES, "index head")?;
        let graph_header = reader.take(GRAPH_HEADER_BYTES, "graph header")?;
        let shape = GraphShape::read(graph_header)?;
        if shape.size != rows {
            return Err(corrupt("graph size differs from the matrix"));
        }
        let levels = reader.take(2 * shape.size, "levels")?;
        Ok(Layout {
            columns,
            dense_head,
            graph_header,
            shape,
            levels,
            nodes: reader,
        })
    }
}

/// The keys of a usearch buffer's nodes for which `wanted` holds.
pub fn keys_where(usearch: &[u8], wanted: impl Fn(u64) -> bool) -> Result<Vec<u64>, IndexError> {
    let Layout {
        shape,
        levels,
        mut nodes,
        ..
    } = Layout::read(usearch)?;
    let mut keys = Vec::new();
    for level in levels.chunks_exact(2) {
        let level = usize::try_from(i16::from_le_bytes([level[0], level[1]]))
            .ok()
            .filter(|&l| l <= shape.max_level)
            .ok_or_else(|| corrupt("node level"))?;
        let node = nodes.take(shape.node_bytes(level), "node")?;
        let key = u64::from_le_bytes(node[..8].try_into().map_err(|_| corrupt("node key"))?);
        if wanted(key) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// Packs a buffer from usearch's `save_to_buffer` without its vectors, its
/// nodes in key order.
pub fn pack(usearch: &[u8]) -> Result<Vec<u8>, IndexError> {
    pack_in_slot_order(&in_key_order(usearch)?)
}

/// Walks a usearch buffer's nodes in slot order, calling `visit(key, level,
/// lists)` with one neighbour list per level, each checked against its
/// capacity and the graph's size.
fn for_each_node(
    layout: &Layout<'_>,
    mut visit: impl FnMut(u64, u8, &[Vec<u32>]),
) -> Result<(), IndexError> {
    let shape = layout.shape;
    let mut reader = layout.nodes.clone();
    let mut lists: Vec<Vec<u32>> = Vec::new();
    for level in layout.levels.chunks_exact(2) {
        let level = u8::try_from(i16::from_le_bytes([level[0], level[1]]))
            .ok()
            .filter(|&l| usize::from(l) <= shape.max_level)
            .ok_or_else(|| corrupt("node level"))?;
        let node = reader.take(shape.node_bytes(level.into()), "node")?;
        let key = u64::from_le_bytes(node[..8].try_into().map_err(|_| corrupt("node key"))?);
        if node[8..10] != i16::from(level).to_le_bytes() {
            return Err(corrupt("node level differs from the level table"));
        }
        lists.resize_with(usize::from(level) + 1, Vec::new);
        let mut bytes = Reader::new(&node[NODE_HEAD_BYTES..]);
        for (l, list) in lists.iter_mut().enumerate() {
            list.clear();
            let count = bytes.u32("neighbour count")? as usize;
            if count > shape.capacity(l) {
                return Err(corrupt("neighbour count above capacity"));
            }
            let slots = bytes.take(4 * shape.capacity(l), "neighbour slots")?;
            for slot in slots.chunks_exact(4).take(count) {
                let slot = u32::from_le_bytes([slot[0], slot[1], slot[2], slot[3]]);
                if slot as usize >= shape.size {
                    return Err(corrupt("neighbour slot out of range"));
                }
                list.push(slot);
            }
        }
        visit(key, level, &lists);
    }
    if !reader.rest().is_empty() {
        return Err(corrupt("trailing bytes after the last node"));
    }
    Ok(())
}

/// Sorted slots as the first slot and then the gaps between neighbours
/// (what [`PACKED_V2`] Rice-codes), in place.
fn into_gaps(sorted: &mut [u32]) {
    for i in (1..sorted.len()).rev() {
        sorted[i] -= sorted[i - 1];
    }
}

/// Which Rice parameter a neighbour list at `level` uses: base-layer lists
/// link the whole graph, upper-layer lists a sparser set with wider gaps.
fn rice_class(level: usize) -> usize {
    usize::from(level > 0)
}

/// Base-layer links are mostly mutual (~80% in the graphs measured, see
/// `benches/README.md`). Nodes are coded in slot order, so when node `s`'s
/// list comes, the reader already knows every earlier node that links to
/// `s` (its *callers*): one bit per caller says whether `s` links back, and
/// only `s`'s other links are coded as slots.
struct MutualLinks {
    callers: Vec<Vec<u32>>,
    next_node: usize,
}

impl MutualLinks {
    fn new(size: usize) -> Self {
        MutualLinks {
            callers: vec![Vec::new(); size],
            next_node: 0,
        }
    }

    /// The next node and its callers, ascending (handed over: nothing
    /// asks for them again).
    fn next(&mut self) -> (usize, Vec<u32>) {
        let node = self.next_node;
        self.next_node += 1;
        let callers = self.callers.get_mut(node).map(std::mem::take);
        (node, callers.unwrap_or_default())
    }

    /// Records `node`'s base-layer list: it calls every later node in it.
    fn record(&mut self, node: usize, list: &[u32]) {
        for &target in list {
            if target as usize > node
                && let Some(callers) = self.callers.get_mut(target as usize)
                && callers.last() != Some(&(node as u32))
            {
                callers.push(node as u32);
            }
        }
    }
}

/// One base-layer list split for [`PACKED_V2`]: per caller whether it is
/// linked back (`back`), and the other links, sorted (`rest`).
fn split_mutual(sorted: &[u32], callers: &[u32], back: &mut Vec<bool>, rest: &mut Vec<u32>) {
    back.clear();
    rest.clear();
    back.extend(callers.iter().map(|c| sorted.binary_search(c).is_ok()));
    // `rest` is `sorted` less one occurrence of each linked-back caller
    // (both ascending).
    let mut linked = callers
        .iter()
        .zip(back.iter())
        .filter(|(_, b)| **b)
        .map(|(c, _)| *c)
        .peekable();
    for &slot in sorted {
        if linked.peek() == Some(&slot) {
            linked.next();
        } else {
            rest.push(slot);
        }
    }
}

/// Visits every neighbour list as [`PACKED_V2`] codes it: `visit(level,
/// back, rest)`, `back` empty above the base layer; `rest` sorted.
fn for_each_coded_list(
    layout: &Layout<'_>,
    mut visit: impl FnMut(usize, &[bool], &[u32]),
) -> Result<(), IndexError> {
    let mut mutual = MutualLinks::new(layout.shape.size);
    let (mut sorted, mut back, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for_each_node(layout, |_, _, lists| {
        for (level, list) in lists.iter().enumerate() {
            sorted.clear();
            sorted.extend_from_slice(list);
            sorted.sort_unstable();
            if level == 0 {
                let (node, callers) = mutual.next();
                split_mutual(&sorted, &callers, &mut back, &mut rest);
                mutual.record(node, &sorted);
                visit(level, &back, &rest);
            } else {
                visit(level, &[], &sorted);
            }
        }
    })
}

/// The cheapest Rice parameters for the graph's base and upper lists.
fn best_rice_parameters(layout: &Layout<'_>) -> Result<[u32; 2], IndexError> {
    let widest = layout.shape.slot_bits().min(RICE_K_AT_MOST);
    let mut costs = [[0u64; RICE_K_AT_MOST as usize + 1]; 2];
    let mut values = Vec::new();
    for_each_coded_list(layout, |level, _, rest| {
        values.clear();
        values.extend_from_slice(rest);
        into_gaps(&mut values);
        let cost = &mut costs[rice_class(level)];
        for &value in &values {
            for (k, bits) in cost.iter_mut().enumerate().take(widest as usize + 1) {
                *bits += (u64::from(value) >> k) + 1 + k as u64;
            }
        }
    })?;
    let best = |cost: &[u64]| (0..=widest).min_by_key(|&k| cost[k as usize]).unwrap_or(0);
    Ok([best(&costs[0]), best(&costs[1])])
}

/// [`PACKED_V2`]: header, the two Rice parameters, then one bit stream:
/// every node's key delta (gamma) and level (unary); then every node's
/// lists, level by level. A base-layer list is one bit per caller (see
/// [`MutualLinks`]), the count of its other links, and those sorted and
/// Rice-coded as first slot and gaps; an upper-layer list is its count and
/// its sorted slots so coded. usearch does not depend on the order of a
/// neighbour list (a search scores every neighbour of a node it expands; a
/// full list is re-pruned by distance), so the order is not kept: that
/// saves the ~3 bits per link a fixed width spends on it.
fn pack_in_slot_order(usearch: &[u8]) -> Result<Vec<u8>, IndexError> {
    let layout = Layout::read(usearch)?;
    let shape = layout.shape;
    let rice = best_rice_parameters(&layout)?;
    let mut out = Vec::with_capacity(shape.size * 32 + 128);
    out.push(PACKED_V2);
    out.extend_from_slice(&(layout.columns as u32).to_le_bytes());
    out.extend_from_slice(layout.dense_head);
    out.extend_from_slice(layout.graph_header);
    out.extend(rice.iter().map(|&k| k as u8));
    let mut bits = BitWriter::with_capacity(shape.size * 32);
    let mut previous_key = 0u64;
    for_each_node(&layout, |key, level, _| {
        bits.put_gamma(key.wrapping_sub(previous_key));
        bits.put_unary(level.into());
        previous_key = key;
    })?;
    let count_bits = shape.count_bits();
    let mut values = Vec::new();
    for_each_coded_list(&layout, |level, back, rest| {
        for &linked in back {
            bits.put(u64::from(linked), 1);
        }
        bits.put(rest.len() as u64, count_bits);
        values.clear();
        values.extend_from_slice(rest);
        into_gaps(&mut values);
        for &value in &values {
            bits.put_rice(u64::from(value), rice[rice_class(level)]);
        }
    })?;
    out.extend_from_slice(&bits.finish());
    Ok(out)
}

/// Renumbers a usearch buffer's slots in breadth-first order of the base
/// layer, from the entry node, so that a node's neighbours lie near it in
/// memory: searches then touch fewer cache lines and pages (measured in
/// `benches/README.md`, "Graph layout"). The graph itself (keys, levels,
/// links, vectors) is unchanged; nodes the walk does not reach keep their
/// relative order at the end.
pub fn in_locality_order(usearch: &[u8]) -> Result<Vec<u8>, IndexError> {
    let nodes = Nodes::read(usearch)?;
    let order = nodes.breadth_first()?;
    nodes.renumbered(&order)
}

/// Renumbers a usearch buffer's slots in ascending key order (record ids
/// grow with time, so a packed file's key deltas stay one byte whatever
/// layout the graph had in memory).
pub fn in_key_order(usearch: &[u8]) -> Result<Vec<u8>, IndexError> {
    let nodes = Nodes::read(usearch)?;
    let mut order: Vec<usize> = (0..nodes.spans.len()).collect();
    order.sort_by_key(|&slot| nodes.key(slot));
    nodes.renumbered(&order)
}

/// A usearch buffer's nodes, each with its level and bytes.
struct Nodes<'a> {
    usearch: &'a [u8],
    layout: Layout<'a>,
    spans: Vec<(usize, &'a [u8])>,
}

impl<'a> Nodes<'a> {
    fn read(usearch: &'a [u8]) -> Result<Self, IndexError> {
        let layout = Layout::read(usearch)?;
        let shape = layout.shape;
        let mut reader = layout.nodes.clone();
        let mut spans = Vec::with_capacity(shape.size);
        for level in layout.levels.chunks_exact(2) {
            let level = usize::try_from(i16::from_le_bytes([level[0], level[1]]))
                .ok()
                .filter(|&l| l <= shape.max_level)
                .ok_or_else(|| corrupt("node level"))?;
            spans.push((level, reader.take(shape.node_bytes(level), "node")?));
        }
        if !reader.rest().is_empty() {
            return Err(corrupt("trailing bytes after the last node"));
        }
        Ok(Nodes {
            usearch,
            layout,
            spans,
        })
    }

    fn key(&self, slot: usize) -> u64 {
        let mut key = [0u8; 8];
        key.copy_from_slice(&self.spans[slot].1[..8]);
        u64::from_le_bytes(key)
    }

    fn base_neighbours(&self, slot: usize) -> Result<Vec<u32>, IndexError> {
        let shape = self.layout.shape;
        let mut lists = Reader::new(&self.spans[slot].1[NODE_HEAD_BYTES..]);
        let count = lists.u32("neighbour count")? as usize;
        if count > shape.connectivity_base {
            return Err(corrupt("neighbour count above capacity"));
        }
        let slots = lists.take(4 * count, "neighbour slots")?;
        slots
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .map(|s| match (s as usize) < shape.size {
                true => Ok(s),
                false => Err(corrupt("neighbour slot out of range")),
            })
            .collect()
    }

    /// Old slots in breadth-first order of the base layer from the entry.
    fn breadth_first(&self) -> Result<Vec<usize>, IndexError> {
        let size = self.spans.len();
        let entry = entry_slot(self.layout.graph_header)?;
        let mut order = Vec::with_capacity(size);
        let mut seen = vec![false; size];
        for start in std::iter::once(entry).chain(0..size) {
            if start >= size || seen[start] {
                continue;
            }
            seen[start] = true;
            order.push(start);
            let mut next = order.len() - 1;
            while next < order.len() {
                for neighbour in self.base_neighbours(order[next])? {
                    let neighbour = neighbour as usize;
                    if !seen[neighbour] {
                        seen[neighbour] = true;
                        order.push(neighbour);
                    }
                }
                next += 1;
            }
        }
        Ok(order)
    }

    /// The buffer with old slot `order[i]` moved to slot `i` (`order` is a
    /// permutation of the slots).
    fn renumbered(&self, order: &[usize]) -> Result<Vec<u8>, IndexError> {
        let (shape, columns) = (self.layout.shape, self.layout.columns);
        let mut new_slot = vec![u32::MAX; shape.size];
        for (new, &old) in order.iter().enumerate() {
            new_slot[old] = new as u32;
        }
        let mut out = Vec::with_capacity(self.usearch.len());
        out.extend_from_slice(&self.usearch[..MATRIX_START]);
        for &old in order {
            let row = MATRIX_START + old * columns;
            out.extend_from_slice(&self.usearch[row..row + columns]);
        }
        out.extend_from_slice(self.layout.dense_head);
        let entry_at = out.len() + ENTRY_SLOT_AT;
        out.extend_from_slice(self.layout.graph_header);
        if let Some(&entry) = new_slot.get(entry_slot(self.layout.graph_header)?) {
            out[entry_at..entry_at + 8].copy_from_slice(&u64::from(entry).to_le_bytes());
        }
        for &old in order {
            out.extend_from_slice(&self.layout.levels[2 * old..2 * old + 2]);
        }
        for &old in order {
            let (level, span) = self.spans[old];
            out.extend_from_slice(&span[..NODE_HEAD_BYTES]);
            let mut lists = Reader::new(&span[NODE_HEAD_BYTES..]);
            for l in 0..=level {
                let count = lists.u32("neighbour count")?;
                out.extend_from_slice(&count.to_le_bytes());
                let slots = lists.take(4 * shape.capacity(l), "neighbour slots")?;
                for (i, slot) in slots.chunks_exact(4).enumerate() {
                    let slot = u32::from_le_bytes([slot[0], slot[1], slot[2], slot[3]]);
                    let slot = match i < count as usize {
                        true => *new_slot
                            .get(slot as usize)
                            .ok_or_else(|| corrupt("neighbour slot out of range"))?,
                        false => 0,
                    };
                    out.extend_from_slice(&slot.to_le_bytes());
                }
            }
        }
        Ok(out)
    }
}

/// Read access to a usearch buffer's graph, node by node (what a search
/// copy is made from, see [`super::flat_graph`]). Every read is checked.
pub(crate) struct GraphView<'a> {
    nodes: Nodes<'a>,
}

impl<'a> GraphView<'a> {
    pub(crate) fn read(usearch: &'a [u8]) -> Result<Self, IndexError> {
        Ok(GraphView {
            nodes: Nodes::read(usearch)?,
        })
    }

    pub(crate) fn size(&self) -> usize {
        self.nodes.spans.len()
    }

    /// Neighbour capacity at level 0 (usearch's `connectivity_base`).
    pub(crate) fn base_capacity(&self) -> usize {
        self.nodes.layout.shape.connectivity_base
    }

    pub(crate) fn max_level(&self) -> usize {
        self.nodes.layout.shape.max_level
    }

    /// The slot searches start from (`None` for an empty graph).
    pub(crate) fn entry(&self) -> Result<Option<usize>, IndexError> {
        let entry = entry_slot(self.nodes.layout.graph_header)?;
        match (self.size(), entry < self.size()) {
            (0, _) => Ok(None),
            (_, true) => Ok(Some(entry)),
            (_, false) => Err(corrupt("entry slot out of range")),
        }
    }

    /// Bytes per vector.
    pub(crate) fn columns(&self) -> usize {
        self.nodes.layout.columns
    }

    pub(crate) fn key(&self, slot: usize) -> u64 {
        self.nodes.key(slot)
    }

    pub(crate) fn level(&self, slot: usize) -> usize {
        self.nodes.spans[slot].0
    }

    /// `slot`'s vector in the graph's scalar layout.
    pub(crate) fn vector(&self, slot: usize) -> &'a [u8] {
        let start = MATRIX_START + slot * self.columns();
        &self.nodes.usearch[start..start + self.columns()]
    }

    /// Replaces `out` with `slot`'s neighbours at `level` (checked against
    /// the capacity and the graph's size).
    pub(crate) fn neighbours(
        &self,
        slot: usize,
        level: usize,
        out: &mut Vec<u32>,
    ) -> Result<(), IndexError> {
        let shape = self.nodes.layout.shape;
        let (node_level, span) = self.nodes.spans[slot];
        out.clear();
        if level > node_level {
            return Ok(());
        }
        let skipped = match level {
            0 => 0,
            _ => 4 + 4 * shape.connectivity_base + (level - 1) * (4 + 4 * shape.connectivity),
        };
        let mut lists = Reader::new(&span[NODE_HEAD_BYTES + skipped..]);
        let count = lists.u32("neighbour count")? as usize;
        if count > shape.capacity(level) {
            return Err(corrupt("neighbour count above capacity"));
        }
        for slot in lists.take(4 * count, "neighbour slots")?.chunks_exact(4) {
            let slot = u32::from_le_bytes([slot[0], slot[1], slot[2], slot[3]]);
            if slot as usize >= shape.size {
                return Err(corrupt("neighbour slot out of range"));
            }
            out.push(slot);
        }
        Ok(())
    }
}

/// Where the entry slot lies in usearch's graph header (fifth `u64`).
const ENTRY_SLOT_AT: usize = 32;

fn entry_slot(graph_header: &[u8]) -> Result<usize, IndexError> {
    let bytes = graph_header
        .get(ENTRY_SLOT_AT..ENTRY_SLOT_AT + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .ok_or_else(|| corrupt("short graph header"))?;
    Ok(usize::try_from(u64::from_le_bytes(bytes)).unwrap_or(usize::MAX))
}

/// A packed graph expanded back into usearch's layout, waiting for its vectors.
pub struct Unpacked {
    buffer: Vec<u8>,
    columns: usize,
    keys: Vec<u64>,
    /// Where each slot's node starts in `buffer` (its level-0 neighbours
    /// name the slots an unfilled one borrows a vector from).
    node_offsets: Vec<usize>,
    filled: Vec<bool>,
    slots: HashMap<u64, u32>,
}

/// Where the matrix starts in usearch's buffer (after rows and columns).
const MATRIX_START: usize = 8;

/// A packed graph's neighbour lists, read in node order.
struct ListReader<'a> {
    bits: BitReader<'a>,
    shape: GraphShape,
    coding: LinkCoding,
}

enum LinkCoding {
    /// [`PACKED_V1`]: slots in list order at the graph's slot width.
    Fixed,
    /// [`PACKED_V2`]: see [`pack_in_slot_order`]; the Rice parameter of
    /// each [`rice_class`], and the callers known so far.
    Rice([u32; 2], Box<MutualLinks>),
}

impl ListReader<'_> {
    /// Replaces `out` with the next list, that of a node's `level`.
    fn read(&mut self, level: usize, out: &mut Vec<u32>) -> Result<(), IndexError> {
        let cut_short = || corrupt("neighbour lists cut short");
        let shape = self.shape;
        out.clear();
        let (rice, mutual) = match &mut self.coding {
            LinkCoding::Fixed => {
                let count = self.bits.get(shape.count_bits()).ok_or_else(cut_short)? as usize;
                if count > shape.capacity(level) {
                    return Err(corrupt("neighbour count above capacity"));
                }
                for _ in 0..count {
                    let slot = self.bits.get(shape.slot_bits()).ok_or_else(cut_short)?;
                    if slot as usize >= shape.size {
                        return Err(corrupt("neighbour slot out of range"));
                    }
                    out.push(slot);
                }
                return Ok(());
            }
            LinkCoding::Rice(rice, mutual) => (rice[rice_class(level)], mutual),
        };
        let mut linked_back = Vec::new();
        let node = match level {
            0 => {
                let (node, callers) = mutual.next();
                for caller in callers {
                    if self.bits.get(1).ok_or_else(cut_short)? == 1 {
                        linked_back.push(caller);
                    }
                }
                Some(node)
            }
            _ => None,
        };
        let count = self.bits.get(shape.count_bits()).ok_or_else(cut_short)? as usize;
        if count + linked_back.len() > shape.capacity(level) {
            return Err(corrupt("neighbour count above capacity"));
        }
        let last_slot = shape.size.saturating_sub(1) as u64;
        let mut slot = 0u64;
        let mut rest = Vec::with_capacity(count);
        for i in 0..count {
            let start = if i == 0 { 0 } else { slot };
            let gap = self
                .bits
                .get_rice(rice, last_slot.saturating_sub(start))
                .ok_or_else(|| corrupt("neighbour slot out of range or cut short"))?;
            slot = start + gap;
            if shape.size == 0 {
                return Err(corrupt("neighbour slot out of range"));
            }
            rest.push(slot as u32);
        }
        out.extend(linked_back);
        out.extend(rest);
        out.sort_unstable();
        if let Some(node) = node {
            mutual.record(node, out);
        }
        Ok(())
    }

    /// Checks that nothing but padding follows the last list ([`PACKED_V1`]
    /// files were never checked for it, and are not now).
    fn finish(self) -> Result<(), IndexError> {
        match self.coding {
            LinkCoding::Rice(..) if !self.bits.at_padding() => {
                Err(corrupt("data after the last neighbour list"))
            }
            _ => Ok(()),
        }
    }
}

type PackedNodes<'a> = (Vec<u64>, Vec<u8>, ListReader<'a>);

/// [`PACKED_V1`]'s keys and levels (bytes), and a reader of its lists.
fn read_v1_nodes(mut reader: Reader<'_>, shape: GraphShape) -> Result<PackedNodes<'_>, IndexError> {
    // Every slot costs at least two packed bytes (key delta, level): this
    // bounds what a damaged size field can make us allocate.
    if shape.size > reader.rest().len() / 2 {
        return Err(corrupt("graph size larger than the file"));
    }
    let mut keys = Vec::with_capacity(shape.size);
    let mut levels = Vec::with_capacity(shape.size);
    let mut previous_key = 0u64;
    for _ in 0..shape.size {
        let key = previous_key.wrapping_add(unzigzag(reader.varint("key")?));
        keys.push(key);
        let level = reader.take(1, "level")?[0];
        if usize::from(level) > shape.max_level {
            return Err(corrupt("node level"));
        }
        levels.push(level);
        previous_key = key;
    }
    // Every level of every node carries a count in the bit stream.
    let count_fields: usize = levels.iter().map(|&l| usize::from(l) + 1).sum();
    if count_fields.saturating_mul(shape.count_bits() as usize) > reader.rest().len() * 8 {
        return Err(corrupt("neighbour lists cut short"));
    }
    let lists = ListReader {
        bits: BitReader::new(reader.rest()),
        shape,
        coding: LinkCoding::Fixed,
    };
    Ok((keys, levels, lists))
}

/// [`PACKED_V2`]'s Rice parameters, keys and levels, and a reader of its
/// lists (the rest of the same bit stream).
fn read_v2_nodes(mut reader: Reader<'_>, shape: GraphShape) -> Result<PackedNodes<'_>, IndexError> {
    let mut rice = [0u32; 2];
    for k in &mut rice {
        *k = u32::from(reader.take(1, "Rice parameter")?[0]);
        if *k > RICE_K_AT_MOST {
            return Err(corrupt("Rice parameter out of range"));
        }
    }
    let stream = reader.rest();
    // Every slot costs at least two bits (key delta, level), and every level
    // of every node a count: this bounds what a damaged size field can make
    // us allocate.
    if shape.size > stream.len().saturating_mul(4) {
        return Err(corrupt("graph size larger than the file"));
    }
    let mut bits = BitReader::new(stream);
    let mut keys = Vec::with_capacity(shape.size);
    let mut levels = Vec::with_capacity(shape.size);
    let mut previous_key = 0u64;
    let top = u32::try_from(shape.max_level).map_err(|_| corrupt("node level"))?;
    for _ in 0..shape.size {
        let delta = bits.get_gamma().ok_or_else(|| corrupt("key"))?;
        let key = previous_key.wrapping_add(delta);
        let level = bits.get_unary(top).ok_or_else(|| corrupt("node level"))?;
        keys.push(key);
        levels.push(level as u8);
        previous_key = key;
    }
    let lists = ListReader {
        bits,
        shape,
        coding: LinkCoding::Rice(rice, Box::new(MutualLinks::new(shape.size))),
    };
    Ok((keys, levels, lists))
}

impl Unpacked {
    /// Expands [`pack`]'s output (either packed layout); `columns` must be
    /// the bytes per vector of the graph the caller is about to load (a
    /// mismatch is an error).
    pub fn new(packed: &[u8], columns: usize) -> Result<Self, IndexError> {
        let mut reader = Reader::new(packed);
        let version = reader.take(1, "version")?[0];
        if version != PACKED_V1 && version != PACKED_V2 {
            return Err(corrupt("unknown packed layout"));
        }
        if reader.u32("vector bytes")? as usize != columns {
            return Err(corrupt("vector width differs from the index's"));
        }
        let dense_head = reader.take(DENSE_HEAD_BYTES, "index head")?;
        let graph_header = reader.take(GRAPH_HEADER_BYTES, "graph header")?;
        let shape = GraphShape::read(graph_header)?;
        let (keys, levels, mut lists) = match version {
            PACKED_V1 => read_v1_nodes(reader, shape)?,
            _ => read_v2_nodes(reader, shape)?,
        };
        let rows = u32::try_from(shape.size).map_err(|_| corrupt("graph size"))?;
        let matrix = shape
            .size
            .checked_mul(columns)
            .ok_or_else(|| corrupt("matrix size"))?;
        let nodes: usize = levels.iter().map(|&l| shape.node_bytes(l.into())).sum();
        let total =
            MATRIX_START + matrix + DENSE_HEAD_BYTES + GRAPH_HEADER_BYTES + 2 * shape.size + nodes;
        let mut buffer = Vec::with_capacity(total);
        buffer.extend_from_slice(&rows.to_le_bytes());
        buffer.extend_from_slice(&(columns as u32).to_le_bytes());
        buffer.resize(MATRIX_START + matrix, 0);
        buffer.extend_from_slice(dense_head);
        buffer.extend_from_slice(graph_header);
        for &level in &levels {
            buffer.extend_from_slice(&i16::from(level).to_le_bytes());
        }
        let mut node_offsets = Vec::with_capacity(shape.size);
        let mut slots = Vec::with_capacity(shape.connectivity_base);
        for (&key, &level) in keys.iter().zip(&levels) {
            node_offsets.push(buffer.len());
            buffer.extend_from_slice(&key.to_le_bytes());
            buffer.extend_from_slice(&i16::from(level).to_le_bytes());
            for l in 0..=usize::from(level) {
                lists.read(l, &mut slots)?;
                buffer.extend_from_slice(&(slots.len() as u32).to_le_bytes());
                for slot in &slots {
                    buffer.extend_from_slice(&slot.to_le_bytes());
                }
                let unused = shape.capacity(l) - slots.len();
                buffer.resize(buffer.len() + 4 * unused, 0);
            }
        }
        lists.finish()?;
        let slots = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| !is_tombstone(**k))
            .map(|(slot, &k)| (k, slot as u32))
            .collect();
        Ok(Unpacked {
            buffer,
            columns,
            filled: vec![false; keys.len()],
            keys,
            node_offsets,
            slots,
        })
    }

    /// Keys of the graph's live slots (tombstones excluded).
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys.iter().copied().filter(|&k| !is_tombstone(k))
    }

    pub fn contains(&self, key: u64) -> bool {
        self.slots.contains_key(&key)
    }

    /// The matrix row of `key`'s slot, to be written with the vector in the
    /// graph's scalar layout; `None` when the graph has no such key.
    pub fn vector_mut(&mut self, key: u64) -> Option<&mut [u8]> {
        let slot = *self.slots.get(&key)? as usize;
        self.filled[slot] = true;
        let start = MATRIX_START + slot * self.columns;
        self.buffer.get_mut(start..start + self.columns)
    }

    /// Keys whose vector was never written (deleted from the records after
    /// the save): the caller removes them from the loaded graph.
    pub fn unfilled_keys(&self) -> Vec<u64> {
        self.keys
            .iter()
            .zip(&self.filled)
            .filter(|(k, filled)| !is_tombstone(**k) && !**filled)
            .map(|(k, _)| *k)
            .collect()
    }

    /// The level-0 neighbour slots of `slot`, read back from the buffer
    /// (whose lists [`Unpacked::new`] has checked).
    fn base_neighbours(&self, slot: usize) -> impl Iterator<Item = usize> + '_ {
        let word = |at: usize| -> Option<usize> {
            let bytes = self.buffer.get(at..at + 4)?;
            Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
        };
        let lists = self.node_offsets.get(slot).map(|o| o + NODE_HEAD_BYTES);
        let count = lists.and_then(word).unwrap_or(0);
        (0..count).filter_map(move |i| lists.and_then(|at| word(at + 4 + 4 * i)))
    }

    /// usearch's buffer, every slot with a vector: unfilled slots copy a
    /// filled neighbour's (or, failing that, any filled slot's) vector.
    /// Slots usearch had freed come back as tombstones.
    pub fn into_buffer(mut self) -> Result<Vec<u8>, IndexError> {
        for (slot, &key) in self.keys.iter().enumerate() {
            if key == FREE_KEY {
                let at = self.node_offsets[slot];
                let tombstone = free_slot_tombstone(slot as u64).to_le_bytes();
                self.buffer[at..at + 8].copy_from_slice(&tombstone);
            }
        }
        let Some(any) = self.filled.iter().position(|f| *f) else {
            return if self.keys.is_empty() {
                Ok(self.buffer)
            } else {
                Err(corrupt("no slot of the graph has a record"))
            };
        };
        for slot in 0..self.keys.len() {
            if self.filled[slot] {
                continue;
            }
            let source = self
                .base_neighbours(slot)
                .find(|&s| self.filled.get(s) == Some(&true))
                .unwrap_or(any);
            let (from, to) = (
                MATRIX_START + source * self.columns,
                MATRIX_START + slot * self.columns,
            );
            self.buffer.copy_within(from..from + self.columns, to);
        }
        Ok(self.buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A usearch-layout buffer with random structure (the codec does not
    /// care whether the links form a sensible graph).
    fn synthetic(levels: &[u8], keys: &[u64], columns: usize, m: usize, seed: u64) -> Vec<u8> {
        let size = levels.len();
        let mut state = seed | 1;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut out = Vec::new();
        out.extend_from_slice(&(size as u32).to_le_bytes());
        out.extend_from_slice(&(columns as u32).to_le_bytes());
        for _ in 0..size * columns {
            out.push(next() as u8);
        }
        out.extend_from_slice(&[7u8; DENSE_HEAD_BYTES]);
        for field in [size, m, 2 * m, 3, 0] {
            out.extend_from_slice(&(field as u64).to_le_bytes());
        }
        for &l in levels {
            out.extend_from_slice(&i16::from(l).to_le_bytes());
        }
        for (&key, &level) in keys.iter().zip(levels) {
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&i16::from(level).to_le_bytes());
            for l in 0..=usize::from(level) {
                let capacity = if l == 0 { 2 * m } else { m };
                let count = (next() as usize) % (capacity.min(size) + 1);
                out.extend_from_slice(&(count as u32).to_le_bytes());
                for i in 0..capacity {
                    let slot = if i < count {
                        (next() % size as u64) as u32
                    } else {
                        0
                    };
                    out.extend_from_slice(&slot.to_le_bytes());
                }
            }
        }
        out
    }

    /// A graph as its nodes' (key, level, vector, neighbour keys per
    /// level), in key order, and its entry node's key: what renumbering
    /// slots must keep.
    #[allow(clippy::type_complexity)]
    fn described(
        buffer: &[u8],
        columns: usize,
    ) -> (Vec<(u64, usize, Vec<u8>, Vec<Vec<u64>>)>, u64) {
        let nodes = Nodes::read(buffer).expect("a valid synthetic buffer");
        let shape = nodes.layout.shape;
        let mut described: Vec<_> = (0..shape.size)
            .map(|slot| {
                let (level, span) = nodes.spans[slot];
                let mut lists = Reader::new(&span[NODE_HEAD_BYTES..]);
                let links = (0..=level)
                    .map(|l| {
                        let count = lists.u32("count").expect("count") as usize;
                        let slots = lists.take(4 * shape.capacity(l), "slots").expect("slots");
                        slots
                            .chunks_exact(4)
                            .take(count)
                            .map(|b| {
                                nodes.key(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                            })
                            .collect()
                    })
                    .collect();
                let row = MATRIX_START + slot * columns;
                (
                    nodes.key(slot),
                    level,
                    buffer[row..row + columns].to_vec(),
                    links,
                )
            })
            .collect();
        described.sort_by_key(|node| node.0);
        let entry = entry_slot(nodes.layout.graph_header).expect("entry");
        (described, nodes.key(entry))
    }

    /// [`PACKED_V1`] as it was written before V2, to check that such files
    /// still load.
    fn pack_v1_in_slot_order(usearch: &[u8]) -> Result<Vec<u8>, IndexError> {
        let layout = Layout::read(usearch)?;
        let shape = layout.shape;
        let mut out = vec![PACKED_V1];
        out.extend_from_slice(&(layout.columns as u32).to_le_bytes());
        out.extend_from_slice(layout.dense_head);
        out.extend_from_slice(layout.graph_header);
        let mut bits = BitWriter::with_capacity(0);
        let mut previous_key = 0u64;
        for_each_node(&layout, |key, level, lists| {
            write_varint(&mut out, zigzag(key.wrapping_sub(previous_key)));
            out.push(level);
            previous_key = key;
            for list in lists {
                bits.put(list.len() as u64, shape.count_bits());
                for &slot in list {
                    bits.put(u64::from(slot), shape.slot_bits());
                }
            }
        })?;
        out.extend_from_slice(&bits.finish());
        Ok(out)
    }

    /// `buffer` with every node's neighbour list sorted (what V2 keeps).
    fn with_sorted_lists(buffer: &[u8]) -> Vec<u8> {
        let layout = Layout::read(buffer).expect("a valid synthetic buffer");
        let shape = layout.shape;
        let mut out = buffer.to_vec();
        let mut at = buffer.len() - layout.nodes.rest().len();
        for level in layout.levels.chunks_exact(2) {
            let level = i16::from_le_bytes([level[0], level[1]]) as usize;
            let mut list_at = at + NODE_HEAD_BYTES;
            for l in 0..=level {
                let count = u32::from_le_bytes(out[list_at..list_at + 4].try_into().expect("4"));
                let slots = &mut out[list_at + 4..list_at + 4 + 4 * count as usize];
                let mut sorted: Vec<u32> = slots
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                sorted.sort_unstable();
                for (chunk, slot) in slots.chunks_exact_mut(4).zip(sorted) {
                    chunk.copy_from_slice(&slot.to_le_bytes());
                }
                list_at += 4 + 4 * shape.capacity(l);
            }
            at += shape.node_bytes(level);
        }
        out
    }

    fn graph_part(buffer: &[u8], columns: usize) -> &[u8] {
        let rows = u32::from_le_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]) as usize;
        &buffer[MATRIX_START + rows * columns..]
    }

    proptest! {
        #[test]
        fn round_trips_the_graph_and_fills_vectors_by_key(
            nodes in proptest::collection::vec((0u8..4, 0u8..3), 1..60),
            m in 2usize..20,
            seed in any::<u64>(),
            old_layout in any::<bool>(),
        ) {
            let columns = 8;
            let levels: Vec<u8> = nodes.iter().map(|n| n.0).collect();
            // Live keys, slots usearch freed, and tombstones.
            let keys: Vec<u64> = nodes
                .iter()
                .enumerate()
                .map(|(i, n)| match n.1 {
                    0 => 1000 + 3 * i as u64,
                    1 => FREE_KEY,
                    _ => crate::index::hnsw::TOMBSTONE_BIT | i as u64,
                })
                .collect();
            let original = synthetic(&levels, &keys, columns, m, seed);
            prop_assert_eq!(slot_count(&original).ok(), Some(keys.len()));
            let dead: Vec<u64> = keys.iter().copied().filter(|&k| is_tombstone(k)).collect();
            prop_assert_eq!(keys_where(&original, is_tombstone).ok(), Some(dead));
            // Freed slots come back as tombstones named by their slot.
            let expected_keys: Vec<u64> = keys
                .iter()
                .enumerate()
                .map(|(slot, &k)| if k == FREE_KEY { free_slot_tombstone(slot as u64) } else { k })
                .collect();
            let expected = synthetic(&levels, &expected_keys, columns, m, seed);
            // The codec keeps slot order (`pack` puts slots in key order
            // first); V2 keeps each neighbour list as a set, in slot order;
            // V1 files (no longer written) keep the lists' order.
            let (packed, expected) = if old_layout {
                (pack_v1_in_slot_order(&original), expected)
            } else {
                (pack_in_slot_order(&original), with_sorted_lists(&expected))
            };
            let packed = packed.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(packed[0], if old_layout { PACKED_V1 } else { PACKED_V2 });
            let mut unpacked = Unpacked::new(&packed, columns)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let live: Vec<u64> = keys.iter().copied().filter(|&k| !is_tombstone(k)).collect();
            prop_assert_eq!(unpacked.keys().collect::<Vec<_>>(), live.clone());
            let rows = keys.len();
            for (slot, &key) in keys.iter().enumerate() {
                if !is_tombstone(key) {
                    let row = &original[MATRIX_START + slot * columns..][..columns];
                    unpacked.vector_mut(key).ok_or_else(|| TestCaseError::fail("no row"))?
                        .copy_from_slice(row);
                }
            }
            prop_assert!(unpacked.unfilled_keys().is_empty());
            if live.is_empty() {
                // Nothing to borrow a vector from: the store rebuilds instead.
                prop_assert!(unpacked.into_buffer().is_err());
                return Ok(());
            }
            let rebuilt = unpacked.into_buffer().map_err(|e| TestCaseError::fail(e.to_string()))?;
            // The graph itself comes back byte for byte (unused capacity is
            // zero in both), and live rows carry their vectors.
            prop_assert_eq!(graph_part(&rebuilt, columns), graph_part(&expected, columns));
            for (slot, &key) in keys.iter().enumerate() {
                let at = MATRIX_START + slot * columns;
                if !is_tombstone(key) {
                    prop_assert_eq!(&rebuilt[at..at + columns], &original[at..at + columns]);
                }
            }
            prop_assert_eq!(rebuilt.len(), original.len());
            prop_assert_eq!(rows, levels.len());
        }

        #[test]
        fn renumbering_keeps_every_node_its_key_level_vector_and_links(
            nodes in proptest::collection::vec((0u8..4, any::<bool>(), any::<u16>()), 1..60),
            m in 2usize..20,
            seed in any::<u64>(),
        ) {
            let columns = 8;
            let levels: Vec<u8> = nodes.iter().map(|n| n.0).collect();
            // Unique keys in no particular order; some tombstones.
            let keys: Vec<u64> = nodes
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let key = (u64::from(n.2) << 8) | i as u64;
                    if n.1 { crate::index::hnsw::TOMBSTONE_BIT | key } else { key }
                })
                .collect();
            let original = synthetic(&levels, &keys, columns, m, seed);
            let want = described(&original, columns);
            for renumber in [in_key_order, in_locality_order] {
                let renumbered = renumber(&original).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(renumbered.len(), original.len());
                prop_assert_eq!(described(&renumbered, columns), want.clone());
            }
            let by_key = in_key_order(&original).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let sorted = keys_where(&by_key, |_| true).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(sorted.windows(2).all(|w| w[0] < w[1]));
            // The entry node is first in locality order.
            let local = in_locality_order(&original).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let header = &local[MATRIX_START + keys.len() * columns + DENSE_HEAD_BYTES..];
            prop_assert_eq!(entry_slot(header).ok(), Some(0));
        }

        #[test]
        fn damaged_input_is_an_error_not_a_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            columns in 0usize..16,
        ) {
            let _ = pack(&bytes);
            let _ = in_locality_order(&bytes);
            let _ = Unpacked::new(&bytes, columns).and_then(Unpacked::into_buffer);
        }

        #[test]
        fn truncated_or_flipped_packs_never_panic(
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            seed in any::<u64>(),
        ) {
            let levels = [0u8, 1, 0, 0, 2, 0, 0, 0];
            let keys: Vec<u64> = (0..8).collect();
            let graph = synthetic(&levels, &keys, 4, 4, seed);
            let packed = pack(&graph).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let cut_at = cut.index(packed.len());
            // V2 is read to its last bit: any cut is an error.
            prop_assert!(Unpacked::new(&packed[..cut_at], 4).is_err());
            let old = pack_v1_in_slot_order(&graph).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for packed in [packed, old] {
                let cut_at = cut.index(packed.len());
                let _ = Unpacked::new(&packed[..cut_at], 4).and_then(Unpacked::into_buffer);
                let mut flipped = packed.clone();
                let at = flip.index(flipped.len());
                flipped[at] ^= 0x5a;
                let _ = Unpacked::new(&flipped, 4).and_then(Unpacked::into_buffer);
            }
        }
    }

    #[test]
    fn a_real_graph_comes_back_with_the_same_answers() -> Result<(), IndexError> {
        use crate::index::hnsw::{HnswIndex, graph_scalar_width, write_graph_vector};
        use crate::index::{HnswParams, SearchRequest, VectorIndex};
        let dimensions = 8;
        // usearch's own walk on both sides, over distinct vectors: a packed
        // graph keeps each neighbour list as a set, so only ties could
        // come out in another order.
        let params = HnswParams {
            search_copy: false,
            ..HnswParams::default()
        };
        let width = graph_scalar_width(params.quantization) * dimensions;
        let empty = HnswIndex::new(dimensions, params)?;
        let mut unpacked = Unpacked::new(&pack(&empty.graph_bytes()?)?, width)?;
        assert!(unpacked.vector_mut(0).is_none());
        assert_eq!(
            HnswIndex::from_bytes(&unpacked.into_buffer()?, dimensions, params)?.len(),
            0
        );

        let vector = |key: u64| -> Vec<f32> {
            let unit = crate::index::normalized(
                &(0..dimensions)
                    .map(|d| ((key * 2_654_435_761 + d as u64 * 40_503) % 1000) as f32 - 500.0)
                    .collect::<Vec<_>>(),
            );
            // f16-exact, as the store feeds the graph.
            unit.iter()
                .map(|x| half::f16::from_f32(*x).to_f32())
                .collect()
        };
        let mut graph = HnswIndex::new(dimensions, params)?;
        for key in 0..400u64 {
            graph.add(key, &vector(key))?;
        }
        graph.remove(5)?;
        let packed = pack(&graph.graph_bytes()?)?;
        let old = pack_v1_in_slot_order(&in_key_order(&graph.graph_bytes()?)?)?;
        assert!(
            packed.len() < old.len(),
            "{} vs {}",
            packed.len(),
            old.len()
        );
        let mut unpacked = Unpacked::new(&packed, width)?;
        assert!(!unpacked.contains(5));
        for key in 0..400u64 {
            if let Some(row) = unpacked.vector_mut(key) {
                write_graph_vector(params.quantization, &vector(key), row);
            }
        }
        let loaded = HnswIndex::from_bytes(&unpacked.into_buffer()?, dimensions, params)?;
        assert_eq!(loaded.len(), 399);
        let request = SearchRequest {
            k: 5,
            radius: 2.0,
            exclude: None,
        };
        for q in 1000..1030u64 {
            assert_eq!(
                loaded.search(&vector(q), &request)?,
                graph.search(&vector(q), &request)?
            );
        }
        Ok(())
    }

    #[test]
    fn deleted_keys_are_reported_and_borrow_a_neighbours_vector() -> Result<(), IndexError> {
        let levels = [0u8; 6];
        let keys: Vec<u64> = (10..16).collect();
        let original = synthetic(&levels, &keys, 4, 2, 99);
        let mut unpacked = Unpacked::new(&pack(&original)?, 4)?;
        for key in [10u64, 11, 12, 14, 15] {
            if let Some(row) = unpacked.vector_mut(key) {
                row.copy_from_slice(&[key as u8; 4]);
            }
        }
        assert_eq!(unpacked.unfilled_keys(), vec![13]);
        assert!(unpacked.vector_mut(99).is_none());
        let buffer = unpacked.into_buffer()?;
        let row13 = &buffer[MATRIX_START + 3 * 4..][..4];
        assert!(row13.iter().all(|&b| b == row13[0]) && [10u8, 11, 12, 14, 15].contains(&row13[0]));
        assert!(pack(b"short").is_err());
        assert!(Unpacked::new(&[PACKED_V2], 4).is_err());
        assert!(Unpacked::new(&[PACKED_V1], 4).is_err());
        Ok(())
    }
}
