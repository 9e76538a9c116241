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

use crate::service::prompts::{PromptError, Prompts};

/// A menu with the prompt audio it was validated against.
#[derive(Debug)]
pub struct Loaded {
    pub menu: Arc<Menu>,
    pub prompts: Prompts,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Menu(#[from] MenuErrors),
    #[error(transparent)]
    Prompts(#[from] PromptError),
}

/// The menu new calls start on. Calls in progress keep the `Arc` they took,
/// so a reload never changes a call midway.
#[derive(Debug, Clone)]
pub struct MenuStore {
    inner: Arc<RwLock<Arc<Loaded>>>,
    path: PathBuf,
    prompts: PathBuf,
}

impl MenuStore {
    /// Loads and validates the menu and its prompts, or refuses to start.
    pub fn load(path: &Path, prompts: &Path) -> Result<Self, LoadError> {
        let loaded = Self::read(path, prompts)?;
        Ok(Self {
            inner: Arc::new(RwLock::new(Arc::new(loaded))),
            path: path.to_owned(),
            prompts: prompts.to_owned(),
        })
    }

    fn read(path: &Path, prompts: &Path) -> Result<Loaded, LoadError> {
        let menu = load_file(path, PromptCheck::Folder(prompts))?;
        let audio = Prompts::load(prompts)?;
        Ok(Loaded {
            menu: Arc::new(menu),
            prompts: audio,
        })
    }

    pub fn current(&self) -> Arc<Loaded> {
        match self.inner.read() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the menu and prompts again; an invalid menu is refused and the
    /// old one stays.
    pub fn reload(&self) -> Result<Arc<Loaded>, LoadError> {
        let loaded = Arc::new(Self::read(&self.path, &self.prompts)?);
        match self.inner.write() {
            Ok(mut m) => *m = loaded.clone(),
            Err(poisoned) => *poisoned.into_inner() = loaded.clone(),
        }
        tracing::info!(menu = %self.path.display(), nodes = loaded.menu.nodes.len(), "menu reloaded");
        Ok(loaded)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests;
