//! LagNet: a network of GLE neurons declared with vle.

use vle::vle_model;

vle_model! {
    /// Two hidden layers of one instantaneous and one lagging tanh unit each, a linear readout.
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
