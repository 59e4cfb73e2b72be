//! Versioned value encoding: one version byte, then JSON. JSON keeps the
//! data readable in `juru db export` and tolerant of added optional fields.

use serde::{Serialize, de::DeserializeOwned};

const V1: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("stored value has unknown encoding version {0}")]
    Version(u8),
    #[error("stored value is empty")]
    Empty,
    #[error("stored value does not decode: {0}")]
    Json(#[from] serde_json::Error),
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![V1];
    // Serialising our own plain structs into a Vec cannot fail.
    serde_json::to_writer(&mut out, value).expect("plain structs serialise");
    out
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
        Some((&V1, rest)) => Ok(serde_json::from_slice(rest)?),
        Some((&v, _)) => Err(CodecError::Version(v)),
    }
}

pub fn u64_from_be(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[8 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    u64::from_be_bytes(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_unknown_versions() {
        let bytes = encode(&vec!["a", "b"]);
        assert_eq!(decode::<Vec<String>>(&bytes).unwrap(), vec!["a", "b"]);
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(matches!(decode::<Vec<String>>(&bad), Err(CodecError::Version(9))));
        assert!(matches!(decode::<Vec<String>>(&[]), Err(CodecError::Empty)));
    }

    #[test]
    fn big_endian_numbers_read_back() {
        assert_eq!(u64_from_be(&42u64.to_be_bytes()), 42);
    }
}
