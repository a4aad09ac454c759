//! The fetch worker: a real HTTP GET with reqwest, driven from the worker's
//! own thread (see [`HttpClient`]).
//!
//! The connect and every socket read run with the GIL released; handling each
//! chunk (counting it, hashing it) runs with the GIL held — the split a Python
//! `requests` download has. Errors become one readable line on the worker.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::cancel::{CancelToken, Cancelled};
use crate::gil::Gil;

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
    pub(crate) reason: String,
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

/// The shared HTTP client: reqwest's async client on a one-thread tokio
/// runtime, driven from each worker's own thread with `block_on`.
///
/// reqwest's blocking client cannot be interrupted: a worker stuck waiting
/// for headers or a stalled body would ignore cancel until its read timeout.
/// Here every wait races the worker's [`CancelToken`], so a fetch stops
/// within tens of milliseconds of a cancel in any state, while the work
/// still runs on the worker's thread (one OS thread per worker).
#[derive(Clone)]
pub(crate) struct HttpClient {
    runtime: Arc<tokio::runtime::Runtime>,
    client: reqwest::Client,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

/// Name resolution that answers RFC 6761's special-use names itself, as
/// that RFC asks resolver libraries to, and asks the system for the rest:
///
/// * `invalid` and `*.invalid` fail at once ("never resolves"), without a
///   DNS query leaving the machine;
/// * `localhost` and `*.localhost` are the loopback addresses, never a DNS
///   answer that could point elsewhere;
/// * anything else goes to `getaddrinfo` (on tokio's blocking pool).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LocalFirstResolver;

impl LocalFirstResolver {
    /// The local answer for `host`, if it is a special-use name:
    /// `Some(Ok(loopback addresses))` or `Some(Err(reason))`.
    pub(crate) fn special(host: &str) -> Option<Result<Vec<std::net::SocketAddr>, String>> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let is = |tld: &str| host == tld || host.ends_with(&format!(".{tld}"));
        if is("invalid") {
            Some(Err(format!(
                "cannot resolve host '{host}': .invalid names never resolve (RFC 6761)"
            )))
        } else if is("localhost") {
            Some(Ok(vec![
                std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
            ]))
        } else {
            None
        }
    }
}

impl reqwest::dns::Resolve for LocalFirstResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> = match Self::special(&host) {
                Some(Ok(addrs)) => addrs,
                Some(Err(reason)) => return Err(reason.into()),
                None => tokio::net::lookup_host((host.as_str(), 0))
                    .await
                    .map_err(|e| format!("cannot resolve host '{host}': {e}"))?
                    .collect(),
            };
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// How often a waiting fetch looks at its cancel token.
const CANCEL_POLL: Duration = Duration::from_millis(10);

async fn cancelled(token: &CancelToken) {
    while !token.is_cancelled() {
        tokio::time::sleep(CANCEL_POLL).await;
    }
}

impl HttpClient {
    /// A client with a connect timeout and a per-read timeout, no proxies
    /// (the default target is loopback), at most 10 redirects, and the
    /// special-use names of RFC 6761 answered locally ([`LocalFirstResolver`]).
    pub fn new(connect_timeout: Duration, read_timeout: Duration) -> Result<Self, String> {
        Self::with_nice(connect_timeout, read_timeout, 0, None)
    }

    /// [`HttpClient::new`] whose runtime threads (which drive every
    /// connection's socket I/O) run `nice` steps below the caller's
    /// priority, like the workers they serve — and, given the workers'
    /// `gil`, at the UI's priority while the UI shares it with them
    /// ([`Gil::join_priorities`]): in one Python process the thread doing
    /// a socket's I/O is the worker itself.
    pub(crate) fn with_nice(
        connect_timeout: Duration,
        read_timeout: Duration,
        nice: u8,
        gil: Option<Gil>,
    ) -> Result<Self, String> {
        let leaving = gil.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("http-io")
            .on_thread_start(move || match &gil {
                Some(gil) => gil.join_priorities(nice),
                None => super::lower_priority(nice),
            })
            .on_thread_stop(move || {
                if let Some(gil) = &leaving {
                    gil.leave_priorities();
                }
            })
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .no_proxy()
            .dns_resolver(Arc::new(LocalFirstResolver))
            .redirect(reqwest::redirect::Policy::limited(10))
            .user_agent(concat!("threadlab/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", describe(&e)))?;
        Ok(Self {
            runtime: Arc::new(runtime),
            client,
        })
    }

