//! Code shared by the examples (lagline, lagnet, custom_neuron, mnist1d, peer_reference): input
//! signals, the teacher's target stream, the instantaneous-backprop (LE) rule, progress bars,
//! CSV files, PNG plots, the closing JSON line and `main`'s error report.
//!
//! Included by each example with `mod common;` (not an example itself: Cargo only builds
//! `examples/*.rs` and `examples/*/main.rs`).
#![allow(dead_code)]

use std::error::Error;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use plotters::style::FontStyle;
use vle::{Network, ParamKind, Signal};

pub type Res<T> = Result<T, Box<dyn Error>>;

// ---------------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------------

/// SplitMix64 of (seed, k): a deterministic hash for infinite random sequences.
pub fn hash_u64(seed: u64, k: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0xD1B5_4A32_D192_ED03)
        .wrapping_add(k.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in [0, 1) from [`hash_u64`].
pub fn hash_unit(seed: u64, k: u64) -> f64 {
    (hash_u64(seed, k) >> 11) as f64 / (1u64 << 53) as f64
}

/// A train of smoothed steps: level L_k (uniform in `[lo, hi]`, drawn from `seed`) from
/// t = k·hold on, for every integer k ≥ 0 (L_{−1} = 0: the stream starts with a step up from
/// rest). Each step is a logistic ramp of width `width` centred on its step time, so x(t) is
/// smooth. Infinite and non-repeating; evaluating it at any t costs O(1).
#[derive(Clone, Debug)]
pub struct SmoothedSteps {
    pub seed: u64,
    pub hold: f64,
    pub width: f64,
    pub lo: f64,
    pub hi: f64,
}

impl SmoothedSteps {
    pub fn level(&self, k: i64) -> f64 {
        if k < 0 {
            0.0
        } else {
            self.lo + (self.hi - self.lo) * hash_unit(self.seed, k as u64)
        }
    }

    pub fn eval(&self, t: f64) -> f64 {
        // The step nearest to t dominates; the neighbours' ramps are below e^{-hold/(2 width)}.
        let k = (t / self.hold).round() as i64;
        let (before, after) = (self.level(k - 1), self.level(k));
        let z = (t - k as f64 * self.hold) / self.width;
        before + (after - before) / (1.0 + (-z).exp())
    }
}

/// The output of a teacher network on the dt grid, sampled once, as a [`Signal`]: x(t) from
/// `input`, y(t) the teacher's output at t (linear interpolation between grid points, so the
/// RK4 midpoints of the continuous adjoint see a smooth target).
pub struct TeacherSignal<F: Fn(f64) -> f64> {
    pub input: F,
    pub targets: Vec<f64>,
    pub dt: f64,
}

impl<F: Fn(f64) -> f64> TeacherSignal<F> {
    /// Simulates teacher `N` (parameters `p`, from rest) for `steps` steps of `dt` from t = 0,
    /// with the generated Euler step. One input, one output.
    pub fn new<N: Network>(p: &[f64], input: F, dt: f64, steps: usize) -> Self {
        assert!(N::INPUT == 1 && N::OUTPUT == 1);
        let mut state = vec![0.0; N::STATE];
        let mut r = [0.0];
        let mut targets = Vec::with_capacity(steps + 2);
        for n in 0..=steps + 1 {
            N::output(p, &state, &mut r);
            targets.push(r[0]);
            N::euler_step(p, &mut state, &[input(n as f64 * dt)], dt);
        }
        TeacherSignal { input, targets, dt }
    }

    pub fn target(&self, t: f64) -> f64 {
        let s = (t / self.dt).max(0.0);
        let n = s.floor() as usize;
        if n + 1 >= self.targets.len() {
            return *self.targets.last().unwrap();
        }
        let f = s - n as f64;
        // Exactly on the grid (up to rounding of n·dt) return the sample itself.
        if f < 1e-9 {
            return self.targets[n];
        }
        if f > 1.0 - 1e-9 {
            return self.targets[n + 1];
        }
        (1.0 - f) * self.targets[n] + f * self.targets[n + 1]
    }

    /// Number of simulated grid points.
    pub fn len(&self) -> usize {
        self.targets.len()
    }
}

impl<F: Fn(f64) -> f64> Signal for TeacherSignal<F> {
    fn input_dim(&self) -> usize {
        1
    }
    fn target_dim(&self) -> usize {
        1
    }
    fn at(&self, t: f64, x: &mut [f64], y: &mut [f64]) {
        x[0] = (self.input)(t);
        y[0] = self.target(t);
    }
}

// ---------------------------------------------------------------------------------------------
// The instantaneous-backprop (LE) rule
// ---------------------------------------------------------------------------------------------

/// The activation derivative of a layer as a function of its prospective potential ŭ.
pub type Activation = fn(f64) -> f64;

pub fn softplus(z: f64) -> f64 {
    if z > 30.0 {
        z
    } else {
        z.exp().ln_1p()
    }
}
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}
pub fn identity(z: f64) -> f64 {
    z
}
pub fn one(_: f64) -> f64 {
    1.0
}
pub fn tanh(z: f64) -> f64 {
    z.tanh()
}
pub fn tanh_prime(z: f64) -> f64 {
    1.0 - z.tanh().powi(2)
}

