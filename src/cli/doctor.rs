//! `yuxuan doctor`: what this installation has, truthfully. Non-zero exit when something
//! required is missing, with the fix in the message.

use std::process::ExitCode;

use yuxuan::assets;
use yuxuan::ml::device::torch_info;
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

struct Check {
    what: &'static str,
    ok: bool,
    required: bool,
    detail: String,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let info = torch_info();
    let mut checks = vec![
        Check {
            what: "libtorch",
            ok: info.version.is_some(),
            required: true,
            detail: format!(
                "{} at {}",
                info.version
                    .clone()
                    .unwrap_or_else(|| "version unknown".into()),
                info.lib_dir
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "?".into())
            ),
        },
        Check {
            what: "cuda",
            ok: true,
            required: false,
            detail: if info.cuda_available {
                format!(
                    "available: {} device(s): {}",
                    info.cuda_device_count,
                    info.cuda_device_names.join(", ")
                )
            } else {
                format!(
                    "not available (CPU will be used): {}",
                    info.cuda_unavailable_because.as_deref().unwrap_or("?")
                )
            },
        },
        Check {
            what: "cudnn",
            ok: true,
            required: false,
            detail: if info.cudnn_available {
                "available".into()
            } else {
                "not available".into()
            },
        },
        Check {
            what: "cpu threads",
            ok: true,
            required: false,
            detail: info.threads.to_string(),
        },
        Check {
            what: "cache dir",
            ok: assets::cache_dir().is_dir(),
            required: true,
            detail: assets::cache_dir().display().to_string(),
        },
    ];
    let weights = assets::mobilenet_weights();
    checks.push(asset_check("MobileNetV2 weights", &weights, true));
    checks.push(asset_check(
        "YOLO11n detector (AGPL-3.0 weights; object projects)",
        &yuxuan::ml::objects::default_detector_path(),
        false,
    ));
    checks.push(asset_check(
        "Formasaurus corpus",
        &assets::formasaurus_dir().join("index.json"),
        false,
    ));
    checks.push(asset_check(
        "Noto emoji images",
        &assets::emoji_dir().join("emoji.json"),
        false,
    ));
    checks.push(asset_check(
        "sample photos",
        &assets::photos_dir().join("chelsea.png"),
        false,
    ));
    checks.push(Check {
        what: "sqlite",
        ok: true,
        required: true,
        detail: Store::sqlite_version().to_string(),
    });
    // Team projects need only a reachable server; the tests start throwaway ones from these.
    let pg = yuxuan::pgserver::find_bindir();
    checks.push(Check {
        what: "postgresql (tests)",
        ok: pg.is_ok(),
        required: false,
        detail: match pg {
            Ok(d) => format!(
                "{} (team projects connect to any PostgreSQL server by URL)",
                d.display()
            ),
            Err(e) => format!("{e} (needed by `make test`, not by team projects)"),
        },
    });
    let font = assets::find_cjk_font();
    checks.push(Check {
        what: "CJK font",
        ok: font.is_some(),
        required: false,
        detail: match font {
            Some(p) => p.display().to_string(),
            None => {
                "not found: Chinese text will show as boxes (apt-get install fonts-noto-cjk)".into()
            }
        },
    });

    let failed = checks.iter().any(|c| c.required && !c.ok);
    if a.json {
        let v: serde_json::Value = checks
            .iter()
            .map(|c| {
                (
                    c.what.to_string(),
                    serde_json::json!({"ok": c.ok, "required": c.required, "detail": c.detail}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"checks": v, "torch": info}))?
        );
    } else {
        for c in &checks {
            let mark = if c.ok {
                "ok  "
            } else if c.required {
                "FAIL"
            } else {
                "warn"
            };
            println!("[{mark}] {:<20} {}", c.what, c.detail);
        }
    }
    if failed {
        eprintln!(
            "error: something required is missing; {}",
            assets::SETUP_HINT
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn asset_check(what: &'static str, path: &std::path::Path, required: bool) -> Check {
    match assets::file_checksum(path) {
        Ok(sum) => Check {
            what,
            ok: true,
            required,
            detail: format!("{} (blake3 {})", path.display(), &sum[..16]),
        },
        Err(e) => Check {
            what,
            ok: false,
            required,
            detail: format!("{} missing ({e}); {}", path.display(), assets::SETUP_HINT),
        },
    }
}
