//! The stylesheet, script and icon of the pages, compiled into the binary.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::views::PageError;

/// `(file name, media type, content)`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../assets/favicon.svg"),
    ),
];

pub(crate) async fn serve(Path(file): Path<String>) -> Result<Response, PageError> {
    let Some((_, media, body)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return Err(PageError::not_found(format!("There is no asset {file:?}.")));
    };
    Ok((
        [
            (header::CONTENT_TYPE, *media),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        *body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    #[test]
    fn assets_load_nothing_from_elsewhere() {
        for (name, _, body) in ASSETS {
            let text = String::from_utf8_lossy(body);
            for bad in [
                "@import",
                "url(http",
                "url(//",
                "fetch(\"http",
                "//cdn",
                "googleapis",
            ] {
                assert!(!text.contains(bad), "{name} contains {bad}");
            }
        }
    }
}
