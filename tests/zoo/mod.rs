//! The property-test zoo: declared models that together cover every feature of the DSL.
//!
//! | model            | depth | units                         | nonlinearities                         | loss          | recurrent |
//! |------------------|-------|-------------------------------|----------------------------------------|---------------|-----------|
//! | `ZooSingle`      | 1     | GLE memory                    | `exp` (in a user fn)                   | mse           | –         |
//! | `ZooLagLine`     | 2     | GLE memory (§8 LagLine)       | `softplus`                             | mse           | –         |
//! | `ZooPower`       | 2     | GLE, mixed LE/memory          | `pow`, `sqrt`, `^`, `ln`, user fns     | cross_entropy | –         |
//! | `ZooTrig`        | 3     | GLE, mixed                    | `sin`, `cos`, `identity`; `ln` in loss | sum(...)      | –         |
//! | `ZooAdaptive`    | 3     | Adaptive (non-GLE) + GLE      | user fn of `exp`, `tanh`, `identity`   | sum(...)      | –         |
//! | `ZooDeep`        | 4     | GLE, mixed LE/memory          | `tanh`, `sigmoid`, `softplus`, `identity` | mse        | –         |
//! | `ZooRecurrent`   | 2     | GLE, mixed                    | `tanh`, `identity`                     | cross_entropy | yes       |
//! | `ZooRecAdaptive` | 3     | Adaptive + GLE, mixed         | `sigmoid`, user fn, `identity`         | sum(...)      | yes       |
//!
//! Every model learns time constants (`tau_m`, and `tau_r` / `tau_a` where declared); the
//! Adaptive models also learn the coupling `k`. `let` intermediates appear in `ZooPower` and
//! `ZooAdaptive`.
#![allow(dead_code)]

use vle::vle_model;

vle_model! {
    /// Depth 1: one layer of lagging units (τr < τm) reading three inputs, with a bounded
    /// exponential rate 2·exp(−z²/2)·… written as a user function.
    pub network ZooSingle {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        fn bump(z) = z * exp(-0.5 * z^2);
        input x: 3;
        layer out: 2 = Gle { phi: bump, tau_m: [0.8, 1.5], tau_r: [0.2, 0.5] } <- x + bias;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, b, tau_m, tau_r;
    }
}

vle_model! {
    /// The LagLine of docs/theory.md §8: two softplus neurons in a chain 1 → 1 → 1, τm = (1, 2),
    /// τr = 0.1; W and τm learnt.
    pub network ZooLagLine {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer h: 1 = Gle { phi: softplus, tau_m: 1.0, tau_r: 0.1 } <- x;
        layer out: 1 = Gle { phi: softplus, tau_m: 2.0, tau_r: 0.1 } <- h;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, tau_m;
    }
}

vle_model! {
    /// Powers and roots: a softsign by `pow`, a smooth magnitude by `sqrt` and `^`, a
    /// log-sum-exp style rate by `ln` and `exp`; cross-entropy output.
    pub network ZooPower {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            let z = phi(ubreve);
            rate r = z;
        }
        fn softsign(z) = z / pow(1 + z^2, 0.5);
        fn smag(z) = sqrt(1 + z^2) - 1 + 0.5 * z;
        fn lse(z) = ln(1 + exp(z)) - ln(2);
        input x: 2;
        layer h: 4 = Gle { phi: softsign, tau_m: [1.0, 0.5, 1.0, 0.7], tau_r: [1.0, 0.5, 0.2, 0.3] } <- x + bias;
        layer g: 3 = Gle { phi: smag, tau_m: 0.6, tau_r: [0.6, 0.2, 0.6] } <- h + bias;
        layer out: 3 = Gle { phi: lse, tau_m: 0.5, tau_r: 0.5 } <- g + bias;
        energy = 0.5 * sum_sq(e) + beta * cross_entropy(out.r, target);
        learn W, b, tau_m, tau_r;
    }
}

vle_model! {
    /// Trigonometric rates (`sin`, `cos`) and a robust loss Σ ln(1 + (r − y)²).
    pub network ZooTrig {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 2;
        layer h1: 3 = Gle { phi: sin, tau_m: [0.5, 1.0, 0.8], tau_r: [0.5, 0.2, 0.8] } <- x + bias;
        layer h2: 2 = Gle { phi: cos, tau_m: 0.7, tau_r: [0.7, 0.25] } <- h1 + bias;
        layer out: 2 = Gle { phi: identity, tau_m: 0.4, tau_r: 0.4 } <- h2 + bias;
        energy = 0.5 * sum_sq(e) + beta * sum(ln(1 + (out.r - target)^2));
        learn W, b, tau_m, tau_r;
    }
}

