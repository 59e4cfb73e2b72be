//! OData `$batch` bodies (multipart/mixed, OData 4.0 §11.7) as Dataverse
//! takes and answers them: each record is one change set (its operations
//! succeed or fail together: a task and its note), the change sets of one
//! call independent of each other (`Prefer: odata.continue-on-error`).
//!
//! Hand-written: the multipart crates at hand (`multer`, `mime_multipart`)
//! parse form uploads, not nested `multipart/mixed` holding raw
//! `application/http` messages, which is all this needs (≈ 150 lines).

/// One operation inside a change set.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub method: &'static str,
    /// Absolute URL of the resource.
    pub url: String,
    /// Extra headers (`If-Match`, `Prefer`).
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

/// The answer to one operation, or to a whole change set that failed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    pub status: u16,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What came back for one change set: every operation's answer, in order,
/// or one answer for the whole set when it failed (nothing of it was applied).
#[derive(Debug, Clone, PartialEq)]
pub enum SetResult {
    Applied(Vec<Response>),
    Failed(Response),
}

/// The body of a `$batch` call and its `Content-Type`.
pub fn write(batch_id: &str, change_sets: &[Vec<Operation>]) -> (String, String) {
    let batch = format!("batch_{batch_id}");
    let mut out = String::new();
    for (n, set) in change_sets.iter().enumerate() {
        let changeset = format!("changeset_{batch_id}_{n}");
        out.push_str(&format!("--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"));
        for (i, op) in set.iter().enumerate() {
            out.push_str(&format!(
                "--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n",
                i + 1
            ));
            out.push_str(&format!("{} {} HTTP/1.1\r\n", op.method, op.url));
            if op.body.is_some() {
                out.push_str("Content-Type: application/json\r\n");
            }
            for (k, v) in &op.headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            if let Some(body) = &op.body {
                out.push_str(body);
                out.push_str("\r\n");
            }
        }
        out.push_str(&format!("--{changeset}--\r\n"));
    }
    out.push_str(&format!("--{batch}--\r\n"));
    (format!("multipart/mixed; boundary={batch}"), out)
}

/// The boundary a `Content-Type: multipart/mixed; boundary=…` names.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"').to_string())
    })
}

/// One part of a multipart body: its headers (lowercase names) and content.
#[derive(Debug, Clone, PartialEq)]
pub struct Part<'a> {
    pub headers: Vec<(String, String)>,
    pub content: &'a [u8],
}

impl Part<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Splits a multipart body at `--boundary` lines; `None` when it is not one.
pub fn parts<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while let Some(at) = find(&body[i..], d) {
        let at = i + at;
        // A delimiter starts a line.
        if at == 0 || body[at - 1] == b'\n' {
            starts.push(at);
        }
        i = at + d.len();
    }
    if starts.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for w in 0..starts.len() {
        let after = starts[w] + d.len();
        if body[after..].starts_with(b"--") {
            break; // the closing delimiter
        }
        let end = starts.get(w + 1).copied().unwrap_or(body.len());
        let mut chunk = &body[line_end(body, after).min(end)..end];
        // The CRLF before the next delimiter belongs to it.
        chunk = chunk.strip_suffix(b"\r\n").or_else(|| chunk.strip_suffix(b"\n")).unwrap_or(chunk);
        let (headers, content) = split_head(chunk);
        out.push(Part { headers, content });
    }
    Some(out)
}

/// An `application/http` part's message: `HTTP/1.1 201 Created`, headers, body.
pub fn response(message: &[u8]) -> Option<Response> {
    let first_end = line_end(message, 0);
    let first = std::str::from_utf8(&message[..first_end]).ok()?.trim();
    let status = first.strip_prefix("HTTP/1.1 ")?.split_whitespace().next()?.parse().ok()?;
    let (headers, body) = split_head(&message[first_end..]);
    let body = body.strip_suffix(b"\r\n").unwrap_or(body);
    Some(Response { status, headers, body: body.to_vec() })
}

