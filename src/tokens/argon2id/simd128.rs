//! The memory block and the compression function G on wasm's 128-bit SIMD lanes: the same
//! interface and results as [`super::portable`], two `u64` words per `v128`.
//!
//! BLAKE2b's round works on a 4 × 4 matrix of words v0..v15; held as eight vectors
//! (v0,v1) (v2,v3) | (v4,v5) (v6,v7) | (v8,v9) (v10,v11) | (v12,v13) (v14,v15), each quarter
//! round runs on two columns at once. The diagonal step first rotates the b, c and d rows by one,
//! two and three words (across the vector pair), runs the same two-wide quarter rounds, and
//! rotates back. Both halves of P read vectors of two adjacent words: the rows of the block
//! are vectors 8i..8i+7, its columns vectors i, i+8, ..., i+56.
//!
//! Written for what LLVM and V8 make of it (read in V8's machine code): LLVM rewrites a
//! widening multiply of gathered low halves as a mask and a full 64-bit `i64x2.mul` (three
//! `pmuludq` with shifts in V8), and V8 rebuilds each constant byte-shuffle mask with four scalar
//! instructions at every use. So the byte permutations are relaxed swizzles (exact for in-range
//! indices) by masks that LLVM cannot see (`black_box`, once per block): LLVM keeps the
//! `extmul`, V8 keeps the masks in registers. Needs `relaxed-simd` besides `simd128`.

use core::arch::wasm32::{
    i64x2_add, i64x2_shuffle, i8x16, i8x16_relaxed_swizzle, u32x4_shuffle, u64x2,
    u64x2_extmul_low_u32x4, u64x2_extract_lane, u64x2_shr, v128, v128_or, v128_xor,
};

/// One 1 KiB block: 64 vectors of two little-endian `u64` words.
#[derive(Clone, Copy)]
#[repr(align(64))]
pub struct Block([v128; 64]);

impl Block {
    /// The all-zero block.
    pub const ZERO: Block = Block([u64x2(0, 0); 64]);

    /// The block whose words are the 1024 bytes, little-endian.
    pub fn from_bytes(bytes: &[u8; 1024]) -> Block {
        let word =
            |i: usize| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8 bytes"));
        Block(core::array::from_fn(|j| {
            u64x2(word(2 * j), word(2 * j + 1))
        }))
    }

    /// A block starting with `words`, zero after.
    pub fn from_words(words: &[u64]) -> Block {
        let word = |i: usize| words.get(i).copied().unwrap_or(0);
        Block(core::array::from_fn(|j| {
            u64x2(word(2 * j), word(2 * j + 1))
        }))
    }

    /// The block's bytes, little-endian.
    pub fn write_bytes(&self, bytes: &mut [u8; 1024]) {
        for (j, v) in self.0.iter().enumerate() {
            bytes[16 * j..16 * j + 8].copy_from_slice(&u64x2_extract_lane::<0>(*v).to_le_bytes());
            bytes[16 * j + 8..16 * j + 16]
                .copy_from_slice(&u64x2_extract_lane::<1>(*v).to_le_bytes());
        }
    }

    /// Word `i` (0 to 127).
    pub fn word(&self, i: usize) -> u64 {
        let v = self.0[i / 2];
        if i % 2 == 0 {
            u64x2_extract_lane::<0>(v)
        } else {
            u64x2_extract_lane::<1>(v)
        }
    }

    /// self ^= other.
    pub fn xor_assign(&mut self, other: &Block) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = v128_xor(*a, *b);
        }
    }

    /// G(x, y) = P(x ^ y) ^ x ^ y into `out`, or XORed into `out`'s old value when `xor_into`.
    /// R = x ^ y is not kept: the rows are read from x and y, and the final XOR reads them
    /// again, which costs less than storing R.
    pub fn compress(x: &Block, y: &Block, out: &mut Block, xor_into: bool) {
        let (x, y) = (&x.0, &y.0);
        let mut q = [u64x2(0, 0); 64];
        let m = Masks::new();
        for row in 0..8 {
            let at = 8 * row;
            let r: [v128; 8] = core::array::from_fn(|k| v128_xor(x[at + k], y[at + k]));
            q[at..at + 8].copy_from_slice(&round(r, m));
        }
        for column in 0..8 {
            let o = round(core::array::from_fn(|k| q[column + 8 * k]), m);
            for (k, w) in o.into_iter().enumerate() {
                q[column + 8 * k] = w;
            }
        }
        let out = &mut out.0;
        if xor_into {
            for j in 0..64 {
                out[j] = v128_xor(v128_xor(out[j], q[j]), v128_xor(x[j], y[j]));
            }
        } else {
            for j in 0..64 {
                out[j] = v128_xor(q[j], v128_xor(x[j], y[j]));
            }
        }
    }
}

