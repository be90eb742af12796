//! The report as text ([`Report::table`], `Display`) and as JSON ([`Report::to_json`]).
//!
//! Where a statistic is undefined (a cosine with a zero gradient, an order between errors
//! that are exactly zero, a summary over no case) the text shows `n/a` or `—` and says why,
//! and the JSON has `null` and a `…_note` string with the reason; a value that should be a
//! number but is not finite shows as "— (not finite)". So neither prints `NaN` or `inf`.

use std::fmt::{self, Write as _};

use crate::reference::Convergence;
use crate::report::{Bounded, CaseReport, Comparison, Report};

impl Report {
    /// The report as an aligned plain-text table, one block per case and a summary.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "vle-verify: {} — {} case(s) × {} steps, dt {}, beta {}, seed {}, tolerance {:e}",
            self.model,
            self.cases.len(),
            self.steps,
            self.dt,
            self.beta,
            self.seed,
            self.tolerance
        );
        for c in &self.cases {
            case_table(&mut s, self, c);
        }
        summary(&mut s, self);
        s
    }

    /// The report as JSON (hand-written). A number that is undefined or not finite is
    /// `null`; where it is undefined for a reason, a `…_note` key next to it gives it.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{");
        let cos_note = cosine_summary_note(self);
        let _ = write!(
            s,
            "\"model\":{},\"seed\":{},\"steps\":{},\"dt\":{},\"beta\":{},\"tolerance\":{},\
             \"continuous_tolerance\":{},\"min_cosine\":{},\"worst_relative_error\":{},\
             \"worst_continuous_error\":{},\"min_overall_cosine\":{},\"mean_overall_cosine\":{},\
             \"overall_cosine_note\":{},\
             \"ode_rtol\":{},\"reference_tolerance\":{},\"worst_reference_error\":{},\
             \"worst_reference_ratio\":{},\"worst_reference_estimate\":{},\
             \"zero_gradient_tensors\":[{}],\"skipped\":[{}],\"note\":{},\"cases\":[",
            json_str(self.model),
            self.seed,
            self.steps,
            json_num(self.dt),
            json_num(self.beta),
            json_num(self.tolerance),
            json_opt(self.continuous_tolerance),
            json_opt(self.min_cosine),
            if self.cases.is_empty() {
                "null".into()
            } else {
                json_num(self.worst_relative_error())
            },
            json_opt(self.worst_continuous_error()),
            json_num(self.min_cosine()),
            json_num(self.mean_cosine()),
            cos_note.as_deref().map_or("null".into(), json_str),
            json_opt(self.ode_rtol),
            json_opt(self.reference_tolerance),
            json_opt(self.worst_reference_error()),
            json_opt(self.worst_reference_ratio()),
            json_opt(self.worst_reference_estimate()),
            self.zero_gradient_tensors()
                .iter()
                .map(|n| json_str(n))
                .collect::<Vec<_>>()
                .join(","),
            self.skipped
                .iter()
                .map(|n| json_str(n))
                .collect::<Vec<_>>()
                .join(","),
            if self.cases.is_empty() {
                json_str("no case ran: the summaries are null")
            } else if self.gradient_is_zero() {
                json_str("the exact gradient is exactly zero everywhere: nothing was compared")
            } else {
                "null".into()
            },
        );
        for (i, c) in self.cases.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            case_json(&mut s, c);
        }
        s.push_str("]}");
        s
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table())
    }
}

