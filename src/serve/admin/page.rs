//! The IT-staff page itself: the form with the choices made, and what came of the last upload
//! (a refusal, or the table of the roster's problems), in Japanese or English.

use askama::Template;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};

use super::super::page as self_service;
use super::super::reply::{Reply, html, text};
use super::super::request::{Query, RequestBody};
use crate::diagnostic::{self, Diagnostic};
use crate::input::provider::{Names, Protocol};
use crate::render::guide::{Lang, VERSION};
use crate::render::outlook::PrfEncoding;
use crate::render::{Context, Format, SizeHint, render_template};

/// The largest roster the page takes, in bytes (said on the page).
pub const MAX_ROSTER: u64 = 8 * 1024 * 1024;
/// The most people in one upload (10,000 people with every kind of file: a 204 MB zip, made as
/// it is sent). The page says it as `10,000`, which a unit test keeps true.
pub const MAX_PEOPLE: usize = 10_000;

/// Rows of the problem table shown at most: a roster of 200,000 bad rows must not make a page
/// of tens of MB. How many more there are is said below the table.
pub const MAX_PROBLEMS_SHOWN: usize = 300;

/// The page: the form with the choices made, and what came of the last upload.
pub fn page(
    ctx: &Context<'_>,
    base: &str,
    lang: Lang,
    choices: &Choices,
    outcome: Outcome<'_>,
) -> Reply {
    let (status, error, problems, skippable, file_name) = match outcome {
        Outcome::Blank => (StatusCode::OK, None, &[][..], false, ""),
        Outcome::Refused(status, message) => (status, Some(message), &[][..], false, ""),
        Outcome::Problems {
            problems,
            skippable,
            file_name,
        } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            problems,
            skippable,
            file_name,
        ),
    };
    let default_dir = ctx.provider.outlook.prf_dir.as_str();
    let template = AdminHtml {
        lang,
        switch_href: format!("{}/admin/?lang={}", base, self_service::other(lang).code()),
        action: format!("{}/admin/?lang={}", base, lang.code()),
        names: &ctx.provider.names,
        choices,
        prf_dir_default: default_dir,
        signed: ctx.signer.is_some(),
        error: error.as_deref(),
        problems: &problems[..problems.len().min(MAX_PROBLEMS_SHOWN)],
        total: grouped(problems.len()),
        more: problems.len().saturating_sub(MAX_PROBLEMS_SHOWN),
        more_text: grouped(problems.len().saturating_sub(MAX_PROBLEMS_SHOWN)),
        shown: MAX_PROBLEMS_SHOWN,
        skippable: skippable || choices.skip_invalid,
        file_name,
        max_mb: MAX_ROSTER / 1024 / 1024,
        max_people: "10,000",
        version: VERSION,
    };
    static SIZE: SizeHint = SizeHint::new();
    match render_template(&template, "the IT-staff page", &SIZE) {
        Ok(bytes) => {
            let mut r = html(status, bytes);
            // With no-referrer (the other pages' policy) a browser sends the form with
            // `Origin: null`, which the cross-origin check refuses. This page's address
            // holds no one's data, and it links nowhere else.
            r.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            r
        }
        Err(e) => {
            diagnostic::error(e);
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}

/// What the page shows under its heading.
pub enum Outcome<'a> {
    Blank,
    Refused(StatusCode, String),
    Problems {
        problems: &'a [Diagnostic],
        skippable: bool,
        file_name: &'a str,
    },
}

/// The form's choices, as the page shows them.
#[derive(Debug, Clone)]
pub struct Choices {
    pub thunderbird: bool,
    pub apple: bool,
    pub outlook: bool,
    pub guides: bool,
    pub google: bool,
    pub imap: bool,
    pub cp932: bool,
    pub prf_dir: String,
    pub per_person: bool,
    pub skip_invalid: bool,
}

impl Choices {
    /// The server's own choices, as the CLI's defaults with the server's options.
    pub fn of(ctx: &Context<'_>) -> Choices {
        Choices {
            thunderbird: true,
            apple: true,
            outlook: true,
            guides: true,
            google: ctx.formats.contains(&Format::AppleGoogle),
            imap: ctx.protocol == Protocol::Imap,
            cp932: ctx.prf_encoding == PrfEncoding::Cp932,
            prf_dir: ctx
                .prf_dir
                .as_ref()
                .map_or(String::new(), |d| d.as_str().to_string()),
            per_person: false,
            skip_invalid: false,
        }
    }
}

