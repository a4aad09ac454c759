//! Names the commit threadlab is built from in `threadlab --version`
//! (`threadlab 0.1.0 (1a2b3c4d5e6f)`, `…, dirty` when the tree had changes
//! to tracked files, `commit unknown` outside a git checkout), as
//! ripgrep's build info does: a bug report then says exactly what ran.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    // Rebuilt when HEAD moves or the index changes (a commit, an add).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        for file in ["HEAD", "index"] {
            println!("cargo:rerun-if-changed={dir}/{file}");
        }
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
    let version = env!("CARGO_PKG_VERSION");
    let build = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) if !commit.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{version} ({commit}, dirty)")
            } else {
                format!("{version} ({commit})")
            }
        }
        _ => format!("{version} (commit unknown)"),
    };
    println!("cargo:rustc-env=THREADLAB_VERSION={build}");
}
