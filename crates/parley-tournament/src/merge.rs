//! Joining the output folders of a sharded tournament.

use std::path::{Path, PathBuf};

use crate::plan::Shard;
use crate::store::{finish, read_done, scan_log, Log, Manifest, LOG};
use crate::summary::Summary;
use crate::{io_error, Error, Result};

/// Joins the folders of every shard of one tournament into `out`, which then holds
/// what an unsharded run would have written (its rows in shard order in the log; the
/// CSV and summary identical). Every shard must be there, complete, and once.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Summary> {
    let mut manifests: Vec<(PathBuf, Manifest)> = Vec::new();
    for dir in dirs {
        let manifest = Manifest::read(dir)?.ok_or_else(|| {
            Error::Invalid(format!(
                "{} holds no tournament ({} is missing)",
                dir.display(),
                crate::store::MANIFEST
            ))
        })?;
        if let Some((first_dir, first)) = manifests.first() {
            if let Some(why) = first.difference(&manifest) {
                return Err(Error::Invalid(format!(
                    "{} and {} are not shards of the same tournament ({why})",
                    first_dir.display(),
                    dir.display()
                )));
            }
            if first.shard.count != manifest.shard.count {
                return Err(Error::Invalid(format!(
                    "{} is shard {} but {} is shard {}: shards of different splits",
                    first_dir.display(),
                    first.shard,
                    dir.display(),
                    manifest.shard
                )));
            }
        }
        manifests.push((dir.clone(), manifest));
    }
    let Some((_, first)) = manifests.first() else {
        return Err(Error::Invalid("nothing to merge".into()));
    };
    let count = first.shard.count;
    let mut seen = vec![None::<&PathBuf>; count as usize];
    for (dir, manifest) in &manifests {
        let slot = &mut seen[manifest.shard.index as usize];
        if let Some(other) = slot {
            return Err(Error::Invalid(format!(
                "shard {} is given twice: {} and {}",
                manifest.shard,
                other.display(),
                dir.display()
            )));
        }
        *slot = Some(dir);
    }
    if let Some(missing) = seen.iter().position(Option::is_none) {
        return Err(Error::Invalid(format!(
            "shard {missing}/{count} is missing"
        )));
    }
    for (dir, manifest) in &manifests {
        let (done, _) = read_done(dir, manifest)?;
        let expected = manifest.shard.size(manifest.sessions);
        if done.count() != expected {
            return Err(Error::Invalid(format!(
                "{} (shard {}) has {} of its {expected} sessions; finish it with --resume first",
                dir.display(),
                manifest.shard,
                done.count()
            )));
        }
    }

    let mut merged = first.clone();
    merged.shard = Shard::ALL;
    std::fs::create_dir_all(out).map_err(io_error(out))?;
    if Manifest::read(out)?.is_some() || out.join(LOG).exists() {
        return Err(Error::Invalid(format!(
            "{} already holds a tournament; merge into an empty folder",
            out.display()
        )));
    }
    merged.write(out)?;
    let mut log = Log::open(out, 0)?;
    let mut ordered: Vec<&(PathBuf, Manifest)> = manifests.iter().collect();
    ordered.sort_by_key(|(_, m)| m.shard.index);
    for (dir, _) in ordered {
        scan_log(&dir.join(LOG), |_, _, row| log.append(&row))?;
    }
    log.sync()?;
    finish(out, &merged)
}
