//! The memory block and the compression function G on wasm's 128-bit SIMD lanes: the same
//! interface and results as [`crate::portable`], two `u64` words per `v128`.
//!
//! BLAKE2b's round works on a 4 × 4 matrix of words v0..v15; held as eight vectors
//! (v0,v1) (v2,v3) | (v4,v5) (v6,v7) | (v8,v9) (v10,v11) | (v12,v13) (v14,v15), each quarter
//! round runs on two columns at once. The diagonal step first rotates the b, c and d rows by one,
//! two and three words (across the vector pair), runs the same two-wide quarter rounds, and
//! rotates back. Both halves of P read vectors of two adjacent words: the rows of the block are
//! vectors 8i..8i+7, its columns vectors i, i+8, ..., i+56.
//!
//! What makes it fast inside workerd, each measured there (README of `bench/`):
//! - Two rows (then two columns) are computed side by side, so that the CPU always has a second
//!   independent chain of multiplies to run while one waits for its `pmuludq`.
//! - The final XOR with R = X ⊕ Y happens in the column pass, as each column is finished, with
//!   R kept from the row pass: one trip through the block instead of three.
//! - The crate is built at opt-level 3 even in the size-optimised Worker (the root Cargo.toml),
//!   which unrolls the loops over the eight vectors of a row; at "s" the kernel is 1.5× slower.
//! - LLVM rewrites a widening multiply of gathered low halves as a mask and a full 64-bit
//!   `i64x2.mul` (three `pmuludq` with shifts in V8), and V8 rebuilds each constant byte-shuffle
//!   mask with four scalar instructions at every use. So the byte permutations are relaxed
//!   swizzles (exact for in-range indices) by masks that LLVM cannot see (`black_box`, once per
//!   block): LLVM keeps the `extmul`, V8 keeps the masks in registers. Needs `relaxed-simd`.

use core::arch::wasm32::{
    i64x2_add, i64x2_shuffle, i8x16, i8x16_relaxed_swizzle, u32x4_shuffle, u64x2,
    u64x2_extmul_low_u32x4, u64x2_extract_lane, u64x2_shr, v128, v128_or, v128_xor,
};
use core::mem::MaybeUninit;

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
        if i.is_multiple_of(2) {
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
    /// `out` is only read when `xor_into`, so its old contents may be anything otherwise.
    pub fn compress(x: &Block, y: &Block, out: &mut Block, xor_into: bool) {
        if xor_into {
            Block::compress_into::<true>(x, y, out);
        } else {
            Block::compress_into::<false>(x, y, out);
        }
    }

    /// [`Block::compress`] with the choice made at compile time, out of the inner loop.
    #[inline(always)]
    fn compress_into<const XOR_INTO: bool>(x: &Block, y: &Block, out: &mut Block) {
        let (x, y) = (&x.0, &y.0);
        let m = Masks::new();
        // R = X ^ Y, kept for the final XOR, and Q, the block after P's row half, both filled
        // two rows at a time. They start uninitialised: zeroing them first (2 KiB a block) is
        // not removed by the optimiser and cost 3-5% of a hash inside workerd.
        let mut r = MaybeUninit::<[v128; 64]>::uninit();
        let mut q = MaybeUninit::<[v128; 64]>::uninit();
        let (rp, qp) = (r.as_mut_ptr().cast::<v128>(), q.as_mut_ptr().cast::<v128>());
        for pair in 0..4 {
            let at = 16 * pair;
            let first: [v128; 8] = core::array::from_fn(|k| v128_xor(x[at + k], y[at + k]));
            let second: [v128; 8] =
                core::array::from_fn(|k| v128_xor(x[at + 8 + k], y[at + 8 + k]));
            let (p_first, p_second) = round_pair(first, second, m);
            for k in 0..8 {
                // SAFETY: at + 8 + k < 64, inside both arrays.
                unsafe {
                    rp.add(at + k).write(first[k]);
                    rp.add(at + 8 + k).write(second[k]);
                    qp.add(at + k).write(p_first[k]);
                    qp.add(at + 8 + k).write(p_second[k]);
                }
            }
        }
        // SAFETY: the four pairs wrote vectors 16·pair + 0..16 of each, all 64.
        let (r, q) = unsafe { (r.assume_init(), q.assume_init()) };
        // P's column half, two columns at a time, each finished vector XORed with R (and with
        // the old block) on its way out.
        let out = &mut out.0;
        for pair in 0..4 {
            let column = 2 * pair;
            let (first, second) = round_pair(
                core::array::from_fn(|k| q[column + 8 * k]),
                core::array::from_fn(|k| q[column + 1 + 8 * k]),
                m,
            );
            for k in 0..8 {
                let (i, j) = (column + 8 * k, column + 1 + 8 * k);
                let (a, b) = (v128_xor(first[k], r[i]), v128_xor(second[k], r[j]));
                if XOR_INTO {
                    out[i] = v128_xor(out[i], a);
                    out[j] = v128_xor(out[j], b);
                } else {
                    out[i] = a;
                    out[j] = b;
                }
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

/// The diagonal operands of a set: b as (v5,v6) (v7,v4), c as (v10,v11) (v8,v9), d as
/// (v15,v12) (v13,v14); [`undiagonalize`] puts them back.
#[inline(always)]
fn diagonalize(v: [v128; 8]) -> [v128; 8] {
    let [a0, a1, b0, b1, c0, c1, d0, d1] = v;
    [
        a0,
        a1,
        i64x2_shuffle::<1, 2>(b0, b1),
        i64x2_shuffle::<1, 2>(b1, b0),
        c1,
        c0,
        i64x2_shuffle::<1, 2>(d1, d0),
        i64x2_shuffle::<1, 2>(d0, d1),
    ]
}

#[inline(always)]
fn undiagonalize(v: [v128; 8]) -> [v128; 8] {
    let [a0, a1, e0, e1, f0, f1, g0, g1] = v;
    [
        a0,
        a1,
        i64x2_shuffle::<1, 2>(e1, e0),
        i64x2_shuffle::<1, 2>(e0, e1),
        f1,
        f0,
        i64x2_shuffle::<1, 2>(g0, g1),
        i64x2_shuffle::<1, 2>(g1, g0),
    ]
}

/// The quarter rounds of one step on two sets of eight vectors, the sets' turns interleaved.
#[inline(always)]
fn step_pair(v: &mut [v128; 8], w: &mut [v128; 8], m: Masks) {
    let [a0, a1, b0, b1, c0, c1, d0, d1] = v;
    let [e0, e1, f0, f1, g0, g1, h0, h1] = w;
    quarter(a0, b0, c0, d0, m);
    quarter(e0, f0, g0, h0, m);
    quarter(a1, b1, c1, d1, m);
    quarter(e1, f1, g1, h1, m);
}

/// One BLAKE2b round on each of two independent sets of sixteen words, step by step, the two
/// sets' quarter rounds in turn.
#[inline(always)]
fn round_pair(mut v: [v128; 8], mut w: [v128; 8], m: Masks) -> ([v128; 8], [v128; 8]) {
    step_pair(&mut v, &mut w, m);
    let (mut v, mut w) = (diagonalize(v), diagonalize(w));
    step_pair(&mut v, &mut w, m);
    (undiagonalize(v), undiagonalize(w))
}