fn case_table(s: &mut String, r: &Report, c: &CaseReport) {
    let cont = r.continuous_tolerance.is_some();
    let refc = r.reference_tolerance.is_some();
    let targets = c.targets.map_or("the caller's signal", |k| k.describe());
    let _ = write!(
        s,
        "case {} (seed {}; targets: {targets}): discrete loss {} (reference) {} (generated), \
         local-rule cosine {}",
        c.case,
        c.seed,
        num(c.reference_loss, 6),
        num(c.generated_loss, 6),
        cos_with_note(c.overall_cosine, c.overall_cosine_note)
    );
    if let Some((l, g)) = c.continuous_loss {
        let _ = write!(
            s,
            ", continuous loss {} (RK4 fine) {} (sweep)",
            num(l, 6),
            num(g, 6)
        );
        if let Some(h) = c.continuous_step {
            let _ = write!(s, " at step {h:.3e}");
        }
        if let Some(e) = c.continuous_estimate {
            let _ = write!(s, " (sweep error estimated {})", num(e, 1));
        }
    }
    s.push('\n');
    let mut header = vec![
        "tensor",
        "checked",
        "|reference|",
        "|generated|",
        "max rel err",
        "worst entry",
        "local cos",
    ];
    if cont {
        header.push("continuous rel err");
    }
    if refc {
        header.push("adjoint ref vs FD");
        header.push("estimated error");
    }
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    let mut cos_notes = Vec::new();
    for t in &c.tensors {
        let mut row = vec![
            t.name.to_string(),
            format!("{}/{}", t.checked, t.len),
            num(t.exact.reference_norm, 6),
            num(t.exact.generated_norm, 6),
            num(t.exact.max_rel_error, 2),
            format!("[{}]", t.exact.worst_entry),
            cos(t.local_cosine),
        ];
        if let (false, Some(note)) = (t.local_cosine.is_finite(), t.local_cosine_note) {
            cos_notes.push(format!("{}: {note}", t.name));
        }
        if cont {
            row.push(match &t.continuous {
                Some(k) => num(k.comparison.max_rel_error, 2),
                None => "—".into(),
            });
        }
        if refc {
            match &t.reference {
                Some(k) => {
                    row.push(num(k.comparison.max_rel_error, 2));
                    row.push(num(k.estimate, 1));
                }
                None => {
                    row.push("—".into());
                    row.push("—".into());
                }
            }
        }
        rows.push(row);
    }
    render_rows(s, &rows);
    if !cos_notes.is_empty() {
        let _ = writeln!(s, "  local cos n/a: {}", cos_notes.join("; "));
    }
    if let Some(o) = &c.ode {
        if let Some(l) = o.reference_loss {
            let _ = writeln!(s, "  continuous loss (Dopri5): {}", num(l, 12));
        }
        for (what, conv) in [
            ("Euler forward vs Dopri5 (output rates)", &o.forward),
            (
                "discrete gradient (Euler BPTT) vs adjoint reference",
                &o.discrete,
            ),
            (
                "continuous adjoint (RK4) vs adjoint reference",
                &o.continuous,
            ),
        ] {
            if let Some(conv) = conv {
                let (orders, notes) = orders_text(conv);
                let _ = write!(
                    s,
                    "  {what}: rel. errors {} at dt {}; orders {orders}",
                    join(&conv.errors, |v| num(v, 2)),
                    join(&conv.dts, |v| num(v, 3)),
                );
                if !notes.is_empty() {
                    let _ = write!(s, " (—: {})", notes.join("; "));
                }
                s.push('\n');
            }
        }
    }
}

fn summary(s: &mut String, r: &Report) {
    if r.cases.is_empty() {
        let _ = writeln!(s, "summary: no case ran");
        return;
    }
    let _ = write!(
        s,
        "summary: worst relative error {}",
        num(r.worst_relative_error(), 2)
    );
    if let Some((c, t)) = r.worst() {
        let _ = write!(s, " (case {}, {}[{}])", c.case, t.name, t.exact.worst_entry);
    }
    let _ = write!(s, ", tolerance {:e}", r.tolerance);
    if let (Some(e), Some(tol)) = (r.worst_continuous_error(), r.continuous_tolerance) {
        let _ = write!(
            s,
            "; continuous adjoint worst {}, tolerance {tol:e}",
            num(e, 2)
        );
    }
    if let (Some(e), Some(q), Some(est)) = (
        r.worst_reference_error(),
        r.worst_reference_ratio(),
        r.worst_reference_estimate(),
    ) {
        let _ = write!(
            s,
            "; adjoint reference vs FD worst {}, estimated error up to {}, at most {} of the \
             accepted error",
            num(e, 2),
            num(est, 1),
            num(q, 2)
        );
    }
    match (r.defined_cosines(), cosine_summary_note(r)) {
        (Some((min, mean, n)), note) => {
            let _ = write!(s, "; local-rule cosine min {min:.6} mean {mean:.6}");
            if let Some(note) = note {
                let _ = write!(s, " over {n} of {} cases ({note})", r.cases.len());
            }
        }
        (None, note) => {
            let _ = write!(
                s,
                "; local-rule cosine n/a ({})",
                note.unwrap_or_else(|| "no case".into())
            );
        }
    }
    s.push('\n');
    let zero = r.zero_gradient_tensors();
    if r.gradient_is_zero() {
        let _ = writeln!(
            s,
            "note: the exact gradient is exactly zero on every checked entry in every case: the \
             loss does not depend on the learnable parameters here, so nothing was compared"
        );
    } else if !zero.is_empty() {
        let _ = writeln!(
            s,
            "note: the exact gradient of {} is exactly zero in every case: its comparisons check \
             nothing",
            zero.join(", ")
        );
    }
    for k in &r.skipped {
        let _ = writeln!(s, "not run: {k}");
    }
}

