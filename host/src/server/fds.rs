//! The process's open-file limit (`RLIMIT_NOFILE`): raised at start from
//! its soft value (often 1,024) to the hard one, and the connection cap
//! kept within it so that connections can never take the descriptors the
//! sinks, plugins and outgoing connections need.

/// Of the open-file limit, connections may take at most this many parts
/// in four; the rest is left for sink files, outgoing connections,
/// plugins and the runtime.
const CONNECTION_SHARE_QUARTERS: u64 = 3;

/// The soft limit set when the hard limit is unlimited (Linux refuses a
/// soft limit above `fs.nr_open`, whose default is this).
const UNLIMITED_TARGET: u64 = 1 << 20;

/// The open-file limit before and after [`raise_open_files_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// Soft limit found at start (`None`: unlimited).
    pub before: Option<u64>,
    /// Soft limit now (`None`: unlimited).
    pub now: Option<u64>,
    /// Hard limit (`None`: unlimited).
    pub hard: Option<u64>,
}

/// Raise the soft open-file limit to the hard limit (what `ulimit -n`
/// allows without privileges). On failure the limit stays as it was and
/// the error is returned with what was read.
#[cfg(unix)]
pub fn raise_open_files_limit() -> Result<OpenFiles, (OpenFiles, std::io::Error)> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let found = OpenFiles {
        before: limit.current,
        now: limit.current,
        hard: limit.maximum,
    };
    let target = limit.maximum.unwrap_or(UNLIMITED_TARGET);
    if limit.current.is_none_or(|soft| soft >= target) {
        return Ok(found);
    }
    let raised = rustix::process::Rlimit {
        current: Some(target),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Ok(OpenFiles {
            now: getrlimit(Resource::Nofile).current,
            ..found
        }),
        Err(e) => Err((found, e.into())),
    }
}

/// Not Unix: nothing to raise.
#[cfg(not(unix))]
pub fn raise_open_files_limit() -> Result<OpenFiles, (OpenFiles, std::io::Error)> {
    Ok(OpenFiles {
        before: None,
        now: None,
        hard: None,
    })
}

/// The connection cap to use: `configured`, lowered to three quarters of
/// the soft open-file limit `soft` (`None`: unlimited) when that is less,
/// and never below 1.
pub fn connections_within(configured: usize, soft: Option<u64>) -> usize {
    let Some(soft) = soft else {
        return configured;
    };
    let share = soft.saturating_mul(CONNECTION_SHARE_QUARTERS) / 4;
    let share = usize::try_from(share).unwrap_or(usize::MAX);
    configured.min(share).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_a_quarter_of_the_descriptors() {
        assert_eq!(connections_within(4096, Some(1024)), 768);
        assert_eq!(connections_within(4096, Some(1 << 20)), 4096);
        assert_eq!(connections_within(4096, None), 4096);
        assert_eq!(connections_within(4096, Some(0)), 1);
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_limit() {
        let limits = raise_open_files_limit().map_err(|(_, e)| e).unwrap();
        let target = limits.hard.unwrap_or(UNLIMITED_TARGET);
        assert!(limits.now.is_none_or(|soft| soft >= target), "{limits:?}");
        let again = raise_open_files_limit().map_err(|(_, e)| e).unwrap();
        assert_eq!(again.before, limits.now, "a second call changes nothing");
    }
}
