//! The ways to sign in that a product offers, from Logto's connectors.

/// Offered sign-in methods; Logto's connectors themselves are configured in Logto.
#[derive(Debug, Clone, Default)]
pub struct SignInMethods {
    /// Social connector targets, one "Continue with ..." button each.
    pub social_connectors: Vec<String>,
    /// Whether "Email me a code" (the email connector) is offered.
    pub email_sign_in: bool,
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no spaces,
/// at most 254 bytes. Logto checks the address for real when it sends the code.
pub fn valid_email(address: &str) -> bool {
    let address = address.trim();
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    address.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;:[]\\".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_checked_for_shape() {
        for good in [
            "alice@example.com",
            " bob.builder+books@mail.example.co.jp ",
        ] {
            assert!(valid_email(good), "{good}");
        }
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a@b@example.com",
            "alice@.example.com",
            "alice@example..com",
            "al ice@example.com",
            "<script>@example.com",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
