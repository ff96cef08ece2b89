//! A git repository as a workflow source: a bare clone in a cache folder, fetched at one
//! reference (a branch, a tag or a pinned commit), read at one commit.
//!
//! The contract follows git-sync's: [`GitSource::fetch`] asks the server for the one reference
//! it follows and downloads only when that moved (an idle fetch is one round trip and reads
//! nothing), [`GitSource::read`] turns a commit into a [`Snapshot`](crate::source::Snapshot) through the same
//! [`read_tree`](crate::source::dir::read_tree) a folder uses (so identical files give identical entities), and every failure is
//! a [`GitError`] naming the repository and what to do, so the caller can keep its last good
//! state. It is not a sync loop, has no schedule and no HTTP: the daemon owns those.
//!
//! Both calls block (libgit2); run them on a blocking thread. A fetch is bounded by
//! [`GitSettings::timeout`] whatever the server does: libgit2's socket timeouts and a deadline in
//! the progress callbacks end it from inside, and a watchdog gives up waiting on it from outside.
//!
//! Credentials never leave this module: a token in the URL's userinfo is taken out of the URL
//! (the cache's git config holds the URL without it), and every message, name and link is
//! built from the redacted URL and scrubbed of the secrets.
//!
//! - `source`: [`GitSource`], the calls above, and what its parts share.
//! - `fetch`: fetching into the bare clone; `callbacks`: credentials, host key and deadline
//!   during a connection.
//! - `read`: a commit's workflows; `tree`: a commit's tree as a `Tree`; `history`: the last
//!   commit that changed each file.
//! - `settings`: [`GitSettings`]; `credentials`: [`GitAuth`] and scrubbing; `error`: [`GitError`].
//! - `remote_url`: the forms of a repository URL, and links; `known_hosts`: ssh host keys.

mod callbacks;
mod credentials;
mod error;
mod fetch;
mod history;
mod known_hosts;
mod read;
mod remote_url;
mod settings;
mod source;
mod tree;

pub use credentials::GitAuth;
pub use error::GitError;
pub use settings::GitSettings;
pub use source::GitSource;
