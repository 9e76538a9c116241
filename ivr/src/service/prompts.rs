//! Prompt audio, loaded once at start-up from the prompts folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::media::wav::{read_telephone_wav, WavError};

/// The prompts the built-in flow needs, per language.
pub const REQUIRED: &[&str] = &["welcome", "goodbye"];
pub const LANGUAGES: &[&str] = &["zh", "en"];

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
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
    /// Loads every required prompt in every language, or says which is wrong.
    pub fn load(dir: &Path) -> Result<Self, PromptError> {
        let mut audio = HashMap::new();
        for lang in LANGUAGES {
            for name in REQUIRED {
                let path = dir.join(lang).join(format!("{name}.wav"));
                if !path.is_file() {
                    return Err(PromptError::Missing { path });
                }
                let samples = read_telephone_wav(&path)?;
                audio.insert(((*lang).to_owned(), (*name).to_owned()), Arc::new(samples));
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