/// Instantaneous backpropagation, the learning rule of Latent Equilibrium (LE), for a
/// feed-forward network of GLE neurons (state `u`, mismatch e = u + τm u̇ − input, prospective
/// ŭ = u + τr u̇, rate r = φ(ŭ)) with an `mse` loss on the output layer.
///
/// It is the local rule of docs/theory.md §5 with every error neuron replaced by the identity,
/// ε_l = ê_l = φ'_l(ŭ_l) ⊙ (Σ_post W_postᵀ ε_post) (top layer: β φ'_L ⊙ (y − r_L)), and the same
/// plasticity: ΔW = −dt ε r_preᵀ, Δb = −dt ε, Δτm = dt ε ⊙ u̇, Δτr = −dt ê ⊙ u̇ (gradient
/// estimates, descend with `p -= lr · grad`). For τr = τm the GLE error neuron *is* the
/// identity, so this function must reproduce the generated [`Network::online_step`] to
/// rounding there: [`LeRule::check_against_generated`] tests exactly that. For τr ≠ τm it
/// ignores the neurons' lag in the backward pass (the errors arrive with the wrong phase),
/// which is the baseline GLE improves on.
///
/// The discrete timing is that of the generated code (docs/theory.md §6): all quantities from the
/// state before the step, each layer reading the error the layers above sent in the previous
/// step (−Wᵀε with that step's weights, before the caller's update); the forward step is the
/// generated [`Network::euler_step`].
pub struct LeRule<N: Network> {
    layers: Vec<LeLayer>,
    /// Errors of the last step, one per neuron (layer by layer).
    pub errors: Vec<f64>,
    /// Per layer, g_r = −Σ_post W_postᵀ ε_post sent by the last step.
    sent: Vec<Vec<f64>>,
    _n: std::marker::PhantomData<N>,
}

struct LeLayer {
    size: usize,
    u: usize,
    p: usize,
    err: usize,
    /// (offset of W, index of the presynaptic layer or None for the input, presynaptic size).
    weights: Vec<(usize, Option<usize>, usize)>,
    bias: Option<usize>,
    tau_m: usize,
    tau_r: usize,
    phi: Activation,
    phi_prime: Activation,
}

impl<N: Network> LeRule<N> {
    /// `activations[l] = (φ, φ')` of layer l, in declaration order. Fails for layouts this
    /// rule does not cover (recurrent projections, neurons without `u`/`tau_m`/`tau_r`).
    pub fn new(activations: &[(Activation, Activation)]) -> Res<Self> {
        let infos = N::layer_info();
        if activations.len() != infos.len() {
            return Err(format!(
                "{}: {} activations given for {} layers",
                N::NAME,
                activations.len(),
                infos.len()
            )
            .into());
        }
        let mut layers = Vec::new();
        let mut err = 0;
        for (l, info) in infos.iter().enumerate() {
            let u = info
                .states
                .iter()
                .find(|(s, _)| *s == "u")
                .filter(|_| info.states.len() == 1)
                .ok_or_else(|| format!("layer `{}` is not a one-state GLE neuron", info.name))?
                .1;
            let mut weights = Vec::new();
            let (mut bias, mut tau_m, mut tau_r) = (None, None, None);
            for p in N::param_info().iter().filter(|p| p.layer == info.name) {
                match p.kind {
                    ParamKind::Weight { pre, recurrent } => {
                        if recurrent {
                            return Err(format!("`{}` is recurrent", p.name).into());
                        }
                        let idx = infos.iter().position(|i| i.name == pre);
                        weights.push((p.offset, idx, p.cols));
                    }
                    ParamKind::Bias => bias = Some(p.offset),
                    ParamKind::Neuron if p.symbol == "tau_m" => tau_m = Some(p.offset),
                    ParamKind::Neuron if p.symbol == "tau_r" => tau_r = Some(p.offset),
                    ParamKind::Neuron => {
                        return Err(format!("`{}`: not a GLE neuron parameter", p.name).into())
                    }
                }
            }
            layers.push(LeLayer {
                size: info.size,
                u,
                p: info.prospective_offset,
                err,
                weights,
                bias,
                tau_m: tau_m.ok_or("no tau_m")?,
                tau_r: tau_r.ok_or("no tau_r")?,
                phi: activations[l].0,
                phi_prime: activations[l].1,
            });
            err += info.size;
        }
        Ok(LeRule {
            sent: layers.iter().map(|l| vec![0.0; l.size]).collect(),
            layers,
            errors: vec![0.0; err],
            _n: std::marker::PhantomData,
        })
    }

