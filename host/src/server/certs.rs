//! The TLS certificate, reloaded when its files change: a renewed
//! certificate (cert-manager, certbot, a rotated Kubernetes Secret) is
//! served to new connections without a restart, and connections already
//! open keep theirs.
//!
//! The files are checked at most once per [`CHECK_EVERY`], on a handshake
//! (no watcher thread). A change that does not load (a key written before
//! its certificate, a half-written file, a key that does not match) is
//! logged and the previous certificate stays; the next change is tried
//! again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How often, at most, the files are looked at.
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The certificate and key files, and what they held when last read.
#[derive(Debug)]
pub(super) struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    current: Arc<CertifiedKey>,
    /// The files' modification times and lengths when last read.
    stamp: Option<Stamp>,
    checked: Instant,
}

type Stamp = [(SystemTime, u64); 2];

impl ReloadingCert {
    /// Read the files now (an error is a config error at start).
    pub(super) fn load(
        cert: &Path,
        key: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, String> {
        let stamp = stamp(cert, key);
        let current = Arc::new(read(cert, key, &provider)?);
        Ok(ReloadingCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            state: Mutex::new(State {
                current,
                stamp,
                checked: Instant::now(),
            }),
        })
    }

    /// The certificate to serve, read again first if the files changed
    /// (looked at once per [`CHECK_EVERY`] at most).
    pub(super) fn current(&self) -> Arc<CertifiedKey> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.checked.elapsed() >= CHECK_EVERY {
            s.checked = Instant::now();
            let now = stamp(&self.cert, &self.key);
            if now.is_some() && now != s.stamp {
                s.stamp = now;
                match read(&self.cert, &self.key, &self.provider) {
                    Ok(loaded) => {
                        s.current = Arc::new(loaded);
                        tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                    }
                    Err(e) => tracing::warn!(
                        error = e,
                        "TLS certificate files changed but do not load; the previous \
                         certificate is still served"
                    ),
                }
            }
        }
        s.current.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn stamp(cert: &Path, key: &Path) -> Option<Stamp> {
    let one = |p: &Path| {
        let m = std::fs::metadata(p).ok()?;
        Some((m.modified().ok()?, m.len()))
    };
    Some([one(cert)?, one(key)?])
}

/// The chain and key from PEM files, checked to belong together.
fn read(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert.display()));
    }
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    CertifiedKey::from_der(certs, private, provider)
        .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
        let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        (cert, key, ck.cert.der().to_vec())
    }

    /// A directory removed when the test ends.
    struct Dir(PathBuf);
    impl Dir {
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn served(r: &ReloadingCert) -> Vec<u8> {
        r.current().cert[0].as_ref().to_vec()
    }

    /// Let the next `current` look at the files (instead of sleeping).
    fn due(r: &ReloadingCert) {
        r.state.lock().unwrap().checked = Instant::now() - CHECK_EVERY;
    }

    #[test]
    fn a_renewed_certificate_is_served_and_a_bad_one_is_not() {
        let dir = std::env::temp_dir().join(format!("weir-certs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = Dir(dir);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (cert, key, first) = write_pair(dir.path(), "one.example");
        let r = ReloadingCert::load(&cert, &key, provider).unwrap();
        assert_eq!(served(&r), first);
        // renewed: served after the next check, not before
        let (_, _, second) = write_pair(dir.path(), "second.example");
        assert_eq!(served(&r), first, "not looked at within CHECK_EVERY");
        due(&r);
        assert_eq!(served(&r), second);
        // a half-written certificate: the previous one stays
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA").unwrap();
        due(&r);
        assert_eq!(served(&r), second);
        // a key that does not match the certificate: the previous one stays
        let other = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        let (_, _, third) = write_pair(dir.path(), "third.example");
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        due(&r);
        assert_eq!(served(&r), second);
        // fixed: served
        let (_, _, fourth) = write_pair(dir.path(), "fourth.example");
        assert_ne!(fourth, third);
        due(&r);
        assert_eq!(served(&r), fourth);
    }
}
