//! Checks every model of the test zoos (`tests/zoo`, `tests/models`) with `vle::verify`:
//! generated exact discrete gradients against dual numbers, the Dopri5 references of the
//! continuous problem (forward solution, numerical continuous adjoint, finite differences),
//! the convergence orders of the generated Euler and RK4 schemes, and the local rule's cosine
//! with the exact gradient. Prints each model's table and ends with one JSON line that
//! summarises, per model, the worst relative errors, the observed orders and the cosines.
//!
//! ```sh
//! cargo run --release --example verify_gradients            # the full run (≈ 10 s in release)
//! cargo run --example verify_gradients -- --quick            # CI smoke: 1 case, no Dopri5 references
//! ```
//!
//! Exit status 1 when any check failed (the diagnostics are printed above the JSON line).

#[path = "../tests/models/mod.rs"]
mod models;
#[path = "../tests/zoo/mod.rs"]
mod zoo;

use std::time::Instant;

use clap::Parser;

use vle::verify::report::{json_num, json_str};
use vle::verify::{check, Report};
use vle::Network;

/// Checks the generated gradients of every model of the test zoos and summarises them.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Smoke mode: one case per model, short windows, no Dopri5 references.
    #[arg(long)]
    quick: bool,
}

/// One model's summary, already as a JSON object.
struct Summary {
    json: String,
    failed: bool,
}

fn opt(v: Option<f64>) -> String {
    v.map_or("null".into(), json_num)
}

fn pair(v: Option<(f64, f64)>) -> String {
    v.map_or("null".into(), |(a, b)| {
        format!("[{},{}]", json_num(a), json_num(b))
    })
}

