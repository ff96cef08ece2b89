//! Credentials for a repository and keeping them out of text: [`GitAuth`] (whose `Debug`
//! shows whether a token is set, never the token), and the scrubbing of URLs that may carry one.

use std::path::PathBuf;

use crate::redact::scrub_userinfo;

/// Credentials for a repository. `Debug` shows whether a token is set, never the token.
#[derive(Clone, Default)]
pub struct GitAuth {
    /// With a token: the user sent with it over https (`x-access-token` by default, as GitHub
    /// wants; GitLab wants `oauth2`). For ssh URLs without a user: the ssh user (default `git`).
    pub username: Option<String>,
    /// A token (GitHub, GitLab, Bitbucket access token), sent as the https password.
    pub token: Option<String>,
    /// A private key for ssh URLs (no passphrase).
    pub ssh_key_file: Option<PathBuf>,
    /// The known_hosts file the ssh server's key is checked against. Without it, libgit2 checks
    /// `~/.ssh/known_hosts`.
    pub known_hosts_file: Option<PathBuf>,
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitAuth")
            .field("username", &self.username)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("ssh_key_file", &self.ssh_key_file)
            .field("known_hosts_file", &self.known_hosts_file)
            .finish()
    }
}

/// The password of a URL's userinfo as written (percent-encoded), for scrubbing.
pub(super) fn raw_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    userinfo.split_once(':').map(|(_, p)| p.to_owned())
}

/// Credentials out of a URL that may not even parse.
pub(super) fn redact_text(url: &str, auth: &GitAuth) -> String {
    let mut s = scrub_userinfo(url);
    if let Some(token) = auth.token.as_deref().filter(|t| !t.is_empty()) {
        s = s.replace(token, "***");
    }
    s
}