/// Why some cases have no overall cosine (the distinct reasons), if any has none.
fn cosine_summary_note(r: &Report) -> Option<String> {
    if r.cases.is_empty() {
        return Some("no case ran".into());
    }
    let mut notes: Vec<String> = Vec::new();
    for c in r.cases.iter().filter(|c| !c.overall_cosine.is_finite()) {
        let n = format!(
            "case {}: {}",
            c.case,
            c.overall_cosine_note.unwrap_or("undefined")
        );
        notes.push(n);
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

fn case_json(s: &mut String, c: &CaseReport) {
    let _ = write!(
        s,
        "{{\"case\":{},\"seed\":{},\"targets\":{},\"reference_loss\":{},\"generated_loss\":{},\
         \"overall_cosine\":{},\"overall_cosine_note\":{},\"continuous_step\":{},\
         \"continuous_estimate\":{},\"continuous_loss\":",
        c.case,
        c.seed,
        c.targets.map_or("null".into(), |k| json_str(k.describe())),
        json_num(c.reference_loss),
        json_num(c.generated_loss),
        json_num(c.overall_cosine),
        note_json(c.overall_cosine, c.overall_cosine_note),
        json_opt(c.continuous_step),
        json_opt(c.continuous_estimate),
    );
    match c.continuous_loss {
        Some((r, g)) => {
            let _ = write!(
                s,
                "{{\"reference\":{},\"generated\":{}}}",
                json_num(r),
                json_num(g)
            );
        }
        None => s.push_str("null"),
    }
    s.push_str(",\"ode\":");
    match &c.ode {
        Some(o) => {
            let _ = write!(
                s,
                "{{\"reference_loss\":{},\"checkpoints\":{},\"refinement\":{},\
                 \"forward\":{},\"discrete\":{},\"continuous\":{}}}",
                json_opt(o.reference_loss),
                o.checkpoints,
                o.refinement,
                json_conv(o.forward.as_ref()),
                json_conv(o.discrete.as_ref()),
                json_conv(o.continuous.as_ref()),
            );
        }
        None => s.push_str("null"),
    }
    s.push_str(",\"tensors\":[");
    for (j, t) in c.tensors.iter().enumerate() {
        if j > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"name\":{},\"len\":{},\"checked\":{},\"exact\":{},\"local_cosine\":{},\
             \"local_cosine_note\":{},\"continuous\":{},\"reference\":{}}}",
            json_str(t.name),
            t.len,
            t.checked,
            json_cmp(&t.exact),
            json_num(t.local_cosine),
            note_json(t.local_cosine, t.local_cosine_note),
            t.continuous.as_ref().map_or("null".into(), json_bounded),
            t.reference.as_ref().map_or("null".into(), json_bounded),
        );
    }
    s.push_str("]}");
}

/// A number that should be finite: `{v:.prec$e}`, or "— (not finite)" (also for the
/// failure messages, so that they never print `NaN` or `inf` either).
pub(crate) fn num(v: f64, prec: usize) -> String {
    if v.is_finite() {
        format!("{v:.prec$e}")
    } else {
        "— (not finite)".into()
    }
}

fn cos(c: f64) -> String {
    if c.is_finite() {
        format!("{c:.6}")
    } else {
        "n/a".into()
    }
}

fn cos_with_note(c: f64, note: Option<&'static str>) -> String {
    if c.is_finite() {
        format!("{c:.6}")
    } else {
        format!("n/a ({})", note.unwrap_or("undefined"))
    }
}

fn note_json(v: f64, note: Option<&'static str>) -> String {
    if v.is_finite() {
        "null".into()
    } else {
        json_str(note.unwrap_or("not finite"))
    }
}

/// Why the observed order between errors `e0` (coarser) and `e1` is undefined, if it is.
pub(crate) fn order_note(e0: f64, e1: f64) -> Option<&'static str> {
    if !(e0.is_finite() && e1.is_finite()) {
        Some("an error is not finite")
    } else if e0 == 0.0 && e1 == 0.0 {
        Some("both errors are exactly zero (nothing to converge)")
    } else if e1 == 0.0 {
        Some("the finer error is exactly zero")
    } else if e0 == 0.0 {
        Some("the coarser error is exactly zero")
    } else {
        None
    }
}