/// The lowest per-tensor local-rule cosine of a report: (tensor, cosine).
fn lowest_tensor_cosine(r: &Report) -> Option<(&'static str, f64)> {
    r.cases
        .iter()
        .flat_map(|c| c.tensors.iter())
        .filter(|t| t.local_cosine.is_finite())
        .map(|t| (t.name, t.local_cosine))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// (min, mean) of the finite overall local-rule cosines of a report (NaN when none is).
fn finite_cosines(r: &Report) -> (f64, f64) {
    let v: Vec<f64> = r
        .cases
        .iter()
        .map(|c| c.overall_cosine)
        .filter(|c| c.is_finite())
        .collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    (min, v.iter().sum::<f64>() / v.len() as f64)
}

fn verify<N: Network>(seed: u64, quick: bool) -> Summary {
    let started = Instant::now();
    // The full check in the default band (0.1–2 cycles per unit time): gradients and
    // references. Two random cases of 200 steps of dt = 0.01 (quick: one, no references).
    let full = if quick {
        check::<N>()
            .seed(seed)
            .cases(1)
            .max_entries(4)
            .ode_forward(false)
            .ode_adjoint(false)
            .try_run()
    } else {
        check::<N>().seed(seed).cases(2).max_entries(16).try_run()
    };
    // The local rule in the slow regime ω·τ ≪ 1 of docs/theory.md §5, where it should approach the
    // exact gradient: a long window, low frequencies, gradients only.
    let slow = check::<N>()
        .seed(seed)
        .cases(if quick { 1 } else { 2 })
        .dt(0.05)
        .steps(if quick { 400 } else { 2000 })
        .frequencies(0.01, 0.05)
        .max_entries(4)
        .ode_forward(false)
        .ode_adjoint(false)
        .try_run();
    let mut failed = false;
    let mut take = |r: Result<Report, vle::verify::Failure>| match r {
        Ok(r) => Some(r),
        Err(f) => {
            failed = true;
            println!("FAILED: {f}");
            f.report.map(|b| *b)
        }
    };
    let (full, slow) = (take(full), take(slow));
    if let Some(r) = &full {
        println!("{r}");
    }
    let floor = vle::verify::check::CONVERGENCE_FLOOR * vle::verify::Tolerance::TIGHT.rtol;
    let json = match (&full, &slow) {
        (Some(r), Some(s)) => {
            let low = lowest_tensor_cosine(r);
            let low_slow = lowest_tensor_cosine(s);
            format!(
                "{{\"model\":{},\"continuous\":{},\"failed\":{failed},\"seconds\":{},\
                 \"worst_rel_error_discrete_vs_dual\":{},\
                 \"worst_rel_error_adjoint_reference_vs_fd\":{},\
                 \"finest_rel_error_discrete_vs_adjoint_reference\":{},\
                 \"finest_rel_error_rk4_adjoint_vs_adjoint_reference\":{},\
                 \"forward_euler_orders\":{},\"discrete_gradient_orders\":{},\
                 \"rk4_adjoint_orders\":{},\
                 \"min_cosine\":{},\"mean_cosine\":{},\"lowest_tensor_cosine\":{},\
                 \"slow_band_min_cosine\":{},\"slow_band_mean_cosine\":{},\
                 \"slow_band_lowest_tensor_cosine\":{},\
                 \"cases_without_cosine\":{}}}",
                json_str(N::NAME),
                N::CONTINUOUS,
                json_num(started.elapsed().as_secs_f64()),
                json_num(r.worst_relative_error().max(s.worst_relative_error())),
                opt(r.worst_reference_error()),
                opt(r.finest_error(|o| o.discrete.as_ref())),
                opt(r.finest_error(|o| o.continuous.as_ref())),
                pair(r.order_range(|o| o.forward.as_ref(), floor)),
                pair(r.order_range(|o| o.discrete.as_ref(), floor)),
                pair(r.order_range(|o| o.continuous.as_ref(), floor)),
                json_num(finite_cosines(r).0),
                json_num(finite_cosines(r).1),
                low.map_or("null".into(), |(n, c)| format!(
                    "{{\"tensor\":{},\"cosine\":{}}}",
                    json_str(n),
                    json_num(c)
                )),
                json_num(finite_cosines(s).0),
                json_num(finite_cosines(s).1),
                low_slow.map_or("null".into(), |(n, c)| format!(
                    "{{\"tensor\":{},\"cosine\":{}}}",
                    json_str(n),
                    json_num(c)
                )),
                // A NaN overall cosine: the local rule's gradient overflowed (diverged) or
                // one of the gradients is zero.
                r.cases
                    .iter()
                    .chain(&s.cases)
                    .filter(|c| c.overall_cosine.is_nan())
                    .count(),
            )
        }
        _ => format!("{{\"model\":{},\"failed\":true}}", json_str(N::NAME)),
    };
    Summary { json, failed }
}

fn main() {
    let quick = Args::parse().quick;
    let started = Instant::now();
    let summaries = [
        verify::<zoo::ZooSingle>(1, quick),
        verify::<zoo::ZooLagLine>(2, quick),
        verify::<zoo::ZooPower>(3, quick),
        verify::<zoo::ZooTrig>(4, quick),
        verify::<zoo::ZooAdaptive>(5, quick),
        verify::<zoo::ZooDeep>(6, quick),
        verify::<zoo::ZooRecurrent>(7, quick),
        verify::<zoo::ZooRecAdaptive>(8, quick),
        verify::<models::LagNet>(9, quick),
        verify::<models::AdaptNet>(10, quick),
        verify::<models::MixedNet>(11, quick),
        verify::<models::LeNet>(12, quick),
        verify::<models::Linear>(13, quick),
        verify::<models::Chain>(14, quick),
    ];
    let failed = summaries.iter().any(|s| s.failed);
    let models: Vec<&str> = summaries.iter().map(|s| s.json.as_str()).collect();
    println!(
        "{{\"vle_verify_summary\":{{\"failed\":{failed},\"seconds\":{},\"models\":[{}]}}}}",
        json_num(started.elapsed().as_secs_f64()),
        models.join(",")
    );
    if failed {
        std::process::exit(1);
    }
}
