//! The guide's table of lambda-stream's own variables against the code: every
//! `LAMBDA_STREAM_*` variable the runtime reads ([`Config::VARIABLES`]) is in exactly one
//! table row of the README or `docs/`, with the default the code has, and no row names one it
//! does not read. (The local server's `LOCAL_LAMBDA_*` rows are checked against
//! `lambda_stream_local::SETTINGS` by that crate's tests.)
//!
//! [`Config::VARIABLES`]: lambda_stream::Config::VARIABLES

use std::collections::BTreeMap;
use std::path::Path;

/// `(name, default)` of every table row whose first cell is a `LAMBDA_STREAM_*` variable.
fn rows(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().strip_prefix('|')?.split('|').collect();
            let name = cells.first()?.trim().strip_prefix('`')?.strip_suffix('`')?;
            let well_formed = name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
            (name.starts_with("LAMBDA_STREAM_") && well_formed).then(|| {
                let default = cells.get(1).map_or("", |c| c.trim()).trim_matches('`');
                (name.to_owned(), default.to_owned())
            })
        })
        .collect()
}

#[test]
fn the_runtime_s_variables_are_documented_once_with_their_defaults() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![repo.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(repo.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    let mut documented: BTreeMap<String, String> = BTreeMap::new();
    for page in &pages {
        for (name, default) in rows(&std::fs::read_to_string(page).unwrap()) {
            let again = documented.insert(name.clone(), default);
            assert!(
                again.is_none(),
                "{name} has two rows: state it once, and link"
            );
        }
    }
    let code: BTreeMap<String, String> = lambda_stream::Config::VARIABLES
        .iter()
        .map(|(name, default)| (name.to_string(), default.to_string()))
        .collect();
    assert_eq!(
        documented, code,
        "the guide's rows (left) and the code's list (right)"
    );
}
