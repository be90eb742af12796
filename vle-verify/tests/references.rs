//! The references and the check builder on a hand-written network (tests/common).

mod common;

use common::{Buggy, Small, Wide};
use vle_runtime::exact::{discrete_loss, exact_gradient, Tape, Window};
use vle_runtime::{continuous_adjoint, Network};
use vle_verify::check::{case_params, case_signal};
use vle_verify::dual::{dual_gradient, entries_to_check, window_loss};
use vle_verify::fd::{continuous_loss, fd_continuous, fd_discrete, fd_step};
use vle_verify::FailureKind;

fn case<N: Network>(seed: u64, dt: f64, steps: usize) -> (Vec<f64>, Window) {
    let p = case_params::<N>(seed, dt);
    let w = Window::sample(&case_signal::<N>(seed), 0.0, dt, steps);
    (p, w)
}

#[test]
fn window_loss_is_the_runtime_discrete_loss() {
    type N = common::Bank<3, false>;
    let (p, w) = case::<N>(5, 0.01, 150);
    let mut state = vec![0.0; N::STATE];
    let runtime = discrete_loss::<N, f64>(&p, &mut state, &w.xs, &w.ys, 0.01, 0.7).unwrap();
    let ours = window_loss::<N, f64>(&p, &w.xs, &w.ys, 0.01, 0.7);
    assert_eq!(runtime, ours);
}

#[test]
fn dual_reference_agrees_with_finite_differences_and_the_hand_adjoint() {
    type N = common::Bank<3, false>;
    let (dt, beta) = (0.01, 1.3);
    let (p, w) = case::<N>(9, dt, 200);
    let idx: Vec<usize> = (0..N::PARAMS).collect();
    let (loss, dual) = dual_gradient::<N>(&p, &w.xs, &w.ys, dt, beta, &idx);
    let fd = fd_discrete::<N>(&p, &w.xs, &w.ys, dt, beta, &idx);
    let (l2, hand) = exact_gradient::<N, f64>(&p, &w.xs, &w.ys, dt, beta, Tape::Full).unwrap();
    assert!((loss - l2).abs() <= 1e-14 * loss.abs());
    let scale = dual.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for i in 0..N::PARAMS {
        // Finite differences: rounding ε/h ≈ 1e-16·|L|/1e-6 dominates (see fd.rs).
        assert!(
            (dual[i] - fd[i]).abs() <= 1e-6 * scale,
            "{i}: {} {}",
            dual[i],
            fd[i]
        );
        assert!(
            (dual[i] - hand[i]).abs() <= 1e-12 * scale,
            "{i}: {} {}",
            dual[i],
            hand[i]
        );
    }
    assert_eq!(fd_step(0.5), 1e-6);
    assert_eq!(fd_step(-3.0), 3e-6);
}

#[test]
fn correct_network_passes_with_continuous_check() {
    let report = vle_verify::check::<Small>()
        .seed(3)
        .cases(4)
        .continuous(true)
        .run();
    assert_eq!(report.cases.len(), 4);
    assert!(report.worst_relative_error() <= 1e-12, "{report}");
    assert!(report.worst_continuous_error().unwrap() <= 1e-6, "{report}");
    // The instantaneous local rule of the test network points roughly along the gradient.
    assert!(report.cases.iter().all(|c| c.overall_cosine.is_finite()));
    let table = report.table();
    for name in ["n.W<-x", "n.b", "n.tau_m", "n.tau_r", "summary"] {
        assert!(table.contains(name), "{table}");
    }
}

#[test]
fn a_one_in_a_million_adjoint_error_is_caught_and_named() {
    let f = vle_verify::check::<Buggy>()
        .seed(42)
        .cases(2)
        .try_run()
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::Mismatch);
    assert_eq!(f.messages.len(), 2, "{f}");
    let m = &f.messages[0];
    for part in [
        "BuggyBank",
        "n.tau_r[0]",
        "generated",
        "reference",
        "relative error",
        "tolerance 1e-9",
        "seed 42",
    ] {
        assert!(m.contains(part), "missing {part:?} in {m}");
    }
    let r = f.report.unwrap();
    let t = r.cases[0]
        .tensors
        .iter()
        .find(|t| t.name == "n.tau_r")
        .unwrap();
    // The bug scales the gradient by 1 + 1e-6: the relative error is 1e-6 exactly (to rounding).
    assert!(
        (t.exact.max_rel_error - 1e-6).abs() < 1e-9,
        "{}",
        t.exact.max_rel_error
    );
    // Other tensors are fine.
    assert!(r.cases[0]
        .tensors
        .iter()
        .filter(|t| t.name != "n.tau_r")
        .all(|t| t.exact.max_rel_error < 1e-12));
}

