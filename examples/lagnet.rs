//! LagNet (docs/theory.md §8, from GLE): teacher–student 1 → 2 → 2 → 1, tanh hidden layers with one
//! instantaneous (τr = τm = 1) and one lagging (τr = 0.1, τm = 1) neuron each, linear output;
//! input a sum of three sines; dt = 0.01.
//!
//! 1. The errors: on the student's initial parameters, the local errors of the GLE error
//!    neurons (generated `online_step`, read at `LayerInfo::local_error_offset`) against the
//!    exact adjoint errors (generated `continuous_adjoint`) over time, for every hidden neuron.
//!    docs/theory.md §5 predicts equal phase and, for the lagging neurons, a gain larger by
//!    (1 + ω²τm²)/(1 + ω²τr²) at each input frequency.
//! 2. Learning: the student learns W and b online with the local rule (`OnlineTrainer`) and
//!    with exact gradients over windows (`ExactTrainer`, BPTT with the state carried), same
//!    optimiser and learning rate; loss curves of both.
//!
//! `cargo run --release --example lagnet -- --help`

mod common;

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use common::{
    compare_gradients, frozen_loss, jnum, json_object, jstr, out_dir, plot_panels, progress_bar,
    register_font, thin, verify_gradients, write_csv, Line, Panel, Res, TeacherSignal,
};
use vle::params::learnable_mask;
use vle::{
    continuous_adjoint, ExactConfig, ExactTrainer, Network, OnlineConfig, OnlineTrainer, Sgd,
    Signal, Sines, Tape,
};

vle::vle_model! {
    /// The LagNet of docs/theory.md §8.
    pub network LagNet {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer h1: 2 = Gle { phi: tanh, tau_m: 1.0, tau_r: [1.0, 0.1] } <- x + bias;
        layer h2: 2 = Gle { phi: tanh, tau_m: 1.0, tau_r: [1.0, 0.1] } <- h1 + bias;
        layer out: 1 = Gle { phi: identity, tau_m: 1.0, tau_r: 1.0 } <- h2 + bias;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, b;
    }
}

const DT: f64 = 0.01;
const BETA: f64 = 1.0;

/// LagNet teacher–student: local (GLE) errors against the exact adjoint, local vs exact learning.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Training time per learner, in units of time.
    #[arg(long, default_value_t = 20000.0)]
    time: f64,
    /// SGD learning rate (both learners: the online rule updates every step with that step's
    /// estimate, BPTT once per window with the window's summed gradient).
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// BPTT window in steps; also the bin of the recorded loss curves.
    #[arg(long, default_value_t = 1000)]
    window: usize,
    /// Length of the error comparison, in units of time.
    #[arg(long, default_value_t = 60.0)]
    error_time: f64,
    /// Seed of the student's weights (the teacher's are drawn with seed + 1000).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder [default: results/lagnet/].
    #[arg(long)]
    out: Option<PathBuf>,
    /// CI smoke run: 20 units of training time.
    #[arg(long)]
    quick: bool,
}

