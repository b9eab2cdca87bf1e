//! The few OCI distribution API calls a push needs (and the pulls the tests use to check it),
//! on a blocking `ureq` agent: `HEAD` a blob, `POST` + `PUT` a monolithic upload, `PUT` the
//! manifest, `GET` a manifest or blob by digest. A `401` with a `Bearer` challenge is answered
//! with a token from the realm (anonymous, or with the credentials given); `Basic` challenges
//! get the credentials directly.
//!
//! Plain HTTP is used only for loopback registries (`localhost`, `127.0.0.1`, `[::1]`) or when
//! the caller asks for it (`--insecure`); everything else is HTTPS with the web PKI roots.

use std::time::Duration;

use crate::image::{Blob, Image, MANIFEST_MEDIA_TYPE};
use crate::{Error, Reference, Result, digest_of};

/// Largest manifest or blob read back from a registry.
const MAX_READ: u64 = 1 << 30;

/// Credentials for a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

/// Sends one request, given the Authorization header to set (if any).
type MakeRequest<'a> =
    dyn Fn(Option<&str>) -> std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error> + 'a;

/// A connection to one repository of one registry.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    repository: String,
    credentials: Option<Credentials>,
    authorization: Option<String>,
}

fn registry_error(what: &str, url: &str, e: impl std::fmt::Display) -> Error {
    Error::Registry(format!("{what} ({url}): {e}"))
}

impl Client {
    /// A client for `reference`'s repository. `insecure` allows plain HTTP to a registry that is
    /// not on loopback.
    pub fn new(reference: &Reference, insecure: bool, credentials: Option<Credentials>) -> Client {
        let scheme = if insecure || reference.is_loopback() {
            "http"
        } else {
            "https"
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .timeout_connect(Some(Duration::from_secs(15)))
            .max_redirects(5)
            .build()
            .new_agent();
        Client {
            agent,
            base: format!("{scheme}://{}", reference.registry),
            repository: reference.repository.clone(),
            credentials,
            authorization: None,
        }
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.repository)
    }

