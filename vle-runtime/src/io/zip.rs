//! The part of the zip format that `.npz` files use, written by hand: reading the central
//! directory (with zip64 sizes and offsets, as `np.savez` writes them) and STORED members,
//! and writing STORED archives. Compressed members are refused with a message saying how to
//! write the file uncompressed. Every length and offset is checked before use, so a truncated
//! or corrupted archive gives an error, never a panic.

/// One member of an archive, as read.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The member's file name in the archive, e.g. `x.npy`.
    pub name: String,
    /// Its (uncompressed) content.
    pub data: Vec<u8>,
}

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as zip uses.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// Bounds-checked little-endian reads; errors say what was being read.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn slice(&self, at: usize, len: usize, what: &str) -> Result<&[u8], String> {
        at.checked_add(len)
            .and_then(|end| self.bytes.get(at..end))
            .ok_or_else(|| {
                format!(
                    "truncated or corrupted zip archive: {what} at byte {at} (+{len}) lies beyond \
                     the end of the file ({} bytes)",
                    self.bytes.len()
                )
            })
    }
    fn u16(&self, at: usize, what: &str) -> Result<u16, String> {
        let s = self.slice(at, 2, what)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&self, at: usize, what: &str) -> Result<u32, String> {
        let s = self.slice(at, 4, what)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&self, at: usize, what: &str) -> Result<u64, String> {
        let s = self.slice(at, 8, what)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(s);
        Ok(u64::from_le_bytes(b))
    }
}

fn to_usize(v: u64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("corrupted zip archive: {what} ({v}) is too large"))
}

/// Finds the end-of-central-directory record: (entries, central directory size, offset).
fn end_record(r: &Reader<'_>) -> Result<(usize, usize, usize), String> {
    let len = r.bytes.len();
    if len < 22 {
        return Err(format!(
            "not a zip archive: {len} bytes, too short for the end-of-directory record (22 bytes); \
             the file is truncated or not an .npz"
        ));
    }
    let lowest = (len - 22).saturating_sub(0xFFFF);
    let at = (lowest..=len - 22)
        .rev()
        .find(|&i| r.u32(i, "").ok() == Some(EOCD_SIG))
        .ok_or_else(|| {
            "not a zip archive (no end-of-central-directory record): the file is truncated, \
             corrupted or not an .npz"
                .to_string()
        })?;
    let entries = r.u16(at + 10, "the number of entries")?;
    let size = r.u32(at + 12, "the central directory's size")?;
    let offset = r.u32(at + 16, "the central directory's offset")?;
    if entries != 0xFFFF && size != 0xFFFF_FFFF && offset != 0xFFFF_FFFF {
        return Ok((entries.into(), size as usize, offset as usize));
    }
    // Zip64: a locator right before the record points to the zip64 end record.
    let loc = at
        .checked_sub(20)
        .ok_or("corrupted zip archive: zip64 values without a zip64 locator")?;
    if r.u32(loc, "the zip64 locator")? != ZIP64_LOCATOR_SIG {
        return Err("corrupted zip archive: zip64 values without a zip64 locator".into());
    }
    let z = to_usize(r.u64(loc + 8, "the zip64 record's offset")?, "offset")?;
    if r.u32(z, "the zip64 end record")? != ZIP64_EOCD_SIG {
        return Err("corrupted zip archive: the zip64 end record is missing".into());
    }
    Ok((
        to_usize(r.u64(z + 32, "the number of entries")?, "entries")?,
        to_usize(r.u64(z + 40, "the central directory's size")?, "size")?,
        to_usize(r.u64(z + 48, "the central directory's offset")?, "offset")?,
    ))
}

