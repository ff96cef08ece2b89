//! Repository URLs in every form git accepts (`https://`, `http://`, `ssh://`, `git@host:path`,
//! `git://`, `file://`, a plain absolute path): parsed once, shown without credentials, turned
//! into the forge's web links, and compared with the URLs a push webhook reports.
//!
//! Credentials in the userinfo (`https://user:token@host/...`) are taken out of the URL here:
//! they are used as credentials, never written into the cache's git config, never shown.

use crate::workflow::{SourceLinks, parent, percent_decode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Https,
    Http,
    Ssh,
    Git,
    File,
}

/// A parsed repository URL. `Debug` is written by hand: it never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RepoUrl {
    pub scheme: Scheme,
    /// The user of the userinfo, decoded (`git` in `git@github.com:o/r.git`).
    pub user: Option<String>,
    /// The password of the userinfo, decoded: a secret.
    pub password: Option<String>,
    /// Lowercase; empty for `file://`. IPv6 literals keep their brackets.
    pub host: String,
    pub port: Option<u16>,
    /// Without the leading `/` (`o/r.git`); for `file://`, the absolute path.
    pub path: String,
    /// Written as `user@host:path` (scp syntax).
    pub scp_like: bool,
}

impl std::fmt::Debug for RepoUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Which web UI serves the repository, for the links on a Template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forge {
    GitHub,
    GitLab,
    BitbucketCloud,
    Generic,
}

