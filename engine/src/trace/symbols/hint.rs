//! What would let a stripped interpreter be traced: the package that has
//! its debug symbols, asked of the system's package manager (`dpkg -S`,
//! `rpm -qf`). Shared with `trace --check`.

use std::path::Path;
use std::process::{Command, Stdio};

/// One clause naming the debug-symbol package for `file`, e.g. "install
/// its debug symbols: apt install python3.11-dbg (python3.11-minimal's)";
/// a general one when no package manager knows the file.
pub(crate) fn debug_symbols_hint(file: &Path) -> String {
    if let Some(package) = dpkg_owner(file) {
        let debug = debian_debug_package(&package);
        return format!("install its debug symbols: apt install {debug} ({package}'s)");
    }
    if let Some(package) = rpm_owner(file) {
        return format!("install its debug symbols: dnf debuginfo-install {package}");
    }
    "install its debug symbols, or use a build that keeps them — pyenv's, python.org's or uv's"
        .into()
}

/// The Debian package that owns `file` (`dpkg -S`), tried also at its
/// resolved path (`/bin` is `/usr/bin` on merged-/usr systems).
fn dpkg_owner(file: &Path) -> Option<String> {
    let mut paths = vec![file.to_path_buf()];
    if let Ok(real) = file.canonicalize()
        && real != file
    {
        paths.push(real);
    }
    paths.iter().find_map(|path| {
        let out = quiet(Command::new("dpkg").arg("-S").arg(path))?;
        // `python3.11-minimal: /usr/bin/python3.11`; a diversion line or
        // several owners are joined with ", ".
        let line = out.lines().find(|l| !l.starts_with("diversion"))?;
        let owner = line.split(": ").next()?.split(", ").next()?;
        let name = owner.split(':').next()?.trim();
        (!name.is_empty()).then(|| name.to_string())
    })
}

/// Debian's CPython packages ship their debug files in `python3.X-dbg`
/// (for `python3.X-minimal`, `python3.X`, `libpython3.X*`); every other
/// package's are in its automatic `-dbgsym` package (the debug archive).
pub(crate) fn debian_debug_package(package: &str) -> String {
    let python = package
        .strip_prefix("lib")
        .unwrap_or(package)
        .strip_suffix("-minimal")
        .unwrap_or(package.strip_prefix("lib").unwrap_or(package));
    let is_cpython = python.strip_prefix("python3.").is_some_and(|minor| {
        let digits = minor.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && matches!(&minor[digits..], "" | "-stdlib")
    });
    if is_cpython {
        let base = python.trim_end_matches("-stdlib");
        format!("{base}-dbg")
    } else {
        format!("{package}-dbgsym")
    }
}

fn rpm_owner(file: &Path) -> Option<String> {
    let out = quiet(
        Command::new("rpm")
            .args(["-qf", "--queryformat", "%{NAME}"])
            .arg(file),
    )?;
    let name = out.trim();
    (!name.is_empty() && !name.contains(' ')).then(|| name.to_string())
}

/// stdout of `command` when it succeeds, stderr discarded.
fn quiet(command: &mut Command) -> Option<String> {
    let out = command
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_python_packages_have_their_symbols_in_dbg() {
        for (package, debug) in [
            ("python3.11-minimal", "python3.11-dbg"),
            ("python3.11", "python3.11-dbg"),
            ("libpython3.11", "python3.11-dbg"),
            ("libpython3.12-minimal", "python3.12-dbg"),
            ("libpython3.13-stdlib", "python3.13-dbg"),
            ("bash", "bash-dbgsym"),
            ("python3-minimal", "python3-minimal-dbgsym"),
        ] {
            assert_eq!(debian_debug_package(package), debug, "{package}");
        }
    }

    /// On Debian, this machine's stripped interpreter is named with its
    /// debug package.
    #[test]
    fn the_hint_for_debians_python_names_its_dbg_package() {
        let python = Path::new("/usr/bin/python3.11");
        if dpkg_owner(python).is_none() {
            threadlab_test_support::skip::skip("no dpkg-owned /usr/bin/python3.11");
            return;
        }
        assert_eq!(
            debug_symbols_hint(python),
            "install its debug symbols: apt install python3.11-dbg (python3.11-minimal's)"
        );
    }
}
