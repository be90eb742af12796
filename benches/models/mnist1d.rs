//! The MNIST-1D network of docs/theory.md §8, the benchmarks' main model (also what
//! `benches/compile_cost/run.sh` compiles on its own).
#![allow(dead_code)]

use vle::vle_model;

vle_model! {
    /// The MNIST-1D network of docs/theory.md §8: 1 input, 6 × 53 tanh units (17 instantaneous with
    /// τm = τr = 1.2; 36 memory units with τr = dt = 0.2 and τm = 0.6 or 1.2), 10 linear outputs.
    pub network Mnist1dNet {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer h1: 53 = Gle { phi: tanh, tau_m: [1.2; 17, 0.6; 18, 1.2; 18], tau_r: [1.2; 17, 0.2; 36] } <- x + bias;
        layer h2: 53 = Gle { phi: tanh, tau_m: [1.2; 17, 0.6; 18, 1.2; 18], tau_r: [1.2; 17, 0.2; 36] } <- h1 + bias;
        layer h3: 53 = Gle { phi: tanh, tau_m: [1.2; 17, 0.6; 18, 1.2; 18], tau_r: [1.2; 17, 0.2; 36] } <- h2 + bias;
        layer h4: 53 = Gle { phi: tanh, tau_m: [1.2; 17, 0.6; 18, 1.2; 18], tau_r: [1.2; 17, 0.2; 36] } <- h3 + bias;
        layer h5: 53 = Gle { phi: tanh, tau_m: [1.2; 17, 0.6; 18, 1.2; 18], tau_r: [1.2; 17, 0.2; 36] } <- h4 + bias;
        layer h6: 53 = Gle { phi: tanh, tau_m: [1.2; 17, 0.6; 18, 1.2; 18], tau_r: [1.2; 17, 0.2; 36] } <- h5 + bias;
        layer out: 10 = Gle { phi: identity, tau_m: 1.2, tau_r: 1.2 } <- h6 + bias;
        energy = 0.5 * sum_sq(e) + beta * cross_entropy(out.r, target);
        learn W, b;
    }
}
