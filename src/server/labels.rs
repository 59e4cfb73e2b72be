//! `GET /api/labels` and `GET /api/labels/{label}/contacts`: who carries which
//! WhatsApp label, applied by whom (and how that is known), and when.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::admin::require_admin;
use super::{AppError, AppState};
use crate::crm::labels::{AppliedBy, Detected, Label};

#[derive(Serialize)]
pub struct LabelCount {
    id: String,
    name: String,
    color: Option<u32>,
    /// Personal chats carrying it now.
    contacts: usize,
}

#[derive(Serialize)]
pub struct LabelList {
    labels: Vec<LabelCount>,
}

pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<LabelList>, AppError> {
    require_admin(&app, &headers)?;
    let crm = app.runtime.crm();
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for a in crm.assignments() {
        *counts.entry(a.label_id).or_default() += 1;
    }
    let mut labels: Vec<LabelCount> = crm
        .labels()
        .into_iter()
        .filter(|l| !l.deleted)
        .map(|l| LabelCount {
            contacts: counts.get(&l.id).copied().unwrap_or(0),
            id: l.id,
            name: l.name,
            color: l.color,
        })
        .collect();
    labels.sort_by(|a, b| b.contacts.cmp(&a.contacts).then_with(|| a.name.cmp(&b.name)));
    Ok(Json(LabelList { labels }))
}

#[derive(Deserialize)]
pub struct Page {
    #[serde(default = "first_page")]
    page: usize,
    #[serde(default = "default_per_page")]
    per_page: usize,
}

fn first_page() -> usize {
    1
}

fn default_per_page() -> usize {
    50
}

#[derive(Serialize)]
pub struct LabelledContact {
    phone: String,
    name: Option<String>,
    /// `{"kind":"whatsapp_account","session","number"}` (applied on a phone:
    /// WAHA names no person) or `{"kind":"staff","id"}` (applied through juru).
    applied_by: AppliedBy,
    applied_at_ms: u64,
    /// `webhook` (time of the event), `reconcile` (time it was detected) or `juru`.
    detected: Detected,
    campaign_source: Option<String>,
}

#[derive(Serialize)]
pub struct LabelContacts {
    label: Label,
    total: usize,
    page: usize,
    per_page: usize,
    contacts: Vec<LabelledContact>,
}

/// `{label}` is the label's id or its name (any case).
pub async fn contacts(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(wanted): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<LabelContacts>, AppError> {
    require_admin(&app, &headers)?;
    if page.page == 0 || !(1..=500).contains(&page.per_page) {
        return Err(AppError::BadRequest("page starts at 1; per_page is 1 to 500".into()));
    }
    let crm = app.runtime.crm();
    let label = crm
        .label(&wanted)
        .or_else(|| crm.labels().into_iter().find(|l| l.name.eq_ignore_ascii_case(&wanted)))
        .ok_or(AppError::NotFound)?;
    let mut carrying: Vec<_> = crm.assignments().into_iter().filter(|a| a.label_id == label.id).collect();
    carrying.sort_by(|a, b| b.applied_at_ms.cmp(&a.applied_at_ms).then_with(|| a.contact.cmp(&b.contact)));
    let total = carrying.len();
    let contacts = carrying
        .into_iter()
        .skip((page.page - 1) * page.per_page)
        .take(page.per_page)
        .map(|a| {
            let contact = crm.contact(&a.contact);
            LabelledContact {
                name: contact.as_ref().and_then(|c| c.name.clone()),
                campaign_source: contact.as_ref().and_then(|c| c.campaign().map(str::to_string)),
                phone: a.contact,
                applied_by: a.applied_by,
                applied_at_ms: a.applied_at_ms,
                detected: a.detected,
            }
        })
        .collect();
    Ok(Json(LabelContacts { label, total, page: page.page, per_page: page.per_page, contacts }))
}

/// `POST /api/labels/resync`: read WAHA's labels API now and apply what juru missed.
pub async fn resync(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<crate::runtime::labels::ResyncReport>, AppError> {
    require_admin(&app, &headers)?;
    match app.runtime.resync_labels().await {
        Ok(report) => Ok(Json(report)),
        Err(crate::runtime::labels::ResyncError::NoWaha) => Err(AppError::NotConfigured("waha")),
        Err(crate::runtime::labels::ResyncError::Runtime(e)) => Err(AppError::Unavailable(e)),
        Err(e) => Err(AppError::BadGateway(e.to_string())),
    }
}
