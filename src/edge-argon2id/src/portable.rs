//! The memory block and the compression function G in plain `u64` arithmetic: the host's, and
//! the reference the wasm `simd128` version is written against (same interface, same results).

/// One 1 KiB block: 128 little-endian `u64` words.
#[derive(Clone, Copy)]
#[repr(align(64))]
pub struct Block([u64; 128]);

impl Block {
    /// The all-zero block.
    pub const ZERO: Block = Block([0; 128]);

    /// The block whose words are the 1024 bytes, little-endian.
    pub fn from_bytes(bytes: &[u8; 1024]) -> Block {
        let mut block = Block::ZERO;
        for (word, chunk) in block.0.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(chunk);
            *word = u64::from_le_bytes(le);
        }
        block
    }

    /// A block starting with `words`, zero after.
    pub fn from_words(words: &[u64]) -> Block {
        let mut block = Block::ZERO;
        block.0[..words.len()].copy_from_slice(words);
        block
    }

    /// The block's bytes, little-endian.
    pub fn write_bytes(&self, bytes: &mut [u8; 1024]) {
        for (word, chunk) in self.0.iter().zip(bytes.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
    }

    /// Word `i` (0 to 127).
    pub fn word(&self, i: usize) -> u64 {
        self.0[i]
    }

    /// self ^= other.
    pub fn xor_assign(&mut self, other: &Block) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a ^= b;
        }
    }

    /// G(x, y) = P(x ^ y) ^ x ^ y into `out`, or XORed into `out`'s old value when `xor_into`.
    /// P applies BLAKE2b's round (with BlaMka's multiplication) to the eight rows of sixteen
    /// words, then to the eight columns of sixteen words (two adjacent words per row).
    pub fn compress(x: &Block, y: &Block, out: &mut Block, xor_into: bool) {
        let mut r = *x;
        r.xor_assign(y);
        let mut q = r;
        for row in 0..8 {
            let words: [usize; 16] = std::array::from_fn(|k| 16 * row + k);
            round(&mut q.0, &words);
        }
        for column in 0..8 {
            let words: [usize; 16] = std::array::from_fn(|k| 2 * column + 16 * (k / 2) + k % 2);
            round(&mut q.0, &words);
        }
        q.xor_assign(&r);
        if xor_into {
            out.xor_assign(&q);
        } else {
            *out = q;
        }
    }
}

/// BlaMka's addition: x + y + 2 · lo32(x) · lo32(y), mod 2^64.
#[inline(always)]
fn blamka(x: u64, y: u64) -> u64 {
    let product = (x & 0xffff_ffff) * (y & 0xffff_ffff);
    x.wrapping_add(y).wrapping_add(product.wrapping_mul(2))
}

/// BLAKE2b's quarter round on four words, with BlaMka's addition.
#[inline(always)]
fn quarter(v: &mut [u64; 16], a: usize, b: usize, c: usize, d: usize) {
    v[a] = blamka(v[a], v[b]);
    v[d] = (v[d] ^ v[a]).rotate_right(32);
    v[c] = blamka(v[c], v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(24);
    v[a] = blamka(v[a], v[b]);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = blamka(v[c], v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(63);
}

/// One BLAKE2b round (columns, then diagonals of the 4 × 4 matrix) on the sixteen words of
/// `block` at `words`.
fn round(block: &mut [u64; 128], words: &[usize; 16]) {
    let mut v: [u64; 16] = std::array::from_fn(|k| block[words[k]]);
    quarter(&mut v, 0, 4, 8, 12);
    quarter(&mut v, 1, 5, 9, 13);
    quarter(&mut v, 2, 6, 10, 14);
    quarter(&mut v, 3, 7, 11, 15);
    quarter(&mut v, 0, 5, 10, 15);
    quarter(&mut v, 1, 6, 11, 12);
    quarter(&mut v, 2, 7, 8, 13);
    quarter(&mut v, 3, 4, 9, 14);
    for (k, &w) in words.iter().enumerate() {
        block[w] = v[k];
    }
}
