//! Models shared by the end-to-end tests.
#![allow(dead_code)]

use vle::vle_model;

vle_model! {
    /// The LagNet of docs/theory.md §8: 1 → 2 → 2 → 1, tanh hidden layers with one instantaneous
    /// (τr = τm) and one lagging (τr < τm) neuron each, linear output.
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
        learn W, b, tau_m, tau_r;
    }
}

vle_model! {
    /// A non-GLE neuron: a leaky membrane with an adaptation current `a` of its own time
    /// constant, which the linear filter input → prospective gains a second pole and zero from.
    pub network AdaptNet {
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
        input x: 2;
        layer h: 3 = Adaptive { phi: softplus, tau_m: 1.0, tau_r: [1.0, 0.3, 0.3], tau_a: 2.0, k: 0.5 } <- x + bias;
        layer out: 2 = Gle { tau_m: 0.5, tau_r: 0.5 } <- h + bias;
        energy = 0.5 * sum_sq(e, e_a) + beta * mse(out.r, target);
        learn W, b, tau_m, tau_r, tau_a, k;
    }
}

vle_model! {
    /// A mixed layer as in the MNIST-1D configuration (instantaneous and memory units side by
    /// side), a recurrent projection, a user formula and a cross-entropy output.
    pub network MixedNet {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        fn softsign(z) = z / (1 + z^2)^0.5;
        input x: 1;
        layer h: 5 = Gle { phi: tanh, tau_m: [1.2; 2, 0.6; 3], tau_r: [1.2; 2, 0.2; 3] } <- x + bias;
        layer g: 4 = Gle { phi: softsign, tau_m: 1.0, tau_r: [1.0, 1.0, 0.3, 0.3] } <- h + g;
        layer out: 3 = Gle { phi: identity, tau_m: 0.4, tau_r: 0.4 } <- g + bias;
        energy = 0.5 * sum_sq(e) + beta * cross_entropy(out.r, target);
        learn W, b, tau_m, tau_r;
    }
}

vle_model! {
    /// Instantaneous (LE) units everywhere: τr = τm.
    pub network LeNet {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 2;
        layer h1: 4 = Gle { phi: tanh, tau_m: [0.5, 1.0, 2.0, 0.7], tau_r: [0.5, 1.0, 2.0, 0.7] } <- x + bias;
        layer h2: 3 = Gle { phi: sigmoid, tau_m: 1.5, tau_r: 1.5 } <- h1 + bias;
        layer out: 2 = Gle { phi: identity, tau_m: 0.3, tau_r: 0.3 } <- h2 + bias;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, b;
    }
}

vle_model! {
    /// One linear GLE neuron driven by the input (docs/theory.md §7, closed forms).
    pub network Linear {
        neuron Gle {
            param tau_m, tau_r;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = ubreve;
        }
        input x: 1;
        layer out: 1 = Gle { tau_m: 1.0, tau_r: 0.25 } <- x;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, tau_m, tau_r;
    }
}

vle_model! {
    /// A chain x → h → out of linear neurons: h lags (τr < τm), out is instantaneous, so the
    /// error reaching h is a pure sinusoid under sinusoidal drive (docs/theory.md §5 phase/gain).
    pub network Chain {
        neuron Gle {
            param tau_m, tau_r;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = ubreve;
        }
        input x: 1;
        layer h: 1 = Gle { tau_m: 1.0, tau_r: 0.2 } <- x;
        layer out: 1 = Gle { tau_m: 0.5, tau_r: 0.5 } <- h;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W;
    }
}
