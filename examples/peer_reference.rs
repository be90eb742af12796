//! Reference results for the peer benchmarks (`benches/peers/peers.py --check`): the MNIST-1D
//! network of `benches/models/mod.rs` in f64, fixed seeded parameters, a fixed batch of held
//! inputs and one-hot targets; 360 online steps (the local rule, per-sample `online_step` into
//! one shared accumulator, as `OnlineTrainer::run` does) and the exact gradient of the same
//! 360-step window (`batch_gradient`, full tape). Everything goes into one `.npz`.
//!
//! ```sh
//! cargo run --release --example peer_reference -- benches/peers/reference.npz
//! ```

mod common;
#[path = "../benches/models/mod.rs"]
mod models;

use models::Mnist1dNet as Net;
use vle::io::{write_npz, Array};
use vle::{Bptt, Network, Rng, Tape};

const BATCH: usize = 3;
const STEPS: usize = 360;
const HOLD: usize = 9;
const DT: f64 = 0.2;
const BETA: f64 = 1.0;
const GAMMA: f64 = 0.0;

fn main() -> std::process::ExitCode {
    common::main_with(run)
}

/// Writes vle's f64 reference results of the MNIST-1D network (online steps and the exact
/// gradient of a window) for the peer harness's agreement check (`benches/peers/peers.py --check`).
#[derive(clap::Parser)]
#[command(version)]
struct Args {
    /// Output `.npz` file (its folder is created).
    #[arg(default_value = "benches/peers/reference.npz")]
    out: String,
}

fn run() -> common::Res<()> {
    let out = <Args as clap::Parser>::parse().out;
    let p: Vec<f64> = vle::init_params::<Net, f64>(7);
    vle::validate_params::<Net, f64>(&p, DT)?;

    // Inputs: per sample, 40 standard-normal values held for 9 steps; targets: one-hot class b.
    let mut rng = Rng::new(11);
    let (ni, no) = (Net::INPUT, Net::OUTPUT);
    let mut xs = vec![0.0; BATCH * STEPS * ni];
    let mut ys = vec![0.0; BATCH * STEPS * no];
    for b in 0..BATCH {
        let mut v = 0.0;
        for n in 0..STEPS {
            if n % HOLD == 0 {
                v = rng.normal();
            }
            xs[(b * STEPS + n) * ni] = v;
            ys[(b * STEPS + n) * no + (3 * b + 1) % no] = 1.0;
        }
    }

    // Online: STEPS steps of every sample from the zero state, one shared accumulator.
    let mut states = vec![0.0; BATCH * Net::STATE];
    let mut local = vec![0.0; BATCH * Net::LOCAL];
    let mut grad_online = vec![0.0; Net::PARAMS];
    for n in 0..STEPS {
        for b in 0..BATCH {
            let (ix, iy) = ((b * STEPS + n) * ni, (b * STEPS + n) * no);
            Net::online_step(
                &p,
                &mut states[b * Net::STATE..(b + 1) * Net::STATE],
                &mut local[b * Net::LOCAL..(b + 1) * Net::LOCAL],
                &xs[ix..ix + ni],
                &ys[iy..iy + no],
                BETA,
                GAMMA,
                DT,
                &mut grad_online,
            );
        }
    }

    // Exact: the batch-mean loss L = β·dt·Σ_{n=1..N} ℓ(state_n, y_n) of the same window and
    // its gradient (all entries, also the non-learnable time constants).
    let mut states_exact = vec![0.0; BATCH * Net::STATE];
    let mut grad_exact = vec![0.0; Net::PARAMS];
    let loss_exact = vle::batch_gradient(
        &mut Bptt::<Net, f64>::new(),
        &p,
        &mut states_exact,
        &xs,
        &ys,
        DT,
        BETA,
        Tape::Full,
        &mut grad_exact,
    )?;

    // Layouts, so that the peers can check they read the flat vectors the same way.
    let params = Net::param_info();
    let param_layout: Vec<i64> = params
        .iter()
        .flat_map(|i| [i.offset as i64, i.rows as i64, i.cols as i64])
        .collect();
    let layers = Net::layer_info();
    let layer_layout: Vec<i64> = layers
        .iter()
        .flat_map(|l| {
            [
                l.size as i64,
                l.states[0].1 as i64,
                l.prospective_offset as i64,
                l.local_error_offset as i64,
            ]
        })
        .collect();

    let arrays = [
        ("params", Array::from_f64(vec![Net::PARAMS], p)?),
        ("xs", Array::from_f64(vec![BATCH, STEPS * ni], xs)?),
        ("ys", Array::from_f64(vec![BATCH, STEPS * no], ys)?),
        (
            "states_online",
            Array::from_f64(vec![BATCH, Net::STATE], states)?,
        ),
        (
            "local_online",
            Array::from_f64(vec![BATCH, Net::LOCAL], local)?,
        ),
        (
            "grad_online",
            Array::from_f64(vec![Net::PARAMS], grad_online)?,
        ),
        (
            "states_exact",
            Array::from_f64(vec![BATCH, Net::STATE], states_exact)?,
        ),
        ("loss_exact", Array::from_f64(vec![1], vec![loss_exact])?),
        (
            "grad_exact",
            Array::from_f64(vec![Net::PARAMS], grad_exact)?,
        ),
        ("hyper", Array::from_f64(vec![3], vec![DT, BETA, GAMMA])?),
        (
            "param_layout",
            Array::from_i64(vec![params.len(), 3], param_layout)?,
        ),
        (
            "layer_layout",
            Array::from_i64(vec![layers.len(), 4], layer_layout)?,
        ),
    ];
    let named: Vec<(&str, &Array)> = arrays.iter().map(|(n, a)| (*n, a)).collect();
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_npz(&out, &named)?;
    println!(
        "{}: {} parameters, batch {BATCH}, {STEPS} steps, exact loss {loss_exact:.6e}",
        out,
        Net::PARAMS
    );
    Ok(())
}