/// The answer of a `$batch` call, one result per change set in order.
pub fn read(content_type: &str, body: &[u8]) -> Option<Vec<SetResult>> {
    let outer = parts(body, &boundary(content_type)?)?;
    let mut results = Vec::with_capacity(outer.len());
    for part in outer {
        let kind = part.header("content-type").unwrap_or_default().to_ascii_lowercase();
        if kind.starts_with("multipart/mixed") {
            let inner = parts(part.content, &boundary(&kind_original(&part))?)?;
            let answers: Option<Vec<Response>> = inner.iter().map(|p| response(p.content)).collect();
            results.push(SetResult::Applied(answers?));
        } else {
            results.push(SetResult::Failed(response(part.content)?));
        }
    }
    Some(results)
}

/// The part's `Content-Type` as sent (boundaries are case-sensitive).
fn kind_original(part: &Part<'_>) -> String {
    part.header("content-type").unwrap_or_default().to_string()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Index just past the line starting at `from` (its `\n` included).
fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |p| from + p + 1)
}

/// Headers up to the first empty line, and what follows it.
fn split_head(chunk: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let mut headers = Vec::new();
    let mut at = 0;
    while at < chunk.len() {
        let end = line_end(chunk, at);
        let line = String::from_utf8_lossy(&chunk[at..end]);
        let line = line.trim_end_matches(['\r', '\n']);
        at = end;
        if line.is_empty() {
            return (headers, &chunk[at..]);
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    (headers, &chunk[chunk.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_batch_reads_back_part_by_part() {
        let op = |n: u32| Operation {
            method: "PATCH",
            url: format!("https://org.crm.dynamics.com/api/data/v9.2/contacts(juru_waid='{n}')"),
            headers: vec![("Prefer", "return=representation".into())],
            body: Some(format!("{{\"lastname\":\"N{n}\"}}")),
        };
        let (content_type, body) = write("b1", &[vec![op(1)], vec![op(2), op(3)]]);
        assert_eq!(content_type, "multipart/mixed; boundary=batch_b1");
        let outer = parts(body.as_bytes(), "batch_b1").unwrap();
        assert_eq!(outer.len(), 2);
        let inner = parts(outer[1].content, &boundary(outer[1].header("content-type").unwrap()).unwrap()).unwrap();
        assert_eq!(inner.len(), 2);
        assert_eq!(inner[1].header("content-id"), Some("2"));
        assert!(String::from_utf8_lossy(inner[1].content).starts_with("PATCH https://org.crm.dynamics.com/"));
        assert!(String::from_utf8_lossy(inner[1].content).ends_with("{\"lastname\":\"N3\"}"));
    }

    #[test]
    fn dataverse_answers_read_as_applied_and_failed_change_sets() {
        let body = "--batchresponse_x\r\nContent-Type: multipart/mixed; boundary=changesetresponse_y\r\n\r\n\
            --changesetresponse_y\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
            HTTP/1.1 201 Created\r\nContent-Type: application/json; odata.metadata=minimal\r\nETag: W/\"7\"\r\n\r\n\
            {\"contactid\":\"c1\"}\r\n--changesetresponse_y--\r\n\
            --batchresponse_x\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
            HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n\
            {\"error\":{\"code\":\"0x80040237\",\"message\":\"Cannot insert duplicate key.\"}}\r\n\
            --batchresponse_x--\r\n";
        let results = read("multipart/mixed; boundary=batchresponse_x", body.as_bytes()).unwrap();
        let SetResult::Applied(ok) = &results[0] else { panic!("{results:?}") };
        assert_eq!((ok[0].status, ok[0].header("etag")), (201, Some("W/\"7\"")));
        assert_eq!(ok[0].body, b"{\"contactid\":\"c1\"}");
        let SetResult::Failed(bad) = &results[1] else { panic!("{results:?}") };
        assert_eq!(bad.status, 400);
        assert!(String::from_utf8_lossy(&bad.body).contains("duplicate key"));
    }
}