    pub fn reset(&mut self) {
        self.errors.iter_mut().for_each(|e| *e = 0.0);
        self.sent.iter_mut().flatten().for_each(|g| *g = 0.0);
    }

    /// One step: errors, gradient estimate `dt · ĝ` added into `grad`, then the forward step.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        p: &[f64],
        state: &mut [f64],
        x: &[f64],
        y: &[f64],
        beta: f64,
        dt: f64,
        grad: &mut [f64],
    ) {
        let nl = self.layers.len();
        // Rates and derivatives before the step.
        let rates: Vec<Vec<f64>> = self
            .layers
            .iter()
            .map(|l| (0..l.size).map(|i| (l.phi)(state[l.p + i])).collect())
            .collect();
        // g_r sent by the previous step, top layer β (r − y); its buffer takes this step's
        // errors sent down at the end.
        let mut g_r = std::mem::take(&mut self.sent);
        for (i, g) in g_r[nl - 1].iter_mut().enumerate() {
            *g += beta * (rates[nl - 1][i] - y[i]);
        }
        let mut next = self.errors.clone();
        for (l, layer) in self.layers.iter().enumerate() {
            for i in 0..layer.size {
                let mut input = layer.bias.map_or(0.0, |b| p[b + i]);
                for &(w, pre, cols) in &layer.weights {
                    for j in 0..cols {
                        let r = pre.map_or(x[j], |k| rates[k][j]);
                        input += p[w + i * cols + j] * r;
                    }
                }
                let u = state[layer.u + i];
                let tau_m = p[layer.tau_m + i];
                let u_dot = (input - u) / tau_m;
                let e_hat = -g_r[l][i] * (layer.phi_prime)(state[layer.p + i]);
                let eps = e_hat; // the LE rule: no error filter
                next[layer.err + i] = eps;
                grad[layer.tau_m + i] += dt * eps * u_dot;
                grad[layer.tau_r + i] -= dt * e_hat * u_dot;
                if let Some(b) = layer.bias {
                    grad[b + i] -= dt * eps;
                }
                for &(w, pre, cols) in &layer.weights {
                    for j in 0..cols {
                        let r = pre.map_or(x[j], |k| rates[k][j]);
                        grad[w + i * cols + j] -= dt * eps * r;
                    }
                }
            }
        }
        self.errors = next;
        // The new errors sent down with this step's weights.
        g_r.iter_mut().flatten().for_each(|g| *g = 0.0);
        self.sent = g_r;
        for post in &self.layers {
            for &(w, pre, cols) in &post.weights {
                if let Some(pre) = pre {
                    for i in 0..post.size {
                        for (j, g) in self.sent[pre].iter_mut().enumerate().take(cols) {
                            *g -= p[w + i * cols + j] * self.errors[post.err + i];
                        }
                    }
                }
            }
        }
        N::euler_step(p, state, x, dt);
    }

    /// Runs this rule and the generated `online_step` side by side for `steps` steps on
    /// parameters `p` with every τr set to τm (LE neurons), where the two must coincide. The
    /// weights change from step to step (a stand-in for learning), so that the errors' timing is
    /// checked too: which step's weights send them. Returns the largest difference of the
    /// accumulated gradients relative to their largest entry, and of the states and errors.
    pub fn check_against_generated<S: Signal>(
        &mut self,
        p: &[f64],
        signal: &S,
        dt: f64,
        beta: f64,
        steps: usize,
    ) -> (f64, f64) {
        let mut q = p.to_vec();
        for l in &self.layers {
            for i in 0..l.size {
                q[l.tau_r + i] = q[l.tau_m + i];
            }
        }
        self.reset();
        let (mut s1, mut s2) = (vec![0.0; N::STATE], vec![0.0; N::STATE]);
        let mut local = vec![0.0; N::LOCAL];
        let (mut g1, mut g2) = (vec![0.0; N::PARAMS], vec![0.0; N::PARAMS]);
        let (mut x, mut y) = (vec![0.0; N::INPUT], vec![0.0; N::OUTPUT]);
        let mut worst_state: f64 = 0.0;
        let weights: Vec<std::ops::Range<usize>> = N::param_info()
            .iter()
            .filter(|i| matches!(i.kind, ParamKind::Weight { .. }))
            .map(|i| i.range())
            .collect();
        for n in 0..steps {
            for (k, r) in weights.iter().enumerate() {
                let f = 1.0 + 0.01 * (0.37 * n as f64 + k as f64).sin();
                q[r.clone()].iter_mut().for_each(|w| *w *= f);
            }
            signal.at(n as f64 * dt, &mut x, &mut y);
            self.step(&q, &mut s1, &x, &y, beta, dt, &mut g1);
            N::online_step(&q, &mut s2, &mut local, &x, &y, beta, 0.0, dt, &mut g2);
            for (a, b) in s1.iter().zip(&s2) {
                worst_state = worst_state.max((a - b).abs());
            }
            for (l, info) in self.layers.iter().zip(N::layer_info()) {
                for i in 0..l.size {
                    let d = self.errors[l.err + i] - local[info.local_error_offset + i];
                    worst_state = worst_state.max(d.abs());
                }
            }
        }
        self.reset();
        let scale = g2.iter().fold(0.0f64, |m, g| m.max(g.abs())).max(1e-300);
        let worst_grad = g1
            .iter()
            .zip(&g2)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
            / scale;
        (worst_grad, worst_state)
    }
}

