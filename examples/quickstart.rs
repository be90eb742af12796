//! Quickstart: declare a small GLE network, read the derivation the macro produced, train a
//! student to imitate a teacher with the local (online) learning rule, and compare the local
//! update with the exact gradient of the simulated loss.
//!
//! Run with `cargo run --release --example quickstart`. The last line of stdout is one JSON
//! object with the headline numbers.

use std::error::Error;
use std::time::Instant;

use clap::Parser;

use vle::params::{init_params, learnable_mask};
use vle::{
    discrete_loss, exact_gradient, Adam, Network, OnlineConfig, OnlineTrainer, Signal, SumOfSines,
    Tape, Window,
};

vle::vle_model! {
    /// 1 → 3 → 1: three tanh hidden neurons, two instantaneous (τr = τm) and one lagging
    /// (τr < τm), and a linear, instantaneous output neuron.
    pub network QuickNet {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer hidden: 3 = Gle { phi: tanh, tau_m: 1.0, tau_r: [1.0, 1.0, 0.1] } <- x + bias;
        layer out: 1 = Gle { phi: identity, tau_m: 1.0, tau_r: 1.0 } <- hidden + bias;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, b;
    }
}

/// Euler step and the weight of the loss in the energy.
const DT: f64 = 0.01;
const BETA: f64 = 1.0;
/// Online training: steps (one Adam update per step) and learning rate. The rate is kept small
/// so that the weights learn the teacher's mapping instead of chasing the current input.
const TRAIN_STEPS: usize = 100_000;
const LEARNING_RATE: f64 = 3e-5;
/// Steps per window: the online loss means and the local-vs-exact gradient comparison.
const WINDOW: usize = 2_000;
/// Held-out evaluation window (after the training stretch) with frozen parameters.
const EVAL_STEPS: usize = 5_000;
const TEACHER_SEED: u64 = 7;
const STUDENT_SEED: u64 = 1;

fn heading(title: &str) {
    println!("\n=== {title} ===");
}

/// The input: a sum of three sines (frequencies in cycles per unit time, not commensurate, so
/// the held-out window is not a repeat of the training stretch).
fn input_signal() -> Result<SumOfSines, vle::Error> {
    SumOfSines::new(
        vec![1.0, 0.6, 0.4],
        vec![0.0713, 0.1618, 0.317],
        vec![0.0, 1.0, 2.0],
    )
}

/// The teacher's output over `steps` Euler steps from rest, driven by `input` from time `t0`:
/// entry n is the output at time t0 + n·dt (entry 0 is the resting state's).
fn teacher_targets(p: &[f64], input: &SumOfSines, t0: f64, steps: usize) -> Vec<f64> {
    let mut state = vec![0.0; QuickNet::STATE];
    let (mut x, mut r, mut no_target) = ([0.0], [0.0], [0.0; 0]);
    let mut ys = Vec::with_capacity(steps + 1);
    for n in 0..=steps {
        QuickNet::output(p, &state, &mut r);
        ys.push(r[0]);
        input.at(t0 + n as f64 * DT, &mut x, &mut no_target);
        QuickNet::euler_step(p, &mut state, &x, DT);
    }
    ys
}

/// The task as a [`Signal`]: input x(t) from the sum of sines, target y(t) looked up in the
/// teacher's precomputed output stream, which starts at `t0` on the grid of `DT`.
struct TeacherSignal<'a> {
    input: &'a SumOfSines,
    targets: Vec<f64>,
    t0: f64,
}

impl<'a> TeacherSignal<'a> {
    /// Simulates the teacher (parameters `p`) from rest for `steps` steps from `t0`.
    fn new(p: &[f64], input: &'a SumOfSines, t0: f64, steps: usize) -> Self {
        let targets = teacher_targets(p, input, t0, steps);
        TeacherSignal { input, targets, t0 }
    }
}

