//! Picks the content coding of a static asset from the request's `Accept-Encoding`
//! (RFC 9110, section 12.5.3). Only assets are ever compressed: pages carry the CSRF token and
//! may reflect the address, which is what a compression side channel (BREACH) needs.

use actix_web::HttpRequest;
use actix_web::http::header::{
    AcceptEncoding, ContentEncoding, Encoding, Header, Preference, Quality, QualityItem,
};

/// The codings an asset is stored in besides identity, most preferred first: on equal
/// q-values brotli wins, being the smaller.
pub const OFFERED: [ContentEncoding; 2] = [ContentEncoding::Brotli, ContentEncoding::Gzip];

/// The coding to answer `request` with: the offered one with the highest non-zero q-value,
/// unless the request rates `identity` higher still. Without `Accept-Encoding`, or when it
/// accepts none of them, the asset goes out as it is.
pub fn negotiate(request: &HttpRequest) -> ContentEncoding {
    // A malformed header is read as no header; malformed items are skipped.
    let accepted = AcceptEncoding::parse(request).map_or_else(|_| Vec::new(), |header| header.0);
    choose(&accepted)
}

fn choose(accepted: &[QualityItem<Preference<Encoding>>]) -> ContentEncoding {
    let quality_of = |coding: ContentEncoding| -> Option<Quality> {
        let named = accepted
            .iter()
            .find(|item| item.item == Preference::Specific(Encoding::Known(coding)));
        let any = accepted.iter().find(|item| item.item == Preference::Any);
        named.or(any).map(|item| item.quality)
    };
    // The first of equals is kept: `OFFERED` lists the preferred coding first.
    let mut best: Option<(ContentEncoding, Quality)> = None;
    for coding in OFFERED {
        if let Some(quality) = quality_of(coding)
            && quality > Quality::ZERO
            && best.is_none_or(|(_, best_quality)| quality > best_quality)
        {
            best = Some((coding, quality));
        }
    }
    let identity = accepted
        .iter()
        .find(|item| item.item == Preference::Specific(Encoding::identity()))
        .map(|item| item.quality);
    match (best, identity) {
        (Some((_, quality)), Some(identity)) if identity > quality => ContentEncoding::Identity,
        (Some((coding, _)), _) => coding,
        (None, _) => ContentEncoding::Identity,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::ACCEPT_ENCODING;
    use actix_web::test::TestRequest;

    use super::*;

    fn negotiated(accept_encoding: Option<&str>) -> ContentEncoding {
        let mut request = TestRequest::default();
        if let Some(value) = accept_encoding {
            request = request.insert_header((ACCEPT_ENCODING, value));
        }
        negotiate(&request.to_http_request())
    }

    #[test]
    fn brotli_wins_over_gzip_when_both_are_accepted_alike() {
        for header in ["gzip, br", "br, gzip", "*", "gzip;q=0.5, br;q=0.5", "br, *"] {
            assert_eq!(
                negotiated(Some(header)),
                ContentEncoding::Brotli,
                "{header}"
            );
        }
    }

    #[test]
    fn q_values_rank_the_codings() {
        let table = [
            ("gzip", ContentEncoding::Gzip),
            ("GZIP", ContentEncoding::Gzip),
            ("br", ContentEncoding::Brotli),
            ("gzip, br;q=0.5", ContentEncoding::Gzip),
            ("br;q=0, *", ContentEncoding::Gzip),
            ("*;q=0.5, gzip", ContentEncoding::Gzip),
            ("gzip;q=0.5, identity", ContentEncoding::Identity),
            ("gzip, identity;q=0.5", ContentEncoding::Gzip),
            ("deflate, zstd", ContentEncoding::Identity),
        ];
        for (header, coding) in table {
            assert_eq!(negotiated(Some(header)), coding, "{header}");
        }
    }

    #[test]
    fn a_coding_refused_with_q_0_is_never_sent() {
        // In the third, `*` accepts only what is not named, and both offered codings are named.
        for header in [
            "gzip;q=0, br;q=0",
            "*;q=0",
            "br;q=0, gzip;q=0, *",
            "identity",
        ] {
            assert_eq!(
                negotiated(Some(header)),
                ContentEncoding::Identity,
                "{header}"
            );
        }
    }

    #[test]
    fn no_or_an_unreadable_header_gets_the_asset_as_it_is() {
        assert_eq!(negotiated(None), ContentEncoding::Identity);
        assert_eq!(negotiated(Some("")), ContentEncoding::Identity);
        assert_eq!(
            negotiated(Some("gzip;q=high")),
            ContentEncoding::Identity,
            "an item with a malformed q-value is skipped"
        );
    }
}
