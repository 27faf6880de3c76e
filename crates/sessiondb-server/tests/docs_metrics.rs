//! `docs/PROTOCOL.md` (section E3) lists exactly the metric families a running server exposes at
//! `GET /metrics`, each with its Prometheus type.

mod common;

use common::ops::*;

const DOC: &str = include_str!("../../../docs/PROTOCOL.md");

/// `(family, type)` of each row of the table in section E3 (`| `name{labels}` | type | … |`).
fn documented_families(doc: &str) -> Vec<(String, String)> {
    let mut families = Vec::new();
    let mut in_section = false;
    for line in doc.lines() {
        if line.starts_with('#') {
            in_section = line.starts_with("### E3.");
            continue;
        }
        let Some(rest) = line.strip_prefix("| `").filter(|_| in_section) else {
            continue;
        };
        let Some((series, rest)) = rest.split_once('`') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        let kind = rest
            .trim_start_matches(" |")
            .split('|')
            .next()
            .unwrap_or("");
        families.push((name.to_owned(), kind.trim().to_owned()));
    }
    families.sort();
    families
}

/// `(family, type)` of each `# TYPE` line of a scrape.
fn exposed_families(scrape: &str) -> Vec<(String, String)> {
    let mut families: Vec<(String, String)> = scrape
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.trim().to_owned()))
        .collect();
    families.sort();
    families
}

#[tokio::test]
async fn the_doc_lists_every_metric_family_and_no_other() -> TestResult {
    // Persistence is on in the test configuration, so the journal's family is exposed too.
    let server = start(|c| c.metrics_addr = "127.0.0.1:0".parse().ok()).await?;
    let exposed =
        exposed_families(&scrape(server.metrics_addr.ok_or("no metrics endpoint")?).await?);
    assert!(!exposed.is_empty(), "the scrape has no # TYPE lines");
    assert_eq!(
        documented_families(DOC),
        exposed,
        "docs/PROTOCOL.md E3 (left) and the server's /metrics (right) list different families"
    );
    Ok(())
}

#[test]
fn the_readers_find_what_they_look_for() {
    let doc = "### E3. Metrics\n\n| Family | Type | Meaning |\n|---|---|---|\n\
               | `b_total{reason}` | counter | x |\n| `a_seconds` | gauge | y |\n\n### E4. Next\n\
               | `c` | gauge | z |\n";
    assert_eq!(
        documented_families(doc),
        vec![
            ("a_seconds".to_owned(), "gauge".to_owned()),
            ("b_total".to_owned(), "counter".to_owned())
        ]
    );
    let scrape = "# HELP b_total Help.\n# TYPE b_total counter\nb_total{reason=\"x\"} 1\n\
                  # TYPE a_seconds gauge\na_seconds 2\n";
    assert_eq!(exposed_families(scrape), documented_families(doc));
}
