//! The module against RFC 9106's test vectors, the reference implementation's test cases, and
//! the `argon2` crate on random inputs.

use super::*;
use proptest::prelude::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 9106 §5 (and the reference implementation's test vectors for version 0x10): m=32 t=3
/// p=4, 32 bytes of 0x01 as the password, 16 of 0x02 as salt, 8 of 0x03 as secret, 12 of 0x04
/// as associated data, a 32-byte tag.
fn rfc_vector(variant: Variant, version: Version) -> Vec<u8> {
    let params = Params {
        memory_kib: 32,
        passes: 3,
        lanes: 4,
        variant,
        version,
    };
    let mut out = [0u8; 32];
    hash(params, &[1; 32], &[2; 16], &[3; 8], &[4; 12], &mut out).unwrap();
    out.to_vec()
}

#[test]
fn rfc_9106_argon2id_vector() {
    assert_eq!(
        rfc_vector(Variant::Id, Version::V13),
        unhex("0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659")
    );
}

#[test]
fn rfc_9106_argon2d_and_argon2i_vectors() {
    assert_eq!(
        rfc_vector(Variant::D, Version::V13),
        unhex("512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb")
    );
    assert_eq!(
        rfc_vector(Variant::I, Version::V13),
        unhex("c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8")
    );
}

#[test]
fn version_0x10_vectors() {
    assert_eq!(
        rfc_vector(Variant::Id, Version::V10),
        unhex("b64615f07789b66b645b67ee9ed3b377ae350b6bfcbb0fc95141ea8f322613c0")
    );
    assert_eq!(
        rfc_vector(Variant::D, Version::V10),
        unhex("96a9d4e5a1734092c85e29f410a45914a5dd1f5cbf08b2670da68a0285abf32b")
    );
    assert_eq!(
        rfc_vector(Variant::I, Version::V10),
        unhex("87aeedd6517ab830cd9765cd8231abb2e647a5dee08f7c05e02fcb763335d0fd")
    );
}

/// The reference implementation's argon2id cases (its test.c): password "password", salt
/// "somesalt", 32-byte tags, at 2^m KiB.
#[test]
fn reference_implementation_argon2id_cases() {
    for (t, log_m, p, password, salt, tag) in [
        (
            2,
            8,
            1,
            "password",
            "somesalt",
            "9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe",
        ),
        (
            2,
            8,
            2,
            "password",
            "somesalt",
            "6d093c501fd5999645e0ea3bf620d7b8be7fd2db59c20d9fff9539da2bf57037",
        ),
        (
            2,
            16,
            1,
            "password",
            "somesalt",
            "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7",
        ),
        (
            1,
            16,
            1,
            "password",
            "somesalt",
            "f6a5adc1ba723dddef9b5ac1d464e180fcd9dffc9d1cbf76cca2fed795d9ca98",
        ),
        (
            2,
            16,
            1,
            "differentpassword",
            "somesalt",
            "0b84d652cf6b0c4beaef0dfe278ba6a80df6696281d7e0d2891b817d8c458fde",
        ),
        (
            2,
            16,
            1,
            "password",
            "diffsalt",
            "bdf32b05ccc42eb15d58fd19b1f856b113da1e9a5874fdcc544308565aa8141c",
        ),
    ] {
        let params = Params {
            memory_kib: 1 << log_m,
            passes: t,
            lanes: p,
            variant: Variant::Id,
            version: Version::V13,
        };
        let mut out = [0u8; 32];
        hash(
            params,
            password.as_bytes(),
            salt.as_bytes(),
            &[],
            &[],
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out.to_vec(),
            unhex(tag),
            "t={t} m=2^{log_m} p={p} {password} {salt}"
        );
    }
}

#[test]
fn tags_of_any_length_match_h_prime() {
    // Tags up to 64 bytes are one BLAKE2b; longer ones chain them (RFC 9106 §3.3).
    for len in [4, 31, 32, 33, 64, 65, 96, 97, 128, 200] {
        let params = Params {
            memory_kib: 16,
            passes: 1,
            lanes: 1,
            variant: Variant::Id,
            version: Version::V13,
        };
        let mut ours = vec![0u8; len];
        hash(params, b"pw", b"saltsalt", &[], &[], &mut ours).unwrap();
        let theirs = crate_hash(params, b"pw", b"saltsalt", &[], &[], len);
        assert_eq!(ours, theirs, "tag length {len}");
    }
}

#[test]
fn undefined_parameters_are_refused() {
    let ok = Params {
        memory_kib: 16,
        passes: 1,
        lanes: 2,
        variant: Variant::Id,
        version: Version::V13,
    };
    let mut out = [0u8; 32];
    assert!(hash(ok, b"pw", b"saltsalt", &[], &[], &mut out).is_ok());
    for bad in [
        Params {
            memory_kib: 15,
            ..ok
        },
        Params { passes: 0, ..ok },
        Params { lanes: 0, ..ok },
    ] {
        assert_eq!(
            hash(bad, b"pw", b"saltsalt", &[], &[], &mut out),
            Err(BadParams),
            "{bad:?}"
        );
    }
    assert_eq!(
        hash(ok, b"pw", b"saltsalt", &[], &[], &mut [0u8; 3]),
        Err(BadParams)
    );
}

/// The `argon2` crate's answer for the same inputs.
fn crate_hash(
    params: Params,
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    associated: &[u8],
    len: usize,
) -> Vec<u8> {
    let mut builder = argon2::ParamsBuilder::new();
    builder
        .m_cost(params.memory_kib)
        .t_cost(params.passes)
        .p_cost(params.lanes)
        .output_len(len)
        .data(argon2::AssociatedData::new(associated).unwrap());
    let algorithm = match params.variant {
        Variant::D => argon2::Algorithm::Argon2d,
        Variant::I => argon2::Algorithm::Argon2i,
        Variant::Id => argon2::Algorithm::Argon2id,
    };
    let version = match params.version {
        Version::V10 => argon2::Version::V0x10,
        Version::V13 => argon2::Version::V0x13,
    };
    let built = builder.build().unwrap();
    let ctx = if secret.is_empty() {
        argon2::Argon2::new(algorithm, version, built)
    } else {
        argon2::Argon2::new_with_secret(secret, algorithm, version, built).unwrap()
    };
    let mut out = vec![0u8; len];
    ctx.hash_password_into(password, salt, &mut out).unwrap();
    out
}

fn variant() -> impl Strategy<Value = Variant> {
    prop_oneof![Just(Variant::Id), Just(Variant::I), Just(Variant::D)]
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V13), Just(Version::V10)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any variant, version, small memory (including sizes that are not a multiple of 4p and
    /// segments longer than one address block), passes, lanes, input lengths and tag length.
    #[test]
    fn matches_the_argon2_crate(
        variant in variant(),
        version in version(),
        lanes in 1u32..=5,
        extra_kib in 0u32..600,
        passes in 1u32..=3,
        password in proptest::collection::vec(any::<u8>(), 0..80),
        salt in proptest::collection::vec(any::<u8>(), 8..40),
        secret in proptest::collection::vec(any::<u8>(), 0..10),
        associated in proptest::collection::vec(any::<u8>(), 0..33),
        len in 4usize..100,
    ) {
        let params = Params { memory_kib: 8 * lanes + extra_kib, passes, lanes, variant, version };
        let mut ours = vec![0u8; len];
        hash(params, &password, &salt, &secret, &associated, &mut ours).unwrap();
        prop_assert_eq!(ours, crate_hash(params, &password, &salt, &secret, &associated, len));
    }
}
