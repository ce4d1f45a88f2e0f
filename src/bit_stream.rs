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

    /// Writes `count` in unary: `count` one-bits and a zero-bit.
    pub(crate) fn put_unary(&mut self, count: u32) {
        self.put_ones(count);
        self.put(0, 1);
    }

    /// Writes `value` Rice-coded with parameter `k` (≤ 32): `value >> k` in
    /// unary, then its low `k` bits. Cheap for values near `2^k`; the
    /// caller keeps `value >> k` small.
    pub(crate) fn put_rice(&mut self, value: u64, k: u32) {
        self.put_unary(u32::try_from(value >> k).unwrap_or(u32::MAX));
        self.put(value, k);
    }

    /// Writes any `u64` as its bit length in unary and then the bits below
    /// its top one (Elias gamma over the length): 1 bit for 0, 2 for 1, 4
    /// for 2–3, 127 for the largest values.
    pub(crate) fn put_gamma(&mut self, value: u64) {
        let length = 64 - value.leading_zeros();
        self.put_unary(length);
        let below_top = length.saturating_sub(1);
        self.put(value, below_top.min(32));
        if below_top > 32 {
            self.put(value >> 32, below_top - 32);
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

    /// Reads a unary count (one-bits up to a zero-bit); `None` if the
    /// stream ends first or the count passes `limit`.
    pub(crate) fn get_unary(&mut self, limit: u32) -> Option<u32> {
        let mut count = 0u32;
        loop {
            let (window, real) = self.peek();
            let ones = (window.trailing_ones() as usize).min(real);
            count = count.checked_add(ones as u32)?;
            if count > limit {
                return None;
            }
            if ones < real {
                self.skip(ones + 1);
                return Some(count);
            }
            if real == 0 {
                return None;
            }
            self.skip(ones);
        }
    }

    /// Reads a value written by [`BitWriter::put_rice`]; `None` if the
    /// stream ends first or the value would pass `max`.
    pub(crate) fn get_rice(&mut self, k: u32, max: u64) -> Option<u64> {
        let quotient = self.get_unary(u32::try_from(max >> k).unwrap_or(u32::MAX))?;
        let value = (u64::from(quotient) << k) | u64::from(self.get(k)?);
        (value <= max).then_some(value)
    }

    /// Reads a value written by [`BitWriter::put_gamma`].
    pub(crate) fn get_gamma(&mut self) -> Option<u64> {
        let length = self.get_unary(64)?;
        let below_top = length.saturating_sub(1);
        let low = u64::from(self.get(below_top.min(32))?);
        let high = match below_top > 32 {
            true => u64::from(self.get(below_top - 32)?),
            false => 0,
        };
        let top = match length {
            0 => 0,
            _ => 1u64 << below_top,
        };
        Some(top | (high << 32) | low)
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

        #[test]
        fn rice_and_gamma_values_come_back_as_written(
            values in proptest::collection::vec((any::<u64>(), 0u32..=32, 0u32..70), 0..64),
        ) {
            let mut writer = BitWriter::with_capacity(0);
            // Rice values are kept to a quotient below 4096, as callers do.
            let rice = |value: u64, k: u32| value & ((1u64 << (k + 12)) - 1);
            for &(value, k, shift) in &values {
                writer.put_rice(rice(value, k), k);
                writer.put_gamma(value >> shift.min(63));
                writer.put_gamma(value);
            }
            let bytes = writer.finish();
            let mut reader = BitReader::new(&bytes);
            for &(value, k, shift) in &values {
                prop_assert_eq!(reader.get_rice(k, u64::MAX), Some(rice(value, k)));
                prop_assert_eq!(reader.get_gamma(), Some(value >> shift.min(63)));
                prop_assert_eq!(reader.get_gamma(), Some(value));
            }
            prop_assert!(reader.at_padding());
        }
    }

    #[test]
    fn coded_values_past_their_bound_or_the_end_are_none() {
        let mut writer = BitWriter::with_capacity(0);
        writer.put_rice(1000, 2);
        writer.put_unary(70);
        let bytes = writer.finish();
        let mut reader = BitReader::new(&bytes);
        assert_eq!(reader.get_rice(2, 999), None);
        let mut reader = BitReader::new(&bytes);
        assert_eq!(reader.get_rice(2, 1000), Some(1000));
        assert_eq!(reader.get_unary(69), None);
        assert_eq!(BitReader::new(&[0xff; 3]).get_unary(1000), None);
        assert_eq!(BitReader::new(&[0xff; 3]).get_gamma(), None);
        // One-bits only: the length never ends.
        assert_eq!(BitReader::new(&[0xff; 20]).get_gamma(), None);
        let mut writer = BitWriter::with_capacity(0);
        writer.put_gamma(0);
        writer.put_gamma(1);
        writer.put_gamma(3);
        let bytes = writer.finish();
        // 1 + 2 + 4 bits.
        assert_eq!(bytes, vec![0b0101_1010]);
    }
}