/// The byte permutations: each lane's low half twice, rotations right by 24 and 16 bits.
#[derive(Clone, Copy)]
struct Masks {
    low: v128,
    r24: v128,
    r16: v128,
}

impl Masks {
    /// The masks, hidden from the optimiser (see the module's comment).
    #[inline(always)]
    fn new() -> Masks {
        core::hint::black_box(Masks {
            low: i8x16(0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11),
            r24: i8x16(3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10),
            r16: i8x16(2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9),
        })
    }
}

/// BlaMka's addition on both lanes: x + y + 2 · lo32(x) · lo32(y), mod 2^64; the low halves
/// gathered into lanes 0 and 1, one widening multiply gives both products.
#[inline(always)]
fn blamka(x: v128, y: v128, m: Masks) -> v128 {
    let low = m.low;
    let product =
        u64x2_extmul_low_u32x4(i8x16_relaxed_swizzle(x, low), i8x16_relaxed_swizzle(y, low));
    i64x2_add(i64x2_add(x, y), i64x2_add(product, product))
}

#[inline(always)]
fn rotr32(x: v128) -> v128 {
    u32x4_shuffle::<1, 0, 3, 2>(x, x)
}

#[inline(always)]
fn rotr24(x: v128, m: Masks) -> v128 {
    i8x16_relaxed_swizzle(x, m.r24)
}

#[inline(always)]
fn rotr16(x: v128, m: Masks) -> v128 {
    i8x16_relaxed_swizzle(x, m.r16)
}

#[inline(always)]
fn rotr63(x: v128) -> v128 {
    v128_or(i64x2_add(x, x), u64x2_shr(x, 63))
}

/// Two quarter rounds side by side: (a, b, c, d) hold one column's words in lane 0 and the
/// next column's in lane 1.
#[inline(always)]
fn quarter(a: &mut v128, b: &mut v128, c: &mut v128, d: &mut v128, m: Masks) {
    *a = blamka(*a, *b, m);
    *d = rotr32(v128_xor(*d, *a));
    *c = blamka(*c, *d, m);
    *b = rotr24(v128_xor(*b, *c), m);
    *a = blamka(*a, *b, m);
    *d = rotr16(v128_xor(*d, *a), m);
    *c = blamka(*c, *d, m);
    *b = rotr63(v128_xor(*b, *c));
}

/// One BLAKE2b round on sixteen words held as eight vectors (see the module's comment).
#[inline(always)]
fn round(v: [v128; 8], m: Masks) -> [v128; 8] {
    let [mut a0, mut a1, mut b0, mut b1, mut c0, mut c1, mut d0, mut d1] = v;
    quarter(&mut a0, &mut b0, &mut c0, &mut d0, m);
    quarter(&mut a1, &mut b1, &mut c1, &mut d1, m);
    // Diagonals: b as (v5,v6) (v7,v4), c as (v10,v11) (v8,v9), d as (v15,v12) (v13,v14).
    let (mut e0, mut e1) = (i64x2_shuffle::<1, 2>(b0, b1), i64x2_shuffle::<1, 2>(b1, b0));
    let (mut f0, mut f1) = (c1, c0);
    let (mut g0, mut g1) = (i64x2_shuffle::<1, 2>(d1, d0), i64x2_shuffle::<1, 2>(d0, d1));
    quarter(&mut a0, &mut e0, &mut f0, &mut g0, m);
    quarter(&mut a1, &mut e1, &mut f1, &mut g1, m);
    b0 = i64x2_shuffle::<1, 2>(e1, e0);
    b1 = i64x2_shuffle::<1, 2>(e0, e1);
    d0 = i64x2_shuffle::<1, 2>(g0, g1);
    d1 = i64x2_shuffle::<1, 2>(g1, g0);
    [a0, a1, b0, b1, f1, f0, d0, d1]
}
