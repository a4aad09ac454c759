//! debuginfod: the debug file fetched by build id from the servers in
//! `DEBUGINFOD_URLS` (`GET URL/buildid/<hex>/debuginfo`), as gdb and
//! elfutils fetch it, and cached under the user's cache directory
//! (`…/threadlab/debuginfod/<buildid>/debuginfo`). A download is written
//! to a temporary file in that directory and renamed into place only once
//! complete and checked (its build id must be the file's), so no
//! half-written or wrong file is ever left behind, nor anything elsewhere.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use object::Endianness;
use object::read::elf::ElfFile64;

use super::debugfile::same_build;
use super::{Lookup, build_id_hex};

/// Largest debug file accepted (Debian's python3.11 one is 11 MB).
const MAX_BYTES: u64 = 1 << 30;

/// The debug file for `file`, from the cache or a server, or why not.
pub(super) fn fetch(file: &ElfFile64<Endianness>, lookup: &Lookup) -> Result<Vec<u8>, String> {
    if lookup.debuginfod_urls.is_empty() {
        return Err("DEBUGINFOD_URLS not set".into());
    }
    let id = build_id_hex(file).ok_or("the file has no build id")?;
    let cached = lookup
        .cache_dir
        .as_ref()
        .map(|dir| dir.join(&id).join("debuginfo"));
    if let Some(path) = &cached
        && let Ok(data) = std::fs::read(path)
        && same_build(&data, &id)
    {
        return Ok(data);
    }
    // On a thread of its own: reqwest's blocking client runs a runtime of
    // its own, which must not be dropped inside a caller's async context.
    std::thread::scope(|scope| {
        scope
            .spawn(|| from_servers(&id, cached.as_deref(), lookup))
            .join()
            .unwrap_or_else(|_| Err("the download thread panicked".into()))
    })
}

fn from_servers(id: &str, cached: Option<&Path>, lookup: &Lookup) -> Result<Vec<u8>, String> {
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10).min(lookup.timeout))
        .timeout(lookup.timeout)
        .user_agent(concat!("threadlab/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("no HTTP client ({e})"))?;
    let mut failures = Vec::new();
    for url in &lookup.debuginfod_urls {
        let url = format!("{}/buildid/{id}/debuginfo", url.trim_end_matches('/'));
        match download(&client, &url) {
            Ok(data) if same_build(&data, id) => {
                if let Some(path) = cached {
                    // The cache is a convenience: a failure to write it
                    // does not fail the trace.
                    let _ = store(path, &data);
                }
                return Ok(data);
            }
            Ok(_) => failures.push(format!("{url}: not the debug file of build {id}")),
            Err(why) => failures.push(format!("{url}: {why}")),
        }
    }
    Err(failures.join(", "))
}

fn download(client: &reqwest::blocking::Client, url: &str) -> Result<Vec<u8>, String> {
    let response = client.get(url).send().map_err(|e| describe(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    let mut data = Vec::new();
    response
        .take(MAX_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("download failed ({e})"))?;
    if data.len() as u64 > MAX_BYTES {
        return Err("larger than 1 GiB".into());
    }
    Ok(data)
}

/// One short clause for a failed request.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "cannot connect".into()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            text = format!("{text}: {inner}");
            source = inner.source();
        }
        text.replace('\n', " ")
    }
}

/// Writes `data` to `path` through a temporary file in the same directory,
/// renamed into place: readers see the whole file or none.
fn store(path: &Path, data: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    let dir = path.parent().ok_or(std::io::ErrorKind::InvalidInput)?;
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(data)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(path.to_path_buf())
}
