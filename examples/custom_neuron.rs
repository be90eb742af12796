//! A neuron GLE does not have, trained with its derived local rule.
//!
//! The `Adaptive` neuron adds an adaptation current `a` with its own time constant τa to the
//! leaky membrane:
//!
//! ```text
//!   τm u̇ = −u − k a + W r_pre + b,    τa ȧ = −a + u,    ŭ = u + τr u̇,    r = tanh(ŭ)
//! ```
//!
//! Its input → rate filter is band-pass: a step in the input produces a transient that decays
//! (by the factor 1/(1 + k)) as the adaptation current builds up over τa, a response no
//! stateless or single-time-constant low-pass unit has. `vle_model!` derives its exact adjoint
//! and its local rule: the error neuron is the (phase-matched, causal) inverse of that
//! second-order filter, and the adaptation strength `k` gets the local update ε·a.
//!
//! The task: teacher–student 1 → 4 → 1 on a train of smoothed steps; the teacher's hidden
//! neurons adapt (k = 0.5, 1, 2, 3; τa = 4); the student starts with weak adaptation
//! (k = 0.2) and other weights, and learns W, b and k. Three learners, same stream:
//! the local rule (`OnlineTrainer`), exact gradients (`ExactTrainer`, BPTT over windows with
//! the state carried), and the local rule with adaptation switched off (k = 0, frozen): the
//! ablation shows how much of the task needs the adaptation.
//!
//! Before training the local rule's update is compared with the exact gradient on the task,
//! per parameter tensor (cosine), at the start and at the end of training.
//!
//! `cargo run --release --example custom_neuron -- --help`

mod common;

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use common::{
    compare_gradients, frozen_loss, jnum, json_object, jstr, out_dir, plot_panels, progress_bar,
    register_font, thin, verify_gradients, write_csv, GradientComparison, Line, Panel, Res,
    SmoothedSteps, TeacherSignal,
};
use vle::params::{find_param, learnable_mask};
use vle::{ExactConfig, ExactTrainer, Network, OnlineConfig, OnlineTrainer, Sgd, Tape};

vle::vle_model! {
    /// 1 → 4 → 1: adaptive tanh neurons, linear instantaneous readout.
    pub network AdaptChain {
        neuron Adaptive {
            param tau_m, tau_r, tau_a, k;
            activation phi;
            state u, a;
            mismatch e = u + tau_m * d(u) + k * a - input;
            mismatch e_a = a + tau_a * d(a) - u;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        neuron Gle {
            param tau_m, tau_r;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = ubreve;
        }
        input x: 1;
        layer h: 4 = Adaptive { phi: tanh, tau_m: 1.0, tau_r: 1.0, tau_a: 4.0, k: 0.2 } <- x + bias;
        layer out: 1 = Gle { tau_m: 0.5, tau_r: 0.5 } <- h + bias;
        energy = 0.5 * sum_sq(e, e_a) + beta * mse(out.r, target);
        learn W, b, k;
    }
}

const DT: f64 = 0.01;
const BETA: f64 = 1.0;
const TEACHER_K: [f64; 4] = [0.5, 1.0, 2.0, 3.0];

/// Adaptive neurons (a non-GLE model) learning from an adapting teacher with their local rule.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Training time per learner, in units of time.
    #[arg(long, default_value_t = 30000.0)]
    time: f64,
    /// SGD learning rate (online learners: every step; BPTT: every window, with the window's
    /// summed gradient).
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// BPTT window in steps; also the bin of the recorded loss curves.
    #[arg(long, default_value_t = 500)]
    window: usize,
    /// Seed of the student's weights and of the input (the teacher's weights: seed + 1000).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder [default: results/custom_neuron/].
    #[arg(long)]
    out: Option<PathBuf>,
    /// CI smoke run: 20 units of training time.
    #[arg(long)]
    quick: bool,
}

fn print_comparison(cmp: &GradientComparison) {
    println!(
        "  {:<10} {:>8} {:>12} {:>12}",
        "tensor", "cosine", "|local|", "|exact|"
    );
    for (name, c, l, e) in &cmp.tensors {
        println!("  {name:<10} {c:>8.4} {l:>12.4e} {e:>12.4e}");
    }
    println!("  {:<10} {:>8.4}", "all", cmp.overall);
}

fn main() -> std::process::ExitCode {
    common::main_with(run)
}

