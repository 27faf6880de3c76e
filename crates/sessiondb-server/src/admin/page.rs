//! The console's pages, rendered on the server as HTML. Every piece of user data (session names,
//! keys, values, the search text) goes through [`esc`]; numbers are formatted by Rust.

use std::fmt::Write as _;

use sessiondb_core::store::{ExpiryTimeline, SessionPage, SessionSummary, SessionView};
use sessiondb_core::Token;

/// Escapes text for HTML content and for attribute values in double quotes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Encodes text for a URL's query.
pub fn url_part(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The live figures at the top of the dashboard (and in `/api/live`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    /// Live sessions.
    pub sessions: u64,
    /// Top-level keys plus the keys of live sessions.
    pub keys: u64,
    /// Open WebSocket connections.
    pub connections: u64,
}

/// Something that changes data, asked for from a session's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `SH_END`: the session and its keys go.
    End,
    /// `SH_CLEAR`: its keys go, the session stays.
    Clear,
}

impl Action {
    /// The name in URLs (`/confirm?action=end`, `POST /session/end`).
    pub fn name(self) -> &'static str {
        match self {
            Action::End => "end",
            Action::Clear => "clear",
        }
    }

    /// The action named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "end" => Some(Action::End),
            "clear" => Some(Action::Clear),
            _ => None,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Action::End => "End",
            Action::Clear => "Clear",
        }
    }
}

/// Everything the dashboard shows.
pub struct Dashboard<'a> {
    /// Counts.
    pub live: Live,
    /// Operations per second, oldest first.
    pub ops: &'a [u64],
    /// The search's name prefix.
    pub prefix: &'a str,
    /// The page of sessions found.
    pub found: &'a SessionPage,
    /// Whether this page follows an earlier one (a cursor was given).
    pub continued: bool,
    /// Upcoming expiries.
    pub timeline: &'a ExpiryTimeline,
    /// Width of one timeline bar, in ms.
    pub bucket_ms: u64,
    /// Now, in Unix ms.
    pub now_ms: u64,
    /// A line to show at the top (what the last action did).
    pub notice: Option<String>,
}

/// The frame every page shares. `csrf`: the form token when a logout button belongs on it.
pub fn layout(title: &str, logout_csrf: Option<&str>, main: &str) -> String {
    let logout = logout_csrf.map_or_else(String::new, |csrf| {
        format!(
            r#"<form method="post" action="/logout" class="logout"><input type="hidden" name="csrf" value="{}"><button type="submit">Log out</button></form>"#,
            esc(csrf)
        )
    });
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · sessiondb admin</title>
<link rel="stylesheet" href="/admin.css">
<script src="/admin.js" defer></script>
</head>
<body>
<header><a href="/" class="brand">sessiondb <span>admin</span></a><span class="version">v{version}</span>{logout}</header>
<main>
{main}
</main>
</body>
</html>
"#,
        title = esc(title),
        version = crate::VERSION,
    )
}

/// The login form. `next`: where to go after logging in (a console path).
pub fn login(error: bool, next: &str) -> String {
    let error = if error {
        r#"<p class="error" role="alert">Wrong secret.</p>"#
    } else {
        ""
    };
    let main = format!(
        r#"<section class="login">
<h1>Log in</h1>
<p>This server requires one of its authentication secrets.</p>
{error}
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label>Secret <input type="password" name="secret" autocomplete="current-password" required autofocus></label>
<button type="submit">Log in</button>
</form>
</section>"#,
        next = esc(next)
    );
    layout("Log in", None, &main)
}

/// The dashboard: counts, the ops chart, the search and its results, upcoming expiries.
pub fn dashboard(d: &Dashboard<'_>, csrf: Option<&str>) -> String {
    let mut main = String::new();
    if let Some(notice) = &d.notice {
        let _ = write!(
            main,
            r#"<p class="notice" role="status">{}</p>"#,
            esc(notice)
        );
    }
    let ops_now = d.ops.last().copied().unwrap_or(0);
    let _ = write!(
        main,
        r#"<section class="counts" aria-label="Live counts">
<div class="count"><span class="label">Sessions</span><span class="value" id="live-sessions">{}</span></div>
<div class="count"><span class="label">Keys</span><span class="value" id="live-keys">{}</span></div>
<div class="count"><span class="label">Connections</span><span class="value" id="live-connections">{}</span></div>
<div class="count"><span class="label">Ops/s</span><span class="value" id="live-ops">{ops_now}</span></div>
</section>
<section class="chart">
<h2>Operations per second, last 5 minutes</h2>
{}
</section>
"#,
        d.live.sessions,
        d.live.keys,
        d.live.connections,
        ops_chart(d.ops),
    );
    search(&mut main, d);
    timeline(&mut main, d);
    let title = if d.prefix.is_empty() {
        "Dashboard".to_owned()
    } else {
        format!("Sessions “{}”", d.prefix)
    };
    layout(&title, csrf, &main)
}

