//! The extra authorization parameters Logto understands, as types: a value that parses is a
//! value Logto accepts.

use std::fmt;
use std::str::FromStr;

/// Extra authorization parameters for one sign-in (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInOptions {
    /// Sent as `first_screen`: which page of Logto's sign-in experience to open.
    pub first_screen: Option<FirstScreen>,
    /// Sent as `direct_sign_in`: skip Logto's page and go straight to a social or SSO provider.
    pub direct_sign_in: Option<DirectSignIn>,
    /// Sent space-separated as `identifier`: the identifiers the first screen offers.
    pub identifiers: Vec<Identifier>,
    /// Sent as `login_hint`: prefills the identifier (an email, a phone number, a username).
    pub login_hint: Option<String>,
    /// Sent as `ui_locales`, for example `ja en`.
    pub ui_locales: Option<String>,
    /// Sent as `organization_id`.
    pub organization_id: Option<String>,
}

impl SignInOptions {
    /// The options as authorization request parameters, in a stable order.
    pub(crate) fn to_params(&self) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if let Some(screen) = &self.first_screen {
            params.push(("first_screen", screen.as_str().to_owned()));
        }
        if let Some(direct) = &self.direct_sign_in {
            params.push(("direct_sign_in", direct.to_string()));
        }
        if !self.identifiers.is_empty() {
            let identifiers: Vec<_> = self
                .identifiers
                .iter()
                .copied()
                .map(Identifier::as_str)
                .collect();
            params.push(("identifier", identifiers.join(" ")));
        }
        let free_text = [
            ("login_hint", &self.login_hint),
            ("ui_locales", &self.ui_locales),
            ("organization_id", &self.organization_id),
        ];
        for (name, value) in free_text {
            if let Some(value) = value {
                params.push((name, value.clone()));
            }
        }
        params
    }
}

/// A value that is not one Logto accepts for the named sign-in option. The value itself is not
/// repeated: it comes from the request and may be anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for the sign-in option {option}")]
pub struct InvalidSignInOption {
    /// The parameter's name, for example `first_screen`.
    pub option: &'static str,
}

/// `first_screen`: the page of Logto's sign-in experience that opens first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FirstScreen {
    /// The sign-in page.
    SignIn,
    /// The registration page.
    Register,
    /// The password reset page.
    ResetPassword,
    /// The identifier sign-in page, restricted by [`SignInOptions::identifiers`].
    IdentifierSignIn,
    /// The identifier registration page, restricted by [`SignInOptions::identifiers`].
    IdentifierRegister,
    /// The enterprise single sign-on page.
    SingleSignOn,
}

impl FirstScreen {
    const ALL: [Self; 6] = [
        Self::SignIn,
        Self::Register,
        Self::ResetPassword,
        Self::IdentifierSignIn,
        Self::IdentifierRegister,
        Self::SingleSignOn,
    ];

    /// The parameter value Logto expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::Register => "register",
            Self::ResetPassword => "reset_password",
            Self::IdentifierSignIn => "identifier:sign_in",
            Self::IdentifierRegister => "identifier:register",
            Self::SingleSignOn => "single_sign_on",
        }
    }
}

impl FromStr for FirstScreen {
    type Err = InvalidSignInOption;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|screen| screen.as_str() == value)
            .ok_or(InvalidSignInOption {
                option: "first_screen",
            })
    }
}

impl fmt::Display for FirstScreen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `direct_sign_in`: a provider to go to without showing Logto's sign-in page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DirectSignIn {
    /// `social:<connector target>`, for example `social:github`.
    Social(String),
    /// `sso:<SSO connector id>`.
    Sso(String),
}

impl DirectSignIn {
    /// Connector targets and ids are short lowercase slugs; checking them keeps arbitrary
    /// request input out of the authorization URL.
    fn is_valid_target(target: &str) -> bool {
        (1..=64).contains(&target.len())
            && target
                .bytes()
                .all(|byte| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
    }
}

impl FromStr for DirectSignIn {
    type Err = InvalidSignInOption;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = InvalidSignInOption {
            option: "direct_sign_in",
        };
        let (method, target) = value.split_once(':').ok_or(invalid.clone())?;
        if !Self::is_valid_target(target) {
            return Err(invalid);
        }
        match method {
            "social" => Ok(Self::Social(target.to_owned())),
            "sso" => Ok(Self::Sso(target.to_owned())),
            _ => Err(invalid),
        }
    }
}

