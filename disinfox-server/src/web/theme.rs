//! The colour theme: the system setting by default (the stylesheet follows
//! `prefers-color-scheme`), or light or dark as the user chose with the switch in the header.
//! The choice is a cookie (`theme=light|dark`; `system` removes it) set by a form, so the switch
//! works without script; the layout marks `<html data-theme="…">` from it.

use axum::extract::State;
use axum::http::{header, HeaderValue};

use super::session::{secure, FormData};
use super::views::{see_other, PageError, PageResult};
use crate::state::AppState;

/// The cookie that holds the user's choice.
pub(crate) const THEME_COOKIE: &str = "theme";

/// A colour theme.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Theme {
    /// The system setting decides.
    #[default]
    System,
    Light,
    Dark,
}

impl Theme {
    /// The theme a cookie or form value names (`system` or anything else: the system's).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "system" => Some(Self::System),
            "light" => Some(Self::Light),
            "dark" => Some(Self::Dark),
            _ => None,
        }
    }

    /// The value of `<html data-theme>`: empty for the system's (no attribute).
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            Self::System => "",
            Self::Light => "light",
            Self::Dark => "dark",
        }
    }
}

/// `POST /theme`: stores the chosen theme in a cookie (a year) or removes it (`system`), then
/// back to the page the switch was used on (a path of this site only).
pub(crate) async fn switch(State(state): State<AppState>, form: FormData) -> PageResult {
    let Some(theme) = Theme::parse(form.get("theme")) else {
        return Err(PageError::bad_request(
            "The theme is one of system, light or dark.",
        ));
    };
    let cookie = match theme {
        Theme::System => format!(
            "{THEME_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax; HttpOnly{}",
            secure(&state)
        ),
        _ => format!(
            "{THEME_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly{}",
            theme.attribute(),
            secure(&state)
        ),
    };
    let mut r = see_other(&super::account::safe_next(form.get("back")));
    let v = HeaderValue::from_str(&cookie).map_err(PageError::internal)?;
    r.headers_mut().append(header::SET_COOKIE, v);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn themes_parse_and_mark_the_page() {
        assert_eq!(Theme::parse("dark"), Some(Theme::Dark));
        assert_eq!(Theme::parse("light").map(Theme::attribute), Some("light"));
        assert_eq!(Theme::parse("system").map(Theme::attribute), Some(""));
        assert_eq!(Theme::parse("Dark\"><x"), None);
    }
}
