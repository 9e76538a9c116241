//! Telephone audio in WAV files: 8 kHz mono 16-bit PCM read, or a clear
//! refusal that says what the file is and how to convert it; and written.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: hound::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: hound::Error,
    },
    #[error(
        "{path}: {found}; expected 8000 Hz mono 16-bit PCM \
         (convert with: sox IN.wav -r 8000 -c 1 -b 16 OUT.wav)"
    )]
    Format { path: String, found: String },
}

/// Writes `samples` as an 8 kHz mono 16-bit PCM WAV file.
pub fn write_telephone_wav(path: &Path, samples: &[i16]) -> Result<(), WavError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let failed = |source| WavError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(failed)?;
    for &s in samples {
        writer.write_sample(s).map_err(failed)?;
    }
    writer.finalize().map_err(failed)
}

/// Reads an 8 kHz mono 16-bit PCM WAV file.
pub fn read_telephone_wav(path: &Path) -> Result<Vec<i16>, WavError> {
    let shown = path.display().to_string();
    let reader = hound::WavReader::open(path).map_err(|source| WavError::Read {
        path: shown.clone(),
        source,
    })?;
    telephone_samples(reader, shown)
}

/// Decodes 8 kHz mono 16-bit PCM WAV bytes; `name` says what they are in messages.
pub fn decode_telephone_wav(bytes: &[u8], name: &str) -> Result<Vec<i16>, WavError> {
    let reader =
        hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|source| WavError::Read {
            path: name.to_owned(),
            source,
        })?;
    telephone_samples(reader, name.to_owned())
}

fn telephone_samples<R: std::io::Read>(
    mut reader: hound::WavReader<R>,
    shown: String,
) -> Result<Vec<i16>, WavError> {
    let spec = reader.spec();
    if spec.sample_rate != 8000
        || spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(WavError::Format {
            path: shown,
            found: format!(
                "{} Hz, {} channel(s), {}-bit {:?}",
                spec.sample_rate, spec.channels, spec.bits_per_sample, spec.sample_format
            ),
        });
    }
    reader
        .samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| WavError::Read {
            path: shown,
            source,
        })
}
