// The prospective quantity's d(u) coefficient is a parameter that is 0 in one neuron: the local
// rule's inversion of the input→prospective filter divides by it.
use vle::vle_model;

vle_model! {
    network Net {
        neuron Gle {
            param tau_m, k;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + k * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer h: 2 = Gle { phi: tanh, tau_m: 1.0, k: [0.5, 0.0] } <- x + bias;
        layer out: 1 = Gle { phi: identity, tau_m: 1.0, k: 1.0 } <- h;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, b;
    }
}

fn main() {}
