//! `.npz` archives as NumPy writes them (`np.savez`, and `np.savez_compressed`, the usual way)
//! read value for value; archives vle writes, stored or compressed, read back; damaged archives
//! (a wrong CRC-32, any truncation) refused with an error naming the file, never a panic.

use std::path::PathBuf;

use vle_runtime::io::npy::{npz_bytes, npz_bytes_compressed, parse_npz};
use vle_runtime::io::{read_npz, write_npz, write_npz_compressed, Array, Data};

/// The arrays of `tests/data/npz_fixtures.py`.
fn expected() -> Vec<(String, Array)> {
    let z = (0..200).map(|i| (i % 5) as f32 / 4.0).collect();
    vec![
        (
            "x".into(),
            Array::from_f64(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]).unwrap(),
        ),
        (
            "y".into(),
            Array::from_i64(vec![8], vec![3, 1, 4, 1, 5, 9, 2, 6]).unwrap(),
        ),
        ("z".into(), Array::from_f32(vec![200], z).unwrap()),
        (
            "mask".into(),
            Array::new(vec![3], Data::Bool(vec![true, false, true])).unwrap(),
        ),
        (
            "labels".into(),
            Array::new(vec![2, 1], Data::U8(vec![0, 255])).unwrap(),
        ),
    ]
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn pairs(arrays: &[(String, Array)]) -> Vec<(&str, &Array)> {
    arrays.iter().map(|(n, a)| (n.as_str(), a)).collect()
}

#[test]
fn archives_written_by_numpy_are_read_compressed_or_not() {
    for file in ["savez.npz", "savez_compressed.npz"] {
        let arrays = read_npz(fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(arrays, expected(), "{file}");
    }
}

#[test]
fn stored_and_compressed_archives_round_trip() {
    let arrays = expected();
    let dir = std::env::temp_dir().join(format!("vle-npz-round-trip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (stored, compressed) = (dir.join("s.npz"), dir.join("c.npz"));
    write_npz(&stored, &pairs(&arrays)).unwrap();
    write_npz_compressed(&compressed, &pairs(&arrays)).unwrap();
    assert_eq!(read_npz(&stored).unwrap(), arrays);
    assert_eq!(read_npz(&compressed).unwrap(), arrays);
    // The compressed archive is smaller (z repeats a pattern of five values) and the bytes
    // depend on the arrays alone, so that equal results give equal files.
    let (s, c) = (
        std::fs::read(&stored).unwrap(),
        std::fs::read(&compressed).unwrap(),
    );
    assert!(c.len() < s.len(), "{} >= {}", c.len(), s.len());
    assert_eq!(s, npz_bytes(&pairs(&arrays)).unwrap());
    assert_eq!(c, npz_bytes_compressed(&pairs(&arrays)).unwrap());
    // Atomic writes leave no temporary files behind.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
    // An empty archive, and a name given twice.
    assert_eq!(
        parse_npz(&npz_bytes(&[]).unwrap(), "e.npz").unwrap(),
        vec![]
    );
    let x = &arrays[0].1;
    let e = npz_bytes_compressed(&[("x", x), ("x", x)]).unwrap_err();
    assert!(e.to_string().contains("`x` appears twice"), "{e}");
}

/// Offsets of the central-directory entries (signature PK\1\2) of an archive.
fn central_entries(bytes: &[u8]) -> Vec<usize> {
    (0..bytes.len().saturating_sub(4))
        .filter(|&i| bytes[i..i + 4] == *b"PK\x01\x02")
        .collect()
}

#[test]
fn a_wrong_crc_is_refused_naming_the_member() {
    for file in ["savez.npz", "savez_compressed.npz"] {
        let good = std::fs::read(fixture(file)).unwrap();
        // The CRC-32 the central directory stores for the first member (x.npy), off by one:
        // the data is intact, only the check fails.
        let mut bad = good.clone();
        bad[central_entries(&good)[0] + 16] ^= 1;
        let e = parse_npz(&bad, file).unwrap_err().to_string();
        assert!(
            e.contains(file) && e.contains("x.npy") && e.contains("CRC"),
            "{e}"
        );
    }
    // A flipped data byte in a stored member: the CRC catches it.
    let good = std::fs::read(fixture("savez.npz")).unwrap();
    let data = good.windows(6).position(|w| w == b"\x93NUMPY").unwrap();
    let mut bad = good.clone();
    bad[data + 150] ^= 0x40;
    let e = parse_npz(&bad, "savez.npz").unwrap_err().to_string();
    assert!(e.contains("CRC"), "{e}");
}

#[test]
fn every_truncation_is_refused_without_a_panic() {
    for file in ["savez.npz", "savez_compressed.npz"] {
        let good = std::fs::read(fixture(file)).unwrap();
        for k in 0..good.len() {
            let r = std::panic::catch_unwind(|| parse_npz(&good[..k], file));
            let r = r.unwrap_or_else(|_| panic!("{file} cut at {k}: panicked"));
            let e = r.expect_err(&format!("{file} cut at {k} bytes was read"));
            assert!(e.to_string().contains(file), "{e}");
        }
    }
}

#[test]
fn damaged_compressed_archives_never_panic() {
    let good = std::fs::read(fixture("savez_compressed.npz")).unwrap();
    let mut refused = 0;
    for i in 0..good.len() {
        for flip in [0x01u8, 0x10, 0x80] {
            let mut b = good.clone();
            b[i] ^= flip;
            let r = std::panic::catch_unwind(|| parse_npz(&b, "c.npz"));
            let r = r.unwrap_or_else(|_| panic!("byte {i} ^ {flip:#x}: panicked"));
            // The CRC-32 covers each member's data, not the metadata: a damaged date or
            // attribute goes unnoticed (harmlessly), and so does a damaged member name, which
            // renames an array. The values must then be exactly the original ones, in order.
            match r {
                Ok(arrays) => {
                    let values = |v: Vec<(String, Array)>| v.into_iter().map(|(_, a)| a);
                    let (got, want) = (values(arrays), values(expected()));
                    assert!(got.eq(want), "byte {i} ^ {flip:#x}")
                }
                Err(_) => refused += 1,
            }
        }
    }
    println!(
        "{refused} of {} single-byte corruptions refused",
        3 * good.len()
    );
    assert!(
        refused > good.len(),
        "{refused} of {} refused",
        3 * good.len()
    );
}
