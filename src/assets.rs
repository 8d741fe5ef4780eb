//! The stylesheet and the logo, compiled into the binary (the container image needs no files
//! beside it) and served under names that carry a hash of their content, so that browsers may
//! keep them for a year and still get a new version the moment it changes.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// Where the fingerprinted assets are served.
pub const PREFIX: &str = "/static/";

/// A file from `static/`.
pub struct Asset {
    /// Its name in `static/`, which templates ask for.
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

const ASSETS: [Asset; 2] = [
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../static/style.css"),
    },
    Asset {
        name: "logo.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../static/logo.svg"),
    },
];

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
    fn the_fingerprint_follows_the_content() {
        let one = Asset {
            name: "a.css",
            content_type: "text/css",
            bytes: b"a{}",
        };
        let other = Asset {
            name: "a.css",
            content_type: "text/css",
            bytes: b"b{}",
        };
        assert_ne!(fingerprinted_name(&one), fingerprinted_name(&other));
        assert!(
            fingerprinted_name(&one).starts_with("a.")
                && fingerprinted_name(&one).ends_with(".css")
        );
    }
}
