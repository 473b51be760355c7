#![allow(clippy::unwrap_used)]

use super::*;

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-cache-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    dir
}

#[test]
fn temporary_names_are_unpredictable() {
    let (a, b) = (unpredictable(), unpredictable());
    assert_ne!(a, b);
    assert_eq!(a.len(), 16);
}

#[cfg(unix)]
#[test]
fn a_directory_others_can_write_is_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("mode");
    assert_eq!(trusted_dir(&dir), Ok(()));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(trusted_dir(&dir), Err("writable by group or others"));
    assert_eq!(trusted_dir(&dir.join("missing")), Ok(()));
}

#[test]
fn an_artifact_must_match_its_digest() {
    let dir = temp_dir("digest");
    let path = dir.join("x.cwasm");
    write_new(&path, b"image").unwrap();
    assert_eq!(trusted_artifact(&path), Err("no digest beside it"));
    let digest = crate::digest::hex(&Sha256::digest(b"image"));
    write_new(&sidecar(&path), digest.as_bytes()).unwrap();
    assert_eq!(trusted_artifact(&path), Ok(()));
    write_new(&path, b"imagf").unwrap();
    assert_eq!(trusted_artifact(&path), Err("its digest does not match"));
    // no temporary file is left behind
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

/// The whole path: compiled and cached, mapped from the cache, and
/// compiled again when the artifact was altered or the directory is open
/// to others.
#[test]
fn an_altered_artifact_or_an_open_directory_is_compiled_again() {
    let engine = Engine::default();
    let dir = temp_dir("compile");
    let cache = Cache {
        engine: &engine,
        dir: Some(&dir),
        engine_key: "test",
    };
    let bytes = crate::builtin::bytes("waf").unwrap();
    let (_, cached) = cache.compile("waf", bytes, "d").unwrap();
    assert!(!cached);
    let (_, cached) = cache.compile("waf", bytes, "d").unwrap();
    assert!(cached, "mapped from the cache the second time");
    let artifact = dir.join("d-test.cwasm");
    let mut image = std::fs::read(&artifact).unwrap();
    let last = image.len() - 1;
    image[last] ^= 1;
    write_new(&artifact, &image).unwrap();
    let (_, cached) = cache.compile("waf", bytes, "d").unwrap();
    assert!(!cached, "an altered artifact is not mapped");
    let (_, cached) = cache.compile("waf", bytes, "d").unwrap();
    assert!(cached, "and the good one is written again");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let (_, cached) = cache.compile("waf", bytes, "d").unwrap();
        assert!(!cached, "a directory others can write is not used");
    }
}
