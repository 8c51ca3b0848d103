//! The README and `docs/` stay true: every relative link reaches a file (and, with `#`, one of
//! its headings), and every repository path they name in backticks exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn outside_code_blocks(text: &str) -> Vec<&str> {
    let mut inside = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                inside = !inside;
                return false;
            }
            !inside
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    outside_code_blocks(text)
        .into_iter()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|rest| anchor(rest.trim_start_matches('#')))
        .collect()
}

/// `[text](target)` targets that are not web addresses.
fn relative_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    for line in outside_code_blocks(text) {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            if !target.contains("://") && !target.starts_with("mailto:") {
                links.push(target.to_string());
            }
            rest = &rest[end..];
        }
    }
    links
}

fn check_link(from: &Path, target: &str) -> Result<(), String> {
    let (file, fragment) = match target.split_once('#') {
        Some((file, fragment)) => (file, Some(fragment)),
        None => (target, None),
    };
    let path = if file.is_empty() {
        from.to_path_buf()
    } else {
        from.parent().unwrap().join(file)
    };
    if !path.exists() {
        return Err(format!("{target}: {} does not exist", path.display()));
    }
    if let Some(fragment) = fragment {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{target}: {e}"))?;
        if !anchors(&text).contains(fragment) {
            return Err(format!(
                "{target}: no heading #{fragment} in {}",
                path.display()
            ));
        }
    }
    Ok(())
}

const TOP_FOLDERS: [&str; 10] = [
    "src/",
    "tests/",
    "crates/",
    "scripts/",
    "clients/",
    "schema/",
    "benches/",
    "fixtures/",
    "docs/",
    ".ci/",
];

/// Paths in backticks that start with one of the repository's folders, as far as they are
/// literal (up to a placeholder, a glob or a space).
fn named_paths(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| TOP_FOLDERS.iter().any(|top| span.starts_with(top)))
        .map(|span| {
            span.split(|c: char| c.is_whitespace() || "<*{…:".contains(c))
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn every_relative_link_reaches_a_file_and_heading() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for link in relative_links(&text) {
            if let Err(why) = check_link(&doc, &link) {
                broken.push(format!("{}: {why}", doc.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_path_the_docs_name_exists() {
    let mut missing = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for path in named_paths(&text) {
            if !root().join(&path).exists() {
                missing.push(format!("{}: `{path}`", doc.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named but absent:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_page_of_docs_is_reachable_from_the_readme() {
    let mut reached: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<PathBuf> = vec![root().join("README.md")];
    while let Some(doc) = queue.pop() {
        let text = std::fs::read_to_string(&doc).unwrap_or_default();
        for link in relative_links(&text) {
            let file = link.split('#').next().unwrap();
            if file.is_empty() {
                continue;
            }
            let path = doc.parent().unwrap().join(file);
            let Ok(path) = path.canonicalize() else {
                continue;
            };
            if reached.insert(path.display().to_string()) {
                queue.push(path);
            }
        }
    }
    let unreachable: Vec<String> = documents()
        .into_iter()
        .skip(1)
        .map(|doc| doc.canonicalize().unwrap().display().to_string())
        .filter(|doc| !reached.contains(doc))
        .collect();
    assert!(unreachable.is_empty(), "no link leads to: {unreachable:?}");
}

#[test]
fn the_link_checker_sees_a_broken_link_and_anchor() {
    let readme = root().join("README.md");
    assert!(check_link(&readme, "docs/safety.md").is_ok());
    assert!(check_link(&readme, "docs/no-such-page.md").is_err());
    assert!(check_link(&readme, "docs/json.md#exit-codes").is_ok());
    assert!(check_link(&readme, "docs/json.md#no-such-heading").is_err());
    assert_eq!(
        anchor(" Use from signup.ts (TypeScript)"),
        "use-from-signupts-typescript"
    );
    assert_eq!(
        relative_links("see [a](docs/a.md#b) and [c](https://x.y) ```"),
        vec!["docs/a.md#b".to_string()]
    );
    assert_eq!(
        named_paths("`src/shared/` and `tests/common/<name>.rs` but `cargo test`"),
        vec!["src/shared/".to_string(), "tests/common/".to_string()]
    );
}