fn search(main: &mut String, d: &Dashboard<'_>) {
    let _ = write!(
        main,
        r#"<section class="search">
<h2>Sessions</h2>
<form method="get" action="/" role="search">
<input type="search" name="q" value="{}" placeholder="Name prefix" aria-label="Name prefix">
<button type="submit">Search</button>
</form>
"#,
        esc(d.prefix)
    );
    let what = if d.prefix.is_empty() {
        "in all".to_owned()
    } else {
        format!("named “{}…”", esc(d.prefix))
    };
    let plural = if d.found.matching == 1 { "" } else { "s" };
    let _ = writeln!(
        main,
        r#"<p class="matching" id="matching">{} session{plural} {what}</p>"#,
        d.found.matching
    );
    if d.found.sessions.is_empty() {
        let _ = writeln!(main, r#"<p class="empty">No sessions to show.</p>"#);
    } else {
        session_table(main, &d.found.sessions, d.now_ms);
    }
    let mut links = Vec::new();
    if d.continued {
        links.push(format!(
            r#"<a href="/?q={}">First page</a>"#,
            url_part(d.prefix)
        ));
    }
    if let (true, Some(last)) = (d.found.more, d.found.sessions.last()) {
        links.push(format!(
            r#"<a href="/?q={}&amp;after={}&amp;after_tkn={}" rel="next">Next page</a>"#,
            url_part(d.prefix),
            url_part(last.name.as_deref().unwrap_or("")),
            last.tkn
        ));
    }
    if !links.is_empty() {
        let _ = writeln!(main, r#"<nav class="pages">{}</nav>"#, links.join(" "));
    }
    main.push_str("</section>\n");
}

fn session_table(main: &mut String, rows: &[SessionSummary], now_ms: u64) {
    main.push_str(
        "<table class=\"sessions\">\n<thead><tr><th>Name</th><th>Token</th><th>Keys</th>\
         <th>Expires in</th></tr></thead>\n<tbody>\n",
    );
    for s in rows {
        let _ = writeln!(
            main,
            r#"<tr><td><a href="/session?tkn={tkn}">{name}</a>{shared}</td><td class="tkn">{tkn}</td><td class="num">{keys}</td><td>{left}</td></tr>"#,
            tkn = s.tkn,
            name = display_name(s),
            shared = if s.shared {
                r#" <span class="tag">shared</span>"#
            } else {
                ""
            },
            keys = s.keys,
            left = remaining(s.deadline_ms, now_ms),
        );
    }
    main.push_str("</tbody>\n</table>\n");
}

fn timeline(main: &mut String, d: &Dashboard<'_>) {
    let t = d.timeline;
    let minutes = d.bucket_ms.saturating_mul(t.buckets.len() as u64) / 60_000;
    let _ = write!(
        main,
        r#"<section class="timeline">
<h2>Upcoming expiries</h2>
<p class="due">Due in the next {minutes} minutes: {} · later: {} · never: {}</p>
{}
"#,
        t.buckets.iter().sum::<u64>(),
        t.later,
        t.never,
        expiry_bars(&t.buckets, d.bucket_ms),
    );
    if t.next.is_empty() {
        main.push_str("<p class=\"empty\">No session expires.</p>\n");
    } else {
        main.push_str("<h3>Next to expire</h3>\n");
        session_table(main, &t.next, d.now_ms);
    }
    main.push_str("</section>\n");
}

/// One session's page: its settings, its keys and values, and the buttons that end or clear it.
pub fn session(
    view: &SessionView,
    now_ms: u64,
    csrf: Option<&str>,
    notice: Option<&str>,
) -> String {
    let s = &view.summary;
    let mut main = String::new();
    if let Some(notice) = notice {
        let _ = write!(
            main,
            r#"<p class="notice" role="status">{}</p>"#,
            esc(notice)
        );
    }
    let on_expiry = match (s.deadline_ms, s.deletes_on_expiry) {
        (None, _) => "never expires",
        (Some(_), true) => "the session is deleted",
        (Some(_), false) => "its keys are cleared",
    };
    let _ = write!(
        main,
        r#"<p class="back"><a href="/">← Dashboard</a></p>
<h1>Session {name}</h1>
<dl class="facts">
<dt>Token</dt><dd class="tkn">{tkn}</dd>
<dt>Shared</dt><dd>{shared}</dd>
<dt>Keys</dt><dd id="session-keys">{keys}</dd>
<dt>Expires in</dt><dd>{left}</dd>
<dt>On expiry</dt><dd>{on_expiry}</dd>
{owner}<dt>Version</dt><dd id="session-version">{version}</dd>
</dl>
<nav class="actions">
<a class="button danger" href="/confirm?action=end&amp;tkn={tkn}">End session…</a>
<a class="button" href="/confirm?action=clear&amp;tkn={tkn}">Clear keys…</a>
</nav>
"#,
        name = display_name(s),
        tkn = s.tkn,
        shared = if s.shared { "yes" } else { "no" },
        keys = s.keys,
        left = remaining(s.deadline_ms, now_ms),
        owner = s
            .owner
            .as_deref()
            .map(|o| format!("<dt>Owner</dt><dd>{}</dd>\n", esc(o)))
            .unwrap_or_default(),
        version = s.version,
    );
    if view.entries.is_empty() {
        main.push_str("<p class=\"empty\">This session holds no keys.</p>\n");
    } else {
        main.push_str(
            "<table class=\"keys\">\n<thead><tr><th>Key</th><th>Value (JSON)</th></tr></thead>\n<tbody>\n",
        );
        for e in &view.entries {
            let cut = if e.is_cut() {
                format!(
                    r#"<span class="cut">… ({} bytes in all)</span>"#,
                    e.json_len
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                main,
                "<tr><td class=\"key\">{}</td><td><code>{}</code>{cut}</td></tr>",
                esc(&e.key),
                esc(&e.json)
            );
        }
        main.push_str("</tbody>\n</table>\n");
        if view.entries.len() < s.keys {
            let _ = writeln!(
                main,
                r#"<p class="more">Showing the first {} of {} keys.</p>"#,
                view.entries.len(),
                s.keys
            );
        }
    }
    layout(&format!("Session {}", plain_name(s)), csrf, &main)
}

/// The question before an action: what it will do, a button that does it, a way back.
/// `logout_csrf`: the logout button's token, on a logged-in page.
pub fn confirm(
    action: Action,
    s: &SessionSummary,
    csrf: &str,
    logout_csrf: Option<&str>,
) -> String {
    let consequence = match action {
        Action::End => format!(
            "This deletes the session and its {} keys. Clients holding its token get “session does not exist”.",
            s.keys
        ),
        Action::Clear => format!(
            "This removes its {} keys; the session stays, with its expiry.",
            s.keys
        ),
    };
    let main = format!(
        r#"<section class="confirm">
<h1>{verb} session {name}?</h1>
<p>{consequence}</p>
<form method="post" action="/session/{action}">
<input type="hidden" name="tkn" value="{tkn}">
<input type="hidden" name="csrf" value="{csrf}">
<button type="submit" class="danger">Yes, {verb_lower} it</button>
<a class="button" href="/session?tkn={tkn}">Cancel</a>
</form>
</section>"#,
        verb = action.verb(),
        verb_lower = action.verb().to_lowercase(),
        name = display_name(s),
        action = action.name(),
        tkn = s.tkn,
        csrf = esc(csrf),
    );
    layout(&format!("{} session?", action.verb()), logout_csrf, &main)
}

/// A page that says what was not found.
pub fn not_found(what: &str, csrf: Option<&str>) -> String {
    let main = format!(
        r#"<section><h1>Not found</h1><p>{}</p><p><a href="/">← Dashboard</a></p></section>"#,
        esc(what)
    );
    layout("Not found", csrf, &main)
}

/// A session's name for a page, escaped; unnamed sessions say so.
fn display_name(s: &SessionSummary) -> String {
    match &s.name {
        Some(name) if !name.is_empty() => format!("<span class=\"name\">{}</span>", esc(name)),
        _ => "<span class=\"name unnamed\">(unnamed)</span>".to_owned(),
    }
}

fn plain_name(s: &SessionSummary) -> String {
    s.name.clone().unwrap_or_else(|| format!("#{}", s.tkn))
}

/// "1h 02m 03s", "never", "due".
pub fn remaining(deadline_ms: Option<u64>, now_ms: u64) -> String {
    let Some(deadline) = deadline_ms else {
        return "never".to_owned();
    };
    let secs = deadline.saturating_sub(now_ms) / 1000;
    if secs == 0 {
        return "due".to_owned();
    }
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s:02}s"),
        (0, _, _) => format!("{h}h {m:02}m {s:02}s"),
        _ => format!("{d}d {h:02}h {m:02}m"),
    }
}

/// Chart geometry, in SVG user units.
const CHART_W: u64 = 600;
const CHART_H: u64 = 120;

/// The ops/s line's points and the top of its scale (at least 1).
pub fn ops_points(samples: &[u64]) -> (String, u64) {
    let top = samples.iter().copied().max().unwrap_or(0).max(1);
    let slots = super::samples::HISTORY_SECS as u64;
    // The newest sample is at the right edge; a history still filling starts part-way.
    let first_slot = slots.saturating_sub(samples.len() as u64);
    let points = samples
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let x = (first_slot + i as u64) * CHART_W / (slots - 1);
            let y = CHART_H - v.min(top) * (CHART_H - 10) / top;
            format!("{x},{y}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    (points, top)
}

fn ops_chart(samples: &[u64]) -> String {
    let (points, top) = ops_points(samples);
    format!(
        r#"<svg id="ops-chart" class="chart" viewBox="0 0 {CHART_W} {CHART_H}" role="img" aria-label="Operations per second over the last 5 minutes">
<line x1="0" y1="{CHART_H}" x2="{CHART_W}" y2="{CHART_H}" class="axis"/>
<line x1="0" y1="10" x2="{CHART_W}" y2="10" class="grid"/>
<text x="4" y="22" class="scale" id="ops-top">{top}/s</text>
<polyline id="ops-line" points="{points}"/>
</svg>"#
    )
}

fn expiry_bars(buckets: &[u64], bucket_ms: u64) -> String {
    let top = buckets.iter().copied().max().unwrap_or(0).max(1);
    let n = buckets.len().max(1) as u64;
    let width = CHART_W / n;
    let mut bars = String::new();
    for (i, &count) in buckets.iter().enumerate() {
        let h = count * (CHART_H - 10) / top;
        let from = i as u64 * bucket_ms / 1000;
        let _ = write!(
            bars,
            r#"<rect x="{x}" y="{y}" width="{w}" height="{h}"><title>{count} due in {from}–{to} s</title></rect>"#,
            x = i as u64 * width,
            y = CHART_H - h,
            w = width.saturating_sub(1).max(1),
            to = from + bucket_ms / 1000,
        );
    }
    format!(
        r#"<svg id="expiry-chart" class="chart bars" viewBox="0 0 {CHART_W} {}" role="img" aria-label="Sessions due per minute ahead">
<line x1="0" y1="{CHART_H}" x2="{CHART_W}" y2="{CHART_H}" class="axis"/>
{bars}
<text x="0" y="{}" class="scale">now</text><text x="{CHART_W}" y="{}" class="scale end">+{} min</text>
</svg>"#,
        CHART_H + 16,
        CHART_H + 14,
        CHART_H + 14,
        bucket_ms * n / 60_000,
    )
}

/// The token in a query or form field, if it is one.
pub fn parse_tkn(field: Option<&str>) -> Option<Token> {
    field.and_then(|t| t.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        assert_eq!(url_part("a b&c/é"), "a+b%26c%2F%C3%A9");
    }

    #[test]
    fn remaining_time_reads_like_a_clock() {
        assert_eq!(remaining(None, 5), "never");
        assert_eq!(remaining(Some(1_000), 1_500), "due");
        assert_eq!(remaining(Some(42_000), 0), "42s");
        assert_eq!(remaining(Some(3_723_000), 0), "1h 02m 03s");
        assert_eq!(remaining(Some(90_061_000), 0), "1d 01h 01m");
    }

    #[test]
    fn the_ops_line_ends_at_the_right_edge() {
        let (points, top) = ops_points(&[0, 5, 10]);
        assert_eq!(top, 10);
        let last = points.rsplit(' ').next().expect("a point");
        assert_eq!(last, format!("{CHART_W},10"));
        assert_eq!(ops_points(&[]), (String::new(), 1));
    }
}
