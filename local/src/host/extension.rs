//! The external extensions of an environment, started as Lambda starts those of
//! `/opt/extensions`; and who of the environment has registered and asked for what is next,
//! which is when its init is done.

use std::collections::HashSet;

use tokio::sync::{mpsc, watch};

use super::environment::INIT_LIMIT;
use super::function::HostedFunction;
use super::group::Group;
use super::process;

/// An external extension's process.
pub(super) struct External {
    pub(super) name: String,
    /// `true` once it exited.
    pub(super) exited: watch::Receiver<bool>,
}

/// Who of the environment has registered, and asked for what is next.
#[derive(Default)]
pub(super) struct Init {
    pub(super) runtime_polled: bool,
    pub(super) registered: HashSet<String>,
    pub(super) polled: HashSet<String>,
    /// An extension registered that the host did not start: the runtime's own.
    pub(super) internal: bool,
}

impl Init {
    /// Whether the runtime and every extension (the external ones registered) asked for
    /// what is next.
    pub(super) fn done(&self, externals: &[External]) -> bool {
        self.runtime_polled
            && externals.iter().all(|e| self.registered.contains(&e.name))
            && self.registered.iter().all(|n| self.polled.contains(n))
    }

    /// Why it is not done, for the caller and the log.
    pub(super) fn missing(&self, externals: &[External], program: &str, address: &str) -> String {
        let limit = INIT_LIMIT.as_secs();
        let unregistered: Vec<&String> = (externals.iter().map(|e| &e.name))
            .filter(|n| !self.registered.contains(*n))
            .collect();
        if !unregistered.is_empty() {
            return format!(
                "the extensions {unregistered:?} did not register with the Extensions API \
                 within {limit} s (Lambda's limit on init; the runtime starts once they have)"
            );
        }
        if !self.runtime_polled {
            return format!(
                "nothing in the environment called the Runtime API's /next within {limit} s \
                 (Lambda's limit on init): is {program:?} a Lambda runtime? It is given \
                 AWS_LAMBDA_RUNTIME_API={address}, and must ask there for its invocations"
            );
        }
        let silent: Vec<&String> = (self.registered.iter())
            .filter(|n| !self.polled.contains(*n))
            .collect();
        format!(
            "the extensions {silent:?} did not call the Extensions API's event/next within \
             {limit} s (Lambda's limit on init)"
        )
    }
}

/// Starts the function's external extensions, each in a group of its own.
pub(super) fn start_extensions(
    hosted: &HostedFunction,
    address: &str,
    group: &mut Group,
    externals: &mut Vec<External>,
    exits: mpsc::UnboundedSender<String>,
) -> Result<(), String> {
    for path in &hosted.function.extensions {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut child = process::extension(hosted, path, address)
            .spawn()
            .map_err(|e| format!("cannot run the extension {}: {e}", path.display()))?;
        let pid = child.id();
        group.add(pid);
        let (exited_tx, exited) = watch::channel(false);
        let (exits, named) = (exits.clone(), name.clone());
        tokio::spawn(async move {
            let status = child.wait().await;
            tracing::debug!(extension = %named, ?status, "an extension exited");
            let _ = exited_tx.send(true);
            let _ = exits.send(named);
        });
        tracing::debug!(extension = %name, pid, "started an extension");
        externals.push(External { name, exited });
    }
    Ok(())
}
