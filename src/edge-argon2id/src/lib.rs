//! Argon2 (RFC 9106) for djoser-edge, written so that the Worker runs its compression function
//! on wasm's 128-bit SIMD lanes: the `argon2` crate has no wasm SIMD path, and inside workerd its
//! scalar code takes about twice the native time. Results are byte-identical to the crate's
//! (tested against RFC 9106's vectors and, on random inputs, against the crate).
//!
//! All three variants (argon2id for new hashes; argon2i and argon2d only so that any stored PHC
//! string keeps verifying), versions 0x13 and 0x10, any lane count, secret and associated data.
//! Lanes are filled one after the other (a Worker has one thread); the result does not depend on
//! the order, since a segment only references finished segments of other lanes.
//!
//! The block type and its compression function G come in two versions with the same interface:
//! [`portable`] (plain `u64` arithmetic, the host's, where the unit tests run it) and `simd128`
//! (`core::arch::wasm32` v128 lanes of two `u64`), chosen by the `simd128` and `relaxed-simd`
//! target features, which the Worker's build enables (scripts/build.sh). The `probe` example runs
//! the wasm kernel against the `argon2` crate inside workerd (tests/argon2-simd.spec.ts) and times
//! it (`npm run bench:argon2-kernel`).
//!
//! Parameters are validated by the caller (the service uses the `argon2` crate's `Params` for
//! that, so this crate accepts exactly what the crate accepts); [`hash`] only refuses what would
//! make the algorithm itself undefined.

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;

#[cfg_attr(
    all(
        target_arch = "wasm32",
        target_feature = "simd128",
        target_feature = "relaxed-simd"
    ),
    allow(dead_code)
)]
pub mod portable;
#[cfg(all(
    target_arch = "wasm32",
    target_feature = "simd128",
    target_feature = "relaxed-simd"
))]
pub mod simd128;

#[cfg(not(all(
    target_arch = "wasm32",
    target_feature = "simd128",
    target_feature = "relaxed-simd"
)))]
use portable::Block;
#[cfg(all(
    target_arch = "wasm32",
    target_feature = "simd128",
    target_feature = "relaxed-simd"
))]
use simd128::Block;

/// Bytes in a memory block.
const BLOCK_BYTES: usize = 1024;
/// Segments per lane pass (the synchronisation points).
const SLICES: usize = 4;
/// Reference indices per address block (one `u64` each).
const ADDRESSES_PER_BLOCK: usize = 128;

/// Which Argon2: the `y` of RFC 9106's H0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Data-dependent indexing throughout.
    D = 0,
    /// Data-independent indexing throughout.
    I = 1,
    /// Data-independent in the first half of the first pass, data-dependent after.
    Id = 2,
}

/// The algorithm's version: 0x13 XORs each new block into the old one on later passes, 0x10
/// overwrites it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 0x10.
    V10 = 0x10,
    /// 0x13, RFC 9106's.
    V13 = 0x13,
}

/// The cost and shape of one hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Memory in KiB (m); at least 8 × lanes.
    pub memory_kib: u32,
    /// Passes (t); at least 1.
    pub passes: u32,
    /// Lanes (p); at least 1.
    pub lanes: u32,
    /// Variant.
    pub variant: Variant,
    /// Version.
    pub version: Version,
}

/// Parameters under which Argon2 is not defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadParams;

impl core::fmt::Display for BadParams {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("argon2 parameters out of range")
    }
}

impl std::error::Error for BadParams {}

