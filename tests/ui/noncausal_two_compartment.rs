// A two-compartment neuron: the input drives the dendrite `v`, the prospective quantity
// differentiates the soma `u`, so it follows the input only through a chain of states.
use vle::vle_model;

vle_model! {
    network Net {
        neuron Two {
            param tau_m, tau_r, tau_d;
            activation phi;
            state u, v;
            mismatch e = u + tau_m * d(u) - v;
            mismatch e_v = v + tau_d * d(v) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer out: 1 = Two { phi: tanh, tau_m: 1.0, tau_r: 0.5, tau_d: 1.0 } <- x + bias;
        energy = 0.5 * sum_sq(e, e_v) + beta * mse(out.r, target);
        learn W, b;
    }
}

fn main() {}
