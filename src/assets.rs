//! The stylesheet and the logo, compiled into the binary (the container image needs no files
//! beside it) and served under names that carry a hash of their content, so that browsers may
//! keep them for a year and still get a new version the moment it changes. `build.rs` stores
//! each one compressed with gzip and brotli too, for browsers that accept them.

use std::sync::LazyLock;

use actix_web::http::header::ContentEncoding;
use sha2::{Digest, Sha256};

/// Where the fingerprinted assets are served.
pub const PREFIX: &str = "/static/";

/// A file from `static/`.
pub struct Asset {
    /// Its name in `static/`, which templates ask for.
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    /// `bytes` compressed by `build.rs`.
    pub gzip: &'static [u8],
    pub brotli: &'static [u8],
}

/// `static/<name>`, as it is and compressed by `build.rs` into `OUT_DIR/static/`.
macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../static/", $name)),
            gzip: include_bytes!(concat!(env!("OUT_DIR"), "/static/", $name, ".gz")),
            brotli: include_bytes!(concat!(env!("OUT_DIR"), "/static/", $name, ".br")),
        }
    };
}

impl Asset {
    /// The bytes to send in `coding`, if the asset is stored that way and is smaller for it.
    pub fn encoded(&self, coding: ContentEncoding) -> Option<&'static [u8]> {
        let encoded = match coding {
            ContentEncoding::Identity => return Some(self.bytes),
            ContentEncoding::Gzip => self.gzip,
            ContentEncoding::Brotli => self.brotli,
            _ => return None,
        };
        (encoded.len() < self.bytes.len()).then_some(encoded)
    }
}

const ASSETS: [Asset; 2] = [
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("logo.svg", "image/svg+xml"),
];

/// `/robots.txt`, served as it is: search engines may index the home page and nothing behind
/// a sign-in.
pub const ROBOTS_TXT: &str = include_str!("../static/robots.txt");

/// Each asset with its address, `/static/style.<hash>.css`, made once: every page links them.
static SERVED: LazyLock<Vec<(String, &'static Asset)>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| (format!("{PREFIX}{}", fingerprinted_name(asset)), asset))
        .collect()
});

fn fingerprinted_name(asset: &Asset) -> String {
    let digest = Sha256::digest(asset.bytes);
    let hash: String = digest[..5]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    match asset.name.rsplit_once('.') {
        Some((stem, extension)) => format!("{stem}.{hash}.{extension}"),
        None => format!("{}.{hash}", asset.name),
    }
}

/// The address of the asset named `name` in `static/`, for templates:
/// `/static/style.3f9a0c21de.css`.
///
/// # Panics
/// If no asset has that name: a typo in a template, caught by the first test that renders it.
pub fn url(name: &str) -> &'static str {
    SERVED
        .iter()
        .find(|(_, asset)| asset.name == name)
        .map(|(url, _)| url.as_str())
        .unwrap_or_else(|| panic!("no static asset is named {name:?}"))
}

/// The asset served as `file_name` (fingerprint included), if any.
pub fn find(file_name: &str) -> Option<&'static Asset> {
    SERVED
        .iter()
        .find(|(url, _)| url.strip_prefix(PREFIX) == Some(file_name))
        .map(|(_, asset)| *asset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_found_under_its_fingerprinted_url() {
        for asset in &ASSETS {
            let url = url(asset.name);
            let file_name = url.strip_prefix(PREFIX).unwrap();
            assert!(find(file_name).is_some_and(|found| found.name == asset.name));
            assert_ne!(file_name, asset.name, "the name carries a hash");
        }
        assert!(
            find("style.css").is_none(),
            "only fingerprinted names are served"
        );
    }

    #[test]
    fn every_asset_is_stored_smaller_in_each_coding_and_decodes_to_itself() {
        use std::io::Read as _;

        for asset in &ASSETS {
            let gzip = asset.encoded(ContentEncoding::Gzip).unwrap();
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(gzip)
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, asset.bytes, "{} (gzip)", asset.name);

            let brotli = asset.encoded(ContentEncoding::Brotli).unwrap();
            let mut decoded = Vec::new();
            brotli::Decompressor::new(brotli, 4096)
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, asset.bytes, "{} (brotli)", asset.name);
        }
    }

    #[test]
    fn a_coding_that_would_not_save_bytes_is_not_offered() {
        let tiny = Asset {
            name: "a.css",
            content_type: "text/css",
            bytes: b"a{}",
            gzip: b"longer than the original",
            brotli: b"a{",
        };
        assert_eq!(tiny.encoded(ContentEncoding::Gzip), None);
        assert_eq!(tiny.encoded(ContentEncoding::Brotli), Some(&b"a{"[..]));
        assert_eq!(tiny.encoded(ContentEncoding::Zstd), None, "not stored");
        assert_eq!(tiny.encoded(ContentEncoding::Identity), Some(&b"a{}"[..]));
    }

    #[test]
    fn the_fingerprint_follows_the_content() {
        let one = Asset {
            name: "a.css",
            content_type: "text/css",
            bytes: b"a{}",
            gzip: b"",
            brotli: b"",
        };
        let other = Asset {
            name: "a.css",
            content_type: "text/css",
            bytes: b"b{}",
            gzip: b"",
            brotli: b"",
        };
        assert_ne!(fingerprinted_name(&one), fingerprinted_name(&other));
        assert!(
            fingerprinted_name(&one).starts_with("a.")
                && fingerprinted_name(&one).ends_with(".css")
        );
    }
}
