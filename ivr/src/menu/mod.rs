//! The call flow as data: menu files ([`load`]), validated into a [`Menu`]
//! ([`model`]), walked by one [`Flow`] per call ([`flow`], sans-I/O), read
//! out in each language's words ([`speech`]), drawn as Graphviz DOT
//! ([`graph`]) and counted per node ([`metrics`]). [`MenuStore`] holds the
//! menu new calls take, for hot reload; [`DEFAULT_MENU`] is the 12348 flow
//! compiled into the binary.

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

use crate::prompts::{PromptError, PromptSource, Prompts};

/// The 12348 call flow compiled into the binary (`ivr/menus/12348.toml`).
pub const DEFAULT_MENU: &str = include_str!("../../menus/12348.toml");

/// The name the embedded menu goes by in messages.
pub const DEFAULT_MENU_NAME: &str = "12348.toml (embedded)";

/// Where a menu comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuSource {
    /// [`DEFAULT_MENU`], compiled into the binary.
    Embedded,
    /// A menu file a center maintains.
    File(PathBuf),
}

impl MenuSource {
    /// The file when one is given, the embedded menu otherwise.
    pub fn from_option(file: Option<&Path>) -> Self {
        match file {
            Some(file) => Self::File(file.to_owned()),
            None => Self::Embedded,
        }
    }

    /// Reads and validates the menu against `prompts`.
    pub fn load(&self, prompts: PromptCheck<'_>) -> Result<Menu, MenuErrors> {
        match self {
            Self::Embedded => parse(DEFAULT_MENU, DEFAULT_MENU_NAME, prompts),
            Self::File(path) => load_file(path, prompts),
        }
    }
}

impl std::fmt::Display for MenuSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Embedded => f.write_str(DEFAULT_MENU_NAME),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

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
    menu: MenuSource,
    prompts: PromptSource,
}

impl MenuStore {
    /// Loads and validates the menu and its prompts, or refuses to start.
    pub fn load(menu: MenuSource, prompts: PromptSource) -> Result<Self, LoadError> {
        let loaded = Self::read(&menu, &prompts)?;
        Ok(Self {
            inner: Arc::new(RwLock::new(Arc::new(loaded))),
            menu,
            prompts,
        })
    }

    fn read(menu: &MenuSource, prompts: &PromptSource) -> Result<Loaded, LoadError> {
        // A folder is checked file by file first, so every missing prompt
        // is named with the menu line that wants it.
        let (menu, audio) = match prompts {
            PromptSource::Folder(dir) => {
                let checked = menu.load(PromptCheck::Folder(dir))?;
                (checked, Prompts::load_folder(dir)?)
            }
            PromptSource::Embedded => {
                let audio = Prompts::embedded()?;
                (menu.load(PromptCheck::Loaded(&audio))?, audio)
            }
        };
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
        let loaded = Arc::new(Self::read(&self.menu, &self.prompts)?);
        match self.inner.write() {
            Ok(mut m) => *m = loaded.clone(),
            Err(poisoned) => *poisoned.into_inner() = loaded.clone(),
        }
        tracing::info!(menu = %self.menu, nodes = loaded.menu.nodes.len(), "menu reloaded");
        Ok(loaded)
    }

    /// Where the menu comes from.
    pub fn source(&self) -> &MenuSource {
        &self.menu
    }
}

#[cfg(test)]
mod tests;
