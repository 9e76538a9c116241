//! Prompt audio: every WAV of every language, loaded when the menu is (at
//! start-up and on reload), so no call ever reads a file. The default set
//! is compiled into the binary; a center replaces it with a folder of its
//! own (`--prompts-dir`), which `hotline prompts export` starts from.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::media::wav::{decode_telephone_wav, read_telephone_wav, WavError};

pub const LANGUAGES: &[&str] = &["zh", "en"];

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The text of every embedded prompt, as `prompts/prompts.tsv` has it.
pub const PROMPT_TEXTS: &str = embedded::PROMPT_TEXTS;

/// Where prompts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptSource {
    /// The set compiled into the binary.
    Embedded,
    /// `<dir>/<language>/<name>.wav`, maintained by a center.
    Folder(PathBuf),
}

impl PromptSource {
    /// The folder when one is given, the embedded set otherwise.
    pub fn from_option(dir: Option<&Path>) -> Self {
        match dir {
            Some(dir) => Self::Folder(dir.to_owned()),
            None => Self::Embedded,
        }
    }
}

impl std::fmt::Display for PromptSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Embedded => f.write_str("the embedded prompts"),
            Self::Folder(dir) => write!(f, "{}", dir.display()),
        }
    }
}

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
    #[error("cannot write {path}: {source}")]
    Export {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One prompt: its 8 kHz samples and their G.711 encodings, shared by
/// every call that plays it.
pub type Audio = crate::media::clip::Clip;

/// Prompt audio by (language, name), shared by every call.
#[derive(Debug, Clone, Default)]
pub struct Prompts {
    audio: Arc<HashMap<(String, String), Audio>>,
}

impl Prompts {
    /// Loads every prompt of `source`; a file that is not 8 kHz mono
    /// 16-bit PCM is refused with its path.
    pub fn load(source: &PromptSource) -> Result<Self, PromptError> {
        match source {
            PromptSource::Embedded => Self::embedded(),
            PromptSource::Folder(dir) => Self::load_folder(dir),
        }
    }

    /// The prompts compiled into the binary.
    pub fn embedded() -> Result<Self, PromptError> {
        let mut audio = HashMap::new();
        for (lang, name, bytes) in embedded::PROMPTS {
            let samples = decode_telephone_wav(bytes, &format!("{lang}/{name}.wav"))?;
            audio.insert(
                ((*lang).to_owned(), (*name).to_owned()),
                Audio::new(samples),
            );
        }
        Self::complete(audio, Path::new("prompts"))
    }

    /// Loads every `<dir>/<language>/<name>.wav`.
    pub fn load_folder(dir: &Path) -> Result<Self, PromptError> {
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
                audio.insert(((*lang).to_owned(), name.to_owned()), Audio::new(samples));
            }
        }
        Self::complete(audio, dir)
    }

    /// Refuses a set without the prompts every call needs.
    fn complete(audio: HashMap<(String, String), Audio>, dir: &Path) -> Result<Self, PromptError> {
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

    /// Every prompt: (language, name, audio).
    pub fn all(&self) -> impl Iterator<Item = (&str, &str, &Audio)> {
        self.audio
            .iter()
            .map(|((lang, name), audio)| (lang.as_str(), name.as_str(), audio))
    }

    /// Whether `name` has a recording in `lang`.
    pub fn has(&self, lang: &str, name: &str) -> bool {
        self.audio.contains_key(&(lang.to_owned(), name.to_owned()))
    }

    pub fn get(&self, lang: &str, name: &str) -> Audio {
        self.audio
            .get(&(lang.to_owned(), name.to_owned()))
            .cloned()
            .unwrap_or_default()
    }
}

/// Writes the embedded prompts to `<dir>/<language>/<name>.wav`, byte for
/// byte, with their texts as `<dir>/prompts.tsv`, for a center to replace
/// file by file. Returns how many WAVs were written.
pub fn export_embedded(dir: &Path) -> Result<usize, PromptError> {
    let write = |path: PathBuf, bytes: &[u8]| -> Result<(), PromptError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| PromptError::Export {
                path: parent.to_owned(),
                source,
            })?;
        }
        std::fs::write(&path, bytes).map_err(|source| PromptError::Export { path, source })
    };
    for (lang, name, bytes) in embedded::PROMPTS {
        write(dir.join(lang).join(format!("{name}.wav")), bytes)?;
    }
    write(dir.join("prompts.tsv"), PROMPT_TEXTS.as_bytes())?;
    Ok(embedded::PROMPTS.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_prompts_are_the_repository_folder() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../prompts");
        let embedded = Prompts::embedded().unwrap();
        let on_disk = Prompts::load_folder(&folder).unwrap();
        assert_eq!(embedded.audio.len(), on_disk.audio.len());
        for (key, samples) in on_disk.audio.iter() {
            assert_eq!(embedded.audio.get(key), Some(samples), "{key:?}");
        }
    }

    #[test]
    fn export_writes_every_prompt_back_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let written = export_embedded(dir.path()).unwrap();
        assert!(written > 100, "{written} prompts");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../prompts");
        for (lang, name, _) in embedded::PROMPTS {
            let file = format!("{name}.wav");
            assert_eq!(
                std::fs::read(dir.path().join(lang).join(&file)).unwrap(),
                std::fs::read(repo.join(lang).join(&file)).unwrap(),
                "{lang}/{file}"
            );
        }
        let exported = Prompts::load_folder(dir.path()).unwrap();
        assert!(exported.has("zh", "welcome"));
    }
}
