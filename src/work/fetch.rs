//! The fetch worker: a real HTTP GET with reqwest's blocking client.
//!
//! The connect and every socket read run with the GIL released; handling each
//! chunk (counting it, hashing it) runs with the GIL held — the split a Python
//! `requests` download has. Errors become one readable line on the worker.

use std::io::Read;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{WorkError, WorkerCtx, human_bytes, short_hex};

/// Where fetch workers download from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTarget {
    url: String,
}

/// The error for a fetch URL that is not an absolute http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid URL '{url}': {reason}; expected an absolute http:// or https:// URL")]
pub struct BadUrl {
    /// What was given.
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FetchTarget {
    /// Checks that `url` is an absolute http(s) URL with a host, before any request.
    pub fn parse(url: &str) -> Result<Self, BadUrl> {
        let bad = |reason: &str| BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        match parsed.scheme() {
            "http" | "https" => {}
            other => return Err(bad(&format!("scheme '{other}' is not supported"))),
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        Ok(Self {
            url: parsed.to_string(),
        })
    }

    /// The URL as a string.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The shared blocking client: timeouts set, no proxies (the default target is
/// loopback), at most 10 redirects.
pub fn http_client(
    connect_timeout: Duration,
    read_timeout: Duration,
) -> Result<reqwest::blocking::Client, String> {
    reqwest::blocking::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(read_timeout)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::limited(10))
        .user_agent(concat!("threadlab/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", describe(&e)))
}

/// One line for a reqwest error: its kind and the innermost cause.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_redirect() {
        "too many redirects"
    } else if error.is_body() || error.is_decode() {
        "body error"
    } else {
        "request failed"
    };
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let root = cause.to_string();
    if root == error.to_string() {
        format!("{kind}: {root}")
    } else {
        format!("{kind}: {root} ({})", error.without_url_text())
    }
}

trait WithoutUrl {
    fn without_url_text(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_text(&self) -> String {
        let text = self.to_string();
        match self.url() {
            Some(url) => text
                .replace(&format!(" ({url})"), "")
                .replace(url.as_str(), "URL"),
            None => text,
        }
    }
}

fn describe_io(error: &std::io::Error) -> String {
    // reqwest wraps its own errors in io::Error for Read; unwrap them.
    if let Some(inner) = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<reqwest::Error>())
    {
        return describe(inner);
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    format!("read failed: {cause}")
}

pub(super) fn run(ctx: &mut WorkerCtx) -> Result<(u64, String), WorkError> {
    let client = ctx
        .http
        .clone()
        .ok_or_else(|| WorkError::Failed("no HTTP client".into()))?;
    let url = ctx.settings.fetch.url().to_string();
    let max_body = ctx.settings.max_body;
    let response = ctx
        .gil
        .blocking(|| client.get(&url).send())?
        .map_err(|e| WorkError::Failed(describe(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(WorkError::Failed(format!("HTTP {status} from {url}")));
    }
    let total = response.content_length();
    if let Some(total) = total.filter(|&t| t > max_body) {
        return Err(WorkError::Failed(format!(
            "body of {} is larger than the cap of {}",
            human_bytes(total),
            human_bytes(max_body)
        )));
    }
    ctx.report.set_total(total);
    let mut body = response;
    let mut buf = vec![0u8; 64 << 10];
    let mut hasher = Sha256::new();
    let mut done: u64 = 0;
    loop {
        let read = ctx.gil.blocking(|| body.read(&mut buf))?;
        let n = read.map_err(|e| WorkError::Failed(describe_io(&e)))?;
        if n == 0 {
            break;
        }
        ctx.gil.check()?;
        hasher.update(&buf[..n]);
        done += n as u64;
        if done > max_body {
            return Err(WorkError::Failed(format!(
                "body exceeds the cap of {}",
                human_bytes(max_body)
            )));
        }
        ctx.report.progress(done);
    }
    if let Some(total) = total.filter(|&t| done < t) {
        return Err(WorkError::Failed(format!(
            "body cut short: got {} of {}",
            human_bytes(done),
            human_bytes(total)
        )));
    }
    let digest = hasher.finalize();
    Ok((
        done,
        format!(
            "{} received, sha256 {}…",
            human_bytes(done),
            short_hex(&digest)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_are_accepted() {
        assert!(FetchTarget::parse("http://127.0.0.1:8080/bytes/10").is_ok());
        assert!(FetchTarget::parse("https://example.org").is_ok());
        for bad in [
            "file:///etc/passwd",
            "ftp://host/x",
            "garbage",
            "",
            "http://",
        ] {
            let err = FetchTarget::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("http://"), "{err}");
        }
    }
}
