//! `weir serve` under a Kubernetes ConfigMap and Secret volume: the kubelet
//! updates a mounted volume by writing a new `..<timestamp>` directory,
//! pointing a `..data_tmp` symlink at it and renaming that over `..data`;
//! the visible files (`weir.toml`, `demo.sha256`) are symlinks through
//! `..data`. This test does exactly that to both volumes and checks that the
//! running process uses the new config (a new index) and the new key (the
//! old one refused). The new files get the old files' size and modification
//! time, so only their identity (another inode) tells the change.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use common::{free_port, serve, sha256_hex, wait_until};

/// A mounted volume, laid out as the kubelet's atomic writer does.
struct Volume {
    root: PathBuf,
    generation: u32,
}

impl Volume {
    /// A volume holding `files`, with a visible symlink for each.
    fn new(root: &Path, files: &[(&str, &str)]) -> Volume {
        std::fs::create_dir_all(root).unwrap();
        let mut v = Volume {
            root: root.to_path_buf(),
            generation: 0,
        };
        v.update(files, None);
        for (name, _) in files {
            symlink(format!("..data/{name}"), root.join(name)).unwrap();
        }
        v
    }

    /// Write `files` into a new timestamped directory and swap `..data` to
    /// it; `times`: set each new file's modification time to this one.
    fn update(&mut self, files: &[(&str, &str)], times: Option<SystemTime>) {
        self.generation += 1;
        let old = std::fs::read_link(self.root.join("..data")).ok();
        let dir = format!(
            "..2026_12_03_13_00_{:02}.{}",
            self.generation,
            1000 + self.generation
        );
        std::fs::create_dir(self.root.join(&dir)).unwrap();
        for (name, text) in files {
            let path = self.root.join(&dir).join(name);
            std::fs::write(&path, text).unwrap();
            if let Some(t) = times {
                std::fs::File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_modified(t)
                    .unwrap();
            }
        }
        symlink(&dir, self.root.join("..data_tmp")).unwrap();
        std::fs::rename(self.root.join("..data_tmp"), self.root.join("..data")).unwrap();
        if let Some(old) = old {
            std::fs::remove_dir_all(self.root.join(old)).unwrap();
        }
    }
}

fn config(out: &Path, keys: &Path, index: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
plain_http = true

[sinks.local]
type = "directory"
path = "{out}"

[[tenants]]
id = "demo"
access_key_sha256_file = "{keys}"

[[routes]]
path = "/firehose/waf"
tenant = "demo"
plugin = "builtin:waf"
index = "{index}"
sink = "local"
"#,
        out = out.display(),
        keys = keys.display(),
    )
}

/// POST one WAF record with `key`.
fn post(addr: &str, key: &str, request_id: &str) -> u16 {
    common::post(addr, key, request_id, 1)
}

/// Whether the directory sink holds a document in `index` (`demo-` prefix).
fn stored_in(out: &Path, index: &str) -> bool {
    std::fs::read_dir(out).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("demo-{index}"))
        })
    })
}

#[test]
fn configmap_and_secret_symlink_swaps_are_picked_up() {
    let dir = std::env::temp_dir().join(format!("weir-configmap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("out");
    let (config_dir, secret_dir) = (dir.join("config"), dir.join("keys"));
    let keys = secret_dir.join("demo.sha256");
    let (old_key, new_key) = ("first-access-key", "other-access-key");
    let mut secret = Volume::new(
        &secret_dir,
        &[("demo.sha256", &format!("{}\n", sha256_hex(old_key)))],
    );
    let mut configmap = Volume::new(&config_dir, &[("weir.toml", &config(&out, &keys, "idx-a"))]);
    let addr = format!("127.0.0.1:{}", free_port());
    let _serve = serve(&config_dir.join("weir.toml"), &addr, &dir.join("weir.log"));
    assert_eq!(post(&addr, old_key, "r-1"), 200);
    assert_eq!(post(&addr, new_key, "r-2"), 401, "a key not yet mounted");
    assert!(stored_in(&out, "idx-a"));

    // The ConfigMap changes: same size, same modification time, new inode.
    let before = std::fs::metadata(config_dir.join("weir.toml")).unwrap();
    configmap.update(
        &[("weir.toml", &config(&out, &keys, "idx-b"))],
        Some(before.modified().unwrap()),
    );
    let after = std::fs::metadata(config_dir.join("weir.toml")).unwrap();
    assert_eq!(
        (before.len(), before.modified().unwrap()),
        (after.len(), after.modified().unwrap())
    );
    let mut n = 0;
    wait_until("requests stored in the new config's index", || {
        n += 1;
        assert_eq!(post(&addr, old_key, &format!("r-b{n}")), 200);
        stored_in(&out, "idx-b")
    });

    // The Secret's key is rotated: the new key works, the old one is refused.
    let before = std::fs::metadata(&keys).unwrap();
    secret.update(
        &[("demo.sha256", &format!("{}\n", sha256_hex(new_key)))],
        Some(before.modified().unwrap()),
    );
    wait_until("the rotated key", || post(&addr, new_key, "r-3") == 200);
    assert_eq!(post(&addr, old_key, "r-4"), 401, "the old key is gone");
    let _ = std::fs::remove_dir_all(&dir);
}