impl RepoUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("the URL is empty".into());
        }
        if let Some((scheme, rest)) = url.split_once("://") {
            let scheme = match scheme.to_ascii_lowercase().as_str() {
                "https" => Scheme::Https,
                "http" => Scheme::Http,
                "ssh" | "git+ssh" | "ssh+git" => Scheme::Ssh,
                "git" => Scheme::Git,
                "file" => Scheme::File,
                other => {
                    return Err(format!(
                        "unsupported scheme `{other}://` (use https://, http://, ssh://, git@host:path, git:// or file://)"
                    ));
                }
            };
            if scheme == Scheme::File {
                // file:///abs/path or file://localhost/abs/path
                let path = rest.strip_prefix("localhost").unwrap_or(rest);
                if !path.starts_with('/') {
                    return Err("a file:// URL needs an absolute path (file:///srv/repo)".into());
                }
                return Ok(Self {
                    scheme,
                    user: None,
                    password: None,
                    host: String::new(),
                    port: None,
                    path: percent_decode(path),
                    scp_like: false,
                });
            }
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let (userinfo, hostport) = match authority.rsplit_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, authority),
            };
            let (user, password) = match userinfo {
                None => (None, None),
                Some(u) => match u.split_once(':') {
                    Some((user, pass)) => (
                        Some(percent_decode(user)).filter(|s| !s.is_empty()),
                        Some(percent_decode(pass)).filter(|s| !s.is_empty()),
                    ),
                    None => (Some(percent_decode(u)).filter(|s| !s.is_empty()), None),
                },
            };
            let (host, port) = split_host_port(hostport)?;
            if host.is_empty() {
                return Err("the URL has no host".into());
            }
            return Ok(Self {
                scheme,
                user,
                password,
                host,
                port,
                path: path.to_owned(),
                scp_like: false,
            });
        }
        if url.starts_with('/') {
            return Ok(Self {
                scheme: Scheme::File,
                user: None,
                password: None,
                host: String::new(),
                port: None,
                path: url.to_owned(),
                scp_like: false,
            });
        }
        // scp syntax: [user@]host:path, where the host part has no slash.
        if let Some((before, path)) = url.split_once(':')
            && !before.contains('/')
            && !before.is_empty()
        {
            let (user, host) = match before.rsplit_once('@') {
                Some((u, h)) => (Some(u.to_owned()).filter(|s| !s.is_empty()), h),
                None => (None, before),
            };
            if host.is_empty() {
                return Err("the URL has no host".into());
            }
            return Ok(Self {
                scheme: Scheme::Ssh,
                user,
                password: None,
                host: host.to_ascii_lowercase(),
                port: None,
                path: path.trim_start_matches('/').to_owned(),
                scp_like: true,
            });
        }
        Err("not a git URL (use https://host/owner/repo.git, git@host:owner/repo.git, ssh://, git:// or file://)".into())
    }

    /// The URL without credentials: what is shown, logged, and given to libgit2 (so no secret
    /// is ever written into the cache's config). An ssh user name is kept (it is not a secret
    /// and the server needs it); an http(s) one is dropped.
    pub fn redacted(&self) -> String {
        let hostport = match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        };
        match self.scheme {
            Scheme::File => format!("file://{}", self.path),
            Scheme::Https | Scheme::Http | Scheme::Git => format!(
                "{}://{hostport}/{}",
                match self.scheme {
                    Scheme::Https => "https",
                    Scheme::Http => "http",
                    _ => "git",
                },
                self.path
            ),
            Scheme::Ssh => {
                let user = self
                    .user
                    .as_deref()
                    .map(|u| format!("{u}@"))
                    .unwrap_or_default();
                if self.scp_like {
                    format!("{user}{}:{}", self.host, self.path)
                } else {
                    format!("ssh://{user}{hostport}/{}", self.path)
                }
            }
        }
    }

    /// The port an ssh connection goes to (for known_hosts).
    pub fn ssh_port(&self) -> u16 {
        self.port.unwrap_or(22)
    }

    fn path_without_git(&self) -> &str {
        let p = self.path.trim_matches('/');
        p.strip_suffix(".git").unwrap_or(p)
    }

    /// The repository's web address: `https://host/owner/repo` (an http(s) URL keeps its scheme
    /// and port; ssh and git:// become https on the default port). None for `file://`.
    pub fn web_base(&self) -> Option<String> {
        match self.scheme {
            Scheme::File => None,
            Scheme::Https | Scheme::Http => {
                let scheme = if self.scheme == Scheme::Https {
                    "https"
                } else {
                    "http"
                };
                let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
                Some(format!(
                    "{scheme}://{}{port}/{}",
                    self.host,
                    self.path_without_git()
                ))
            }
            Scheme::Ssh | Scheme::Git => {
                Some(format!("https://{}/{}", self.host, self.path_without_git()))
            }
        }
    }

    pub fn forge(&self) -> Forge {
        let host = self.host.as_str();
        if self.scheme == Scheme::File {
            Forge::Generic
        } else if host.contains("github") {
            Forge::GitHub
        } else if host.contains("gitlab") {
            Forge::GitLab
        } else if host == "bitbucket.org" {
            Forge::BitbucketCloud
        } else {
            Forge::Generic
        }
    }

    /// What identifies the repository whatever the URL form: host and path, lowercase, without
    /// scheme, user, port or `.git` (forges treat owner and name case-insensitively).
    pub fn identity(&self) -> String {
        match self.scheme {
            Scheme::File => format!("file:{}", self.path.trim_end_matches('/')),
            _ => format!(
                "{}/{}",
                self.host.trim_start_matches("www."),
                self.path_without_git()
            )
            .to_lowercase(),
        }
    }

    /// Links for a workflow file (relative to the repository root) at `reference` (a branch or
    /// tag name, or a commit id). `editable`: whether an edit link makes sense (a branch).
    ///
    /// Unknown forges get `url:<repository web URL>` only: Backstage has no convention for
    /// their file URLs, and a wrong link is worse than none.
    pub fn links(&self, reference: &str, file: &str, commit: &str, editable: bool) -> SourceLinks {
        let folder = parent(file);
        let folder = if folder.is_empty() {
            String::new()
        } else {
            format!("{}/", encode_path(folder))
        };
        let r = encode_path(reference);
        let f = encode_path(file);
        let commit = Some(commit.to_owned());
        let base = self.web_base();
        let (source_location, view_url, edit_url) = match (self.forge(), base) {
            (Forge::GitHub, Some(b)) => (
                format!("url:{b}/tree/{r}/{folder}"),
                Some(format!("{b}/blob/{r}/{f}")),
                Some(format!("{b}/edit/{r}/{f}")),
            ),
            (Forge::GitLab, Some(b)) => (
                format!("url:{b}/-/tree/{r}/{folder}"),
                Some(format!("{b}/-/blob/{r}/{f}")),
                Some(format!("{b}/-/edit/{r}/{f}")),
            ),
            (Forge::BitbucketCloud, Some(b)) => (
                format!("url:{b}/src/{r}/{folder}"),
                Some(format!("{b}/src/{r}/{f}")),
                Some(format!("{b}/src/{r}/{f}?mode=edit")),
            ),
            (_, Some(b)) => (format!("url:{b}"), None, None),
            (_, None) => (format!("url:{}", self.redacted()), None, None),
        };
        SourceLinks {
            source_location,
            view_url,
            edit_url: edit_url.filter(|_| editable),
            commit,
        }
    }
}

fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        // [::1]:8080
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| "an IPv6 host lacks its closing `]`".to_owned())?;
        (format!("[{inside}]"), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (hostport.to_owned(), None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("`{p}` is not a port number"))?,
        ),
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Percent-encodes what a URL path cannot hold as is; `/` separates segments and stays.
pub(crate) fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'/'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b':'
            | b'@' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_form_parses_and_shows_no_secret() {
        let u = RepoUrl::parse("https://me:s3cr%40t@GitHub.com/o/r.git").unwrap();
        assert_eq!(u.user.as_deref(), Some("me"));
        assert_eq!(u.password.as_deref(), Some("s3cr@t"));
        assert_eq!(u.redacted(), "https://github.com/o/r.git");
        assert!(!format!("{u:?}").contains("s3cr"));

        let u = RepoUrl::parse("git@github.com:o/r.git").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.path.as_str()),
            (Scheme::Ssh, "github.com", "o/r.git")
        );
        assert_eq!(u.redacted(), "git@github.com:o/r.git");

        let u = RepoUrl::parse("ssh://git@gitlab.example.com:2222/g/sub/p.git").unwrap();
        assert_eq!(u.port, Some(2222));
        assert_eq!(
            u.redacted(),
            "ssh://git@gitlab.example.com:2222/g/sub/p.git"
        );
        assert_eq!(u.web_base().unwrap(), "https://gitlab.example.com/g/sub/p");

        let u = RepoUrl::parse("git://127.0.0.1:9418/r").unwrap();
        assert_eq!(u.redacted(), "git://127.0.0.1:9418/r");
        let u = RepoUrl::parse("file:///srv/repos/r").unwrap();
        assert_eq!((u.scheme, u.path.as_str()), (Scheme::File, "/srv/repos/r"));
        assert_eq!(
            RepoUrl::parse("/srv/r").unwrap().redacted(),
            "file:///srv/r"
        );
        let u = RepoUrl::parse("http://[::1]:8080/r.git").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", Some(8080)));
        assert!(RepoUrl::parse("ftp://x/y").is_err());
        assert!(RepoUrl::parse("just-words").is_err());
    }

    #[test]
    fn identities_match_across_url_forms() {
        let forms = [
            "https://github.com/Org/Repo.git",
            "https://x-access-token:t@github.com/org/repo",
            "git@github.com:org/repo.git",
            "ssh://git@github.com:22/org/repo.git",
            "git://github.com/org/repo.git",
            "https://github.com/org/repo/",
        ];
        for f in forms {
            assert_eq!(
                RepoUrl::parse(f).unwrap().identity(),
                "github.com/org/repo",
                "{f}"
            );
        }
        assert_ne!(
            RepoUrl::parse("https://github.com/org/repo2")
                .unwrap()
                .identity(),
            "github.com/org/repo"
        );
    }

    #[test]
    fn links_follow_each_forge_convention() {
        let gh = RepoUrl::parse("git@github.com:o/r.git").unwrap();
        let l = gh.links("main", "flows/a b.sw.yaml", "abc", true);
        assert_eq!(
            l.source_location,
            "url:https://github.com/o/r/tree/main/flows/"
        );
        assert_eq!(
            l.view_url.unwrap(),
            "https://github.com/o/r/blob/main/flows/a%20b.sw.yaml"
        );
        assert_eq!(
            l.edit_url.unwrap(),
            "https://github.com/o/r/edit/main/flows/a%20b.sw.yaml"
        );
        assert_eq!(l.commit.unwrap(), "abc");
        let l = gh.links("v1.0", "top.sw.yaml", "abc", false);
        assert_eq!(l.source_location, "url:https://github.com/o/r/tree/v1.0/");
        assert_eq!(l.edit_url, None);

        let gl = RepoUrl::parse("https://oauth2:t@gitlab.example.com/g/p.git").unwrap();
        let l = gl.links("feature/x", "f/w.sw.json", "c", true);
        assert_eq!(
            l.source_location,
            "url:https://gitlab.example.com/g/p/-/tree/feature/x/f/"
        );
        assert_eq!(
            l.view_url.unwrap(),
            "https://gitlab.example.com/g/p/-/blob/feature/x/f/w.sw.json"
        );
        assert_eq!(
            l.edit_url.unwrap(),
            "https://gitlab.example.com/g/p/-/edit/feature/x/f/w.sw.json"
        );

        let bb = RepoUrl::parse("git@bitbucket.org:team/r.git").unwrap();
        let l = bb.links("main", "f/w.sw.json", "c", true);
        assert_eq!(
            l.source_location,
            "url:https://bitbucket.org/team/r/src/main/f/"
        );
        assert_eq!(
            l.view_url.unwrap(),
            "https://bitbucket.org/team/r/src/main/f/w.sw.json"
        );
        assert_eq!(
            l.edit_url.unwrap(),
            "https://bitbucket.org/team/r/src/main/f/w.sw.json?mode=edit"
        );

        let generic = RepoUrl::parse("https://u:pw@git.example.com/r.git").unwrap();
        let l = generic.links("main", "f/w.sw.json", "c", true);
        assert_eq!(l.source_location, "url:https://git.example.com/r");
        assert_eq!((l.view_url, l.edit_url), (None, None));
        let file = RepoUrl::parse("file:///srv/r").unwrap();
        assert_eq!(
            file.links("main", "w.sw.json", "c", true).source_location,
            "url:file:///srv/r"
        );
    }
}
