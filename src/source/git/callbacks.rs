//! libgit2's callbacks for one connection: the credentials offered (a token, an ssh key), the
//! ssh host key checked against `knownHostsFile`, and the deadline checked on every progress
//! report; [`CallState`] keeps what they saw, to explain the error libgit2 returns.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};

use super::known_hosts::{KnownHosts, Verdict};
use super::remote_url::RepoUrl;
use super::source::Inner;

/// What the callbacks of one connection observed, to explain the error libgit2 returns.
pub(super) struct CallState {
    deadline: Instant,
    pub(super) timed_out: Cell<bool>,
    credential_attempts: Cell<u32>,
    pub(super) auth_problem: RefCell<Option<String>>,
}

impl CallState {
    pub(super) fn new(deadline: Instant) -> Self {
        Self {
            deadline,
            timed_out: Cell::new(false),
            credential_attempts: Cell::new(0),
            auth_problem: RefCell::new(None),
        }
    }

    fn within_deadline(&self) -> bool {
        let ok = Instant::now() < self.deadline;
        if !ok {
            self.timed_out.set(true);
        }
        ok
    }

    fn refuse(&self, reason: String) -> git2::Error {
        let e = git2::Error::from_str(&reason);
        *self.auth_problem.borrow_mut() = Some(reason);
        e
    }
}

impl Inner {
    pub(super) fn callbacks<'a>(
        &'a self,
        url: &'a RepoUrl,
        state: &'a CallState,
    ) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(move |_url, user_from_url, allowed| {
            if allowed == CredentialType::USERNAME {
                // ssh asks for the user first when the URL has none: not an attempt.
                return Cred::username(&self.ssh_user(url, user_from_url));
            }
            let attempts = state.credential_attempts.get() + 1;
            state.credential_attempts.set(attempts);
            if attempts > 1 {
                // libgit2 asks again after a rejection; asking forever would loop.
                return Err(state.refuse(
                    "the server rejected the credentials; check the token (or `username`: GitLab wants `oauth2`) or the ssh key".into(),
                ));
            }
            let auth = &self.settings.auth;
            if allowed.contains(CredentialType::SSH_KEY) {
                let Some(key) = &auth.ssh_key_file else {
                    return Err(state.refuse(
                        "the ssh server wants a key; set `auth.sshKeyFile`".into(),
                    ));
                };
                return Cred::ssh_key(&self.ssh_user(url, user_from_url), None, key, None)
                    .map_err(|e| {
                        state.refuse(format!(
                            "cannot use the ssh key {}: {}",
                            key.display(),
                            e.message()
                        ))
                    });
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                let password = auth.token.as_deref().or(url.password.as_deref());
                let Some(password) = password else {
                    return Err(state.refuse(
                        "the server asks for credentials and none are configured; set a token (`auth.tokenEnv` or `auth.tokenFile`)".into(),
                    ));
                };
                let user = auth
                    .username
                    .as_deref()
                    .or(url.user.as_deref())
                    .unwrap_or("x-access-token");
                return Cred::userpass_plaintext(user, password);
            }
            Err(state.refuse(format!(
                "the server asks for a kind of credentials this source cannot give ({allowed:?})"
            )))
        });
        callbacks.transfer_progress(move |_| state.within_deadline());
        callbacks.sideband_progress(move |_| state.within_deadline());
        callbacks.certificate_check(move |cert, host| {
            let Some(hostkey) = cert.as_hostkey() else {
                // TLS: keep libgit2's own verification against the system's trust store.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let Some(file) = &self.settings.auth.known_hosts_file else {
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let text = std::fs::read_to_string(file).map_err(|e| {
                state.refuse(format!("cannot read the known_hosts file {}: {e}", file.display()))
            })?;
            let Some(key) = hostkey.hostkey() else {
                return Err(state.refuse(format!("{host} did not show its host key")));
            };
            let port = url.ssh_port();
            match KnownHosts::parse(&text).check(host, port, key) {
                Verdict::Trusted => Ok(CertificateCheckStatus::CertificateOk),
                Verdict::Mismatch => Err(state.refuse(format!(
                    "the host key of {host} is not the one in {}: it changed, or something is in the middle; update the file if the change is expected",
                    file.display()
                ))),
                Verdict::Revoked => Err(state.refuse(format!(
                    "the host key of {host} is marked @revoked in {}",
                    file.display()
                ))),
                Verdict::Unknown => Err(state.refuse(format!(
                    "{host} is not in {}; add its key (`ssh-keyscan -p {port} {host}`)",
                    file.display()
                ))),
            }
        });
        callbacks
    }

    fn ssh_user(&self, url: &RepoUrl, from_url: Option<&str>) -> String {
        from_url
            .or(url.user.as_deref())
            .or(self.settings.auth.username.as_deref())
            .unwrap_or("git")
            .to_owned()
    }
}
