//! Builds stand-in CPython interpreters with the C compiler, for tests of
//! the builds that cannot be traced (none is installed here): a prefix like
//! pyenv's, `lib/libpythonX.Y.so` from `libpython.c` and `bin/pythonX.Y`
//! from `python.c`, linked through `DT_NEEDED` and `RUNPATH`
//! (`$ORIGIN/../lib`) as pyenv links them. Shared by the engine's
//! classifier tests and the `trace`/`attach` refusal tests.

// Each test crate uses its own subset.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

const LIBPYTHON_C: &str = include_str!("libpython.c");
const PYTHON_C: &str = include_str!("python.c");

/// A temporary prefix with `bin/` and `lib/`, removed when dropped.
pub struct Build {
    dir: tempfile::TempDir,
}

impl Build {
    /// A new prefix, or why stand-ins cannot be built here (no `cc`).
    pub fn new() -> Result<Self, String> {
        let probe = Command::new("cc").arg("--version").output();
        if !probe.is_ok_and(|o| o.status.success()) {
            return Err("no C compiler (cc) to build stand-in interpreters".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        for sub in ["bin", "lib"] {
            std::fs::create_dir(dir.path().join(sub)).map_err(|e| e.to_string())?;
        }
        std::fs::write(dir.path().join("libpython.c"), LIBPYTHON_C).map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("python.c"), PYTHON_C).map_err(|e| e.to_string())?;
        Ok(Self { dir })
    }

    /// A path inside the prefix.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn cc(&self, args: &[&str]) {
        let out = Command::new("cc")
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .expect("run cc");
        assert!(
            out.status.success(),
            "cc {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `lib/NAME` built with `defines` (`-DFREE_TEXT`…), stripped if `strip`.
    pub fn library(&self, name: &str, defines: &[&str], strip: bool) -> PathBuf {
        let out = format!("lib/{name}");
        let soname = format!("-Wl,-soname,{name}");
        let mut args = vec!["-shared", "-fPIC", "-O1", "-o", &out, &soname];
        args.extend_from_slice(defines);
        if strip {
            args.push("-s");
        }
        args.push("libpython.c");
        self.cc(&args);
        self.path(&out)
    }

    /// `bin/NAME`, needing `lib/LIBRARY` through `DT_NEEDED` and `RUNPATH`.
    pub fn executable(&self, name: &str, library: &str) -> PathBuf {
        self.executable_linked(name, library, &[])
    }

    /// `bin/NAME` as [`Build::executable`], with extra linker arguments
    /// (`-Wl,--disable-new-dtags`: `DT_RPATH` instead of `DT_RUNPATH`).
    pub fn executable_linked(&self, name: &str, library: &str, extra: &[&str]) -> PathBuf {
        let out = format!("bin/{name}");
        let link = format!("-l:{library}");
        let mut args = vec![
            "-pthread",
            "-o",
            &out,
            "python.c",
            "-Llib",
            &link,
            "-Wl,-rpath,$ORIGIN/../lib",
        ];
        args.extend_from_slice(extra);
        self.cc(&args);
        self.path(&out)
    }
}

/// Builds a prefix or skips the test, saying why.
macro_rules! build_or_skip {
    () => {
        match Build::new() {
            Ok(build) => build,
            Err(why) => {
                threadlab_test_support::skip::skip(why);
                return;
            }
        }
    };
}
