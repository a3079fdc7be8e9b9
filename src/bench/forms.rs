//! Row `field-types`: the out-of-the-box field typing. The base model (the cached one of this
//! recipe, else built from the installed Formasaurus corpus (its held-out pages never seen in training, its untyped rule
//! calibrated on validation pages of the training side)) and measured with the metric:
//! per page, the multiset of predicted types against the true ones (`other` not counted),
//! micro-averaged precision/recall/F1; next to the plain argmax of the same model. Then the
//! same on the hand-checked fields of real Chinese H5 demo pages (npm weui, jquery-weui,
//! layui-src; `tests/fixtures/cn_h5_truth.tsv`). Per-type precision/recall go into the notes.

use super::{BenchConfig, Measured, Metric, RowOutcome, Target};
use crate::jobs::JobCtx;
use crate::ml::field_eval::TypePr;
use crate::ml::field_model;

/// The row.
pub fn run_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let data = crate::assets::formasaurus_dir();
    if !data.join("index.json").is_file() {
        return Ok(RowOutcome::NotAvailable(format!(
            "no Formasaurus corpus at {}; {}",
            data.display(),
            crate::assets::SETUP_HINT
        )));
    }
    // The base model as the product uses it: cached per recipe, built on first use.
    let _ = cfg;
    let base = field_model::BaseModel::get_or_build(&JobCtx::new("base"))?;
    let r = &base.report;
    let mut m = Measured::default();
    m.metrics.push(
        Metric::new(
            format!(
                "Formasaurus held-out page F1 ({} pages, {} fields), untyped rule",
                r.n_holdout_pages, r.holdout.n
            ),
            r.page.f1,
            "",
        )
        .target(Target::at_least(0.90))
        .reference("same model, plain argmax", r.page_argmax.f1, ""),
    );
    m.metrics.push(Metric::new(
        "  precision / recall",
        r.page.precision,
        format!("/ {:.3}", r.page.recall),
    ));
    m.metrics.push(Metric::new(
        "  region group counted as its members",
        r.page_grouped.f1,
        "",
    ));
    m.metrics
        .push(Metric::new("  pages without CJK text", r.page_latin.f1, ""));
    m.notes.push(format!(
        "untyped rule: other weight {:.1}, threshold {:.2} (calibrated on {} validation pages, {} fields); argmax P/R {:.3}/{:.3}",
        r.untyped.other_weight,
        r.untyped.threshold,
        r.n_validation_pages,
        r.n_validation,
        r.page_argmax.precision,
        r.page_argmax.recall
    ));
    m.notes.push(format!(
        "Formasaurus held-out per type (P/R/n): {}",
        per_type_line(&r.per_type)
    ));
    match field_model::chinese_eval(&base) {
        Ok(Some(c)) => {
            m.metrics.push(
                Metric::new(
                    format!(
                        "Chinese H5 demo pages page F1 ({} pages, {} fields)",
                        c.pages, c.fields
                    ),
                    c.page.f1,
                    "",
                )
                .target(Target::at_least(0.90))
                .reference("plain argmax", c.page_argmax.f1, ""),
            );
            m.notes.push(format!(
                "Chinese pages P/R {:.3}/{:.3}; per type (P/R/n): {}",
                c.page.precision,
                c.page.recall,
                per_type_line(&c.per_type)
            ));
        }
        Ok(None) => m.notes.push(format!(
            "no Chinese H5 demo pages at {}; {}",
            field_model::cn_h5_dir().display(),
            crate::assets::SETUP_HINT
        )),
        Err(e) => m.notes.push(format!("Chinese pages: {e:#}")),
    }
    m.notes.push(format!(
        "trained on {} Formasaurus + {} synthetic fields, twice (calibration fold, final), {:.1} s",
        r.n_train, r.n_synthetic, r.train_seconds
    ));
    Ok(m.into())
}

fn per_type_line(v: &[TypePr]) -> String {
    v.iter()
        .map(|t| {
            format!(
                "{} {:.2}/{:.2}/{}",
                t.label, t.precision, t.recall, t.support
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
