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

/// GET /api/labels: every WhatsApp label with its number of contacts.
#[utoipa::path(
    get,
    path = "/api/labels",
    tag = "labels",
    responses(
        (status = 200, description = "`labels` with how many contacts carry each"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
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

/// GET /api/labels/{label}/contacts: who carries a label, newest first.
///
/// `{label}` is the label's id or its name (any case).
#[utoipa::path(
    get,
    path = "/api/labels/{label}/contacts",
    tag = "labels",
    params(("label" = String, Path, description = "the label's id or its name (any case)"), ("page" = Option<usize>, Query, description = "from 1"), ("per_page" = Option<usize>, Query, description = "contacts per page")),
    responses(
        (status = 200, description = "the label and one page of its contacts"),
        (status = 404, description = "no such label"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
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
#[utoipa::path(
    post,
    path = "/api/labels/resync",
    tag = "labels",
    responses(
        (status = 200, description = "what the resync found and applied"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn resync(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<crate::runtime::labels::ResyncReport>, AppError> {
    require_admin(&app, &headers)?;
    match app.runtime.resync_labels().await {
        Ok(report) => Ok(Json(report)),
        Err(crate::runtime::labels::ResyncError::NoLabels) => Err(AppError::NotConfigured("waha")),
        Err(crate::runtime::labels::ResyncError::Runtime(e)) => Err(AppError::Unavailable(e)),
        Err(e) => Err(AppError::BadGateway(e.to_string())),
    }
}

#[derive(Deserialize)]
pub struct TrendQuery {
    #[serde(default = "thirty")]
    days: u64,
    #[serde(default)]
    by: TrendBy,
}

fn thirty() -> u64 {
    30
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TrendBy {
    #[default]
    Day,
    /// Who applied it: the WhatsApp account (`whatsapp:SESSION:NUMBER`) or the staff member (`staff:ID`).
    Cs,
    /// The contact's campaign code or ad (`(none)` when unknown).
    Campaign,
}

#[derive(Serialize)]
pub struct Bucket {
    key: String,
    added: usize,
}

#[derive(Serialize)]
pub struct LabelTrend {
    id: String,
    name: String,
    added: usize,
    buckets: Vec<Bucket>,
}

#[derive(Serialize)]
pub struct Trend {
    days: u64,
    by: &'static str,
    labels: Vec<LabelTrend>,
}

/// `GET /api/labels/trend?days=30&by=day|cs|campaign`: label additions in the
/// last `days` days (WIB dates), per day (every day listed, zeros included),
/// per CS or per campaign, for each label. Removals are not subtracted.
#[utoipa::path(
    get,
    path = "/api/labels/trend",
    tag = "labels",
    params(("days" = Option<u64>, Query, description = "how far back (default 30)"), ("by" = Option<String>, Query, description = "day (default), cs or campaign")),
    responses(
        (status = 200, description = "per label, additions per day, CS or campaign"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn trend(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TrendQuery>,
) -> Result<Json<Trend>, AppError> {
    require_admin(&app, &headers)?;
    if !(1..=366).contains(&q.days) {
        return Err(AppError::BadRequest("days is 1 to 366".into()));
    }
    let crm = app.runtime.crm();
    let now = crate::clock::now_ms();
    let today = crate::clock::local_day(now);
    let first_day = today + 1 - q.days;
    let date = crate::clock::date_of_day;
    let mut per_label: std::collections::BTreeMap<String, (String, std::collections::BTreeMap<String, usize>)> =
        std::collections::BTreeMap::new();
    for label in crm.labels().into_iter().filter(|l| !l.deleted) {
        let mut buckets = std::collections::BTreeMap::new();
        if q.by == TrendBy::Day {
            for day in first_day..=today {
                buckets.insert(date(day), 0);
            }
        }
        per_label.insert(label.id.clone(), (label.name, buckets));
    }
    for e in crm.label_history() {
        let day = crate::clock::local_day(e.at_ms);
        if e.action != crate::crm::labels::LabelAction::Added || day < first_day {
            continue;
        }
        let key = match q.by {
            TrendBy::Day => date(day),
            TrendBy::Cs => match &e.by {
                AppliedBy::WhatsappAccount { session, number } => {
                    format!("whatsapp:{session}:{}", number.as_deref().unwrap_or("?"))
                }
                AppliedBy::Staff { id } => format!("staff:{id}"),
            },
            TrendBy::Campaign => crm
                .contact(&e.contact)
                .and_then(|c| c.campaign().map(str::to_string))
                .unwrap_or_else(|| "(none)".into()),
        };
        let entry = per_label.entry(e.label_id.clone()).or_insert_with(|| (e.label_name.clone(), Default::default()));
        *entry.1.entry(key).or_default() += 1;
    }
    let labels = per_label
        .into_iter()
        .map(|(id, (name, buckets))| LabelTrend {
            added: buckets.values().sum(),
            buckets: buckets.into_iter().map(|(key, added)| Bucket { key, added }).collect(),
            id,
            name,
        })
        .collect();
    let by = match q.by {
        TrendBy::Day => "day",
        TrendBy::Cs => "cs",
        TrendBy::Campaign => "campaign",
    };
    Ok(Json(Trend { days: q.days, by, labels }))
}
