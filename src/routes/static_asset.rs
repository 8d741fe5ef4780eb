use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ContentEncoding, VARY,
};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::assets;
use crate::content_coding;
use crate::error::AppError;

/// `GET /static/{file}`: a fingerprinted asset, cacheable for a year, compressed when the
/// browser accepts it. Each answer says `Vary: Accept-Encoding`, the uncompressed one too, so
/// that no cache hands a compressed copy to a browser that did not ask for it.
pub async fn static_asset(
    request: HttpRequest,
    file: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let asset = assets::find(&file).ok_or(AppError::NotFound)?;
    let coding = content_coding::negotiate(&request);
    let (coding, bytes) = asset
        .encoded(coding)
        .map_or((ContentEncoding::Identity, asset.bytes), |bytes| {
            (coding, bytes)
        });
    let mut response = HttpResponse::Ok();
    response
        .insert_header((CONTENT_TYPE, asset.content_type))
        .insert_header((CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((VARY, "Accept-Encoding"));
    if coding != ContentEncoding::Identity {
        response.insert_header((CONTENT_ENCODING, coding.as_str()));
    }
    Ok(response.body(bytes))
}

/// `GET /robots.txt`: keeps search engines to the home page. Not fingerprinted, so cached for
/// a day only.
pub async fn robots_txt() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "public, max-age=86400"))
        .body(assets::ROBOTS_TXT)
}
