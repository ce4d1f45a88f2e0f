//! Little-endian bit streams: the first bit written is the lowest bit of the
//! first byte. Shared by the saved graph files (bit-packed neighbour lists)
//! and packed f16 embeddings.

/// Appends bit fields to a byte vector.
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    buffer: u64,
    filled: u32,
}

impl BitWriter {
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        BitWriter {
            bytes: Vec::with_capacity(bytes),
            buffer: 0,
            filled: 0,
        }
    }

    /// Writes the low `bits` (≤ 32) bits of `value`.
    pub(crate) fn put(&mut self, value: u64, bits: u32) {
        let masked = value & ((1u64 << bits) - 1);
        self.buffer |= masked << self.filled;
        self.filled += bits;
        while self.filled >= 8 {
            self.bytes.push(self.buffer as u8);
            self.buffer >>= 8;
            self.filled -= 8;
        }
    }

    /// Writes `count` one-bits.
    pub(crate) fn put_ones(&mut self, count: u32) {
        for _ in 0..count {
            self.put(1, 1);
        }
    }

    /// The bytes, the last one padded with zero bits.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.filled > 0 {
            self.bytes.push(self.buffer as u8);
        }
        self.bytes
    }
}

/// Reads bit fields; never reads past its bytes.
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Next bit to read, counted from the start of `bytes`.
    position: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, position: 0 }
    }

    /// The next bits (at least 57 unless the stream ends first), first bit
    /// lowest, zeros past the end; and how many of them are real.
    pub(crate) fn peek(&self) -> (u64, usize) {
        let start = self.position / 8;
        let tail = self.bytes.get(start..).unwrap_or_default();
        let real = tail.len().min(8);
        let mut word = [0u8; 8];
        word[..real].copy_from_slice(&tail[..real]);
        let skip = self.position % 8;
        (
            u64::from_le_bytes(word) >> skip,
            (real * 8).saturating_sub(skip),
        )
    }

    pub(crate) fn skip(&mut self, bits: usize) {
        self.position += bits;
    }

    /// Reads `bits` (≤ 32) bits; `None` if the stream ends first.
    pub(crate) fn get(&mut self, bits: u32) -> Option<u32> {
        let (window, real) = self.peek();
        if bits as usize > real {
            return None;
        }
        self.skip(bits as usize);
        Some((window & ((1u64 << bits) - 1)) as u32)
    }

    /// Whether only the zero padding of the last byte is left.
    pub(crate) fn at_padding(&self) -> bool {
        if self.position.div_ceil(8) != self.bytes.len() {
            return false;
        }
        match self.bytes.last() {
            Some(last) if self.position % 8 != 0 => last >> (self.position % 8) == 0,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fields_come_back_as_written(
            fields in proptest::collection::vec((any::<u32>(), 1u32..=32), 0..64),
        ) {
            let mut writer = BitWriter::with_capacity(0);
            for &(value, bits) in &fields {
                writer.put(u64::from(value), bits);
            }
            let bytes = writer.finish();
            let total: u32 = fields.iter().map(|f| f.1).sum();
            prop_assert_eq!(bytes.len(), total.div_ceil(8) as usize);
            let mut reader = BitReader::new(&bytes);
            for &(value, bits) in &fields {
                let mask = if bits == 32 { u32::MAX } else { (1 << bits) - 1 };
                prop_assert_eq!(reader.get(bits), Some(value & mask));
            }
            prop_assert!(reader.at_padding());
            prop_assert_eq!(reader.get(8), None);
        }
    }
}
