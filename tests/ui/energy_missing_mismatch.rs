// The energy's `sum_sq` omits the mismatch `e_a` of the adaptive neuron.
use vle::vle_model;

vle_model! {
    network Net {
        neuron Adaptive {
            param tau_m, tau_r, tau_a, k;
            activation phi;
            state u, a;
            mismatch e = u + tau_m * d(u) + k * a - input;
            mismatch e_a = a + tau_a * d(a) - u;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer out: 2 = Adaptive { phi: tanh, tau_m: 1.0, tau_r: 0.5, tau_a: 5.0, k: 0.3 } <- x + bias;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, b;
    }
}

fn main() {}
