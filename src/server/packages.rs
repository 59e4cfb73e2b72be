//! The catalog's seats for admins: `GET /api/packages` (seats left, held,
//! taken per package) and `PUT /api/packages/{code}/quota` (an admin's
//! "N seats are left now", as `#paket kuota CODE N`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::admin::require_admin;
use super::{AppError, AppState};
use crate::crm::seats::{OnSale, SeatView};

/// One package and its seats now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PackageSeats {
    code: String,
    name: String,
    departure: String,
    departed: bool,
    /// `packages.toml`'s quota: the seats on sale.
    quota: u32,
    /// What the bot offers: quota (or the admin's figure) − held − taken.
    seats_left: u32,
    /// Held by booking handovers (`[sales] seat_hold_hours`).
    held: u32,
    /// Taken by won deals.
    taken: u32,
    /// An admin's quota applies, not the file's.
    set_by_admin: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PackageList {
    packages: Vec<PackageSeats>,
}

fn seats_of(p: &OnSale, view: &SeatView) -> PackageSeats {
    let s = view.standing(&p.code, p.quota);
    PackageSeats {
        code: p.code.clone(),
        name: p.name.clone(),
        departure: p.departure.clone(),
        departed: p.departed,
        quota: p.quota,
        seats_left: s.left,
        held: s.held,
        taken: s.taken,
        set_by_admin: s.set_by_admin,
    }
}

/// `GET /api/packages`: every package of the catalog with its seats now.
#[utoipa::path(
    get,
    path = "/api/packages",
    tag = "ai",
    responses(
        (status = 200, description = "the packages with seats left, held and taken", body = PackageList),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<PackageList>, AppError> {
    require_admin(&app, &headers)?;
    let view = app.runtime.crm().seat_view(crate::clock::now_ms());
    let packages = app.runtime.sales().on_sale().iter().map(|p| seats_of(p, &view)).collect();
    Ok(Json(PackageList { packages }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaRequest {
    /// Seats left now (0 = full: the bot offers other packages).
    quota: u32,
    /// Who says so (for the record); `api` when absent.
    by: Option<String>,
}

/// `PUT /api/packages/{code}/quota`: how many seats of a package are left
/// now. Seats held or taken from here on come off it; an edit of the
/// package's `quota` in `packages.toml` replaces it.
#[utoipa::path(
    put,
    path = "/api/packages/{code}/quota",
    tag = "ai",
    params(("code" = String, Path, description = "The package code (UMR_JAN_2027_PLUS), any case")),
    request_body = QuotaRequest,
    responses(
        (status = 200, description = "stored; the package as it stands now", body = PackageSeats),
        (status = 400, description = "not a JSON body with a `quota` of 0 or more"),
        (status = 401, description = "admin token required"),
        (status = 404, description = "no package with this code in the catalog")
    ),
    security(("admin_token" = []))
)]
pub async fn set_quota(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Json(req): Json<QuotaRequest>,
) -> Result<Json<PackageSeats>, AppError> {
    require_admin(&app, &headers)?;
    let packages = app.runtime.sales().on_sale();
    let package = packages.iter().find(|p| p.code.eq_ignore_ascii_case(code.trim())).ok_or(AppError::NotFound)?;
    let crm = app.runtime.crm();
    let now = crate::clock::now_ms();
    let quota =
        crm.seat_view(now).quota_set(&package.code, req.quota, package.quota, req.by.as_deref().unwrap_or("api"), now);
    let mut changes = crate::crm::Changes::default();
    changes.set_quota(&package.code, &quota);
    crm.commit(changes).await.map_err(crate::runtime::RuntimeError::from)?;
    Ok(Json(seats_of(package, &crm.seat_view(now))))
}
