//! `faults`: the fault matrix ([`weir_load::faults`]), one run per fault,
//! its table printed; an error when a row lost or duplicated a record.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use weir_load::faults::{Fault, Options, S3, run_matrix};

use crate::args::{Args, hostile_plugin};

/// How long a run may take to have every record acknowledged.
const RUN_DEADLINE: Duration = Duration::from_secs(600);

/// Run the faults `--faults` names (every one by default).
pub(crate) async fn faults(args: &Args, weir: &Path, dir: &Path) -> anyhow::Result<()> {
    let mut faults = Vec::new();
    for name in &args.faults {
        match Fault::from_name(name) {
            Some(f) => faults.push(f),
            None => bail!("unknown fault {name:?}"),
        }
    }
    if faults.is_empty() {
        faults = Fault::ALL.to_vec();
    }
    let opensearch = args.opensearch.clone().unwrap_or_else(|| {
        std::env::var("OPENSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9200".to_string())
    });
    let options = Options {
        weir: weir.to_path_buf(),
        opensearch,
        records: args.fault_records,
        per_request: args.records,
        connections: args.connections,
        dir: dir.to_path_buf(),
        deadline: RUN_DEADLINE,
        keep: args.keep,
        s3: s3_from_env(),
        hostile_plugin: Some(hostile_plugin()).filter(|p| p.is_file()),
    };
    let rows = run_matrix(&faults, &options).await?;
    let bad: Vec<&str> = rows
        .iter()
        .filter(|r| !r.clean())
        .map(|r| r.fault.as_str())
        .collect();
    if !bad.is_empty() {
        bail!(
            "records lost, duplicated or never acknowledged in: {}",
            bad.join(", ")
        );
    }
    Ok(())
}

/// The S3 server of `$S3_ENDPOINT`, `$S3_BUCKET` and `$S3_REGION` (as
/// `tests/services up` prints them), if they are set.
fn s3_from_env() -> Option<S3> {
    let var = |k: &str| std::env::var(k).ok();
    Some(S3 {
        endpoint: var("S3_ENDPOINT")?,
        bucket: var("S3_BUCKET")?,
        region: var("S3_REGION").unwrap_or_else(|| "us-east-1".to_string()),
    })
}