/// Argon2 of `password` and `salt` with `secret` (K) and `associated` data (X), filling `out`
/// (the tag length T is `out.len()`, at least 4 bytes).
pub fn hash(
    params: Params,
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    associated: &[u8],
    out: &mut [u8],
) -> Result<(), BadParams> {
    let lanes = params.lanes as usize;
    if lanes == 0
        || params.passes == 0
        || out.len() < 4
        || u64::from(params.memory_kib) < 8 * lanes as u64
        || [
            password.len(),
            salt.len(),
            secret.len(),
            associated.len(),
            out.len(),
        ]
        .iter()
        .any(|&n| u32::try_from(n).is_err())
    {
        return Err(BadParams);
    }
    // m' = 4p⌊m / 4p⌋ blocks, q = m' / p per lane.
    let lane_len = params.memory_kib as usize / (SLICES * lanes) * SLICES;
    let mut memory = Memory {
        blocks: take_memory(lane_len * lanes),
        lanes,
        lane_len,
        segment_len: lane_len / SLICES,
        params,
    };

    let h0 = initial_hash(params, password, salt, secret, associated, out.len())?;
    let mut bytes = [0u8; BLOCK_BYTES];
    for lane in 0..lanes {
        for column in 0..2u32 {
            let mut h0_ext = [0u8; 72];
            h0_ext[..64].copy_from_slice(&h0);
            h0_ext[64..68].copy_from_slice(&column.to_le_bytes());
            h0_ext[68..].copy_from_slice(&(lane as u32).to_le_bytes());
            h_prime(&mut bytes, &[&h0_ext])?;
            memory.blocks[lane * lane_len + column as usize] = Block::from_bytes(&bytes);
        }
    }

    for pass in 0..params.passes as usize {
        for slice in 0..SLICES {
            for lane in 0..lanes {
                memory.fill_segment(pass, slice, lane);
            }
        }
    }

    let mut last = memory.blocks[lane_len - 1];
    for lane in 1..lanes {
        last.xor_assign(&memory.blocks[lane * lane_len + lane_len - 1]);
    }
    last.write_bytes(&mut bytes);
    give_back_memory(memory.blocks);
    h_prime(out, &[&bytes])
}

thread_local! {
    /// The last hash's memory, kept for the next one: a Worker isolate hashes one password after
    /// another, and allocating and zeroing 19 MiB each time cost 5% of a hash. wasm memory never
    /// shrinks, so the isolate holds the largest hash's memory either way; kept here, it only
    /// cannot serve other allocations between hashes.
    static MEMORY: core::cell::Cell<Vec<Block>> = const { core::cell::Cell::new(Vec::new()) };
}

/// `blocks` blocks of memory, their contents left over from an earlier hash: Argon2 writes every
/// block before it reads it (the first two of each lane from H', the others by G without XOR in
/// the first pass), so stale contents are never read.
fn take_memory(blocks: usize) -> Vec<Block> {
    let mut memory = MEMORY.with(|m| m.take());
    if memory.capacity() < blocks {
        // Free the smaller buffer before the larger one is allocated, never both at once: a
        // Django hash of 100 MiB after the service's 19 MiB must fit in a Worker's 128 MB.
        memory = Vec::new();
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::ZERO);
    }
    memory.truncate(blocks);
    memory
}

fn give_back_memory(memory: Vec<Block>) {
    MEMORY.with(|m| m.set(memory));
}

/// H0: BLAKE2b-512 over the parameters and inputs, each input preceded by its length.
fn initial_hash(
    params: Params,
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    associated: &[u8],
    tag_len: usize,
) -> Result<[u8; 64], BadParams> {
    let mut h = Blake2bVar::new(64).map_err(|_| BadParams)?;
    for word in [
        params.lanes,
        tag_len as u32,
        params.memory_kib,
        params.passes,
        params.version as u32,
        params.variant as u32,
    ] {
        h.update(&word.to_le_bytes());
    }
    for input in [password, salt, secret, associated] {
        h.update(&(input.len() as u32).to_le_bytes());
        h.update(input);
    }
    let mut h0 = [0u8; 64];
    h.finalize_variable(&mut h0).map_err(|_| BadParams)?;
    Ok(h0)
}

/// BLAKE2b of `parts`, concatenated, with `out.len()` (1 to 64) bytes of output; the error
/// (another length) cannot happen from [`h_prime`].
fn blake2b(out: &mut [u8], parts: &[&[u8]]) -> Result<(), BadParams> {
    let mut h = Blake2bVar::new(out.len()).map_err(|_| BadParams)?;
    for part in parts {
        h.update(part);
    }
    h.finalize_variable(out).map_err(|_| BadParams)
}

/// H': RFC 9106's variable-length hash of `parts`, concatenated, filling `out`.
fn h_prime(out: &mut [u8], parts: &[&[u8]]) -> Result<(), BadParams> {
    let len = (out.len() as u32).to_le_bytes();
    let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
    all.push(&len);
    all.extend_from_slice(parts);
    if out.len() <= 64 {
        return blake2b(out, &all);
    }
    // V1 = H(len ‖ parts); Vi = H(Vi-1); the first 32 bytes of each, then the whole last one.
    let mut v = [0u8; 64];
    blake2b(&mut v, &all)?;
    out[..32].copy_from_slice(&v[..32]);
    let mut at = 32;
    while out.len() - at > 64 {
        let prev = v;
        blake2b(&mut v, &[&prev])?;
        out[at..at + 32].copy_from_slice(&v[..32]);
        at += 32;
    }
    let prev = v;
    blake2b(&mut out[at..], &[&prev])
}

