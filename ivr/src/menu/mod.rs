//! The call flow as data: menu files ([`load`]), validated into a [`Menu`]
//! ([`model`]), walked by one [`Flow`] per call ([`flow`], sans-I/O), read
//! out in each language's words ([`speech`]), drawn as Graphviz DOT
//! ([`graph`]) and counted per node ([`metrics`]). [`MenuStore`] holds the
//! menu new calls take, for hot reload.

pub mod flow;
pub mod graph;
pub mod load;
pub mod metrics;
pub mod model;
pub mod speech;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use flow::{Action, CallInfo, Flow, FlowEvent, Input, TicketCreated, TicketDraft};
pub use load::{load_file, parse, MenuError, MenuErrors, PromptCheck};
pub use model::Menu;

/// The menu new calls start on. Calls in progress keep the `Arc` they took,
/// so a reload never changes a call midway.
#[derive(Debug, Clone)]
pub struct MenuStore {
    inner: Arc<RwLock<Arc<Menu>>>,
    path: PathBuf,
    prompts: PathBuf,
}

impl MenuStore {
    /// Loads and validates the menu, or refuses to start.
    pub fn load(path: &Path, prompts: &Path) -> Result<Self, MenuErrors> {
        let menu = load_file(path, PromptCheck::Folder(prompts))?;
        Ok(Self {
            inner: Arc::new(RwLock::new(Arc::new(menu))),
            path: path.to_owned(),
            prompts: prompts.to_owned(),
        })
    }

    pub fn current(&self) -> Arc<Menu> {
        match self.inner.read() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the file again; an invalid menu is refused and the old one stays.
    pub fn reload(&self) -> Result<Arc<Menu>, MenuErrors> {
        let menu = Arc::new(load_file(&self.path, PromptCheck::Folder(&self.prompts))?);
        match self.inner.write() {
            Ok(mut m) => *m = menu.clone(),
            Err(poisoned) => *poisoned.into_inner() = menu.clone(),
        }
        Ok(menu)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests;