/// The observed orders ("—" where undefined) and the distinct reasons.
fn orders_text(conv: &Convergence) -> (String, Vec<&'static str>) {
    let mut notes = Vec::new();
    let orders: Vec<String> = conv
        .errors
        .windows(2)
        .zip(conv.orders())
        .map(|(e, q)| match order_note(e[0], e[1]) {
            Some(n) => {
                if !notes.contains(&n) {
                    notes.push(n);
                }
                "—".to_string()
            }
            None if q.is_finite() => format!("{q:.2}"),
            None => "—".to_string(),
        })
        .collect();
    (orders.join(" "), notes)
}

fn render_rows(s: &mut String, rows: &[Vec<String>]) {
    let ncol = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..ncol)
        .map(|j| {
            rows.iter()
                .map(|r| r.get(j).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        s.push_str("  ");
        for (j, cell) in r.iter().enumerate() {
            let pad = widths[j] - cell.chars().count();
            if j == 0 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        s.push('\n');
    }
}

/// A JSON number; non-finite values become `null`.
pub fn json_num(v: f64) -> String {
    if v.is_finite() {
        // `{:?}` prints the shortest representation that reads back exactly, in a form
        // JSON accepts (`1.0`, `0.001`, `1e-10`, `-2.5e20`).
        format!("{v:?}")
    } else {
        "null".into()
    }
}

fn join(v: &[f64], f: impl Fn(f64) -> String) -> String {
    v.iter().map(|&x| f(x)).collect::<Vec<_>>().join(" ")
}

fn json_list(v: &[f64]) -> String {
    format!(
        "[{}]",
        v.iter().map(|&x| json_num(x)).collect::<Vec<_>>().join(",")
    )
}

fn json_conv(c: Option<&Convergence>) -> String {
    match c {
        Some(c) => {
            let notes: Vec<String> = c
                .errors
                .windows(2)
                .map(|e| order_note(e[0], e[1]).map_or("null".into(), json_str))
                .collect();
            format!(
                "{{\"dts\":{},\"errors\":{},\"orders\":{},\"order_notes\":[{}]}}",
                json_list(&c.dts),
                json_list(&c.errors),
                json_list(&c.orders()),
                notes.join(",")
            )
        }
        None => "null".into(),
    }
}

fn json_opt(v: Option<f64>) -> String {
    v.map_or("null".into(), json_num)
}

/// A JSON string literal.
pub fn json_str(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for ch in v.chars() {
        match ch {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn json_cmp(c: &Comparison) -> String {
    format!(
        "{{\"reference_norm\":{},\"generated_norm\":{},\"max_rel_error\":{},\"scale\":{},\
         \"worst_entry\":{},\"worst_reference\":{},\"worst_generated\":{}}}",
        json_num(c.reference_norm),
        json_num(c.generated_norm),
        json_num(c.max_rel_error),
        json_num(c.scale),
        c.worst_entry,
        json_num(c.worst_reference),
        json_num(c.worst_generated),
    )
}

fn json_bounded(b: &Bounded) -> String {
    let c = json_cmp(&b.comparison);
    format!(
        "{},\"estimate\":{},\"ratio\":{},\"ratio_entry\":{},\"accepted\":{}}}",
        &c[..c.len() - 1],
        json_num(b.estimate),
        json_num(b.ratio),
        b.ratio_entry,
        json_num(b.accepted),
    )
}