/// The next block of reference indices: G(0, G(0, input)) with the counter advanced.
fn next_addresses(counter: &mut [u64; 7], addresses: &mut Block) {
    counter[6] += 1;
    let input = Block::from_words(counter);
    let mut once = Block::ZERO;
    Block::compress(&Block::ZERO, &input, &mut once, false);
    Block::compress(&Block::ZERO, &once, addresses, false);
}

/// The memory matrix: `lanes` rows of `lane_len` blocks, row after row.
struct Memory {
    blocks: Vec<Block>,
    lanes: usize,
    lane_len: usize,
    segment_len: usize,
    params: Params,
}

impl Memory {
    /// Computes the blocks of one segment (`slice` of `lane` in `pass`).
    fn fill_segment(&mut self, pass: usize, slice: usize, lane: usize) {
        let data_independent = match self.params.variant {
            Variant::I => true,
            Variant::D => false,
            Variant::Id => pass == 0 && slice < SLICES / 2,
        };
        let xor_into_old = pass > 0 && self.params.version == Version::V13;
        // The address generator's input: pass, lane, slice, m', t, y, then a counter.
        let mut counter = [
            pass as u64,
            lane as u64,
            slice as u64,
            self.blocks.len() as u64,
            u64::from(self.params.passes),
            self.params.variant as u64,
            0,
        ];
        let mut addresses = Block::ZERO;

        let first = if pass == 0 && slice == 0 { 2 } else { 0 };
        if data_independent && first != 0 {
            next_addresses(&mut counter, &mut addresses);
        }
        let lane_start = lane * self.lane_len;
        for index in first..self.segment_len {
            let column = slice * self.segment_len + index;
            let prev = lane_start + if column == 0 { self.lane_len } else { column } - 1;
            let rand = if data_independent {
                if index % ADDRESSES_PER_BLOCK == 0 {
                    next_addresses(&mut counter, &mut addresses);
                }
                addresses.word(index % ADDRESSES_PER_BLOCK)
            } else {
                self.blocks[prev].word(0)
            };
            // A division costs more than the rest of this loop; one lane needs none.
            let ref_lane = if (pass == 0 && slice == 0) || self.lanes == 1 {
                lane
            } else {
                ((rand >> 32) % self.lanes as u64) as usize
            };
            let ref_column =
                self.reference_column(pass, slice, index, rand as u32, ref_lane == lane);
            let reference = ref_lane * self.lane_len + ref_column;
            // Neither the previous nor the reference block is the current one: borrow around it.
            let current = lane_start + column;
            let (before, rest) = self.blocks.split_at_mut(current);
            let Some((out, after)) = rest.split_first_mut() else {
                return;
            };
            let other = |i: usize| {
                if i < current {
                    &before[i]
                } else {
                    &after[i - current - 1]
                }
            };
            Block::compress(other(prev), other(reference), out, xor_into_old);
        }
    }

    /// The column of the reference block in its lane (RFC 9106 §3.4.2): `j1` mapped
    /// non-uniformly onto the blocks that may be referenced from here.
    fn reference_column(
        &self,
        pass: usize,
        slice: usize,
        index: usize,
        j1: u32,
        same_lane: bool,
    ) -> usize {
        let seg = self.segment_len;
        let area = match (pass, same_lane) {
            // Everything computed so far in this lane but the previous block.
            (0, true) => slice * seg + index - 1,
            // The other lane's finished segments; one fewer at a segment's start.
            (0, false) => slice * seg - usize::from(index == 0),
            // The last three segments and this one's blocks so far, but the previous block.
            (_, true) => self.lane_len - seg + index - 1,
            (_, false) => self.lane_len - seg - usize::from(index == 0),
        } as u64;
        let x = (u64::from(j1) * u64::from(j1)) >> 32;
        let relative = area - 1 - ((area * x) >> 32);
        let start = if pass != 0 && slice != SLICES - 1 {
            (slice + 1) * seg
        } else {
            0
        };
        // start and relative are both under the lane length: a subtraction, not a division.
        let column = start + relative as usize;
        if column >= self.lane_len {
            column - self.lane_len
        } else {
            column
        }
    }
}

#[cfg(test)]
mod tests;
