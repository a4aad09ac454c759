//! The docs cannot drift from the command line: every `threadlab …` line
//! shown in a code block of README.md or docs/*.md must be accepted by the
//! parser the binary uses (`threadlab::cli::Cli`), README.md stays a front
//! page (at most 1,500 words, as `wc -w` counts them), and every relative
//! link in README.md and docs/*.md points at a file (and heading) that
//! exists.
//!
//! A command line is one that starts with `threadlab `, `sudo threadlab `
//! or `sudo -E threadlab ` (optionally after a `$ ` prompt). A trailing
//! `# comment` is dropped, and so is everything from a shell operator on
//! (`>`, `|`, `&&`, …). Lines that show a placeholder — `…` or `<NAME>` —
//! are skipped: they are not meant to be typed as they stand.

use std::path::{Path, PathBuf};

use clap::Parser;
use clap::error::ErrorKind;
use threadlab::cli::Cli;

/// README.md's word budget (issue #26: a front page, not the manual).
const README_MAX_WORDS: usize = 1500;

/// The repository root (where README.md is).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md, in a stable order.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines inside fenced code blocks (``` or ~~~), with their 1-based
/// line numbers.
fn code_block_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match fence {
            None => {
                if trimmed.starts_with("```") {
                    fence = Some("```");
                } else if trimmed.starts_with("~~~") {
                    fence = Some("~~~");
                }
            }
            Some(marker) => {
                if trimmed.starts_with(marker) {
                    fence = None;
                } else {
                    lines.push((index + 1, line));
                }
            }
        }
    }
    lines
}

/// Splits a line as a shell would, enough for the docs: whitespace
/// separates words, single and double quotes group (and are removed), an
/// unquoted `#` at the start of a word begins a comment.
fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None if c == '#' && !in_word => break,
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unbalanced quote".to_string());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Shell operators that end the threadlab command on a line.
const OPERATORS: &[&str] = &[">", ">>", "2>", "2>&1", "<", "|", "||", "&&", ";", "&"];

/// The argv of the threadlab command a code line shows (`threadlab` first),
/// or `None` if the line is not one (or shows a placeholder).
fn threadlab_argv(line: &str) -> Option<Vec<String>> {
    let line = line.trim();
    let line = line.strip_prefix("$ ").unwrap_or(line);
    let rest = ["threadlab ", "sudo threadlab ", "sudo -E threadlab "]
        .iter()
        .find_map(|prefix| line.strip_prefix(prefix))?;
    if line.contains('…') {
        return None;
    }
    let mut argv = vec!["threadlab".to_string()];
    let words = shell_words(rest).unwrap_or_else(|e| panic!("{e} in `{line}`"));
    for word in words {
        if OPERATORS.contains(&word.as_str()) {
            break;
        }
        if word.contains('<') || word.contains('>') {
            return None;
        }
        argv.push(word);
    }
    Some(argv)
}

/// Every `threadlab …` line shown in a code block of README.md or
/// docs/*.md parses.
#[test]
fn every_documented_command_line_parses() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in doc_files() {
        let text = read(&path);
        let name = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        for (number, line) in code_block_lines(&text) {
            let Some(argv) = threadlab_argv(line) else {
                continue;
            };
            checked += 1;
            if let Err(error) = Cli::try_parse_from(&argv) {
                // `--help` and `--version` "fail" by printing; they are valid.
                if !matches!(
                    error.kind(),
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
                ) {
                    let first = error.to_string();
                    let first = first.lines().next().unwrap_or_default().to_string();
                    failures.push(format!("{name}:{number}: `{}`: {first}", line.trim()));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "documented commands the CLI rejects:\n{}",
        failures.join("\n")
    );
    // The docs show dozens; finding almost none means the extraction broke.
    assert!(
        checked >= 20,
        "only {checked} command lines found in the docs"
    );
}

/// README.md is a front page: at most 1,500 words, counted as `wc -w` does.
#[test]
fn readme_is_a_front_page() {
    let words = read(&root().join("README.md")).split_whitespace().count();
    assert!(
        words <= README_MAX_WORDS,
        "README.md has {words} words, over the {README_MAX_WORDS} budget: move detail to docs/"
    );
}

/// A relative link: the file (empty: this page) and the `#anchor`, if any.
struct Link {
    file: String,
    anchor: Option<String>,
}

/// The relative `[text](target)` links in a Markdown text.
fn relative_links(text: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split_whitespace().next().unwrap_or_default();
        let external = target.contains("://") || target.starts_with("mailto:");
        if !target.is_empty() && !external {
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor.to_string())),
                None => (target, None),
            };
            links.push(Link {
                file: file.to_string(),
                anchor,
            });
        }
        rest = &rest[end..];
    }
    links
}

/// The anchors GitHub gives a Markdown page's headings: lower case, spaces
/// to hyphens, punctuation dropped.
fn heading_anchors(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut anchors = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        anchors.push(slug);
    }
    anchors
}

/// Every page README.md links to (docs/*.md, ARCHITECTURE.md, the GIF…)
/// exists, as does every relative link from a docs page, and every
/// `#anchor` into a Markdown page names one of its headings; README links
/// to each page under docs/.
#[test]
fn linked_pages_exist() {
    let mut missing = Vec::new();
    for path in doc_files() {
        let dir = path.parent().expect("a file has a directory");
        for link in relative_links(&read(&path)) {
            let target = if link.file.is_empty() {
                path.clone()
            } else {
                dir.join(&link.file)
            };
            let page = path.strip_prefix(root()).unwrap_or(&path);
            let shown = format!("{} -> {}", page.display(), link.file);
            if !target.exists() {
                missing.push(shown);
                continue;
            }
            let markdown = target.extension().is_some_and(|ext| ext == "md");
            if markdown
                && let Some(anchor) = &link.anchor
                && !heading_anchors(&read(&target)).contains(anchor)
            {
                missing.push(format!("{shown}#{anchor} (no such heading)"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "links to nothing:\n{}",
        missing.join("\n")
    );

    let readme_links = relative_links(&read(&root().join("README.md")));
    for page in doc_files().iter().skip(1) {
        let relative = page.strip_prefix(root()).expect("under the root");
        let relative = relative.to_string_lossy();
        assert!(
            readme_links.iter().any(|link| link.file == relative),
            "README.md does not link to {relative}"
        );
    }
}

/// The extraction itself: prompts, sudo, comments, quotes, redirections,
/// trailing program arguments and placeholders.
#[test]
fn command_lines_are_extracted_as_a_shell_would() {
    let argv = |line| threadlab_argv(line).expect("a threadlab line");
    assert_eq!(
        argv("$ threadlab bench all   # or io"),
        ["threadlab", "bench", "all"]
    );
    assert_eq!(
        argv("sudo -E threadlab trace --export 'my gil.json' -- python3 app.py -v"),
        [
            "threadlab",
            "trace",
            "--export",
            "my gil.json",
            "--",
            "python3",
            "app.py",
            "-v"
        ]
    );
    assert_eq!(argv("threadlab man > threadlab.1"), ["threadlab", "man"]);
    assert_eq!(
        threadlab_argv("threadlab compare --python …/bin/python"),
        None
    );
    assert_eq!(threadlab_argv("threadlab completions <SHELL>"), None);
    assert_eq!(threadlab_argv("threadlab: config file, line 3"), None);
    assert_eq!(threadlab_argv("cargo test"), None);
}