#[test]
#[should_panic(expected = "n.tau_r[0]")]
fn run_panics_with_the_diagnostics() {
    vle_verify::check::<Buggy>().cases(1).run();
}

#[test]
fn min_cosine_is_asserted_only_when_asked() {
    let ok = vle_verify::check::<Small>().cases(1).try_run();
    assert!(ok.is_ok());
    let f = vle_verify::check::<Small>()
        .cases(1)
        .min_cosine(1.5)
        .try_run()
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::LowCosine);
    assert!(
        f.messages[0].contains("min_cosine 1.5"),
        "{}",
        f.messages[0]
    );
}

#[test]
fn large_tensors_are_sampled_reproducibly() {
    let a = entries_to_check::<Wide>(8, 1);
    let b = entries_to_check::<Wide>(8, 1);
    let c = entries_to_check::<Wide>(8, 2);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.len(), 4 * 8);
    for info in Wide::param_info() {
        let n = a.iter().filter(|i| info.range().contains(i)).count();
        assert_eq!(n, 8);
        assert!(a.contains(&info.offset) && a.contains(&(info.offset + 39)));
    }
    let report = vle_verify::check::<Wide>().cases(1).max_entries(8).run();
    assert!(report.cases[0]
        .tensors
        .iter()
        .all(|t| t.checked == 8 && t.len == 40));
    assert!(report.table().contains("8/40"));
}

#[test]
fn continuous_reference_converges_at_fourth_order() {
    let (dt, steps, beta) = (0.05, 40, 1.0);
    let p = case_params::<Small>(4, dt);
    let s = case_signal::<Small>(4);
    let l: Vec<f64> = [1, 2, 4, 8, 16]
        .iter()
        .map(|&k| continuous_loss::<Small, _>(&p, &s, 0.0, dt, steps, k, beta))
        .collect();
    let r: Vec<f64> = (0..3)
        .map(|i| (l[i + 1] - l[i]) / (l[i + 2] - l[i + 1]))
        .collect();
    // Successive differences shrink by 2⁴ = 16 once h·ω ≪ 1 (measured: 4.4, 9.9, 13.5 for
    // h = dt/1..dt/16 with frequencies up to 2 cycles per unit time); second or third order
    // would give 4 or 8.
    assert!(
        r[1] < r[2] && (12.0..20.0).contains(&r[2]),
        "{l:?} ratios {r:?}"
    );
    // The generated-by-hand continuous adjoint agrees with finite differences of it.
    let sweep = continuous_adjoint::<Small, f64, _>(&p, &s, None, 0.0, dt, steps, beta).unwrap();
    let idx: Vec<usize> = (0..Small::PARAMS).collect();
    let fd = fd_continuous::<Small, _>(&p, &s, 0.0, dt, steps, 8, beta, &idx);
    let scale = fd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for i in idx {
        assert!((fd[i] - sweep.grad[i]).abs() < 1e-5 * scale, "{i}");
    }
}

#[test]
fn json_is_well_formed() {
    let r = vle_verify::check::<Small>().cases(2).continuous(true).run();
    let j = r.to_json();
    assert!(j.starts_with("{\"model\":\"Bank\"") && j.ends_with("]}"));
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    for ch in j.chars() {
        match (in_str, esc, ch) {
            (true, true, _) => esc = false,
            (true, false, '\\') => esc = true,
            (true, false, '"') => in_str = false,
            (false, _, '"') => in_str = true,
            (false, _, '{' | '[') => depth += 1,
            (false, _, '}' | ']') => {
                depth -= 1;
                assert!(depth >= 0);
            }
            _ => {}
        }
    }
    assert_eq!(depth, 0);
    assert!(!in_str);
    for key in [
        "\"worst_relative_error\":",
        "\"local_cosine\":",
        "\"n.tau_r\"",
    ] {
        assert!(j.contains(key), "{key}");
    }
    assert!(!j.contains("NaN") && !j.contains("inf"));
}

/// A hand-written network names no loss in its derivation: its targets are the first family
/// under which the loss is finite (sums of sines for this squared error).
#[test]
fn an_unknown_loss_gets_the_first_target_family_with_a_finite_loss() {
    use vle_verify::targets::{choose_targets, loss_kind, target_kinds, LossKind, TargetKind};
    assert_eq!(loss_kind::<Small>(), LossKind::Unknown);
    assert_eq!(target_kinds::<Small>()[0], TargetKind::Signed);
    let p = case_params::<Small>(1, 0.01);
    let s = choose_targets::<Small>(1, (0.1, 2.0), &p, 0.01, 50).unwrap();
    assert_eq!(s.kind, TargetKind::Signed);
    let r = vle_verify::check::<Small>().cases(1).run();
    assert_eq!(r.cases[0].targets, Some(TargetKind::Signed));
}
