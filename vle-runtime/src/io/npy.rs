//! NumPy `.npy` arrays and `.npz` archives, uncompressed (`np.savez`) or DEFLATE-compressed
//! (`np.savez_compressed`).
//!
//! Reading accepts format versions 1, 2 and 3, C order, 1-D and 2-D arrays of the
//! little-endian types `<f4 <f8 <i1 <i2 <i4 <i8 <u1 <u2 <u4 <u8` and booleans (`|b1`). Writing
//! produces version 1 headers (version 2 when the header is longer than 65535 bytes), aligned
//! to 64 bytes as NumPy does. The zip container of `.npz` files is read and written by the
//! `zip` crate (stored and DEFLATE members, zip64; every member's CRC-32 is checked); files are
//! written through [`crate::io::write_atomic`] (a temporary file flushed to disk and renamed
//! into place), so an interrupted save never leaves a half-written file under the final name.
//! Every malformed input is an [`Error::File`] naming the file (and the archive member) and
//! what is wrong.
//!
//! ```
//! use vle_runtime::io::npy::{npy_bytes, parse_npy, Array};
//! let a = Array::from_f64(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
//! let back = parse_npy(&npy_bytes(&a), "in memory").unwrap();
//! assert_eq!(back, a);
//! ```

use std::io::{Cursor, Read, Write};
use std::path::Path;

use zip::read::{ArchiveOffset, Config};
use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;

/// Element type of an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// Boolean, one byte holding 0 or 1 (`|b1`).
    Bool,
    /// Signed 8-bit integer (`|i1`).
    I8,
    /// Signed 16-bit integer (`<i2`).
    I16,
    /// Signed 32-bit integer (`<i4`).
    I32,
    /// Signed 64-bit integer (`<i8`).
    I64,
    /// Unsigned 8-bit integer (`|u1`).
    U8,
    /// Unsigned 16-bit integer (`<u2`).
    U16,
    /// Unsigned 32-bit integer (`<u4`).
    U32,
    /// Unsigned 64-bit integer (`<u8`).
    U64,
    /// IEEE single precision (`<f4`).
    F32,
    /// IEEE double precision (`<f8`).
    F64,
}

impl DType {
    /// The NumPy type string written to headers (`"<f8"`, `"|b1"`, ...).
    pub fn descr(self) -> &'static str {
        match self {
            DType::Bool => "|b1",
            DType::I8 => "|i1",
            DType::I16 => "<i2",
            DType::I32 => "<i4",
            DType::I64 => "<i8",
            DType::U8 => "|u1",
            DType::U16 => "<u2",
            DType::U32 => "<u4",
            DType::U64 => "<u8",
            DType::F32 => "<f4",
            DType::F64 => "<f8",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// Whether the type holds integers (not booleans, not floats).
    pub fn is_integer(self) -> bool {
        !matches!(self, DType::Bool | DType::F32 | DType::F64)
    }

    /// Parses a type string; `Err` says why it is not supported.
    fn parse(descr: &str) -> std::result::Result<DType, String> {
        let (order, kind) = descr.split_at(descr.len().min(1));
        let t = match kind {
            "b1" => DType::Bool,
            "i1" => DType::I8,
            "i2" => DType::I16,
            "i4" => DType::I32,
            "i8" => DType::I64,
            "u1" => DType::U8,
            "u2" => DType::U16,
            "u4" => DType::U32,
            "u8" => DType::U64,
            "f4" => DType::F32,
            "f8" => DType::F64,
            _ => {
                return Err(format!(
                    "unsupported dtype `{descr}`; supported: <f4 <f8 <i1 <i2 <i4 <i8 <u1 <u2 \
                     <u4 <u8 |b1 (convert with x.astype('<f8') or x.astype('<i8'))"
                ))
            }
        };
        match order {
            "<" | "|" | "=" => Ok(t),
            ">" if t.size() == 1 => Ok(t),
            ">" => Err(format!(
                "big-endian dtype `{descr}` is not supported; convert with \
                 x.astype('<{kind}')"
            )),
            _ => Err(format!("malformed dtype `{descr}`")),
        }
    }
}

/// The elements of an array, in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// [`DType::Bool`] elements.
    Bool(Vec<bool>),
    /// [`DType::I8`] elements.
    I8(Vec<i8>),
    /// [`DType::I16`] elements.
    I16(Vec<i16>),
    /// [`DType::I32`] elements.
    I32(Vec<i32>),
    /// [`DType::I64`] elements.
    I64(Vec<i64>),
    /// [`DType::U8`] elements.
    U8(Vec<u8>),
    /// [`DType::U16`] elements.
    U16(Vec<u16>),
    /// [`DType::U32`] elements.
    U32(Vec<u32>),
    /// [`DType::U64`] elements.
    U64(Vec<u64>),
    /// [`DType::F32`] elements.
    F32(Vec<f32>),
    /// [`DType::F64`] elements.
    F64(Vec<f64>),
}

