//! Man pages: one per command (`threadlab.1`, `threadlab-bench.1`, …) from
//! the clap definitions via `clap_mangen`, each with the ENVIRONMENT and
//! FILES sections that clap knows nothing about.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use threadlab::cli::{Cli, ENVIRONMENT, FILES};

/// The built command tree (subcommands named `threadlab-NAME`).
fn command() -> clap::Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// The names of the commands that have a page of their own.
pub fn subcommands() -> Vec<String> {
    command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect()
}

/// Writes one page: clap_mangen's sections, then ENVIRONMENT and FILES.
fn render(command: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let has_args = command.get_arguments().any(|a| !a.is_hide_set());
    let has_subcommands = command.get_subcommands().any(|s| !s.is_hide_set());
    let has_version = command.get_version().is_some();
    let man = clap_mangen::Man::new(command)
        .source(concat!("threadlab ", env!("CARGO_PKG_VERSION")))
        .manual("threadlab manual");
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if has_args {
        man.render_options_section(out)?;
    }
    if has_subcommands {
        man.render_subcommands_section(out)?;
    }
    for (title, entries) in [("ENVIRONMENT", ENVIRONMENT), ("FILES", FILES)] {
        writeln!(out, ".SH {title}")?;
        for (name, text) in entries {
            writeln!(out, ".TP\n\\fB{}\\fR\n{}", escape(name), escape(text))?;
        }
    }
    if has_version {
        man.render_version_section(out)?;
    }
    Ok(())
}

/// Escapes text for roff: backslashes, hyphens, and a leading dot or quote.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

/// Writes the page of `name` (`None`: the main page) to `out`.
/// `Err(None)`: no such command.
pub fn write_page(name: Option<&str>, out: &mut dyn Write) -> Result<(), Option<std::io::Error>> {
    let root = command();
    let page = match name {
        None => root,
        Some(name) => root
            .get_subcommands()
            .find(|s| s.get_name() == name && !s.is_hide_set())
            .cloned()
            .ok_or(None)?,
    };
    render(page, out).map_err(Some)
}

/// Writes every page into `dir`; returns the files written.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let root = command();
    let mut pages = vec![root.clone()];
    pages.extend(root.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    let mut written = Vec::new();
    for page in pages {
        let file = dir.join(clap_mangen::Man::new(page.clone()).get_filename());
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
        render(page, &mut out)?;
        out.flush()?;
        written.push(file);
    }
    Ok(written)
}
