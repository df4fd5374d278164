//! Checkpoints in a JSON file, so a restarted runner resumes after the last
//! acknowledged record of each shard. The file names the stream and the
//! function, and a file written for another stream is refused rather than
//! applied to the wrong shards.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

const VERSION: u32 = 1;

/// One shard's saved state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardCheckpoint {
    /// The last acknowledged sequence number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sequence_number: Option<String>,
    /// A closed shard read to its end.
    #[serde(default)]
    pub finished: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckpointFile {
    version: u32,
    stream_arn: String,
    function_name: String,
    shards: BTreeMap<String, ShardCheckpoint>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("checkpoint file {path} is not a checkpoint file: {reason}")]
    Invalid { path: String, reason: String },
    #[error("checkpoint file {path} belongs to {found}, not to {expected}")]
    OtherMapping {
        path: String,
        found: String,
        expected: String,
    },
}

/// Reads the checkpoints of `function_name` on `stream_arn`; an absent file
/// means no checkpoints yet.
pub fn load(
    path: &Path,
    stream_arn: &str,
    function_name: &str,
) -> Result<BTreeMap<String, ShardCheckpoint>, CheckpointError> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(CheckpointError::Io {
                path: shown,
                source,
            })
        }
    };
    let file: CheckpointFile =
        serde_json::from_str(&text).map_err(|e| CheckpointError::Invalid {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    if file.version != VERSION {
        return Err(CheckpointError::Invalid {
            path: shown,
            reason: format!("version {} is not {VERSION}", file.version),
        });
    }
    if file.stream_arn != stream_arn || file.function_name != function_name {
        return Err(CheckpointError::OtherMapping {
            path: shown,
            found: format!("{} on {}", file.function_name, file.stream_arn),
            expected: format!("{function_name} on {stream_arn}"),
        });
    }
    Ok(file.shards)
}

/// Writes the checkpoints; a crash mid-write leaves the previous file
/// whole (write to a sibling, then rename).
pub fn save(
    path: &Path,
    stream_arn: &str,
    function_name: &str,
    shards: &BTreeMap<String, ShardCheckpoint>,
) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = CheckpointFile {
        version: VERSION,
        stream_arn: stream_arn.to_owned(),
        function_name: function_name.to_owned(),
        shards: shards.clone(),
    };
    let text = serde_json::to_string_pretty(&file).unwrap_or_default();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, text).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_another_streams_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/checkpoints.json");
        assert!(load(&path, "arn:s", "f").unwrap().is_empty());
        let mut shards = BTreeMap::new();
        shards.insert(
            "shardId-000000000000".to_owned(),
            ShardCheckpoint {
                sequence_number: Some("42".into()),
                finished: false,
            },
        );
        save(&path, "arn:s", "f", &shards).unwrap();
        assert_eq!(load(&path, "arn:s", "f").unwrap(), shards);
        assert!(matches!(
            load(&path, "arn:other", "f"),
            Err(CheckpointError::OtherMapping { .. })
        ));
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(
            load(&path, "arn:s", "f"),
            Err(CheckpointError::Invalid { .. })
        ));
    }
}