macro_rules! each_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            Data::Bool($v) => $body,
            Data::I8($v) => $body,
            Data::I16($v) => $body,
            Data::I32($v) => $body,
            Data::I64($v) => $body,
            Data::U8($v) => $body,
            Data::U16($v) => $body,
            Data::U32($v) => $body,
            Data::U64($v) => $body,
            Data::F32($v) => $body,
            Data::F64($v) => $body,
        }
    };
}

impl Data {
    /// Number of elements.
    pub fn len(&self) -> usize {
        each_data!(self, v => v.len())
    }
    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The element type, from the variant.
    pub fn dtype(&self) -> DType {
        match self {
            Data::Bool(_) => DType::Bool,
            Data::I8(_) => DType::I8,
            Data::I16(_) => DType::I16,
            Data::I32(_) => DType::I32,
            Data::I64(_) => DType::I64,
            Data::U8(_) => DType::U8,
            Data::U16(_) => DType::U16,
            Data::U32(_) => DType::U32,
            Data::U64(_) => DType::U64,
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
        }
    }
}

/// A 1-D or 2-D array in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    shape: Vec<usize>,
    data: Data,
}

impl Array {
    /// An array of `shape` (1 or 2 dimensions) holding `data`; the lengths must agree.
    /// Otherwise [`Error::File`] (path `"an in-memory array"`) says what is wrong.
    pub fn new(shape: Vec<usize>, data: Data) -> Result<Self> {
        let what = "an in-memory array";
        check_shape(&shape).map_err(|p| file_error(what, p))?;
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(file_error(
                what,
                format!("shape {shape:?} needs {n} elements, got {}", data.len()),
            ));
        }
        Ok(Array { shape, data })
    }
    /// An `<f8` array of `shape`, `v` in C order; errors as [`Array::new`].
    pub fn from_f64(shape: Vec<usize>, v: Vec<f64>) -> Result<Self> {
        Self::new(shape, Data::F64(v))
    }
    /// An `<f4` array of `shape`, `v` in C order; errors as [`Array::new`].
    pub fn from_f32(shape: Vec<usize>, v: Vec<f32>) -> Result<Self> {
        Self::new(shape, Data::F32(v))
    }
    /// An `<i8` array of `shape`, `v` in C order; errors as [`Array::new`].
    pub fn from_i64(shape: Vec<usize>, v: Vec<i64>) -> Result<Self> {
        Self::new(shape, Data::I64(v))
    }
    /// The dimensions: `[n]` or `[rows, cols]`.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The elements, in C (row-major) order.
    pub fn data(&self) -> &Data {
        &self.data
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// Whether there are no elements (a dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Every element as `f64` (booleans as 0 and 1; 64-bit integers beyond 2^53 round).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            Data::Bool(v) => v.iter().map(|&b| f64::from(u8::from(b))).collect(),
            Data::I8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::I16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::U16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::U32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::U64(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::F64(v) => v.clone(),
        }
    }
    /// The elements as `i64` when the array holds integers; `None` for floats and booleans,
    /// and for unsigned values above `i64::MAX`.
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        match &self.data {
            Data::I8(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            Data::I16(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            Data::I32(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            Data::I64(v) => Some(v.clone()),
            Data::U8(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            Data::U16(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            Data::U32(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            Data::U64(v) => v.iter().map(|&x| i64::try_from(x).ok()).collect(),
            Data::Bool(_) | Data::F32(_) | Data::F64(_) => None,
        }
    }
}

fn file_error(path: &str, problem: impl Into<String>) -> Error {
    Error::File {
        path: path.to_string(),
        problem: problem.into(),
    }
}

fn check_shape(shape: &[usize]) -> std::result::Result<(), String> {
    match shape.len() {
        1 | 2 => Ok(()),
        0 => Err("0-d (scalar) arrays are not supported: only 1-D and 2-D arrays".into()),
        d => Err(format!(
            "{d}-D arrays (shape {shape:?}) are not supported: only 1-D and 2-D arrays; \
             reshape to 2-D first"
        )),
    }
}

// ----------------------------------------------------------------------------- header

/// A value of the header's Python dict literal.
#[derive(Debug, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
    Other,
}

/// Parses `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
fn parse_header(h: &str) -> std::result::Result<Vec<(String, Value)>, String> {
    let b = h.as_bytes();
    let mut i = 0;
    let skip = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    let bad = |what: &str| format!("malformed header `{}`: {what}", h.trim_end());
    let string = |i: &mut usize| -> std::result::Result<String, String> {
        let q = b[*i];
        let start = *i + 1;
        let end = h[start..]
            .find(q as char)
            .ok_or_else(|| bad("unterminated string"))?;
        *i = start + end + 1;
        Ok(h[start..start + end].to_string())
    };
    skip(&mut i);
    if b.get(i) != Some(&b'{') {
        return Err(bad("expected a dict `{...}`"));
    }
    i += 1;
    let mut out = Vec::new();
    loop {
        skip(&mut i);
        match b.get(i) {
            Some(b'}') => {
                i += 1;
                break;
            }
            Some(b'\'' | b'"') => {}
            _ => return Err(bad("expected a quoted key or `}`")),
        }
        let key = string(&mut i)?;
        skip(&mut i);
        if b.get(i) != Some(&b':') {
            return Err(bad("expected `:` after a key"));
        }
        i += 1;
        skip(&mut i);
        let value = match b.get(i) {
            Some(b'\'' | b'"') => Value::Str(string(&mut i)?),
            Some(b'(') => {
                let end = i + h[i..].find(')').ok_or_else(|| bad("unterminated tuple"))?;
                let mut dims = Vec::new();
                for part in h[i + 1..end].split(',') {
                    let part = part.trim().trim_end_matches('L');
                    if part.is_empty() {
                        continue;
                    }
                    dims.push(
                        part.parse::<usize>()
                            .map_err(|_| bad(&format!("shape entry `{part}` is not a size")))?,
                    );
                }
                i = end + 1;
                Value::Tuple(dims)
            }
            Some(b'[') => {
                let end = i + h[i..].rfind(']').ok_or_else(|| bad("unterminated list"))?;
                i = end + 1;
                Value::Other
            }
            _ if h[i..].starts_with("True") => {
                i += 4;
                Value::Bool(true)
            }
            _ if h[i..].starts_with("False") => {
                i += 5;
                Value::Bool(false)
            }
            _ => return Err(bad(&format!("unexpected value for key `{key}`"))),
        };
        out.push((key, value));
        skip(&mut i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {}
            _ => return Err(bad("expected `,` or `}` after a value")),
        }
    }
    skip(&mut i);
    if i != b.len() {
        return Err(bad("unexpected text after the dict"));
    }
    Ok(out)
}

/// Parses the bytes of a `.npy` file; `name` (a path, or `archive.npz:member`) is used in errors.
pub fn parse_npy(bytes: &[u8], name: &str) -> Result<Array> {
    let err = |p: String| file_error(name, p);
    if bytes.len() < 6 || &bytes[..6] != b"\x93NUMPY" {
        return Err(err(
            "not a .npy file (the magic string \\x93NUMPY is missing); save it with np.save".into(),
        ));
    }
    let (major, minor) = match bytes.get(6..8) {
        Some(v) => (v[0], v[1]),
        None => return Err(err("truncated: the format version is missing".into())),
    };
    let (len_bytes, start): (usize, usize) = match major {
        1 => (2, 10),
        2 | 3 => (4, 12),
        _ => {
            return Err(err(format!(
                "unsupported .npy format version {major}.{minor} (1, 2 and 3 are supported)"
            )))
        }
    };
    let len_field = bytes
        .get(8..8 + len_bytes)
        .ok_or_else(|| err("truncated: the header length is missing".into()))?;
    let header_len = len_field
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    let header = bytes
        .get(start..start.saturating_add(header_len))
        .ok_or_else(|| {
            err(format!(
                "truncated: the header needs {header_len} bytes, the file has {} after byte {start}",
                bytes.len().saturating_sub(start)
            ))
        })?;
    let header = if major == 3 {
        std::str::from_utf8(header).map_err(|_| err("the header is not UTF-8".into()))?
    } else {
        std::str::from_utf8(header)
            .ok()
            .filter(|h| h.is_ascii())
            .ok_or_else(|| err("the header is not ASCII (latin-1 headers need version 3)".into()))?
    };
    let fields = parse_header(header).map_err(err)?;
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let dtype = match get("descr") {
        Some(Value::Str(d)) => DType::parse(d).map_err(err)?,
        Some(_) => {
            return Err(err(
                "structured (record) dtypes are not supported: save a plain numeric array".into(),
            ))
        }
        None => return Err(err("the header has no `descr` (dtype)".into())),
    };
    match get("fortran_order") {
        Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            return Err(err(
                "the array is in Fortran (column-major) order; save a C-ordered copy with \
                 np.save(path, np.ascontiguousarray(x))"
                    .into(),
            ))
        }
        _ => return Err(err("the header has no valid `fortran_order`".into())),
    }
    let shape = match get("shape") {
        Some(Value::Tuple(s)) => s.clone(),
        _ => return Err(err("the header has no valid `shape`".into())),
    };
    check_shape(&shape).map_err(err)?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|n| n.checked_mul(dtype.size()).map(|b| (n, b)));
    let (n, nbytes) = n.ok_or_else(|| err(format!("shape {shape:?} is too large")))?;
    let body = &bytes[start + header_len..];
    if body.len() != nbytes {
        return Err(err(format!(
            "{} data: shape {shape:?} of {} needs {nbytes} bytes, the file has {}",
            if body.len() < nbytes {
                "truncated"
            } else {
                "unexpected trailing"
            },
            dtype.descr(),
            body.len()
        )));
    }
    macro_rules! decode {
        ($t:ty, $variant:ident) => {
            Data::$variant(
                body.chunks_exact(std::mem::size_of::<$t>())
                    .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk of the type's size")))
                    .collect(),
            )
        };
    }
    let data = match dtype {
        DType::Bool => {
            if let Some(i) = body.iter().position(|&b| b > 1) {
                return Err(err(format!(
                    "boolean element {i} has the byte value {} (expected 0 or 1)",
                    body[i]
                )));
            }
            Data::Bool(body.iter().map(|&b| b == 1).collect())
        }
        DType::I8 => decode!(i8, I8),
        DType::I16 => decode!(i16, I16),
        DType::I32 => decode!(i32, I32),
        DType::I64 => decode!(i64, I64),
        DType::U8 => Data::U8(body.to_vec()),
        DType::U16 => decode!(u16, U16),
        DType::U32 => decode!(u32, U32),
        DType::U64 => decode!(u64, U64),
        DType::F32 => decode!(f32, F32),
        DType::F64 => decode!(f64, F64),
    };
    debug_assert_eq!(data.len(), n);
    Ok(Array { shape, data })
}

/// The bytes of a `.npy` file holding `a`.
pub fn npy_bytes(a: &Array) -> Vec<u8> {
    let shape = match a.shape.as_slice() {
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        a.dtype().descr()
    );
    // Pad with spaces so that magic + version + length + header + '\n' is a multiple of 64.
    let prefix = if header.len() + 11 <= 0xFFFF { 10 } else { 12 };
    let total = (prefix + header.len() + 1).div_ceil(64) * 64;
    header.extend(std::iter::repeat_n(' ', total - prefix - header.len() - 1));
    header.push('\n');
    let mut out = Vec::with_capacity(total + a.len() * a.dtype().size());
    out.extend_from_slice(b"\x93NUMPY");
    if prefix == 10 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    match &a.data {
        Data::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        Data::U8(v) => out.extend_from_slice(v),
        Data::I8(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::I16(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::I32(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::I64(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::U16(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::U32(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::U64(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::F32(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::F64(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
    }
    out
}

// ----------------------------------------------------------------------------- files

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| file_error(&path.display().to_string(), format!("cannot read: {e}")))
}

/// Reads a `.npy` file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Array> {
    let path = path.as_ref();
    parse_npy(&read_file(path)?, &path.display().to_string())
}

/// Writes a `.npy` file (durably and atomically: [`write_atomic`]).
pub fn write_npy(path: impl AsRef<Path>, a: &Array) -> Result<()> {
    write_atomic(path.as_ref(), &npy_bytes(a))
}

/// What is wrong with a zip archive, in words, from the `zip` crate's error.
fn zip_problem(e: &ZipError) -> String {
    match e {
        ZipError::InvalidArchive(m) => format!(
            "truncated or corrupted .npz (zip) archive: {m}; write it again (np.savez or \
             np.savez_compressed)"
        ),
        ZipError::Io(e) => format!("truncated or corrupted .npz (zip) archive: {e}"),
        ZipError::UnsupportedArchive(m) if *m == ZipError::PASSWORD_REQUIRED => {
            "a member is encrypted; save the arrays without encryption".into()
        }
        ZipError::UnsupportedArchive(m) => {
            format!("unsupported zip archive ({m}); save it with np.savez or np.savez_compressed")
        }
        ZipError::CompressionMethodNotSupported(m) => format!(
            "a member uses zip compression method {m}; only stored (np.savez) and DEFLATE \
             (np.savez_compressed) members are read"
        ),
        e => format!("unreadable .npz (zip) archive: {e}"),
    }
}

/// Parses the bytes of an `.npz` archive, stored (`np.savez`) or DEFLATE-compressed
/// (`np.savez_compressed`): its arrays, named as `np.load` names them (member name without
/// `.npy`), in archive order. A member whose CRC-32 does not match its data, a truncated or
/// otherwise damaged archive, an encrypted member or another compression method is an
/// [`Error::File`] naming the archive (and the member).
pub fn parse_npz(bytes: &[u8], name: &str) -> Result<Vec<(String, Array)>> {
    // The archive starts at byte 0 (no offset detection: a damaged central directory must
    // not be worked around by searching for entries, which can drop members silently).
    let config = Config {
        archive_offset: ArchiveOffset::Known(0),
    };
    let mut archive = ZipArchive::with_config(config, Cursor::new(bytes))
        .map_err(|e| file_error(name, zip_problem(&e)))?;
    if archive.has_duplicate_names() {
        return Err(file_error(
            name,
            "the archive names a member twice (np.savez never does; the file is corrupted): \
             write it again",
        ));
    }
    let mut arrays = Vec::with_capacity(archive.len());
    for k in 0..archive.len() {
        let member_error =
            |e: &ZipError| file_error(name, format!("member {k}: {}", zip_problem(e)));
        let mut member = archive.by_index(k).map_err(|e| member_error(&e))?;
        let member_name = member.name().map_err(|e| member_error(&e))?.into_owned();
        let key = member_name.strip_suffix(".npy").ok_or_else(|| {
            file_error(
                name,
                format!("member `{member_name}` is not a .npy array (np.savez writes NAME.npy)"),
            )
        })?;
        let full = format!("{name}:{member_name}");
        let mut data = Vec::new();
        member.read_to_end(&mut data).map_err(|e| {
            let problem = if e.to_string().contains("checksum") {
                "the member is corrupted: its CRC-32 does not match the stored one".to_string()
            } else {
                format!("the member is truncated or corrupted: {e}")
            };
            file_error(&full, problem)
        })?;
        arrays.push((key.to_string(), parse_npy(&data, &full)?));
    }
    Ok(arrays)
}

/// The bytes of an `.npz` archive holding `arrays` (member `NAME.npy` each), members stored
/// (`compressed = false`, as `np.savez`) or DEFLATE-compressed (as `np.savez_compressed`).
/// The bytes depend on the arrays alone (every member is dated 1980-01-01).
fn npz_archive(arrays: &[(&str, &Array)], compressed: bool) -> Result<Vec<u8>> {
    let what = "an .npz archive";
    let names: Vec<String> = arrays.iter().map(|(n, _)| format!("{n}.npy")).collect();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(file_error(
                what,
                format!("the array name `{}` appears twice", arrays[i].0),
            ));
        }
    }
    let method = match compressed {
        true => CompressionMethod::Deflated,
        false => CompressionMethod::Stored,
    };
    let fail = |e: &dyn std::fmt::Display| file_error(what, format!("cannot build it: {e}"));
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (n, (_, a)) in names.iter().zip(arrays) {
        let body = npy_bytes(a);
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(DateTime::default())
            .large_file(body.len() as u64 >= u64::from(u32::MAX));
        zip.start_file(n.as_str(), options).map_err(|e| fail(&e))?;
        zip.write_all(&body).map_err(|e| fail(&e))?;
    }
    Ok(zip.finish().map_err(|e| fail(&e))?.into_inner())
}

/// The bytes of an uncompressed `.npz` archive holding `arrays` (member `NAME.npy` each), as
/// `np.savez` writes it.
pub fn npz_bytes(arrays: &[(&str, &Array)]) -> Result<Vec<u8>> {
    npz_archive(arrays, false)
}

/// The bytes of a DEFLATE-compressed `.npz` archive holding `arrays`, as
/// `np.savez_compressed` writes it.
pub fn npz_bytes_compressed(arrays: &[(&str, &Array)]) -> Result<Vec<u8>> {
    npz_archive(arrays, true)
}

/// Reads an `.npz` archive, uncompressed or compressed (see [`parse_npz`]).
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, Array)>> {
    let path = path.as_ref();
    parse_npz(&read_file(path)?, &path.display().to_string())
}

fn write_archive(path: &Path, bytes: Result<Vec<u8>>) -> Result<()> {
    let bytes = bytes.map_err(|e| match e {
        Error::File { problem, .. } => file_error(&path.display().to_string(), problem),
        e => e,
    })?;
    write_atomic(path, &bytes)
}

/// Writes an uncompressed `.npz` archive, as `np.savez` does, readable with `np.load`
/// (durably and atomically: [`write_atomic`]).
pub fn write_npz(path: impl AsRef<Path>, arrays: &[(&str, &Array)]) -> Result<()> {
    write_archive(path.as_ref(), npz_bytes(arrays))
}

/// Writes a DEFLATE-compressed `.npz` archive, as `np.savez_compressed` does, readable with
/// `np.load` (durably and atomically: [`write_atomic`]).
///
/// ```
/// use vle_runtime::io::{read_npz, write_npz_compressed, Array};
/// let path = std::env::temp_dir().join(format!("vle-doc-npz-{}.npz", std::process::id()));
/// let x = Array::from_f64(vec![2, 2], vec![0.0, 0.5, 1.0, 1.5])?;
/// write_npz_compressed(&path, &[("x", &x)])?;
/// assert_eq!(read_npz(&path)?, vec![("x".to_string(), x)]);
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), vle_runtime::Error>(())
/// ```
pub fn write_npz_compressed(path: impl AsRef<Path>, arrays: &[(&str, &Array)]) -> Result<()> {
    write_archive(path.as_ref(), npz_bytes_compressed(arrays))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_types() -> Vec<Array> {
        vec![
            Array::new(vec![3], Data::Bool(vec![true, false, true])).unwrap(),
            Array::new(vec![2], Data::I8(vec![-128, 127])).unwrap(),
            Array::new(vec![2], Data::I16(vec![-30000, 2])).unwrap(),
            Array::new(vec![1, 2], Data::I32(vec![-7, 1 << 30])).unwrap(),
            Array::from_i64(vec![2, 2], vec![i64::MIN, -1, 0, i64::MAX]).unwrap(),
            Array::new(vec![2], Data::U8(vec![0, 255])).unwrap(),
            Array::new(vec![2], Data::U16(vec![0, 65535])).unwrap(),
            Array::new(vec![2], Data::U32(vec![0, u32::MAX])).unwrap(),
            Array::new(vec![2], Data::U64(vec![0, u64::MAX])).unwrap(),
            Array::from_f32(vec![2, 3], vec![0.5, -1.0, 2.0, f32::MAX, 1e-30, 3.25]).unwrap(),
            Array::from_f64(vec![3, 1], vec![0.1, -2.5, 1e300]).unwrap(),
            Array::from_f64(vec![0], vec![]).unwrap(),
            Array::from_f64(vec![0, 5], vec![]).unwrap(),
        ]
    }

    /// A header as NumPy writes it, padded to `align` bytes.
    fn npy_with_header(version: u8, header: &str, body: &[u8]) -> Vec<u8> {
        let mut h = header.to_string();
        let prefix = if version == 1 { 10 } else { 12 };
        while !(prefix + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY".to_vec();
        out.extend_from_slice(&[version, 0]);
        if version == 1 {
            out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(h.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn every_type_round_trips_and_headers_are_aligned() {
        for a in all_types() {
            let bytes = npy_bytes(&a);
            let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            assert_eq!((10 + header_len) % 64, 0, "{:?}", a.dtype());
            assert_eq!(bytes[9 + header_len], b'\n');
            assert_eq!(parse_npy(&bytes, "t").unwrap(), a);
        }
    }

    #[test]
    fn versions_2_and_3_and_numpy_spellings_are_read() {
        let body: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        for v in [1, 2, 3] {
            let b = npy_with_header(
                v,
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                &body,
            );
            let a = parse_npy(&b, "t").unwrap();
            assert_eq!((a.shape(), a.to_f64()), (&[2usize][..], vec![1.5, -2.0]));
        }
        // Python 2 long integers, double quotes, no trailing comma, '<u1' and '=i8'.
        let b = npy_with_header(
            1,
            "{\"descr\": \"<u1\", \"fortran_order\": False, \"shape\": (1L, 2L)}",
            &[3, 4],
        );
        assert_eq!(parse_npy(&b, "t").unwrap().to_i64(), Some(vec![3, 4]));
        let b = npy_with_header(
            1,
            "{'descr': '=i8', 'fortran_order': False, 'shape': (1,), }",
            &7i64.to_le_bytes(),
        );
        assert_eq!(parse_npy(&b, "t").unwrap().to_i64(), Some(vec![7]));
    }

    fn err(bytes: &[u8]) -> String {
        parse_npy(bytes, "bad.npy").unwrap_err().to_string()
    }

    #[test]
    fn malformed_files_are_named_errors() {
        let h = |d: &str, f: &str, s: &str| {
            format!("{{'descr': '{d}', 'fortran_order': {f}, 'shape': {s}, }}")
        };
        let f8 = [0u8; 16];
        let e = err(&npy_with_header(1, &h("<f8", "True", "(2,)"), &f8));
        assert!(e.contains("bad.npy") && e.contains("Fortran"), "{e}");
        let e = err(&npy_with_header(1, &h(">f8", "False", "(2,)"), &f8));
        assert!(e.contains("big-endian"), "{e}");
        let e = err(&npy_with_header(1, &h("<c16", "False", "(1,)"), &f8));
        assert!(e.contains("unsupported dtype"), "{e}");
        let e = err(&npy_with_header(1, &h("<U3", "False", "(1,)"), &[0; 12]));
        assert!(e.contains("unsupported dtype"), "{e}");
        let e = err(&npy_with_header(1, &h("<f8", "False", "(2, 1, 1)"), &f8));
        assert!(e.contains("3-D"), "{e}");
        let e = err(&npy_with_header(1, &h("<f8", "False", "()"), &f8[..8]));
        assert!(e.contains("0-d"), "{e}");
        let e = err(&npy_with_header(1, &h("<f8", "False", "(3,)"), &f8));
        assert!(
            e.contains("truncated data") && e.contains("24 bytes"),
            "{e}"
        );
        let e = err(&npy_with_header(1, &h("<f8", "False", "(1,)"), &f8));
        assert!(e.contains("trailing"), "{e}");
        let e = err(&npy_with_header(1, &h("|b1", "False", "(2,)"), &[1, 2]));
        assert!(e.contains("boolean"), "{e}");
        let e = err(&npy_with_header(
            1,
            "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }",
            &f8[..8],
        ));
        assert!(e.contains("structured"), "{e}");
        let e = err(&npy_with_header(
            1,
            "{'descr': '<f8', 'shape': (1,), }",
            &f8[..8],
        ));
        assert!(e.contains("fortran_order"), "{e}");
        let e = err(&npy_with_header(1, "['descr']", &f8[..8]));
        assert!(e.contains("malformed header"), "{e}");
        let e = err(&npy_with_header(1, &h("<f8", "False", "(-1,)"), &f8));
        assert!(e.contains("malformed header"), "{e}");
        let e = err(&npy_with_header(
            1,
            &h("<f8", "False", "(4294967296, 4294967296, )"),
            &f8,
        ));
        assert!(e.contains("too large") || e.contains("truncated"), "{e}");
        assert!(err(b"PK\x03\x04").contains("magic"));
        let mut v9 = npy_bytes(&all_types()[0]);
        v9[6] = 9;
        assert!(err(&v9).contains("version 9"));
    }

    #[test]
    fn every_truncation_of_a_valid_file_is_an_error() {
        for a in all_types().iter().filter(|a| !a.is_empty()) {
            let bytes = npy_bytes(a);
            for k in 0..bytes.len() {
                assert!(
                    parse_npy(&bytes[..k], "t").is_err(),
                    "{:?} cut at {k}",
                    a.dtype()
                );
            }
        }
    }

    #[test]
    fn npz_round_trip_truncation_and_duplicates() {
        let arrays = all_types();
        let names: Vec<String> = (0..arrays.len()).map(|i| format!("a{i}")).collect();
        let pairs: Vec<(&str, &Array)> = names.iter().map(|n| n.as_str()).zip(&arrays).collect();
        let bytes = npz_bytes(&pairs).unwrap();
        let back = parse_npz(&bytes, "t.npz").unwrap();
        assert_eq!(back.len(), arrays.len());
        for ((n, a), (m, b)) in pairs.iter().zip(&back) {
            assert_eq!((*n, *a), (m.as_str(), b));
        }
        for k in 0..bytes.len() {
            assert!(parse_npz(&bytes[..k], "t.npz").is_err(), "cut at {k}");
        }
        let x = &arrays[3];
        assert!(npz_bytes(&[("x", x), ("x", x)]).is_err());
    }

    #[test]
    fn files_are_written_atomically_and_read_back() {
        let dir = std::env::temp_dir().join(format!("vle-npy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = Array::from_f64(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let p = dir.join("a.npy");
        write_npy(&p, &a).unwrap();
        assert_eq!(read_npy(&p).unwrap(), a);
        let z = dir.join("a.npz");
        write_npz(&z, &[("a", &a)]).unwrap();
        assert_eq!(read_npz(&z).unwrap(), vec![("a".to_string(), a.clone())]);
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp")
            })
            .collect();
        assert!(leftovers.is_empty());
        let e = read_npy(dir.join("missing.npy")).unwrap_err().to_string();
        assert!(
            e.contains("missing.npy") && e.contains("cannot read"),
            "{e}"
        );
        let e = write_npy(dir.join("no/such/dir/a.npy"), &a)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot write"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