    /// Runs `future` on the calling thread until it finishes or `cancel` fires.
    fn until_cancelled<F: std::future::Future>(
        &self,
        cancel: &CancelToken,
        future: impl FnOnce() -> F,
    ) -> Result<F::Output, Cancelled> {
        // reqwest's futures arm timers when created: create them inside the runtime.
        let _context = self.runtime.enter();
        let future = future();
        self.runtime.block_on(async {
            tokio::select! {
                biased;
                () = cancelled(cancel) => Err(Cancelled),
                out = future => Ok(out),
            }
        })
    }

    /// Sends a GET and waits for the response headers.
    pub fn send(
        &self,
        url: &str,
        cancel: &CancelToken,
    ) -> Result<Result<reqwest::Response, String>, Cancelled> {
        Ok(self
            .until_cancelled(cancel, || self.client.get(url).send())?
            .map_err(|e| describe(&e)))
    }

    /// The next chunk of a response body (`None` at the end).
    pub(crate) fn next_chunk(
        &self,
        response: &mut reqwest::Response,
        cancel: &CancelToken,
    ) -> Result<Result<Option<bytes::Bytes>, String>, Cancelled> {
        Ok(self
            .until_cancelled(cancel, || response.chunk())?
            .map_err(|e| describe(&e)))
    }

    /// GETs `url` and reads the whole body; `Err` on any HTTP or network error.
    pub(crate) fn get_all(
        &self,
        url: &str,
        cancel: &CancelToken,
    ) -> Result<Result<u64, String>, Cancelled> {
        let mut response = match self.send(url, cancel)? {
            Ok(response) if response.status().is_success() => response,
            Ok(response) => return Ok(Err(format!("HTTP {} from {url}", response.status()))),
            Err(error) => return Ok(Err(error)),
        };
        let mut total = 0u64;
        loop {
            match self.next_chunk(&mut response, cancel)? {
                Ok(Some(chunk)) => total += chunk.len() as u64,
                Ok(None) => return Ok(Ok(total)),
                Err(error) => return Ok(Err(error)),
            }
        }
    }
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
    if root.starts_with(kind) {
        // The cause says it already ("too many redirects").
        root
    } else if root == error.to_string() {
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

pub(super) fn run(ctx: &mut WorkerCtx) -> Result<(u64, String), WorkError> {
    let client = ctx
        .http
        .clone()
        .ok_or_else(|| WorkError::Failed("no HTTP client".into()))?;
    let targets = &ctx.settings.fetch_targets;
    let url = if targets.is_empty() {
        ctx.settings.fetch.url().to_string()
    } else {
        targets[(ctx.id.saturating_sub(1) as usize) % targets.len()]
            .url()
            .to_string()
    };
    let max_body = ctx.settings.max_body;
    let cancel = ctx.cancel.clone();
    let mut response = ctx
        .gil
        .blocking(|| client.send(&url, &cancel))??
        .map_err(WorkError::Failed)?;
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
    let mut hasher = Sha256::new();
    let mut done: u64 = 0;
    loop {
        // The socket read: GIL released, racing the cancel token.
        let chunk = ctx
            .gil
            .blocking(|| client.next_chunk(&mut response, &cancel))??
            .map_err(WorkError::Failed)?;
        let Some(chunk) = chunk else {
            break;
        };
        // Handling the chunk is "Python": GIL held.
        ctx.gil.check()?;
        hasher.update(&chunk);
        done += chunk.len() as u64;
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

    #[test]
    fn special_use_names_are_answered_locally() {
        for name in [
            "invalid",
            "x.invalid",
            "A.B.INVALID",
            "threadlab-test.invalid.",
        ] {
            let answer = LocalFirstResolver::special(name).expect(name);
            let reason = answer.expect_err(name);
            assert!(reason.contains("cannot resolve host"), "{reason}");
        }
        for name in ["localhost", "app.localhost", "LOCALHOST."] {
            let addrs = LocalFirstResolver::special(name).expect(name).expect(name);
            assert!(!addrs.is_empty());
            assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        }
        for name in [
            "example.org",
            "invalid.example",
            "localhost.example",
            "127.0.0.1",
        ] {
            assert!(LocalFirstResolver::special(name).is_none(), "{name}");
        }
    }
}
