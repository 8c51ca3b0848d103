//! The house's layers, kept true by a test instead of a promise: a module of `src/` may
//! name (`crate::…`) only its own layer or those below it — basics < outside < progress <
//! error < output < signup < cli < context < lifecycle < commands < lib.rs — and no
//! outside-system module names another, nor one command another.

use std::path::{Path, PathBuf};

fn rank(layer: &str) -> Option<u8> {
    [
        "basics",
        "outside",
        "progress",
        "error",
        "output",
        "signup",
        "cli",
        "context",
        "lifecycle",
        "commands",
        "lib",
        "main",
    ]
    .iter()
    .position(|l| *l == layer)
    .map(|r| r as u8)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate::outside::bench::…` → ("outside", "bench") for every path a file names.
fn named(text: &str) -> Vec<(String, String)> {
    text.match_indices("crate::")
        .map(|(i, _)| {
            let rest = &text[i + "crate::".len()..];
            let mut parts = rest.split("::").map(|p| {
                p.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            });
            (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn modules_name_only_their_own_layer_or_lower_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    sources(&src, &mut files);
    let mut wrong = vec![];
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap().with_extension("");
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let (layer, room) = (parts[0].clone(), parts.get(1).cloned().unwrap_or_default());
        let own = rank(&layer).unwrap_or_else(|| panic!("{} is in no layer", rel.display()));
        for (to_layer, to_room) in named(&std::fs::read_to_string(f).unwrap()) {
            let Some(to) = rank(&to_layer) else { continue };
            let across = to_layer == layer
                && matches!(layer.as_str(), "outside" | "commands")
                && to_room != room;
            if to > own || across {
                wrong.push(format!(
                    "{} names crate::{to_layer}::{to_room}",
                    rel.display()
                ));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(files.len() > 30, "read only {} files", files.len());
}