/// Reads every member of a zip archive held in `bytes`. Only STORED (uncompressed) members
/// are supported; a compressed member is an error naming it.
pub fn read_members(bytes: &[u8]) -> Result<Vec<Member>, String> {
    let r = Reader { bytes };
    let (entries, cd_size, cd_offset) = end_record(&r)?;
    r.slice(cd_offset, cd_size, "the central directory")?;
    let mut members = Vec::with_capacity(entries.min(1 << 16));
    let mut at = cd_offset;
    for k in 0..entries {
        if r.u32(at, "a central directory entry")? != CENTRAL_SIG {
            return Err(format!(
                "corrupted zip archive: central directory entry {k} has a wrong signature"
            ));
        }
        let flags = r.u16(at + 8, "flags")?;
        let method = r.u16(at + 10, "the compression method")?;
        let crc = r.u32(at + 16, "the CRC")?;
        let mut csize = u64::from(r.u32(at + 20, "the compressed size")?);
        let mut usize_ = u64::from(r.u32(at + 24, "the size")?);
        let name_len = usize::from(r.u16(at + 28, "the name's length")?);
        let extra_len = usize::from(r.u16(at + 30, "the extra field's length")?);
        let comment_len = usize::from(r.u16(at + 32, "the comment's length")?);
        let mut local = u64::from(r.u32(at + 42, "the local header's offset")?);
        let name_bytes = r.slice(at + 46, name_len, "a member name")?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        // Zip64 extra field: the 64-bit values of the fields that hold 0xFFFFFFFF, in order.
        let extra = r.slice(at + 46 + name_len, extra_len, "an extra field")?;
        let mut e = 0;
        while e + 4 <= extra.len() {
            let id = u16::from_le_bytes([extra[e], extra[e + 1]]);
            let len = usize::from(u16::from_le_bytes([extra[e + 2], extra[e + 3]]));
            let body = extra.get(e + 4..e + 4 + len).ok_or_else(|| {
                format!("corrupted zip archive: the extra field of member `{name}` is truncated")
            })?;
            if id == 1 {
                let x = Reader { bytes: body };
                let mut p = 0;
                for v in [&mut usize_, &mut csize, &mut local] {
                    if *v == 0xFFFF_FFFF {
                        *v = x.u64(p, "a zip64 value")?;
                        p += 8;
                    }
                }
            }
            e += 4 + len;
        }
        if flags & 1 != 0 {
            return Err(format!(
                "member `{name}` is encrypted; save the arrays without encryption"
            ));
        }
        match method {
            0 => {}
            8 => {
                return Err(format!(
                    "member `{name}` is DEFLATE-compressed (np.savez_compressed); only \
                     uncompressed archives are supported: save with np.savez instead"
                ))
            }
            m => {
                return Err(format!(
                    "member `{name}` uses compression method {m}; only uncompressed (stored) \
                     members are supported: save with np.savez"
                ))
            }
        }
        if csize != usize_ {
            return Err(format!(
                "corrupted zip archive: stored member `{name}` has compressed size {csize} but \
                 size {usize_}"
            ));
        }
        let local = to_usize(local, "a local header offset")?;
        if r.u32(local, "a local header")? != LOCAL_SIG {
            return Err(format!(
                "corrupted zip archive: the local header of member `{name}` is missing"
            ));
        }
        let lname = usize::from(r.u16(local + 26, "the local name's length")?);
        let lextra = usize::from(r.u16(local + 28, "the local extra field's length")?);
        let start = local + 30 + lname + lextra;
        let data = r
            .slice(start, to_usize(csize, "a member size")?, "member data")
            .map_err(|e| format!("member `{name}`: {e}"))?;
        if crc32(data) != crc {
            return Err(format!(
                "member `{name}` is corrupted: its CRC-32 does not match the stored one"
            ));
        }
        members.push(Member {
            name,
            data: data.to_vec(),
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(members)
}

/// A zip archive of STORED members (what `np.savez` writes, without zip64).
pub fn write_members(members: &[(&str, &[u8])]) -> Result<Vec<u8>, String> {
    if members.len() >= 0xFFFF {
        return Err(format!(
            "{} members are too many for a zip archive without zip64 (at most 65534)",
            members.len()
        ));
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    let push16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let push32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    let small = |x: usize, what: &str| {
        u32::try_from(x)
            .ok()
            .filter(|&v| v != 0xFFFF_FFFF)
            .ok_or_else(|| {
                format!("{what} ({x} bytes) is too large for a zip archive without zip64")
            })
    };
    for (name, data) in members {
        let name_len =
            u16::try_from(name.len()).map_err(|_| format!("member name `{name}` is too long"))?;
        let size = small(data.len(), &format!("member `{name}`"))?;
        let offset = small(out.len(), "the archive")?;
        let crc = crc32(data);
        // Version 2.0, no flags, stored, 1980-01-01 00:00.
        let fixed = |v: &mut Vec<u8>| {
            push16(v, 20);
            push16(v, 0);
            push16(v, 0);
            push16(v, 0);
            push16(v, 0x21);
            push32(v, crc);
            push32(v, size);
            push32(v, size);
            push16(v, name_len);
            push16(v, 0);
        };
        push32(&mut out, LOCAL_SIG);
        fixed(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        push32(&mut central, CENTRAL_SIG);
        push16(&mut central, 20);
        fixed(&mut central);
        push16(&mut central, 0); // comment
        push16(&mut central, 0); // disk
        push16(&mut central, 0); // internal attributes
        push32(&mut central, 0); // external attributes
        push32(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = small(out.len(), "the archive")?;
    let cd_size = small(central.len(), "the central directory")?;
    out.extend_from_slice(&central);
    push32(&mut out, EOCD_SIG);
    push16(&mut out, 0);
    push16(&mut out, 0);
    push16(&mut out, members.len() as u16);
    push16(&mut out, members.len() as u16);
    push32(&mut out, cd_size);
    push32(&mut out, cd_offset);
    push16(&mut out, 0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_known_strings() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn round_trip_and_every_truncation_fails() {
        let a = b"first member".to_vec();
        let b = vec![7u8; 100];
        let zip = write_members(&[("a.npy", &a), ("b.npy", &b)]).unwrap();
        let m = read_members(&zip).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].name.as_str(), &m[0].data), ("a.npy", &a));
        assert_eq!((m[1].name.as_str(), &m[1].data), ("b.npy", &b));
        for k in 0..zip.len() {
            assert!(read_members(&zip[..k]).is_err(), "truncated at {k}");
        }
        // A flipped data byte is caught by the CRC.
        let mut bad = zip.clone();
        bad[40] ^= 1;
        assert!(read_members(&bad).unwrap_err().contains("CRC"));
        assert!(read_members(b"PK\x03\x04 not really").is_err());
        assert_eq!(read_members(&write_members(&[]).unwrap()).unwrap(), vec![]);
    }
}
