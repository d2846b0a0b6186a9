//! The wasm kernel inside workerd, as a bare wasm module with three exports:
//! - `selftest(seed, cases, corrupt)`: the number of random cases where this crate and the
//!   `argon2` crate disagree (whole hashes over every variant, version, lane count and small
//!   cost, and single compressions of random blocks by the SIMD and the portable G). With
//!   `corrupt` set, one byte of the first result is flipped, so that the count cannot be zero.
//! - `hash_ours(n, m_kib, t)` and `hash_crate(n, m_kib, t)`: `n` argon2id hashes (p = 1, a
//!   32-byte tag) by this crate or by the `argon2` crate, for timing; they return the first four
//!   bytes of the last tag.
//!
//! Built for wasm32 with the Worker's target features by tests/argon2-simd.spec.ts and
//! bench/argon2-kernel.mjs.

use argon2::{Algorithm, Argon2, AssociatedData, ParamsBuilder};
use edge_argon2id::{hash, Params, Variant, Version};

/// splitmix64: a small seeded generator, enough for test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, min: u64, max: u64) -> Vec<u8> {
        let len = min + self.below(max - min + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

const PASSWORD: &[u8] = b"correct horse battery staple";
const SALT: &[u8] = &[0x5a; 16];

/// One random whole-hash case; true when both crates give the same tag.
fn hash_case(rng: &mut Rng, corrupt: bool) -> bool {
    let (variant, algorithm) = match rng.below(3) {
        0 => (Variant::D, Algorithm::Argon2d),
        1 => (Variant::I, Algorithm::Argon2i),
        _ => (Variant::Id, Algorithm::Argon2id),
    };
    let (version, crate_version) = if rng.below(4) == 0 {
        (Version::V10, argon2::Version::V0x10)
    } else {
        (Version::V13, argon2::Version::V0x13)
    };
    let lanes = 1 + rng.below(4) as u32;
    let memory_kib = 8 * lanes + rng.below(300) as u32;
    let passes = 1 + rng.below(3) as u32;
    let password = rng.bytes(0, 64);
    let salt = rng.bytes(8, 32);
    let secret = rng.bytes(0, 16);
    let data = rng.bytes(0, 16);
    let tag_len = 4 + rng.below(61) as usize;

    let mut builder = ParamsBuilder::new();
    builder
        .m_cost(memory_kib)
        .t_cost(passes)
        .p_cost(lanes)
        .output_len(tag_len);
    if !data.is_empty() {
        builder.data(AssociatedData::new(&data).expect("at most 32 bytes"));
    }
    let crate_params = builder.build().expect("valid parameters");
    let mut expected = vec![0u8; tag_len];
    Argon2::new_with_secret(&secret, algorithm, crate_version, crate_params)
        .expect("a short secret")
        .hash_password_into(&password, &salt, &mut expected)
        .expect("the crate hashes");

    let params = Params {
        memory_kib,
        passes,
        lanes,
        variant,
        version,
    };
    let mut ours = vec![0u8; tag_len];
    if hash(params, &password, &salt, &secret, &data, &mut ours).is_err() {
        return false;
    }
    if corrupt {
        ours[0] ^= 1;
    }
    ours == expected
}

/// One random compression, XORed into the output block or not; true when the SIMD and the
/// portable G agree.
#[cfg(all(target_feature = "simd128", target_feature = "relaxed-simd"))]
fn compress_case(rng: &mut Rng) -> bool {
    use edge_argon2id::{portable, simd128};
    let words = |rng: &mut Rng| -> Vec<u64> { (0..128).map(|_| rng.next()).collect() };
    let (x, y, old) = (words(rng), words(rng), words(rng));
    let xor_into = rng.below(2) == 0;
    let mut ours = simd128::Block::from_words(&old);
    simd128::Block::compress(
        &simd128::Block::from_words(&x),
        &simd128::Block::from_words(&y),
        &mut ours,
        xor_into,
    );
    let mut reference = portable::Block::from_words(&old);
    portable::Block::compress(
        &portable::Block::from_words(&x),
        &portable::Block::from_words(&y),
        &mut reference,
        xor_into,
    );
    let (mut a, mut b) = ([0u8; 1024], [0u8; 1024]);
    ours.write_bytes(&mut a);
    reference.write_bytes(&mut b);
    a == b
}

/// Without the SIMD kernel there is nothing to compare with the portable G.
#[cfg(not(all(target_feature = "simd128", target_feature = "relaxed-simd")))]
fn compress_case(_rng: &mut Rng) -> bool {
    false
}

#[no_mangle]
pub extern "C" fn selftest(seed: u32, cases: u32, corrupt: u32) -> u32 {
    let mut rng = Rng(u64::from(seed));
    let mut failures = 0;
    for case in 0..cases {
        if !hash_case(&mut rng, corrupt != 0 && case == 0) {
            failures += 1;
        }
        if !compress_case(&mut rng) {
            failures += 1;
        }
    }
    failures
}

fn first_four(tag: &[u8; 32]) -> u32 {
    u32::from_le_bytes([tag[0], tag[1], tag[2], tag[3]])
}

#[no_mangle]
pub extern "C" fn hash_ours(n: u32, memory_kib: u32, passes: u32) -> u32 {
    let params = Params {
        memory_kib,
        passes,
        lanes: 1,
        variant: Variant::Id,
        version: Version::V13,
    };
    let mut tag = [0u8; 32];
    for _ in 0..n {
        if hash(params, PASSWORD, SALT, &[], &[], &mut tag).is_err() {
            return 0;
        }
    }
    first_four(&tag)
}

#[no_mangle]
pub extern "C" fn hash_crate(n: u32, memory_kib: u32, passes: u32) -> u32 {
    let Ok(params) = argon2::Params::new(memory_kib, passes, 1, Some(32)) else {
        return 0;
    };
    let argon2 = Argon2::new(Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut tag = [0u8; 32];
    for _ in 0..n {
        if argon2.hash_password_into(PASSWORD, SALT, &mut tag).is_err() {
            return 0;
        }
    }
    first_four(&tag)
}
