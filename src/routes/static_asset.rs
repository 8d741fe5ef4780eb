use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};

use crate::assets;
use crate::error::AppError;

/// `GET /static/{file}`: a fingerprinted asset, cacheable for a year since its name changes
/// with its content.
pub async fn static_asset(file: web::Path<String>) -> Result<HttpResponse, AppError> {
    let asset = assets::find(&file).ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, asset.content_type))
        .insert_header((CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(asset.bytes))
}