// ---------------------------------------------------------------------------------------------
// Small numerics
// ---------------------------------------------------------------------------------------------

pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let ab: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let (aa, bb): (f64, f64) = (a.iter().map(|x| x * x).sum(), b.iter().map(|x| x * x).sum());
    ab / (aa.sqrt() * bb.sqrt()).max(f64::MIN_POSITIVE)
}

pub fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Mean of `v` over consecutive bins of `bin` entries (a shorter last bin is kept).
pub fn bin_means(v: &[f64], bin: usize) -> Vec<f64> {
    v.chunks(bin.max(1)).map(mean).collect()
}

/// Mean instantaneous loss of frozen parameters `p` over `steps` steps from `t0`, from rest.
/// Errors as [`vle::discrete_loss`] (a bad step, non-finite values).
pub fn frozen_loss<N: Network, S: Signal>(
    p: &[f64],
    signal: &S,
    t0: f64,
    dt: f64,
    steps: usize,
) -> Result<f64, vle::Error> {
    let w = vle::Window::sample(signal, t0, dt, steps);
    let mut state = vec![0.0; N::STATE];
    Ok(vle::discrete_loss::<N, f64>(p, &mut state, &w.xs, &w.ys, dt, 1.0)? / (dt * steps as f64))
}

/// Local-rule gradient (generated `online_step`, γ = 0, from rest) and exact discrete
/// gradient (generated backward sweep) of the same window, and the per-tensor cosines over
/// the learnable tensors: `(name, cosine, |local|, |exact|)`.
pub struct GradientComparison {
    pub local: Vec<f64>,
    pub exact: Vec<f64>,
    pub tensors: Vec<(&'static str, f64, f64, f64)>,
    pub overall: f64,
}

pub fn compare_gradients<N: Network, S: Signal>(
    p: &[f64],
    signal: &S,
    dt: f64,
    beta: f64,
    steps: usize,
) -> Res<GradientComparison> {
    let local = vle::verify::check::local_gradient::<N, S>(p, signal, dt, steps, beta);
    let w = vle::Window::sample(signal, 0.0, dt, steps);
    let (_, exact) = vle::exact_gradient::<N, f64>(p, &w.xs, &w.ys, dt, beta, vle::Tape::Full)?;
    let mut tensors = Vec::new();
    let (mut la, mut ea) = (Vec::new(), Vec::new());
    for info in N::param_info().iter().filter(|i| i.learnable) {
        let r = info.range();
        tensors.push((
            info.name,
            cosine(&local[r.clone()], &exact[r.clone()]),
            norm(&local[r.clone()]),
            norm(&exact[r.clone()]),
        ));
        la.extend_from_slice(&local[r.clone()]);
        ea.extend_from_slice(&exact[r]);
    }
    let overall = cosine(&la, &ea);
    Ok(GradientComparison {
        local,
        exact,
        tensors,
        overall,
    })
}

/// The discrete dual check on the example's own task: the generated exact gradient (backward
/// sweep through the Euler steps) of a window of `steps` steps from rest against forward-mode
/// dual numbers through the generated forward step (`vle::verify::dual`), every learnable
/// entry. Prints one line and returns the worst relative error (per tensor, relative to the
/// tensor's largest reference entry); fails above 1e-9 (both are exact derivatives of the same
/// f64 computation, so they differ by rounding only).
pub fn verify_gradients<N: Network, S: Signal>(
    p: &[f64],
    signal: &S,
    dt: f64,
    beta: f64,
    steps: usize,
) -> Res<f64> {
    const TOLERANCE: f64 = 1e-9;
    let w = vle::Window::sample(signal, 0.0, dt, steps);
    let (loss, generated) =
        vle::exact_gradient::<N, f64>(p, &w.xs, &w.ys, dt, beta, vle::Tape::Full)?;
    let mut worst: f64 = 0.0;
    let mut worst_at = "";
    let mut checked = 0;
    for info in N::param_info().iter().filter(|i| i.learnable) {
        let idx: Vec<usize> = info.range().collect();
        let (ref_loss, reference) =
            vle::verify::dual::dual_gradient::<N>(p, &w.xs, &w.ys, dt, beta, &idx);
        let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (k, &i) in idx.iter().enumerate() {
            let rel = (generated[i] - reference[k]).abs() / scale.max(f64::MIN_POSITIVE);
            if rel > worst || rel.is_nan() {
                worst = rel;
                worst_at = info.name;
            }
        }
        checked += idx.len();
        let loss_rel = (ref_loss - loss).abs() / ref_loss.abs().max(f64::MIN_POSITIVE);
        if loss_rel > TOLERANCE || loss_rel.is_nan() {
            return Err(
                format!("{}: generated loss {loss} vs reference {ref_loss}", N::NAME).into(),
            );
        }
    }
    println!(
        "gradient check of {} on this task ({steps} steps from rest, the student's start): \
         generated exact gradient vs dual numbers, {checked} entries, worst relative error \
         {worst:.2e} (in {worst_at}; tolerance {TOLERANCE:.0e})",
        N::NAME
    );
    if worst > TOLERANCE || worst.is_nan() {
        return Err(format!(
            "gradient check of {} failed: relative error {worst:e} in `{worst_at}` exceeds \
             {TOLERANCE:e}",
            N::NAME
        )
        .into());
    }
    Ok(worst)
}

// ---------------------------------------------------------------------------------------------
// Progress, files, JSON
// ---------------------------------------------------------------------------------------------

/// A progress bar with ETA and a message (running loss); hidden when stdout is not a terminal.
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{elapsed_precise}] {wide_bar} {percent:>3}% ETA {eta:>4} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// The output folder: `--out` or `results/<example>/`, created.
pub fn out_dir(out: &Option<PathBuf>, example: &str) -> Res<PathBuf> {
    let dir = out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(example));
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create the output folder {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Writes a CSV with a header row; all columns must have the same length.
pub fn write_csv(path: &Path, header: &[&str], columns: &[&[f64]]) -> Res<()> {
    let rows = columns.first().map_or(0, |c| c.len());
    if header.len() != columns.len() || columns.iter().any(|c| c.len() != rows) {
        return Err(format!("{}: ragged CSV columns", path.display()).into());
    }
    let mut s = header.join(",");
    s.push('\n');
    for r in 0..rows {
        for (k, c) in columns.iter().enumerate() {
            if k > 0 {
                s.push(',');
            }
            write!(s, "{:e}", c[r]).unwrap();
        }
        s.push('\n');
    }
    let tmp = path.with_extension("csv.tmp");
    std::fs::write(&tmp, s).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// A JSON number (non-finite values become `null`).
pub fn jnum(v: f64) -> String {
    if v.is_finite() {
        format!("{v:e}")
    } else {
        "null".into()
    }
}

/// A JSON string.
pub fn jstr(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => write!(o, "\\u{:04x}", c as u32).unwrap(),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// `{"k":v,...}` from pairs whose values are already JSON.
pub fn json_object(pairs: &[(&str, String)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{v}", jstr(k)))
        .collect();
    format!("{{{}}}", body.join(","))
}

// ---------------------------------------------------------------------------------------------
// Plots
// ---------------------------------------------------------------------------------------------

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the shipped DejaVu Sans as plotters' "sans-serif" (no system fonts needed).
pub fn register_font() -> Res<()> {
    for style in [
        FontStyle::Normal,
        FontStyle::Bold,
        FontStyle::Italic,
        FontStyle::Oblique,
    ] {
        plotters::style::register_font("sans-serif", style, FONT)
            .map_err(|_| "the shipped font examples/assets/DejaVuSans.ttf is not a valid font")?;
    }
    Ok(())
}

/// One line of a panel.
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: usize,
    pub dashed: bool,
}

impl Line {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>, color: usize) -> Self {
        Line {
            label: label.into(),
            points,
            color,
            dashed: false,
        }
    }
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// One chart: lines on linear axes, or with a log10 y axis (non-positive values dropped).
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_y: bool,
    pub lines: Vec<Line>,
}

impl Panel {
    pub fn new(title: impl Into<String>, x_label: &str, y_label: &str) -> Self {
        Panel {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_y: false,
            lines: Vec::new(),
        }
    }
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }
    pub fn line(mut self, line: Line) -> Self {
        self.lines.push(line);
        self
    }
}

pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 86, 86),
    RGBColor(230, 159, 0),
];

