//! Prompt audio: every WAV of every language folder, loaded when the menu
//! is (at start-up and on reload), so no call ever reads a file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::media::wav::{read_telephone_wav, WavError};

pub const LANGUAGES: &[&str] = &["zh", "en"];

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error(
        "prompt folder {path} is missing or unreadable; point --prompts-dir at the prompts folder"
    )]
    Folder { path: PathBuf },
    #[error("prompt {path} is missing; regenerate the prompts with prompts/generate.sh or point --prompts-dir at the prompts folder")]
    Missing { path: PathBuf },
    #[error(transparent)]
    Wav(#[from] WavError),
}

/// 8 kHz samples of one prompt, shared by every call that plays it.
pub type Audio = Arc<Vec<i16>>;

/// Prompt audio by (language, name), shared by every call.
#[derive(Debug, Clone, Default)]
pub struct Prompts {
    audio: Arc<HashMap<(String, String), Audio>>,
}

impl Prompts {
    /// Loads every `<dir>/<language>/<name>.wav`; a file that is not 8 kHz
    /// mono 16-bit PCM is refused with its path.
    pub fn load(dir: &Path) -> Result<Self, PromptError> {
        let mut audio = HashMap::new();
        for lang in LANGUAGES {
            let folder = dir.join(lang);
            let entries = std::fs::read_dir(&folder).map_err(|_| PromptError::Folder {
                path: folder.clone(),
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().and_then(|e| e.to_str()) != Some("wav") {
                    continue;
                }
                let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                    continue;
                };
                let samples = read_telephone_wav(&path)?;
                audio.insert(((*lang).to_owned(), name.to_owned()), Arc::new(samples));
            }
        }
        for name in ["welcome", "goodbye"] {
            if !audio.contains_key(&("zh".to_owned(), name.to_owned())) {
                return Err(PromptError::Missing {
                    path: dir.join("zh").join(format!("{name}.wav")),
                });
            }
        }
        Ok(Self {
            audio: Arc::new(audio),
        })
    }

    pub fn get(&self, lang: &str, name: &str) -> Audio {
        self.audio
            .get(&(lang.to_owned(), name.to_owned()))
            .cloned()
            .unwrap_or_default()
    }
}