#[derive(Template)]
#[template(path = "serve/admin.html")]
struct AdminHtml<'a> {
    lang: Lang,
    switch_href: String,
    action: String,
    names: &'a Names,
    choices: &'a Choices,
    prf_dir_default: &'a str,
    signed: bool,
    error: Option<&'a str>,
    /// The first [`MAX_PROBLEMS_SHOWN`] problems.
    problems: &'a [Diagnostic],
    /// How many there are in all, and how many are not shown, written for people.
    total: String,
    more: usize,
    more_text: String,
    shown: usize,
    skippable: bool,
    file_name: &'a str,
    max_mb: u64,
    /// [`MAX_PEOPLE`], written for people.
    max_people: &'static str,
    version: &'static str,
}

/// `n` with a comma between thousands (`199,700`).
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// What the page says, in its language.
pub enum Say<'a> {
    TooLarge,
    NoFile,
    NoFormats,
    PrfDir(&'a str),
    TooMany(usize),
    NothingLeft,
    Busy,
}

pub fn say(lang: Lang, what: Say<'_>) -> String {
    let mb = MAX_ROSTER / 1024 / 1024;
    match (lang, what) {
        (Lang::Ja, Say::TooLarge) => format!(
            "名簿が大きすぎます ({mb} MB まで)。部署ごとに分けるか、mailconf コマンドを使ってください。"
        ),
        (Lang::En, Say::TooLarge) => format!(
            "The roster is too large (at most {mb} MB): split it by department, or use the mailconf command."
        ),
        (Lang::Ja, Say::NoFile) => {
            "名簿のファイルを選んでください (空のファイルは送れません)。".into()
        }
        (Lang::En, Say::NoFile) => "Choose the roster file (an empty file cannot be used).".into(),
        (Lang::Ja, Say::NoFormats) => "作るファイルを一つ以上選んでください。".into(),
        (Lang::En, Say::NoFormats) => "Choose at least one kind of file to make.".into(),
        (Lang::Ja, Say::PrfDir(why)) => format!(".prf を置くフォルダーを確かめてください: {why}"),
        (Lang::En, Say::PrfDir(why)) => format!("Check the folder for the .prf: {why}"),
        (Lang::Ja, Say::TooMany(n)) => format!(
            "名簿に {n} 人います。このページで作れるのは {MAX_PEOPLE} 人までです。名簿を分けるか、mailconf コマンドを使ってください。"
        ),
        (Lang::En, Say::TooMany(n)) => format!(
            "The roster has {n} people; this page makes bundles of at most {MAX_PEOPLE}: split the roster, or use the mailconf command."
        ),
        (Lang::Ja, Say::NothingLeft) => {
            "問題のある行を除くと、誰も残りません。名簿を直してください。".into()
        }
        (Lang::En, Say::NothingLeft) => {
            "No person is left once the rows with problems are left out: fix the roster.".into()
        }
        (Lang::Ja, Say::Busy) => {
            "いまほかの方の zip を作って送っているところです。1 分ほどしてから、名簿をもう一度選んで送ってください。".into()
        }
        (Lang::En, Say::Busy) => {
            "The server is making and sending zips for others right now: choose and send the roster again in a minute.".into()
        }
    }
}

/// The page's language: `lang=` in the query, else the browser's.
pub fn language(req: &Request<RequestBody>) -> Lang {
    // A query that is not UTF-8 is refused before the page is reached.
    let query = Query::parse(req.uri().query()).unwrap_or_default();
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    self_service::language(query.get("lang"), accept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_states_the_limits() {
        assert_eq!(MAX_PEOPLE, 10_000, "the page says 10,000");
        assert_eq!(MAX_ROSTER, 8 * 1024 * 1024, "the page says 8 MB");
    }

    #[test]
    fn counts_are_written_with_commas() {
        for (n, text) in [
            (0, "0"),
            (300, "300"),
            (1000, "1,000"),
            (199_700, "199,700"),
        ] {
            assert_eq!(grouped(n), text);
        }
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
