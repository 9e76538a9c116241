//! Audio ready to play: a prompt's 8 kHz samples and their G.711 encoding
//! in each law, made once (on first use of that law) and shared by every
//! call that plays it. A call plays a clip by keeping a cursor into it, so
//! thousands of calls hearing the welcome prompt hold one copy of it, and
//! no call encodes a sample of a prompt.

use std::sync::{Arc, OnceLock};

use super::codec::G711;

#[derive(Debug, Default)]
struct ClipData {
    samples: Vec<i16>,
    pcmu: OnceLock<Box<[u8]>>,
    pcma: OnceLock<Box<[u8]>>,
}

/// Shared, immutable audio; cloning is one reference count.
#[derive(Debug, Clone, Default)]
pub struct Clip(Arc<ClipData>);

impl Clip {
    pub fn new(samples: Vec<i16>) -> Self {
        Self(Arc::new(ClipData {
            samples,
            ..ClipData::default()
        }))
    }

    pub fn samples(&self) -> &[i16] {
        &self.0.samples
    }

    /// Length in samples (one byte each once encoded).
    pub fn len(&self) -> usize {
        self.0.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.samples.is_empty()
    }

    /// The clip in `law`, encoded the first time any call asks for it.
    pub fn encoded(&self, law: G711) -> &[u8] {
        let cell = match law {
            G711::Pcmu => &self.0.pcmu,
            G711::Pcma => &self.0.pcma,
        };
        cell.get_or_init(|| {
            let mut bytes = Vec::with_capacity(self.0.samples.len());
            law.encode(&self.0.samples, &mut bytes);
            bytes.into_boxed_slice()
        })
    }

    /// Whether two clips are the same audio object (not merely equal audio).
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl PartialEq for Clip {
    fn eq(&self, other: &Self) -> bool {
        self.samples() == other.samples()
    }
}

impl Eq for Clip {}

impl From<Vec<i16>> for Clip {
    fn from(samples: Vec<i16>) -> Self {
        Self::new(samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_law_is_encoded_once_and_shared_by_every_copy() {
        let clip = Clip::new(vec![0, 1000, -1000, 32767]);
        let copy = clip.clone();
        let first = clip.encoded(G711::Pcmu).as_ptr();
        assert_eq!(copy.encoded(G711::Pcmu).as_ptr(), first, "one encoding");
        let mut expected = Vec::new();
        G711::Pcma.encode(clip.samples(), &mut expected);
        assert_eq!(copy.encoded(G711::Pcma), &expected[..]);
        assert!(clip.ptr_eq(&copy));
        assert_eq!(clip.len(), 4);
    }
}