vle_model! {
    /// The non-GLE Adaptive neuron (a membrane with an adaptation current of its own time
    /// constant) in two layers, a user rate built on `exp`, then a GLE readout; loss
    /// Σ (r − y)² written with `sum`.
    pub network ZooAdaptive {
        neuron Adaptive {
            param tau_m, tau_r, tau_a, k;
            activation phi;
            state u, a;
            mismatch e = u + tau_m * d(u) + k * a - input;
            mismatch e_a = a + tau_a * d(a) - u;
            prospective ubreve = u + tau_r * d(u);
            let s = phi(ubreve);
            rate r = s;
        }
        neuron Gle {
            param tau_m, tau_r;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = ubreve;
        }
        fn expit(z) = 1 / (1 + exp(-2 * z));
        input x: 2;
        layer h1: 3 = Adaptive { phi: expit, tau_m: 1.0, tau_r: [1.0, 0.3, 0.5], tau_a: 2.0, k: 0.5 } <- x + bias;
        layer h2: 2 = Adaptive { phi: tanh, tau_m: 0.8, tau_r: [0.8, 0.3], tau_a: [1.5, 3.0], k: [0.3, 0.8] } <- h1 + bias;
        layer out: 2 = Gle { tau_m: 0.5, tau_r: 0.5 } <- h2 + bias;
        energy = 0.5 * sum_sq(e, e_a) + beta * sum((out.r - target)^2);
        learn W, b, tau_m, tau_r, tau_a, k;
    }
}

vle_model! {
    /// Depth 4, mixed instantaneous (τr = τm) and memory (τr < τm) units in the first
    /// layers, one activation per layer.
    pub network ZooDeep {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 2;
        layer h1: 4 = Gle { phi: tanh, tau_m: [1.2; 2, 0.6; 2], tau_r: [1.2; 2, 0.2; 2] } <- x + bias;
        layer h2: 3 = Gle { phi: sigmoid, tau_m: [0.8, 0.8, 1.0], tau_r: [0.8, 0.3, 1.0] } <- h1 + bias;
        layer h3: 3 = Gle { phi: softplus, tau_m: 0.5, tau_r: [0.5, 0.15, 0.5] } <- h2 + bias;
        layer out: 2 = Gle { phi: identity, tau_m: 0.3, tau_r: 0.3 } <- h3 + bias;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, b, tau_m, tau_r;
    }
}

vle_model! {
    /// A recurrent hidden layer (`h <- x + h`) of mixed units and a cross-entropy readout:
    /// only the discrete system is defined.
    pub network ZooRecurrent {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer h: 4 = Gle { phi: tanh, tau_m: [1.0; 2, 0.5; 2], tau_r: [1.0; 2, 0.1; 2] } <- x + h + bias;
        layer out: 3 = Gle { phi: identity, tau_m: 0.4, tau_r: 0.4 } <- h + bias;
        energy = 0.5 * sum_sq(e) + beta * cross_entropy(out.r, target);
        learn W, b, tau_m, tau_r;
    }
}

vle_model! {
    /// Adaptive units with a recurrent projection next to GLE units, a user rate, and a
    /// `sum` loss of squared errors.
    pub network ZooRecAdaptive {
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
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        fn softsign(z) = z / (1 + z^2)^0.5;
        input x: 2;
        layer a1: 3 = Adaptive { phi: sigmoid, tau_m: 1.0, tau_r: [1.0, 0.4, 0.4], tau_a: 2.0, k: 0.4 } <- x + a1 + bias;
        layer g: 2 = Gle { phi: softsign, tau_m: [0.7, 1.0], tau_r: [0.7, 0.3] } <- a1 + bias;
        layer out: 2 = Gle { phi: identity, tau_m: 0.5, tau_r: 0.5 } <- g + bias;
        energy = 0.5 * sum_sq(e, e_a) + beta * sum(0.5 * (out.r - target)^2);
        learn W, b, tau_m, tau_r, tau_a, k;
    }
}
