//! `GET /api/export/{leads|contacts|labels|audit}.csv`: streamed as the store
//! is read, in chunks, so a large export never sits whole in memory.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::admin::require_admin;
use super::{AppError, AppState};
use crate::export::Export;

/// Bytes handed to the response at a time.
const CHUNK: usize = 64 * 1024;

/// A `Write` that hands full chunks to the response body; it fails (ending
/// the export) when the client has gone.
struct ChunkWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| std::io::Error::other("the client went away"))
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// GET /api/export/{file}: leads, contacts, labels or the audit trail as CSV.
#[utoipa::path(
    get,
    path = "/api/export/{file}",
    tag = "export",
    params(("file" = String, Path, description = "leads.csv, contacts.csv, labels.csv or audit.csv")),
    responses(
        (status = 200, description = "the CSV, streamed row by row", content_type = "text/csv"),
        (status = 400, description = "not leads, contacts, labels or audit"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn export(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Result<Response, AppError> {
    require_admin(&app, &headers)?;
    let what = Export::parse(&file).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let name = file.trim_end_matches(".csv").to_string();
    let (tx, rx) = mpsc::channel(8);
    let store = app.runtime.store().clone();
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter { tx: tx.clone(), buf: Vec::with_capacity(CHUNK) };
        if let Err(e) = what.write(&store, &mut out) {
            tracing::warn!(export = %name, error = %e, "export ended early");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let disposition = format!("attachment; filename=\"{}.csv\"", file.trim_end_matches(".csv"));
    Ok(([(CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}
