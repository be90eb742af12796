// A repeat count of 0 in a parameter list.
use vle::vle_model;

vle_model! {
    network Net {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer h: 2 = Gle { phi: tanh, tau_m: 1.0, tau_r: [0.5; 0, 1.0; 2] } <- x + bias;
        layer out: 1 = Gle { phi: identity, tau_m: 1.0, tau_r: 1.0 } <- h;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, b;
    }
}

fn main() {}