fn run() -> Res<()> {
    let args = Args::parse();
    let started = Instant::now();
    let time = if args.quick { 20.0 } else { args.time };
    let window = args.window.max(1);
    let windows = ((time / DT) as usize).div_ceil(window).max(1);
    let steps = windows * window;
    let dir = out_dir(&args.out, "custom_neuron")?;
    register_font()?;
    let k_range = find_param::<AdaptChain>("h.k").ok_or("no h.k")?.range();

    println!(
        "custom_neuron: adaptive neurons (adaptation current a, tau_a = 4) in a 1 -> 4 -> 1 chain"
    );
    println!("derived by vle_model! for the hidden layer:");
    let text = AdaptChain::DERIVATION_TEXT;
    let start = text.find("  local rule").unwrap_or(0);
    let end = text[start..]
        .find("\nLayer ")
        .map_or(text.len(), |i| start + i);
    println!("{}", text[start..end].trim_end());

    let mut teacher = vle::init_params::<AdaptChain, f64>(args.seed + 1000);
    teacher[k_range.clone()].copy_from_slice(&TEACHER_K);
    let initial = vle::init_params::<AdaptChain, f64>(args.seed);
    let mut ablation_start = initial.clone();
    ablation_start[k_range.clone()]
        .iter_mut()
        .for_each(|k| *k = 0.0);
    let steps_input = SmoothedSteps {
        seed: args.seed,
        hold: 6.0,
        width: 0.1,
        lo: -1.0,
        hi: 1.0,
    };
    let signal = TeacherSignal::new::<AdaptChain>(&teacher, |t| steps_input.eval(t), DT, steps);
    let held_input = SmoothedSteps {
        seed: args.seed ^ 0xDEAD_BEEF,
        ..steps_input.clone()
    };
    let eval_steps = 10_000;
    let held_out =
        TeacherSignal::new::<AdaptChain>(&teacher, |t| held_input.eval(t), DT, eval_steps);
    println!(
        "\nteacher: k = {TEACHER_K:?}, weights seed {}; student: k = 0.2, weights seed {}; \
         input: smoothed steps in [-1, 1] held 6; dt = {DT}, beta = {BETA}",
        args.seed + 1000,
        args.seed
    );

    println!("\n== gradient checks ==");
    let worst_rel = verify_gradients::<AdaptChain, _>(&initial, &signal, DT, BETA, 200)?;
    let cmp_steps = 2000.min(steps);
    let cmp_start = compare_gradients::<AdaptChain, _>(&initial, &signal, DT, BETA, cmp_steps)?;
    println!(
        "local rule vs exact discrete gradient on the task, student's start, {cmp_steps} steps:"
    );
    print_comparison(&cmp_start);

    println!("\n== training ==");
    println!(
        "{steps} steps (t = 0..{:.0}) per learner; SGD lr {}: every step (online), every \
         window of {window} steps (BPTT, the window's summed gradient)",
        steps as f64 * DT,
        args.lr
    );
    let mask = learnable_mask::<AdaptChain>();
    let mut mask_ablation = mask.clone();
    mask_ablation[k_range.clone()]
        .iter_mut()
        .for_each(|m| *m = false);
    let online = OnlineConfig {
        dt: DT,
        beta: BETA,
        gamma: 0.0,
        update_every: 1,
        tau_max: 100.0,
    };
    let mut local = OnlineTrainer::<AdaptChain, f64, _>::new(
        online.clone(),
        1,
        Sgd::new(args.lr, mask.clone()),
    )?;
    let mut ablation =
        OnlineTrainer::<AdaptChain, f64, _>::new(online, 1, Sgd::new(args.lr, mask_ablation))?;
    let exact_cfg = ExactConfig {
        dt: DT,
        beta: BETA,
        window,
        tape: Tape::Full,
        carry_state: true,
        tau_max: 100.0,
    };
    let mut bptt = ExactTrainer::<AdaptChain, f64, _>::new(exact_cfg, 1, Sgd::new(args.lr, mask))?;
    let (mut p_local, mut p_bptt, mut p_abl) = (initial.clone(), initial.clone(), ablation_start);
    let mut curves: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut k_hist: [Vec<Vec<f64>>; 2] = [Vec::new(), Vec::new()];
    let mut secs = [0.0; 3];
    let bar = progress_bar(windows as u64, "custom");
    for w in 0..windows {
        let t0 = (w * window) as f64 * DT;
        let clock = Instant::now();
        let h = local.run(&mut p_local, &[&signal], t0, window, None)?;
        curves[0].push(common::mean(&h.loss));
        secs[0] += clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let h = bptt.run(&mut p_bptt, &[&signal], t0, 1, None)?;
        curves[1].push(h.loss[0]);
        secs[1] += clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let h = ablation.run(&mut p_abl, &[&signal], t0, window, None)?;
        curves[2].push(common::mean(&h.loss));
        secs[2] += clock.elapsed().as_secs_f64();
        k_hist[0].push(p_local[k_range.clone()].to_vec());
        k_hist[1].push(p_bptt[k_range.clone()].to_vec());
        bar.inc(1);
        bar.set_message(format!(
            "loss local {:.2e} exact {:.2e} no-adapt {:.2e}",
            curves[0][w], curves[1][w], curves[2][w]
        ));
    }
    bar.finish_and_clear();

    let tail = (windows / 10).max(1);
    let tail_mean = |c: &[f64]| common::mean(&c[c.len() - tail..]);
    let names = ["local rule", "exact (BPTT)", "local, k = 0"];
    let ps = [&p_local, &p_bptt, &p_abl];
    let held_start = frozen_loss::<AdaptChain, _>(&initial, &held_out, 0.0, DT, eval_steps)?;
    let held: Vec<f64> = ps
        .iter()
        .map(|p| frozen_loss::<AdaptChain, _>(p, &held_out, 0.0, DT, eval_steps))
        .collect::<Result<_, _>>()?;
    println!(
        "  {:<13} {:>10} {:>10} {:>10} {:>7}  learned k",
        "learner", "first", "final", "held-out", "secs"
    );
    println!(
        "  {:<13} {:>10} {:>10} {held_start:>10.3e}",
        "start", "", ""
    );
    for i in 0..3 {
        let mut k = ps[i][k_range.clone()].to_vec();
        k.sort_by(f64::total_cmp);
        println!(
            "  {:<13} {:>10.3e} {:>10.3e} {:>10.3e} {:>7.2}  {}",
            names[i],
            curves[i][0],
            tail_mean(&curves[i]),
            held[i],
            secs[i],
            k.iter()
                .map(|v| format!("{v:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    println!(
        "  (teacher k: {}; hidden units are interchangeable, so k is listed sorted; \
         'final' = mean over the last {tail} windows; held-out: fresh steps, frozen parameters, \
         100 time units from rest)",
        TEACHER_K.map(|v| format!("{v:.2}")).join(" ")
    );
    let cmp_end = compare_gradients::<AdaptChain, _>(&p_local, &signal, DT, BETA, cmp_steps)?;
    println!(
        "local rule vs exact gradient at the end of local training ({cmp_steps} steps from t = 0):"
    );
    print_comparison(&cmp_end);

    // Files.
    let t_loss: Vec<f64> = (1..=windows).map(|k| (k * window) as f64 * DT).collect();
    let mut cols = vec![
        t_loss.clone(),
        curves[0].clone(),
        curves[1].clone(),
        curves[2].clone(),
    ];
    let mut header: Vec<String> = [
        "time",
        "loss_local",
        "loss_exact",
        "loss_local_no_adaptation",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (i, who) in ["local", "exact"].iter().enumerate() {
        for j in 0..4 {
            header.push(format!("k{j}_{who}"));
            cols.push(k_hist[i].iter().map(|k| k[j]).collect());
        }
    }
    let header_ref: Vec<&str> = header.iter().map(|s| s.as_str()).collect();
    let col_ref: Vec<&[f64]> = cols.iter().map(|c| c.as_slice()).collect();
    let loss_csv = dir.join("curves.csv");
    write_csv(&loss_csv, &header_ref, &col_ref)?;

    // Traces on the held-out input: teacher and the three students.
    let trace_steps = 6000.min(eval_steps);
    let mut outs: Vec<Vec<f64>> = Vec::new();
    for p in [&teacher, &p_local, &p_bptt, &p_abl] {
        let mut st = vec![0.0; AdaptChain::STATE];
        let mut r = [0.0];
        let mut v = Vec::with_capacity(trace_steps);
        for n in 0..trace_steps {
            AdaptChain::output(p, &st, &mut r);
            v.push(r[0]);
            AdaptChain::euler_step(p, &mut st, &[held_input.eval(n as f64 * DT)], DT);
        }
        outs.push(v);
    }
    let t_tr: Vec<f64> = (0..trace_steps).map(|n| n as f64 * DT).collect();
    let x_tr: Vec<f64> = t_tr.iter().map(|&t| held_input.eval(t)).collect();
    let traces_csv = dir.join("traces.csv");
    write_csv(
        &traces_csv,
        &[
            "time",
            "input",
            "teacher",
            "local",
            "exact",
            "local_no_adaptation",
        ],
        &[&t_tr, &x_tr, &outs[0], &outs[1], &outs[2], &outs[3]],
    )?;

    let pts = |t: &[f64], v: &[f64]| thin(t.iter().copied().zip(v.iter().copied()).collect(), 3000);
    let loss_png = dir.join("loss.png");
    let mut panel = Panel::new(
        format!(
            "Adaptive neurons: loss, moving mean over 50 windows of {} time units",
            window as f64 * DT
        ),
        "time",
        "loss",
    )
    .log_y();
    for i in 0..3 {
        panel = panel.line(Line::new(
            names[i],
            pts(&t_loss, &common::moving_mean(&curves[i], 50)),
            i,
        ));
    }
    plot_panels(&loss_png, &[panel], 1, (1000, 600))?;
    let traces_png = dir.join("traces.png");
    plot_panels(
        &traces_png,
        &[
            Panel::new("held-out input (smoothed steps)", "time", "x").line(Line::new(
                "",
                pts(&t_tr, &x_tr),
                4,
            )),
            Panel::new("output after training, held-out input", "time", "r_out")
                .line(Line::new("teacher", pts(&t_tr, &outs[0]), 4).dashed())
                .line(Line::new("local rule", pts(&t_tr, &outs[1]), 0))
                .line(Line::new("exact (BPTT)", pts(&t_tr, &outs[2]), 1))
                .line(Line::new("local, k = 0", pts(&t_tr, &outs[3]), 2)),
        ],
        1,
        (1200, 900),
    )?;

    let seconds = started.elapsed().as_secs_f64();
    println!(
        "\nwrote {}, {}, {}, {}",
        loss_csv.display(),
        traces_csv.display(),
        loss_png.display(),
        traces_png.display()
    );
    println!(
        "summary: held-out loss {held_start:.2e} at the start -> local rule {:.2e}, exact {:.2e}, \
         without adaptation {:.2e}; cosine(local, exact) {:.3} at the start, {:.3} at the end; \
         {seconds:.1} s",
        held[0], held[1], held[2], cmp_start.overall, cmp_end.overall
    );
    let tensor_json = |c: &GradientComparison| {
        let body: Vec<String> = c
            .tensors
            .iter()
            .map(|(n, cos, _, _)| format!("{}:{}", jstr(n), jnum(*cos)))
            .collect();
        format!("{{{}}}", body.join(","))
    };
    let list = |v: &[f64]| {
        format!(
            "[{}]",
            v.iter().map(|x| jnum(*x)).collect::<Vec<_>>().join(",")
        )
    };
    let pairs = vec![
        ("example", jstr("custom_neuron")),
        ("seed", args.seed.to_string()),
        ("quick", args.quick.to_string()),
        ("steps", steps.to_string()),
        ("gradcheck_worst_rel_error", jnum(worst_rel)),
        ("cosine_local_vs_exact_start", jnum(cmp_start.overall)),
        ("cosine_per_tensor_start", tensor_json(&cmp_start)),
        ("cosine_local_vs_exact_end", jnum(cmp_end.overall)),
        ("cosine_per_tensor_end", tensor_json(&cmp_end)),
        ("held_out_loss_start", jnum(held_start)),
        ("held_out_loss_local", jnum(held[0])),
        ("held_out_loss_exact", jnum(held[1])),
        ("held_out_loss_no_adaptation", jnum(held[2])),
        ("final_loss_local", jnum(tail_mean(&curves[0]))),
        ("final_loss_exact", jnum(tail_mean(&curves[1]))),
        ("final_loss_no_adaptation", jnum(tail_mean(&curves[2]))),
        ("k_local", list(&p_local[k_range.clone()])),
        ("k_exact", list(&p_bptt[k_range])),
        ("seconds", format!("{seconds:.3}")),
        ("out", jstr(&dir.display().to_string())),
    ];
    println!("{}", json_object(&pairs));
    Ok(())
}