impl Signal for TeacherSignal<'_> {
    fn input_dim(&self) -> usize {
        QuickNet::INPUT
    }
    fn target_dim(&self) -> usize {
        QuickNet::OUTPUT
    }
    fn at(&self, t: f64, x: &mut [f64], y: &mut [f64]) {
        self.input.at(t, x, &mut []);
        let n = ((t - self.t0) / DT).round().max(0.0) as usize;
        y[0] = self.targets[n.min(self.targets.len() - 1)];
    }
}

/// Cosine similarity of `a` and `b` over the entries where `mask` is true.
fn cosine(a: &[f64], b: &[f64], mask: &[bool]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for ((x, y), _) in a.iter().zip(b).zip(mask).filter(|(_, &m)| m) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt()).max(f64::MIN_POSITIVE)
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|g| g * g).sum::<f64>().sqrt()
}

/// Mean instantaneous loss ℓ of frozen parameters `p` over a window, starting from rest.
fn window_loss(p: &[f64], window: &Window) -> Result<f64, vle::Error> {
    let mut state = vec![0.0; QuickNet::STATE];
    let total = discrete_loss::<QuickNet, f64>(p, &mut state, &window.xs, &window.ys, DT, 1.0)?;
    Ok(total / (DT * window.steps as f64))
}

/// Declares a small GLE network, prints its derivation, trains a student online with the local
/// rule and compares the local update with the exact gradient (no options; runs in seconds).
#[derive(Parser)]
#[command(version)]
struct Args {}