    /// Sends a request built by `make` (given the Authorization header to set, if any); on a
    /// 401 answers the challenge once and sends it again.
    fn send(
        &mut self,
        what: &str,
        url: &str,
        make: &MakeRequest<'_>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let response =
            make(self.authorization.as_deref()).map_err(|e| self.unreachable(what, url, e))?;
        if response.status() != 401 {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.authorization = Some(self.authorize(&challenge, url)?);
        make(self.authorization.as_deref()).map_err(|e| self.unreachable(what, url, e))
    }

    fn unreachable(&self, what: &str, url: &str, e: ureq::Error) -> Error {
        let hint = if self.base.starts_with("https://") {
            " (if this registry serves plain HTTP on a non-loopback address, pass --insecure)"
        } else {
            " (is the registry running?)"
        };
        Error::Registry(format!("{what} ({url}): {e}{hint}"))
    }

    fn authorize(&self, challenge: &str, url: &str) -> Result<String> {
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let params = parse_challenge(params);
        if scheme.eq_ignore_ascii_case("basic") {
            let Some(c) = &self.credentials else {
                return Err(Error::Registry(format!(
                    "{url}: the registry wants a user name and password: pass --username and --password-stdin"
                )));
            };
            return Ok(format!(
                "Basic {}",
                base64(&format!("{}:{}", c.username, c.password))
            ));
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Error::Registry(format!(
                "{url}: the registry answered 401 with an authentication challenge this tool does not know: {challenge:?}"
            )));
        }
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                Error::Registry(format!(
                    "{url}: Bearer challenge without a realm: {challenge:?}"
                ))
            })?;
        let mut token_url = realm.clone();
        let mut sep = if realm.contains('?') { '&' } else { '?' };
        for key in ["service", "scope"] {
            if let Some((_, v)) = params.iter().find(|(k, _)| k == key) {
                token_url.push_str(&format!("{sep}{key}={}", query_escape(v)));
                sep = '&';
            }
        }
        if !params.iter().any(|(k, _)| k == "scope") {
            token_url.push_str(&format!(
                "{sep}scope={}",
                query_escape(&format!("repository:{}:pull,push", self.repository))
            ));
        }
        let mut request = self.agent.get(&token_url);
        if let Some(c) = &self.credentials {
            request = request.header(
                "Authorization",
                format!(
                    "Basic {}",
                    base64(&format!("{}:{}", c.username, c.password))
                ),
            );
        }
        let mut response = request
            .call()
            .map_err(|e| registry_error("getting a registry token", &realm, e))?;
        if response.status() != 200 {
            let hint = if self.credentials.is_some() {
                "check the user name and password"
            } else {
                "pass --username and --password-stdin"
            };
            return Err(Error::Registry(format!(
                "getting a registry token from {realm} answered {}: {hint}",
                response.status()
            )));
        }
        let body: serde_json::Value = serde_json::from_slice(
            &response
                .body_mut()
                .with_config()
                .limit(1 << 20)
                .read_to_vec()
                .map_err(|e| registry_error("reading the registry token", &realm, e))?,
        )
        .map_err(|e| registry_error("the registry token is not JSON", &realm, e))?;
        let token = body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .ok_or_else(|| Error::Registry(format!("{realm}: the token answer has no token")))?;
        Ok(format!("Bearer {token}"))
    }

    /// True when the registry already has `digest` in this repository.
    pub fn has_blob(&mut self, digest: &str) -> Result<bool> {
        let url = self.url(&format!("blobs/{digest}"));
        let agent = self.agent.clone();
        let response = self.send("checking for a blob", &url, &|auth| {
            let mut r = agent.head(&url);
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            r.call()
        })?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            other => Err(status_error("checking for a blob", &url, other, response)),
        }
    }

    /// Uploads `blob` unless the registry has it.
    pub fn push_blob(&mut self, blob: &Blob) -> Result<()> {
        if self.has_blob(&blob.digest)? {
            return Ok(());
        }
        let start = self.url("blobs/uploads/");
        let agent = self.agent.clone();
        let response = self.send("starting a blob upload", &start, &|auth| {
            let mut r = agent.post(&start);
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            r.send_empty()
        })?;
        if response.status() != 202 {
            let status = response.status().as_u16();
            return Err(status_error(
                "starting a blob upload",
                &start,
                status,
                response,
            ));
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::Registry(format!("{start}: upload started without a Location header"))
            })?;
        let mut upload = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}{location}", self.base)
        };
        upload.push(if upload.contains('?') { '&' } else { '?' });
        upload.push_str(&format!("digest={}", query_escape(&blob.digest)));
        let bytes = &blob.bytes;
        let response = self.send("uploading a blob", &upload, &|auth| {
            let mut r = agent
                .put(&upload)
                .header("Content-Type", "application/octet-stream");
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            r.send(&bytes[..])
        })?;
        match response.status().as_u16() {
            201 => Ok(()),
            other => Err(status_error(
                &format!("uploading blob {}", blob.digest),
                &upload,
                other,
                response,
            )),
        }
    }

    /// Pushes every blob of `image`, then its manifest by digest and, with `tag`, by tag too.
    /// Returns the digest the registry reported.
    pub fn push(&mut self, image: &Image, tag: Option<&str>) -> Result<String> {
        for blob in image.blobs() {
            self.push_blob(blob)?;
        }
        let mut refs = vec![image.digest().to_owned()];
        refs.extend(tag.map(str::to_owned));
        for r in refs {
            let url = self.url(&format!("manifests/{r}"));
            let agent = self.agent.clone();
            let bytes = &image.manifest.bytes;
            let response = self.send("pushing the manifest", &url, &|auth| {
                let mut req = agent.put(&url).header("Content-Type", MANIFEST_MEDIA_TYPE);
                if let Some(a) = auth {
                    req = req.header("Authorization", a);
                }
                req.send(&bytes[..])
            })?;
            if response.status() != 201 {
                let status = response.status().as_u16();
                return Err(status_error("pushing the manifest", &url, status, response));
            }
            if let Some(reported) = response
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                && reported != image.digest()
            {
                return Err(Error::Registry(format!(
                    "{url}: the registry stored the manifest as {reported}, not {}; it rewrote the manifest, so the digest printed would be wrong",
                    image.digest()
                )));
            }
        }
        Ok(image.digest().to_owned())
    }

    /// Fetches the manifest `digest` and checks its bytes hash to it.
    pub fn pull_manifest(&mut self, digest: &str) -> Result<Vec<u8>> {
        let url = self.url(&format!("manifests/{digest}"));
        let agent = self.agent.clone();
        let response = self.send("fetching a manifest", &url, &|auth| {
            let mut r = agent.get(&url).header("Accept", MANIFEST_MEDIA_TYPE);
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            r.call()
        })?;
        read_verified("fetching a manifest", &url, digest, response)
    }

    /// Fetches blob `digest` and checks its bytes hash to it.
    pub fn pull_blob(&mut self, digest: &str) -> Result<Vec<u8>> {
        let url = self.url(&format!("blobs/{digest}"));
        let agent = self.agent.clone();
        let response = self.send("fetching a blob", &url, &|auth| {
            let mut r = agent.get(&url);
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            r.call()
        })?;
        read_verified("fetching a blob", &url, digest, response)
    }
}

