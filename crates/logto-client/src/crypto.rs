//! jsonwebtoken's crypto backend, chosen by this crate's features rather than left to feature
//! unification: with both of jsonwebtoken's backends enabled somewhere in a product's
//! dependency tree and none installed, its first verification would panic.

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "logto-client needs a crypto backend for JWT verification: enable the `aws-lc-rs` feature \
     (the default) or `rust-crypto`"
);

/// Installs this crate's jsonwebtoken backend as the process default: `aws-lc-rs` when that
/// feature is on, else `rust-crypto`. A provider installed before (by the product or another
/// library) stays: every provider implements the algorithms this crate allows
/// ([`ALLOWED_ALGORITHMS`](crate::ALLOWED_ALGORITHMS)). Returns whether this call installed it.
pub(crate) fn install_jwt_crypto() -> bool {
    #[cfg(feature = "aws-lc-rs")]
    let provider = &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    let provider = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
    provider.install_default().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_twice_is_harmless_and_leaves_a_working_provider() {
        install_jwt_crypto();
        assert!(!install_jwt_crypto(), "the second call finds one installed");
        let key = jsonwebtoken::EncodingKey::from_secret(b"a test secret of some length");
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({"sub": "u"}),
            &key,
        );
        assert!(
            token.is_ok(),
            "signing works with the installed provider: {token:?}"
        );
    }
}