fn main() -> Result<(), Box<dyn Error>> {
    let Args {} = Args::parse();
    let started = Instant::now();

    heading("1. The network");
    println!(
        "{}: {} input, {} output, {} neurons, {} parameters, {} state entries per sample",
        QuickNet::NAME,
        QuickNet::INPUT,
        QuickNet::OUTPUT,
        QuickNet::NEURONS,
        QuickNet::PARAMS,
        QuickNet::STATE
    );
    for info in QuickNet::param_info() {
        let status = if info.learnable { "learned" } else { "fixed" };
        println!("  {:<14} {}x{}  {status}", info.name, info.rows, info.cols);
    }

    heading(
        "2. What vle_model! derived (first hidden layer; full text in QuickNet::DERIVATION_TEXT)",
    );
    let text = QuickNet::DERIVATION_TEXT;
    // The text has a header, then one block per layer starting with "Layer <name>".
    let cut = text
        .match_indices("\nLayer ")
        .nth(1)
        .map_or(text.len(), |(i, _)| i);
    println!("{}", text[..cut].trim_end());
    if cut < text.len() {
        println!(
            "[... {} more lines for the other layers]",
            text[cut..].trim().lines().count()
        );
    }

    heading("3. Teacher-student task, learned online with the local rule");
    let input = input_signal()?;
    let teacher: Vec<f64> = init_params::<QuickNet, f64>(TEACHER_SEED);
    let initial: Vec<f64> = init_params::<QuickNet, f64>(STUDENT_SEED);
    let train = TeacherSignal::new(&teacher, &input, 0.0, TRAIN_STEPS);
    // Held out: the stretch after training; teacher and student both start from rest there.
    let eval_t0 = TRAIN_STEPS as f64 * DT;
    let eval_signal = TeacherSignal::new(&teacher, &input, eval_t0, EVAL_STEPS);
    let eval = Window::sample(&eval_signal, eval_t0, DT, EVAL_STEPS);

    let config = OnlineConfig {
        dt: DT,
        beta: BETA,
        gamma: 0.0,
        update_every: 1,
        tau_max: 100.0,
    };
    let optimizer = Adam::new(LEARNING_RATE, learnable_mask::<QuickNet>());
    let mut trainer = OnlineTrainer::<QuickNet, f64, _>::new(config, 1, optimizer)?;
    let mut student = initial.clone();
    println!(
        "teacher: seed {TEACHER_SEED}; student: seed {STUDENT_SEED}; input: sum of 3 sines; \
         {TRAIN_STEPS} steps of dt = {DT} (t = 0 .. {eval_t0}); Adam lr = {LEARNING_RATE:e}; \
         beta = {BETA}, gamma = 0"
    );
    let train_started = Instant::now();
    let history = trainer.run(&mut student, &[&train], 0.0, TRAIN_STEPS, None)?;
    let train_seconds = train_started.elapsed().as_secs_f64();

    println!("  {:>8}  {:>12}", "steps", "online loss");
    let block = TRAIN_STEPS / 10;
    for (k, chunk) in history.loss.chunks(block).enumerate() {
        let mean = chunk.iter().sum::<f64>() / chunk.len() as f64;
        println!("  {:>8}  {mean:>12.4e}", (k + 1) * block);
    }
    let online_start = history.loss[..WINDOW].iter().sum::<f64>() / WINDOW as f64;
    let online_end = history.tail_mean(WINDOW);
    println!(
        "online loss (mean, first / last {WINDOW} steps): {online_start:.4e} -> {online_end:.4e}, \
         ratio {:.3e}",
        online_end / online_start
    );
    let loss_start = window_loss(&initial, &eval)?;
    let loss_end = window_loss(&student, &eval)?;
    println!(
        "held-out loss (mean over t = {eval_t0} .. {}, frozen parameters): \
         {loss_start:.4e} -> {loss_end:.4e}, ratio {:.3e}",
        eval_t0 + EVAL_STEPS as f64 * DT,
        loss_end / loss_start
    );
    println!("training took {train_seconds:.2} s");

    heading("4. Local update vs exact gradient (student's initial parameters)");
    let window = Window::sample(&train, 0.0, DT, WINDOW);
    // Local: the online rule's estimate, accumulated over the window from rest, no updates.
    let mut local_grad = vec![0.0; QuickNet::PARAMS];
    let mut state = vec![0.0; QuickNet::STATE];
    let mut local = vec![0.0; QuickNet::LOCAL];
    let (mut x, mut y) = ([0.0], [0.0]);
    for n in 0..WINDOW {
        train.at(n as f64 * DT, &mut x, &mut y);
        QuickNet::online_step(
            &initial,
            &mut state,
            &mut local,
            &x,
            &y,
            BETA,
            0.0,
            DT,
            &mut local_grad,
        );
    }
    // Exact: backpropagation through the same Euler steps (the discrete gradient).
    let (_, exact_grad) =
        exact_gradient::<QuickNet, f64>(&initial, &window.xs, &window.ys, DT, BETA, Tape::Full)?;
    let mask = learnable_mask::<QuickNet>();
    let cosine_all = cosine(&local_grad, &exact_grad, &mask);
    println!("window: {WINDOW} steps from t = 0, from rest");
    println!(
        "  {:<14} {:>8} {:>12} {:>12}",
        "tensor", "cosine", "|local|", "|exact|"
    );
    for info in QuickNet::param_info().iter().filter(|i| i.learnable) {
        let r = info.range();
        println!(
            "  {:<14} {:>8.4} {:>12.4e} {:>12.4e}",
            info.name,
            cosine(
                &local_grad[r.clone()],
                &exact_grad[r.clone()],
                &mask[r.clone()]
            ),
            norm(&local_grad[r.clone()]),
            norm(&exact_grad[r]),
        );
    }
    println!("  {:<14} {cosine_all:>8.4}", "all learned");
    println!(
        "(τr = τm neurons: the local rule is exact up to discretisation; the lagging neuron's \
         error has the right phase but a larger gain, docs/theory.md §5)"
    );

    let seconds = started.elapsed().as_secs_f64();
    heading("Summary");
    println!(
        "held-out loss {loss_start:.3e} -> {loss_end:.3e} (ratio {:.2e}) after {TRAIN_STEPS} \
         online steps; cosine(local, exact) = {cosine_all:.4}; {seconds:.2} s",
        loss_end / loss_start
    );
    println!(
        "{{\"example\":\"quickstart\",\"loss_start\":{loss_start:e},\"loss_end\":{loss_end:e},\
         \"loss_ratio\":{:e},\"online_loss_start\":{online_start:e},\
         \"online_loss_end\":{online_end:e},\"cosine_local_vs_exact\":{cosine_all},\
         \"steps\":{TRAIN_STEPS},\"seconds\":{seconds:.3}}}",
        loss_end / loss_start
    );
    Ok(())
}