fn read_verified(
    what: &str,
    url: &str,
    digest: &str,
    mut response: ureq::http::Response<ureq::Body>,
) -> Result<Vec<u8>> {
    if response.status() != 200 {
        let status = response.status().as_u16();
        return Err(status_error(what, url, status, response));
    }
    let bytes = response
        .body_mut()
        .with_config()
        .limit(MAX_READ)
        .read_to_vec()
        .map_err(|e| registry_error(what, url, e))?;
    let actual = digest_of(&bytes);
    if actual != digest {
        return Err(Error::Registry(format!(
            "{what} ({url}): the content hashes to {actual}, not {digest}"
        )));
    }
    Ok(bytes)
}

fn status_error(
    what: &str,
    url: &str,
    status: u16,
    mut response: ureq::http::Response<ureq::Body>,
) -> Error {
    let body = response
        .body_mut()
        .with_config()
        .limit(4096)
        .read_to_string()
        .unwrap_or_default();
    let hint = match status {
        401 | 403 => {
            ": the registry refused the credentials (--username, --password-stdin) or this repository"
        }
        404 => ": no such repository or content",
        _ => "",
    };
    Error::Registry(format!(
        "{what} ({url}) answered {status}{hint}: {}",
        body.trim()
    ))
}

/// `key="value"` pairs of a `WWW-Authenticate` challenge.
fn parse_challenge(params: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = params.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.push((key, value.to_owned()));
        rest = next.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
    }
    out
}

fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn base64(s: &str) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = s.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let params = parse_challenge(
            r#"realm="https://ghcr.io/token",service="ghcr.io",scope="repository:me/x:pull,push""#,
        );
        assert_eq!(
            params,
            [
                ("realm".to_owned(), "https://ghcr.io/token".to_owned()),
                ("service".to_owned(), "ghcr.io".to_owned()),
                ("scope".to_owned(), "repository:me/x:pull,push".to_owned()),
            ]
        );
    }

    #[test]
    fn plain_http_only_for_loopback_or_when_asked() {
        let client = |r: &str, insecure: bool| {
            let reference = Reference::parse(r).expect("reference");
            Client::new(&reference, insecure, None).base
        };
        assert_eq!(client("127.0.0.1:5000/x", false), "http://127.0.0.1:5000");
        assert_eq!(client("localhost:5000/x", false), "http://localhost:5000");
        assert_eq!(client("ghcr.io/me/x", false), "https://ghcr.io");
        assert_eq!(client("10.0.0.1:5000/x", false), "https://10.0.0.1:5000");
        assert_eq!(client("10.0.0.1:5000/x", true), "http://10.0.0.1:5000");
        assert_eq!(
            client("127.0.0.1.example.com/x", false),
            "https://127.0.0.1.example.com"
        );
    }

    #[test]
    fn base64_and_query_escaping() {
        assert_eq!(base64("user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64("a"), "YQ==");
        assert_eq!(base64("ab"), "YWI=");
        assert_eq!(query_escape("sha256:ab"), "sha256%3Aab");
    }
}