/// The input: three sines (cycles per unit time). The lagging neurons' gain distortion
/// (1 + ω²)/(1 + 0.01 ω²) is 1.4, 2.5 and 5.2 at these frequencies.
const FREQS: [f64; 3] = [0.1, 0.19, 0.33];
const AMPS: [f64; 3] = [1.0, 0.7, 0.5];

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
    let dir = out_dir(&args.out, "lagnet")?;
    register_font()?;

    println!(
        "LagNet teacher-student (docs/theory.md §8): 1 -> 2 -> 2 -> 1, tanh hidden, linear out"
    );
    println!("hidden tau_m = 1, tau_r = (1, 0.1) per layer; dt = {DT}, beta = {BETA}");
    let input = Sines::new(AMPS.to_vec(), FREQS.to_vec(), vec![0.0, 1.3, 2.1])?;
    let teacher = vle::init_params::<LagNet, f64>(args.seed + 1000);
    let initial = vle::init_params::<LagNet, f64>(args.seed);
    let err_steps = ((args.error_time / DT) as usize).max(200);
    let signal =
        TeacherSignal::new::<LagNet>(&teacher, |t| input.eval(t), DT, steps.max(err_steps));
    // Held out: a different phase of the same three sines, from rest.
    let input_held = Sines::new(AMPS.to_vec(), FREQS.to_vec(), vec![0.7, 2.9, 4.4])?;
    let eval_steps = 10_000;
    let held_out = TeacherSignal::new::<LagNet>(&teacher, |t| input_held.eval(t), DT, eval_steps);
    println!(
        "input: sum of sines, amplitudes {AMPS:?}, frequencies {FREQS:?}; teacher weights seed \
         {}, student seed {}",
        args.seed + 1000,
        args.seed
    );

    println!("\n== gradient checks ==");
    let worst_rel = verify_gradients::<LagNet, _>(&initial, &signal, DT, BETA, 200)?;

    // 1. Local errors against the adjoint errors on the student's initial parameters.
    println!("\n== local errors vs exact adjoint (student's initial parameters) ==");
    let sweep =
        continuous_adjoint::<LagNet, f64, _>(&initial, &signal, None, 0.0, DT, err_steps, BETA)?;
    let mut state = vec![0.0; LagNet::STATE];
    let mut local = vec![0.0; LagNet::LOCAL];
    let mut scratch = vec![0.0; LagNet::PARAMS];
    let (mut x, mut y) = ([0.0], [0.0]);
    let hidden: Vec<_> = LagNet::layer_info()
        .iter()
        .filter(|l| l.name != "out")
        .collect();
    let nh = hidden.iter().map(|l| l.size).sum::<usize>();
    // local_err[k][n], adjoint_err[k][n] for hidden neuron k at t = n·dt.
    let mut local_err = vec![Vec::with_capacity(err_steps); nh];
    let mut adj_err = vec![Vec::with_capacity(err_steps); nh];
    // Membrane u and rate r = φ(ŭ) of every hidden neuron, after each step.
    let mut membrane = vec![Vec::with_capacity(err_steps); nh];
    let mut rate = vec![Vec::with_capacity(err_steps); nh];
    for n in 0..err_steps {
        signal.at(n as f64 * DT, &mut x, &mut y);
        LagNet::online_step(
            &initial,
            &mut state,
            &mut local,
            &x,
            &y,
            BETA,
            0.0,
            DT,
            &mut scratch,
        );
        // After the step from t_n, the stored local error is the one computed at t_n.
        let mut k = 0;
        for l in &hidden {
            for i in 0..l.size {
                membrane[k].push(state[l.states[0].1 + i]);
                rate[k].push(state[l.prospective_offset + i].tanh());
                local_err[k].push(local[l.local_error_offset + i]);
                adj_err[k].push(sweep.errors[n * LagNet::NEURONS + l.adjoint_error_offset + i]);
                k += 1;
            }
        }
    }
    // Statistics away from the start (transient from rest) and the end (the adjoint's
    // terminal condition): the middle of the window, t in [10, T - 10].
    let (lo, hi) = (1000.min(err_steps / 4), err_steps - 1000.min(err_steps / 4));
    let names = [
        "h1[0] (tau_r=1)",
        "h1[1] (tau_r=0.1)",
        "h2[0] (tau_r=1)",
        "h2[1] (tau_r=0.1)",
    ];
    println!(
        "over t in [{:.0}, {:.0}]: correlation of local and adjoint error, and the ratio of their \
         RMS (local / adjoint); the lagging neurons' predicted gain at the three frequencies is \
         1.4, 2.5, 5.2",
        lo as f64 * DT,
        hi as f64 * DT
    );
    let mut corr = Vec::new();
    let mut gain = Vec::new();
    for k in 0..nh {
        let a = &local_err[k][lo..hi];
        let b = &adj_err[k][lo..hi];
        let (ma, mb) = (common::mean(a), common::mean(b));
        let ac: Vec<f64> = a.iter().map(|v| v - ma).collect();
        let bc: Vec<f64> = b.iter().map(|v| v - mb).collect();
        let c = common::cosine(&ac, &bc);
        let g = common::norm(a) / common::norm(b).max(f64::MIN_POSITIVE);
        println!(
            "  {:<18} correlation {c:>7.4}   RMS ratio {g:>7.3}",
            names[k]
        );
        corr.push(c);
        gain.push(g);
    }
    let cmp_steps = 5000.min(err_steps);
    let cmp = compare_gradients::<LagNet, _>(&initial, &signal, DT, BETA, cmp_steps)?;
    println!("local update vs exact discrete gradient over the first {cmp_steps} steps (cosine):");
    for (name, c, l, e) in &cmp.tensors {
        println!("  {name:<10} {c:>8.4}  |local| {l:.3e}  |exact| {e:.3e}");
    }
    println!("  {:<10} {:>8.4}", "all", cmp.overall);

    // 2. Learning.
    println!("\n== training: local rule vs exact gradient ==");
    println!(
        "{steps} steps (t = 0..{:.0}) each; SGD lr {}: every step (local), every window of \
         {window} steps (exact)",
        steps as f64 * DT,
        args.lr
    );
    let mask = learnable_mask::<LagNet>();
    let online = OnlineConfig {
        dt: DT,
        beta: BETA,
        gamma: 0.0,
        update_every: 1,
        tau_max: 100.0,
    };
    let mut gle = OnlineTrainer::<LagNet, f64, _>::new(online, 1, Sgd::new(args.lr, mask.clone()))?;
    let exact_cfg = ExactConfig {
        dt: DT,
        beta: BETA,
        window,
        tape: Tape::Full,
        carry_state: true,
        tau_max: 100.0,
    };
    let mut bptt = ExactTrainer::<LagNet, f64, _>::new(exact_cfg, 1, Sgd::new(args.lr, mask))?;
    let (mut p_gle, mut p_bptt) = (initial.clone(), initial.clone());
    let (mut curve_gle, mut curve_bptt) = (Vec::new(), Vec::new());
    let bar = progress_bar(windows as u64, "lagnet");
    let (mut secs_gle, mut secs_bptt) = (0.0, 0.0);
    // Alignment over training: cosine between the local update and the exact gradient at the
    // local learner's current parameters (same measure as at the start), 20 times.
    let align_every = (windows / 20).max(1);
    let mut alignment = vec![(0.0, cmp.overall)];
    for k in 0..windows {
        let t0 = (k * window) as f64 * DT;
        let clock = Instant::now();
        let h = gle.run(&mut p_gle, &[&signal], t0, window, None)?;
        curve_gle.push(common::mean(&h.loss));
        secs_gle += clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let h = bptt.run(&mut p_bptt, &[&signal], t0, 1, None)?;
        curve_bptt.push(h.loss[0]);
        secs_bptt += clock.elapsed().as_secs_f64();
        if (k + 1) % align_every == 0 {
            let c = compare_gradients::<LagNet, _>(&p_gle, &signal, DT, BETA, cmp_steps)?;
            alignment.push((((k + 1) * window) as f64 * DT, c.overall));
        }
        bar.inc(1);
        bar.set_message(format!(
            "loss local {:.2e} exact {:.2e}",
            curve_gle[k], curve_bptt[k]
        ));
    }
    println!(
        "alignment of the local update with the exact gradient during training (cosine at the \
         local learner's parameters, {cmp_steps} steps from rest): start {:.4}, min {:.4}, final {:.4}",
        alignment[0].1,
        alignment.iter().map(|a| a.1).fold(f64::INFINITY, f64::min),
        alignment[alignment.len() - 1].1
    );
    bar.finish_and_clear();
    let tail = (windows / 10).max(1);
    let tail_mean = |c: &[f64]| common::mean(&c[c.len() - tail..]);
    let held = [
        frozen_loss::<LagNet, _>(&initial, &held_out, 0.0, DT, eval_steps)?,
        frozen_loss::<LagNet, _>(&p_gle, &held_out, 0.0, DT, eval_steps)?,
        frozen_loss::<LagNet, _>(&p_bptt, &held_out, 0.0, DT, eval_steps)?,
    ];
    println!(
        "  {:<6} {:>11} {:>11} {:>11} {:>8}",
        "rule", "first", "final", "held-out", "secs"
    );
    println!("  {:<6} {:>11} {:>11} {:>11.3e}", "start", "", "", held[0]);
    for (i, (name, c, s)) in [
        ("local", &curve_gle, secs_gle),
        ("exact", &curve_bptt, secs_bptt),
    ]
    .iter()
    .enumerate()
    {
        println!(
            "  {name:<6} {:>11.3e} {:>11.3e} {:>11.3e} {s:>8.2}",
            c[0],
            tail_mean(c),
            held[i + 1]
        );
    }
    println!(
        "('first'/'final': mean loss of the first window / last {tail} windows; held-out: frozen \
         parameters, input with other phases, from rest, 100 time units)"
    );

    // Files.
    let t_err: Vec<f64> = (0..err_steps).map(|n| n as f64 * DT).collect();
    let mut cols = vec![t_err.clone()];
    let mut header = vec!["time".to_string()];
    let keys = ["h1_0", "h1_1", "h2_0", "h2_1"];
    for k in 0..nh {
        header.push(format!("local_{}", keys[k]));
        cols.push(local_err[k].clone());
        header.push(format!("adjoint_{}", keys[k]));
        cols.push(adj_err[k].clone());
    }
    let header_ref: Vec<&str> = header.iter().map(|s| s.as_str()).collect();
    let col_ref: Vec<&[f64]> = cols.iter().map(|c| c.as_slice()).collect();
    let errors_csv = dir.join("errors.csv");
    write_csv(&errors_csv, &header_ref, &col_ref)?;
    let t_loss: Vec<f64> = (1..=windows).map(|k| (k * window) as f64 * DT).collect();
    let loss_csv = dir.join("loss.csv");
    write_csv(
        &loss_csv,
        &["time", "loss_local", "loss_exact"],
        &[&t_loss, &curve_gle, &curve_bptt],
    )?;

    let errors_png = dir.join("errors.png");
    let panels: Vec<Panel> = (0..nh)
        .map(|k| {
            // The first 2 time units (start-up transient of the error neurons from rest) are
            // left out of the plot, not of the CSV.
            let skip = 200.min(err_steps / 10);
            let pts = |v: &[f64]| {
                thin(
                    t_err[skip..]
                        .iter()
                        .copied()
                        .zip(v[skip..].iter().copied())
                        .collect(),
                    3000,
                )
            };
            Panel::new(
                format!("error of {}", names[k]),
                "time",
                "error at the input",
            )
            .line(Line::new("local (GLE error neuron)", pts(&local_err[k]), 1))
            .line(Line::new("exact adjoint", pts(&adj_err[k]), 0))
        })
        .collect();
    plot_panels(&errors_png, &panels, 2, (1400, 900))?;
    let loss_png = dir.join("loss.png");
    let pts = |c: &[f64]| {
        thin(
            t_loss.iter().copied().zip(c.iter().copied()).collect(),
            2000,
        )
    };
    plot_panels(
        &loss_png,
        &[Panel::new(
            format!(
                "LagNet: loss per window ({} time units)",
                window as f64 * DT
            ),
            "time",
            "loss",
        )
        .log_y()
        .line(Line::new("local rule (GLE)", pts(&curve_gle), 1))
        .line(Line::new("exact gradient (BPTT)", pts(&curve_bptt), 0))],
        1,
        (1000, 600),
    )?;

    // Membrane and rate traces (first 20 time units) and the whole trajectory as .npz.
    let shown = (20.0 / DT) as usize;
    let mut trace_panels = Vec::new();
    for (k, name) in names.iter().enumerate().take(nh) {
        let pts = |v: &[f64]| {
            (0..shown.min(v.len()))
                .map(|n| (n as f64 * DT, v[n]))
                .collect()
        };
        trace_panels.push(
            Panel::new(format!("{name}: membrane and rate"), "time", "value")
                .line(Line::new("membrane u", pts(&membrane[k]), 0))
                .line(Line::new("rate tanh(u + tau_r du/dt)", pts(&rate[k]), 1)),
        );
    }
    let traces_png = dir.join("traces.png");
    plot_panels(&traces_png, &trace_panels, 2, (1400, 900))?;
    let traj_npz = dir.join("trajectory.npz");
    let flat = |v: &[Vec<f64>]| -> Res<vle::io::Array> {
        // neurons × steps
        let data: Vec<f64> = v.iter().flatten().copied().collect();
        Ok(vle::io::Array::from_f64(vec![v.len(), err_steps], data)?)
    };
    let t_arr = vle::io::Array::from_f64(vec![err_steps], t_err.clone())?;
    vle::io::write_npz(
        &traj_npz,
        &[
            ("time", &t_arr),
            ("membrane", &flat(&membrane)?),
            ("rate", &flat(&rate)?),
            ("local_error", &flat(&local_err)?),
            ("adjoint_error", &flat(&adj_err)?),
        ],
    )?;
    println!("wrote {}, {}", traces_png.display(), traj_npz.display());

    let align_csv = dir.join("alignment.csv");
    let (at, ac): (Vec<f64>, Vec<f64>) = alignment.iter().copied().unzip();
    write_csv(&align_csv, &["time", "cosine_local_vs_exact"], &[&at, &ac])?;
    let align_png = dir.join("alignment.png");
    plot_panels(
        &align_png,
        &[Panel::new(
            "LagNet: alignment of the local rule with the exact gradient during training",
            "time",
            "cosine(local update, exact gradient)",
        )
        .line(Line::new("local rule (GLE)", alignment.clone(), 1))],
        1,
        (1000, 600),
    )?;
    println!("wrote {}, {}", align_csv.display(), align_png.display());

    let seconds = started.elapsed().as_secs_f64();
    println!(
        "\nwrote {}, {}, {}, {}",
        errors_csv.display(),
        loss_csv.display(),
        errors_png.display(),
        loss_png.display()
    );
    println!(
        "summary: local vs adjoint errors correlate at {:.3}..{:.3} (RMS ratios {:.2}..{:.2}); \
         loss local {:.2e} -> {:.2e}, exact {:.2e} -> {:.2e}; {seconds:.1} s",
        corr.iter().copied().fold(f64::INFINITY, f64::min),
        corr.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        gain.iter().copied().fold(f64::INFINITY, f64::min),
        gain.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        curve_gle[0],
        tail_mean(&curve_gle),
        curve_bptt[0],
        tail_mean(&curve_bptt)
    );
    let list = |v: &[f64]| {
        format!(
            "[{}]",
            v.iter().map(|x| jnum(*x)).collect::<Vec<_>>().join(",")
        )
    };
    let pairs = vec![
        ("example", jstr("lagnet")),
        ("seed", args.seed.to_string()),
        ("quick", args.quick.to_string()),
        ("steps", steps.to_string()),
        ("gradcheck_worst_rel_error", jnum(worst_rel)),
        ("error_correlation", list(&corr)),
        ("error_rms_ratio", list(&gain)),
        ("cosine_local_vs_exact_at_start", jnum(cmp.overall)),
        (
            "cosine_local_vs_exact_final",
            jnum(alignment[alignment.len() - 1].1),
        ),
        ("first_loss_local", jnum(curve_gle[0])),
        ("final_loss_local", jnum(tail_mean(&curve_gle))),
        ("first_loss_exact", jnum(curve_bptt[0])),
        ("final_loss_exact", jnum(tail_mean(&curve_bptt))),
        ("held_out_loss_start", jnum(held[0])),
        ("held_out_loss_local", jnum(held[1])),
        ("held_out_loss_exact", jnum(held[2])),
        ("seconds", format!("{seconds:.3}")),
        ("out", jstr(&dir.display().to_string())),
    ];
    println!("{}", json_object(&pairs));
    Ok(())
}