/// Draws `panels` on a grid of `cols` columns into a PNG of `width × height` pixels.
pub fn plot_panels(path: &Path, panels: &[Panel], cols: usize, size: (u32, u32)) -> Res<()> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let rows = panels.len().div_ceil(cols.max(1));
    let areas = root.split_evenly((rows, cols.max(1)));
    for (panel, area) in panels.iter().zip(areas.iter()) {
        draw_panel(panel, area)?;
    }
    root.present()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

fn draw_panel(
    panel: &Panel,
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
) -> Res<()> {
    let tf = |y: f64| if panel.log_y { y.log10() } else { y };
    let lines: Vec<(&Line, Vec<(f64, f64)>)> = panel
        .lines
        .iter()
        .map(|l| {
            let pts = l
                .points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!panel.log_y || *y > 0.0))
                .map(|&(x, y)| (x, tf(y)))
                .collect();
            (l, pts)
        })
        .collect();
    let all = lines.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9 * y1.abs().max(1.0));
    let (y0, y1) = (y0 - pad, y1 + pad);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let log = panel.log_y;
    let y_fmt = move |v: &f64| {
        if log {
            if (v - v.round()).abs() < 1e-9 {
                format!("1e{}", v.round())
            } else {
                format!("{:.1e}", 10f64.powf(*v))
            }
        } else if v.abs() < 1e-12 {
            "0".to_string()
        } else {
            let s = format!("{v:.3}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s == "-0" {
                "0".to_string()
            } else {
                s.to_string()
            }
        }
    };
    let x_fmt = |v: &f64| {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    };
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&x_fmt)
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .y_label_formatter(&y_fmt)
        .label_style(("sans-serif", 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (line, pts) in &lines {
        let color = PALETTE[line.color % PALETTE.len()];
        // Wide strokes are drawn with miter joins, which spike at the sharp corners of noisy
        // curves: dense curves get one-pixel lines.
        let style = color.stroke_width(if pts.len() > 400 { 1 } else { 2 });
        let series = if line.dashed {
            chart.draw_series(DashedLineSeries::new(pts.iter().copied(), 8, 6, style))?
        } else {
            chart.draw_series(LineSeries::new(pts.iter().copied(), style))?
        };
        if !line.label.is_empty() {
            series
                .label(line.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
    }
    if panel.lines.iter().any(|l| !l.label.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    Ok(())
}

/// Runs an example's `run` and turns an error into a readable message and exit status 1
/// (instead of the `Debug` output of returning the error from `main`).
pub fn main_with(run: fn() -> Res<()>) -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Centred moving mean over `k` entries (shorter at the ends): smooths noisy loss curves for
/// plots (the CSVs keep the raw values).
pub fn moving_mean(v: &[f64], k: usize) -> Vec<f64> {
    let h = k / 2;
    (0..v.len())
        .map(|i| mean(&v[i.saturating_sub(h)..(i + h + 1).min(v.len())]))
        .collect()
}

/// Down-samples a curve to at most `max` points (keeps the first and last).
pub fn thin(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points;
    }
    let stride = points.len().div_ceil(max);
    let last = *points.last().unwrap();
    let mut out: Vec<_> = points.into_iter().step_by(stride).collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}
