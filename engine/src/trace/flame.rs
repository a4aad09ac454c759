//! `trace --flamegraph DIR`: flame graphs of the Python stacks that held
//! the GIL and of those that waited for it (`gil-hold.svg`,
//! `gil-wait.svg`, drawn by inferno), and their folded stacks
//! (`gil-hold.folded`, `gil-wait.folded`) for speedscope and
//! flamegraph.pl. Every name in them comes from the traced program and was
//! cleaned when read ([`super::stacks::clean`]); inferno escapes it for SVG.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::functions::{Flame, GilByFunction};

/// The files `write_flamegraphs` writes into its directory.
pub const FILES: [&str; 4] = [
    "gil-hold.svg",
    "gil-hold.folded",
    "gil-wait.svg",
    "gil-wait.folded",
];

/// Checks that `dir` can take the flame graphs (exists or can be made, and
/// is writable) before anything starts: one line saying why not.
pub fn check_dir(dir: &Path) -> Result<(), String> {
    let made = !dir.exists();
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "--flamegraph {}: cannot make the directory: {e}",
            dir.display()
        )
    })?;
    if made {
        super::give_to_sudo_user(dir);
    }
    tempfile::NamedTempFile::new_in(dir)
        .map(drop)
        .map_err(|e| format!("--flamegraph {}: cannot write there: {e}", dir.display()))
}

/// Writes both flame graphs and both folded files into `dir`; `what` names
/// the traced program in the titles. Returns the paths written.
pub fn write_flamegraphs(
    by: &GilByFunction,
    dir: &Path,
    what: &str,
) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (flame, stem, title) in [
        (Flame::Hold, "gil-hold", "Python stacks holding the GIL"),
        (Flame::Wait, "gil-wait", "Python stacks waiting for the GIL"),
    ] {
        let folded = by.folded(flame);
        let folded_path = dir.join(format!("{stem}.folded"));
        write_atomically(&folded_path, folded.as_bytes())?;
        super::give_to_sudo_user(&folded_path);
        written.push(folded_path);
        let svg_path = dir.join(format!("{stem}.svg"));
        write_atomically(&svg_path, &svg(&folded, title, what)?)?;
        super::give_to_sudo_user(&svg_path);
        written.push(svg_path);
    }
    Ok(written)
}

/// The SVG of `folded` stacks (a page that says "no samples" if empty).
fn svg(folded: &str, title: &str, what: &str) -> std::io::Result<Vec<u8>> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.subtitle = Some(super::stacks::clean(what));
    options.count_name = "samples".to_string();
    options.deterministic = true;
    options.hash = true;
    let mut out = Vec::new();
    if folded.is_empty() {
        // inferno refuses an empty input; an empty graph still says so.
        options.subtitle = Some(format!("{what}: no samples in this state"));
        inferno::flamegraph::from_lines(&mut options, ["(none) 1"], &mut out)
            .map_err(std::io::Error::other)?;
    } else {
        inferno::flamegraph::from_lines(&mut options, folded.lines(), &mut out)
            .map_err(std::io::Error::other)?;
    }
    Ok(out)
}

/// Writes `bytes` to `path` through a temp file renamed into place, so a
/// stopped run leaves the old file or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // Readable like any file the user writes (a temp file is 0600).
    let mut file = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::functions::GilState;
    use crate::trace::stacks::{PyFrame, ThreadStack};

    #[test]
    fn writes_four_files_and_escapes_hostile_names() {
        let dir = tempfile::tempdir().expect("dir");
        let mut by = GilByFunction::default();
        let stacks = [ThreadStack {
            tid: Some(1),
            name: Some("<script>x</script>".into()),
            owns_gil: true,
            frames: vec![PyFrame {
                function: "f<&>\"".into(),
                file: "a.py".into(),
                line: 1,
            }],
        }];
        by.add_round(1, 1, &stacks, &|_| Some(GilState::Holding), |_| {
            "<script>x</script>".into()
        });
        let written = write_flamegraphs(&by, dir.path(), "python app.py").expect("write");
        assert_eq!(written.len(), 4);
        for name in FILES {
            assert!(dir.path().join(name).is_file(), "{name}");
        }
        let svg = std::fs::read_to_string(dir.path().join("gil-hold.svg")).expect("svg");
        assert!(svg.starts_with("<?xml"), "{}", &svg[..80]);
        assert!(!svg.contains("<script>x"), "unescaped name in the SVG");
        assert!(svg.contains("f&lt;&amp;&gt;"), "escaped name missing");
        let wait = std::fs::read_to_string(dir.path().join("gil-wait.svg")).expect("svg");
        assert!(wait.contains("no samples"), "empty graph says so");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("gil-hold.folded")).expect("folded"),
            "<script>x</script>;f<&>\" (a.py) 1\n"
        );
        // Nothing else (no temp files) is left.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 4);
    }

    #[test]
    fn an_unwritable_directory_is_named_in_one_line() {
        let file = tempfile::NamedTempFile::new().expect("file");
        let why = check_dir(&file.path().join("sub")).expect_err("a file is no directory");
        assert!(why.starts_with("--flamegraph "), "{why}");
        assert!(!why.contains('\n'));
    }
}