impl fmt::Display for DirectSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Social(target) => write!(f, "social:{target}"),
            Self::Sso(id) => write!(f, "sso:{id}"),
        }
    }
}

/// One value of `identifier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A username.
    Username,
}

impl Identifier {
    /// The parameter value Logto expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Username => "username",
        }
    }
}

impl FromStr for Identifier {
    type Err = InvalidSignInOption;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "email" => Ok(Self::Email),
            "phone" => Ok(Self::Phone),
            "username" => Ok(Self::Username),
            _ => Err(InvalidSignInOption {
                option: "identifier",
            }),
        }
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_screen_round_trips_logto_values_and_rejects_others() {
        let values = [
            "sign_in",
            "register",
            "reset_password",
            "identifier:sign_in",
            "identifier:register",
            "single_sign_on",
        ];
        for value in values {
            let screen: FirstScreen = value.parse().unwrap();
            assert_eq!(screen.as_str(), value);
            assert_eq!(screen.to_string(), value);
        }
        for bad in [
            "",
            "signIn",
            "SIGN_IN",
            "identifier",
            "identifier:reset",
            "sign_in ",
        ] {
            assert_eq!(
                bad.parse::<FirstScreen>(),
                Err(InvalidSignInOption {
                    option: "first_screen"
                }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn direct_sign_in_accepts_social_and_sso_slugs_only() {
        assert_eq!(
            "social:github".parse(),
            Ok(DirectSignIn::Social("github".into()))
        );
        assert_eq!(
            "social:wechat-web_2".parse(),
            Ok(DirectSignIn::Social("wechat-web_2".into()))
        );
        assert_eq!(
            "sso:a1b2c3d4e5f6".parse(),
            Ok(DirectSignIn::Sso("a1b2c3d4e5f6".into()))
        );
        assert_eq!(
            DirectSignIn::Sso("abc".into()).to_string(),
            "sso:abc",
            "Display gives the parameter value"
        );
        let too_long = format!("social:{}", "a".repeat(65));
        let longest = format!("social:{}", "a".repeat(64));
        assert!(longest.parse::<DirectSignIn>().is_ok());
        for bad in [
            "github",
            "social:",
            "social:GitHub",
            "social:git hub",
            "social:a/b",
            "social:a:b",
            "saml:okta",
            ":github",
            "social:é",
            too_long.as_str(),
        ] {
            assert_eq!(
                bad.parse::<DirectSignIn>(),
                Err(InvalidSignInOption {
                    option: "direct_sign_in"
                }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn identifiers_parse_from_logto_names() {
        for (value, identifier) in [
            ("email", Identifier::Email),
            ("phone", Identifier::Phone),
            ("username", Identifier::Username),
        ] {
            assert_eq!(value.parse(), Ok(identifier));
            assert_eq!(identifier.as_str(), value);
        }
        for bad in ["", "Email", "phone_number", "email phone"] {
            assert!(bad.parse::<Identifier>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "sms".parse::<Identifier>().unwrap_err().to_string(),
            "invalid value for the sign-in option identifier"
        );
    }

    #[test]
    fn params_hold_exactly_the_options_set() {
        assert!(SignInOptions::default().to_params().is_empty());
        let options = SignInOptions {
            first_screen: Some(FirstScreen::IdentifierRegister),
            direct_sign_in: Some(DirectSignIn::Social("github".into())),
            identifiers: vec![Identifier::Email, Identifier::Phone],
            login_hint: Some("alice@example.com".into()),
            ui_locales: Some("ja en".into()),
            organization_id: Some("org_1".into()),
        };
        let params = options.to_params();
        let expected = [
            ("first_screen", "identifier:register"),
            ("direct_sign_in", "social:github"),
            ("identifier", "email phone"),
            ("login_hint", "alice@example.com"),
            ("ui_locales", "ja en"),
            ("organization_id", "org_1"),
        ];
        assert_eq!(params.len(), expected.len());
        for ((name, value), (expected_name, expected_value)) in params.iter().zip(expected) {
            assert_eq!((*name, value.as_str()), (expected_name, expected_value));
        }
    }
}
