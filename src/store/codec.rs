//! Versioned value encoding: one version byte, then the value.
//!
//! V2, written today, is MessagePack with field names (`rmp-serde`'s named
//! maps): self-describing like JSON, so added optional fields, `#[serde(default)]`
//! and skipped fields keep working, but numbers are binary and nothing is
//! quoted or escaped — smaller rows and cheaper (de)serialisation on the hot
//! path, where every turn writes a dozen values. V1 (JSON) rows written by
//! earlier versions still read back; they are rewritten as V2 when next changed.

use serde::{Serialize, de::DeserializeOwned};

const V1_JSON: u8 = 1;
const V2_MSGPACK: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("stored value has unknown encoding version {0}")]
    Version(u8),
    #[error("stored value is empty")]
    Empty,
    #[error("stored value does not decode: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stored value does not decode: {0}")]
    MessagePack(#[from] rmp_serde::decode::Error),
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(V2_MSGPACK);
    // Serialising our own plain structs into a Vec cannot fail.
    rmp_serde::encode::write_named(&mut out, value).expect("plain structs serialise");
    out
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
        Some((&V2_MSGPACK, rest)) => Ok(rmp_serde::from_slice(rest)?),
        Some((&V1_JSON, rest)) => Ok(serde_json::from_slice(rest)?),
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

    /// Rows written by earlier versions (JSON) still read, and a struct that
    /// gained an optional field reads rows written without it.
    #[test]
    fn reads_json_rows_and_tolerates_added_fields() {
        #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
        struct Old {
            name: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            phone: Option<String>,
        }
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct New {
            name: String,
            phone: Option<String>,
            #[serde(default)]
            visits: u64,
        }
        let mut json = vec![V1_JSON];
        json.extend_from_slice(br#"{"name":"Budi","phone":"628123"}"#);
        let expected = New { name: "Budi".into(), phone: Some("628123".into()), visits: 0 };
        assert_eq!(decode::<New>(&json).unwrap(), expected);
        let written = encode(&Old { name: "Budi".into(), phone: None });
        assert_eq!(written[0], V2_MSGPACK);
        assert_eq!(decode::<New>(&written).unwrap(), New { phone: None, ..expected });
        assert!(written.len() < br#"{"name":"Budi"}"#.len() + 1, "MessagePack is smaller than JSON");
    }

    #[test]
    fn big_endian_numbers_read_back() {
        assert_eq!(u64_from_be(&42u64.to_be_bytes()), 42);
    }
}
