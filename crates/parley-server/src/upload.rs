//! Uploaded scenarios: native JSON, native TOML, or a Genius folder as a zip file,
//! all brought to the native JSON a session stores.

use std::io::Read;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;

/// `{"upload": scenario}`, `{"upload_toml": "…"}` or `{"upload_genius_zip":
/// "<base64>"}`: exactly one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// The scenario, in the native JSON format.
    #[serde(default)]
    pub upload: Option<Value>,
    /// The scenario, in the native TOML format (the file's text).
    #[serde(default)]
    pub upload_toml: Option<String>,
    /// A Genius scenario folder (a domain and its profiles, `.xml`), zipped and
    /// base64-encoded.
    #[serde(default)]
    pub upload_genius_zip: Option<String>,
}

/// Entries a zip may have, and what they may hold once inflated in all.
const MAX_ZIP_ENTRIES: usize = 256;
const MAX_ZIP_BYTES: u64 = 16 << 20;

/// An uploaded scenario as native JSON, and what a Genius import repaired or ignored.
pub struct Uploaded {
    /// The scenario, native JSON.
    pub json: Value,
    /// Notes from a Genius import.
    pub notes: Vec<String>,
}

impl Upload {
    /// The scenario as native JSON (not checked yet, but for what reading it needed).
    pub fn into_native(self) -> Result<Uploaded, ApiError> {
        let bad = |what: String| ApiError::bad_request(what);
        match (self.upload, self.upload_toml, self.upload_genius_zip) {
            (Some(json), None, None) => Ok(Uploaded {
                json,
                notes: Vec::new(),
            }),
            (None, Some(toml), None) => {
                let model = parley_formats::native::model_from_toml(&toml, "scenario.upload_toml")
                    .map_err(|e| bad(e.to_string()))?;
                Ok(Uploaded {
                    json: serde_json::to_value(model).map_err(ApiError::internal)?,
                    notes: Vec::new(),
                })
            }
            (None, None, Some(zip)) => genius_zip(&zip),
            _ => Err(bad(
                "scenario: give exactly one of \"upload\" (native JSON), \"upload_toml\" \
                 (native TOML text) or \"upload_genius_zip\" (a Genius folder, zipped, in \
                 base64)"
                    .into(),
            )),
        }
    }
}

/// A Genius folder from a zip file: its `.xml` files, wherever they are in it.
fn genius_zip(base64_zip: &str) -> Result<Uploaded, ApiError> {
    let bad = |what: String| ApiError::bad_request(format!("scenario.upload_genius_zip: {what}"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_zip.trim())
        .map_err(|e| bad(format!("not base64: {e}")))?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(format!("not a zip file: {e}")))?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(bad(format!(
            "{} entries; a scenario's zip may have at most {MAX_ZIP_ENTRIES}",
            archive.len()
        )));
    }
    let mut files = Vec::new();
    let mut folder: Option<String> = None;
    let mut budget = MAX_ZIP_BYTES;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        let name = entry.name().replace('\\', "/");
        let base = name.rsplit('/').next().unwrap_or(&name).to_string();
        let is_xml = base.to_ascii_lowercase().ends_with(".xml");
        if entry.is_dir() || !is_xml || name.contains("__MACOSX/") || base.starts_with("._") {
            continue;
        }
        let mut text = Vec::new();
        // Read through a cap: a zip's sizes are what it claims, not what it holds.
        let read = (&mut entry)
            .take(budget + 1)
            .read_to_end(&mut text)
            .map_err(|e| bad(format!("{name}: {e}")))?;
        if read as u64 > budget {
            return Err(bad(format!(
                "its files hold more than {} MiB once unpacked",
                MAX_ZIP_BYTES >> 20
            )));
        }
        budget -= read as u64;
        if folder.is_none() {
            // The scenario is named after the folder that was zipped, if there was one.
            folder = name
                .rsplit('/')
                .nth(1)
                .filter(|f| !f.is_empty())
                .map(str::to_string);
        }
        files.push((base, String::from_utf8_lossy(&text).into_owned()));
    }
    let dir = folder.unwrap_or_else(|| "uploaded scenario".into());
    let genius = parley_formats::genius::read_files(std::path::Path::new(&dir), files)
        .map_err(|e| bad(e.to_string()))?;
    let json = parley_formats::native::to_json(&genius.scenario).map_err(ApiError::internal)?;
    Ok(Uploaded {
        json: serde_json::from_str(&json).map_err(ApiError::internal)?,
        notes: genius.notes,
    })
}
