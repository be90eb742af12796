// Temporary probe (not committed): local vs exact gradient alignment on MNIST-1D samples.
#[path = "../benches/models/mod.rs"]
mod models;
use models::Mnist1dNet as N;
use vle::data::mnist1d::{generate, Mnist1dConfig};
use vle::{HeldSequence, Network};

fn cos(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    d / (a.iter().map(|x| x * x).sum::<f64>().sqrt() * b.iter().map(|x| x * x).sum::<f64>().sqrt())
}

fn main() {
    let len: usize = std::env::args().nth(1).map_or(40, |a| a.parse().unwrap());
    let hold = 360 / len;
    let data = generate(&Mnist1dConfig { final_seq_length: len, ..Mnist1dConfig::default() }).unwrap();
    let p: Vec<f64> = vle::params::init_params::<N, f64>(0);
    let dt = 0.2;
    let nsamp = 20;
    let (mut gl, mut ge) = (vec![0.0; N::PARAMS], vec![0.0; N::PARAMS]);
    for i in 0..nsamp {
        let mut y = vec![0.0; 10];
        y[data.y_train[i]] = 1.0;
        let sig = HeldSequence::new(data.train_sample(i).to_vec(), 1, hold, dt, y);
        let l = vle::verify::check::local_gradient::<N, _>(&p, &sig, dt, 360, 1.0);
        let w = vle::Window::sample(&sig, 0.0, dt, 360);
        let (_, e) = vle::exact_gradient::<N, f64>(&p, &w.xs, &w.ys, dt, 1.0, vle::Tape::Full).unwrap();
        gl.iter_mut().zip(&l).for_each(|(a, b)| *a += b);
        ge.iter_mut().zip(&e).for_each(|(a, b)| *a += b);
    }
    println!("MNIST-1D net at init (seed 0), input length {len} held {hold} steps, gradient summed over {nsamp} training samples (360 steps each):");
    let (mut la, mut ea) = (Vec::new(), Vec::new());
    for info in N::param_info().iter().filter(|i| i.learnable) {
        let r = info.range();
        let nl = gl[r.clone()].iter().map(|x| x * x).sum::<f64>().sqrt();
        let ne = ge[r.clone()].iter().map(|x| x * x).sum::<f64>().sqrt();
        println!("  {:<10} cosine {:>7.4}  |local| {:.3e} |exact| {:.3e}", info.name, cos(&gl[r.clone()], &ge[r.clone()]), nl, ne);
        la.extend_from_slice(&gl[r.clone()]);
        ea.extend_from_slice(&ge[r]);
    }
    println!("  overall cosine {:.4}", cos(&la, &ea));
}
